"""The service's name and its metrics namespace are defined once, in ``handler.telemetry``.

The template and the monitoring stack cannot import Python, so they repeat the
two values; this pins every copy to the handler's. The monitoring stack is
found where the template's nested application says it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cfnlint.decode import decode_str

from handler.telemetry import METRICS_NAMESPACE, SERVICE

ROOT = Path(__file__).resolve().parents[2]


def decoded(path: Path) -> dict[str, Any]:
    template, problems = decode_str(path.read_text(encoding="utf-8"))
    assert not problems, problems
    assert template is not None
    return dict(template)


TEMPLATE = decoded(ROOT / "template.yaml")


def resources_of(kind: str) -> list[dict[str, Any]]:
    return [resource for resource in TEMPLATE["Resources"].values() if resource["Type"] == kind]


def monitoring_application() -> dict[str, Any]:
    (application,) = resources_of("AWS::Serverless::Application")
    return dict(application["Properties"])


def test_the_function_logs_and_counts_as_the_handlers_service() -> None:
    functions = resources_of("AWS::Serverless::Function")  # the API's, and grade passback's
    assert len(functions) == 2
    for function in functions:
        environment = function["Properties"]["Environment"]["Variables"]
        assert environment["POWERTOOLS_SERVICE_NAME"] == SERVICE
        assert environment["POWERTOOLS_METRICS_NAMESPACE"] == {"Ref": "MetricsNamespace"}


def test_the_metrics_namespace_parameter_defaults_to_the_handlers() -> None:
    assert TEMPLATE["Parameters"]["MetricsNamespace"]["Default"] == METRICS_NAMESPACE


def test_the_monitoring_stack_watches_the_handlers_service_and_namespace() -> None:
    application = monitoring_application()
    monitoring = decoded(ROOT / application["Location"])

    assert application["Parameters"]["ServiceName"] == SERVICE
    assert application["Parameters"]["MetricsNamespace"] == {"Ref": "MetricsNamespace"}
    assert monitoring["Parameters"]["ServiceName"]["Default"] == SERVICE
