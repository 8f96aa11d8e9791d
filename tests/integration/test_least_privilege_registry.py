"""IAM least privilege in registry mode, against moto's IAM evaluator (as test_least_privilege.py).

With ``PartnerRegistry=Enabled`` the function role holds its inline policies and the
template's ``PartnerRegistryPolicy`` (GetItem on the registry table, GetSecretValue on
``big-interview-sso/*``). A registry partner's sign-in signed with exactly those must
succeed; with any one action taken out it must fail. The secret resource is matched
with IAM's wildcards against the ARNs moto gave a secret under the prefix and one outside.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from handler.config import LOOPBACK_BASE_URLS, load_config
from handler.container import Container
from handler.http_pool import new_http_pool
from handler.partner_record import SECRET_PREFIX
from handler.telemetry import new_telemetry
from infra.local.sam_template import Intrinsics
from tests.conftest import REPLAY_TABLE, SECRET_ID
from tests.deploy.templates import transformed
from tests.integration.test_least_privilege import function_role_policies, moto
from tests.registry_support import REGISTRY_TABLE, create_registry_table, partner_record, put_record
from tests.support import API_KEY, FakePartnerApi, SigningKey, http_event, lambda_context, mint
from tests.support.least_privilege import (
    act_as,
    actions_of,
    as_moto_evaluates,
    role_credentials,
    statements,
    without_action,
)
from tests.support.moto import ACCOUNT, REGION, MotoProcess

__all__ = ["moto"]  # the module-scoped moto server fixture, shared

PARTNER_SECRET = f"{SECRET_PREFIX}campus-a/api-key"
OUTSIDE_SECRET = "other-team/api-key"
ISSUER = "https://idp.campus-a.test"
KEY = SigningKey.rsa(kid="a-1")


def registry_policies(table_arn: str, registry_arn: str) -> list[dict[str, Any]]:
    """The role's inline policies plus the registry's, resolved for PartnerRegistry=Enabled."""
    template = transformed()
    role = template["Resources"]["SsoFunctionRole"]
    registry = template["Resources"]["PartnerRegistryPolicy"]
    assert registry["Type"] == "AWS::IAM::RolePolicy"
    assert registry["Properties"]["RoleName"] == {"Ref": "SsoFunctionRole"}
    assert role["Type"] == "AWS::IAM::Role"
    intrinsics = Intrinsics(
        template,
        {"PartnerRegistry": "Enabled"},
        pseudo={"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT},
        references={"PartnerRegistryTable.Arn": registry_arn},
    )
    extra = intrinsics.resolve(
        {
            "PolicyName": registry["Properties"]["PolicyName"],
            "PolicyDocument": registry["Properties"]["PolicyDocument"],
        }
    )
    return [*function_role_policies(table_arn), extra]


@dataclass
class Stage:
    secret_arns: dict[str, str]
    registry_arn: str
    policies: list[dict[str, Any]]
    credentials: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def stage(moto: MotoProcess) -> Iterator[Stage]:
    moto.enforce_iam(False)
    secrets = moto.client("secretsmanager")
    secret_arns = {
        name: secrets.create_secret(Name=name, SecretString=API_KEY)["ARN"]
        for name in (SECRET_ID + "-registry", PARTNER_SECRET, OUTSIDE_SECRET)
    }
    dynamodb = moto.client("dynamodb")
    table_arn = dynamodb.create_table(
        TableName=REPLAY_TABLE + "-registry",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    create_registry_table(dynamodb)
    registry_arn = dynamodb.describe_table(TableName=REGISTRY_TABLE)["Table"]["TableArn"]
    policies = registry_policies(table_arn, registry_arn)
    credentials = {"exact": role_credentials(moto, "registry-exact", as_moto_evaluates(policies))}
    # GetSecretValue is in two statements (the configured secrets, the prefix): taken out of both.
    for action in sorted({a for statement in statements(policies) for a in actions_of(statement)}):
        if action not in credentials:
            credentials[action] = role_credentials(
                moto,
                "registry-without-" + action.replace(":", "-"),
                as_moto_evaluates(without_action(policies, action)),
            )
    moto.enforce_iam(True)
    yield Stage(secret_arns, registry_arn, policies, credentials)
    moto.enforce_iam(False)


def test_the_registry_policy_reads_the_table_and_secrets_under_the_prefix_only(stage: Stage) -> None:
    [registry] = [p for p in stage.policies if p["PolicyName"] == "partner-registry"]
    by_action = {a: s["Resource"] for s in registry["PolicyDocument"]["Statement"] for a in actions_of(s)}

    assert set(by_action) == {"dynamodb:GetItem", "secretsmanager:GetSecretValue"}
    assert by_action["dynamodb:GetItem"] == stage.registry_arn
    pattern = by_action["secretsmanager:GetSecretValue"]
    assert fnmatch.fnmatchcase(stage.secret_arns[PARTNER_SECRET], pattern)
    assert not fnmatch.fnmatchcase(stage.secret_arns[OUTSIDE_SECRET], pattern)
    lookalike = stage.secret_arns[PARTNER_SECRET].replace(SECRET_PREFIX, SECRET_PREFIX.rstrip("/") + "-x/")
    assert not fnmatch.fnmatchcase(lookalike, pattern)


def registry_sign_in(
    moto: MotoProcess,
    stage: Stage,
    credentials: dict[str, str],
    base_env: dict[str, str],
    ca_file: Path,
    partner_server: HTTPServer,
    jwks_server: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """A registry partner's sign-in (one-time links on), the AWS calls signed with ``credentials``."""
    moto.enforce_iam(False)
    put_record(
        moto.client("dynamodb"),
        partner_record(
            "campus-a",
            ISSUER,
            jwks_url=jwks_server.url_for("/campus-a/jwks.json"),
            bi_base_url=partner_server.url_for("/campus-a").rstrip("/"),
            api_key_secret_id=PARTNER_SECRET,
        ),
    )
    moto.enforce_iam(True)
    act_as(moto, credentials, monkeypatch)
    env = {
        **base_env,
        "BI_API_KEY_SECRET_ID": SECRET_ID + "-registry",
        "REPLAY_TABLE_NAME": REPLAY_TABLE + "-registry",
        "PARTNER_REGISTRY_TABLE": REGISTRY_TABLE,
        LOOPBACK_BASE_URLS: "true",  # the record's Partner API is the loopback test server
    }
    config = load_config(env)
    telemetry = new_telemetry()
    container = Container.build(config, new_http_pool(ca_certs=str(ca_file)), telemetry)
    handler = container.handler()
    token = mint(KEY, iss=ISSUER, aud="campus-a-sso")
    try:
        return handler(http_event(query={"jwt": token}), lambda_context())  # type: ignore[arg-type]
    finally:
        # The partner's first request opened its Partner API connection ahead of the call: one
        # left unused (a refused sign-in) would hold the one-connection-at-a-time test server.
        container.http.clear()


@pytest.fixture
def campus_a(partner_server: HTTPServer, jwks_server: HTTPServer) -> FakePartnerApi:
    api = FakePartnerApi()
    partner_server.expect_request(
        re.compile(r"^/campus-a/api/users/[^/]+$"), method="POST"
    ).respond_with_handler(api)
    jwks_server.expect_request("/campus-a/jwks.json").respond_with_json({"keys": [KEY.jwk]})
    return api


def test_a_registry_sign_in_with_exactly_the_policies_succeeds(
    moto: MotoProcess,
    stage: Stage,
    base_env: dict[str, str],
    ca_file: Path,
    partner_server: HTTPServer,
    jwks_server: HTTPServer,
    campus_a: FakePartnerApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answer = registry_sign_in(
        moto, stage, stage.credentials["exact"], base_env, ca_file, partner_server, jwks_server, monkeypatch
    )

    assert answer["statusCode"] == 302, answer.get("body")
    assert len(campus_a.calls) == 1


@pytest.mark.parametrize(
    ("action", "code"),
    [
        ("dynamodb:GetItem", "partner_unavailable"),
        ("secretsmanager:GetSecretValue", "secret_unavailable"),
        ("dynamodb:PutItem", "replay_store_unavailable"),
    ],
)
def test_a_registry_sign_in_fails_with_any_one_action_removed(
    moto: MotoProcess,
    stage: Stage,
    base_env: dict[str, str],
    ca_file: Path,
    partner_server: HTTPServer,
    jwks_server: HTTPServer,
    campus_a: FakePartnerApi,
    monkeypatch: pytest.MonkeyPatch,
    action: str,
    code: str,
) -> None:
    assert set(stage.credentials) == {
        "exact",
        "secretsmanager:GetSecretValue",
        "dynamodb:PutItem",
        "dynamodb:GetItem",
    }

    answer = registry_sign_in(
        moto, stage, stage.credentials[action], base_env, ca_file, partner_server, jwks_server, monkeypatch
    )

    assert answer["statusCode"] == 503
    assert code in answer["body"]
    assert campus_a.calls == []
