"""template.yaml with ``LtiLaunch=Enabled`` and ``PartnerRegistry=Enabled``: LTI records in the registry.

The combination's environment (both tables, no platform in the parameters), the rule
that lets a registry-only LTI stack deploy, and its IAM: the role's inline policies
and ``PartnerRegistryPolicy``, resolved for the combination, given to a role in moto
with IAM enforcement on (as tests/lti/test_template_lti.py does for LTI alone). An LTI
login and launch whose registration is a registry record succeed with exactly those;
without ``dynamodb:GetItem`` the login is refused. cfn-lint, ``sam validate --lint`` and
checkov evaluate every condition of the whole template in test_template.py / test_checkov.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from pytest_httpserver import HTTPServer

from handler.config import load_config
from handler.container import Container
from handler.http_pool import new_http_pool
from handler.lti.registrations import registry_key
from handler.partner_record import LOOPBACK_BASE_URLS, SECRET_PREFIX
from handler.telemetry import new_telemetry
from infra.local.sam_template import Intrinsics
from tests.conftest import SECRET_ID
from tests.deploy.templates import TEMPLATE_PATH, function_properties, load, rule_accepts, transformed
from tests.lti.conftest import (
    AUTH_URL,
    CLIENT_ID,
    DEPLOYMENT_ID,
    PLATFORM,
    PLATFORM_JWKS_PATH,
    STATE_TABLE,
    Tool,
    lti_env,
    moto_server,
    platform_jwks,
    platform_key,
)
from tests.registry_support import REGISTRY_TABLE, create_registry_table, put_record
from tests.support import API_KEY, FakePartnerApi, SigningKey
from tests.support.least_privilege import (
    act_as,
    actions_of,
    as_moto_evaluates,
    role_credentials,
    statements,
    without_action,
)
from tests.support.moto import ACCOUNT, REGION, MotoProcess

__all__ = ["moto_server", "platform_jwks", "platform_key"]  # fixtures shared with tests/lti

BOTH = {"LtiLaunch": "Enabled", "PartnerRegistry": "Enabled", "ReplayProtection": "Disabled"}
REGISTRATION_SECRET = f"{SECRET_PREFIX}xyz/lms-api-key"  # under its org's folder
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}


# ---- the template -----------------------------------------------------------------------------------
def test_with_both_the_function_gets_the_launch_table_and_the_registry() -> None:
    template = load(TEMPLATE_PATH)
    variables = Intrinsics(
        template,
        {**BOTH, "BiApiKeySecretId": SECRET_ID},
        pseudo=PSEUDO,
        references={
            "LtiStateTable": "launch-states",
            "LtiToolKey.Arn": "arn:key",
            "PartnerRegistryTable": "partners",
        },
    ).resolve(function_properties(template)["Environment"]["Variables"])

    assert variables["PARTNER_REGISTRY_TABLE"] == "partners"
    assert variables["LTI_STATE_TABLE_NAME"] == "launch-states"
    assert variables["LTI_ISSUER"] == ""  # no platform in the parameters: the registry holds them
    assert "LTI_REGISTRY_TABLE_NAME" not in variables  # the registry's own variable is the one read


def _rule_accepts(values: dict[str, str]) -> bool:
    """``LtiLaunchNeedsARegistration`` evaluated as CloudFormation would, parameters at their defaults."""
    return rule_accepts(load(TEMPLATE_PATH), "LtiLaunchNeedsARegistration", values)


PLATFORM_PARAMETERS = {
    "LtiIssuer": PLATFORM,
    "LtiClientId": CLIENT_ID,
    "LtiDeploymentIds": DEPLOYMENT_ID,
    "LtiAuthUrl": AUTH_URL,
    "LtiJwksUrl": "https://lms.example.edu/jwks",
}


@pytest.mark.parametrize(
    ("values", "accepted"),
    [
        ({"LtiLaunch": "Enabled", "PartnerRegistry": "Enabled"}, True),  # platforms in the registry only
        ({"LtiLaunch": "Enabled", "PartnerRegistry": "Enabled", **PLATFORM_PARAMETERS}, True),  # both
        ({"LtiLaunch": "Enabled", **PLATFORM_PARAMETERS}, True),  # one platform, no registry
        ({"LtiLaunch": "Enabled"}, False),  # no platform anywhere
        # Half a platform in the parameters would fail the function's INIT: refused at deploy.
        ({"LtiLaunch": "Enabled", "PartnerRegistry": "Enabled", "LtiIssuer": PLATFORM}, False),
        ({}, True),  # LTI off: nothing asked
    ],
    ids=["registry-only", "both", "parameters-only", "nothing", "half-a-platform", "lti-off"],
)
def test_lti_needs_a_platform_in_the_parameters_or_the_registry(
    values: dict[str, str], accepted: bool
) -> None:
    assert _rule_accepts(values) is accepted


def both_role_policies(launch_table_arn: str, key_arn: str, registry_arn: str) -> list[dict[str, Any]]:
    """The function role's inline policies and the registry's, resolved for the combination."""
    template = transformed()
    intrinsics = Intrinsics(
        template,
        {**BOTH, "BiApiKeySecretId": SECRET_ID},
        pseudo=PSEUDO,
        references={
            "LtiStateTable.Arn": launch_table_arn,
            "LtiToolKey.Arn": key_arn,
            "PartnerRegistryTable.Arn": registry_arn,
        },
    )
    registry = template["Resources"]["PartnerRegistryPolicy"]["Properties"]
    inline: list[dict[str, Any]] = intrinsics.resolve(
        template["Resources"]["SsoFunctionRole"]["Properties"]["Policies"]
    )
    extra = intrinsics.resolve(
        {"PolicyName": registry["PolicyName"], "PolicyDocument": registry["PolicyDocument"]}
    )
    return [*inline, extra]


def test_the_registry_read_is_on_the_whole_table_so_lti_records_are_covered() -> None:
    policies = both_role_policies(
        "arn:launch", "arn:key", "arn:aws:dynamodb:us-east-1:123456789012:table/partners"
    )
    # The registry's read (the launch table has a GetItem of its own: the login of a launch to restart).
    [get_item] = [s for s in statements(policies) if s["Sid"] == "ReadPartnerRecords"]
    assert "dynamodb:GetItem" in actions_of(get_item)

    assert get_item["Resource"] == "arn:aws:dynamodb:us-east-1:123456789012:table/partners"
    # No dynamodb:LeadingKeys (or other) condition: any key, lti|<iss>|<client_id> included.
    assert "Condition" not in get_item


# ---- IAM, evaluated by moto ----------------------------------------------------------------------
@dataclass
class Stage:
    key_id: str
    credentials: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def stage(moto_server: MotoProcess) -> Iterator[Stage]:
    moto = moto_server
    moto.enforce_iam(False)
    secrets = moto.client("secretsmanager")
    for name in (SECRET_ID, REGISTRATION_SECRET):
        secrets.create_secret(Name=name, SecretString=json.dumps({"api_key": API_KEY}))
    dynamodb = moto.client("dynamodb")
    launch_table_arn = dynamodb.create_table(
        TableName=STATE_TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    create_registry_table(dynamodb)
    registry_arn = dynamodb.describe_table(TableName=REGISTRY_TABLE)["Table"]["TableArn"]
    kms = boto3.client(
        "kms",
        region_name=REGION,
        endpoint_url=moto.endpoint,
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    policies = both_role_policies(launch_table_arn, key["Arn"], registry_arn)
    credentials = {
        "exact": role_credentials(moto, "both-exact", as_moto_evaluates(policies)),
        "dynamodb:GetItem": role_credentials(
            moto, "both-without-getitem", as_moto_evaluates(without_action(policies, "dynamodb:GetItem"))
        ),
    }
    moto.enforce_iam(True)
    yield Stage(key["KeyId"], credentials)
    moto.enforce_iam(False)


@pytest.fixture
def registry_tool(
    moto_server: MotoProcess,
    stage: Stage,
    partner_server: HTTPServer,
    jwks_server: HTTPServer,
    partner_api: FakePartnerApi,
    platform_jwks: dict[str, Any],
    platform_key: SigningKey,
    ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """The handler as the combination's entry point wires it, its AWS calls signed with a role."""
    moto_server.enforce_iam(False)
    record = {
        "kind": "lti_platform",
        "iss": PLATFORM,
        "client_id": CLIENT_ID,
        "deployment_ids": [DEPLOYMENT_ID],
        "auth_url": AUTH_URL,
        "jwks_url": jwks_server.url_for(PLATFORM_JWKS_PATH),
        "bi_org": "xyz",
        "bi_base_url": partner_server.url_for("").rstrip("/"),
        "api_key_secret_id": REGISTRATION_SECRET,
    }
    put_record(moto_server.client("dynamodb"), record, key=registry_key(PLATFORM, CLIENT_ID))
    moto_server.enforce_iam(True)
    # No platform in the environment: the registry is the only source (LtiIssuer left empty).
    env = {
        **{
            k: v
            for k, v in lti_env(partner_server, jwks_server, stage.key_id).items()
            if not k.startswith("LTI_")
        },
        "LTI_STATE_TABLE_NAME": STATE_TABLE,
        "LTI_TOOL_KEY_ID": stage.key_id,
        "PARTNER_REGISTRY_TABLE": REGISTRY_TABLE,
        LOOPBACK_BASE_URLS: "true",  # the registration's Partner API is the loopback test server
    }

    def build(role: str) -> Tool:
        credentials = stage.credentials[role]
        act_as(moto_server, credentials, monkeypatch)
        config = load_config(env)
        telemetry = new_telemetry()
        container = Container.build(config, new_http_pool(ca_certs=str(ca_file)), telemetry)
        assert container.registry is not None and container.lti is not None
        return Tool(container.handler(), container.lti, partner_api, platform_key, container)

    return build


def test_a_registry_registrations_launch_with_exactly_the_combinations_policies_succeeds(
    registry_tool: Any, partner_api: FakePartnerApi
) -> None:
    tool: Tool = registry_tool("exact")

    login = tool.login()
    assert login.result["statusCode"] == 302, login.result.get("body")
    launched = tool.launch_from(login)

    assert launched["statusCode"] == 302, launched.get("body")
    assert len(partner_api.calls) == 1


def test_without_getitem_a_registry_registrations_login_is_refused(
    registry_tool: Any, partner_api: FakePartnerApi
) -> None:
    tool: Tool = registry_tool("dynamodb:GetItem")

    result = tool.login().result

    assert result["statusCode"] == 503, result.get("body")
    assert "lti_registration_unavailable" in result["body"]
    assert partner_api.calls == []
