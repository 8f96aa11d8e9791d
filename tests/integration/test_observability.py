"""What an operator sees: one summary log line per request, EMF metrics, tracing only when on,
and the SnapStart hooks."""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from handler.telemetry import SERVICE, Telemetry
from tests.conftest import Sso
from tests.support import SigningKey, http_event, mint
from tests.support.isolation import fresh_import

ROOT = Path(__file__).resolve().parents[2]


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def summaries(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The handler's summary lines, as the Powertools JSON formatter writes them."""
    formatter = logging.getLogger(SERVICE).handlers[0].formatter
    assert formatter is not None
    lines = [json.loads(formatter.format(record)) for record in caplog.records]
    return [line for line in lines if line["message"].startswith("sign-in ")]


def metric_names(text: str) -> dict[str, list[dict[str, Any]]]:
    """Metric name -> the EMF documents that carry it."""
    found: dict[str, list[dict[str, Any]]] = {}
    for line in json_lines(text):
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                found.setdefault(metric["Name"], []).append(line)
    return found


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


def import_app_in_subprocess(extra_env: dict[str, str]) -> str:
    env = {
        **os.environ,
        "BI_ORG": "xyz",
        "BI_API_KEY_SECRET_ID": "s",
        "JWT_ISSUER": "https://idp.test",
        "JWT_AUDIENCE": "bi",
        "AWS_DEFAULT_REGION": "us-east-1",
        **extra_env,
    }
    probe = (
        "import sys, handler.entry_point; "
        "print(sorted(m for m in sys.modules if m.startswith('aws_xray_sdk'))[:1])"
    )
    return subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_first_invocation_of_a_container_emits_the_cold_start_metric() -> None:
    probe = (
        "import json, handler.entry_point as app; from tests.support import http_event, lambda_context; "
        "app.lambda_handler(http_event(path='/health'), lambda_context()); "
        "app.lambda_handler(http_event(path='/health'), lambda_context())"
    )
    env = {
        **os.environ,
        "BI_ORG": "xyz",
        "BI_API_KEY_SECRET_ID": "s",
        "JWT_ISSUER": "https://idp.test",
        "JWT_AUDIENCE": "bi",
    }
    output = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout

    assert len(metric_names(output)["ColdStart"]) == 1


def test_with_tracing_off_the_xray_sdk_is_never_imported() -> None:
    assert import_app_in_subprocess({"POWERTOOLS_TRACE_DISABLED": "true"}) == "[]"


def test_with_tracing_on_the_xray_sdk_is_loaded() -> None:
    assert import_app_in_subprocess({"POWERTOOLS_TRACE_DISABLED": "false"}) == "['aws_xray_sdk']"


# ---- SnapStart ------------------------------------------------------------------------------------
class CountingTelemetry(Telemetry):
    def __init__(self) -> None:
        self.secret_fetches = 0
        self.jwks_fetches = 0

    def secret_fetched(self) -> None:
        self.secret_fetches += 1

    def jwks_fetched(self, outcome: str) -> None:
        self.jwks_fetches += 1


@pytest.fixture
def counted(base_env: dict[str, str], ca_file: Path, aws: Any, jwks: Any, partner_api: Any) -> Any:
    from handler.config import load_config
    from handler.container import Container
    from handler.http_pool import new_http_pool

    config = load_config(base_env)
    telemetry = CountingTelemetry()
    container = Container.build(config, new_http_pool(ca_certs=str(ca_file)), telemetry)
    return Sso(config, container.handler(), container), telemetry


def test_before_snapshot_fetches_the_jwks_but_reads_no_secret(counted: Any) -> None:
    sso, telemetry = counted

    sso.container.before_snapshot()

    assert (telemetry.jwks_fetches, telemetry.secret_fetches) == (1, 0)


def test_after_restore_the_secret_is_read_again_and_connections_are_new(
    counted: Any, rsa_key: SigningKey
) -> None:
    sso, telemetry = counted
    assert sso(http_event(query={"jwt": mint(rsa_key)}))["statusCode"] == 302
    assert len(sso.container.http.pools) > 0

    sso.container.after_restore()

    assert len(sso.container.http.pools) == 0
    assert sso(http_event(query={"jwt": mint(rsa_key)}))["statusCode"] == 302
    assert telemetry.secret_fetches == 2


def test_after_restore_reseeds_random(counted: Any) -> None:
    sso, _ = counted
    random.seed(7)
    expected = random.random()
    random.seed(7)

    sso.container.after_restore()

    assert random.random() != expected


def test_importing_the_app_registers_the_snapstart_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    import snapshot_restore_py

    for name, value in {
        "BI_ORG": "xyz",
        "BI_API_KEY_SECRET_ID": "s",
        "JWT_ISSUER": "https://idp.test",
        "JWT_AUDIENCE": "bi",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(snapshot_restore_py, "_before_snapshot_registry", [])
    monkeypatch.setattr(snapshot_restore_py, "_after_restore_registry", [])
    app = fresh_import("handler.entry_point")

    [(before, _, _)] = snapshot_restore_py._before_snapshot_registry
    [(after, _, _)] = snapshot_restore_py._after_restore_registry
    assert before == app.container.before_snapshot
    # Tracing off: the restore also refreshes the secret, key set and connection side by side.
    assert after.func == app.container.after_restore
    assert after.keywords == {"refresh": True}


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
