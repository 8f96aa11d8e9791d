"""JWKS faults, through the whole handler: what a key source failure answers (503 or 401),
what the log says, that the Partner API is not called, and the recovery; the wiring of the
stale window and of SnapStart's restore to the key source.

The key source's own rules (refetch cooldowns, rotation, kid storms, redirects, size,
max age and Cache-Control) are tests/unit/test_keys.py's. The key cache's clock is a
``FakeClock`` (``build_sso``), so the 30 s refetch cooldown is crossed without waiting.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.faults.conftest import Harness
from tests.support import FakePartnerApi, SigningKey, mint
from tests.support.clock import FakeClock

Build = Callable[..., Any]


def jwks_fetches(server: HTTPServer, path: str = "/jwks.json") -> int:
    return sum(1 for request, _ in server.log if request.path == path)


def test_jwks_down_at_cold_start_is_503_then_works_once_it_is_back(
    build_sso: Build,
    harness: Callable[..., Harness],
    https_server_on: Callable[[int], HTTPServer],
    partner_api: FakePartnerApi,
    aws: Any,
    rsa_key: SigningKey,
    clock: FakeClock,
    closed_port: int,
) -> None:
    h = harness(build_sso(JWT_JWKS_URL=f"https://127.0.0.1:{closed_port}/jwks.json"))

    h.assert_refused(h.call(mint(rsa_key)), 503, "keys_unavailable")
    assert partner_api.calls == []
    server = https_server_on(closed_port)
    server.expect_request("/jwks.json").respond_with_json({"keys": [rsa_key.jwk]})
    clock.advance(1.1)  # before the first load, a refetch is allowed after 1 s
    h.sign_in(rsa_key)
    assert jwks_fetches(server) == 1


def test_jwks_down_later_keeps_serving_the_cached_keys(
    build_sso: Build,
    harness: Callable[..., Harness],
    https_server_on: Callable[[int], HTTPServer],
    partner_api: FakePartnerApi,
    aws: Any,
    rsa_key: SigningKey,
    clock: FakeClock,
    closed_port: int,
) -> None:
    server = https_server_on(closed_port)
    server.expect_request("/jwks.json").respond_with_json({"keys": [rsa_key.jwk]})
    h = harness(build_sso(JWT_JWKS_URL=server.url_for("/jwks.json")))
    h.sign_in(rsa_key)
    server.stop()  # the JWKS goes down
    clock.advance(31)  # and a refetch would be allowed

    h.sign_in(rsa_key)  # the cached key still works
    stranger = SigningKey.rsa(kid="rsa-unknown")
    unknown = h.call(mint(stranger))  # an unknown kid tries a refetch, which fails ...
    h.assert_refused(unknown, 401, "unknown_key")  # ... and is refused, not 503: the keys are kept
    assert "invalid_signature" not in unknown.log
    h.sign_in(rsa_key)


# ---- the partner changes or breaks its JWKS ------------------------------------------------------------
class PartnersJwks:
    """The partner's JWKS document, which the partner changes (removes a leaked key) or breaks."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.status = 200
        self.cache_control: str | None = None

    def __call__(self, request: Request) -> Response:
        headers = {"Cache-Control": self.cache_control} if self.cache_control else {}
        body = json.dumps({"keys": [key.jwk for key in self.keys]})
        return Response(body, self.status, headers=headers, content_type="application/json")


def test_a_jwks_outage_keeps_the_keys_for_the_stale_window_then_is_503(
    build_sso: Build,
    harness: Callable[..., Harness],
    jwks_server: HTTPServer,
    partner_api: FakePartnerApi,
    aws: Any,
    rsa_key: SigningKey,
    clock: FakeClock,
) -> None:
    published = PartnersJwks(rsa_key)
    jwks_server.expect_request("/jwks.json").respond_with_handler(published)
    h = harness(build_sso(JWKS_STALE_SECONDS="3600"))
    h.sign_in(rsa_key)
    published.status = 503  # the partner's JWKS is down

    clock.advance(600)
    h.sign_in(rsa_key)  # expired, the refetch failed: the keys we had still serve
    clock.advance(3599)
    h.sign_in(rsa_key)  # the last second of the stale window
    clock.advance(1)
    beyond = h.call(mint(rsa_key))
    h.assert_refused(beyond, 503, "keys_unavailable")
    assert "older than the max age plus JWKS_STALE_SECONDS (3600 s)" in beyond.log
    assert len(partner_api.calls) == 3
    published.status = 200  # back: after the 30 s cooldown the next request refetches
    clock.advance(30)
    h.sign_in(rsa_key)


def test_after_a_snapstart_restore_a_removed_key_is_refused_at_once(
    build_sso: Build,
    harness: Callable[..., Harness],
    jwks_server: HTTPServer,
    partner_api: FakePartnerApi,
    aws: Any,
    rsa_key: SigningKey,
    ec_key: SigningKey,
) -> None:
    published = PartnersJwks(rsa_key, ec_key)
    jwks_server.expect_request("/jwks.json").respond_with_handler(published)
    sso = build_sso()
    h = harness(sso)
    sso.container.before_snapshot()  # the snapshot holds both keys
    published.keys = [ec_key]  # removed after the version was published

    sso.container.after_restore()  # a restored copy starts, however soon

    h.assert_refused(h.call(mint(rsa_key)), 401, "unknown_key")
    h.sign_in(ec_key)
    assert jwks_fetches(jwks_server) == 2


def test_discovery_answering_for_another_issuer_is_503_and_the_log_says_why(
    build_sso: Build,
    harness: Callable[..., Harness],
    jwks_server: HTTPServer,
    partner_api: FakePartnerApi,
    aws: Any,
    rsa_key: SigningKey,
) -> None:
    issuer = jwks_server.url_for("").rstrip("/")
    jwks_server.expect_request("/.well-known/openid-configuration").respond_with_json(
        {"issuer": "https://idp.attacker.test", "jwks_uri": jwks_server.url_for("/jwks.json")}
    )
    jwks_server.expect_request("/jwks.json").respond_with_json({"keys": [rsa_key.jwk]})
    h = harness(build_sso(JWT_ISSUER=issuer, JWT_JWKS_URL=None))

    refused = h.call(mint(rsa_key, iss=issuer))

    h.assert_refused(refused, 503, "keys_unavailable")
    assert "the document's issuer 'https://idp.attacker.test' is not" in refused.log
    assert jwks_fetches(jwks_server) == 0
    assert partner_api.calls == []
