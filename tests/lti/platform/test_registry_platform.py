"""One registry, two kinds of sign-in: a partner's JWT and a real platform's LTI launch, one handler.

The local stack (``make dev LTI=1 PARTNERS=1``) with the handler cold-imported from
its entry point, as Lambda's INIT does: the partner registry (moto) holds one demo
partner (its own development IdP and sandbox org) and the sandbox learning
platform's registration as an ``lti_platform`` record (no ``LTI_*`` variable: the
launch finds it through the registry's reader). PyPI's ``lti1p3platform`` performs
the launch. Each SSO token is checked at the sandbox orgs: accepted at its own,
refused at the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import urllib3

from handler.lti.claims import lti_partner_id
from handler.lti.registrations import registry_key
from infra.local.sandbox_big_interview import SandboxBigInterview
from infra.local.sandbox_lms import CLIENT_ID as LMS_CLIENT_ID
from infra.local.stack import SANDBOX_REGISTRY_TABLE, LocalStack, Ports
from tests import leakcheck
from tests.lti.platform.test_real_platform import ADA, Browser, course_link


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(ports=Ports.ephemeral(), environ={}, lti=True, demo_partners=1) as running:
        yield running


def sso_token(location: str, org: SandboxBigInterview) -> str:
    assert location.startswith(f"{org.url}/sso/login?token="), location
    [token] = parse_qs(urlsplit(location).query)["token"]
    leakcheck.register(token)
    return token


def test_the_platform_is_a_registry_record_not_an_environment_variable(stack: LocalStack) -> None:
    environment = stack.handler_environment
    assert environment["PARTNER_REGISTRY_TABLE"] == SANDBOX_REGISTRY_TABLE
    assert not any(name in environment for name in ("LTI_ISSUER", "LTI_CLIENT_ID", "LTI_REGISTRY_TABLE_NAME"))
    assert stack.lms is not None and stack.secrets_manager is not None
    dynamodb = boto3.client(
        "dynamodb",
        region_name=stack.region,
        endpoint_url=stack.secrets_manager.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    keys = {item["issuer"]["S"] for item in dynamodb.scan(TableName=SANDBOX_REGISTRY_TABLE)["Items"]}
    # moto's backends are per process, not per server: an earlier stack of this test worker
    # may have left its own records in a table of the same name. This stack's are these.
    assert [key for key in keys if stack.lms.issuer in key] == [registry_key(stack.lms.issuer, LMS_CLIENT_ID)]
    assert stack.demo_partners[0].identity_provider.issuer in keys


def test_a_partner_and_a_platform_sign_in_at_their_own_orgs_through_one_handler(stack: LocalStack) -> None:
    assert stack.lms is not None and stack.big_interview is not None
    [demo] = stack.demo_partners
    lms_org, partner_org = stack.big_interview, demo.big_interview

    launched = Browser().launch(course_link(stack, ADA))
    assert launched.status == 302, launched.data[:500]
    student_token = sso_token(launched.headers["Location"], lms_org)
    signed_in = urllib3.request("GET", demo.sign_in_url("campus-user-1"), redirect=False)
    assert signed_in.status == 302, signed_in.data[:500]
    partner_token = sso_token(signed_in.headers["Location"], partner_org)

    # Each SSO token signs its own user in at its own org, and is worth nothing at the other.
    student = lms_org.sign_in(student_token, None)
    assert student is not None and student[1].partner_id == lti_partner_id(stack.lms.issuer, ADA)
    assert student[1].email == "ada.lovelace@student.example.edu"
    partner_user = partner_org.sign_in(partner_token, None)
    assert partner_user is not None and partner_user[1].partner_id == "campus-user-1"
    assert partner_org.sign_in(student_token, None) is None
    assert lms_org.sign_in(partner_token, None) is None
    assert partner_org.user(lti_partner_id(stack.lms.issuer, ADA)) is None
    assert lms_org.user("campus-user-1") is None
