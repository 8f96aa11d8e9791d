"""Partner API faults, through the whole handler: a real TLS server misbehaving on loopback.

Every test asserts the answer (status and JSON error code), that no redirect to
Big Interview is given on failure, that the handler's log for the request holds
nothing secret (``Harness.call`` checks every request), and that the next
healthy request on the same handler signs in (302).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.conftest import SECRET_ID
from tests.faults.conftest import Harness, RawApi
from tests.servers import (
    RawPartnerApi,
    answer,
    delayed,
    healthy,
    huge,
    reset_mid_body,
    silent,
    trickle,
)
from tests.support import API_KEY, ROTATED_API_KEY, FakePartnerApi, SigningKey, mint

Build = Callable[..., Any]


def test_refused_connections_are_502_then_signs_in_once_the_api_listens(
    build_sso: Build,
    harness: Callable[..., Harness],
    raw_partner_api: Callable[..., RawPartnerApi],
    aws: Any,
    jwks: Any,
    rsa_key: SigningKey,
    closed_port: int,
) -> None:
    api = raw_partner_api(port=closed_port, start=False)  # nothing listens on the port yet
    h = harness(build_sso(BI_BASE_URL=api.url))

    refused = h.call(mint(rsa_key))

    h.assert_refused(refused, 502, "partner_api_error")
    assert "NewConnectionError" in refused.log  # refused, after its two retries (0.1 + 0.2 s)
    api.start()
    h.sign_in(rsa_key, api.issued)


def test_accepts_and_never_answers_is_504_within_the_timeout(raw_api: RawApi, rsa_key: SigningKey) -> None:
    api, h = raw_api(silent(), PARTNER_API_TIMEOUT_SECONDS="1")

    hung = h.call(mint(rsa_key))

    h.assert_refused(hung, 504, "partner_api_timeout")
    # 504, not the 502 of the server hanging up after 20 s: the 1 s timeout ended the call.
    assert len(api.requests) == 1  # a timeout is not retried: the call may have landed
    h.sign_in(rsa_key, api.issued)


def test_answer_slower_than_the_timeout_is_504(raw_api: RawApi, rsa_key: SigningKey) -> None:
    api, h = raw_api(delayed(3.0), PARTNER_API_TIMEOUT_SECONDS="1")

    slow = h.call(mint(rsa_key))

    h.assert_refused(slow, 504, "partner_api_timeout")
    # 504, not the sign-in the 3 s answer would have given: the 1 s timeout ended the call.
    h.sign_in(rsa_key, api.issued)


def test_answer_trickling_in_past_the_lambda_deadline_is_cut_off_with_504(
    raw_api: RawApi, rsa_key: SigningKey
) -> None:
    # One body byte every 0.3 s never trips a 1 s read timeout; only the deadline can stop it.
    # The server gives up after 5 s, so the test is bounded whatever the handler does.
    api, h = raw_api(trickle(interval=0.3, for_seconds=5.0), PARTNER_API_TIMEOUT_SECONDS="1")

    slow = h.call(mint(rsa_key), remaining_ms=2_500)

    h.assert_refused(slow, 504, "partner_api_timeout")
    # 504, not the 502 of the server breaking off after 5 s: the deadline ended the call.
    h.sign_in(rsa_key, api.issued)


def test_reset_in_the_middle_of_the_body_is_502(raw_api: RawApi, rsa_key: SigningKey) -> None:
    api, h = raw_api(reset_mid_body())

    broken = h.call(mint(rsa_key))

    h.assert_refused(broken, 502, "partner_api_error")
    assert "broke off" in broken.log
    assert len(api.requests) == 1
    h.sign_in(rsa_key, api.issued)


def test_500_is_502_without_retry_and_the_next_request_gets_the_200(
    raw_api: RawApi, rsa_key: SigningKey
) -> None:
    # Only connection errors, 429 and 502/503/504 are retried (issue 2); a 500 is reported.
    api, h = raw_api(answer(500, '{"error": {"type": "server_error"}}'))

    failed = h.call(mint(rsa_key))

    h.assert_refused(failed, 502, "partner_api_error")
    assert len(api.requests) == 1
    h.sign_in(rsa_key, api.issued)
    assert len(api.requests) == 2


def test_503_then_200_is_retried_within_the_request_and_signs_in(
    raw_api: RawApi, rsa_key: SigningKey
) -> None:
    api, h = raw_api(answer(503, "busy", "text/plain"))

    h.sign_in(rsa_key, api.issued)
    assert len(api.requests) == 2
    h.sign_in(rsa_key, api.issued)


def test_429_with_retry_after_is_retried_after_the_pause_and_signs_in(
    raw_api: RawApi, rsa_key: SigningKey
) -> None:
    api, h = raw_api(answer(429, '{"error": {"type": "rate_limited"}}', Retry_After="1"), warm=True)

    limited = h.call(mint(rsa_key), accept_json=False)

    h.assert_signed_in(limited, api.issued)
    assert len(api.requests) == 2
    h.sign_in(rsa_key, api.issued)


def test_401_after_a_key_rotation_is_fixed_by_the_refreshed_secret(
    build_sso: Build,
    harness: Callable[..., Harness],
    partner_api: FakePartnerApi,
    aws: Any,
    jwks: Any,
    rsa_key: SigningKey,
) -> None:
    h = harness(build_sso())  # the secret is cached for 300 s (SECRET_CACHE_SECONDS default)
    h.sign_in(rsa_key)
    # An admin rotates the key: Big Interview accepts only the new one, the secret holds it.
    partner_api.api_key = ROTATED_API_KEY
    aws.put_secret_value(SecretId=SECRET_ID, SecretString=json.dumps({"api_key": ROTATED_API_KEY}))
    partner_api.calls.clear()

    rotated = h.call(mint(rsa_key), accept_json=False)

    h.assert_signed_in(rotated)
    assert [call["headers"]["Authorization"] for call in partner_api.calls] == [API_KEY, ROTATED_API_KEY]
    partner_api.calls.clear()
    h.sign_in(rsa_key)
    assert [call["headers"]["Authorization"] for call in partner_api.calls] == [ROTATED_API_KEY]


def test_401_while_the_secret_still_holds_the_old_key_is_502_until_it_is_updated(
    build_sso: Build,
    harness: Callable[..., Harness],
    partner_api: FakePartnerApi,
    aws: Any,
    jwks: Any,
    rsa_key: SigningKey,
) -> None:
    h = harness(build_sso())
    partner_api.api_key = ROTATED_API_KEY  # rotated at Big Interview, not yet in Secrets Manager

    refused = h.call(mint(rsa_key))

    h.assert_refused(refused, 502, "partner_api_error")
    assert len(partner_api.calls) == 2  # the cached key, then the re-read (same) key
    aws.put_secret_value(SecretId=SECRET_ID, SecretString=json.dumps({"api_key": ROTATED_API_KEY}))
    h.sign_in(rsa_key)


def test_html_instead_of_json_is_502(raw_api: RawApi, rsa_key: SigningKey) -> None:
    page = "<!doctype html><html><body><h1>Welcome to Big Interview</h1></body></html>"
    api, h = raw_api(answer(200, page, "text/html; charset=utf-8"))

    h.assert_refused(h.call(mint(rsa_key)), 502, "partner_api_error")
    h.sign_in(rsa_key, api.issued)


def test_json_without_a_token_is_502(raw_api: RawApi, rsa_key: SigningKey) -> None:
    document = {"user": {"partner_id": "abc123", "token": {"expires_at": "2099-01-01T00:00:00.000Z"}}}
    api, h = raw_api(answer(200, json.dumps(document)))

    failed = h.call(mint(rsa_key))

    h.assert_refused(failed, 502, "partner_api_error")
    assert "without user.token.token" in failed.log
    h.sign_in(rsa_key, api.issued)


def test_20_mb_body_is_502_quickly_and_the_same_handler_signs_in_next(
    raw_api: RawApi, rsa_key: SigningKey
) -> None:
    api, h = raw_api(huge(20 * 1024 * 1024))

    flooded = h.call(mint(rsa_key))

    h.assert_refused(flooded, 502, "partner_api_error")
    assert "larger than" in flooded.log
    h.sign_in(rsa_key, api.issued)
    assert getattr(api, "sent_bytes", 0) < 20 * 1024 * 1024  # the handler stopped reading early


def test_sso_token_needing_url_encoding_reaches_the_location_exactly(
    raw_api: RawApi, rsa_key: SigningKey
) -> None:
    awkward = "a+b/c=d&e f%2F?g#h;i,j\"k'l<m>n\\o~é漢"
    api, h = raw_api(healthy(token=awkward))

    signed_in = h.call(mint(rsa_key), accept_json=False)

    h.assert_signed_in(signed_in, api.issued)
    location = signed_in.headers["Location"]
    assert location.isascii() and " " not in location and "#" not in location
    assert parse_qs(urlsplit(location).query) == {"token": [awkward]}
    h.sign_in(rsa_key, api.issued)
