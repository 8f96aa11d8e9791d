"""The LTI parts' edges: failures of DynamoDB and KMS, SnapStart hooks, odd requests, several sources."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from handler.lti.claims import CLAIM
from tests.lti.conftest import TOOL_HOST, Tool
from tests.support import http_event


def page(result: dict[str, Any]) -> str:
    return str(result.get("body") or "")


# ---- the state table ----------------------------------------------------------------------------------
def test_dynamodb_down_refuses_login_and_launch_with_503(tool: Tool) -> None:
    login = tool.login()

    class Down:
        exceptions = boto3.client("dynamodb", region_name="us-east-1").exceptions

        def put_item(self, **_: Any) -> Any:
            raise ConnectionError("down")

        def update_item(self, **_: Any) -> Any:
            raise ConnectionError("down")

    tool.lti.states._client = Down
    assert tool.login().result["statusCode"] == 503
    result = tool.launch_from(login)
    assert result["statusCode"] == 503 and "replay_store_unavailable" in page(result)
    assert tool.partner_api.calls == []


def test_a_retried_use_of_our_own_write_is_the_first_use(tool: Tool) -> None:
    # botocore retries an UpdateItem whose answer was lost: the retry fails its condition on our own claim.
    login = tool.login()
    real = tool.lti.states._client()

    class LostAnswer:
        exceptions = real.exceptions

        def update_item(self, **request: Any) -> Any:
            real.update_item(**request)  # applied...
            return real.update_item(**request)  # ...and the retry finds our own claim

    tool.lti.states._client = LostAnswer
    assert tool.launch_from(login)["statusCode"] == 302


def test_a_retried_issue_of_our_own_state_write_is_the_login(tool: Tool) -> None:
    # The PutItem is applied but its answer is lost (a read timeout): botocore's own retry loop
    # sends it again, and the retry fails its condition on the item the first attempt wrote.
    client = tool.lti.states._client()
    seen: list[int] = []

    def answer_lost(attempts: int, **_: Any) -> int | None:
        seen.append(attempts)
        return 0 if attempts == 1 else None  # "retry now" once, as for a timeout

    client.meta.events.register("needs-retry.dynamodb.PutItem", answer_lost, unique_id="answer-lost")
    try:
        login = tool.login()
    finally:
        client.meta.events.unregister("needs-retry.dynamodb.PutItem", unique_id="answer-lost")
    assert seen == [1, 2]
    assert login.result["statusCode"] == 302, page(login.result)[:300]
    assert tool.launch_from(login)["statusCode"] == 302


# ---- the tool key ---------------------------------------------------------------------------------
def test_jwks_is_503_as_json_when_kms_fails_and_404_without_a_key(make_tool: Callable[..., Tool]) -> None:
    tool = make_tool(
        LTI_TOOL_KEY_ID="arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    )
    result = tool(http_event("GET", "/lti/jwks", headers={"host": TOOL_HOST}))
    assert result["statusCode"] == 503
    assert json.loads(result["body"])["error"]["code"] == "tool_key_unavailable"
    assert make_tool(LTI_TOOL_KEY_ID=None)(http_event("GET", "/lti/jwks"))["statusCode"] == 404


# ---- requests ---------------------------------------------------------------------------------------
def test_a_launch_that_is_not_a_form_is_refused(tool: Tool) -> None:
    event = http_event(
        "POST", "/lti/launch", headers={"host": TOOL_HOST, "content-type": "application/json"}, body="{}"
    )
    result = tool(event)
    assert result["statusCode"] == 400 and tool.partner_api.calls == []


def test_a_form_with_two_different_states_is_refused(tool: Tool) -> None:
    body = urlencode([("id_token", "a.b.c"), ("state", "one"), ("state", "two")])
    headers = {"host": TOOL_HOST, "content-type": "application/x-www-form-urlencoded"}
    result = tool(http_event("POST", "/lti/launch", headers=headers, body=body))
    assert result["statusCode"] == 400 and "given more than once" in page(result)
    login = tool(http_event("POST", "/lti/login", headers=headers, body=body))
    assert login["statusCode"] == 400


def test_a_login_without_a_host_or_with_a_broken_target_is_refused(tool: Tool) -> None:
    assert tool.login(host="").result["statusCode"] == 400
    assert tool.login(target_link_uri="https://[sso.example.test/lti/launch").result["statusCode"] == 400


def test_json_clients_get_lti_refusals_as_json(tool: Tool) -> None:
    event = http_event(
        "GET",
        "/lti/login",
        query={"iss": "https://x.example"},
        headers={"host": TOOL_HOST, "accept": "application/json"},
    )
    result = tool(event)
    assert json.loads(result["body"])["error"]["code"] == "lti_invalid_request"


@pytest.mark.parametrize(
    ("claims", "detail"),
    [
        ({CLAIM["custom"]: ["redirect_to"]}, "custom claim must be an object"),
        ({CLAIM["custom"]: {"redirect_to": 7}}, "redirect_to must be a string"),
        ({CLAIM["target_link_uri"]: None}, "target_link_uri claim is required"),
        ({CLAIM["resource_link"]: {"title": "no id"}}, "resource_link claim with its id"),
        ({CLAIM["version"]: None}, "1.3.0"),
    ],
)
def test_malformed_lti_claims_are_refused_by_name(tool: Tool, claims: dict[str, Any], detail: str) -> None:
    result = tool.launch_from(tool.login(), **claims)
    assert result["statusCode"] == 401 and detail in page(result)
    assert tool.partner_api.calls == []


# ---- set-up -------------------------------------------------------------------------------------------
def test_the_environment_and_the_registry_together_the_environment_first(
    make_tool: Callable[..., Tool],
) -> None:
    tool = make_tool(PARTNER_REGISTRY_TABLE="no-such-table")
    assert (
        tool.launch_from(tool.login())["statusCode"] == 302
    )  # found in the environment: the registry is not read
    unknown = tool.login(client_id="in-the-registry-only")
    # The registry cannot be read: an outage, not "unknown".
    assert unknown.result["statusCode"] == 503
    assert "lti_registration_unavailable" in page(unknown.result)


def test_snapstart_hooks_warm_the_table_client_and_forget_secrets_and_keys(tool: Tool) -> None:
    assert tool.launch_from(tool.login())["statusCode"] == 302
    tool.container.before_snapshot()
    tool.container.after_restore()
    wiring = tool.container.wiring
    assert all(secret._value is None for secret in wiring.secrets.values())
    assert all(keys._sets[next(iter(keys._sets))].fresh_until < 0 for keys in wiring.keys.values())
    assert tool.launch_from(tool.login())["statusCode"] == 302  # and everything is fetched again
