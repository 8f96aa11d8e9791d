"""The function's role as the template writes it, given to a role in moto and assumed.

moto evaluates the action of a Secrets Manager, DynamoDB or KMS call but passes ``*`` as
the resource, so statements go to moto with ``Resource: "*"`` (``as_moto_evaluates``);
the tests match the real resources against the ARNs themselves.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.deploy.templates import transformed
from tests.support.isolation import forget_aws_sessions
from tests.support.moto import REGION, MotoProcess

__all__ = ["act_as", "actions_of", "as_moto_evaluates", "role_credentials", "statements", "without_action"]


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


def role_credentials(moto: MotoProcess, name: str, policies: list[dict[str, Any]]) -> dict[str, str]:
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


def act_as(moto: MotoProcess, credentials: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, AWS calls made in this process go to ``moto`` signed with ``credentials``.

    The sessions that resolved earlier credentials are forgotten: a Lambda container has
    one role for life, a test may take several in turn.
    """
    for name, value in {
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    forget_aws_sessions()
