"""A launch-only deployment (LTI on, no JWT_ISSUER): INIT fetches nothing of the partner flow.

Counted at the real HTTPS JWKS server on loopback: the partner's key set (``/jwks.json``) and
the platform's (``PLATFORM_JWKS_PATH``) are both served there, so a fetch of either is seen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from handler.config import load_config
from handler.container import Container
from handler.http_pool import new_http_pool
from tests.lti.conftest import PLATFORM_JWKS_PATH, Tool, lti_env
from tests.support import FakePartnerApi, SigningKey, http_event, mint

PARTNER_FLOW = ("JWT_ISSUER", "JWT_AUDIENCE", "JWT_JWKS_URL")


def fetches(jwks_server: HTTPServer, path: str) -> int:
    return sum(1 for request, _ in jwks_server.log if request.path == path)


@pytest.fixture
def deployment(
    partner_server: HTTPServer,
    jwks_server: HTTPServer,
    partner_api: FakePartnerApi,
    jwks: dict[str, Any],
    platform_jwks: dict[str, Any],
    platform_key: SigningKey,
    lti_aws: dict[str, Any],
    ca_file: Path,
) -> Callable[..., Tool]:
    """The handler with LTI on; ``launch_only`` leaves the partner flow's JWT_* variables out."""

    def build(*, launch_only: bool) -> Tool:
        env = lti_env(partner_server, jwks_server, lti_aws["key_id"])
        if launch_only:
            env = {name: value for name, value in env.items() if name not in PARTNER_FLOW}
        container = Container.build(load_config(env), new_http_pool(ca_certs=str(ca_file)))
        assert container.lti is not None
        return Tool(container.handler(), container.lti, partner_api, platform_key, container)

    return build


def test_a_launch_only_init_fetches_the_platforms_keys_and_no_partner_key_set(
    deployment: Callable[..., Tool], jwks_server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    tool = deployment(launch_only=True)

    with caplog.at_level(logging.WARNING, logger="handler.prefetch"):
        tool.container.prefetch("on-demand", tracing=False).join()
    given_up = [record.getMessage() for record in caplog.records if record.name == "handler.prefetch"]
    during_init = (fetches(jwks_server, "/jwks.json"), fetches(jwks_server, PLATFORM_JWKS_PATH))
    launched = tool.launch_from(tool.login())

    assert during_init == (0, 1)
    # Nor was a partner key set started and given up (it has no issuer to discover it from).
    assert given_up == []
    assert launched["statusCode"] == 302
    assert (fetches(jwks_server, "/jwks.json"), fetches(jwks_server, PLATFORM_JWKS_PATH)) == (0, 1)
    tool.container.http.clear()  # hang up the pre-opened Partner API connection


def test_a_deployment_serving_both_flows_fetches_both_key_sets_during_init(
    deployment: Callable[..., Tool], jwks_server: HTTPServer
) -> None:
    tool = deployment(launch_only=False)

    tool.container.prefetch("on-demand", tracing=False).join()

    assert (fetches(jwks_server, "/jwks.json"), fetches(jwks_server, PLATFORM_JWKS_PATH)) == (1, 1)
    tool.container.http.clear()


def test_a_launch_only_deployment_refuses_partner_tokens_without_fetching_keys(
    deployment: Callable[..., Tool], jwks_server: HTTPServer, rsa_key: SigningKey
) -> None:
    tool = deployment(launch_only=True)

    answer = tool(http_event(query={"jwt": mint(rsa_key)}, headers={"accept": "application/json"}))

    assert answer["statusCode"] == 401
    assert '"invalid_issuer"' in answer["body"]
    assert fetches(jwks_server, "/jwks.json") == 0
    assert tool.partner_api.calls == []
