"""Platform Storage: the state's browser binding kept in the platform's storage frame.

A login that announces ``lti_storage_target`` gets the page that puts the binding there
(and still the cookie); a launch without the cookie gets the page that reads it back,
whose post signs the student in exactly as the cookie would. The pages' answers are read
as the browser reads them: the JSON block, the script its CSP hash allows. The attacks
on the new path each end without a Partner API call.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from handler.lti.storage import BINDING_FIELD, READ_FIELD, storage_key
from tests import leakcheck
from tests.lti.conftest import (
    AUTH_URL,
    CLIENT_ID,
    DEPLOYMENT_ID,
    LAUNCH_URL,
    PLATFORM,
    TOOL_HOST,
    TOOL_ORIGIN,
    Tool,
)
from tests.support import http_event

PLATFORM_ORIGIN = "https://lms.example.edu"  # AUTH_URL's origin
CANVAS_FRAME = "post_message_forwarding"


def page_data(result: dict[str, Any]) -> dict[str, Any]:
    """The storage page's data block, after checking the page runs only the script its CSP allows."""
    assert result["statusCode"] == 200
    page = result["body"]
    policy = result["headers"]["Content-Security-Policy"]
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1
    allowed = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{allowed}'" in policy
    assert "default-src 'none'" in policy and "form-action 'self'" in policy
    assert not re.search(r"\b(src|href)=\"https?://(?!lms\.example\.edu)", page)  # no third-party resource
    block = re.search(r'<script type="application/json" id="lti-storage">(.*?)</script>', page, re.S)
    assert block is not None
    data: dict[str, Any] = json.loads(block.group(1))
    return data


def storage_login(tool: Tool, target: str = CANVAS_FRAME) -> dict[str, Any]:
    """A login that announces storage: the page's data, plus the state, nonce and cookie it issued."""
    result = tool.login(lti_storage_target=target).result
    data = page_data(result)
    request = {k: v[0] for k, v in parse_qs(urlsplit(data["next"]).query).items()}
    cookie = result["cookies"][0].split(";", 1)[0]
    leakcheck.register(request["state"], request["nonce"], data["value"])
    return {**data, "state": request["state"], "nonce": request["nonce"], "cookie": cookie}


def post_launch(
    tool: Tool,
    fields: dict[str, str],
    *,
    cookie: str | None = None,
    origin: str | None = None,
    query: dict[str, str] | None = None,
    framed: bool = False,
) -> dict[str, Any]:
    headers = {"host": TOOL_HOST, "content-type": "application/x-www-form-urlencoded"}
    if framed:
        headers["sec-fetch-dest"] = "iframe"
    if origin is not None:
        headers["origin"] = origin
    event = http_event(
        "POST", "/lti/launch", query=query, headers=headers, body=urlencode(fields), base64_body=True
    )
    if cookie:
        event["cookies"] = [cookie]
    return tool(event)


def refused_with(result: dict[str, Any], code: str, detail: str) -> None:
    assert result["statusCode"] == 401
    assert result.get("headers", {}).get("Location") is None
    body = result["body"]
    assert f"<code>{code}</code>" in body and detail in body


def read_binding(tool: Tool, login: dict[str, Any], **form: str) -> dict[str, Any]:
    """The launch as the platform form-posts it into the frame, where the cookie did not come back."""
    token = tool.token(login["nonce"])
    fields = {"id_token": token, "state": login["state"], **form}
    return post_launch(tool, fields)


def submit_binding(
    tool: Tool, login: dict[str, Any], binding: str, origin: str | None = TOOL_ORIGIN
) -> dict[str, Any]:
    """What the launch page posts once it read ``binding`` from the platform's storage."""
    fields = {
        "id_token": tool.token(login["nonce"]),
        "state": login["state"],
        BINDING_FIELD: binding,
        READ_FIELD: "1",
    }
    return post_launch(tool, fields, origin=origin, framed=True)


# ---- the login page --------------------------------------------------------------------------


def test_a_login_announcing_storage_puts_the_binding_in_the_platforms_frame(tool: Tool) -> None:
    login = storage_login(tool)
    assert login["mode"] == "put"
    assert login["target"] == CANVAS_FRAME
    assert login["origin"] == PLATFORM_ORIGIN  # the registration's auth_url's origin
    assert login["key"] == storage_key(login["state"]) and login["state"] not in login["key"]
    assert login["next"].startswith(AUTH_URL + "?")
    # The cookie carries the same binding: where the frame keeps cookies, it is used first.
    assert login["cookie"].split("=", 1)[1] == login["value"]
    assert tool.partner_api.calls == []


def test_a_login_without_storage_redirects_as_before(tool: Tool) -> None:
    login = tool.login()
    assert login.result["statusCode"] == 302 and login.location.startswith(AUTH_URL)


@pytest.mark.parametrize("target", ["", "a b", "x" * 65, "<script>", "javascript:alert(1)"])
def test_a_target_that_is_not_a_frame_name_is_ignored(tool: Tool, target: str) -> None:
    assert tool.login(lti_storage_target=target).result["statusCode"] == 302


# ---- the launch ------------------------------------------------------------------------------


def test_with_the_cookie_the_launch_uses_it_even_where_storage_is_announced(tool: Tool) -> None:
    login = storage_login(tool)
    token = tool.token(login["nonce"])
    result = post_launch(
        tool,
        {"id_token": token, "state": login["state"], "lti_storage_target": CANVAS_FRAME},
        cookie=login["cookie"],
    )
    assert result["statusCode"] == 302
    assert len(tool.partner_api.calls) == 1


def test_without_the_cookie_the_launch_reads_the_binding_back_then_signs_in(tool: Tool) -> None:
    login = storage_login(tool)
    page = page_data(read_binding(tool, login, lti_storage_target=CANVAS_FRAME))
    assert page["mode"] == "get"
    assert (page["target"], page["origin"], page["key"]) == (CANVAS_FRAME, PLATFORM_ORIGIN, login["key"])
    assert tool.partner_api.calls == []  # the page is not a sign-in; the state is still unused

    result = submit_binding(tool, login, login["value"])
    assert result["statusCode"] == 302
    assert len(tool.partner_api.calls) == 1


def test_blackboards_redirect_uri_announces_the_storage_frame_in_its_query(tool: Tool) -> None:
    login = storage_login(tool, target="_parent")
    fields = {"id_token": tool.token(login["nonce"]), "state": login["state"]}
    page = page_data(post_launch(tool, fields, query={"lti_storage_target": "lti_storage_frame"}))
    assert (page["mode"], page["target"]) == ("get", "lti_storage_frame")


def test_a_framed_launch_announcing_nothing_asks_the_platform_for_its_storage_frame(tool: Tool) -> None:
    # Blackboard's launch names no target: in a frame (Sec-Fetch-Dest), the page asks lti.capabilities.
    login = storage_login(tool, target="lti_storage_frame")
    fields = {"id_token": tool.token(login["nonce"]), "state": login["state"]}
    page = page_data(post_launch(tool, fields, framed=True))
    assert (page["mode"], page["target"], page["origin"]) == ("get", None, PLATFORM_ORIGIN)
    assert submit_binding(tool, login, login["value"])["statusCode"] == 302


def test_without_storage_and_without_the_cookie_the_new_window_page_starts_the_login_again(
    tool: Tool,
) -> None:
    login = tool.login()
    result = tool.launch(tool.token(login.nonce), login.state, None)
    assert result["statusCode"] == 400
    policy = result["headers"]["Content-Security-Policy"]
    assert "script-src" not in policy and "frame-ancestors *" in policy
    # Our login, then the platform, then any https host it sends the browser on to (its institution's).
    assert "form-action 'self' https://lms.example.edu https:;" in policy + ";"
    page = result["body"]
    assert "<code>lti_state_cookie_missing</code>" in page and "<script" not in page
    form = re.search(r'<form method="post" action="([^"]+)" target="_blank">(.*?)</form>', page, re.S)
    assert form is not None and form.group(1) == f"{TOOL_ORIGIN}/lti/login"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2)))
    assert fields == {
        "iss": PLATFORM,
        "login_hint": "student-hint-1",
        "target_link_uri": LAUNCH_URL,
        "lti_message_hint": "resource-link-77",
        "client_id": CLIENT_ID,
        "lti_deployment_id": DEPLOYMENT_ID,
    }
    assert tool.partner_api.calls == []

    # The button, in a new top-level window: the same login, whose cookie now comes back.
    again = tool.login(method="POST", **fields)
    assert again.result["statusCode"] == 302
    assert tool.launch_from(again)["statusCode"] == 302
    assert len(tool.partner_api.calls) == 1


def test_a_used_or_unknown_state_gets_the_plain_page_without_a_button(tool: Tool) -> None:
    login = tool.login()
    assert tool.launch_from(login)["statusCode"] == 302
    for state in (login.state, "never-issued"):
        result = tool.launch(tool.token(login.nonce), state, None)
        # The state's item says why: used, or never issued; no button starts a login again.
        assert result["statusCode"] == 401 and "<code>lti_state_invalid</code>" in result["body"]
        assert "<form" not in result["body"]


# ---- attacks on the storage path: each refused, no Partner API call --------------------------


def test_a_binding_from_another_state_is_refused(tool: Tool) -> None:
    mine, other = storage_login(tool), storage_login(tool)
    refused_with(submit_binding(tool, mine, other["value"]), "lti_state_invalid", "another browser")
    assert tool.partner_api.calls == []


def test_a_binding_posted_by_another_site_is_refused(tool: Tool) -> None:
    # An attacker's page knows its own login's binding and posts it from the victim's browser.
    login = storage_login(tool)
    refused_with(
        submit_binding(tool, login, login["value"], origin="https://attacker.example"),
        "lti_state_invalid",
        "posted from",
    )
    refused_with(submit_binding(tool, login, login["value"], origin=None), "lti_state_invalid", "no origin")
    assert tool.partner_api.calls == []
    # Neither refusal used the state: the student's own page still signs in.
    assert submit_binding(tool, login, login["value"])["statusCode"] == 302


def test_a_replayed_binding_is_refused(tool: Tool) -> None:
    login = storage_login(tool)
    assert submit_binding(tool, login, login["value"])["statusCode"] == 302
    refused_with(submit_binding(tool, login, login["value"]), "lti_state_invalid", "already used")
    assert len(tool.partner_api.calls) == 1


def test_a_page_that_omits_the_binding_is_refused_and_never_loops(tool: Tool) -> None:
    # A blank binding is no binding; the post says the page already looked, so no page comes back.
    login = storage_login(tool)
    result = submit_binding(tool, login, "")
    assert result["statusCode"] == 400 and "<code>lti_state_cookie_missing</code>" in result["body"]
    assert tool.partner_api.calls == []
    assert submit_binding(tool, login, login["value"])["statusCode"] == 302  # the state stayed unused


def test_the_read_page_names_only_the_registered_platforms_origin(tool: Tool) -> None:
    # The id_token is unverified when the page is made: an unknown iss gets no page at all.
    login = storage_login(tool)
    token = tool.token(login["nonce"], iss="https://attacker.example")
    result = post_launch(tool, {"id_token": token, "state": login["state"], "lti_storage_target": "_parent"})
    assert result["statusCode"] == 400 and "<code>lti_unknown_registration</code>" in result["body"]
    assert tool.partner_api.calls == []
