"""The Lambda deadline, through the whole handler: 504 before Lambda would kill the invocation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.faults.conftest import Harness
from tests.servers import RawPartnerApi, delayed
from tests.support import SigningKey, mint

Build = Callable[..., Any]


def test_too_little_time_left_is_504_without_calling_the_partner_api(
    build_sso: Build,
    harness: Callable[..., Harness],
    raw_partner_api: Callable[..., RawPartnerApi],
    aws: Any,
    jwks: Any,
    rsa_key: SigningKey,
) -> None:
    api = raw_partner_api()
    h = harness(build_sso(BI_BASE_URL=api.url))
    h.assert_signed_in(h.call(mint(rsa_key), accept_json=False), api.issued)  # warm: keys, secret
    api.requests.clear()

    late = h.call(mint(rsa_key), remaining_ms=600)

    h.assert_refused(late, 504, "partner_api_timeout")
    assert api.requests == []  # the call was never started
    assert late.elapsed < 0.6  # answered within the 600 ms that were left
    h.assert_signed_in(h.call(mint(rsa_key), accept_json=False), api.issued)
    assert len(api.requests) == 1


def test_slow_partner_api_is_cut_off_at_the_deadline_with_504(
    build_sso: Build,
    harness: Callable[..., Harness],
    raw_partner_api: Callable[..., RawPartnerApi],
    aws: Any,
    jwks: Any,
    rsa_key: SigningKey,
) -> None:
    # The read timeout (5 s) is longer than the time left (2 s): the deadline must win.
    api = raw_partner_api()
    h = harness(build_sso(BI_BASE_URL=api.url, PARTNER_API_TIMEOUT_SECONDS="5"))
    h.assert_signed_in(h.call(mint(rsa_key), accept_json=False), api.issued)  # warm: keys, secret
    api.requests.clear()
    api.then(delayed(5.0))

    cut = h.call(mint(rsa_key), remaining_ms=2_000)

    h.assert_refused(cut, 504, "partner_api_timeout")
    assert cut.elapsed < 2.0
    assert len(api.requests) == 1
    h.assert_signed_in(h.call(mint(rsa_key), accept_json=False), api.issued)
