"""One function makes every Big Interview partner_id, and no kind of sign-in can name another's user."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handler.identity import LTI, MINTED_PREFIXES, PARTNER, PARTNER_ID, UnacceptableUserId, partner_id

MINTING_KINDS = sorted(MINTED_PREFIXES)


@pytest.mark.parametrize("kind", MINTING_KINDS)
@given(principal=st.tuples(st.text(max_size=60), st.text(max_size=60)))
def test_no_minted_id_is_one_a_partner_may_send_in_any_case(kind: str, principal: tuple[str, str]) -> None:
    minted = partner_id(kind, principal)
    assert PARTNER_ID.fullmatch(minted)
    for spelling in (minted, minted.upper(), minted.lower(), minted.swapcase()):
        with pytest.raises(UnacceptableUserId, match="reserved"):
            partner_id(PARTNER, spelling)


@given(st.from_regex(PARTNER_ID, fullmatch=True))
def test_a_partner_id_it_accepts_is_never_in_a_minted_space(user: str) -> None:
    try:
        accepted = partner_id(PARTNER, user)
    except UnacceptableUserId:
        return
    assert accepted == user
    assert not any(accepted.lower().startswith(prefix) for prefix in MINTED_PREFIXES.values())


def test_a_kind_without_a_prefix_of_its_own_mints_nothing() -> None:
    with pytest.raises(KeyError):
        partner_id("saml", ("https://idp.example", "alice"))


def test_every_minting_kind_has_its_own_prefix_no_prefix_of_another() -> None:
    prefixes = list(MINTED_PREFIXES.values())
    for a in prefixes:
        assert all(a == b or not a.startswith(b) for b in prefixes)


def test_the_lti_id_is_the_prefix_and_the_hash_of_iss_and_sub() -> None:
    sub = "535fa085f22b4655f48cd5a36a9215f64c062838"
    expected = "lti-seKoKNC35TGyzuk4NB66jTnVh0ThTU-NlphU2jiNosA"
    assert partner_id(LTI, ("https://canvas.instructure.com", sub)) == expected


@pytest.mark.parametrize(
    ("user", "why"),
    [
        ("a@b.example", "email"),
        ("", "0 characters"),
        ("x" * 65, "65 characters"),
        ("../admin", "other characters"),
        ("Lti-abc", "reserved"),
    ],
)
def test_a_partner_id_it_refuses_says_why_without_the_value(user: str, why: str) -> None:
    with pytest.raises(UnacceptableUserId, match=why) as refused:
        partner_id(PARTNER, user)
    assert not user or user not in str(refused.value)
