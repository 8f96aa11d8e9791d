"""infra/deploy/monitoring.yaml (nested stack of template.yaml): alarms to a KMS-encrypted SNS
topic, the dashboard and the saved Logs Insights queries, against the metric and log
contract of the handler (namespace from MetricsNamespace, dimensions `service`,
`reason`, `status_class`)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.templates import MONITORING_PATH, ROOT, TEMPLATE_PATH, load

BIN = Path(sys.executable).parent
# The handler's metric contract (issue 5).
SERVICE = "sso-redirector"
STATUS_CLASSES = {"4xx", "5xx", "timeout", "network", "bad_answer"}
# Every function metric carries `service`; CloudWatch matches the exact dimension set
# (tests/deploy/test_metric_identities.py checks that against what the handler prints).
SERVICE_DIMENSION = {"Name": "service", "Value": {"Ref": "ServiceName"}}
# The thresholds an operator sets on the parent stack (they follow a partner's traffic) ...
THRESHOLDS = {
    "RefusalsPer5Minutes": "AlarmRefusalsPer5Minutes",
    "MinimumRequests": "AlarmMinimumRequests",
}
# ... and those that keep the nested stack's defaults.
NESTED_THRESHOLDS = {
    "LambdaErrorsThreshold",
    "ThrottlesThreshold",
    "DurationP99Ms",
    "Api5xxRatePercent",
    "PartnerApiErrorRatePercent",
}


def error_codes() -> set[str]:
    source = (ROOT / "handler" / "errors.py").read_text(encoding="utf-8")
    return set(re.findall(r'^\s+code = "([a-z_]+)"', source, re.MULTILINE))


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load(TEMPLATE_PATH)


@pytest.fixture(scope="module")
def monitoring() -> dict[str, Any]:
    return load(MONITORING_PATH)


@pytest.fixture(scope="module")
def resources(monitoring: dict[str, Any]) -> dict[str, Any]:
    return monitoring["Resources"]  # type: ignore[no-any-return]


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


# ---- wiring -------------------------------------------------------------------------------
def test_nested_stack_is_wired_from_template(template: dict[str, Any], monitoring: dict[str, Any]) -> None:
    app = template["Resources"]["Monitoring"]
    assert app["Type"] == "AWS::Serverless::Application"
    assert app["Properties"]["Location"] == "infra/deploy/monitoring.yaml"
    passed = app["Properties"]["Parameters"]
    declared = monitoring["Parameters"]
    assert set(passed) <= set(declared)
    assert {name for name, p in declared.items() if "Default" not in p} <= set(passed)
    assert passed["FunctionName"] == {"Ref": "SsoFunction"}
    assert passed["AliasName"] == template["Resources"]["SsoFunction"]["Properties"]["AutoPublishAlias"]
    assert passed["HttpApiId"] == {"Ref": "HttpApi"}
    assert passed["ApiStage"] == "$default"
    assert passed["MetricsNamespace"] == {"Ref": "MetricsNamespace"}
    assert (
        passed["ServiceName"]
        == template["Resources"]["SsoFunction"]["Properties"]["Environment"]["Variables"][
            "POWERTOOLS_SERVICE_NAME"
        ]
    )
    assert passed["FunctionLogGroupName"] == {"Ref": "SsoLogGroup"}
    assert passed["AccessLogGroupName"] == {"Ref": "AccessLogGroup"}
    assert passed["AlarmEmail"] == {"Ref": "AlarmEmail"}
    for nested, parent in THRESHOLDS.items():
        assert passed[nested] == {"Ref": parent}
        assert template["Parameters"][parent]["Type"] == "Number"
        assert template["Parameters"][parent]["Default"] == declared[nested]["Default"], parent
    for nested in NESTED_THRESHOLDS:
        assert nested not in passed, nested
        assert declared[nested]["Type"] == "Number" and "Default" in declared[nested], nested


def test_monitoring_template_passes_cfn_lint() -> None:
    result = subprocess.run(
        [str(BIN / "cfn-lint"), str(MONITORING_PATH)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---- topic ----------------------------------------------------------------------------------
def test_alarm_topic_is_kms_encrypted_with_an_optional_email(resources: dict[str, Any]) -> None:
    topic = resources["AlarmTopic"]
    assert topic["Type"] == "AWS::SNS::Topic"
    assert topic["Properties"]["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = resources["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    cloudwatch = [
        s
        for s in key["KeyPolicy"]["Statement"]
        if s["Principal"].get("Service") == "cloudwatch.amazonaws.com"
    ]
    assert cloudwatch and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch[0]["Action"])
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}


# ---- alarms ---------------------------------------------------------------------------------
def test_every_alarm_notifies_the_topic_and_links_the_runbook(resources: dict[str, Any]) -> None:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    assert set(alarms) == {
        "LambdaErrorsAlarm",
        "LambdaThrottlesAlarm",
        "LambdaDurationP99Alarm",
        "Api5xxRateAlarm",
        "PartnerApiErrorRateAlarm",
        "RefusalSpikeAlarm",
        "PartnerRefusalSpikeAlarm",  # registry mode (tests/deploy/test_partner_metric_identities.py)
    }
    runbook = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    anchors = {m.lower().replace(" ", "-") for m in re.findall(r"^### (.+)$", runbook, re.MULTILINE)}
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert props["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert props["TreatMissingData"] == "notBreaching", name
        assert isinstance(props["Threshold"], dict) and "Ref" in props["Threshold"], (
            f"{name}: threshold is a parameter"
        )
        anchor = re.search(r"docs/operations\.md#([a-z0-9-]+)", props["AlarmDescription"])
        assert anchor and anchor.group(1) in anchors, name


def simple_alarm(resources: dict[str, Any], name: str) -> dict[str, Any]:
    props = resources[name]["Properties"]
    assert props["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "FunctionName"}}]
    assert props["Namespace"] == "AWS/Lambda"
    return props  # type: ignore[no-any-return]


def test_lambda_alarms(resources: dict[str, Any]) -> None:
    errors = simple_alarm(resources, "LambdaErrorsAlarm")
    assert (errors["MetricName"], errors["Statistic"]) == ("Errors", "Sum")
    assert errors["Threshold"] == {"Ref": "LambdaErrorsThreshold"}
    throttles = simple_alarm(resources, "LambdaThrottlesAlarm")
    assert (throttles["MetricName"], throttles["Statistic"]) == ("Throttles", "Sum")
    assert throttles["Threshold"] == {"Ref": "ThrottlesThreshold"}
    duration = simple_alarm(resources, "LambdaDurationP99Alarm")
    assert (duration["MetricName"], duration["ExtendedStatistic"]) == ("Duration", "p99")
    assert duration["Threshold"] == {"Ref": "DurationP99Ms"}
    assert duration["ComparisonOperator"] == "GreaterThanThreshold"


def metric_queries(props: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    stats = {q["Id"]: q["MetricStat"] for q in props["Metrics"] if "MetricStat" in q}
    returned = [q for q in props["Metrics"] if q.get("ReturnData")]
    assert len(returned) == 1 and "Expression" in returned[0]
    assert len(stats) <= 10, "an alarm may hold at most 10 metrics"
    for query in props["Metrics"]:
        assert re.fullmatch(r"[a-z][a-zA-Z0-9_]*", query["Id"]), query["Id"]
    return stats, returned


def expression_text(expression: Any) -> str:
    return expression["Fn::Sub"] if isinstance(expression, dict) else str(expression)


def test_api_5xx_rate_is_5xx_over_count(resources: dict[str, Any]) -> None:
    props = resources["Api5xxRateAlarm"]["Properties"]
    stats, (rate,) = metric_queries(props)
    assert stats["errors"]["Metric"]["MetricName"] == "5xx"
    assert stats["requests"]["Metric"]["MetricName"] == "Count"
    for stat in stats.values():
        assert stat["Metric"]["Namespace"] == "AWS/ApiGateway"
        assert stat["Metric"]["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": "HttpApiId"}}]
        assert stat["Stat"] == "Sum"
    text = expression_text(rate["Expression"])
    assert "100 * FILL(errors, 0) / requests" in text
    assert "requests >= ${MinimumRequests}" in text
    assert props["Threshold"] == {"Ref": "Api5xxRatePercent"}


def test_partner_api_error_rate_counts_every_status_class(resources: dict[str, Any]) -> None:
    props = resources["PartnerApiErrorRateAlarm"]["Properties"]
    stats, (rate,) = metric_queries(props)
    classes = set()
    for stat in stats.values():
        if stat["Metric"]["MetricName"] == "PartnerApiError":
            service, status_class = stat["Metric"]["Dimensions"]
            assert service == SERVICE_DIMENSION
            assert status_class["Name"] == "status_class"
            classes.add(status_class["Value"])
    assert classes == STATUS_CLASSES
    assert stats["redirects"]["Metric"]["MetricName"] == "SsoRedirect"
    assert stats["redirects"]["Metric"]["Dimensions"] == [
        {"Name": "service", "Value": {"Ref": "ServiceName"}}
    ]
    for stat in stats.values():
        assert stat["Metric"]["Namespace"] == {"Ref": "MetricsNamespace"}
    expressions = {q["Id"]: expression_text(q["Expression"]) for q in props["Metrics"] if "Expression" in q}
    assert all(f"FILL({i}, 0)" in expressions["failed"] for i in stats if i != "redirects")
    assert "100 * failed / calls" in expression_text(rate["Expression"])
    assert props["Threshold"] == {"Ref": "PartnerApiErrorRatePercent"}


def test_refusal_spike_sums_token_refusals_with_real_reasons(resources: dict[str, Any]) -> None:
    props = resources["RefusalSpikeAlarm"]["Properties"]
    stats, (total,) = metric_queries(props)
    reasons = set()
    for query_id, stat in stats.items():
        metric = stat["Metric"]
        assert (metric["Namespace"], metric["MetricName"]) == ({"Ref": "MetricsNamespace"}, "SsoRefused")
        service, dimension = metric["Dimensions"]
        assert service == SERVICE_DIMENSION
        assert dimension["Name"] == "reason"
        reasons.add(dimension["Value"])
        assert f"FILL({query_id}, 0)" in expression_text(total["Expression"])
    assert reasons <= error_codes(), reasons - error_codes()
    assert {"invalid_signature", "unknown_key", "link_already_used", "invalid_issuer"} <= reasons
    assert props["Threshold"] == {"Ref": "RefusalsPer5Minutes"}


# ---- dashboard ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dashboard(resources: dict[str, Any]) -> dict[str, Any]:
    body = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    substituted = re.sub(r"\$\{([A-Za-z:]+)\}", lambda m: f"SUB_{m.group(1).replace(':', '_')}", body)
    return json.loads(substituted)  # type: ignore[no-any-return]


def widget(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    for item in dashboard["widgets"]:
        if item["properties"].get("title") == title:
            return item["properties"]  # type: ignore[no-any-return]
    raise AssertionError(f"no widget {title!r}")


def test_dashboard_shows_what_the_issue_lists(dashboard: dict[str, Any]) -> None:
    text = json.dumps(dashboard)
    signins = widget(dashboard, "Sign-ins (SsoRedirect) and refusals")
    assert signins["metrics"][0][:4] == ["SUB_MetricsNamespace", "SsoRedirect", "service", "SUB_ServiceName"]
    refusals = widget(dashboard, "Refusals by reason")
    assert (
        'SEARCH(\'{"SUB_MetricsNamespace",reason,service} MetricName="SsoRefused" '
        "service=\"SUB_ServiceName\"', 'Sum', 300)"
    ) in json.dumps(refusals["metrics"], ensure_ascii=False).replace('\\"', '"')
    latency = widget(dashboard, "Partner API latency (ms)")
    assert {m[-1]["stat"] for m in latency["metrics"]} == {"p50", "p99"}
    assert all(m[1] == "PartnerApiLatency" for m in latency["metrics"])
    errors = widget(dashboard, "Partner API errors by status class")
    assert "status_class" in json.dumps(errors) and "PartnerApiError" in json.dumps(errors)
    duration = widget(dashboard, "Lambda duration (ms)")
    assert {m[1] for m in duration["metrics"]} == {"Duration"}
    assert "ColdStart" in text and "function_name" in text
    assert '"Throttles"' in text
    api = widget(dashboard, "API requests, 4xx, 5xx")
    assert {m[1] for m in api["metrics"]} == {"Count", "4xx", "5xx"}
    for item in dashboard["widgets"]:
        assert {"x", "y", "width", "height", "type", "properties"} <= set(item)
        if item["type"] == "metric":
            assert item["properties"]["region"] == "SUB_AWS__Region"


# ---- saved queries --------------------------------------------------------------------------
def test_saved_queries(resources: dict[str, Any]) -> None:
    queries = {
        q["Properties"]["Name"]["Fn::Sub"].split("/", 1)[1]: q["Properties"]
        for q in of_type(resources, "AWS::Logs::QueryDefinition").values()
    }
    assert set(queries) == {"refusals by reason", "slow Partner API calls", "one request by id"}
    refusals = queries["refusals by reason"]["QueryString"]
    assert "stats count(*)" in refusals and "by reason" in refusals
    slow = queries["slow Partner API calls"]["QueryString"]
    assert "partner_status" in slow and "latency_ms" in slow and "sort latency_ms desc" in slow
    one = queries["one request by id"]
    assert "correlation_id" in one["QueryString"] and "requestId" in one["QueryString"]
    assert one["LogGroupNames"] == [{"Ref": "FunctionLogGroupName"}, {"Ref": "AccessLogGroupName"}]
    for query in queries.values():
        assert {"Ref": "FunctionLogGroupName"} in query["LogGroupNames"]


def test_outputs_reach_the_parent(template: dict[str, Any], monitoring: dict[str, Any]) -> None:
    assert set(monitoring["Outputs"]) == {"AlarmTopicArn", "DashboardName"}
    assert template["Outputs"]["AlarmTopicArn"]["Value"] == {
        "Fn::GetAtt": ["Monitoring", "Outputs.AlarmTopicArn"]
    }
