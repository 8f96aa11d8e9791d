"""IAM least privilege, proven against an IAM evaluator rather than read off the template.

template.yaml is translated as CloudFormation would (samtranslator); the function role's
inline policies are resolved for a stack with one-time links on, and given to a role in
moto running as a server with IAM enforcement switched on (moto's ``/moto-api/reset-auth``,
the server side of ``INITIAL_NO_AUTH_ACTION_COUNT``). A sign-in signed with that role's
credentials must succeed, every AWS call included; with any one action taken out of the
policy, the same sign-in must fail: the policy holds exactly what a sign-in uses.

moto evaluates the action of a Secrets Manager or DynamoDB call but passes ``*`` as the
resource (and its matcher would take the ``??????`` of a secret ARN pattern for regex),
so the statements go to moto with ``Resource: "*"``; their real resources are matched,
with IAM's ``*``/``?`` wildcards, against the ARNs moto gave the secret and the table.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from handler.config import load_config
from handler.container import Container
from handler.http_pool import new_http_pool
from handler.telemetry import new_telemetry
from infra.local.sam_template import Intrinsics
from tests.conftest import REPLAY_TABLE, SECRET_ID
from tests.deploy.templates import transformed
from tests.support import API_KEY, FakePartnerApi, SigningKey, http_event, lambda_context, mint
from tests.support.least_privilege import (
    act_as,
    actions_of,
    as_moto_evaluates,
    role_credentials,
    statements,
    without_action,
)
from tests.support.moto import ACCOUNT, REGION, MotoProcess, moto_process

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoProcess]:
    """moto as a server process of its own: its IAM switch is process-wide."""
    with moto_process() as server:
        yield server


def function_role_policies(table_arn: str) -> list[dict[str, Any]]:
    """The function role's inline policies, resolved for a stack with one-time links on."""
    template = transformed()
    role = template["Resources"]["SsoFunctionRole"]["Properties"]
    intrinsics = Intrinsics(
        template,
        {"BiApiKeySecretId": SECRET_ID, "JwtHs256SecretId": "", "ReplayProtection": "Enabled"},
        pseudo={"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT},
        references={"ReplayTable.Arn": table_arn},
    )
    policies: list[dict[str, Any]] = intrinsics.resolve(role["Policies"])
    return policies


@dataclass
class Stage:
    """What the test set up in moto before IAM enforcement was switched on."""

    secret_arn: str
    table_arn: str
    policies: list[dict[str, Any]]
    credentials: dict[str, dict[str, str]]  # role name -> assumed-role credentials


@pytest.fixture(scope="module")
def stage(moto: MotoProcess) -> Iterator[Stage]:
    moto.enforce_iam(False)
    secret_arn = moto.client("secretsmanager").create_secret(
        Name=SECRET_ID, SecretString=json.dumps({"api_key": API_KEY})
    )["ARN"]
    table_arn = moto.client("dynamodb").create_table(
        TableName=REPLAY_TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    policies = function_role_policies(table_arn)
    credentials = {"exact": role_credentials(moto, "exact", as_moto_evaluates(policies))}
    for statement in statements(policies):
        for action in actions_of(statement):
            name = "without-" + action.replace(":", "-")
            credentials[action] = role_credentials(
                moto, name, as_moto_evaluates(without_action(policies, action))
            )
    moto.enforce_iam(True)
    yield Stage(secret_arn, table_arn, policies, credentials)
    moto.enforce_iam(False)


def sign_in(
    moto: MotoProcess,
    credentials: dict[str, str],
    base_env: dict[str, str],
    ca_file: Path,
    key: SigningKey,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """One sign-in with one-time links on, the handler's AWS calls signed with ``credentials``."""
    act_as(moto, credentials, monkeypatch)
    config = load_config({**base_env, "REPLAY_TABLE_NAME": REPLAY_TABLE})
    telemetry = new_telemetry()
    container = Container.build(config, new_http_pool(ca_certs=str(ca_file)), telemetry)
    handler = container.handler()
    return handler(http_event(query={"jwt": mint(key)}), lambda_context())  # type: ignore[arg-type]


def test_the_policy_covers_the_configured_secret_and_table_only(stage: Stage) -> None:
    by_action = {a: s["Resource"] for s in statements(stage.policies) for a in actions_of(s)}
    assert set(by_action) == {"secretsmanager:GetSecretValue", "dynamodb:PutItem"}
    secret_resources = by_action["secretsmanager:GetSecretValue"]
    assert [r for r in secret_resources if fnmatch.fnmatchcase(stage.secret_arn, r)] == secret_resources
    other_secret = stage.secret_arn.replace(SECRET_ID, SECRET_ID + "-other")
    assert not any(fnmatch.fnmatchcase(other_secret, r) for r in secret_resources)
    assert by_action["dynamodb:PutItem"] == stage.table_arn


def test_a_sign_in_with_exactly_the_function_policy_succeeds(
    moto: MotoProcess,
    stage: Stage,
    base_env: dict[str, str],
    ca_file: Path,
    rsa_key: SigningKey,
    partner_api: FakePartnerApi,
    jwks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answer = sign_in(moto, stage.credentials["exact"], base_env, ca_file, rsa_key, monkeypatch)

    assert answer["statusCode"] == 302, answer.get("body")
    assert len(partner_api.calls) == 1
    # IAM really is enforced: the same role may not read the secret's metadata.
    with pytest.raises(Exception, match="AccessDenied"):
        moto.client("secretsmanager", **stage.credentials["exact"]).describe_secret(SecretId=SECRET_ID)


@pytest.mark.parametrize(
    ("action", "code"),
    [
        ("secretsmanager:GetSecretValue", "secret_unavailable"),
        ("dynamodb:PutItem", "replay_store_unavailable"),
    ],
)
def test_a_sign_in_fails_with_any_one_action_removed(
    moto: MotoProcess,
    stage: Stage,
    base_env: dict[str, str],
    ca_file: Path,
    rsa_key: SigningKey,
    partner_api: FakePartnerApi,
    jwks: Any,
    monkeypatch: pytest.MonkeyPatch,
    action: str,
    code: str,
) -> None:
    assert set(stage.credentials) == {"exact", "secretsmanager:GetSecretValue", "dynamodb:PutItem"}

    answer = sign_in(moto, stage.credentials[action], base_env, ca_file, rsa_key, monkeypatch)

    assert answer["statusCode"] == 503
    assert code in answer["body"]
