"""JWKS faults, through the whole handler: outages, rotation, kid storms, redirects, size.

The key cache's clock is a ``FakeClock`` (``build_sso``), so the 30 s refetch
cooldown (1 s before the first successful load) is crossed without waiting.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Response

from tests.faults.conftest import FakeClock, Harness
from tests.support import FakePartnerApi, SigningKey, mint

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


def test_rotated_key_is_accepted_after_exactly_one_refetch(
    build_sso: Build,
    harness: Callable[..., Harness],
    jwks_server: HTTPServer,
    partner_api: FakePartnerApi,
    aws: Any,
    rsa_key: SigningKey,
    clock: FakeClock,
) -> None:
    jwks_server.expect_request("/jwks.json").respond_with_json({"keys": [rsa_key.jwk]})
    h = harness(build_sso())
    h.sign_in(rsa_key)
    assert jwks_fetches(jwks_server) == 1
    rotated = SigningKey.rsa(kid="rsa-2")
    jwks_server.clear()
    jwks_server.expect_request("/jwks.json").respond_with_json({"keys": [rsa_key.jwk, rotated.jwk]})

    # Within the cooldown the new kid is refused without a fetch ...
    clock.advance(10)
    h.assert_refused(h.call(mint(rotated)), 401, "unknown_key")
    assert jwks_fetches(jwks_server) == 0
    # ... after it, one refetch finds it.
    clock.advance(21)
    h.sign_in(rotated)
    h.sign_in(rotated)
    h.sign_in(rsa_key)
    assert jwks_fetches(jwks_server) == 1


def test_storm_of_unknown_kids_causes_one_fetch_per_cooldown(
    build_sso: Build,
    harness: Callable[..., Harness],
    jwks_server: HTTPServer,
    partner_api: FakePartnerApi,
    aws: Any,
    rsa_key: SigningKey,
    clock: FakeClock,
) -> None:
    jwks_server.expect_request("/jwks.json").respond_with_json({"keys": [rsa_key.jwk]})
    h = harness(build_sso())
    h.sign_in(rsa_key)
    clock.advance(31)
    jwks_server.clear()
    jwks_server.expect_request("/jwks.json").respond_with_json({"keys": [rsa_key.jwk]})

    for _ in range(100):
        token = mint(rsa_key, headers={"kid": f"storm-{uuid.uuid4().hex}"})
        h.assert_refused(h.call(token), 401, "unknown_key")
        clock.advance(0.1)  # 100 requests over 10 s: still inside one cooldown

    assert jwks_fetches(jwks_server) == 1
    partner_api.calls.clear()
    h.sign_in(rsa_key)
    assert len(partner_api.calls) == 1
    assert jwks_fetches(jwks_server) == 1


def test_jwks_answering_with_a_redirect_is_not_followed(
    build_sso: Build,
    harness: Callable[..., Harness],
    jwks_server: HTTPServer,
    partner_server: HTTPServer,
    partner_api: FakePartnerApi,
    aws: Any,
    rsa_key: SigningKey,
    clock: FakeClock,
) -> None:
    target = partner_server.url_for("/elsewhere/jwks.json")
    partner_server.expect_request("/elsewhere/jwks.json").respond_with_json({"keys": [rsa_key.jwk]})
    jwks_server.expect_oneshot_request("/jwks.json").respond_with_response(
        Response(status=302, headers={"Location": target})
    )
    jwks_server.expect_request("/jwks.json").respond_with_json({"keys": [rsa_key.jwk]})
    h = harness(build_sso())

    refused = h.call(mint(rsa_key))

    h.assert_refused(refused, 503, "keys_unavailable")
    assert "HTTP 302" in refused.log
    assert jwks_fetches(partner_server, "/elsewhere/jwks.json") == 0  # the target saw nothing
    assert partner_api.calls == []
    clock.advance(1.1)
    h.sign_in(rsa_key)
    assert jwks_fetches(partner_server, "/elsewhere/jwks.json") == 0


def test_jwks_larger_than_64_kib_is_refused(
    build_sso: Build,
    harness: Callable[..., Harness],
    jwks_server: HTTPServer,
    partner_api: FakePartnerApi,
    aws: Any,
    rsa_key: SigningKey,
    clock: FakeClock,
) -> None:
    padding = [{**SigningKey.rsa(kid=f"pad-{i}").jwk} for i in range(1)] * 120  # ~ 50 KiB of keys ...
    big = {"keys": [rsa_key.jwk, *padding], "comment": "x" * 40_000}  # ... and then some: > 64 KiB
    jwks_server.expect_oneshot_request("/jwks.json").respond_with_json(big)
    jwks_server.expect_request("/jwks.json").respond_with_json({"keys": [rsa_key.jwk]})
    h = harness(build_sso())

    refused = h.call(mint(rsa_key))

    h.assert_refused(refused, 503, "keys_unavailable")
    assert "larger than 65536 bytes" in refused.log
    assert partner_api.calls == []
    clock.advance(1.1)
    h.sign_in(rsa_key)
