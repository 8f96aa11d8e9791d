"""Both kinds of sign-in on one spine: an org's API key is read once, on one client, whichever flow asks;
a cold launch fetches its platform's keys and the secret while it uses its state."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from handler.aws_clients import AwsClients
from handler.config import load_config
from handler.container import Container
from handler.http_pool import new_http_pool
from handler.telemetry import Telemetry
from tests.lti.conftest import PLATFORM_JWKS_PATH, Tool, lti_env
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


@dataclass
class Gate:
    """Each party waits at the barrier before its answer; who got through."""

    seconds: float
    passed: list[str] = field(default_factory=list)
    barrier: threading.Barrier = field(init=False)

    def __post_init__(self) -> None:
        self.barrier = threading.Barrier(3, timeout=self.seconds)

    def wait(self, party: str) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            self.barrier.wait()
            self.passed.append(party)


def held_launch(
    spine: Callable[[], tuple[Tool, CountedClients]],
    jwks_server: HTTPServer,
    platform_key: SigningKey,
    gate: Gate,
    *,
    tracing: bool,
) -> tuple[Tool, dict[str, Any], list[str]]:
    """One login, then a launch whose state use, platform key set and secret read each wait at ``gate``."""
    tool, _ = spine()
    if tracing:  # the same wiring as with tracing on, where the launch fetches nothing ahead
        config = tool.container.config
        config = dataclasses.replace(config, runtime=dataclasses.replace(config.runtime, tracing=True))
        container = Container.build(config, tool.container.http, Telemetry(), clients=tool.container.clients)
        assert container.lti is not None
        tool = Tool(container.handler(), container.lti, tool.partner_api, platform_key, container)
    login = tool.login()
    fetched: list[str] = []

    def key_set(request: Request) -> Response:
        fetched.append(request.path)
        gate.wait("platform-jwks")
        return Response(json.dumps({"keys": [platform_key.jwk]}), content_type="application/json")

    jwks_server.clear_all_handlers()
    jwks_server.expect_request(PLATFORM_JWKS_PATH).respond_with_handler(key_set)
    clients = tool.container.clients
    clients.client("dynamodb").meta.events.register(
        "before-call.dynamodb.UpdateItem", lambda **_: gate.wait("state-use")
    )
    clients.client("secretsmanager").meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: gate.wait("secret")
    )
    return tool, tool.launch_from(login), fetched


def test_a_cold_launch_uses_its_state_while_it_fetches_the_platforms_keys_and_the_secret(
    spine: Callable[[], tuple[Tool, CountedClients]], jwks_server: HTTPServer, platform_key: SigningKey
) -> None:
    """Shown without timing: each of the three holds its answer until the other two have been asked."""
    gate = Gate(seconds=5.0)

    tool, result, fetched = held_launch(spine, jwks_server, platform_key, gate, tracing=False)

    assert result["statusCode"] == 302
    assert sorted(gate.passed) == ["platform-jwks", "secret", "state-use"]
    assert fetched == [PLATFORM_JWKS_PATH]  # once: the launch's own verification used that fetch
    assert len(tool.partner_api.calls) == 1


def test_the_overlap_check_can_fail_with_tracing_on_the_launch_does_its_round_trips_in_turn(
    spine: Callable[[], tuple[Tool, CountedClients]], jwks_server: HTTPServer, platform_key: SigningKey
) -> None:
    gate = Gate(seconds=1.0)

    held_launch(spine, jwks_server, platform_key, gate, tracing=True)

    assert gate.passed == []  # the state's use waited alone until the bound
