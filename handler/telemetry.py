"""What the components report: CloudWatch metrics (EMF) and, when enabled, X-Ray segments.

Components call a ``Telemetry``; they do not know Powertools. The base class
does nothing (tests and tools use it); ``PowertoolsTelemetry`` is the real one.
Every dimension is low-cardinality: an error code or a status class, never a
user. With tracing off the X-Ray SDK is never imported: it costs cold start.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "sso-redirector"


class Telemetry:
    """Reports nothing; the interface the components use."""

    tracer: Any = None

    @contextlib.contextmanager
    def span(self, name: str) -> Iterator[None]:
        """A trace subsegment around a dependency call."""
        yield

    def redirected(self) -> None:
        """A sign-in ended in a redirect to Big Interview."""

    def refused(self, code: str) -> None:
        """A sign-in was refused with this error code."""

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

    def redirected(self) -> None:
        self.metrics.add_metric(name="SsoRedirect", unit=MetricUnit.Count, value=1)

    def refused(self, code: str) -> None:
        self._count_with("SsoRefused", "reason", code)

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
