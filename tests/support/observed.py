"""What the handler writes for an operator, read back: its JSON log lines and its EMF metrics."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from handler.telemetry import SERVICE


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
