"""Open redirects: every redirect_to / return_url trick, through the full handler.

For each value the answer is either a refusal (``assert_refused``: 400, no
Location, no Partner API call, no DynamoDB write), or, for a harmless value
accepted as a path, a 302 whose Location host is exactly the configured Big
Interview host and whose ``redirect_to``, decoded, starts with exactly one '/'
and holds no '//' or '\\'. The value is tried as a query parameter, as a form
field and as a signed claim.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import Sso
from tests.support import SigningKey, form_event, http_event, mint

Refused = Callable[..., None]

REDIRECT_TO_TRICKS = {
    "protocol-relative": "//evil.test",
    "protocol-relative-path": "//evil.test/members",
    "slash-backslash": "/\\evil.test",
    "backslash-slash": "\\/evil.test",
    "backslashes": "\\\\evil.test",
    "scheme-no-slashes": "https:evil.test",
    "scheme-one-slash": "http:/evil.test",
    "absolute-url": "https://evil.test/",
    "encoded-slashes": "/%2F%2Fevil.test",
    "encoded-slashes-lower": "/%2f%2fevil.test",
    "double-encoded-slashes": "/%252F%252Fevil.test",
    "fully-encoded": "%2F%2Fevil.test",
    "encoded-backslash": "/%5Cevil.test",
    "double-encoded-backslash": "/%255Cevil.test",
    "raw-tab": "/\t/evil.test",
    "raw-newline": "/\n/evil.test",
    "raw-cr": "/\r/evil.test",
    "leading-tab": "\t//evil.test",
    "encoded-tab": "/%09/evil.test",
    "encoded-newline": "/%0a/evil.test",
    "encoded-cr": "/%0D/evil.test",
    "encoded-nul": "/%00/evil.test",
    "fullwidth-solidus": "/\uff0fevil.test",
    "division-slash": "/\u2215evil.test",
    "fraction-slash": "/\u2044evil.test",
    "ideographic-full-stop-host": "//evil\u3002test",
    "rtl-override": "/\u202etset.live//",
    "line-separator": "/\u2028/evil.test",
    "javascript": "javascript:alert(1)",
    "data": "data:text/html,<script>alert(1)</script>",
    "userinfo": "https://bi@evil.test",
    "userinfo-relative": "//bi@evil.test",
    "no-leading-slash": "evil.test",
    "empty-host-triple-slash": "///evil.test",
    "too-long": "/" + "a" * 2048,  # 2049 bytes: one over the 2 KiB limit
    "one-mebibyte": "/" + "a" * (1024 * 1024),
}
# Accepted as a path inside Big Interview: harmless once URL-encoded into redirect_to.
HARMLESS_PATHS = {
    "plain-path": "/members/interviews",
    "dot-dot": "/../evil.test",  # resolves to /evil.test on BI's host
    "javascript-after-slash": "/javascript:alert(1)",  # a path named "javascript:alert(1)"
    "query-with-url": "/members?next=https://evil.test",
    "encoded-in-query": "/members?next=%2F%2Fevil.test",
    "at-in-path": "/@evil.test",
    "exactly-2-kib": "/" + "a" * 2047,
}


def redirect_event(place: str, value: str, token: str) -> dict[str, Any]:
    if place == "query":
        return http_event(query={"jwt": token, "redirect_to": value})
    return form_event({"jwt": token, "redirect_to": value})


def assert_stays_on_big_interview(result: dict[str, Any], partner_host: str, value: str) -> None:
    assert result["statusCode"] == 302, result.get("body", "")[:300]
    location = urlsplit(result["headers"]["Location"])
    assert location.netloc == partner_host
    assert (location.scheme, location.path) == ("https", "/sso/login")
    redirect_to = parse_qs(location.query)["redirect_to"][0]
    assert redirect_to == value
    assert redirect_to.startswith("/") and not redirect_to.startswith("//")
    assert "\\" not in redirect_to
    assert "//" not in redirect_to.split("?", 1)[0]


@pytest.fixture
def partner_host(secured: Sso) -> str:
    return urlsplit(secured.config.partner.destination.bi_base_url).netloc


@pytest.mark.parametrize("place", ["query", "form"])
@pytest.mark.parametrize("value", list(REDIRECT_TO_TRICKS.values()), ids=list(REDIRECT_TO_TRICKS))
def test_redirect_to_trick_is_refused(
    secured: Sso, rsa_key: SigningKey, assert_refused: Refused, place: str, value: str
) -> None:
    result = secured(redirect_event(place, value, mint(rsa_key)))

    if place == "form" and len(value) > 16 * 1024:
        assert_refused(result, status=400, code="token_too_large")  # the body cap comes first
    else:
        assert_refused(result, status=400, code="invalid_redirect")


@pytest.mark.parametrize("value", list(REDIRECT_TO_TRICKS.values()), ids=list(REDIRECT_TO_TRICKS))
def test_redirect_to_trick_as_a_signed_claim_is_refused(
    secured: Sso, rsa_key: SigningKey, assert_refused: Refused, value: str
) -> None:
    token = mint(rsa_key, redirect_to=value)
    if len(token) > 8 * 1024:
        assert_refused(secured(http_event(query={"jwt": token})), status=400, code="token_too_large")
    else:
        assert_refused(secured(http_event(query={"jwt": token})), status=400, code="invalid_redirect")


@pytest.mark.parametrize("place", ["query", "form", "claim"])
@pytest.mark.parametrize("value", list(HARMLESS_PATHS.values()), ids=list(HARMLESS_PATHS))
def test_harmless_path_stays_on_the_configured_big_interview_host(
    secured: Sso, rsa_key: SigningKey, partner_host: str, place: str, value: str
) -> None:
    if place == "claim":
        event = http_event(query={"jwt": mint(rsa_key, redirect_to=value)})
    else:
        event = redirect_event(place, value, mint(rsa_key))

    assert_stays_on_big_interview(secured(event), partner_host, value)


def test_signed_redirect_to_wins_over_an_unsigned_trick(
    secured: Sso, rsa_key: SigningKey, partner_host: str
) -> None:
    # The signed claim is used; the unsigned value is never looked at, let alone followed.
    token = mint(rsa_key, redirect_to="/members")
    result = secured(http_event(query={"jwt": token, "redirect_to": "//evil.test"}))

    assert_stays_on_big_interview(result, partner_host, "/members")


RETURN_URL_TRICKS = {
    "other-origin": "https://evil.test/",
    "protocol-relative": "//evil.test/",
    "http-downgrade": "http://portal.example.edu/",
    "userinfo": "https://portal.example.edu@evil.test/",
    "userinfo-reversed": "https://evil.test@portal.example.edu/",
    "suffix-host": "https://portal.example.edu.evil.test/",
    "prefix-host": "https://evilportal.example.edu/",
    "other-port": "https://portal.example.edu:8443/",
    "backslash-host": "https://portal.example.edu\\@evil.test/",
    "tab-in-host": "https://portal.example.\tedu/",
    "newline": "https://portal.example.edu/\nLocation: https://evil.test/",
    "javascript": "javascript:alert(1)//portal.example.edu",
    "data": "data:text/html,portal.example.edu",
    "ideographic-full-stop": "https://portal\u3002example\u3002edu/",
    "fullwidth-solidus": "https:\uff0f\uff0fportal.example.edu/",
    "relative": "/members",
}


@pytest.fixture
def secured_with_return_urls(make_secured: Callable[..., Sso]) -> Sso:
    return make_secured(RETURN_URL_ALLOWED_ORIGINS="https://portal.example.edu")


@pytest.mark.parametrize("place", ["query", "form"])
@pytest.mark.parametrize("value", list(RETURN_URL_TRICKS.values()), ids=list(RETURN_URL_TRICKS))
def test_return_url_trick_is_refused(
    secured_with_return_urls: Sso, rsa_key: SigningKey, assert_refused: Refused, place: str, value: str
) -> None:
    token = mint(rsa_key)
    if place == "query":
        event = http_event(query={"jwt": token, "return_url": value})
    else:
        event = form_event({"jwt": token, "return_url": value})

    result = secured_with_return_urls(event)

    assert_refused(result, status=400, code="invalid_redirect")


@pytest.mark.parametrize("size", [12 * 1024, 1024 * 1024], ids=["12-KiB-form", "1-MiB-query"])
def test_very_long_return_url_is_refused(
    secured_with_return_urls: Sso, rsa_key: SigningKey, assert_refused: Refused, size: int
) -> None:
    value = "https://portal.example.edu/" + "a" * size
    token = mint(rsa_key)
    if size < 16 * 1024:
        event = form_event({"jwt": token, "return_url": value})
    else:
        event = http_event(query={"jwt": token, "return_url": value})

    assert_refused(secured_with_return_urls(event), status=400, code="invalid_redirect")


@pytest.mark.parametrize("value", ["/.//evil.test", "/a/..//evil.test", "/members//evil.test"])
def test_double_slash_after_the_first_segment_is_refused(
    secured: Sso, rsa_key: SigningKey, assert_refused: Refused, value: str
) -> None:
    result = secured(http_event(query={"jwt": mint(rsa_key), "redirect_to": value}))

    assert_refused(result, status=400, code="invalid_redirect")


def test_allow_listed_return_url_is_passed_through_on_the_configured_host(
    secured_with_return_urls: Sso, rsa_key: SigningKey, partner_api: Any
) -> None:
    value = "https://portal.example.edu/courses?x=1"
    result = secured_with_return_urls(http_event(query={"jwt": mint(rsa_key), "return_url": value}))

    assert result["statusCode"] == 302
    location = urlsplit(result["headers"]["Location"])
    assert location.netloc == urlsplit(secured_with_return_urls.config.partner.destination.bi_base_url).netloc
    assert parse_qs(location.query)["return_url"] == [value]
    assert len(partner_api.calls) == 1
