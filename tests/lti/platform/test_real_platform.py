"""Launches from a real LTI 1.3 platform: PyPI's ``lti1p3platform`` as the sandbox LMS on loopback.

The whole local stack runs (``LocalStack(lti=True)``, what ``make dev LTI=1``
starts): the platform initiates the login, answers the tool's authentication
request and form-posts the id_token it signed; the tool is the handler behind
the local API Gateway, with the launch table and the KMS tool key in moto. An
HTTP client plays the browser (cookies included); Chromium does in
``test_browser.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import urllib3

from handler.lti.claims import lti_partner_id
from infra.local.sandbox_lms import DEEP_LINK, STUDENTS, UNREGISTERED_DEPLOYMENT_ID
from infra.local.stack import LocalStack, Ports
from tests import leakcheck

ADA, GRACE, PRIVATE = list(STUDENTS)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(ports=Ports.ephemeral(), environ={}, lti=True) as running:
        yield running


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.action = values.get("action") or ""
        elif tag == "input" and values.get("name"):
            self.fields[str(values["name"])] = values.get("value") or ""


@dataclass
class Browser:
    """Redirects followed by hand, cookies kept per host:port: enough of a browser to launch."""

    http: urllib3.PoolManager = field(default_factory=lambda: urllib3.PoolManager(retries=False))
    cookies: dict[str, dict[str, str]] = field(default_factory=dict)
    launch_form: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        url: str,
        body: dict[str, str] | list[tuple[str, str]] | None = None,
        origin: str | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """``origin``: the Origin header a browser sends with a form post from that origin's page."""
        host = urlsplit(url).netloc
        headers = {"Origin": origin} if origin else {}
        jar = self.cookies.setdefault(host, {})
        if jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = self.http.request(
            method, url, body=urlencode(body) if body is not None else None, headers=headers, redirect=False
        )
        for line in response.headers.getlist("Set-Cookie"):
            name, _, value = line.split(";", 1)[0].partition("=")
            if value:
                jar[name] = value
                leakcheck.register(value)
            else:
                jar.pop(name, None)
        return response

    def launch(self, url: str) -> urllib3.BaseHTTPResponse:
        """Follow the launch from the course link to the tool's last answer."""
        response = self.request("GET", url)
        while response.status in (302, 303) and "/sso/login" not in response.headers["Location"]:
            response = self.request("GET", response.headers["Location"])
        if response.status == 200 and b"<form" in response.data:  # the platform's id_token form post
            form = _Form()
            form.feed(response.data.decode())
            self.launch_form = form.fields
            leakcheck.register(*form.fields.values())
            response = self.request("POST", form.action, form.fields)
        return response


def course_link(stack: LocalStack, user: str, link: str = "big-interview", **extra: str) -> str:
    assert stack.lms is not None
    return f"{stack.lms.url}/launch?" + urlencode({"user": user, "link": link, **extra})


def test_a_student_launch_from_the_platform_lands_signed_in(stack: LocalStack) -> None:
    calls = stack.api_calls
    response = Browser().launch(course_link(stack, ADA))
    assert response.status == 302, response.data[:500]
    location = response.headers["Location"]
    assert location.startswith(f"{stack.big_interview_url}/sso/login?token=")
    assert stack.api_calls == calls + 1
    landing = urllib3.request("GET", location, redirect=False)
    assert landing.status in (200, 302, 303)  # the sandbox accepts the SSO token


def test_the_platforms_id_token_is_what_the_tool_checked(stack: LocalStack) -> None:
    browser = Browser()
    assert browser.launch(course_link(stack, GRACE)).status == 302
    claims = jwt.decode(browser.launch_form["id_token"], options={"verify_signature": False})
    assert stack.lms is not None
    assert claims["iss"] == stack.lms.issuer
    assert claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] == "LtiResourceLinkRequest"
    assert (
        claims["https://purl.imsglobal.org/spec/lti/claim/target_link_uri"] == f"{stack.api_url}/lti/launch"
    )


def test_a_deep_link_from_the_platform_opens_that_page(stack: LocalStack) -> None:
    response = Browser().launch(course_link(stack, ADA, "big-interview-curriculum"))
    assert response.status == 302
    assert parse_qs(urlsplit(response.headers["Location"]).query)["redirect_to"] == [DEEP_LINK]


def test_the_student_is_one_big_interview_user_with_the_platforms_profile(stack: LocalStack) -> None:
    for _ in range(2):
        assert Browser().launch(course_link(stack, GRACE)).status == 302
    assert stack.big_interview is not None and stack.lms is not None
    user = stack.big_interview.user(lti_partner_id(stack.lms.issuer, GRACE))
    assert user is not None
    assert (user.first_name, user.last_name, user.email) == (
        "Grace",
        "Hopper",
        "grace.hopper@student.example.edu",
    )


def test_replaying_the_platforms_form_post_is_refused_without_a_partner_api_call(stack: LocalStack) -> None:
    browser = Browser()
    assert browser.launch(course_link(stack, ADA)).status == 302
    calls = stack.api_calls
    replay = browser.request("POST", f"{stack.api_url}/lti/launch", browser.launch_form)
    # The first launch cleared the cookie; the state's item says it was used (docs/lti.md).
    assert replay.status == 401
    assert b"lti_state_invalid" in replay.data
    assert stack.api_calls == calls


def test_a_deployment_the_tool_does_not_know_is_refused_at_login(stack: LocalStack) -> None:
    calls = stack.api_calls
    response = Browser().launch(course_link(stack, ADA, deployment=UNREGISTERED_DEPLOYMENT_ID))
    assert response.status == 400
    assert b"lti_unknown_deployment" in response.data
    assert stack.api_calls == calls


def test_a_student_whose_name_and_email_are_not_released_gets_the_privacy_settings_page(
    stack: LocalStack,
) -> None:
    response = Browser().launch(course_link(stack, PRIVATE))
    assert response.status == 422
    assert b"lti_profile_not_released" in response.data and b"Privacy Level must be Public" in response.data


def test_an_expired_id_token_from_the_platform_is_refused(stack: LocalStack) -> None:
    assert stack.lms is not None
    stack.lms.id_token_lifetime_seconds = -600  # beyond the 120 s clock skew allowed
    try:
        calls = stack.api_calls
        response = Browser().launch(course_link(stack, ADA))
    finally:
        stack.lms.id_token_lifetime_seconds = 300
    assert response.status == 401 and b"token_expired" in response.data
    assert stack.api_calls == calls


def test_the_tool_jwks_is_served_from_the_kms_key(stack: LocalStack) -> None:
    document = urllib3.request("GET", f"{stack.api_url}/lti/jwks").json()
    [key] = document["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and "d" not in key
