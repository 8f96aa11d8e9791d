"""template.yaml's grade passback: off by default, and each role's least privilege proven in moto.

The scheduled function's role (``GradeSyncFunctionRole``), resolved for a stack with
``LtiGradePassback=Enabled``, is given to a role in a moto server with IAM enforcement on (as
tests/lti/test_template_lti.py does for the launch): a run with exactly that policy posts the
score to the sandbox LMS; with any one action taken out, the run fails where that action is
needed. The main role gains only ``dynamodb:UpdateItem`` on the grade table, and only then.
"""

from __future__ import annotations

import json
import uuid
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
from handler.lti.claims import AGS_ENDPOINT_CLAIM
from handler.lti.grade_links import SCORE_SCOPE
from handler.lti.grade_sync import build_sync
from handler.lti.grades import RunReport
from handler.lti.tool_key import KmsToolKey
from handler.telemetry import new_telemetry
from infra.local.sam_template import Intrinsics
from infra.local.sandbox_lms import STUDENTS, SandboxLms
from tests.conftest import SECRET_ID
from tests.deploy.templates import TEMPLATE_PATH, load, transformed
from tests.lti.conftest import STATE_TABLE, Progress, Tool, lti_env
from tests.support import API_KEY, FakePartnerApi, SigningKey, create_pk_table
from tests.support.least_privilege import (
    act_as,
    actions_of,
    as_moto_evaluates,
    role_credentials,
    statements,
    without_action,
)
from tests.support.moto import ACCOUNT, REGION, MotoProcess

ADA, GRACE = list(STUDENTS)[:2]
GRADE_ACTIONS = {
    "secretsmanager:GetSecretValue",
    "dynamodb:Scan",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:UpdateItem",
    "kms:Sign",
    "kms:GetPublicKey",
}
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
GRADE_TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/grades"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/tool"


def role_policies(role: str, **parameters: str) -> list[dict[str, Any]]:
    template = transformed()
    intrinsics = Intrinsics(
        template,
        {"BiApiKeySecretId": SECRET_ID, "LtiLaunch": "Enabled", **parameters},
        pseudo=PSEUDO,
        references={
            "LtiStateTable.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/states",
            "ReplayTable.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/replay",
            "LtiGradeTable.Arn": GRADE_TABLE_ARN,
            "LtiToolKey.Arn": KEY_ARN,
            "PartnerRegistryTable.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/registry",
        },
    )
    policies: list[dict[str, Any]] = intrinsics.resolve(template["Resources"][role]["Properties"]["Policies"])
    return policies


def granted(policies: list[dict[str, Any]]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for statement in statements(policies):
        resource = statement["Resource"]
        resources = resource if isinstance(resource, list) else [resource]
        found.update((action, resource) for action in actions_of(statement) for resource in resources)
    return found


# ---- the template ---------------------------------------------------------------------------------
def test_grade_passback_is_off_by_default_and_its_resources_are_conditional() -> None:
    template = load(TEMPLATE_PATH)
    assert template["Parameters"]["LtiGradePassback"]["Default"] == "Disabled"
    for logical_id in (
        "LtiGradeTable",
        "GradeSyncFunction",
        "GradeSyncLogGroup",
        "GradeSyncPlatformsFailingAlarm",
    ):
        assert template["Resources"][logical_id]["Condition"] == "LtiGradePassbackEnabled", logical_id
    condition = template["Conditions"]["LtiGradePassbackEnabled"]
    assert condition["Fn::And"][0] == {"Condition": "LtiLaunchEnabled"}


def test_the_main_role_gains_only_the_launchs_update_item_on_the_grade_table() -> None:
    off = granted(role_policies("SsoFunctionRole"))
    on = granted(role_policies("SsoFunctionRole", LtiGradePassback="Enabled"))

    assert on - off == {("dynamodb:UpdateItem", GRADE_TABLE_ARN)}
    assert not any(GRADE_TABLE_ARN in resource for _, resource in off)


def test_the_grade_role_names_only_its_table_the_tool_key_and_the_orgs_secret() -> None:
    policies = role_policies("GradeSyncFunctionRole", LtiGradePassback="Enabled")
    secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{SECRET_ID}-??????"

    table_actions = ("Scan", "GetItem", "PutItem", "DeleteItem", "UpdateItem")
    assert granted(policies) == {
        ("secretsmanager:GetSecretValue", secret),
        *((f"dynamodb:{action}", GRADE_TABLE_ARN) for action in table_actions),
        ("kms:Sign", KEY_ARN),
        ("kms:GetPublicKey", KEY_ARN),
    }


def test_the_schedule_and_the_alarm_follow_the_parameters() -> None:
    template = load(TEMPLATE_PATH)
    function = template["Resources"]["GradeSyncFunction"]["Properties"]
    assert function["Events"]["Schedule"]["Properties"]["Schedule"] == {
        "Fn::Sub": "rate(${LtiGradeSyncMinutes} minutes)"
    }
    assert function["Handler"] == "handler.lti.grade_sync.lambda_handler"
    alarm = template["Resources"]["GradeSyncPlatformFailingAlarm"]["Properties"]
    dimensions = Intrinsics(template, {"LtiIssuer": "https://canvas.instructure.com"}, pseudo=PSEUDO).resolve(
        alarm["Dimensions"]
    )
    assert alarm["MetricName"] == "GradePlatformFailed"
    assert {d["Name"]: d["Value"] for d in dimensions} == {
        "service": "sso-redirector",
        "platform": "canvas.instructure.com",  # grades.platform_label of that issuer
    }


# ---- least privilege, evaluated by moto's IAM -------------------------------------------------------
@dataclass
class Stage:
    key_id: str
    jwks: dict[str, Any]
    credentials: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def stage(moto_server: MotoProcess) -> Iterator[Stage]:
    moto = moto_server
    moto.enforce_iam(False)
    moto.client("secretsmanager").create_secret(Name=SECRET_ID, SecretString=json.dumps({"api_key": API_KEY}))
    create_pk_table(moto.client("dynamodb"), STATE_TABLE)
    kms = boto3.client(
        "kms",
        region_name=REGION,
        endpoint_url=moto.endpoint,
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    jwks = KmsToolKey(key_id, lambda: kms).jwks()
    credentials = {}
    for role in ("SsoFunctionRole", "GradeSyncFunctionRole"):
        policies = role_policies(role, LtiGradePassback="Enabled")
        credentials[role] = role_credentials(moto, f"exact-{role}", as_moto_evaluates(policies))
    grade = role_policies("GradeSyncFunctionRole", LtiGradePassback="Enabled")
    for action in sorted(GRADE_ACTIONS):
        name = "grade-without-" + action.replace(":", "-")
        credentials[action] = role_credentials(moto, name, as_moto_evaluates(without_action(grade, action)))
    moto.enforce_iam(True)
    yield Stage(key_id, jwks, credentials)
    moto.enforce_iam(False)


@dataclass
class Course:
    moto: MotoProcess
    stage: Stage
    environ: dict[str, str]
    lms: SandboxLms
    ca_file: Path
    monkeypatch: pytest.MonkeyPatch
    partner_api: FakePartnerApi
    platform_key: SigningKey

    def container(self, role: str) -> Container:
        act_as(self.moto, self.stage.credentials[role], self.monkeypatch)
        http = new_http_pool(ca_certs=str(self.ca_file))
        return Container.build(load_config(self.environ), http, new_telemetry())

    def launch(self, sub: str) -> dict[str, Any]:
        container = self.container("SsoFunctionRole")
        assert container.lti is not None
        tool = Tool(container.handler(), container.lti, self.partner_api, self.platform_key, container)
        claim = {"scope": [SCORE_SCOPE], "lineitem": self.lms.lineitem_url()}
        return tool.launch_from(tool.login(), sub=sub, **{AGS_ENDPOINT_CLAIM: claim})

    def run(self, role: str) -> RunReport:
        container = self.container(role)
        return build_sync(self.environ, container).run(lambda: 60_000)


@pytest.fixture
def course(
    moto_server: MotoProcess,
    stage: Stage,
    lms: SandboxLms,
    partner_server: HTTPServer,
    jwks_server: HTTPServer,
    partner_api: FakePartnerApi,
    platform_jwks: dict[str, Any],
    platform_key: SigningKey,
    progress: Progress,
    ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Course:
    table = f"grades-{uuid.uuid4().hex[:12]}"  # each test its own table: a failed run leaves its cursor
    moto_server.enforce_iam(False)
    create_pk_table(moto_server.client("dynamodb"), table)
    moto_server.enforce_iam(True)
    lms.tool_key_set = stage.jwks
    environ = {
        **lti_env(partner_server, jwks_server, stage.key_id),
        "LTI_GRADE_TABLE_NAME": table,
        "LTI_TOKEN_URL": lms.token_url,
    }
    progress.set(ADA, 0.5)
    progress.set(GRACE, 0.5)
    return Course(moto_server, stage, environ, lms, ca_file, monkeypatch, partner_api, platform_key)


def test_a_launch_and_a_run_with_exactly_the_roles_policies_post_the_score(course: Course) -> None:
    assert course.launch(ADA)["statusCode"] == 302

    report = course.run("GradeSyncFunctionRole")

    assert (report.posted, report.complete) == (1, True)
    assert course.lms.gradebook.scores[(course.lms.lineitem_url(), ADA)].given == 50.0


@pytest.mark.parametrize("action", ["secretsmanager:GetSecretValue", "kms:Sign", "kms:GetPublicKey"])
def test_without_the_key_or_the_signature_the_run_posts_nothing_and_fails_the_link(
    course: Course, action: str
) -> None:
    course.launch(ADA)

    report = course.run(action)

    assert (report.posted, report.failed) == (0, 1)
    assert course.lms.gradebook.scores == {}


@pytest.mark.parametrize(
    "action", ["dynamodb:Scan", "dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem"]
)
def test_without_the_tables_actions_the_run_fails(course: Course, action: str) -> None:
    course.launch(ADA)

    with pytest.raises(Exception, match="AccessDenied"):
        course.run(action)


def test_without_put_item_a_run_that_stops_early_cannot_keep_its_place(course: Course) -> None:
    course.launch(ADA)
    course.launch(GRACE)
    course.environ["LTI_GRADE_ITEMS_PER_RUN"] = "1"

    with pytest.raises(Exception, match="AccessDenied"):
        course.run("dynamodb:PutItem")
    assert course.run("GradeSyncFunctionRole").links == 1  # with it, the place is kept


def test_every_grade_action_is_tested(stage: Stage) -> None:
    assert set(stage.credentials) == {"SsoFunctionRole", "GradeSyncFunctionRole"} | GRADE_ACTIONS
