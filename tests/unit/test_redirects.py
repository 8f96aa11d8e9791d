"""The login URL and the open-redirect rules for redirect_to and return_url."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from handler.config import load_config
from handler.errors import InvalidRedirect, InvalidReturnUrl
from handler.redirects import check_redirect_to, check_return_url, sso_login_url

DESTINATION = load_config(
    {
        "BI_ORG": "xyz",
        "BI_API_KEY_SECRET_ID": "s",
        "JWT_ISSUER": "https://idp.test",
        "JWT_AUDIENCE": "bi",
        "RETURN_URL_ALLOWED_ORIGINS": "https://portal.example.edu",
    }
).partner.destination
BASE_URL = DESTINATION.bi_base_url
ALLOWED_ORIGINS = DESTINATION.return_url_allowed_origins


def test_login_url_matches_the_partner_docs_encoding() -> None:
    url = sso_login_url(BASE_URL, "935d85189822bf9c", "/members/curriculum?chapter=6", None)

    assert url == (
        "https://xyz.biginterview.com/sso/login?token=935d85189822bf9c"
        "&redirect_to=%2Fmembers%2Fcurriculum%3Fchapter%3D6"
    )


def test_return_url_is_encoded_like_the_partner_docs() -> None:
    url = sso_login_url(BASE_URL, "935d85189822bf9c", None, "https://google.com/")

    assert url.endswith("token=935d85189822bf9c&return_url=https%3A%2F%2Fgoogle.com%2F")


def test_a_space_is_percent_encoded_not_a_plus() -> None:
    # %20 reads as a space to every decoder; '+' does so only to form decoders.
    url = sso_login_url(BASE_URL, "t", "/members/search?q=mock interview", None)

    assert url.endswith("token=t&redirect_to=%2Fmembers%2Fsearch%3Fq%3Dmock%20interview")


def test_token_with_reserved_characters_round_trips() -> None:
    token = "a b/c?d&e=f+g%#"

    url = sso_login_url(BASE_URL, token, None, None)

    assert urlsplit(url).netloc == "xyz.biginterview.com"
    assert parse_qs(urlsplit(url).query) == {"token": [token]}


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/members/dashboard",
        "/members/curriculum?chapter=6",
        "/a-b_c/~d?x=%20",
        # Only the path is held to the slash rules: the query may carry them, and '?' too.
        "/members/search?next=%2Fmembers%2Fdashboard?tab=2",
        "/members/share?to=https://app.partner.test/",
    ],
)
def test_relative_paths_are_accepted(path: str) -> None:
    assert check_redirect_to(path) == path


@pytest.mark.parametrize(
    "value",
    [
        "",
        "members",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https:evil.example",
        "https://evil.example",
        "javascript:alert(1)",
        "/%2F%2Fevil.example",
        "/%2fevil",
        "/%5Cevil",
        "/%252F%252Fevil.example",
        "/a\tb",
        "/a\nb",
        "/a\rb",
        "/a\x00b",
        "/a\x7fb",
        "/\u2028evil",
        "/\uff0fevil.example",
        "\uff0f\uff0fevil.example",
        "/" + "a" * 2048,
    ],
)
def test_unsafe_redirect_to_is_refused(value: str) -> None:
    with pytest.raises(InvalidRedirect):
        check_redirect_to(value)


def test_redirect_to_of_exactly_2_kib_is_accepted() -> None:
    value = "/" + "a" * 2047

    assert check_redirect_to(value) == value


def test_allow_listed_return_url_is_accepted() -> None:
    assert (
        check_return_url("https://portal.example.edu/logout", ALLOWED_ORIGINS)
        == "https://portal.example.edu/logout"
    )


@pytest.mark.parametrize(
    "value",
    [
        "https://evil.example/",
        "https://portal.example.edu.evil.example/",
        "http://portal.example.edu/",
        "https://portal.example.edu:444/",
        "//portal.example.edu/",
        "/relative",
        "https://portal.example.edu\\@evil.example/",
        "https://portal.example.edu/\nx",
    ],
)
def test_return_url_outside_the_allow_list_is_refused(value: str) -> None:
    with pytest.raises(InvalidRedirect):
        check_return_url(value, ALLOWED_ORIGINS)


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("/" + "a" * 2048, "redirect_to is longer than 2048 bytes"),
        ("/a\nb", "redirect_to contains control characters"),
        ("/café", "redirect_to must be ASCII (percent-encode anything else)"),
        ("/a\\b", "redirect_to contains a backslash"),
        ("//evil.test", "redirect_to must start with exactly one '/'"),
        ("members", "redirect_to must start with exactly one '/'"),
        ("/a%2Fb", "redirect_to's path contains an encoded slash or control character"),
        ("/a%00b", "redirect_to's path contains an encoded slash or control character"),
        ("/a%09b", "redirect_to's path contains an encoded slash or control character"),
        ("/a%0Ab", "redirect_to's path contains an encoded slash or control character"),
        ("/a%0db", "redirect_to's path contains an encoded slash or control character"),
        ("/a%0Db", "redirect_to's path contains an encoded slash or control character"),
        ("/a/..//evil", "redirect_to's path contains '//'"),
    ],
)
def test_each_redirect_to_rule_says_what_is_wrong(value: str, detail: str) -> None:
    with pytest.raises(InvalidRedirect) as raised:
        check_redirect_to(value)
    assert raised.value.detail == detail


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("https://app.partner.test/" + "a" * 2048, "return_url is longer than 2048 bytes"),
        ("https://app.partner.test/é", "return_url must be ASCII (percent-encode anything else)"),
        ("http://app.partner.test/", "return_url must be an absolute https URL"),
        ("https://app.partner.test/a\\b", "return_url must be an absolute https URL"),
        ("https://app.partner.test/a\tb", "return_url must be an absolute https URL"),
        (
            "https://other.test/" + "x" * 10,
            "return_url's origin 'https://other.test' is not in RETURN_URL_ALLOWED_ORIGINS",
        ),
    ],
)
def test_each_return_url_rule_says_what_is_wrong(value: str, detail: str) -> None:
    with pytest.raises(InvalidReturnUrl) as raised:
        check_return_url(value, ("https://app.partner.test",))
    assert raised.value.detail == detail


def test_return_url_of_exactly_2_kib_is_accepted() -> None:
    value = "https://app.partner.test/" + "a" * (2048 - len("https://app.partner.test/"))

    assert len(value) == 2048
    assert check_return_url(value, ("https://app.partner.test",)) == value


def test_a_foreign_origin_is_shown_cut_to_200_characters() -> None:
    origin = "https://" + "h" * 300 + ".test"
    with pytest.raises(InvalidReturnUrl) as raised:
        check_return_url(origin + "/", ("https://app.partner.test",))
    assert raised.value.detail == f"return_url's origin {origin[:200]!r} is not in RETURN_URL_ALLOWED_ORIGINS"


def test_the_login_url_names_each_parameter() -> None:
    url = sso_login_url("https://xyz.biginterview.com", "t", "/a", "https://app.partner.test/")

    assert url == (
        "https://xyz.biginterview.com/sso/login?token=t&redirect_to=%2Fa"
        "&return_url=https%3A%2F%2Fapp.partner.test%2F"
    )
