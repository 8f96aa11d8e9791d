"""handler.lti.service's values and rules (the login and launch themselves: tests/lti/test_launch.py)."""

from __future__ import annotations

import pytest

from handler.lti.registrations import LtiRegistration
from handler.lti.service import LTI_PAGES, LoginAnswer, launch_partner, our_origin, state_cookie_name
from handler.lti.state import digest


def test_a_login_answer_keeps_its_state_nonce_and_binding_out_of_its_repr() -> None:
    # A repr reaches logs and tracebacks (an f-string, a failed assert): none of these may.
    answer = LoginAnswer(
        "https://lms.example.edu/auth?state=state-must-not-show&nonce=nonce-must-not-show",
        state="state-must-not-show",
        binding="binding-must-not-show",
    )
    assert "must-not-show" not in repr(answer)


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("SSO.Example.test", "https://sso.example.test"),
        ("127.0.0.1:3000", "http://127.0.0.1:3000"),  # make dev's plain-HTTP stack
        ("localhost:3000", "http://localhost:3000"),
        ("", None),
        ("[", None),  # an unclosed IPv6 bracket
    ],
)
def test_our_origin_is_https_except_on_a_loopback_host(host: str, origin: str | None) -> None:
    assert our_origin(host) == origin


def test_each_login_has_its_own_host_prefixed_cookie_that_does_not_show_the_state() -> None:
    name = state_cookie_name("a-state")

    assert name == f"__Host-lti-state-{digest('a-state')[:16]}"
    assert name != state_cookie_name("another-state") and "a-state" not in name


def test_a_registration_is_a_partner_of_its_org_with_the_lti_pages() -> None:
    registration = LtiRegistration(
        issuer="https://canvas.instructure.com",
        client_id="10000000000042",
        deployment_ids=("1:abc",),
        auth_url="https://sso.canvaslms.com/api/lti/authorize_redirect",
        jwks_url="https://sso.canvaslms.com/api/lti/security/jwks",
        bi_org="state-university",
        bi_base_url="https://state-university.biginterview.com",
        api_key_secret_id="big-interview-sso/state-university/api-key",
    )

    partner = launch_partner(registration)

    assert partner.destination.bi_org == "state-university"
    assert partner.destination.api_key_secret_id == "big-interview-sso/state-university/api-key"
    assert partner.destination.pages == LTI_PAGES
    assert (partner.tokens.issuers, partner.tokens.audience) == (
        (registration.issuer,),
        registration.client_id,
    )
