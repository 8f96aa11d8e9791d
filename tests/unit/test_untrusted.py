"""handler.untrusted: every way outside text can be unparseable is one ValueError."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from handler.untrusted import parse_json, split_url


def test_json_is_parsed_with_the_hooks_given() -> None:
    assert parse_json('{"a": [1, 2.5]}') == {"a": [1, 2.5]}
    assert parse_json(b'{"a": 2.5}', parse_float=Decimal) == {"a": Decimal("2.5")}


def test_json_nested_too_deeply_for_the_decoder_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="JSON nested too deeply"):
        parse_json("[" * 100_000 + "]" * 100_000)


def test_invalid_json_is_the_decoders_value_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        parse_json("{not json")


def test_a_url_is_split_with_its_port() -> None:
    parts = split_url("https://host.test:8443/p?q=1")
    assert (parts.scheme, parts.hostname, parts.port, parts.path, parts.query) == (
        "https",
        "host.test",
        8443,
        "/p",
        "q=1",
    )


@pytest.mark.parametrize(
    "url",
    ["https://host.test:99999/", "https://host.test:port/", "https://[::1/", "https://host.test:-1/"],
)
def test_an_unparseable_url_or_port_is_a_value_error_at_once(url: str) -> None:
    with pytest.raises(ValueError):
        split_url(url)
