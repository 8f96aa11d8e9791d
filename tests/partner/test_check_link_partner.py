"""``make check-link PARTNER=``: a token checked against that partner's registry record.

The registry is a moto DynamoDB table; the partner's JWKS is served on 127.0.0.1.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pytest_httpserver import HTTPServer

from infra.partner import check_link
from tests.registry_support import REGISTRY_TABLE, create_registry_table, partner_record, put_record
from tests.support import SigningKey, mint

ISSUER = "https://idp.campus-a.test"
KEY = SigningKey.rsa(kid="a-1")


@pytest.fixture
def registry(aws_env: None, httpserver: HTTPServer) -> Iterator[Any]:
    httpserver.expect_request("/campus-a/jwks.json").respond_with_json({"keys": [KEY.jwk]})
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_registry_table(client)
        put_record(
            client,
            partner_record("campus-a", ISSUER, jwks_url=httpserver.url_for("/campus-a/jwks.json")),
        )
        put_record(client, partner_record("campus-b", "https://idp.campus-b.test", enabled=False))
        yield client


def check(token: str, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = check_link.main([token, "--table", REGISTRY_TABLE, *argv], stdin=io.StringIO(""), out=out)
    return status, out.getvalue()


def test_a_token_that_partner_signed_passes_with_its_records_settings(registry: Any) -> None:
    status, output = check(mint(KEY, iss=ISSUER, aud="campus-a-sso"), "--partner", "campus-a")

    assert status == 0, output
    assert "ok    partner      'campus-a', enabled, Big Interview org 'campus-a'" in output


def test_the_records_audience_is_the_one_checked(registry: Any) -> None:
    status, output = check(mint(KEY, iss=ISSUER, aud="big-interview-sso"), "--partner", "campus-a")

    assert status == 1
    assert "invalid_audience" in output


def test_a_token_of_another_partners_issuer_is_refused_by_name(registry: Any) -> None:
    status, output = check(mint(KEY, iss=ISSUER, aud="campus-a-sso"), "--partner", "campus-b")

    assert status == 1
    assert "the record of this iss is partner 'campus-a', not 'campus-b'" in output


def test_a_disabled_partner_and_an_unknown_issuer_are_refused(registry: Any) -> None:
    disabled, disabled_output = check(
        mint(KEY, iss="https://idp.campus-b.test", aud="campus-b-sso"), "--partner", "campus-b"
    )
    unknown, unknown_output = check(mint(KEY, iss="https://stranger.test"), "--partner", "campus-a")

    assert disabled == 1 and "partner 'campus-b' is disabled" in disabled_output
    assert unknown == 1 and "no record has the key" in unknown_output


def test_partner_needs_a_table(aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.delenv("PARTNER_REGISTRY_TABLE", raising=False)
    out = io.StringIO()

    status = check_link.main([mint(KEY, iss=ISSUER), "--partner", "campus-a"], stdin=io.StringIO(""), out=out)

    assert status == 2
    assert "PARTNER= needs TABLE=" in capsys.readouterr().err
