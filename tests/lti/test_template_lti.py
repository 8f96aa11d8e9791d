"""template.yaml's LTI part: off by default, its table and key, and IAM least privilege proven in moto.

The least-privilege proof follows tests/integration/test_least_privilege.py: the
function role's inline policies, resolved for a stack with ``LtiLaunch=Enabled``,
are given to a role in moto (a server with IAM enforcement on); a login, a launch
and a ``/lti/jwks`` signed with that role's credentials succeed, and with any
one action taken out, the step that needs it fails.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from pytest_httpserver import HTTPServer

from handler.config import load_config
from handler.container import Container
from handler.http_pool import new_http_pool
from handler.telemetry import new_telemetry
from infra.local.sam_template import Intrinsics
from tests.conftest import REPLAY_TABLE, SECRET_ID
from tests.deploy.templates import TEMPLATE_PATH, function_properties, load, transformed
from tests.lti.conftest import STATE_TABLE, TOOL_HOST, Tool, deep_linking_request, lti_env
from tests.support import API_KEY, FakePartnerApi, SigningKey, http_event
from tests.support.least_privilege import (
    act_as,
    actions_of,
    as_moto_evaluates,
    role_credentials,
    statements,
    without_action,
)
from tests.support.moto import ACCOUNT, REGION, MotoProcess

LTI_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "kms:GetPublicKey"}


# ---- the template ---------------------------------------------------------------------------------
def test_lti_is_off_by_default_and_a_single_partner_stack_has_no_lti_resource() -> None:
    template = transformed()
    assert load(TEMPLATE_PATH)["Parameters"]["LtiLaunch"]["Default"] == "Disabled"
    for logical_id in ("LtiStateTable", "LtiToolKey"):
        assert template["Resources"][logical_id]["Condition"] == "LtiLaunchEnabled"
    policies = Intrinsics(
        template,
        {"BiApiKeySecretId": SECRET_ID},
        pseudo={"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT},
        references={"ReplayTable.Arn": "arn:aws:dynamodb:us-east-1:123456789012:table/replay"},
    ).resolve(template["Resources"]["SsoFunctionRole"]["Properties"]["Policies"])
    assert {a for s in statements(policies) for a in actions_of(s)} == {
        "secretsmanager:GetSecretValue",
        "dynamodb:PutItem",  # the one-time links' table
    }
    assert not [s["Sid"] for s in statements(policies) if "Lti" in s.get("Sid", "")]


def test_the_state_table_is_keyed_on_pk_with_a_ttl_and_the_key_is_rsa_sign_verify() -> None:
    resources = load(TEMPLATE_PATH)["Resources"]
    table = resources["LtiStateTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST" and table["SSESpecification"] == {"SSEEnabled": True}
    key = resources["LtiToolKey"]
    assert (key["Properties"]["KeySpec"], key["Properties"]["KeyUsage"]) == ("RSA_2048", "SIGN_VERIFY")
    assert key["DeletionPolicy"] == "Retain"  # platforms hold its public key: deleting it breaks them


def test_the_function_gets_the_table_and_key_only_when_lti_is_enabled() -> None:
    variables = function_properties(load(TEMPLATE_PATH))["Environment"]["Variables"]
    assert variables["LTI_STATE_TABLE_NAME"] == {"Fn::If": ["LtiLaunchEnabled", {"Ref": "LtiStateTable"}, ""]}
    assert variables["LTI_TOOL_KEY_ID"] == {
        "Fn::If": ["LtiLaunchEnabled", {"Fn::GetAtt": ["LtiToolKey", "Arn"]}, ""]
    }


def test_enabling_lti_requires_the_platforms_registration() -> None:
    rule = load(TEMPLATE_PATH)["Rules"]["LtiLaunchNeedsARegistration"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "LtiLaunch"}, "Enabled"]}
    platform, registry_only = rule["Assertions"][0]["Assert"]["Fn::Or"]
    required = {condition["Fn::Not"][0]["Fn::Equals"][0]["Ref"] for condition in platform["Fn::And"]}
    assert required == {"LtiIssuer", "LtiClientId", "LtiDeploymentIds", "LtiAuthUrl", "LtiJwksUrl"}
    # Or the platforms are records in the partner registry (tests/deploy/test_lti_registry_template.py).
    assert {"Fn::Equals": [{"Ref": "PartnerRegistry"}, "Enabled"]} in registry_only["Fn::And"]


CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0b4c1e2d-1111-2222-3333-444455556666"


@pytest.mark.parametrize(
    ("parameters", "origin"),
    [
        ({}, "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"),
        ({"DomainName": "sso.example.edu", "CertificateArn": CERTIFICATE}, "https://sso.example.edu"),
        (
            {
                "DomainName": "sso.example.edu",
                "CertificateArn": CERTIFICATE,
                "DisableExecuteApiEndpoint": "true",
            },
            "https://sso.example.edu",
        ),
    ],
    ids=["execute-api", "custom-domain", "execute-api-disabled"],
)
def test_the_lti_url_outputs_name_one_host_the_custom_domain_when_there_is_one(
    parameters: dict[str, str], origin: str
) -> None:
    # The launch checks redirect_uri and target_link_uri against the Host it was reached on, and
    # with DisableExecuteApiEndpoint=true only the custom domain answers: all three on that one host.
    template = load(TEMPLATE_PATH)
    outputs = template["Outputs"]
    resolved = Intrinsics(
        template,
        {"LtiLaunch": "Enabled", **parameters},
        pseudo={"AWS::Region": REGION, "AWS::URLSuffix": "amazonaws.com"},
        references={"HttpApi": "a1b2c3d4e5"},
    )
    urls = {
        name: resolved.resolve(outputs[name]["Value"])
        for name in ("LtiToolLoginUrl", "LtiToolLaunchUrl", "LtiToolJwksUrl")
    }
    assert urls == {
        "LtiToolLoginUrl": f"{origin}/lti/login",
        "LtiToolLaunchUrl": f"{origin}/lti/launch",
        "LtiToolJwksUrl": f"{origin}/lti/jwks",
    }
    assert {outputs[name]["Condition"] for name in urls} == {"LtiLaunchEnabled"}


# ---- least privilege, evaluated by moto's IAM -------------------------------------------------------
@dataclass
class Stage:
    key_id: str
    key_arn: str
    table_arn: str
    policies: list[dict[str, Any]]
    credentials: dict[str, dict[str, str]]


def lti_role_policies(table_arn: str, key_arn: str, **parameters: str) -> list[dict[str, Any]]:
    template = transformed()
    intrinsics = Intrinsics(
        template,
        {"BiApiKeySecretId": SECRET_ID, "ReplayProtection": "Enabled", "LtiLaunch": "Enabled", **parameters},
        pseudo={"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT},
        references={
            "ReplayTable.Arn": table_arn.replace(STATE_TABLE, REPLAY_TABLE),
            "LtiStateTable.Arn": table_arn,
            "LtiToolKey.Arn": key_arn,
        },
    )
    policies: list[dict[str, Any]] = intrinsics.resolve(
        template["Resources"]["SsoFunctionRole"]["Properties"]["Policies"]
    )
    return policies


@pytest.fixture(scope="module")
def stage(moto_server: MotoProcess) -> Iterator[Stage]:
    moto = moto_server
    moto.enforce_iam(False)
    moto.client("secretsmanager").create_secret(Name=SECRET_ID, SecretString=json.dumps({"api_key": API_KEY}))
    table_arn = moto.client("dynamodb").create_table(
        TableName=STATE_TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    kms = boto3.client(
        "kms",
        region_name=REGION,
        endpoint_url=moto.endpoint,
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    policies = lti_role_policies(table_arn, key["Arn"])
    credentials = {"exact": role_credentials(moto, "lti-exact", as_moto_evaluates(policies))}
    for action in sorted(LTI_ACTIONS):
        name = "lti-without-" + action.replace(":", "-")
        credentials[action] = role_credentials(
            moto, name, as_moto_evaluates(without_action(policies, action))
        )
    moto.enforce_iam(True)
    yield Stage(key["KeyId"], key["Arn"], table_arn, policies, credentials)
    moto.enforce_iam(False)


def test_the_lti_statements_name_only_the_launch_table_and_the_tool_key(stage: Stage) -> None:
    by_action: dict[str, list[Any]] = {}
    for statement in statements(stage.policies):
        for action in actions_of(statement):
            by_action.setdefault(action, []).append(statement["Resource"])
    assert by_action["dynamodb:UpdateItem"] == [stage.table_arn]
    assert by_action["dynamodb:GetItem"] == [stage.table_arn]
    assert stage.table_arn in by_action["dynamodb:PutItem"]
    assert by_action["kms:GetPublicKey"] == [stage.key_arn]
    assert not any(a.startswith("kms:") and a != "kms:GetPublicKey" for a in by_action)  # never kms:Sign


def _tool_as(
    moto: MotoProcess,
    credentials: dict[str, str],
    env: dict[str, str],
    ca_file: Path,
    partner_api: FakePartnerApi,
    platform_key: SigningKey,
    monkeypatch: pytest.MonkeyPatch,
) -> Tool:
    act_as(moto, credentials, monkeypatch)
    config = load_config(env)
    telemetry = new_telemetry()
    container = Container.build(config, new_http_pool(ca_certs=str(ca_file)), telemetry)
    assert container.lti is not None
    return Tool(container.handler(), container.lti, partner_api, platform_key, container)


@pytest.fixture
def tool_as(
    moto_server: MotoProcess,
    stage: Stage,
    partner_server: HTTPServer,
    jwks_server: HTTPServer,
    partner_api: FakePartnerApi,
    platform_jwks: dict[str, Any],
    platform_key: SigningKey,
    ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Tool]:
    """The tool as ``role`` (or with ``credentials``), the LTI environment plus ``overrides``."""
    env = lti_env(partner_server, jwks_server, stage.key_id)

    def build(role: str, credentials: dict[str, str] | None = None, **overrides: str) -> Tool:
        return _tool_as(
            moto_server,
            credentials or stage.credentials[role],
            {**env, **overrides},
            ca_file,
            partner_api,
            platform_key,
            monkeypatch,
        )

    return build


def test_a_launch_with_exactly_the_function_policy_succeeds(
    tool_as: Callable[..., Tool], moto_server: MotoProcess, stage: Stage
) -> None:
    tool = tool_as("exact")
    login = tool.login()
    assert login.result["statusCode"] == 302, login.result.get("body")
    assert tool.launch_from(login)["statusCode"] == 302
    assert tool(http_event("GET", "/lti/jwks", headers={"host": TOOL_HOST}))["statusCode"] == 200
    # IAM really is enforced: the same role may not sign with the tool key.
    kms = moto_server.client("secretsmanager", **stage.credentials["exact"])
    with pytest.raises(Exception, match="AccessDenied"):
        kms.describe_secret(SecretId=SECRET_ID)


def test_a_launch_without_its_cookie_gets_the_new_window_page_with_exactly_the_function_policy(
    tool_as: Callable[..., Tool],
) -> None:
    # The page's button needs the login the state was issued with (LaunchStates.login_of, a GetItem):
    # without that read the student gets the plain refusal page, with no way on.
    tool = tool_as("exact")
    login = tool.login()
    result = tool.launch(tool.token(login.nonce), login.state, None)
    assert result["statusCode"] == 400
    assert "<code>lti_state_cookie_missing</code>" in result["body"]
    assert f'<form method="post" action="https://{TOOL_HOST}/lti/login" target="_blank">' in result["body"]


@pytest.mark.parametrize(
    ("action", "step", "code"),
    [
        ("dynamodb:PutItem", "login", "replay_store_unavailable"),
        ("dynamodb:UpdateItem", "launch", "replay_store_unavailable"),
        ("dynamodb:GetItem", "launch without its cookie", "lti_state_cookie_missing"),
        ("kms:GetPublicKey", "jwks", "tool_key_unavailable"),
    ],
)
def test_each_lti_action_is_needed(
    tool_as: Callable[..., Tool], stage: Stage, action: str, step: str, code: str
) -> None:
    assert set(stage.credentials) == {"exact"} | LTI_ACTIONS
    tool = tool_as(action)
    if step == "jwks":
        result = tool(http_event("GET", "/lti/jwks", headers={"host": TOOL_HOST}))
    elif step == "login":
        result = tool.login().result
    elif step == "launch":
        exact_login = tool_as("exact").login()  # the state is written with a role that may
        result = tool_as(action).launch_from(exact_login)
    else:  # without GetItem the refusal stays, but its page has no button to start again
        exact_login = tool_as("exact").login()
        tool = tool_as(action)
        result = tool.launch(tool.token(exact_login.nonce), exact_login.state, None)
        assert result["statusCode"] == 400 and 'target="_blank"' not in result["body"]
    if step != "launch without its cookie":
        assert result["statusCode"] == 503, result.get("body")
    assert code in result["body"]


# ---- deep linking: kms:Sign on the tool key, only with LtiDeepLinking=Enabled ---------------------
def test_deep_linking_is_off_by_default_and_signs_only_with_the_tool_key_when_on() -> None:
    assert load(TEMPLATE_PATH)["Parameters"]["LtiDeepLinking"]["Default"] == "Disabled"
    table, key = "arn:aws:dynamodb:us-east-1:123456789012:table/states", "arn:aws:kms:us-east-1:1:key/tool"

    def signing(**parameters: str) -> list[Any]:
        policies = lti_role_policies(table, key, **parameters)
        return [s["Resource"] for s in statements(policies) if "kms:Sign" in actions_of(s)]

    assert signing() == []  # LtiLaunch alone: GetPublicKey only
    assert signing(LtiLaunch="Disabled", LtiDeepLinking="Enabled") == []  # the condition needs both
    assert signing(LtiDeepLinking="Enabled") == [key]
    variables = function_properties(load(TEMPLATE_PATH))["Environment"]["Variables"]
    assert variables["LTI_DEEP_LINKING"] == {"Fn::If": ["LtiDeepLinkingEnabled", "Enabled", "Disabled"]}


@pytest.fixture(scope="module")
def deep_linking_roles(moto_server: MotoProcess, stage: Stage) -> dict[str, dict[str, str]]:
    """Roles with the deep-linking stack's exact policies, and without its kms:Sign."""
    policies = lti_role_policies(stage.table_arn, stage.key_arn, LtiDeepLinking="Enabled")
    moto_server.enforce_iam(False)
    try:
        return {
            "exact": role_credentials(moto_server, "dl-exact", as_moto_evaluates(policies)),
            "kms:Sign": role_credentials(
                moto_server, "dl-without-kms-Sign", as_moto_evaluates(without_action(policies, "kms:Sign"))
            ),
        }
    finally:
        moto_server.enforce_iam(True)


@pytest.mark.parametrize(("role", "status"), [("exact", 200), ("kms:Sign", 503)])
def test_deep_linking_signs_with_exactly_its_policy_and_not_without_kms_sign(
    deep_linking_roles: dict[str, dict[str, str]], tool_as: Callable[..., Tool], role: str, status: int
) -> None:
    tool = tool_as(role, deep_linking_roles[role], LTI_DEEP_LINKING="Enabled")
    page = tool.launch_from(tool.login(), **deep_linking_request())
    assert page["statusCode"] == 200, page["body"][:300]
    answer = tool.choose(page, "dashboard")
    assert answer["statusCode"] == status, answer["body"][:300]
    if status == 503:
        assert "tool_key_unavailable" in answer["body"] and "JWT" not in answer["body"]
