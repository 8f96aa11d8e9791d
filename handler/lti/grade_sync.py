"""The scheduled grade passback function: ``lambda_handler`` (the template's ``GradeSyncFunction``).

It wires what a launch does (``Container.build`` on the same variables: the registrations, the
orgs' API keys through ``PartnerWiring``, the tool's KMS key) plus the grade links table
(``LTI_GRADE_TABLE_NAME``), once per execution environment, and runs ``GradeSync.run`` once
per scheduled event, within the invocation's time (``context.get_remaining_time_in_millis``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from handler.config import load_config
from handler.container import Container
from handler.errors import ConfigError
from handler.lti.grade_links import GradeLinks
from handler.lti.grades import GradeMetrics, GradeSync, PlatformTokens, SyncSettings
from handler.telemetry import SERVICE, PowertoolsTelemetry, keep_secrets_out_of_library_logs

__all__ = ["PowertoolsGradeMetrics", "build_sync", "lambda_handler"]

# Metrics with the platform as a dimension; GradePlatformFailed is also counted without it,
# for the alarm on every platform (the template's alarms).
_BY_PLATFORM = "platform"


class PowertoolsGradeMetrics(GradeMetrics):
    """Each event as an EMF metric of its own: {service, platform}, and failures also {service}."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def count(self, name: str, platform: str | None = None) -> None:
        self._emit(name, platform)
        if name == "GradePlatformFailed":
            self._emit(name, None)

    def _emit(self, name: str, platform: str | None) -> None:
        with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=self.namespace) as metric:
            metric.add_dimension(name="service", value=SERVICE)
            if platform is not None:
                metric.add_dimension(name=_BY_PLATFORM, value=platform)


def build_sync(environ: Mapping[str, str], container: Container | None = None) -> GradeSync:
    """The run's services from the function's variables (``ConfigError`` naming each problem)."""
    container = container or Container.build(load_config(environ))
    lti = container.lti
    settings = container.config.lti
    problems = []
    if lti is None or settings is None:
        problems.append("grade passback needs LTI launches: LTI_STATE_TABLE_NAME is not set")
    elif settings.grade_table is None:
        problems.append("LTI_GRADE_TABLE_NAME is not set")
    elif lti.tool_key is None:
        problems.append("grade passback signs with the tool key: LTI_TOOL_KEY_ID is not set")
    try:
        sync_settings = SyncSettings.from_environ(environ)
    except ValueError as error:
        problems.append(str(error))
    if problems:
        raise ConfigError(problems)
    assert lti is not None and settings is not None and settings.grade_table is not None
    assert lti.tool_key is not None
    telemetry = container.telemetry
    metrics = (
        PowertoolsGradeMetrics(telemetry.metrics.namespace or "")
        if isinstance(telemetry, PowertoolsTelemetry)
        else GradeMetrics()
    )
    return GradeSync(
        GradeLinks(settings.grade_table, container.clients.factory("dynamodb")),
        lti.service.registration,
        lti.service.wire,
        PlatformTokens(container.http, lti.tool_key, sync_settings.platform_timeout_seconds),
        container.http,
        sync_settings,
        metrics,
    )


_logger = Logger(service=SERVICE)
_sync: GradeSync | None = None


@_logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One run (the event is the schedule's and carries nothing we use); its report."""
    global _sync  # built once per execution environment
    if _sync is None:
        keep_secrets_out_of_library_logs()
        _sync = build_sync(os.environ)
    return asdict(_sync.run(context.get_remaining_time_in_millis))
