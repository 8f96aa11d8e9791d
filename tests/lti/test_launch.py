"""The LTI 1.3 flow end to end through the handler: login initiation, launch, JWKS, and each check."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import jwt
import pytest
from pytest_httpserver import HTTPServer

from handler.config import LOOPBACK_BASE_URLS
from handler.lti.claims import CLAIM, lti_partner_id
from handler.lti.registrations import registry_key
from handler.telemetry import SERVICE
from tests.lti.conftest import (
    AUTH_URL,
    CLIENT_ID,
    DEPLOYMENT_ID,
    LAUNCH_URL,
    PLATFORM,
    PLATFORM_JWKS_PATH,
    STATE_TABLE,
    SUB,
    Login,
    Tool,
)
from tests.registry_support import create_registry_table, put_record
from tests.support import API_KEY


def _page(result: dict[str, Any]) -> str:
    return str(result.get("body") or "")


def _refused(result: dict[str, Any], tool: Tool, status: int, code: str) -> None:
    assert result["statusCode"] == status, _page(result)[:400]
    assert "Location" not in (result.get("headers") or {})
    assert f"<code>{code}</code>" in _page(result)
    assert tool.partner_api.calls == []


# ---- /lti/login -----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_login_redirects_to_the_platform_with_an_oidc_authentication_request(tool: Tool, method: str) -> None:
    login = tool.login(method)
    assert login.result["statusCode"] == 302
    assert login.location.startswith(AUTH_URL + "?")
    request = login.request
    assert {k: request[k] for k in ("scope", "response_type", "response_mode", "prompt")} == {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
    }
    assert request["client_id"] == CLIENT_ID
    assert request["redirect_uri"] == LAUNCH_URL
    assert request["login_hint"] == "student-hint-1"
    assert request["lti_message_hint"] == "resource-link-77"  # echoed unchanged
    assert len(request["state"]) >= 43 and len(request["nonce"]) >= 43  # 256 random bits each
    assert request["state"] != request["nonce"]


def test_each_login_gets_a_fresh_state_nonce_and_cookie(tool: Tool) -> None:
    first, second = tool.login(), tool.login()
    assert first.state != second.state and first.nonce != second.nonce
    assert first.cookie != second.cookie
    assert first.cookie.split("=")[0] != second.cookie.split("=")[0]  # two tabs do not overwrite each other


def test_the_state_cookie_is_secure_httponly_samesite_none_partitioned_and_short_lived(tool: Tool) -> None:
    attributes = [part.strip() for part in tool.login().set_cookie.split(";")]
    assert {"Secure", "HttpOnly", "SameSite=None", "Partitioned", "Path=/"} <= set(attributes)
    assert "Max-Age=600" in attributes


def test_the_state_cookie_is_host_prefixed_so_no_sibling_subdomain_can_plant_it(tool: Tool) -> None:
    # RFC 6265bis §4.1.3.2: a __Host- cookie is Secure, Path=/ and has no Domain, so the
    # browser keeps it to this exact host: a sibling of a custom domain cannot set one.
    login = tool.login()
    name, attributes = login.cookie.split("=", 1)[0], [part.strip() for part in login.set_cookie.split(";")]
    assert name.startswith("__Host-") and "Path=/" in attributes
    assert not [part for part in attributes if part.lower().startswith("domain=")]


def test_a_state_cookie_without_the_host_prefix_is_not_read(tool: Tool) -> None:
    # What a sibling subdomain could plant (Domain=.example.test): the name without the prefix.
    login = tool.login()
    planted = login.cookie.removeprefix("__Host-")
    assert planted != login.cookie
    result = tool.launch(tool.token(login.nonce), login.state, planted)
    _refused(result, tool, 400, "lti_state_cookie_missing")


def test_the_state_table_holds_digests_and_an_expiry_never_the_values(tool: Tool) -> None:
    login = tool.login()
    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=STATE_TABLE)["Items"]
    assert len(items) == 1
    item = items[0]
    stored = json.dumps(item)
    for value in (login.state, login.nonce, login.cookie.split("=", 1)[1]):
        assert value not in stored
    assert item["pk"]["S"] == "lti-state#" + hashlib.sha256(login.state.encode()).hexdigest()
    assert item["nonce_sha256"]["S"] == hashlib.sha256(login.nonce.encode()).hexdigest()
    assert int(time.time()) + 590 <= int(item["expires_at"]["N"]) <= int(time.time()) + 600


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"iss": "https://other-lms.example.edu"}, "lti_unknown_registration"),
        ({"client_id": "999"}, "lti_unknown_registration"),
        ({"lti_deployment_id": "another-deployment"}, "lti_unknown_deployment"),
        ({"target_link_uri": "https://evil.example/lti/launch"}, "lti_target_link_uri"),
        ({"target_link_uri": "http://sso.example.test/lti/launch"}, "lti_target_link_uri"),
        ({"login_hint": None}, "lti_invalid_request"),
        ({"iss": None}, "lti_invalid_request"),
        ({"target_link_uri": None}, "lti_invalid_request"),
    ],
)
def test_a_login_that_cannot_be_ours_gets_an_error_page_and_no_state(
    tool: Tool, overrides: dict[str, Any], code: str
) -> None:
    login = tool.login(**overrides)
    assert login.result["statusCode"] == 400
    assert f"<code>{code}</code>" in _page(login.result)
    assert not login.result.get("cookies")
    assert boto3.client("dynamodb", region_name="us-east-1").scan(TableName=STATE_TABLE)["Items"] == []


def test_the_unknown_registration_page_names_what_was_sent_for_the_administrator(tool: Tool) -> None:
    page = _page(tool.login(iss="https://other-lms.example.edu").result)
    assert "not registered with Big Interview" in page
    assert "https://other-lms.example.edu" in page and "client_id" in page
    assert "<code>lti_unknown_registration</code> means and how to fix it" in page and "docs/lti.md" in page


def test_a_login_without_client_id_uses_the_one_registration_of_its_issuer(tool: Tool) -> None:
    assert tool.login(client_id=None).result["statusCode"] == 302


# ---- /lti/launch ----------------------------------------------------------------------------------
def test_a_launch_signs_the_student_in_to_big_interview(tool: Tool) -> None:
    login = tool.login()
    result = tool.launch_from(login)
    assert result["statusCode"] == 302, _page(result)[:400]
    location = result["headers"]["Location"]
    query = parse_qs(urlsplit(location).query)
    assert urlsplit(location).path == "/sso/login" and query["token"]
    [call] = tool.partner_api.calls
    assert call["partner_id"] == lti_partner_id(PLATFORM, SUB)
    assert call["json"] == {
        "first_name": "Ottoline",
        "last_name": "Brackenbury",
        "email": "o.brackenbury@student.example.edu",
    }
    # The used state's cookie is cleared.
    assert any(c.startswith(login.cookie.split("=")[0] + "=;") for c in result["cookies"])


def test_the_same_student_always_maps_to_the_same_user_across_launches(tool: Tool) -> None:
    for _ in range(2):
        assert tool.launch_from(tool.login())["statusCode"] == 302
    assert len({call["partner_id"] for call in tool.partner_api.calls}) == 1


def test_a_deep_link_lands_on_the_big_interview_page(tool: Tool) -> None:
    result = tool.launch_from(
        tool.login(), **{CLAIM["custom"]: {"redirect_to": "/members/curriculum?chapter=6"}}
    )
    assert result["statusCode"] == 302
    assert parse_qs(urlsplit(result["headers"]["Location"]).query)["redirect_to"] == [
        "/members/curriculum?chapter=6"
    ]


@pytest.mark.parametrize("redirect_to", ["https://evil.example/", "//evil.example", "/\\evil", "/%2f%2fevil"])
def test_a_deep_link_outside_big_interview_is_refused_with_todays_rules(tool: Tool, redirect_to: str) -> None:
    result = tool.launch_from(tool.login(), **{CLAIM["custom"]: {"redirect_to": redirect_to}})
    _refused(result, tool, 400, "invalid_redirect")


def test_a_top_level_redirect_to_claim_is_not_a_deep_link(tool: Tool) -> None:
    result = tool.launch_from(tool.login(), redirect_to="/members/curriculum")
    assert result["statusCode"] == 302
    assert "redirect_to" not in parse_qs(urlsplit(result["headers"]["Location"]).query)


def test_a_new_student_without_name_and_email_gets_the_privacy_settings_page(tool: Tool) -> None:
    result = tool.launch_from(tool.login(), given_name=None, family_name=None, email=None)
    assert result["statusCode"] == 422
    page = _page(result)
    assert "<code>lti_profile_not_released</code>" in page
    assert "Privacy Level must be Public" in page  # Canvas
    assert "Share launcher&#x27;s email with tool" in page  # Moodle
    assert "given_name, family_name, email" in page
    assert len(tool.partner_api.calls) == 1  # Big Interview was asked and answered 422


@dataclass(frozen=True)
class FromNow:
    """A time claim relative to the moment the test runs (a full suite collects minutes earlier)."""

    seconds: int


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"aud": "another-client"}, 401, "invalid_audience"),
        ({"aud": [CLIENT_ID, "another-client"]}, 401, "lti_claim_invalid"),
        ({"azp": "another-client"}, 401, "lti_claim_invalid"),
        ({"iss": "https://other-lms.example.edu"}, 401, "lti_state_invalid"),
        ({"exp": FromNow(-300), "iat": FromNow(-600)}, 401, "token_expired"),  # beyond the 120 s leeway
        ({"iat": FromNow(-7200), "exp": FromNow(60)}, 401, "token_lifetime_too_long"),
        ({CLAIM["deployment_id"]: "another-deployment"}, 400, "lti_unknown_deployment"),
        ({CLAIM["version"]: "1.1"}, 401, "lti_claim_invalid"),
        ({CLAIM["message_type"]: "LtiDeepLinkingRequest"}, 401, "lti_claim_invalid"),
        ({CLAIM["resource_link"]: None}, 401, "lti_claim_invalid"),
        ({CLAIM["target_link_uri"]: "https://evil.example/lti/launch"}, 400, "lti_target_link_uri"),
        ({"nonce": "a-nonce-we-never-issued"}, 401, "lti_state_invalid"),
        ({"nonce": None}, 401, "lti_claim_invalid"),
        ({"sub": None}, 401, "lti_claim_invalid"),  # docs/lti.md: no sub is an LTI claim error
        ({"sub": "x" * 256}, 401, "lti_claim_invalid"),
    ],
)
def test_each_launch_check_refuses_before_the_partner_api(
    tool: Tool, overrides: dict[str, Any], status: int, code: str
) -> None:
    now = int(time.time())  # when the test runs, not when it was collected
    claims = {name: now + v.seconds if isinstance(v, FromNow) else v for name, v in overrides.items()}
    _refused(tool.launch_from(tool.login(), **claims), tool, status, code)


def test_an_azp_may_be_left_out_with_a_single_audience(tool: Tool) -> None:
    assert tool.launch_from(tool.login(), azp=None, aud=[CLIENT_ID])["statusCode"] == 302


def test_a_255_character_sub_of_any_kind_becomes_a_valid_partner_id(tool: Tool) -> None:
    sub = "é/ü:" + "x" * 251
    assert tool.launch_from(tool.login(), sub=sub)["statusCode"] == 302
    assert tool.partner_api.calls[0]["partner_id"] == lti_partner_id(PLATFORM, sub)


def test_a_platform_whose_iss_is_240_characters_launches(make_tool: Any) -> None:
    # A registration's iss may be 255 characters; the whole iss is compared, not a log's 200.
    issuer = "https://lms.example.edu/tenants/" + "t" * 208
    assert len(issuer) == 240
    tool = make_tool(LTI_ISSUER=issuer)
    result = tool.launch_from(tool.login(iss=issuer), iss=issuer)
    assert result["statusCode"] == 302, _page(result)[:400]
    assert tool.partner_api.calls[0]["partner_id"] == lti_partner_id(issuer, SUB)


def test_a_launch_without_its_state_cookie_says_to_open_a_new_window(tool: Tool) -> None:
    login = tool.login()
    result = tool.launch(tool.token(login.nonce), login.state, cookie=None)
    _refused(result, tool, 400, "lti_state_cookie_missing")
    assert "new window" in _page(result) and "Safari" in _page(result)


def _expire(login: Login) -> None:
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=STATE_TABLE,
        Key={"pk": {"S": "lti-state#" + hashlib.sha256(login.state.encode()).hexdigest()}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )


def test_an_expired_state_is_an_expired_launch(make_tool: Any) -> None:
    tool = make_tool()
    login = tool.login()
    _expire(login)
    _refused(tool.launch_from(login), tool, 401, "lti_launch_expired")


def test_a_launch_after_the_states_lifetime_is_an_expired_launch_though_its_cookie_is_gone(
    tool: Tool,
) -> None:
    # The cookie's Max-Age is the state's lifetime: by then the browser has dropped it.
    login = tool.login()
    _expire(login)
    result = tool.launch(tool.token(login.nonce), login.state, cookie=None)
    _refused(result, tool, 401, "lti_launch_expired")
    assert "Safari" not in _page(result)


def test_reloading_a_finished_launch_is_a_used_state_not_a_missing_cookie(tool: Tool) -> None:
    login = tool.login()
    form_token = tool.token(login.nonce)
    finished = tool.launch(form_token, login.state, login.cookie)
    assert finished["statusCode"] == 302
    assert any(c.startswith(login.cookie.split("=", 1)[0] + "=;") for c in finished["cookies"])  # cleared
    tool.partner_api.calls.clear()
    # The browser's reload posts the same form, without the cleared cookie.
    result = tool.launch(form_token, login.state, cookie=None)
    _refused(result, tool, 401, "lti_state_invalid")
    assert "Safari" not in _page(result) and "already used" in _page(result)


def test_a_state_never_issued_without_a_cookie_is_an_invalid_state(tool: Tool) -> None:
    login = tool.login()
    result = tool.launch(tool.token(login.nonce), "A" * 43, cookie=None)
    _refused(result, tool, 401, "lti_state_invalid")


def test_the_platform_answering_with_an_error_is_a_clear_page(tool: Tool) -> None:
    login = tool.login()
    result = tool.launch("x.y.z", login.state, login.cookie, error="login_required")
    _refused(result, tool, 400, "lti_invalid_request")


# ---- /lti/jwks ------------------------------------------------------------------------------------
def test_jwks_serves_the_kms_public_key_that_verifies_a_kms_signature(tool: Tool) -> None:
    from tests.support import http_event

    result = tool(http_event("GET", "/lti/jwks"))
    assert result["statusCode"] == 200
    [jwk] = json.loads(result["body"])["keys"]
    assert {jwk["kty"], jwk["alg"], jwk["use"]} == {"RSA", "RS256", "sig"}
    assert "d" not in jwk and "p" not in jwk  # public only
    # A signature KMS makes with the private half verifies with the served key.
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.list_keys()["Keys"][0]["KeyId"]
    header = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "kid": jwk["kid"]}).encode()).rstrip(b"=")
    payload = base64.urlsafe_b64encode(b'{"iss":"tool"}').rstrip(b"=")
    signature = kms.sign(
        KeyId=key_id,
        Message=header + b"." + payload,
        MessageType="RAW",
        SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256",
    )["Signature"]
    token = (header + b"." + payload + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()
    assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"]) == {"iss": "tool"}


def test_the_partner_flow_is_unchanged_beside_lti(tool: Tool) -> None:
    from tests.support import http_event

    assert tool(http_event("GET", "/health"))["statusCode"] == 200


REGISTRY = "bi-sso-test-registry"
REGISTRY_SECRET_ID = "big-interview-sso/xyz/api-key"
# The records' Partner API is the loopback test server: the local stack's setting allows it.
LOCAL_STACK = {LOOPBACK_BASE_URLS: "true"}


def _registry_with(records: list[dict[str, Any]], aws: Any) -> None:
    """The partner registry table (template.yaml's shape) holding these LTI registrations."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_registry_table(client, REGISTRY)
    for record in records:
        put_record(client, record, REGISTRY, key=registry_key(record["iss"], record["client_id"]))
    aws.create_secret(Name=REGISTRY_SECRET_ID, SecretString=f'{{"api_key": "{API_KEY}"}}')


def _lti_record(jwks_server: HTTPServer, partner_server: HTTPServer, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "lti_platform",
        "iss": PLATFORM,
        "client_id": CLIENT_ID,
        "deployment_ids": [DEPLOYMENT_ID],
        "auth_url": AUTH_URL,
        "jwks_url": jwks_server.url_for(PLATFORM_JWKS_PATH),
        "bi_org": "xyz",
        "bi_base_url": partner_server.url_for("").rstrip("/"),
        "api_key_secret_id": REGISTRY_SECRET_ID,
        **fields,
    }


def test_a_launch_from_a_platform_registered_in_the_registry_table(
    make_tool: Any, jwks_server: HTTPServer, partner_server: HTTPServer, aws: Any
) -> None:
    _registry_with([_lti_record(jwks_server, partner_server)], aws)
    # No LTI_ISSUER: the registry is the only source.
    tool: Tool = make_tool(LTI_ISSUER=None, PARTNER_REGISTRY_TABLE=REGISTRY, **LOCAL_STACK)
    assert tool.login(client_id=None).result["statusCode"] == 400  # the registry is keyed by client_id
    result = tool.launch_from(tool.login())
    assert result["statusCode"] == 302, _page(result)[:300]
    assert len(tool.partner_api.calls) == 1


def test_a_registration_naming_a_secret_outside_the_prefix_is_refused_alone(
    make_tool: Any,
    jwks_server: HTTPServer,
    partner_server: HTTPServer,
    aws: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    aws.create_secret(Name="other-team/database-password", SecretString=f'{{"api_key": "{API_KEY}"}}')
    outside = _lti_record(
        jwks_server, partner_server, client_id="outside", api_key_secret_id="other-team/database-password"
    )
    _registry_with([_lti_record(jwks_server, partner_server), outside], aws)
    tool: Tool = make_tool(LTI_ISSUER=None, PARTNER_REGISTRY_TABLE=REGISTRY, **LOCAL_STACK)

    refused = tool.login(client_id="outside").result
    signed_in = tool.launch_from(tool.login())

    assert refused["statusCode"] == 503 and "<code>lti_registration_unavailable</code>" in _page(refused)
    [line] = [r for r in _lti_lines(caplog) if r["outcome"] == "refused"]
    assert "api_key_secret_id must name a secret under 'big-interview-sso/xyz/'" in line["detail"]
    assert signed_in["statusCode"] == 302, _page(signed_in)[:300]
    assert len(tool.partner_api.calls) == 1  # the other registration's student only


def test_a_disabled_registration_is_refused_as_unregistered_and_others_go_on(
    make_tool: Any,
    jwks_server: HTTPServer,
    partner_server: HTTPServer,
    aws: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    disabled = _lti_record(jwks_server, partner_server, client_id="disabled", enabled=False)
    _registry_with([_lti_record(jwks_server, partner_server, enabled=True), disabled], aws)
    tool: Tool = make_tool(LTI_ISSUER=None, PARTNER_REGISTRY_TABLE=REGISTRY, **LOCAL_STACK)

    refused = tool.login(client_id="disabled").result
    signed_in = tool.launch_from(tool.login())

    assert refused["statusCode"] == 400 and "<code>lti_unknown_registration</code>" in _page(refused)
    [line] = [r for r in _lti_lines(caplog) if r["outcome"] == "refused"]
    assert "is disabled in the partner registry" in line["detail"]
    assert signed_in["statusCode"] == 302, _page(signed_in)[:300]
    assert len(tool.partner_api.calls) == 1


def _lti_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The LTI login and launch lines, as the Powertools JSON formatter writes them."""
    formatter = logging.getLogger(SERVICE).handlers[0].formatter
    assert formatter is not None
    lines = [json.loads(formatter.format(record)) for record in caplog.records]
    return [line for line in lines if line.get("flow") == "lti"]


def test_lti_error_pages_may_show_inside_the_lms_frame_partner_pages_may_not(tool: Tool) -> None:
    from tests.support import http_event

    lti_page = tool.login(iss="https://other-lms.example.edu").result
    assert "frame-ancestors *" in lti_page["headers"]["Content-Security-Policy"]
    assert "X-Frame-Options" not in lti_page["headers"]
    assert "script-src" not in lti_page["headers"]["Content-Security-Policy"]  # default-src 'none'
    partner_page = tool(http_event("GET", "/sso"))
    assert "frame-ancestors 'none'" in partner_page["headers"]["Content-Security-Policy"]
    assert partner_page["headers"]["X-Frame-Options"] == "DENY"


def test_lti_error_pages_speak_to_the_learning_platforms_administrator(tool: Tool) -> None:
    page = _page(tool.login(iss="https://other-lms.example.edu").result)
    assert "For the learning platform's administrator" in page
    assert "portal's developers" not in page
