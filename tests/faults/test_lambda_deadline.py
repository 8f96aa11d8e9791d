"""The Lambda deadline, through the whole handler: 504 before Lambda would kill the invocation."""

from __future__ import annotations

from tests.faults.conftest import RawApi
from tests.servers import delayed
from tests.support import SigningKey, mint


def test_too_little_time_left_is_504_without_calling_the_partner_api(
    raw_api: RawApi, rsa_key: SigningKey
) -> None:
    api, h = raw_api(warm=True)

    late = h.call(mint(rsa_key), remaining_ms=600)

    h.assert_refused(late, 504, "partner_api_timeout")
    assert api.requests == []  # the call was never started
    h.sign_in(rsa_key, api.issued)
    assert len(api.requests) == 1


def test_slow_partner_api_is_cut_off_at_the_deadline_with_504(raw_api: RawApi, rsa_key: SigningKey) -> None:
    # The API answers after 3 s: inside its read timeout (8 s), after the time left (2 s). Had
    # the read timeout bounded the call, the answer would have come and the user signed in.
    api, h = raw_api(delayed(3.0), warm=True, PARTNER_API_TIMEOUT_SECONDS="8")

    cut = h.call(mint(rsa_key), remaining_ms=2_000)

    h.assert_refused(cut, 504, "partner_api_timeout")
    assert len(api.requests) == 1
    h.sign_in(rsa_key, api.issued)
