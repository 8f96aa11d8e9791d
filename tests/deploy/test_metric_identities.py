"""Metrics <-> alarms <-> dashboard, by CloudWatch's rule rather than by our own reading.

CloudWatch stores a metric under its namespace, its name and its exact dimension set
(names and values): ``SsoRefused`` with ``{service, reason}`` and ``SsoRefused`` with
``{reason}`` are two different metrics, and an alarm on the second gets no data for
ever (with ``TreatMissingData: notBreaching`` it stays OK). So the handler is driven
through every outcome (a sign-in, each refusal class, each Partner API failure), the
EMF documents it prints are turned into the metric identities CloudWatch would create
from them, and every alarm metric (each ``MetricStat`` of a metric-math alarm too) and
every dashboard metric and ``SEARCH`` schema of infra/deploy/monitoring.yaml must name one;
so must template.yaml's own alarms, on the grade passback function's metrics.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider import cold_start
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from handler.lti.grade_sync import PowertoolsGradeMetrics
from handler.lti.grades import platform_label
from infra.local.sam_template import Intrinsics
from tests.conftest import REPLAY_TABLE, Sso
from tests.deploy.templates import MONITORING_PATH, TEMPLATE_PATH, load
from tests.support import FUNCTION_NAME, SigningKey, http_event, mint, user_document

# The values template.yaml gives the nested stack's parameters (tests/deploy/test_monitoring.py
# checks the wiring); FunctionName is the Lambda context's, which Powertools puts on ColdStart.
PARAMETERS = {
    "MetricsNamespace": "BigInterviewSso",
    "ServiceName": "sso-redirector",
    "FunctionName": FUNCTION_NAME,
    "AliasName": "live",
    "HttpApiId": "a1b2c3d4e5",
    "ApiStage": "$default",
    "AWS::Region": "us-east-1",
    "FunctionLogGroupName": "/aws/lambda/sso-redirector-test",
}
# What AWS itself publishes, and under which dimension sets (AWS's metric documentation
# for Lambda and for HTTP APIs); our alarms on AWS metrics must use one of these sets.
AWS_DIMENSION_SETS = {
    "AWS/Lambda": [
        set(),
        {"FunctionName"},
        {"FunctionName", "Resource"},
        {"FunctionName", "ExecutedVersion"},
    ],
    "AWS/ApiGateway": [{"ApiId"}, {"ApiId", "Stage"}, {"ApiId", "Stage", "Route"}],
}
PARTNER_TIMEOUT_SECONDS = 1
# Every refusal class the handler is driven through (the alarm names most of them).
REFUSALS = {
    "missing_token",
    "malformed_token",
    "unsupported_algorithm",
    "unknown_key",
    "invalid_signature",
    "invalid_issuer",
    "invalid_audience",
    "token_expired",
    "token_not_yet_valid",
    "link_already_used",
    "invalid_user",
    "partner_api_error",
    "partner_api_timeout",
    "profile_required",  # the Partner API's 422 (user "refused" below)
}
PARTNER_FAILURES = {"4xx", "5xx", "timeout", "network", "bad_answer"}


@dataclass(frozen=True)
class Metric:
    """A CloudWatch metric identity: namespace, name and the exact dimension set."""

    namespace: str
    name: str
    dimensions: frozenset[tuple[str, str]]

    def __str__(self) -> str:
        dims = ", ".join(f"{k}={v}" for k, v in sorted(self.dimensions))
        return f"{self.namespace}/{self.name} {{{dims}}}"


def emf_identities(output: str) -> set[Metric]:
    """The metrics CloudWatch creates from the EMF documents in ``output``.

    EMF: each ``CloudWatchMetrics`` directive names a namespace, its metrics and one or
    more dimension sets; every (metric, dimension set) pair is a metric of its own, the
    dimension values being the document's top-level members of those names.
    """
    found: set[Metric] = set()
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        try:
            document = json.loads(line)
        except ValueError:
            continue
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            for dimension_set in directive["Dimensions"]:
                dimensions = frozenset((name, str(document[name])) for name in dimension_set)
                for metric in directive["Metrics"]:
                    found.add(Metric(directive["Namespace"], metric["Name"], dimensions))
    return found


# ---- what infra/deploy/monitoring.yaml asks CloudWatch for ------------------------------------------
def resolve(value: Any) -> str:
    """A template value with the nested stack's parameters filled in."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return PARAMETERS[value["Ref"]]
    assert isinstance(value, str | int), value
    return str(value)


def stat_metric(stat: dict[str, Any]) -> Metric:
    metric = stat["Metric"]
    return Metric(
        resolve(metric["Namespace"]),
        resolve(metric["MetricName"]),
        frozenset((d["Name"], resolve(d["Value"])) for d in metric.get("Dimensions", [])),
    )


def alarm_metrics(monitoring: dict[str, Any]) -> Iterator[tuple[str, Metric]]:
    """(alarm, metric) for every metric every alarm reads, metric-math alarms included."""
    for name, resource in monitoring["Resources"].items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        if "MetricName" in props:
            yield name, stat_metric({"Metric": props})
        for query in props.get("Metrics", []):
            if "MetricStat" in query:
                yield f"{name}.{query['Id']}", stat_metric(query["MetricStat"])


@dataclass(frozen=True)
class Search:
    """A dashboard ``SEARCH('{Namespace,dim,...} term term', ...)``: its schema and terms."""

    text: str
    namespace: str
    dimension_names: frozenset[str]
    terms: dict[str, str]

    def matches(self, metric: Metric) -> bool:
        # A schema matches only metrics with exactly these dimension names.
        if metric.namespace != self.namespace:
            return False
        if {name for name, _ in metric.dimensions} != self.dimension_names:
            return False
        values = {"MetricName": metric.name, **dict(metric.dimensions)}
        return all(values.get(key) == value for key, value in self.terms.items())


SEARCH = re.compile(r"SEARCH\('\{(?P<schema>[^}]*)\}(?P<terms>[^']*)'")


def parse_search(expression: str) -> list[Search]:
    found = []
    for match in SEARCH.finditer(expression):
        namespace, *dimension_names = [part.strip().strip('"') for part in match["schema"].split(",")]
        terms = dict(re.findall(r'(\w+)="([^"]*)"', match["terms"]))
        found.append(Search(match[0], namespace, frozenset(dimension_names), terms))
    return found


def dashboard_body(monitoring: dict[str, Any]) -> dict[str, Any]:
    body = monitoring["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(re.sub(r"\$\{([A-Za-z:]+)\}", lambda m: PARAMETERS[m.group(1)], body))  # type: ignore[no-any-return]


def dashboard_metrics(
    monitoring: dict[str, Any],
) -> tuple[list[tuple[str, Metric]], list[tuple[str, Search]]]:
    """The plain metrics and the SEARCH expressions of every metric widget."""
    plain: list[tuple[str, Metric]] = []
    searches: list[tuple[str, Search]] = []
    for widget in dashboard_body(monitoring)["widgets"]:
        if widget["type"] != "metric":
            continue
        title = widget["properties"]["title"]
        for row in widget["properties"]["metrics"]:
            items = [item for item in row if not isinstance(item, dict)]
            options = [item for item in row if isinstance(item, dict)]
            if items:
                namespace, name, *pairs = items
                assert len(pairs) % 2 == 0, (title, row)
                dims = frozenset(zip(pairs[::2], pairs[1::2], strict=True))
                plain.append((title, Metric(namespace, name, dims)))
            for option in options:
                if "expression" in option and "SEARCH(" in option["expression"]:
                    parsed = parse_search(option["expression"])
                    assert parsed, option["expression"]
                    searches.extend((title, search) for search in parsed)
    return plain, searches


def problems(monitoring: dict[str, Any], emitted: set[Metric]) -> list[str]:
    """Every alarm or dashboard metric that names no metric the handler (or AWS) publishes."""
    ours = PARAMETERS["MetricsNamespace"]
    found = []

    def check(where: str, metric: Metric) -> None:
        if metric.namespace == ours:
            if metric not in emitted:
                near = sorted(str(m) for m in emitted if m.name == metric.name)
                found.append(f"{where}: {metric} is never published; the handler publishes {near}")
        elif {name for name, _ in metric.dimensions} not in AWS_DIMENSION_SETS[metric.namespace]:
            found.append(f"{where}: {metric} is not a dimension set {metric.namespace} publishes")

    for where, metric in alarm_metrics(monitoring):
        check(where, metric)
    plain, searches = dashboard_metrics(monitoring)
    for where, metric in plain:
        check(f"dashboard {where!r}", metric)
    for where, search in searches:
        if search.namespace == ours and not any(search.matches(m) for m in emitted):
            found.append(f"dashboard {where!r}: {search.text} matches no published metric")
    return found


# ---- the handler, through every outcome ------------------------------------------------------
class PartnerApi:
    """Big Interview's Partner API, answering by partner_id: one user per failure class.

    The "slow" user's answer is held until ``let_go`` (after the handler has timed out on it).
    """

    def __init__(self) -> None:
        self._held = threading.Event()

    def __call__(self, request: Request) -> Response:
        partner_id = request.path.rsplit("/", 1)[1]
        if partner_id == "slow":
            self._held.clear()
            self._held.wait(timeout=30)  # bounded: a test that forgets let_go fails, it does not hang
        return answer_as(partner_id)

    def let_go(self) -> None:
        self._held.set()


def answer_as(partner_id: str) -> Response:
    if partner_id == "refused":
        return Response('{"error": {"type": "validation_error"}}', 422, content_type="application/json")
    if partner_id == "broken":
        return Response("down", 500)
    if partner_id == "tokenless":
        return Response('{"user": {}}', 200, content_type="application/json")
    return Response(json.dumps(user_document("0f" * 32, partner_id)), 201, content_type="application/json")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def drive_every_outcome(
    make_sso: Callable[..., Sso], api: PartnerApi, rsa_key: SigningKey, capsys: pytest.CaptureFixture[str]
) -> tuple[set[Metric], set[str]]:
    """Run the handler through each outcome; the metric identities printed and the codes answered."""
    capsys.readouterr()
    sso = make_sso(REPLAY_TABLE_NAME=REPLAY_TABLE, PARTNER_API_TIMEOUT_SECONDS=str(PARTNER_TIMEOUT_SECONDS))
    now = int(time.time())
    stranger = SigningKey.rsa(kid=rsa_key.kid)  # the partner's kid, another key: a forgery
    rs384 = SigningKey(rsa_key.kid, "RS384", rsa_key.private, rsa_key.jwk)
    replayed = mint(rsa_key)
    queries: list[dict[str, str]] = [
        {"jwt": mint(rsa_key)},
        {},
        {"jwt": "not-a-token"},
        {"jwt": mint(rs384)},
        {"jwt": mint(rsa_key, headers={"kid": "no-such-key"})},
        {"jwt": mint(stranger)},
        {"jwt": mint(rsa_key, iss="https://elsewhere.test")},
        {"jwt": mint(rsa_key, aud="someone-else")},
        {"jwt": mint(rsa_key, iat=now - 200, exp=now - 100)},
        {"jwt": mint(rsa_key, nbf=now + 100)},
        {"jwt": replayed},
        {"jwt": replayed},
        {"jwt": mint(rsa_key, sub="a/b")},
        {"jwt": mint(rsa_key, sub="refused")},
        {"jwt": mint(rsa_key, sub="broken")},
        {"jwt": mint(rsa_key, sub="tokenless")},
        {"jwt": mint(rsa_key, sub="slow")},
    ]
    cold_start.is_cold_start = True  # so this process's first invocation publishes ColdStart again
    codes = set()
    for query in queries:
        codes.add(answer_code(sso(http_event(query=query, headers={"accept": "application/json"}))))
        api.let_go()  # the slow answer, once the handler has given up on it
    unreachable = make_sso(BI_BASE_URL=f"https://127.0.0.1:{closed_port()}")
    codes.add(
        answer_code(
            unreachable(http_event(query={"jwt": mint(rsa_key)}, headers={"accept": "application/json"}))
        )
    )
    return emf_identities(capsys.readouterr().out), codes


def answer_code(response: dict[str, Any]) -> str:
    if response["statusCode"] == 200:
        return "redirected"
    return str(json.loads(response["body"])["error"]["code"])


@pytest.fixture
def emitted(
    make_sso: Callable[..., Sso],
    partner_server: HTTPServer,
    jwks: Any,
    replay_table: Any,
    rsa_key: SigningKey,
    capsys: pytest.CaptureFixture[str],
) -> set[Metric]:
    api = PartnerApi()
    partner_server.expect_request(re.compile(r"^/api/users/[^/]+$"), method="POST").respond_with_handler(api)
    try:
        identities, codes = drive_every_outcome(make_sso, api, rsa_key, capsys)
    finally:
        api.let_go()
    # The drive itself is checked: each outcome really happened.
    assert codes == REFUSALS | {"redirected"}, codes ^ (REFUSALS | {"redirected"})
    return identities


@pytest.fixture(scope="module")
def monitoring() -> dict[str, Any]:
    return load(MONITORING_PATH)


def test_the_handler_publishes_each_outcome_under_the_service_dimension(emitted: set[Metric]) -> None:
    service = ("service", PARAMETERS["ServiceName"])
    refused = {dict(m.dimensions)["reason"] for m in emitted if m.name == "SsoRefused"}
    failed = {dict(m.dimensions)["status_class"] for m in emitted if m.name == "PartnerApiError"}
    assert refused == REFUSALS
    assert failed == PARTNER_FAILURES
    assert all(service in m.dimensions for m in emitted), sorted(map(str, emitted))
    assert {m.name for m in emitted} >= {
        "SsoRedirect",
        "PartnerApiLatency",
        "SecretFetch",
        "JwksFetch",
        "ColdStart",
    }


def test_every_alarm_and_dashboard_metric_is_one_the_handler_publishes(
    monitoring: dict[str, Any], emitted: set[Metric]
) -> None:
    assert problems(monitoring, emitted) == []


def test_the_partner_api_alarm_counts_every_failure_class_the_handler_publishes(
    monitoring: dict[str, Any], emitted: set[Metric]
) -> None:
    alarmed = {
        metric for where, metric in alarm_metrics(monitoring) if where.startswith("PartnerApiErrorRateAlarm")
    }
    published = {m for m in emitted if m.name == "PartnerApiError"}
    assert published - alarmed == set()


# ---- the check itself can fail -----------------------------------------------------------------
def with_dimensions(monitoring: dict[str, Any], keep: Callable[[str], bool]) -> dict[str, Any]:
    """A copy of the monitoring template whose function-metric dimensions keep only ``keep``."""
    copy: dict[str, Any] = json.loads(json.dumps(monitoring))
    for resource in copy["Resources"].values():
        for query in resource["Properties"].get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("MetricName") in ("SsoRefused", "PartnerApiError"):
                metric["Dimensions"] = [d for d in metric["Dimensions"] if keep(d["Name"])]
    body = copy["Resources"]["Dashboard"]["Properties"]["DashboardBody"]
    body["Fn::Sub"] = (
        body["Fn::Sub"]
        .replace(",reason,service}", ",reason}")
        .replace(",service,status_class}", ",status_class}")
    )
    return copy


def published_as_today(names: Iterable[tuple[str, tuple[str, str]]]) -> set[Metric]:
    """Identities shaped as the handler publishes them, without running it."""
    service = ("service", PARAMETERS["ServiceName"])
    return {
        Metric(PARAMETERS["MetricsNamespace"], name, frozenset({service, dimension}))
        for name, dimension in names
    }


def test_the_check_finds_alarms_and_searches_that_drop_the_service_dimension(
    monitoring: dict[str, Any],
) -> None:
    # The monitoring template as it was before issue 10: `reason` / `status_class` alone.
    before = with_dimensions(monitoring, lambda name: name != "service")
    reasons = {("SsoRefused", ("reason", r)) for r in REFUSALS}
    classes = {("PartnerApiError", ("status_class", c)) for c in PARTNER_FAILURES}
    emitted = published_as_today(reasons | classes) | {
        Metric(
            PARAMETERS["MetricsNamespace"], "SsoRedirect", frozenset({("service", PARAMETERS["ServiceName"])})
        )
    }

    found = problems(before, emitted)

    assert len([p for p in found if p.startswith("RefusalSpikeAlarm.")]) == 9
    assert len([p for p in found if p.startswith("PartnerApiErrorRateAlarm.")]) == 5
    assert len([p for p in found if "SEARCH(" in p and ("SsoRefused" in p or "PartnerApiError" in p)]) == 3
    # The same identities against today's template: nothing about these two metrics.
    assert not [p for p in problems(monitoring, emitted) if "SsoRefused" in p or "PartnerApiError" in p]


def test_a_search_schema_matches_only_the_exact_dimension_names() -> None:
    [search] = parse_search("SEARCH('{\"Ns\",reason} MetricName=\"SsoRefused\"', 'Sum', 300)")
    exact = Metric("Ns", "SsoRefused", frozenset({("reason", "unknown_key")}))
    wider = Metric("Ns", "SsoRefused", frozenset({("reason", "unknown_key"), ("service", "s")}))
    assert search.matches(exact)
    assert not search.matches(wider)


def test_the_grade_passback_alarms_of_the_template_read_what_a_failed_platform_publishes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """template.yaml's own alarms (grade passback, resolved as CloudFormation would) name the
    metrics the scheduled function's EMF creates when a platform fails: every platform's
    alarm and the environment's platform's, by the same label."""
    template = load(TEMPLATE_PATH)
    namespace, issuer = PARAMETERS["MetricsNamespace"], "https://canvas.instructure.com"
    intrinsics = Intrinsics(template, {"LtiIssuer": issuer, "MetricsNamespace": namespace})
    metric_fields = ("Namespace", "MetricName", "Dimensions")  # its actions name the nested stack
    alarms = {
        name: stat_metric({"Metric": intrinsics.resolve({key: props[key] for key in metric_fields})})
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm" and (props := resource["Properties"])
    }

    PowertoolsGradeMetrics(namespace).count("GradePlatformFailed", platform_label(issuer))
    published = emf_identities(capsys.readouterr().out)

    assert sorted(alarms) == ["GradeSyncPlatformFailingAlarm", "GradeSyncPlatformsFailingAlarm"]
    assert {name: str(metric) for name, metric in alarms.items() if metric not in published} == {}
    # The check can fail: a platform the alarm does not name publishes no metric it reads.
    PowertoolsGradeMetrics(namespace).count("GradePlatformFailed", "moodle.example.edu")
    other = emf_identities(capsys.readouterr().out)
    assert alarms["GradeSyncPlatformFailingAlarm"] not in other
    assert alarms["GradeSyncPlatformsFailingAlarm"] in other
