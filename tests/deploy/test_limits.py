"""Limits and performance settings of template.yaml: throttling, reserved concurrency,
SnapStart on the `live` alias (which the HTTP API invokes), provisioned concurrency as
the mutually exclusive alternative, tracing and log sampling, the custom domain and
the API access log (never the query string)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.deploy.templates import TEMPLATE_PATH, function_properties, load, transformed

NO_VALUE = {"Ref": "AWS::NoValue"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load(TEMPLATE_PATH)


@pytest.fixture(scope="module")
def processed() -> dict[str, Any]:
    return transformed()


@pytest.fixture(scope="module")
def props(template: dict[str, Any]) -> dict[str, Any]:
    return function_properties(template)


def parameter(template: dict[str, Any], name: str) -> dict[str, Any]:
    value = template["Parameters"][name]
    assert len(value.get("Description", "")) > 10, f"{name} has no description"
    return value  # type: ignore[no-any-return]


# ---- throttling and concurrency -----------------------------------------------------------
def test_default_route_throttling_comes_from_parameters(template: dict[str, Any]) -> None:
    settings = template["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}
    rate, burst = parameter(template, "ThrottlingRateLimit"), parameter(template, "ThrottlingBurstLimit")
    assert rate["Type"] == burst["Type"] == "Number"
    assert 1 <= rate["Default"] <= burst["Default"]
    assert rate["MinValue"] >= 1 and burst["MinValue"] >= 1


def test_throttling_reaches_the_deployed_stage(processed: dict[str, Any]) -> None:
    stage = processed["Resources"]["HttpApiApiGatewayDefaultStage"]["Properties"]
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}


def test_reserved_concurrency_zero_means_unreserved(template: dict[str, Any], props: dict[str, Any]) -> None:
    assert props["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, NO_VALUE]
    }
    assert template["Conditions"]["HasReservedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, 0]}]
    }
    reserved = parameter(template, "ReservedConcurrency")
    assert reserved["Default"] == 0 and reserved["MinValue"] == 0


# ---- SnapStart, the alias, provisioned concurrency ---------------------------------------
def test_snapstart_on_published_versions_behind_a_parameter(
    template: dict[str, Any], props: dict[str, Any]
) -> None:
    assert props["AutoPublishAlias"] == "live"
    assert props["SnapStart"] == {"ApplyOn": {"Fn::If": ["SnapStartEnabled", "PublishedVersions", "None"]}}
    assert template["Conditions"]["SnapStartEnabled"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "Enabled"]}
    snapstart = parameter(template, "SnapStart")
    assert snapstart["Default"] == "Enabled"
    assert set(snapstart["AllowedValues"]) == {"Enabled", "Disabled"}
    assert props["Runtime"] == "python3.13"  # SnapStart for Python needs 3.12+


def test_every_route_invokes_the_live_alias(processed: dict[str, Any]) -> None:
    resources = processed["Resources"]
    alias = resources["SsoFunctionAliaslive"]
    assert alias["Type"] == "AWS::Lambda::Alias"
    assert alias["Properties"]["Name"] == "live"
    version = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
    assert resources[version]["Type"] == "AWS::Lambda::Version"
    paths = resources["HttpApi"]["Properties"]["Body"]["paths"]
    uris = [
        op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        for ops in paths.values()
        for op in ops.values()
    ]
    # One integration per route: /sso (GET, POST), /health, the not_found catch-alls, and
    # the four LTI routes (/lti/login GET and POST, /lti/launch, /lti/jwks).
    assert len(uris) == 11
    assert {method.upper() for ops in paths.values() for method in ops} == {"GET", "POST"}
    assert all("${SsoFunctionAliaslive}" in uri for uri in uris), uris
    # The API's permissions (grade passback's schedule has one of its own, for EventBridge).
    permissions = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Permission"
        and r["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert permissions and all(
        p["Properties"]["FunctionName"] == {"Ref": "SsoFunctionAliaslive"} for p in permissions
    )


def test_processed_function_keeps_snapstart_and_tracing(processed: dict[str, Any]) -> None:
    function = processed["Resources"]["SsoFunction"]["Properties"]
    assert function["SnapStart"] == {"ApplyOn": {"Fn::If": ["SnapStartEnabled", "PublishedVersions", "None"]}}
    assert function["TracingConfig"] == {"Mode": {"Fn::If": ["TracingEnabled", "Active", "PassThrough"]}}


def test_provisioned_concurrency_is_the_exclusive_alternative(
    template: dict[str, Any], props: dict[str, Any], processed: dict[str, Any]
) -> None:
    pc = parameter(template, "ProvisionedConcurrency")
    assert pc["Default"] == 0 and pc["MinValue"] == 0
    config = {"ProvisionedConcurrentExecutions": {"Ref": "ProvisionedConcurrency"}}
    assert props["ProvisionedConcurrencyConfig"] == {
        "Fn::If": ["HasProvisionedConcurrency", config, NO_VALUE]
    }
    # The condition alone never combines both...
    assert template["Conditions"]["HasProvisionedConcurrency"] == {
        "Fn::And": [
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "ProvisionedConcurrency"}, 0]}]},
            {"Fn::Not": [{"Condition": "SnapStartEnabled"}]},
        ]
    }
    # ...and the rule refuses the stack outright when both are asked for.
    rule = template["Rules"]["SnapStartOrProvisionedConcurrency"]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ProvisionedConcurrency"}, "0"]}]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "Disabled"]}
    # SAM puts the setting on the alias.
    alias = processed["Resources"]["SsoFunctionAliaslive"]["Properties"]
    assert alias["ProvisionedConcurrencyConfig"] == {
        "Fn::If": ["HasProvisionedConcurrency", config, NO_VALUE]
    }


@pytest.mark.parametrize(
    ("provisioned", "snapstart", "accepted", "pc_applied"),
    [
        ("0", "Enabled", True, False),
        ("0", "Disabled", True, False),
        ("2", "Disabled", True, True),
        ("2", "Enabled", False, None),
    ],
)
def test_rule_and_condition_semantics(
    template: dict[str, Any], provisioned: str, snapstart: str, accepted: bool, pc_applied: bool | None
) -> None:
    """Evaluate the rule and the condition for parameter values, as CloudFormation would."""
    values = {"ProvisionedConcurrency": provisioned, "SnapStart": snapstart}

    def evaluate(node: Any) -> Any:
        if isinstance(node, dict):
            ((key, arg),) = node.items()
            if key == "Ref":
                return values[arg]
            if key == "Condition":
                return evaluate(template["Conditions"][arg])
            if key == "Fn::Equals":
                return str(evaluate(arg[0])) == str(evaluate(arg[1]))
            if key == "Fn::Not":
                return not evaluate(arg[0])
            if key == "Fn::And":
                return all(evaluate(a) for a in arg)
            raise AssertionError(key)
        return node

    rule = template["Rules"]["SnapStartOrProvisionedConcurrency"]
    ok = not evaluate(rule["RuleCondition"]) or all(evaluate(a["Assert"]) for a in rule["Assertions"])
    assert ok is accepted
    if accepted:
        assert evaluate(template["Conditions"]["HasProvisionedConcurrency"]) is pc_applied


# ---- tracing and log sampling --------------------------------------------------------------
def test_tracing_parameter_sets_the_mode_and_powertools(
    template: dict[str, Any], props: dict[str, Any]
) -> None:
    tracing = parameter(template, "Tracing")
    assert tracing["Default"] == "Disabled"
    assert set(tracing["AllowedValues"]) == {"Enabled", "Disabled"}
    assert template["Conditions"]["TracingEnabled"] == {"Fn::Equals": [{"Ref": "Tracing"}, "Enabled"]}
    assert props["Tracing"] == {"Fn::If": ["TracingEnabled", "Active", "PassThrough"]}
    variables = props["Environment"]["Variables"]
    assert variables["POWERTOOLS_TRACE_DISABLED"] == {"Fn::If": ["TracingEnabled", "false", "true"]}


def test_log_sample_rate_parameter(template: dict[str, Any], props: dict[str, Any]) -> None:
    rate = parameter(template, "LogSampleRate")
    assert rate["Type"] == "Number"
    assert (rate["Default"], rate["MinValue"], rate["MaxValue"]) == (0, 0, 1)
    assert props["Environment"]["Variables"]["POWERTOOLS_LOGGER_SAMPLE_RATE"] == {"Ref": "LogSampleRate"}


# ---- custom domain ----------------------------------------------------------------------------
def test_custom_domain_parameters_are_optional(template: dict[str, Any]) -> None:
    for name in ("DomainName", "CertificateArn", "HostedZoneId"):
        value = parameter(template, name)
        assert value["Default"] == ""
        assert re.fullmatch(value["AllowedPattern"], "")
    assert re.fullmatch(template["Parameters"]["DomainName"]["AllowedPattern"], "sso.example.com")
    assert not re.fullmatch(template["Parameters"]["DomainName"]["AllowedPattern"], "https://sso.example.com")
    assert re.fullmatch(
        template["Parameters"]["CertificateArn"]["AllowedPattern"],
        "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-aaaa-bbbb-cccc-0123456789ab",
    )
    assert re.fullmatch(template["Parameters"]["HostedZoneId"]["AllowedPattern"], "Z0123456789ABCDEFGHIJ")
    disable = parameter(template, "DisableExecuteApiEndpoint")
    assert disable["Default"] == "false" and set(disable["AllowedValues"]) == {"true", "false"}


def test_conditions_create_domain_mapping_and_record(template: dict[str, Any]) -> None:
    resources, conditions = template["Resources"], template["Conditions"]
    assert resources["CustomDomain"]["Type"] == "AWS::ApiGatewayV2::DomainName"
    assert resources["CustomDomain"]["Condition"] == "HasCustomDomain"
    config = resources["CustomDomain"]["Properties"]["DomainNameConfigurations"][0]
    assert config["CertificateArn"] == {"Ref": "CertificateArn"}
    assert config["EndpointType"] == "REGIONAL" and config["SecurityPolicy"] == "TLS_1_2"
    mapping = resources["CustomDomainMapping"]
    assert mapping["Type"] == "AWS::ApiGatewayV2::ApiMapping" and mapping["Condition"] == "HasCustomDomain"
    assert mapping["Properties"]["ApiId"] == {"Ref": "HttpApi"}
    assert mapping["Properties"]["DomainName"] == {"Ref": "CustomDomain"}
    record = resources["CustomDomainRecord"]
    assert record["Type"] == "AWS::Route53::RecordSet" and record["Condition"] == "HasCustomDomainRecord"
    assert record["Properties"]["HostedZoneId"] == {"Ref": "HostedZoneId"}
    assert record["Properties"]["AliasTarget"]["DNSName"] == {
        "Fn::GetAtt": ["CustomDomain", "RegionalDomainName"]
    }
    assert {"Condition": "HasCustomDomain"} in conditions["HasCustomDomainRecord"]["Fn::And"]
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "DomainName"}, ""]}]} in conditions["HasCustomDomain"][
        "Fn::And"
    ]
    assert template["Rules"]["CustomDomainNeedsACertificate"]["RuleCondition"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "DomainName"}, ""]}]
    }
    assert template["Outputs"]["SsoCustomDomainUrl"]["Condition"] == "HasCustomDomain"


def test_the_default_endpoint_can_be_disabled_only_with_a_domain(
    template: dict[str, Any], processed: dict[str, Any]
) -> None:
    api = template["Resources"]["HttpApi"]["Properties"]
    assert api["DisableExecuteApiEndpoint"] == {"Fn::If": ["ExecuteApiEndpointDisabled", True, False]}
    assert {"Condition": "HasCustomDomain"} in template["Conditions"]["ExecuteApiEndpointDisabled"]["Fn::And"]
    rule = template["Rules"]["DisablingTheDefaultEndpointNeedsACustomDomain"]
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "DomainName"}, ""]}]}
    servers = processed["Resources"]["HttpApi"]["Properties"]["Body"]["servers"]
    assert servers[0]["x-amazon-apigateway-endpoint-configuration"]["disableExecuteApiEndpoint"] == {
        "Fn::If": ["ExecuteApiEndpointDisabled", True, False]
    }


# ---- API access log -------------------------------------------------------------------------
FORBIDDEN_IN_ACCESS_LOG = ("$context.path", "requestUri", "querystring", "queryString", "$input", "$request")


def test_access_log_is_json_in_its_own_group_without_the_query(template: dict[str, Any]) -> None:
    settings = template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["AccessLogGroup", "Arn"]}
    log_format = settings["Format"]
    fields = json.loads(log_format)  # every $context value is quoted: the format itself is JSON
    assert fields["requestId"] == "$context.requestId"
    assert fields["routeKey"] == "$context.routeKey"
    for name in ("status", "ip", "userAgent", "latency", "integrationLatency", "responseLength"):
        assert fields[name].startswith("$context."), name
    for forbidden in FORBIDDEN_IN_ACCESS_LOG:
        assert forbidden not in log_format, forbidden
    group = template["Resources"]["AccessLogGroup"]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "AccessLogRetentionDays"}
    assert (
        group["Properties"]["LogGroupName"]
        != template["Resources"]["SsoLogGroup"]["Properties"]["LogGroupName"]
    )
    assert parameter(template, "AccessLogRetentionDays")["Default"] in (7, 14, 30, 60, 90)
