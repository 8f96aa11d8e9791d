"""handler.telemetry: the metrics' namespace and dimensions, and the library loggers kept quiet."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from handler.telemetry import (
    METRICS_NAMESPACE,
    SERVICE,
    WIRE_LOGGERS,
    Telemetry,
    keep_secrets_out_of_library_logs,
    new_telemetry,
)
from tests.support.observed import metric_names


def dimensions(document: dict[str, Any]) -> list[str]:
    return sorted(document["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0])


def test_the_namespace_is_the_services_unless_the_environment_names_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    assert new_telemetry().metrics.namespace == METRICS_NAMESPACE
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Staging")
    assert new_telemetry().metrics.namespace == "Staging"


def test_a_registry_partners_refusal_is_counted_beside_the_reason_not_as_one_more_dimension(
    capsys: pytest.CaptureFixture[str],
) -> None:
    new_telemetry().refused("token_expired", "acme")

    metrics = metric_names(capsys.readouterr().out)
    assert sorted(metrics) == ["SsoRefused", "SsoRefusedByPartner"]
    [refused], [by_partner] = metrics["SsoRefused"], metrics["SsoRefusedByPartner"]
    assert dimensions(refused) == ["reason", "service"] and refused["reason"] == "token_expired"
    assert dimensions(by_partner) == ["partner", "service"] and by_partner["partner"] == "acme"
    assert by_partner["service"] == SERVICE


def test_the_environments_own_partner_is_counted_once(capsys: pytest.CaptureFixture[str]) -> None:
    new_telemetry().refused("token_expired")
    assert list(metric_names(capsys.readouterr().out)) == ["SsoRefused"]


def test_the_library_loggers_that_print_bodies_stay_at_info_under_a_debug_root() -> None:
    logging.getLogger().setLevel(logging.DEBUG)  # Lambda's LogLevel=DEBUG

    keep_secrets_out_of_library_logs()

    for name in WIRE_LOGGERS:
        assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name
        assert logging.getLogger(name).isEnabledFor(logging.INFO), name  # warnings and errors still show
    assert not logging.getLogger("botocore.endpoint").isEnabledFor(logging.DEBUG)  # their children too


def test_the_base_telemetry_reports_nothing_and_traces_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    telemetry = Telemetry()
    with telemetry.span("Partner API"):
        telemetry.redirected("acme")
        telemetry.refused("token_expired", "acme")
    assert telemetry.tracer is None and capsys.readouterr().out == ""
