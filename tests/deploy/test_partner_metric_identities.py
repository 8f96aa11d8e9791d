"""Registry mode's metrics <-> the per-partner alarm and dashboard, by CloudWatch's rule.

As in test_metric_identities.py: the handler (here in registry mode, three partners,
an unknown issuer) is driven, the EMF documents it prints become the metric identities
CloudWatch would store, and every Metrics Insights query of infra/deploy/monitoring.yaml
must match one. ``SCHEMA("ns", a, b)`` matches only metrics whose dimension names are
exactly ``a, b`` (CloudWatch Metrics Insights' SCHEMA rule, as for SEARCH's schema), and
``GROUP BY`` must group by one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from tests.deploy.templates import MONITORING_PATH, load
from tests.deploy.test_metric_identities import PARAMETERS, Metric, dashboard_body, emf_identities
from tests.integration.test_partner_registry import Registry, registry, sign_in
from tests.support import http_event

__all__ = ["registry"]  # the registry-mode handler fixture, shared

INSIGHTS = re.compile(
    r"SELECT\s+(?P<function>\w+)\((?P<metric>\w+)\)\s+FROM\s+SCHEMA\((?P<schema>[^)]*)\)"
    r"(?:\s+WHERE\s+(?P<where>\w+)\s*=\s*'(?P<value>[^']*)')?"
    r"(?:\s+GROUP BY\s+(?P<group>\w+))?"
)


@dataclass(frozen=True)
class Query:
    text: str
    namespace: str
    metric: str
    dimension_names: frozenset[str]
    where: dict[str, str]
    group_by: str | None

    def matches(self, metric: Metric) -> bool:
        dimensions = dict(metric.dimensions)
        return (
            metric.namespace == self.namespace
            and metric.name == self.metric
            and set(dimensions) == self.dimension_names
            and all(dimensions.get(k) == v for k, v in self.where.items())
        )


def parse_query(text: str) -> Query:
    match = INSIGHTS.search(" ".join(text.split()))
    assert match, text
    namespace, *names = [part.strip().strip('"') for part in match["schema"].split(",")]
    where = {match["where"]: match["value"]} if match["where"] else {}
    return Query(text, namespace, match["metric"], frozenset(names), where, match["group"])


def resolved(text: str) -> str:
    return re.sub(r"\$\{([A-Za-z:]+)\}", lambda m: PARAMETERS[m.group(1)], text)


def monitoring_queries() -> dict[str, Query]:
    """Every Metrics Insights query of the monitoring template: the alarm's and the dashboard's."""
    monitoring = load(MONITORING_PATH)
    found = {}
    for name, resource in monitoring["Resources"].items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        for query in resource["Properties"].get("Metrics", []):
            expression = query.get("Expression")
            if isinstance(expression, dict) and str(expression.get("Fn::Sub", "")).startswith("SELECT"):
                found[f"{name}.{query['Id']}"] = parse_query(resolved(expression["Fn::Sub"]))
    for widget in dashboard_body(monitoring)["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            for item in row:
                if isinstance(item, dict) and item.get("expression", "").startswith("SELECT"):
                    found[f"dashboard {widget['properties']['title']!r}"] = parse_query(item["expression"])
    return found


@pytest.fixture
def emitted(registry: Registry, capsys: pytest.CaptureFixture[str]) -> set[Metric]:
    capsys.readouterr()
    for partner in registry.partners.values():
        sign_in(registry, partner.token())
        sign_in(registry, partner.token(aud="nobody"))
    a = registry.partners["campus-a"]
    sign_in(registry, a.token(iss="https://stranger.example"))
    registry.sso(http_event(query={"jwt": "not-a-token"}))
    return emf_identities(capsys.readouterr().out)


def test_registry_mode_publishes_refusals_and_sign_ins_by_partner(emitted: set[Metric]) -> None:
    service = ("service", PARAMETERS["ServiceName"])
    by_partner = {m for m in emitted if m.name in ("SsoRefusedByPartner", "SsoRedirectByPartner")}

    refused = {dict(m.dimensions)["partner"] for m in by_partner if m.name == "SsoRefusedByPartner"}
    redirected = {dict(m.dimensions)["partner"] for m in by_partner if m.name == "SsoRedirectByPartner"}
    assert refused == {"campus-a", "campus-b", "campus-c", "unknown"}
    assert redirected == {"campus-a", "campus-b", "campus-c"}
    assert all(service in m.dimensions and len(m.dimensions) == 2 for m in by_partner)


def test_the_partner_alarm_and_dashboard_queries_match_published_metrics(emitted: set[Metric]) -> None:
    queries = monitoring_queries()
    assert set(queries) == {
        "PartnerRefusalSpikeAlarm.bypartner",
        "dashboard 'Registry mode: refusals by partner'",
        "dashboard 'Registry mode: sign-ins by partner'",
    }

    for where, query in queries.items():
        assert query.namespace == PARAMETERS["MetricsNamespace"], where
        assert any(query.matches(metric) for metric in emitted), f"{where}: {query.text} matches nothing"
        assert query.group_by == "partner" and "partner" in query.dimension_names, where


def test_the_partner_alarm_watches_every_partner_as_a_contributor() -> None:
    alarm = load(MONITORING_PATH)["Resources"]["PartnerRefusalSpikeAlarm"]["Properties"]
    [query] = alarm["Metrics"]

    assert query["ReturnData"] is True and query["Period"] == 300
    assert alarm["Threshold"] == {"Ref": "RefusalsPer5Minutes"}
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert "LIMIT" not in query["Expression"]["Fn::Sub"]  # a limit would leave partners unwatched


def test_the_query_check_can_fail(emitted: set[Metric]) -> None:
    namespace = PARAMETERS["MetricsNamespace"]
    service = PARAMETERS["ServiceName"]
    no_service = parse_query(
        f'SELECT SUM(SsoRefusedByPartner) FROM SCHEMA("{namespace}", partner) GROUP BY partner'  # noqa: S608
    )
    wrong_name = parse_query(
        f'SELECT SUM(SsoRefusedPerPartner) FROM SCHEMA("{namespace}", partner, service) '  # noqa: S608
        f"WHERE service = '{service}' GROUP BY partner"
    )
    other_service = parse_query(
        f'SELECT SUM(SsoRefusedByPartner) FROM SCHEMA("{namespace}", partner, service) '  # noqa: S608
        "WHERE service = 'other' GROUP BY partner"
    )

    for query in (no_service, wrong_name, other_service):
        assert not any(query.matches(metric) for metric in emitted), query.text
