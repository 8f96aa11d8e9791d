"""Deep Linking 2.0 through the handler: the launch's checks, the picker, the signed answer.

The platform's side is a test here (its id_token signed by ``platform_key``, its JWKS on
loopback); ``tests/lti/platform/test_deep_linking_platform.py`` runs the real platform
implementation. The response is verified with the tool key's public half from ``/lti/jwks``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from handler.lti.deep_linking import CONTENT_ITEMS, DATA
from tests.lti.conftest import (
    CLIENT_ID,
    DEEP_LINK_RETURN_URL,
    DEPLOYMENT_ID,
    PLATFORM,
    TOOL_HOST,
    Tool,
    deep_linking_request,
    page_field,
)
from tests.support import SigningKey, http_event

ON = {"LTI_DEEP_LINKING": "Enabled"}


def picker(tool: Tool, **settings: Any) -> dict[str, Any]:
    login = tool.login()
    return tool.launch_from(login, **deep_linking_request(**settings))


def verified_response(tool: Tool, page: dict[str, Any]) -> dict[str, Any]:
    """The return page's JWT, verified with the key /lti/jwks serves, as the platform verifies it."""
    token = page_field(page["body"], "JWT")
    jwks = json.loads(tool(http_event("GET", "/lti/jwks", headers={"host": TOOL_HOST}))["body"])
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    claims: dict[str, Any] = jwt.decode(token, key, algorithms=["RS256"], audience=PLATFORM, issuer=CLIENT_ID)
    return claims


def test_a_deep_linking_request_is_refused_when_deep_linking_is_off(make_tool: Callable[..., Tool]) -> None:
    result = picker(make_tool())
    assert result["statusCode"] == 401 and "lti_claim_invalid" in result["body"]
    assert "ticket" not in result["body"]


def test_a_deep_linking_launch_is_held_to_the_launchs_state_and_nonce(make_tool: Callable[..., Tool]) -> None:
    tool = make_tool(**ON)
    login = tool.login()
    token = tool.token(login.nonce, **deep_linking_request())
    assert tool.launch(token, login.state, login.cookie)["statusCode"] == 200
    replay = tool.launch(token, login.state, login.cookie)  # the same form post again
    assert (
        replay["statusCode"] == 401
        and "lti_state_invalid" in replay["body"]
        and 'name="ticket"' not in replay["body"]
    )
    other = tool.login()
    wrong_nonce = tool.launch(
        tool.token("not-the-nonce", **deep_linking_request()), other.state, other.cookie
    )
    assert wrong_nonce["statusCode"] == 401 and "lti_state_invalid" in wrong_nonce["body"]
    third = tool.login()
    forger = SigningKey.rsa(kid="platform-1")  # the platform's kid, another key
    forged = tool.launch(
        tool.token(third.nonce, key=forger, **deep_linking_request()), third.state, third.cookie
    )
    assert forged["statusCode"] == 401 and "invalid_signature" in forged["body"]


def test_the_picker_lists_the_catalogue_in_fieldsets_and_needs_no_script(
    make_tool: Callable[..., Tool],
) -> None:
    tool = make_tool(**ON)
    calls = tool.partner_api.calls
    result = picker(tool)
    assert result["statusCode"] == 200, result["body"][:400]
    body, policy = result["body"], result["headers"]["Content-Security-Policy"]
    assert "<script" not in body and "script-src" not in policy
    assert "form-action 'self'" in policy and "frame-ancestors *" in policy
    assert '<form method="post" action="https://sso.example.test/lti/deep-link">' in body
    for legend in ("Dashboard", "Guided tracks", "Curriculum", "Grade"):
        assert f"<legend>{legend}</legend>" in body
    assert '<label><input type="radio" name="item" value="chapter-6" required> Curriculum, chapter 6<' in body
    assert "id_token" not in body and "eyJ" not in body  # the page carries a ticket, never the token
    assert tool.partner_api.calls == calls  # no one is signed in to Big Interview
    assert any(c.startswith("__Host-lti-state-") and "Max-Age=0" in c for c in result["cookies"])


def test_the_choice_comes_back_signed_with_the_destination_and_a_line_item(
    make_tool: Callable[..., Tool],
) -> None:
    tool = make_tool(**ON)
    answer = tool.choose(picker(tool), "chapter-6", grade=True)
    assert answer["statusCode"] == 200, answer["body"][:400]
    policy = answer["headers"]["Content-Security-Policy"]
    assert policy.endswith(f"form-action {DEEP_LINK_RETURN_URL}")
    assert "script-src 'sha256-" in policy and "unsafe-inline" not in policy.split("style-src")[0]
    assert f'<form id="return" method="post" action="{DEEP_LINK_RETURN_URL}">' in answer["body"]
    assert "<noscript>" in answer["body"]
    claims = verified_response(tool, answer)
    assert claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] == "LtiDeepLinkingResponse"
    assert claims["https://purl.imsglobal.org/spec/lti/claim/version"] == "1.3.0"
    assert claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] == DEPLOYMENT_ID
    assert claims[DATA] == "platform-opaque-7"
    assert claims[CONTENT_ITEMS] == [
        {
            "type": "ltiResourceLink",
            "title": "Curriculum, chapter 6",
            "url": "https://sso.example.test/lti/launch",
            "custom": {"redirect_to": "/members/curriculum?chapter=6"},
            "lineItem": {
                "scoreMaximum": 100,
                "label": "Curriculum, chapter 6",
                "resourceId": "/members/curriculum?chapter=6",
            },
        }
    ]


def test_without_data_in_the_request_the_response_has_none(make_tool: Callable[..., Tool]) -> None:
    tool = make_tool(**ON)
    claims = verified_response(tool, tool.choose(picker(tool, data=None), "dashboard"))
    assert DATA not in claims
    assert "lineItem" not in claims[CONTENT_ITEMS][0]


def test_accept_multiple_gives_check_boxes_and_several_items(make_tool: Callable[..., Tool]) -> None:
    tool = make_tool(**ON)
    page = picker(tool, accept_multiple=True)
    assert '<input type="checkbox" name="item" value="dashboard">' in page["body"]
    claims = verified_response(tool, tool.choose(page, "dashboard", "mastery-track"))
    assert [item["custom"]["redirect_to"] for item in claims[CONTENT_ITEMS]] == [
        "/members/dashboard",
        "/members/tracks/mastery-track",
    ]


def test_auto_create_false_tells_the_instructor_the_course_asks_to_confirm(
    make_tool: Callable[..., Tool],
) -> None:
    tool = make_tool(**ON)
    assert "asks you to confirm" in picker(tool, auto_create=False)["body"]
    assert "adds it as soon as you choose" in picker(tool, auto_create=True)["body"]


@pytest.mark.parametrize(
    ("settings", "items", "code"),
    [
        ({}, ("dashboard", "fast-track"), "lti_deep_linking_choice"),  # one only: accept_multiple false
        ({}, (), "lti_deep_linking_choice"),
        ({}, ("../../admin",), "lti_deep_linking_choice"),
        ({"accept_multiple": True}, ("dashboard", "dashboard"), "lti_deep_linking_choice"),
    ],
    ids=["two-when-one", "none", "not-in-catalogue", "twice"],
)
def test_a_bad_choice_gets_a_page_signs_nothing_and_spends_nothing(
    make_tool: Callable[..., Tool], settings: dict[str, Any], items: tuple[str, ...], code: str
) -> None:
    tool = make_tool(**ON)
    page = picker(tool, **settings)
    refused = tool.choose(page, *items)
    assert refused["statusCode"] == 400 and f"<code>{code}</code>" in refused["body"]
    assert "JWT" not in refused["body"]
    assert tool.choose(page, "dashboard")["statusCode"] == 200  # the ticket still works, once
    assert tool.choose(page, "dashboard")["statusCode"] == 401


def test_a_choice_posted_from_another_site_is_refused(make_tool: Callable[..., Tool]) -> None:
    tool = make_tool(**ON)
    page = picker(tool)
    refused = tool.choose(page, "dashboard", origin="https://attacker.example")
    assert refused["statusCode"] == 400 and "lti_deep_linking_choice" in refused["body"]


def test_an_unknown_ticket_is_refused(make_tool: Callable[..., Tool]) -> None:
    tool = make_tool(**ON)
    forged = {"body": '<input type="hidden" name="ticket" value="not-a-ticket-we-issued">'}
    refused = tool.choose(forged, "dashboard")
    assert refused["statusCode"] == 401 and "lti_deep_linking_expired" in refused["body"]


@pytest.mark.parametrize(
    ("settings", "code", "status"),
    [
        ({"accept_types": ["link", "html"]}, "lti_deep_linking_types", 400),
        ({"accept_types": None}, "lti_deep_linking_types", 400),
        ({"deep_link_return_url": "http://lms.example.edu/return"}, "lti_claim_invalid", 401),
        ({"deep_link_return_url": "https://lms.example.edu/r;script-src *"}, "lti_claim_invalid", 401),
    ],
    ids=["no-lti-link", "no-accept-types", "http-return", "csp-injection"],
)
def test_settings_the_tool_cannot_honour_get_a_page_and_no_picker(
    make_tool: Callable[..., Tool], settings: dict[str, Any], code: str, status: int
) -> None:
    result = picker(make_tool(**ON), **settings)
    assert result["statusCode"] == status and f"<code>{code}</code>" in result["body"]
    assert 'name="ticket"' not in result["body"]


def test_a_deep_linking_request_without_its_settings_is_refused(make_tool: Callable[..., Tool]) -> None:
    tool = make_tool(**ON)
    from handler.lti.claims import DEEP_LINKING_SETTINGS

    result = tool.launch_from(tool.login(), **{**deep_linking_request(), DEEP_LINKING_SETTINGS: None})
    assert result["statusCode"] == 401 and "deep_link_return_url" in result["body"]


def test_an_operators_catalogue_adds_an_orgs_destination(make_tool: Callable[..., Tool]) -> None:
    extra = {
        "xyz": [{"id": "employer-week", "title": "Employer week", "path": "/members/curriculum?chapter=12"}]
    }
    tool = make_tool(**ON, LTI_DEEP_LINKING_CATALOGUE=json.dumps(extra))
    page = picker(tool)
    assert "<legend>Other</legend>" in page["body"] and "Employer week" in page["body"]
    claims = verified_response(tool, tool.choose(page, "employer-week"))
    assert claims[CONTENT_ITEMS][0]["custom"] == {"redirect_to": "/members/curriculum?chapter=12"}


def _cold_modules(env: dict[str, str]) -> set[str]:
    """The handler modules a fresh interpreter holds after importing the entry point with ``env``."""
    code = (
        "import json, sys\nimport handler.entry_point\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('handler.'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


NEW_MODULES = {"handler.lti.deep_linking", "handler.lti.catalogue"}


def test_a_cold_start_without_deep_linking_imports_none_of_it(lti_env_for_cold_start: dict[str, str]) -> None:
    partner_only = {k: v for k, v in lti_env_for_cold_start.items() if not k.startswith("LTI_")}
    assert not {m for m in _cold_modules(partner_only) if m.startswith("handler.lti")}
    assert not NEW_MODULES & _cold_modules(lti_env_for_cold_start)
    with_it = _cold_modules({**lti_env_for_cold_start, **ON})
    assert NEW_MODULES.issubset(with_it)  # the check can fail


@pytest.fixture
def lti_env_for_cold_start() -> dict[str, str]:
    return {
        "BI_ORG": "xyz",
        "BI_API_KEY_SECRET_ID": "bi-sso/api-key",
        "JWT_ISSUER": "https://portal.example.edu",
        "JWT_AUDIENCE": "big-interview-sso",
        "JWT_JWKS_URL": "https://portal.example.edu/jwks.json",
        "LTI_STATE_TABLE_NAME": "states",
        "LTI_ISSUER": PLATFORM,
        "LTI_CLIENT_ID": CLIENT_ID,
        "LTI_DEPLOYMENT_IDS": DEPLOYMENT_ID,
        "LTI_AUTH_URL": "https://lms.example.edu/auth",
        "LTI_JWKS_URL": "https://lms.example.edu/jwks",
        "LTI_TOOL_KEY_ID": "alias/tool",
    }


def test_the_deep_linking_settings_are_checked_with_the_rest_of_the_configuration(
    lti_env_for_cold_start: dict[str, str],
) -> None:
    from handler.config import load_config
    from handler.errors import ConfigError

    env = lti_env_for_cold_start
    assert load_config(env).lti.deep_linking is False  # type: ignore[union-attr]
    assert load_config({**env, **ON}).lti.deep_linking is True  # type: ignore[union-attr]
    without_key = {k: v for k, v in env.items() if k != "LTI_TOOL_KEY_ID"}
    with pytest.raises(ConfigError) as raised:
        load_config({**without_key, "LTI_DEEP_LINKING": "Yes", "LTI_LEEWAY_SECONDS": "9999"})
    assert any("LTI_DEEP_LINKING must be Enabled or Disabled, got 'Yes'" in p for p in raised.value.problems)
    with pytest.raises(ConfigError) as raised:
        load_config({**without_key, **ON, "LTI_DEEP_LINKING_CATALOGUE": '{"xyz": [{"id": "a"}]}'})
    problems = " | ".join(raised.value.problems)
    assert "LTI_DEEP_LINKING=Enabled needs LTI_TOOL_KEY_ID" in problems
    assert "LTI_DEEP_LINKING_CATALOGUE['xyz'][0].title must be" in problems
