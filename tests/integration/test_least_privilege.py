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

import copy
import fnmatch
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import boto3
import pytest
import urllib3

from handler.config import load_config
from handler.container import Container
from handler.http_pool import new_http_pool
from handler.telemetry import new_telemetry
from infra.local.sam_template import Intrinsics
from tests.conftest import REPLAY_TABLE, SECRET_ID
from tests.deploy.templates import transformed
from tests.servers import LOOPBACK, free_port
from tests.support import API_KEY, FakePartnerApi, SigningKey, http_event, lambda_context, mint

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Moto:
    endpoint: str

    def client(self, service: Literal["iam", "sts", "secretsmanager", "dynamodb"], **credentials: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id=credentials.get("AccessKeyId", "setup"),
            aws_secret_access_key=credentials.get("SecretAccessKey", "setup"),
            aws_session_token=credentials.get("SessionToken"),
        )

    def enforce_iam(self, enforce: bool) -> None:
        """From the next request on, every call is authenticated and authorized (or not)."""
        count = "0" if enforce else "inf"
        urllib3.request("POST", f"{self.endpoint}/moto-api/reset-auth", body=count.encode(), timeout=5.0)


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    """moto as a server process of its own: its IAM switch is process-wide."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://{LOOPBACK}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib3.request("GET", f"{endpoint}/moto-api/data.json", timeout=1.0)
                break
            except urllib3.exceptions.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        yield Moto(endpoint)
    finally:
        process.terminate()
        process.wait(timeout=10)


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


def statements(policies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def without_action(policies: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    """The policies with ``action`` taken out (a statement left with none is dropped)."""
    trimmed = copy.deepcopy(policies)
    for policy in trimmed:
        kept = []
        for statement in policy["PolicyDocument"]["Statement"]:
            remaining = [a for a in actions_of(statement) if a != action]
            if remaining:
                kept.append({**statement, "Action": remaining})
        policy["PolicyDocument"]["Statement"] = kept
    return [p for p in trimmed if p["PolicyDocument"]["Statement"]]


def as_moto_evaluates(policies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Resources as ``*``: moto checks these services' actions only (module docstring)."""
    evaluated = copy.deepcopy(policies)
    for statement in statements(evaluated):
        statement["Resource"] = "*"
    return evaluated


def role_credentials(moto: Moto, name: str, policies: list[dict[str, Any]]) -> dict[str, str]:
    """A role holding exactly ``policies`` (with the template's trust policy), assumed."""
    iam = moto.client("iam")
    trust = transformed()["Resources"]["SsoFunctionRole"]["Properties"]["AssumeRolePolicyDocument"]
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    for policy in policies:
        iam.put_role_policy(
            RoleName=name,
            PolicyName=policy["PolicyName"],
            PolicyDocument=json.dumps(policy["PolicyDocument"]),
        )
    session = moto.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="lambda")
    return session["Credentials"]  # type: ignore[no-any-return]


@dataclass
class Stage:
    """What the test set up in moto before IAM enforcement was switched on."""

    secret_arn: str
    table_arn: str
    policies: list[dict[str, Any]]
    credentials: dict[str, dict[str, str]]  # role name -> assumed-role credentials


@pytest.fixture(scope="module")
def stage(moto: Moto) -> Iterator[Stage]:
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
    moto: Moto,
    credentials: dict[str, str],
    base_env: dict[str, str],
    ca_file: Path,
    key: SigningKey,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """One sign-in with one-time links on, the handler's AWS calls signed with ``credentials``."""
    for name, value in {
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
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
    moto: Moto,
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
    moto: Moto,
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
