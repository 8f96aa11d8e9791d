"""What the components report: CloudWatch metrics (EMF) and, when enabled, X-Ray segments.

Components call a ``Telemetry`` (the base does nothing); ``PowertoolsTelemetry`` is the real
one. Every dimension is low-cardinality. With tracing off the X-Ray SDK is never imported.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

__all__ = [
    "METRICS_NAMESPACE",
    "SERVICE",
    "PowertoolsTelemetry",
    "Telemetry",
    "keep_secrets_out_of_library_logs",
    "new_telemetry",
]

# The service's name in every log line, metric dimension and trace, and the CloudWatch
# namespace of its metrics (POWERTOOLS_METRICS_NAMESPACE overrides it). The template and
# the monitoring stack repeat them; a test pins them to these (tests/infra).
SERVICE = "sso-redirector"
METRICS_NAMESPACE = "BigInterviewSso"
# Libraries whose DEBUG output carries request and response bodies or headers:
# botocore logs GetSecretValue's answer (the API key, the HS256 secret) and
# PutItem's request (a link's jti); urllib3 and the X-Ray SDK log URLs and segments.
WIRE_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "aws_xray_sdk")


def keep_secrets_out_of_library_logs() -> None:
    """Pin the wire-level library loggers to INFO, whatever the root logger's level.

    With LogLevel=DEBUG they would log request and response bodies (the API key, secrets). A level
    on these loggers is what their children inherit, so no DEBUG record is ever created: a
    redaction filter could not promise as much (it would have to know every secret's spelling).
    """
    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


def new_telemetry(tracing: bool = False) -> PowertoolsTelemetry:
    """Metrics in the configured namespace (POWERTOOLS_METRICS_NAMESPACE), optional X-Ray."""
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or METRICS_NAMESPACE
    return PowertoolsTelemetry(Metrics(namespace=namespace, service=SERVICE), tracing)


class Telemetry:
    """Reports nothing; the interface the components use."""

    tracer: Any = None

    @contextlib.contextmanager
    def span(self, name: str) -> Iterator[None]:
        """A trace subsegment around a dependency call."""
        yield

    def redirected(self, partner: str | None = None) -> None:
        """A sign-in ended in a redirect to Big Interview (``partner``: registry mode's label)."""

    def refused(self, code: str, partner: str | None = None) -> None:
        """A sign-in was refused with this error code (``partner``: registry mode's label)."""

    def partner_api_call(self, latency_ms: float, status_class: str | None) -> None:
        """A Partner API call finished; ``status_class`` is set when it failed."""

    def secret_fetched(self) -> None:
        """Secrets Manager was called (not a cache hit)."""

    def jwks_fetched(self, outcome: str) -> None:
        """The partner's JWKS was fetched (``ok`` or ``error``)."""


class PowertoolsTelemetry(Telemetry):
    """Metrics through Powertools (EMF); X-Ray through Powertools Tracer when enabled."""

    def __init__(self, metrics: Metrics, tracing: bool) -> None:
        self.metrics = metrics
        self.tracer = _tracer() if tracing else None

    @contextlib.contextmanager
    def span(self, name: str) -> Iterator[None]:
        if self.tracer is None:
            yield
            return
        with self.tracer.provider.in_subsegment(f"## {name}"):
            yield

    def redirected(self, partner: str | None = None) -> None:
        self.metrics.add_metric(name="SsoRedirect", unit=MetricUnit.Count, value=1)
        if partner is not None:
            self._count_with("SsoRedirectByPartner", "partner", partner)

    def refused(self, code: str, partner: str | None = None) -> None:
        self._count_with("SsoRefused", "reason", code)
        if partner is not None:
            # Beside SsoRefused, not a dimension added to it: a metric's identity is its
            # dimensions, and the alarms and widgets on SsoRefused {service, reason} stay.
            self._count_with("SsoRefusedByPartner", "partner", partner)

    def partner_api_call(self, latency_ms: float, status_class: str | None) -> None:
        self.metrics.add_metric(name="PartnerApiLatency", unit=MetricUnit.Milliseconds, value=latency_ms)
        if status_class is not None:
            self._count_with("PartnerApiError", "status_class", status_class)

    def secret_fetched(self) -> None:
        self.metrics.add_metric(name="SecretFetch", unit=MetricUnit.Count, value=1)

    def jwks_fetched(self, outcome: str) -> None:
        self.metrics.add_metric(name="JwksFetch", unit=MetricUnit.Count, value=1)

    def _count_with(self, name: str, dimension: str, value: str) -> None:
        # A metric of its own, so its dimension does not spread to the request's other metrics.
        with single_metric(
            name=name, unit=MetricUnit.Count, value=1, namespace=self.metrics.namespace
        ) as metric:
            metric.add_dimension(name="service", value=SERVICE)
            metric.add_dimension(name=dimension, value=value)


def _tracer() -> Any:
    """Powertools Tracer, patching only botocore (Secrets Manager, DynamoDB calls)."""
    # Imported here so that, with tracing off, aws_xray_sdk is never loaded.
    from aws_lambda_powertools import Tracer

    tracer = Tracer(service=SERVICE, auto_patch=False)
    tracer.provider.patch(["botocore"])
    return tracer
