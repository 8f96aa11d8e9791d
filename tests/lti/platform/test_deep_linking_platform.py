"""Deep Linking 2.0 against a real platform implementation: PyPI's ``lti1p3platform`` as the sandbox LMS.

The whole local stack runs (``LocalStack(lti=True)``, ``make dev LTI=1``'s, with
``LTI_DEEP_LINKING=Enabled``): the instructor's deep-linking launch goes through the same
login, state and id_token checks as a student's; the tool's picker is posted as a browser
posts it (with its ``Origin``); the platform verifies the signed response against the tool's
``/lti/jwks`` (the package fetches it) and creates the links; a student then launches one.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import urllib3
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.local.sandbox_deep_linking import PLACEMENTS
from infra.local.sandbox_lms import STUDENTS
from infra.local.stack import LocalStack, Ports
from tests import leakcheck
from tests.lti.platform.test_real_platform import Browser, course_link

ADA = next(iter(STUDENTS))
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(ports=Ports.ephemeral(), environ={}, lti=True) as running:
        yield running


class _Picker(HTMLParser):
    """The picker's form: its action, hidden fields, choices (by input type) and legends."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.hidden: dict[str, str] = {}
        self.choices: dict[str, str] = {}  # value -> input type
        self.legends: list[str] = []
        self._in_legend = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.action = values.get("action") or ""
        elif tag == "legend":
            self._in_legend = True
        elif tag == "input" and values.get("type") == "hidden":
            self.hidden[str(values["name"])] = values.get("value") or ""
        elif tag == "input" and values.get("name") == "item":
            self.choices[str(values["value"])] = str(values["type"])

    def handle_endtag(self, tag: str) -> None:
        self._in_legend = self._in_legend and tag != "legend"

    def handle_data(self, data: str) -> None:
        if self._in_legend:
            self.legends.append(data)


def open_picker(stack: LocalStack, placement: str = "activity") -> tuple[Browser, _Picker]:
    assert stack.lms is not None
    browser = Browser()
    response = browser.launch(f"{stack.lms.url}/deep-link?placement={placement}")
    assert response.status == 200, response.data[:500]
    picker = _Picker()
    picker.feed(response.data.decode())
    leakcheck.register(*picker.hidden.values())
    return browser, picker


def choose(
    stack: LocalStack, browser: Browser, picker: _Picker, *items: str, grade: bool = False
) -> urllib3.BaseHTTPResponse:
    fields = [(name, value) for name, value in picker.hidden.items()] + [("item", item) for item in items]
    if grade:
        fields.append(("grade", "on"))
    return browser.request("POST", picker.action, fields, origin=stack.api_url)


def returned_jwt(answer: urllib3.BaseHTTPResponse) -> tuple[str, str]:
    """The return page's form: where it posts, and the signed response."""
    parser = _Picker()
    parser.feed(answer.data.decode())
    token = parser.hidden["JWT"]
    leakcheck.register(token)
    return parser.action, token


def test_the_instructor_picks_a_chapter_and_the_platform_verifies_the_signed_response(
    stack: LocalStack,
) -> None:
    assert stack.lms is not None
    calls = stack.api_calls
    browser, picker = open_picker(stack)
    assert picker.choices["chapter-6"] == "radio"  # the activity placement takes one link
    assert {"Dashboard", "Guided tracks", "Curriculum", "Grade"} <= set(picker.legends)
    assert stack.api_calls == calls  # an instructor adding content is not signed in to Big Interview

    answer = choose(stack, browser, picker, "chapter-6", grade=True)
    assert answer.status == 200, answer.data[:500]
    policy = answer.headers["Content-Security-Policy"]
    assert f"form-action {stack.lms.deep_link_return_url};" in policy + ";"
    action, token = returned_jwt(answer)
    assert action == stack.lms.deep_link_return_url

    created = len(stack.lms.deep_linking.created)
    accepted = browser.request("POST", action, {"JWT": token})
    assert accepted.status == 200, accepted.data[:500]
    [link] = stack.lms.deep_linking.created[created:]
    assert link.custom == {"redirect_to": "/members/curriculum?chapter=6"}
    assert link.line_item == {
        "scoreMaximum": 100,
        "label": link.title,
        "resourceId": "/members/curriculum?chapter=6",
    }
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iss"], claims["aud"]) == ("sandbox-big-interview", stack.lms.issuer)
    assert claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] == "LtiDeepLinkingResponse"
    assert claims["https://purl.imsglobal.org/spec/lti/claim/version"] == "1.3.0"
    assert claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] == "sandbox-deployment-1"
    assert isinstance(claims[DL + "data"], str) and claims["nonce"]
    assert 0 < claims["exp"] - claims["iat"] <= 300
    assert (
        jwt.get_unverified_header(token)["kid"]
        == urllib3.request("GET", f"{stack.api_url}/lti/jwks").json()["keys"][0]["kid"]
    )

    # A student's launch of the created link lands on the chosen chapter.
    response = Browser().launch(course_link(stack, ADA, link.link_id))
    assert response.status == 302, response.data[:500]
    assert parse_qs(urlsplit(response.headers["Location"]).query)["redirect_to"] == [
        "/members/curriculum?chapter=6"
    ]


def test_a_module_placement_takes_several_items_without_a_grade(stack: LocalStack) -> None:
    assert stack.lms is not None
    browser, picker = open_picker(stack, "module")
    assert picker.choices["dashboard"] == "checkbox"
    action, token = returned_jwt(choose(stack, browser, picker, "dashboard", "fast-track"))
    created = len(stack.lms.deep_linking.created)
    assert browser.request("POST", action, {"JWT": token}).status == 200
    links = stack.lms.deep_linking.created[created:]
    assert [link.custom["redirect_to"] for link in links] == [
        "/members/dashboard",
        "/members/tracks/fast-track",
    ]
    assert [link.line_item for link in links] == [None, None]


def test_a_replayed_response_is_refused_by_the_platform(stack: LocalStack) -> None:
    assert stack.lms is not None
    browser, picker = open_picker(stack)
    action, token = returned_jwt(choose(stack, browser, picker, "dashboard"))
    assert browser.request("POST", action, {"JWT": token}).status == 200
    created = len(stack.lms.deep_linking.created)
    replay = browser.request("POST", action, {"JWT": token})
    assert replay.status == 400
    assert "no pending request" in replay.json()["reason"]
    assert len(stack.lms.deep_linking.created) == created


def test_a_response_signed_with_another_key_is_refused_by_the_platform(stack: LocalStack) -> None:
    assert stack.lms is not None
    browser, picker = open_picker(stack)
    action, token = returned_jwt(choose(stack, browser, picker, "dashboard"))
    claims = jwt.decode(token, options={"verify_signature": False})
    header = jwt.get_unverified_header(token)
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": header["kid"]})
    created = len(stack.lms.deep_linking.created)
    refused = browser.request("POST", action, {"JWT": forged})
    assert refused.status == 400
    assert "Signature verification failed" in stack.lms.deep_linking.refused[-1]
    assert len(stack.lms.deep_linking.created) == created
    # The genuine response for that request still counts: the forgery spent nothing.
    assert browser.request("POST", action, {"JWT": token}).status == 200


def test_a_placement_that_takes_no_lti_link_gets_a_page_and_nothing_signed(stack: LocalStack) -> None:
    assert "ltiResourceLink" not in PLACEMENTS["editor"].accept_types
    assert stack.lms is not None
    response = Browser().launch(f"{stack.lms.url}/deep-link?placement=editor")
    assert response.status == 400
    page = response.data.decode()
    assert "lti_deep_linking_types" in page and "JWT" not in page and "<form" not in page


def test_the_picker_is_single_use_and_bound_to_this_services_page(stack: LocalStack) -> None:
    browser, picker = open_picker(stack)
    elsewhere = browser.request(
        "POST", picker.action, [*picker.hidden.items(), ("item", "dashboard")], origin="https://evil.example"
    )
    assert elsewhere.status == 400 and b"lti_deep_linking_choice" in elsewhere.data
    unknown = choose(stack, browser, picker, "not-in-the-catalogue")
    assert unknown.status == 400 and b"lti_deep_linking_choice" in unknown.data and b"JWT" not in unknown.data
    assert choose(stack, browser, picker, "dashboard").status == 200  # bad posts spent nothing
    again = choose(stack, browser, picker, "dashboard")
    assert again.status == 401 and b"lti_deep_linking_expired" in again.data
