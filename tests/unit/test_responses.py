"""handler.responses: the redirect, an error as JSON, as a redirect or as a page, and the headers."""

from __future__ import annotations

import html
import json
from typing import Any

import pytest

from handler.config import DEFAULT_TROUBLESHOOTING_URL, ErrorPages
from handler.errors import BadRequest, InvalidAudience, PartnerUnavailable, SsoError
from handler.responses import error_response, redirect, redirect_as_json, with_security_headers

REQUEST_ID = "req-1234"
SPENT = "This sign-in link is now used up"


def test_the_redirect_is_a_302_with_an_empty_body() -> None:
    answer = redirect("https://xyz.biginterview.com/sso/login?token=t")

    assert (answer.status_code, answer.body, answer.headers["Location"]) == (
        302,
        "",
        "https://xyz.biginterview.com/sso/login?token=t",
    )


def test_the_redirect_as_json_carries_the_url() -> None:
    answer = redirect_as_json("https://xyz.biginterview.com/sso/login?token=t")

    assert answer.status_code == 200
    assert answer.content_type == "application/json"
    assert json.loads(str(answer.body)) == {"redirect_url": "https://xyz.biginterview.com/sso/login?token=t"}


@pytest.mark.parametrize("link_spent", [False, True])
def test_an_error_as_json_has_code_message_detail_and_request_id(link_spent: bool) -> None:
    error = InvalidAudience("aud is 'x'")

    answer = error_response(
        error,
        REQUEST_ID,
        wants_json=True,
        pages=ErrorPages(error_redirect_url="https://p.test/e"),
        link_spent=link_spent,
    )

    assert answer.status_code == 401
    assert answer.content_type == "application/json"
    body = json.loads(str(answer.body))["error"]
    assert body == {
        "code": "invalid_audience",
        "message": error.user_message(link_spent),
        "detail": "aud is 'x'",
        "request_id": REQUEST_ID,
    }
    assert (SPENT in body["message"]) is link_spent


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("https://p.test/error", "https://p.test/error?error=invalid_request&request_id=req-1234"),
        (
            "https://p.test/error?lang=en",
            "https://p.test/error?lang=en&error=invalid_request&request_id=req-1234",
        ),
    ],
)
def test_an_error_with_an_error_page_configured_redirects_there_with_code_and_request_id_only(
    url: str, location: str
) -> None:
    answer = error_response(
        BadRequest("secret detail"), REQUEST_ID, wants_json=False, pages=ErrorPages(error_redirect_url=url)
    )

    assert (answer.status_code, answer.body, answer.headers["Location"]) == (302, "", location)


def page(error: SsoError, *, link_spent: bool = False, **pages: Any) -> str:
    answer = error_response(
        error, REQUEST_ID, wants_json=False, pages=ErrorPages(**pages), link_spent=link_spent
    )
    assert answer.status_code == error.status
    assert answer.content_type == "text/html; charset=utf-8"
    return str(answer.body)


@pytest.mark.parametrize(
    ("error", "title"),
    [
        (BadRequest(), "We could not read this sign-in request"),
        (InvalidAudience(), "This sign-in link does not work"),
        (PartnerUnavailable(), "Sign-in is not available right now"),
    ],
)
def test_an_error_page_is_titled_by_its_status(error: SsoError, title: str) -> None:
    assert f"<title>{title}</title>" in page(error)
    assert f"<h1>{title}</h1>" in page(error)


def test_an_error_page_shows_message_code_reference_detail_and_help_link_escaped() -> None:
    text = page(
        BadRequest("found '<script>' & more"),
        troubleshooting_url="https://docs.test/guide",
        reader="the LMS's admins",
    )

    assert f"<p>{html.escape(BadRequest.message)}</p>" in text
    assert "Error code: <code>invalid_request</code>" in text
    assert f"Reference: <code>{REQUEST_ID}</code>" in text
    assert "<p>found &#x27;&lt;script&gt;&#x27; &amp; more</p>" in text
    assert '<a href="https://docs.test/guide#invalid_request" rel="noreferrer">' in text
    assert "For the LMS's admins" in text
    assert "<script>" not in text


def test_an_error_page_without_detail_or_a_published_guide_names_the_guides_row() -> None:
    text = page(BadRequest())

    assert DEFAULT_TROUBLESHOOTING_URL == "" and "<a href=" not in text
    assert (
        '<h2 id="for-developers">For the portal\'s developers</h2>\n<p>What <code>invalid_request</code> '
        "means and how to fix it: its row in the troubleshooting table of the partner guide "
        "(docs/partner-guide.md, from the service's operator).</p>"
    ) in text


def test_an_error_page_for_a_spent_link_says_so() -> None:
    assert SPENT in page(BadRequest(), link_spent=True)
    assert SPENT not in page(BadRequest())


def test_every_answer_gets_the_security_headers_and_html_the_page_policy() -> None:
    result = with_security_headers(
        {"statusCode": 200, "headers": {"Content-Type": "text/html; charset=utf-8"}}
    )

    assert result["headers"] == {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        "X-Frame-Options": "DENY",
    }


@pytest.mark.parametrize(
    "result",
    [
        {"statusCode": 302},
        {"statusCode": 302, "headers": None},
        {"statusCode": 200, "headers": {"Content-Type": "application/json"}},
    ],
)
def test_non_html_answers_get_no_page_policy(result: dict[str, Any]) -> None:
    headers = with_security_headers(result)["headers"]

    assert headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" not in headers and "X-Frame-Options" not in headers


def test_an_html_answer_with_its_own_policy_keeps_it() -> None:
    own = {"Content-Type": "text/html", "Content-Security-Policy": "frame-ancestors https://lms.test"}

    headers = with_security_headers({"statusCode": 200, "headers": own})["headers"]

    assert headers["Content-Security-Policy"] == "frame-ancestors https://lms.test"
    assert "X-Frame-Options" not in headers
