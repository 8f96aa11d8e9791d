"""handler.routes.log_outcome: the one summary line and the metrics of every kind of sign-in.

The routes themselves answer through the whole handler: tests/integration/test_sign_in.py and
test_observability.py; the LTI routes in tests/lti/.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
from aws_lambda_powertools import Logger

from handler.errors import TokenExpired
from handler.lti.claims import VerifiedLaunch
from handler.routes import log_outcome
from handler.sign_in import Refusal, SignIn
from handler.telemetry import Telemetry
from handler.tokens import UnverifiedToken, VerifiedToken


class Recorded(Telemetry):
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def redirected(self, partner: str | None = None) -> None:
        self.calls.append(("redirected", str(partner)))

    def refused(self, code: str, partner: str | None = None) -> None:
        self.calls.append(("refused", code, str(partner)))


def line(caplog: pytest.LogCaptureFixture) -> tuple[str, dict[str, Any]]:
    [record] = caplog.records
    return record.getMessage(), vars(record)


def test_a_sign_in_is_one_line_with_the_jti_as_a_digest_and_one_redirect_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    claims = VerifiedToken("https://idp.partner.test", "k1", "link-7", "abc123", 0, {"email": "a@b.test"})
    telemetry = Recorded()

    log_outcome(Logger(service="t"), telemetry, SignIn("https://x", claims, 200), time.perf_counter())

    message, fields = line(caplog)
    assert message == "sign-in redirected"
    assert (fields["outcome"], fields["reason"], fields["flow"], fields["partner_status"]) == (
        "redirected",
        "ok",
        "sso",
        200,
    )
    assert fields["jti_sha256"] == hashlib.sha256(b"link-7").hexdigest()[:16]
    assert "a@b.test" not in str(fields) and "deployment_id" not in fields
    assert telemetry.calls == [("redirected", "None")]


def test_an_lti_login_answered_is_logged_as_its_step_and_counts_no_redirect(
    caplog: pytest.LogCaptureFixture,
) -> None:
    telemetry = Recorded()

    log_outcome(Logger(service="t"), telemetry, None, time.perf_counter(), flow="lti", step="login")

    message, fields = line(caplog)
    assert message == "lti login answered" and (fields["flow"], fields["step"]) == ("lti", "login")
    assert fields["partner_id"] is None and telemetry.calls == []


def test_a_launch_names_its_deployment(caplog: pytest.LogCaptureFixture) -> None:
    claims = VerifiedLaunch("https://lms.test", "k", None, "lti-x", 0, deployment_id="1:abc")

    log_outcome(Logger(service="t"), Recorded(), SignIn("https://x", claims, 200), 0.0, flow="lti")

    assert line(caplog)[1]["deployment_id"] == "1:abc"


def test_a_refusal_names_the_reason_and_what_the_token_said_and_is_counted_for_its_partner(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = UnverifiedToken("a.b.c", {"alg": "RS256", "kid": "k9"}, {"iss": "https://idp.partner.test"})
    error = TokenExpired("the token expired 10 s ago", expected="exp after now", found="exp 10 s ago")
    telemetry = Recorded()

    log_outcome(Logger(service="t"), telemetry, Refusal(error, token), time.perf_counter(), label="acme")

    message, fields = line(caplog)
    assert message == "sign-in refused"
    assert (fields["reason"], fields["status"], fields["partner"]) == ("token_expired", 401, "acme")
    assert (fields["iss"], fields["kid"], fields["detail"]) == (
        "https://idp.partner.test",
        "k9",
        error.log_detail,
    )
    assert (fields["expected"], fields["found"]) == ("exp after now", "exp 10 s ago")
    assert "a.b.c" not in str(fields)
    assert telemetry.calls == [("refused", "token_expired", "acme")]
