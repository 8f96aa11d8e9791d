"""handler.sign_in: the ending every sign-in shares (the whole flow: tests/integration/test_sign_in.py)."""

from __future__ import annotations

import pytest

from handler.config import Destination
from handler.errors import InvalidRedirect, InvalidReturnUrl
from handler.sign_in import Landing, SignIn, landing
from handler.tokens import VerifiedToken

DESTINATION = Destination(
    "xyz",
    "https://xyz.biginterview.com",
    "bi-sso/xyz",
    sso_return_url="https://portal.partner.test/home",
    return_url_allowed_origins=("https://portal.partner.test",),
)


def test_a_signed_redirect_to_wins_over_the_unsigned_one() -> None:
    assert landing(DESTINATION, "/signed", "/unsigned", None).redirect_to == "/signed"
    assert landing(DESTINATION, None, "/unsigned", None).redirect_to == "/unsigned"


def test_without_a_return_url_the_destinations_own_is_the_one() -> None:
    assert landing(DESTINATION, None, None, None) == Landing(None, "https://portal.partner.test/home")
    given = "https://portal.partner.test/courses"
    assert landing(DESTINATION, None, None, given).return_url == given


def test_a_redirect_or_return_url_the_rules_refuse_ends_the_sign_in() -> None:
    with pytest.raises(InvalidRedirect) as refused:
        landing(DESTINATION, "https://evil.test/", None, None)
    assert refused.type is InvalidRedirect  # not its return_url sibling
    with pytest.raises(InvalidReturnUrl):
        landing(DESTINATION, None, None, "https://evil.test/")


def test_a_sign_in_keeps_its_login_url_out_of_its_repr() -> None:
    # A repr reaches logs and tracebacks (an f-string, a failed assert): the SSO token must not.
    location = "https://xyz.biginterview.com/sso/login?token=sso-token-must-not-show"
    claims = VerifiedToken(issuer="https://idp.partner.test", kid="k", jti=None, partner_id="x", expires_at=0)

    assert "sso-token-must-not-show" not in repr(SignIn(location=location, claims=claims, partner_status=200))
