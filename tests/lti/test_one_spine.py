"""Both kinds of sign-in on one spine: an org's API key is read once, on one client, whichever flow asks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from handler.aws_clients import AwsClients
from handler.config import load_config
from handler.container import Container
from handler.http_pool import new_http_pool
from tests.lti.conftest import Tool, lti_env
from tests.support import FakePartnerApi, SigningKey, http_event, mint


@dataclass
class CountedClients:
    """The production ``AwsClients``, counting the Secrets Manager clients made and their reads."""

    made: list[str] = field(default_factory=list)
    reads: list[int] = field(default_factory=list)  # for each read, the number of the client that made it

    def make(self, service: str) -> Any:
        client = AwsClients().client(service)  # a real botocore client, inside moto's mock
        if service == "secretsmanager":
            number = len(self.made)
            self.made.append(service)
            client.meta.events.register(
                "before-call.secrets-manager.GetSecretValue", lambda **_: self.reads.append(number)
            )
        return client


@pytest.fixture
def spine(
    partner_server: HTTPServer,
    jwks_server: HTTPServer,
    partner_api: FakePartnerApi,
    jwks: dict[str, Any],
    platform_jwks: dict[str, Any],
    platform_key: SigningKey,
    lti_aws: dict[str, Any],
    ca_file: Path,
) -> Callable[[], tuple[Tool, CountedClients]]:
    """The handler with the partner flow and LTI for the same org (one BI_API_KEY_SECRET_ID)."""

    def build() -> tuple[Tool, CountedClients]:
        counted = CountedClients()
        config = load_config(lti_env(partner_server, jwks_server, lti_aws["key_id"]))
        pool = new_http_pool(ca_certs=str(ca_file))
        container = Container.build(config, pool, clients=AwsClients(make=counted.make))
        assert container.lti is not None
        return Tool(container.handler(), container.lti, partner_api, platform_key, container), counted

    return build


def sign_in_and_launch(tool: Tool, rsa_key: SigningKey) -> None:
    assert tool(http_event(query={"jwt": mint(rsa_key)}))["statusCode"] == 302
    assert tool.launch_from(tool.login())["statusCode"] == 302
    assert len(tool.partner_api.calls) == 2


def test_a_sign_in_and_a_launch_for_one_org_read_its_secret_once_on_one_client(
    spine: Callable[[], tuple[Tool, CountedClients]], rsa_key: SigningKey
) -> None:
    tool, counted = spine()

    sign_in_and_launch(tool, rsa_key)

    assert counted.made == ["secretsmanager"]
    assert counted.reads == [0]  # one GetSecretValue, on that one client


def test_after_the_init_prefetch_neither_the_sign_in_nor_the_launch_reads_the_secret(
    spine: Callable[[], tuple[Tool, CountedClients]], rsa_key: SigningKey
) -> None:
    tool, counted = spine()
    tool.container.prefetch("on-demand", tracing=False).join()
    read_during_init = list(counted.reads)

    sign_in_and_launch(tool, rsa_key)

    assert len(read_during_init) == 1  # the prefetch read the org's secret once, for both flows
    assert counted.reads == read_during_init  # the requests read nothing
    tool.container.http.clear()
