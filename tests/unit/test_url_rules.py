"""handler.url_rules: the service URLs the configuration accepts, loopback, origins."""

from __future__ import annotations

import pytest

from handler.url_rules import is_loopback_host, origin_of, url_problem


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.255.0.9", "::1"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host) is True


@pytest.mark.parametrize(
    "host",
    [
        None,
        "",
        "LOCALHOST.evil.test",
        "localhost.",
        "10.0.0.1",
        "::ffff:127.0.0.1",
        "example.test",
        "0.0.0.0",  # noqa: S104 - a host name checked, nothing bound
    ],
)
def test_not_loopback_hosts(host: str | None) -> None:
    assert is_loopback_host(host) is False


@pytest.mark.parametrize(
    "url",
    [
        "https://api.biginterview.com",
        "https://idp.partner.test/.well-known/jwks.json",
        "http://127.0.0.1:3002",
        "http://localhost:3001/jwks.json",
        "http://[::1]:8080/x",
    ],
)
def test_acceptable_service_urls(url: str) -> None:
    assert url_problem(url) is None


PLAIN_HTTP = "must use https:// (http:// is allowed only for 127.0.0.1 or localhost)"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://[::1", "must be an absolute https:// URL (this one cannot be parsed)"),
        ("https://host.test:99999/", "must be an absolute https:// URL (this one cannot be parsed)"),
        ("ftp://files.partner.test/", "must be an absolute https:// URL"),
        ("https:///no-host", "must be an absolute https:// URL"),
        ("/relative/path", "must be an absolute https:// URL"),
        (
            "http://api.partner.test/",
            PLAIN_HTTP,
        ),
        (
            "http://[::ffff:127.0.0.1]/",
            PLAIN_HTTP,
        ),
        ("https://user@api.partner.test/", "must not contain credentials"),
        ("https://:secret@api.partner.test/", "must not contain credentials"),
        ("http://user:pw@127.0.0.1/", "must not contain credentials"),
    ],
)
def test_unacceptable_service_urls_say_why(url: str, problem: str) -> None:
    assert url_problem(url) == problem


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://App.Partner.TEST/path?q=1#f", "https://app.partner.test"),
        ("HTTPS://app.partner.test:8443/", "https://app.partner.test:8443"),
        ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
    ],
)
def test_origin_is_scheme_host_and_port_lower_cased(url: str, origin: str) -> None:
    assert origin_of(url) == origin
