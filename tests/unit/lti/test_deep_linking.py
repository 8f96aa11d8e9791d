"""Deep Linking 2.0's parts: the request's settings, the response's claims, the pages and their CSP."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest

from handler.lti.catalogue import DEFAULT_ITEMS
from handler.lti.deep_linking import (
    CONTENT_ITEMS,
    DATA,
    ContentTypeNotAccepted,
    Settings,
    _Context,
    picker_page,
    response_claims,
    return_page,
    return_page_policy,
)
from handler.lti.errors import LtiClaimRefused

RETURN = "https://lms.example.edu/deep_link/return?course=7"


def settings(**overrides: Any) -> dict[str, Any]:
    return {"deep_link_return_url": RETURN, "accept_types": ["ltiResourceLink", "link"], **overrides}


def test_settings_read_what_the_platform_asked_for() -> None:
    parsed = Settings.parse(settings(accept_multiple=True, auto_create=True, data={"k": "v"}))
    assert (parsed.return_url, parsed.accept_multiple, parsed.auto_create) == (RETURN, True, True)
    assert (parsed.data, parsed.has_data) == ({"k": "v"}, True)
    default = Settings.parse(settings())
    assert (default.accept_multiple, default.auto_create, default.has_data) == (False, False, False)
    assert Settings.parse(settings(accept_multiple="true")).accept_multiple is False  # a boolean only


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"accept_types": ["link"]}, ContentTypeNotAccepted),
        ({"accept_types": "ltiResourceLink"}, ContentTypeNotAccepted),
        ({"deep_link_return_url": "javascript:alert(1)"}, LtiClaimRefused),
        ({"deep_link_return_url": "https://lms.example.edu/a b"}, LtiClaimRefused),
        ({"deep_link_return_url": "https://lms.example.edu/a,b"}, LtiClaimRefused),
        ({"data": "x" * 3000}, LtiClaimRefused),
    ],
)
def test_settings_the_tool_cannot_honour_are_refused(
    overrides: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        Settings.parse(settings(**overrides))


def context(**overrides: Any) -> _Context:
    return _Context(
        "https://lms.example.edu",
        "client-1",
        "deployment-1",
        "xyz",
        "https://sso.example.test/lti/launch",
        Settings.parse(settings(**overrides)),
    )


def test_the_context_survives_its_stored_form() -> None:
    stored = context(data=["a", 1])
    assert _Context.from_json(stored.to_json()) == stored


def test_the_response_claims_are_the_tools_to_the_platform() -> None:
    claims = response_claims(context(data="opaque"), [DEFAULT_ITEMS[0]], False, 1_700_000_000)
    assert (claims["iss"], claims["aud"]) == ("client-1", "https://lms.example.edu")
    assert (claims["iat"], claims["exp"]) == (1_700_000_000, 1_700_000_300)
    assert claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] == "deployment-1"
    assert claims[DATA] == "opaque"
    assert claims[CONTENT_ITEMS][0]["custom"] == {"redirect_to": "/members/dashboard"}
    other = response_claims(context(), [DEFAULT_ITEMS[0]], False, 1_700_000_000)
    assert DATA not in other and other["nonce"] != claims["nonce"]


def test_the_picker_labels_every_choice_inside_a_fieldset_with_a_legend() -> None:
    page = picker_page(
        DEFAULT_ITEMS, "ticket-1", "https://sso.example.test/lti/deep-link", context().settings
    )
    assert page.count("<fieldset>") == page.count("<legend>") == 4  # three groups and the grade
    inputs = re.findall(r"<label><input [^>]*name=\"item\"[^>]*> [^<]+</label>", page)
    assert len(inputs) == len(DEFAULT_ITEMS)  # each choice is inside its label
    assert '<html lang="en">' in page and '<button type="submit">' in page


def test_the_picker_escapes_an_operators_titles() -> None:
    from handler.lti.catalogue import Item

    page = picker_page(
        (Item("x", "<script>alert(1)</script>", "/members/dashboard", "G&H"),), "t", "/a", context().settings
    )
    assert "<script>" not in page and "&lt;script&gt;" in page and "G&amp;H" in page


def test_the_return_page_posts_only_to_the_return_url_with_its_one_script() -> None:
    page = return_page(RETURN, "header.payload.signature")
    policy = return_page_policy(RETURN)
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy
    assert policy.endswith("form-action https://lms.example.edu/deep_link/return")  # the path, no query
    assert 'action="https://lms.example.edu/deep_link/return?course=7"' in page
    assert '<input type="hidden" name="JWT" value="header.payload.signature">' in page
    assert "<noscript>" in page
