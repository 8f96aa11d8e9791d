"""The partner_id of an LTI user: deterministic, a valid partner_id, and one per (iss, sub)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from handler.lti.claims import lti_partner_id
from handler.tokens import PARTNER_ID


@given(st.text(min_size=1, max_size=255), st.text(min_size=1, max_size=255))
def test_any_iss_and_sub_give_a_valid_partner_id_the_same_every_time(issuer: str, sub: str) -> None:
    partner_id = lti_partner_id(issuer, sub)
    assert PARTNER_ID.fullmatch(partner_id)
    assert len(partner_id) == 47 and partner_id.startswith("lti-")
    assert lti_partner_id(issuer, sub) == partner_id


@given(st.text(max_size=40), st.text(max_size=40), st.text(max_size=40), st.text(max_size=40))
def test_different_pairs_never_share_a_partner_id(a: str, b: str, c: str, d: str) -> None:
    if (a, b) != (c, d):
        assert lti_partner_id(a, b) != lti_partner_id(c, d)


def test_the_separator_cannot_be_moved_between_iss_and_sub() -> None:
    assert lti_partner_id("https://lms|a", "b") != lti_partner_id("https://lms", "a|b")
    assert lti_partner_id('x", "y', "z") != lti_partner_id("x", 'y", "z')


def test_the_same_sub_on_two_platforms_is_two_users() -> None:
    assert lti_partner_id("https://canvas.example.edu", "42") != lti_partner_id(
        "https://moodle.example.edu", "42"
    )


def test_a_known_value_pins_the_derivation() -> None:
    # Changing the derivation would give every LTI student a new, empty Big Interview account.
    sub = "535fa085f22b4655f48cd5a36a9215f64c062838"
    assert (
        lti_partner_id("https://canvas.instructure.com", sub)
        == "lti-seKoKNC35TGyzuk4NB66jTnVh0ThTU-NlphU2jiNosA"
    )
