"""What an operator sees: one summary log line per request and EMF metrics."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Sso
from tests.support import SigningKey, http_event, mint
from tests.support.observed import metric_names, summaries

ROOT = Path(__file__).resolve().parents[2]


def test_a_sign_in_writes_one_summary_line_with_the_documented_fields(
    sso: Sso, rsa_key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    event = http_event(query={"jwt": mint(rsa_key, jti="link-42")})

    sso(event)

    [line] = summaries(caplog)
    assert line["outcome"] == "redirected"
    assert line["reason"] == "ok"
    assert line["iss"] == "https://idp.partner.test"
    assert line["kid"] == rsa_key.kid
    assert line["partner_id"] == "abc123"
    assert line["partner_status"] in (200, 201)
    assert len(line["jti_sha256"]) == 16 and line["jti_sha256"] != "link-42"
    assert line["latency_ms"] >= 0
    assert line["correlation_id"] == event["requestContext"]["requestId"]


def test_a_refusal_writes_one_summary_line_with_reason_and_no_query_string(
    sso: Sso, rsa_key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    token = mint(rsa_key, aud="someone-else")

    sso(http_event(query={"jwt": token, "redirect_to": "/members/x"}))

    [line] = summaries(caplog)
    output = json.dumps(line)
    assert (line["outcome"], line["reason"], line["status"]) == ("refused", "invalid_audience", 401)
    assert line["kid"] == rsa_key.kid
    assert "jwt=" not in output and "/members/x" not in output


def test_a_refusal_line_says_what_was_expected_and_what_was_found(
    sso: Sso, rsa_key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    sso(http_event(query={"jwt": mint(rsa_key, aud="someone-else")}))
    sso(http_event(query={"jwt": mint(rsa_key, headers={"kid": "retired-key"})}))
    sso(http_event(query={"jwt": mint(rsa_key, sub="someone@example.edu")}))

    audience, key, user = summaries(caplog)
    assert (audience["reason"], audience["expected"], audience["found"]) == (
        "invalid_audience",
        "big-interview-sso",
        "someone-else",
    )
    assert (key["reason"], key["found"]) == ("unknown_key", "retired-key")
    assert rsa_key.kid in key["expected"]  # the kids the JWKS offers
    # The user claim is never a "found" value: it may be an email address.
    assert (user["reason"], user["expected"], user.get("found")) == ("invalid_user", "sub", None)
    assert "someone@example.edu" not in json.dumps(user)


def test_success_emits_redirect_latency_and_fetch_metrics(
    sso: Sso, rsa_key: SigningKey, capsys: pytest.CaptureFixture[str]
) -> None:
    sso(http_event(query={"jwt": mint(rsa_key)}))

    metrics = metric_names(capsys.readouterr().out)
    assert {"SsoRedirect", "PartnerApiLatency", "SecretFetch", "JwksFetch"} <= set(metrics)
    assert "SsoRefused" not in metrics


def test_refusal_metric_has_only_the_reason_as_dimension_never_a_user(
    sso: Sso, rsa_key: SigningKey, capsys: pytest.CaptureFixture[str]
) -> None:
    sso(http_event(query={"jwt": mint(rsa_key, sub="a/b")}))

    [document] = metric_names(capsys.readouterr().out)["SsoRefused"]
    [dimensions] = document["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert set(dimensions) == {"service", "reason"}
    assert document["reason"] == "invalid_user"
    assert "a/b" not in json.dumps(document)


def test_partner_api_failure_emits_error_metric_by_status_class(
    make_sso: Callable[..., Sso], jwks: Any, partner_server: Any, rsa_key: SigningKey, capsys: Any
) -> None:
    partner_server.expect_request("/api/users/abc123").respond_with_data("down", status=500)
    sso = make_sso()

    assert sso(http_event(query={"jwt": mint(rsa_key)}))["statusCode"] == 502

    [document] = metric_names(capsys.readouterr().out)["PartnerApiError"]
    assert document["status_class"] == "5xx"


def test_secret_and_jwks_are_fetched_once_over_many_requests(
    sso: Sso, rsa_key: SigningKey, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(5):
        assert sso(http_event(query={"jwt": mint(rsa_key)}))["statusCode"] == 302

    metrics = metric_names(capsys.readouterr().out)
    assert len(metrics["SecretFetch"]) == 1
    assert len(metrics["JwksFetch"]) == 1
    assert len(metrics["SsoRedirect"]) == 5


def test_a_refusal_after_verification_names_the_user_and_the_partner_status(
    make_sso: Callable[..., Sso], jwks: Any, partner_server: Any, rsa_key: SigningKey, caplog: Any
) -> None:
    partner_server.expect_request("/api/users/abc123").respond_with_data("{}", status=422)
    sso = make_sso()

    assert sso(http_event(query={"jwt": mint(rsa_key, jti="link-7")}))["statusCode"] == 422

    [line] = summaries(caplog)
    assert (line["reason"], line["partner_id"], line["partner_status"]) == (
        "profile_required",
        "abc123",
        422,
    )
    assert line["jti_sha256"] and line["jti_sha256"] != "link-7"
