"""1EdTech's LTI 1.3 tool certification, as test rows: each launch and the answer it must get.

The certification suite sends known-bad launches (no ``kid``, an unknown ``kid``, a wrong or
missing LTI version, no ``message_type``, ``roles``, ``deployment_id``, ``resource_link`` id or
``sub``, bad timestamps) which must be refused before Big Interview is called, and valid
instructor and student launches (with no role, an unknown role, no personal data) which must
sign in. A launch without name and email signs a returning user in, and gives the privacy
page only when Big Interview needs the profile (a new user).
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from handler.lti.claims import CLAIM
from tests import leakcheck
from tests.lti.conftest import Tool, launch_claims

LIS = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
NO_PROFILE = {"given_name": None, "family_name": None, "email": None, "name": None}


def without(name: str) -> dict[str, Any]:
    return {name: None}


def signed(tool: Tool, nonce: str, header: dict[str, Any], **overrides: Any) -> str:
    """An id_token whose header is exactly ``header`` (plus alg): the kid rows need a header of their own."""
    key = tool.platform_key
    token = jwt.encode(launch_claims(nonce, **overrides), key.private, algorithm=key.alg, headers=header)
    leakcheck.register(token)
    return token


def launch(tool: Tool, overrides: dict[str, Any], header: dict[str, Any] | None = None) -> dict[str, Any]:
    login = tool.login()
    now = int(time.time())  # timestamps are made when the row runs, not when it was collected
    claims = {k: (now + v[1] if isinstance(v, tuple) and v[0] == "now+" else v) for k, v in overrides.items()}
    if header is None:
        token = tool.token(login.nonce, **claims)
    else:
        token = signed(tool, login.nonce, header, **claims)
    return tool.launch(token, login.state, login.cookie)


KNOWN_BAD = [
    # (row, claims, header, status, code)
    ("no kid", {}, {}, 401, "unknown_key"),
    ("a kid the platform's JWKS does not have", {}, {"kid": "not-a-platform-key"}, 401, "unknown_key"),
    ("LTI version 1.2.0", {CLAIM["version"]: "1.2.0"}, None, 401, "lti_claim_invalid"),
    ("no LTI version", without(CLAIM["version"]), None, 401, "lti_claim_invalid"),
    ("no message_type", without(CLAIM["message_type"]), None, 401, "lti_claim_invalid"),
    ("no roles", without(CLAIM["roles"]), None, 401, "lti_claim_invalid"),
    ("roles not an array", {CLAIM["roles"]: LIS + "Learner"}, None, 401, "lti_claim_invalid"),
    ("no deployment_id", without(CLAIM["deployment_id"]), None, 400, "lti_unknown_deployment"),
    ("no resource_link", without(CLAIM["resource_link"]), None, 401, "lti_claim_invalid"),
    ("a resource_link without id", {CLAIM["resource_link"]: {"title": "x"}}, None, 401, "lti_claim_invalid"),
    ("no sub", without("sub"), None, 401, "lti_claim_invalid"),
    ("exp 10 minutes ago", {"iat": ("now+", -900), "exp": ("now+", -600)}, None, 401, "token_expired"),
    ("iat 10 minutes ahead", {"iat": ("now+", 600), "exp": ("now+", 900)}, None, 401, "token_not_yet_valid"),
    ("no exp", without("exp"), None, 401, "missing_claim"),
    ("no iat", without("iat"), None, 401, "missing_claim"),
]


@pytest.mark.parametrize(
    ("overrides", "header", "status", "code"),
    [row[1:] for row in KNOWN_BAD],
    ids=[row[0] for row in KNOWN_BAD],
)
def test_a_known_bad_launch_is_refused_before_big_interview(
    tool: Tool, overrides: dict[str, Any], header: dict[str, Any] | None, status: int, code: str
) -> None:
    result = launch(tool, overrides, header)
    assert result["statusCode"] == status, result["body"][:300]
    assert f"<code>{code}</code>" in result["body"]
    assert "Location" not in (result.get("headers") or {})
    assert tool.partner_api.calls == []


VALID = [
    ("instructor", {CLAIM["roles"]: [LIS + "Instructor"]}),
    ("student", {CLAIM["roles"]: [LIS + "Learner"]}),
    ("no role", {CLAIM["roles"]: []}),
    ("an unknown role", {CLAIM["roles"]: ["http://lms.example.edu/roles#TeachingFellow"]}),
    ("a context role and an institution role", {CLAIM["roles"]: [LIS + "Learner", LIS + "Mentor"]}),
]


@pytest.mark.parametrize("overrides", [row[1] for row in VALID], ids=[row[0] for row in VALID])
def test_a_valid_launch_signs_the_user_in(tool: Tool, overrides: dict[str, Any]) -> None:
    result = launch(tool, overrides)
    assert result["statusCode"] == 302
    assert "/sso/login?token=" in result["headers"]["Location"]
    assert len(tool.partner_api.calls) == 1


def test_a_launch_without_personal_data_signs_a_returning_user_in(tool: Tool) -> None:
    assert launch(tool, {})["statusCode"] == 302  # the first launch released the profile
    result = launch(tool, NO_PROFILE)
    assert result["statusCode"] == 302
    assert tool.partner_api.calls[-1]["json"].get("email") in (None, "")
    assert len(tool.partner_api.calls) == 2


def test_a_launch_without_personal_data_for_a_new_user_gives_the_privacy_page(tool: Tool) -> None:
    result = launch(tool, NO_PROFILE)
    assert result["statusCode"] == 422
    assert "<code>lti_profile_not_released</code>" in result["body"]
    assert len(tool.partner_api.calls) == 1  # Big Interview was asked, and needs the profile


# ---- Canvas's facts ---------------------------------------------------------------------------


def test_canvas_login_parameters_of_its_own_are_ignored(tool: Tool) -> None:
    login = tool.login(canvas_region="us-east-1", canvas_environment="prod")
    assert login.result["statusCode"] == 302
    assert "canvas_region" not in login.request  # not passed on to the authorization endpoint
    assert tool.launch_from(login)["statusCode"] == 302
