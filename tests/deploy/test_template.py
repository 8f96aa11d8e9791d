"""template.yaml, samconfig.toml, the build and the events/ files.

The static checks read the template with cfn-lint's decoder (short-form tags
become ``{"Fn::...": ...}`` / ``{"Ref": ...}``). The tool checks run the venv's
own ``cfn-lint`` and ``sam`` (``sam validate --lint``, ``sam build``) and assert
they pass cleanly; ``sam build`` runs once for this module, into a temporary
build directory, and its artifact is inspected.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from infra.local.sam_template import load_template
from tests.deploy.templates import ROOT, TEMPLATE_PATH, function_properties, load

BIN = Path(sys.executable).parent
JWT_PLACEHOLDER = "REPLACE_WITH_A_JWT"

# The configuration contract (issue 2, plus the variables the design added):
# environment variable -> the stack parameter it comes from.
CONTRACT = {
    "BI_ORG": "BiOrg",
    "BI_BASE_URL": "BiBaseUrl",
    "BI_API_KEY_SECRET_ID": "BiApiKeySecretId",
    "JWT_ISSUER": "JwtIssuer",
    "JWT_AUDIENCE": "JwtAudience",
    "JWT_JWKS_URL": "JwtJwksUrl",
    "JWT_ALGORITHMS": "JwtAlgorithms",
    "JWT_HS256_SECRET_ID": "JwtHs256SecretId",
    "JWT_USER_CLAIM": "JwtUserClaim",
    "JWT_MAX_AGE_SECONDS": "JwtMaxAgeSeconds",
    "JWT_LEEWAY_SECONDS": "JwtLeewaySeconds",
    "JWKS_MAX_AGE_SECONDS": "JwksMaxAgeSeconds",
    "JWKS_STALE_SECONDS": "JwksStaleSeconds",
    "PARTNER_API_TIMEOUT_SECONDS": "PartnerApiTimeoutSeconds",
    "SSO_RETURN_URL": "SsoReturnUrl",
    "ERROR_REDIRECT_URL": "ErrorRedirectUrl",
    "TROUBLESHOOTING_URL": "TroubleshootingUrl",
    "RETURN_URL_ALLOWED_ORIGINS": "ReturnUrlAllowedOrigins",
    "SECRET_CACHE_SECONDS": "SecretCacheSeconds",
    "POWERTOOLS_METRICS_NAMESPACE": "MetricsNamespace",
    "POWERTOOLS_LOG_LEVEL": "LogLevel",
    "POWERTOOLS_LOGGER_SAMPLE_RATE": "LogSampleRate",
    "LTI_ISSUER": "LtiIssuer",
    "LTI_CLIENT_ID": "LtiClientId",
    "LTI_DEPLOYMENT_IDS": "LtiDeploymentIds",
    "LTI_AUTH_URL": "LtiAuthUrl",
    "LTI_JWKS_URL": "LtiJwksUrl",
    "LTI_STATE_SECONDS": "LtiStateSeconds",
    "LTI_LEEWAY_SECONDS": "LtiLeewaySeconds",
    "LTI_TOKEN_URL": "LtiTokenUrl",
    "LTI_RETURN_URL": "LtiReturnUrl",
    "PARTNER_REGISTRY_CACHE_SECONDS": "PartnerRegistryCacheSeconds",
    "PARTNER_REGISTRY_STALE_SECONDS": "PartnerRegistryStaleSeconds",
}
# Literal values: not configurable per stack.
LITERALS = {
    "POWERTOOLS_SERVICE_NAME": "sso-redirector",
    # Always empty when deployed; lets `sam local invoke --env-vars` reach moto.
    "AWS_ENDPOINT_URL_SECRETS_MANAGER": "",
    "AWS_ENDPOINT_URL_DYNAMODB": "",
}
DEFAULTS = {
    "Architecture": "arm64",
    "BiBaseUrl": "",
    "JwtIssuer": "",
    "JwtAudience": "",
    "JwtJwksUrl": "",
    "JwtAlgorithms": "RS256,ES256",
    "JwtHs256SecretId": "",
    "JwtUserClaim": "sub",
    "JwtMaxAgeSeconds": 300,
    "JwtLeewaySeconds": 30,
    "JwksMaxAgeSeconds": 600,
    "JwksStaleSeconds": 86400,
    "PartnerApiTimeoutSeconds": 5,
    "SsoReturnUrl": "",
    "ErrorRedirectUrl": "",
    "TroubleshootingUrl": "",
    "CorsAllowedOrigins": "",
    "ReturnUrlAllowedOrigins": "",
    "SecretCacheSeconds": 300,
    "MetricsNamespace": "BigInterviewSso",
    "LogLevel": "INFO",
    "LtiLaunch": "Disabled",
    "LtiIssuer": "",
    "LtiClientId": "",
    "LtiDeploymentIds": "",
    "LtiAuthUrl": "",
    "LtiJwksUrl": "",
    "LtiStateSeconds": 600,
    "LtiLeewaySeconds": 120,
    "LtiReturnUrl": "",
    "PartnerRegistryCacheSeconds": 60,
    "PartnerRegistryStaleSeconds": 900,
}
# JwtIssuer and JwtAudience: required unless launch-only (tests/deploy/test_launch_only_template.py).
REQUIRED = {"BiOrg", "BiApiKeySecretId"}
ROUTES = {
    ("GET", "/sso"),
    ("POST", "/sso"),
    ("GET", "/health"),
    # Any other page a browser reaches gets the function's not_found page; GET and POST
    # only, so that no route takes OPTIONS from the HTTP API's CORS preflight answers.
    ("GET", "/{proxy+}"),
    ("POST", "/{proxy+}"),
    ("GET", "/"),
    ("POST", "/"),
    ("GET", "/lti/login"),
    ("POST", "/lti/login"),
    ("POST", "/lti/launch"),
    ("GET", "/lti/jwks"),
}
LOG_RETENTION_VALUES = {
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
}
LAMBDA_APPLICATION_LOG_LEVELS = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
LAMBDA_SYSTEM_LOG_LEVELS = {"DEBUG", "INFO", "WARN"}
EVENT_FILES = ("sso-get.json", "sso-post-form.json", "sso-bearer-json.json", "health.json")


# ---- helpers -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load(TEMPLATE_PATH)


@pytest.fixture(scope="module")
def function(template: dict[str, Any]) -> dict[str, Any]:
    resource = template["Resources"]["SsoFunction"]
    assert resource["Type"] == "AWS::Serverless::Function"
    return resource  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def props(template: dict[str, Any], function: dict[str, Any]) -> dict[str, Any]:
    """The function's properties as SAM deploys them: its own, with ``Globals`` merged in."""
    return function_properties(template)


def pattern_of(parameter: dict[str, Any]) -> re.Pattern[str]:
    # CloudFormation patterns are Java regexes; ours use only syntax Python shares.
    return re.compile(parameter["AllowedPattern"])


def accepts(parameter: dict[str, Any], value: str) -> bool:
    """Would CloudFormation accept ``value`` for this parameter? (pattern, values, length, range)"""
    items = value.split(",") if parameter["Type"] == "CommaDelimitedList" else [value]
    for item in items:
        if "AllowedPattern" in parameter and not pattern_of(parameter).fullmatch(item):
            return False
        if "AllowedValues" in parameter and item not in [str(v) for v in parameter["AllowedValues"]]:
            return False
    if parameter["Type"] == "Number":
        try:
            number = float(value)
        except ValueError:
            return False
        if "MinValue" in parameter and number < float(parameter["MinValue"]):
            return False
        if "MaxValue" in parameter and number > float(parameter["MaxValue"]):
            return False
    if "MinLength" in parameter and len(value) < int(parameter["MinLength"]):
        return False
    return not ("MaxLength" in parameter and len(value) > int(parameter["MaxLength"]))


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env.setdefault("PYENV_VERSION", "3.11.7:3.13.0")  # lets SAM find python3.13 where pyenv provides it
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


def run(args: list[str], timeout: int = 300, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=ROOT,
        env=kwargs.pop("env", None) or subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )


def walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


# ---- the function -----------------------------------------------------------------------------
def test_handler_path_names_a_module_that_defines_lambda_handler(props: dict[str, Any]) -> None:
    assert props["Handler"] == "handler.entry_point.lambda_handler"
    module, _, attribute = props["Handler"].rpartition(".")
    source = ROOT / (module.replace(".", "/") + ".py")
    assert source.is_file(), f"{source} is missing"
    assert (ROOT / "handler" / "__init__.py").is_file(), "handler/ must be a package"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    assert attribute in names, f"{source} defines no module-level {attribute}"


def test_function_runtime_size_and_build_method(function: dict[str, Any], props: dict[str, Any]) -> None:
    assert props["Runtime"] == "python3.13"
    assert props["MemorySize"] == 256
    assert props["Timeout"] == 10
    assert props["CodeUri"] == "."
    assert function["Metadata"]["BuildMethod"] == "makefile"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = re.search(r"^build-SsoFunction:\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert target, "the Makefile has no build-SsoFunction target"
    assert 'infra/deploy/build-function.sh "$(ARTIFACTS_DIR)"' in target.group(1)
    assert os.access(ROOT / "infra" / "deploy" / "build-function.sh", os.X_OK)


def test_architecture_is_a_parameter_defaulting_to_arm64(
    template: dict[str, Any], props: dict[str, Any]
) -> None:
    parameter = template["Parameters"]["Architecture"]
    assert parameter["Default"] == "arm64"
    assert sorted(parameter["AllowedValues"]) == ["arm64", "x86_64"]
    assert props["Architectures"] == [{"Ref": "Architecture"}]


# ---- configuration contract -----------------------------------------------------------------
def test_every_contract_variable_comes_from_a_described_constrained_parameter(
    template: dict[str, Any], props: dict[str, Any]
) -> None:
    variables = props["Environment"]["Variables"]
    # REPLAY_TABLE_NAME and POWERTOOLS_TRACE_DISABLED are conditional (tests/deploy/test_limits.py).
    # LTI_STATE_TABLE_NAME, LTI_TOOL_KEY_ID and LTI_DEEP_LINKING* too (tests/lti/test_template_lti.py), and
    # PARTNER_REGISTRY_TABLE (tests/deploy/test_partner_registry_template.py).
    conditional = {
        "REPLAY_TABLE_NAME",
        "POWERTOOLS_TRACE_DISABLED",
        "LTI_STATE_TABLE_NAME",
        "LTI_TOOL_KEY_ID",
        "LTI_DEEP_LINKING",
        "LTI_DEEP_LINKING_CATALOGUE",
        "PARTNER_REGISTRY_TABLE",
        "LTI_GRADE_TABLE_NAME",
    }
    assert set(variables) == set(CONTRACT) | set(LITERALS) | conditional
    for name, value in LITERALS.items():
        assert variables[name] == value, name
    for name, parameter_name in CONTRACT.items():
        expected: dict[str, Any] = {"Ref": parameter_name}
        if template["Parameters"][parameter_name]["Type"] == "CommaDelimitedList":
            expected = {"Fn::Join": [",", {"Ref": parameter_name}]}
        assert variables[name] == expected, name
        parameter = template["Parameters"][parameter_name]
        assert len(parameter.get("Description", "")) > 10, f"{parameter_name} has no description"
        assert name in parameter["Description"], f"{parameter_name}'s description should name {name}"
        constraints = {"AllowedPattern", "AllowedValues", "MinValue", "MaxValue"} & set(parameter)
        assert constraints, f"{parameter_name} has no constraint"


def test_parameter_defaults_and_required_parameters(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    for name, default in DEFAULTS.items():
        assert parameters[name]["Default"] == default, name
        assert accepts(parameters[name], str(default)), f"{name}'s default breaks its own constraint"
    for name in REQUIRED:
        assert "Default" not in parameters[name], f"{name} must be required"
        assert not accepts(parameters[name], ""), f"{name} must refuse an empty value"
    for name, parameter in parameters.items():
        assert parameter.get("Description"), f"{name} has no description"


@pytest.mark.parametrize(
    ("parameter", "good", "bad"),
    [
        ("BiOrg", ["xyz", "acme-university", "a1"], ["", "XYZ.com", "-xyz", "xyz-", "a" * 64, "x y"]),
        (
            "BiApiKeySecretId",
            [
                "bi-sso/prod/api-key",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:bi-sso/api-key-AbC123",
            ],
            [
                "",
                "*",
                "bi sso",
                "arn:aws:s3:::bucket/*",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:*",
            ],
        ),
        ("JwtHs256SecretId", ["", "bi-sso/hmac"], ["*", "a b"]),
        (
            "BiBaseUrl",
            ["", "https://xyz.biginterview.com", "http://127.0.0.1:3002", "http://localhost:3002"],
            ["http://xyz.biginterview.com", "javascript:alert(1)", "https://a b", "ftp://x"],
        ),
        (
            "JwtJwksUrl",
            ["", "https://idp.example.com/.well-known/jwks.json"],
            ["http://idp.example.com/jwks"],
        ),
        ("SsoReturnUrl", ["", "https://portal.example.edu/"], ["//evil.example", "http://evil.example"]),
        ("ErrorRedirectUrl", ["", "https://portal.example.edu/sso-error"], ["javascript:x"]),
        (
            "TroubleshootingUrl",
            ["", "https://docs.example.com/partner-guide.html"],
            ["http://docs.example.com/guide", "https://docs.example.com/guide#top"],
        ),
        (
            "CorsAllowedOrigins",
            ["", "https://app.example.com", "https://a.example.com,https://b.example.com:8443"],
            [
                "*",
                "https://app.example.com/path",
                "http://app.example.com",
                "https://a.example.com, https://b",
            ],
        ),
        (
            "ReturnUrlAllowedOrigins",
            ["", "https://portal.example.edu", "http://127.0.0.1:3001"],
            ["https://portal.example.edu/x", "*"],
        ),
        (
            "JwtIssuer",
            ["", "https://idp.example.com", "https://a.example,https://b.example"],
            ["a, b", "a b", ",a", "a,"],
        ),
        ("JwtAudience", ["", "big-interview-sso"], ["a b", " a"]),
        ("JwtAlgorithms", ["RS256", "RS256,ES256", "EdDSA,HS256"], ["none", "RS256,none", "HS384", "rs256"]),
        ("JwtUserClaim", ["sub", "partner_id", "custom:partner_id"], ["", "a b", "x" * 65, "1sub"]),
        ("JwtMaxAgeSeconds", ["10", "300", "3600"], ["0", "9", "3601", "abc"]),
        ("JwtLeewaySeconds", ["0", "30", "300"], ["-1", "301"]),
        ("JwksMaxAgeSeconds", ["60", "600", "86400"], ["0", "59", "86401", "abc"]),
        ("JwksStaleSeconds", ["0", "86400", "604800"], ["-1", "604801"]),
        ("PartnerApiTimeoutSeconds", ["1", "5", "8"], ["0", "9", "30"]),
        ("SecretCacheSeconds", ["0", "300"], ["-1"]),
        ("LogLevel", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], ["TRACE", "info"]),
        ("MetricsNamespace", ["BigInterviewSso"], ["", "a b"]),
        ("LtiLaunch", ["Enabled", "Disabled"], ["", "enabled"]),
        (
            "LtiIssuer",
            ["", "https://canvas.instructure.com", "https://moodle.example.edu/"],
            ["http://lms", "a b", "https://lms.example.edu/?tenant=1", "https://lms.example.edu/#x"],
        ),
        ("LtiStateSeconds", ["60", "600", "3600"], ["59", "3601", "abc"]),
        ("LtiLeewaySeconds", ["0", "120", "600"], ["-1", "601", "abc"]),
        ("LtiReturnUrl", ["", "https://lms.example.edu/courses"], ["http://lms.example.edu/", "a b"]),
        ("PartnerRegistryCacheSeconds", ["5", "60", "3600"], ["4", "3601"]),
        ("PartnerRegistryStaleSeconds", ["0", "900", "86400"], ["-1", "86401"]),
        ("LtiClientId", ["", "10000000000042", "b0c8e4f5-client"], ["a b", "x" * 256]),
        ("LtiDeploymentIds", ["", "1:8865aa05", "a,b"], ["a b", "a,,b", ",a"]),
        ("LtiAuthUrl", ["", "https://sso.canvaslms.com/api/lti/authorize_redirect"], ["http://lms/auth"]),
        ("LtiJwksUrl", ["", "https://sso.canvaslms.com/api/lti/security/jwks"], ["ftp://x", "https://a b"]),
    ],
)
def test_parameter_constraints(
    template: dict[str, Any], parameter: str, good: list[str], bad: list[str]
) -> None:
    definition = template["Parameters"][parameter]
    for value in good:
        assert accepts(definition, value), f"{parameter} should accept {value!r}"
    for value in bad:
        assert not accepts(definition, value), f"{parameter} should refuse {value!r}"


def test_hs256_in_the_allow_list_requires_its_secret(template: dict[str, Any]) -> None:
    rule = template["Rules"]["Hs256NeedsASecret"]
    assert rule["RuleCondition"] == {"Fn::Contains": [{"Ref": "JwtAlgorithms"}, "HS256"]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "JwtHs256SecretId"}, ""]}]}


# ---- IAM ----------------------------------------------------------------------------------------
def test_policy_allows_only_reading_the_configured_secrets(
    template: dict[str, Any], props: dict[str, Any]
) -> None:
    # The first policy reads secrets; the second (conditional) is the replay table's, tested below.
    policies = props["Policies"][:1]
    assert all(isinstance(policy, dict) and "Statement" in policy for policy in policies), (
        "only inline policy documents: no SAM policy templates or managed policies with wider scope"
    )
    statements = [statement for policy in policies for statement in policy["Statement"]]
    assert statements
    referenced: set[str] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert actions == ["secretsmanager:GetSecretValue"]
        assert "NotResource" not in statement and "NotAction" not in statement
        for node in walk(statement["Resource"]):
            if isinstance(node, str):
                assert "*" not in node, f"wildcard in {node!r}"
            if isinstance(node, dict) and "Ref" in node:
                referenced.add(node["Ref"])
            if isinstance(node, dict) and "Fn::Sub" in node:
                text = node["Fn::Sub"]
                assert text.startswith(
                    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
                )
                assert text.endswith("-??????"), "a name matches only that secret's ARN (6-character suffix)"
                referenced.update(re.findall(r"\$\{(\w+)\}", text))
    params = {name for name in referenced if not name.startswith("AWS::")}
    assert params <= {"BiApiKeySecretId", "JwtHs256SecretId", "AWS::NoValue"}
    assert {"BiApiKeySecretId", "JwtHs256SecretId"} <= params
    conditions = template["Conditions"]
    assert conditions["HasHs256Secret"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "JwtHs256SecretId"}, ""]}]}
    for condition, parameter in (
        ("BiApiKeySecretIsArn", "BiApiKeySecretId"),
        ("JwtHs256SecretIsArn", "JwtHs256SecretId"),
    ):
        assert conditions[condition] == {
            "Fn::Equals": [{"Fn::Select": [0, {"Fn::Split": [":", {"Ref": parameter}]}]}, "arn"]
        }


# ---- one-time links (replay protection) -------------------------------------------------------------
def test_replay_table_is_on_demand_keyed_on_pk_with_ttl_and_encryption(template: dict[str, Any]) -> None:
    table = template["Resources"]["ReplayTable"]
    parameter = template["Parameters"]["ReplayProtection"]

    assert parameter["Default"] == "Enabled"
    assert parameter["AllowedValues"] == ["Enabled", "Disabled"]
    assert table["Condition"] == "ReplayProtectionEnabled"
    assert template["Conditions"]["ReplayProtectionEnabled"] == {
        "Fn::Equals": [{"Ref": "ReplayProtection"}, "Enabled"]
    }
    properties = table["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert properties["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}


def test_function_gets_the_table_name_and_may_only_put_items_in_it(props: dict[str, Any]) -> None:
    assert props["Environment"]["Variables"]["REPLAY_TABLE_NAME"] == {
        "Fn::If": ["ReplayProtectionEnabled", {"Ref": "ReplayTable"}, ""]
    }
    replay_policy = props["Policies"][1]  # the third, LTI's, is tested in tests/lti/test_template_lti.py
    condition, policy, otherwise = replay_policy["Fn::If"]
    assert (condition, otherwise) == ("ReplayProtectionEnabled", {"Ref": "AWS::NoValue"})
    assert policy["Statement"] == [
        {
            "Sid": "RecordOneTimeLinks",
            "Effect": "Allow",
            "Action": "dynamodb:PutItem",
            "Resource": {"Fn::GetAtt": ["ReplayTable", "Arn"]},
        }
    ]


# ---- logging ------------------------------------------------------------------------------------
def test_log_group_retention_and_json_logging(template: dict[str, Any], props: dict[str, Any]) -> None:
    log_group = template["Resources"]["SsoLogGroup"]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert log_group["Properties"]["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${AWS::StackName}-sso"}
    retention = template["Parameters"]["LogRetentionDays"]
    assert set(retention["AllowedValues"]) == LOG_RETENTION_VALUES
    assert retention["Default"] in LOG_RETENTION_VALUES

    logging = props["LoggingConfig"]
    assert logging["LogFormat"] == "JSON"
    assert logging["LogGroup"] == {"Ref": "SsoLogGroup"}
    mapping = template["Mappings"]["LambdaLogLevels"]
    assert logging["ApplicationLogLevel"] == {
        "Fn::FindInMap": ["LambdaLogLevels", {"Ref": "LogLevel"}, "Application"]
    }
    assert logging["SystemLogLevel"] == {"Fn::FindInMap": ["LambdaLogLevels", {"Ref": "LogLevel"}, "System"]}
    for level in template["Parameters"]["LogLevel"]["AllowedValues"]:
        assert mapping[level]["Application"] in LAMBDA_APPLICATION_LOG_LEVELS
        assert mapping[level]["System"] in LAMBDA_SYSTEM_LOG_LEVELS


# ---- API ----------------------------------------------------------------------------------------
def template_routes(props: dict[str, Any]) -> set[tuple[str, str]]:
    routes = set()
    for event in props["Events"].values():
        assert event["Type"] == "HttpApi"
        assert event["Properties"]["ApiId"] == {"Ref": "HttpApi"}
        assert event["Properties"].get("PayloadFormatVersion", "2.0") == "2.0"
        routes.add((event["Properties"]["Method"].upper(), event["Properties"]["Path"]))
    return routes


def test_routes(template: dict[str, Any], props: dict[str, Any]) -> None:
    assert template["Resources"]["HttpApi"]["Type"] == "AWS::Serverless::HttpApi"
    assert template_routes(props) == ROUTES


def test_cors_only_from_the_allow_list(template: dict[str, Any]) -> None:
    cors = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    condition, enabled, disabled = cors["Fn::If"]
    assert condition == "HasCors"
    assert template["Conditions"]["HasCors"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CorsAllowedOrigins"}, ""]}]
    }
    assert enabled["AllowOrigins"] == {"Fn::Split": [",", {"Ref": "CorsAllowedOrigins"}]}
    assert enabled.get("AllowCredentials") is False
    assert disabled == {"Ref": "AWS::NoValue"}


def test_cors_has_one_source_the_http_api(template: dict[str, Any], props: dict[str, Any]) -> None:
    # The function gets no CORS setting: API Gateway ignores CORS headers from an integration
    # when the API has a CorsConfiguration, so a second copy could only disagree.
    assert not [name for name in props["Environment"]["Variables"] if "CORS" in name]
    # API Gateway answers preflights itself only when no route takes OPTIONS.
    methods = {event["Properties"].get("Method", "ANY").upper() for event in props["Events"].values()}
    assert methods.isdisjoint({"OPTIONS", "ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD"})
    assert all("Path" in event["Properties"] for event in props["Events"].values()), "no $default route"


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["SsoUrl"]["Value"] == {
        "Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/sso"
    }
    assert outputs["FunctionName"]["Value"] == {"Ref": "SsoFunction"}
    assert outputs["HttpApiId"]["Value"] == {"Ref": "HttpApi"}


# ---- samconfig.toml -----------------------------------------------------------------------------
def test_samconfig_environments_and_parameter_overrides(template: dict[str, Any]) -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    assert config["version"] == 0.1
    stack_names = set()
    for env in ("default", "staging", "prod"):
        stack_names.add(config[env]["global"]["parameters"]["stack_name"])
        assert config[env]["build"]["parameters"]["build_in_source"] is True
        assert config[env]["validate"]["parameters"]["lint"] is True
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["resolve_s3"] is True
        assert deploy["capabilities"] == "CAPABILITY_IAM CAPABILITY_AUTO_EXPAND"
        overrides = dict(item.split("=", 1) for item in deploy["parameter_overrides"])
        assert set(overrides) >= REQUIRED, env
        assert "Architecture" not in overrides, "the build's ARCHITECTURE would have to change with it"
        for name, value in overrides.items():
            assert name in template["Parameters"], f"{env}: unknown parameter {name}"
            assert accepts(template["Parameters"][name], value), (
                f"{env}: {name}={value!r} breaks its constraint"
            )
    assert len(stack_names) == 3
    assert config["prod"]["deploy"]["parameters"]["confirm_changeset"] is True


# ---- events/ -------------------------------------------------------------------------------------
def load_event(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", EVENT_FILES)
def test_event_files_are_http_api_v2_events_for_template_routes(props: dict[str, Any], name: str) -> None:
    event = load_event(name)
    assert event["version"] == "2.0"
    method, path = event["routeKey"].split(" ", 1)
    assert (method, path) in template_routes(props)
    context = event["requestContext"]
    assert context["routeKey"] == event["routeKey"]
    assert context["http"]["method"] == method
    assert context["http"]["path"] == event["rawPath"] == path
    assert context["stage"] == "$default"
    assert context["requestId"]
    assert all(key == key.lower() for key in event["headers"]), "HTTP APIs deliver lower-case header names"
    assert isinstance(event["isBase64Encoded"], bool)


def test_event_get_carries_the_jwt_in_the_query() -> None:
    event = load_event("sso-get.json")
    assert event["rawQueryString"] == f"jwt={JWT_PLACEHOLDER}"
    assert event["queryStringParameters"] == {"jwt": JWT_PLACEHOLDER}
    assert "body" not in event


def test_event_post_form_carries_the_jwt_in_a_form_body_a_user_can_edit() -> None:
    # Plain text, not base64 as API Gateway sends it, so that the placeholder can be
    # replaced by hand for sam local invoke; the base64 path has its own tests.
    event = load_event("sso-post-form.json")
    assert event["isBase64Encoded"] is False
    assert event["headers"]["content-type"] == "application/x-www-form-urlencoded"
    body = event["body"]
    assert parse_qs(body) == {"jwt": [JWT_PLACEHOLDER]}
    assert event["headers"]["content-length"] == str(len(body))
    assert "queryStringParameters" not in event


def test_event_bearer_asks_for_json() -> None:
    event = load_event("sso-bearer-json.json")
    assert event["headers"]["authorization"] == f"Bearer {JWT_PLACEHOLDER}"
    assert event["headers"]["accept"] == "application/json"
    assert "queryStringParameters" not in event


def test_env_json_example_sets_only_variables_the_template_declares(props: dict[str, Any]) -> None:
    # `sam local invoke --env-vars` silently ignores variables the template does not declare.
    env = json.loads((ROOT / "events" / "env.json.example").read_text(encoding="utf-8"))
    assert set(env) == {"SsoFunction"}
    variables = env["SsoFunction"]
    assert set(variables) <= set(props["Environment"]["Variables"])
    assert set(variables) >= REQUIRED_ENV
    assert all(isinstance(value, str) for value in variables.values())
    assert variables["BI_BASE_URL"] == "http://127.0.0.1:3002"
    assert variables["JWT_ISSUER"] == "http://127.0.0.1:3001"
    assert variables["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == "http://127.0.0.1:3003"
    # The local stack's one-time-link table, in the same moto.
    assert variables["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:3003"
    assert variables["REPLAY_TABLE_NAME"] == "bi-sso-sandbox-replay"


REQUIRED_ENV = {"BI_ORG", "BI_API_KEY_SECRET_ID", "JWT_ISSUER", "JWT_AUDIENCE"}


# ---- the tools ----------------------------------------------------------------------------------
def test_cfn_lint_passes_without_findings() -> None:
    result = run([str(BIN / "cfn-lint"), "template.yaml"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_sam_validate_lint_passes() -> None:
    result = run([str(BIN / "sam"), "validate", "--lint", "--template-file", "template.yaml"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def elf_machine(path: Path) -> str:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF file"
    return {0xB7: "arm64", 0x3E: "x86_64"}.get(int.from_bytes(header[18:20], "little"), "other")


def tree_size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


@pytest.fixture(scope="module")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sam build` once for this module, into its own build directory."""
    build_dir = tmp_path_factory.mktemp("sam-build")
    result = run(
        [
            str(BIN / "sam"),
            "build",
            "--template-file",
            "template.yaml",
            "--build-dir",
            str(build_dir),
            "--build-in-source",
            "--parameter-overrides",
            "Architecture=arm64",
        ],
        timeout=900,
        env={**subprocess_env(), "ARCHITECTURE": "arm64"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Build Succeeded" in result.stdout + result.stderr
    return build_dir


def test_sam_build_packages_handler_and_runtime_dependencies_only(sam_build: Path) -> None:
    artifact = sam_build / "SsoFunction"
    top = {p.name for p in artifact.iterdir()}
    assert (artifact / "handler" / "__init__.py").is_file()
    assert (artifact / "handler" / "entry_point.py").is_file()
    for package in ("jwt", "aws_lambda_powertools", "urllib3", "cryptography"):
        assert (artifact / package).is_dir(), f"{package}/ missing from the artifact"
    for unwanted in ("boto3", "botocore", "s3transfer", "tests", "infra", "events", ".venv", "bin"):
        assert unwanted not in top, f"{unwanted}/ must not be bundled"
    for unwanted in ("template.yaml", "Makefile", "requirements.txt", "samconfig.toml", "pyproject.toml"):
        assert unwanted not in top
    assert not [p for p in top if p.startswith(("boto3-", "botocore-", "s3transfer-"))]
    assert not list(artifact.rglob("__pycache__")), "no bytecode caches in the artifact"
    assert not list(artifact.rglob("*.pyc"))
    handler_files = {
        p.relative_to(artifact / "handler").as_posix() for p in (artifact / "handler").rglob("*")
    }
    source_files = {
        p.relative_to(ROOT / "handler").as_posix()
        for p in (ROOT / "handler").rglob("*")
        if "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    assert handler_files == source_files
    native = list(artifact.glob("cryptography/hazmat/bindings/_rust*.so"))
    assert native and elf_machine(native[0]) == "arm64"
    size = tree_size_mb(artifact)
    print(f"SsoFunction artifact: {size:.1f} MB unzipped")
    assert size < 60, f"artifact is {size:.1f} MB unzipped"


def test_sam_build_writes_a_deployable_template(sam_build: Path) -> None:
    function = load_template(sam_build / "template.yaml")["Resources"]["SsoFunction"]["Properties"]
    assert function["CodeUri"] == "SsoFunction"
    assert function["Handler"] == "handler.entry_point.lambda_handler"


def test_build_script_targets_x86_64_when_asked(tmp_path: Path) -> None:
    result = run(
        [str(ROOT / "infra" / "deploy" / "build-function.sh"), str(tmp_path / "artifact")],
        timeout=600,
        env={**subprocess_env(), "ARCHITECTURE": "x86_64"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    native = list((tmp_path / "artifact").glob("cryptography/hazmat/bindings/_rust*.so"))
    assert native and elf_machine(native[0]) == "x86_64"


def test_build_script_refuses_an_unknown_architecture(tmp_path: Path) -> None:
    (tmp_path / "artifact").mkdir()
    keep = tmp_path / "artifact" / "keep"
    keep.write_text("x")
    result = run(
        [str(ROOT / "infra" / "deploy" / "build-function.sh"), str(tmp_path / "artifact")],
        env={**subprocess_env(), "ARCHITECTURE": "mips"},
    )
    assert result.returncode != 0
    assert "ARCHITECTURE must be arm64 or x86_64" in result.stderr
    assert keep.exists(), "nothing is deleted before the arguments are checked"
