"""handler.container: the composition root's SnapStart hooks (the wiring itself: every handler test)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from handler.config import load_config
from handler.container import Container
from handler.http_pool import new_http_pool
from handler.telemetry import Telemetry
from tests.conftest import Sso
from tests.support import SigningKey, http_event, mint


class CountingTelemetry(Telemetry):
    def __init__(self) -> None:
        self.secret_fetches = 0
        self.jwks_fetches = 0

    def secret_fetched(self) -> None:
        self.secret_fetches += 1

    def jwks_fetched(self, outcome: str) -> None:
        self.jwks_fetches += 1


@pytest.fixture
def counted(base_env: dict[str, str], ca_file: Path, aws: Any, jwks: Any, partner_api: Any) -> Any:
    config = load_config(base_env)
    telemetry = CountingTelemetry()
    container = Container.build(config, new_http_pool(ca_certs=str(ca_file)), telemetry)
    return Sso(config, container.handler(), container), telemetry


def test_before_snapshot_fetches_the_jwks_but_reads_no_secret(counted: Any) -> None:
    sso, telemetry = counted

    sso.container.before_snapshot()

    assert (telemetry.jwks_fetches, telemetry.secret_fetches) == (1, 0)


def test_after_restore_the_secret_is_read_again_and_connections_are_new(
    counted: Any, rsa_key: SigningKey
) -> None:
    sso, telemetry = counted
    assert sso(http_event(query={"jwt": mint(rsa_key)}))["statusCode"] == 302
    assert len(sso.container.http.pools) > 0

    sso.container.after_restore()

    assert len(sso.container.http.pools) == 0
    assert sso(http_event(query={"jwt": mint(rsa_key)}))["statusCode"] == 302
    assert telemetry.secret_fetches == 2


def test_after_restore_reseeds_random(counted: Any) -> None:
    sso, _ = counted
    random.seed(7)
    expected = random.random()
    random.seed(7)

    sso.container.after_restore()

    assert random.random() != expected
