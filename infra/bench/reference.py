"""The bench's baseline: the redirector's job with only boto3, urllib3 and PyJWT.

No Powertools, no framework, no logging, no metrics: read the API key secret with
boto3 (cached, as any sane function would), fetch the JWKS once with urllib3,
verify the token with PyJWT (signature, ``iss``, ``aud``, ``exp``), optionally
record ``(iss, jti)`` with a conditional DynamoDB ``PutItem`` (``REPLAY_TABLE_NAME``,
for a fair comparison with one-time links on), POST to the Partner API with
urllib3 and answer the 302. It is the floor the libraries we must use set: what
the handler costs beyond it is what the handler adds.

It reads the same environment variables as the handler (``BI_BASE_URL``,
``BI_API_KEY_SECRET_ID``, ``JWT_ISSUER``, ``JWT_AUDIENCE``, ``JWT_JWKS_URL``);
without ``JWT_JWKS_URL`` it finds the key set by OIDC discovery, as the handler
does. Every step runs one after another on the first request: the bare,
sequential redirector the cold bench under latency compares against.

The same floor for the other kinds of sign-in, each doing its own round trips in turn:
with ``PARTNER_REGISTRY_TABLE``, a token from another issuer is that record's partner
(one ``GetItem``, then as above with the record's audience, key set, secret and org);
with ``LTI_STATE_TABLE_NAME``, ``/lti/login`` writes the state (one conditional
``PutItem``) and ``/lti/launch`` uses it (one conditional ``UpdateItem``), verifies the
id_token against ``LTI_JWKS_URL`` and signs in at the environment's org.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import boto3
import jwt
import urllib3

BASE_URL = os.environ["BI_BASE_URL"].rstrip("/")
SECRET_ID = os.environ["BI_API_KEY_SECRET_ID"]
ISSUER = os.environ["JWT_ISSUER"]
AUDIENCE = os.environ["JWT_AUDIENCE"]
JWKS_URL = os.environ.get("JWT_JWKS_URL") or ""
REPLAY_TABLE = os.environ.get("REPLAY_TABLE_NAME") or ""
REGISTRY_TABLE = os.environ.get("PARTNER_REGISTRY_TABLE") or ""
LTI_STATE_TABLE = os.environ.get("LTI_STATE_TABLE_NAME") or ""
SECRET_TTL_SECONDS = 300
STATE_SECONDS = 600

http = urllib3.PoolManager(num_pools=4, maxsize=4, retries=False)
secrets_client = boto3.client("secretsmanager")
dynamodb = boto3.client("dynamodb") if REPLAY_TABLE or REGISTRY_TABLE or LTI_STATE_TABLE else None
# A partner: whose tokens (issuer, audience, key set) and where its users go (API key, org).
ENVIRONMENT = {
    "issuer": ISSUER,
    "audience": AUDIENCE,
    "jwks_url": JWKS_URL,
    "secret_id": SECRET_ID,
    "base_url": BASE_URL,
}
_partners: dict[str, dict[str, str]] = {}
_keys: dict[tuple[str, str], Any] = {}
_secrets: dict[str, tuple[float, str]] = {}


def api_key(secret_id: str) -> str:
    cached = _secrets.get(secret_id)
    if cached is None or time.monotonic() - cached[0] > SECRET_TTL_SECONDS:
        raw = secrets_client.get_secret_value(SecretId=secret_id)["SecretString"]
        value = json.loads(raw)["api_key"] if raw.lstrip().startswith("{") else raw.strip()
        cached = _secrets[secret_id] = (time.monotonic(), value)
    return cached[1]


def partner_for(issuer: str) -> dict[str, str]:
    """The environment's partner, or (``PARTNER_REGISTRY_TABLE``) the record under ``issuer``: one GetItem."""
    if not REGISTRY_TABLE or issuer == ISSUER:
        return ENVIRONMENT
    if issuer not in _partners:
        assert dynamodb is not None
        item = dynamodb.get_item(TableName=REGISTRY_TABLE, Key={"issuer": {"S": issuer}})["Item"]
        record = json.loads(item["value"]["S"])
        _partners[issuer] = {
            "issuer": issuer,
            "audience": record["audience"],
            "jwks_url": record.get("jwks_url") or "",
            "secret_id": record["api_key_secret_id"],
            "base_url": record.get("bi_base_url") or BASE_URL,
        }
    return _partners[issuer]


def discovered_jwks_url(issuer: str) -> str:
    configuration = http.request("GET", f"{issuer.rstrip('/')}/.well-known/openid-configuration", timeout=2.0)
    return str(json.loads(configuration.data)["jwks_uri"])


def signing_key(partner: dict[str, str], kid: str) -> Any:
    url = partner["jwks_url"]
    if (partner["issuer"], kid) not in _keys:
        document = json.loads(
            http.request("GET", url or discovered_jwks_url(partner["issuer"]), timeout=2.0).data
        )
        for jwk in document["keys"]:
            _keys[partner["issuer"], jwk["kid"]] = jwt.PyJWK(jwk).key
    return _keys[partner["issuer"], kid]


def answer(status: int, message: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "text/plain"}, "body": message}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    path = event.get("rawPath")
    if LTI_STATE_TABLE and path == "/lti/login":
        return lti_login(event)
    if LTI_STATE_TABLE and path == "/lti/launch":
        return lti_launch(event)
    token = (event.get("queryStringParameters") or {}).get("jwt")
    if not token:
        return answer(400, "no token")
    try:
        partner = partner_for(str(jwt.decode(token, options={"verify_signature": False})["iss"]))
        kid = jwt.get_unverified_header(token)["kid"]
        claims = jwt.decode(
            token,
            signing_key(partner, kid),
            algorithms=["RS256", "ES256"],
            audience=partner["audience"],
            issuer=partner["issuer"],
            options={"require": ["iss", "aud", "exp", "iat", "sub"]},
        )
    except (jwt.PyJWTError, KeyError):
        return answer(401, "invalid token")
    if REPLAY_TABLE:
        assert dynamodb is not None
        try:
            dynamodb.put_item(
                TableName=REPLAY_TABLE,
                Item={
                    "pk": {"S": f"{claims['iss']}#{claims['jti']}"},
                    "expires_at": {"N": str(claims["exp"])},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except dynamodb.exceptions.ConditionalCheckFailedException:
            return answer(409, "link already used")
    return sign_in(partner, claims)


def sign_in(partner: dict[str, str], claims: dict[str, Any]) -> dict[str, Any]:
    """The Partner API's SSO token for the user, and the 302 to Big Interview."""
    profile = {
        name: claims[claim]
        for claim, name in (("given_name", "first_name"), ("family_name", "last_name"), ("email", "email"))
        if claim in claims
    }
    base_url = partner["base_url"]
    response = http.request(
        "POST",
        f"{base_url}/api/users/{quote(claims['sub'], safe='')}",
        body=json.dumps(profile).encode(),
        headers={"Authorization": api_key(partner["secret_id"]), "Content-Type": "application/json"},
        timeout=5.0,
    )
    if response.status not in (200, 201):
        return answer(502, "partner api error")
    sso_token = json.loads(response.data)["user"]["token"]["token"]
    location = f"{base_url}/sso/login?{urlencode({'token': sso_token}, quote_via=quote, safe='')}"
    return {"statusCode": 302, "headers": {"Location": location}, "body": ""}


# ---- LTI 1.3 (LTI_STATE_TABLE_NAME): the login writes the state, the launch uses it -----------------
def lti_login(event: dict[str, Any]) -> dict[str, Any]:
    """One conditional PutItem of the state and nonce, and the authentication request."""
    assert dynamodb is not None
    params = event.get("queryStringParameters") or {}
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    dynamodb.put_item(
        TableName=LTI_STATE_TABLE,
        Item={
            "pk": {"S": f"lti-state#{state}"},
            "nonce": {"S": nonce},
            "expires_at": {"N": str(int(time.time()) + STATE_SECONDS)},
        },
        ConditionExpression="attribute_not_exists(pk)",
    )
    request = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": os.environ["LTI_CLIENT_ID"],
        "redirect_uri": f"https://{event['headers']['host']}/lti/launch",
        "login_hint": params.get("login_hint", ""),
        "lti_message_hint": params.get("lti_message_hint", ""),
        "state": state,
        "nonce": nonce,
    }
    return {
        "statusCode": 302,
        "headers": {"Location": f"{os.environ['LTI_AUTH_URL']}?{urlencode(request)}"},
        "cookies": [f"lti-state={state}; Path=/lti/; Secure; HttpOnly; SameSite=None"],
        "body": "",
    }


def lti_launch(event: dict[str, Any]) -> dict[str, Any]:
    """The state used once (a conditional UpdateItem), the id_token verified, then the sign-in."""
    assert dynamodb is not None
    form = dict(parse_qsl(event.get("body") or ""))
    cookies = dict(cookie.partition("=")[::2] for cookie in event.get("cookies") or [])
    state = form.get("state", "")
    if not state or cookies.get("lti-state") != state:
        return answer(401, "no state cookie")
    try:
        item = dynamodb.update_item(
            TableName=LTI_STATE_TABLE,
            Key={"pk": {"S": f"lti-state#{state}"}},
            UpdateExpression="SET used = :yes",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(used)",
            ExpressionAttributeValues={":yes": {"BOOL": True}},
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return answer(401, "state unknown or used")
    platform = {"issuer": os.environ["LTI_ISSUER"], "jwks_url": os.environ["LTI_JWKS_URL"]}
    try:
        token = form["id_token"]
        claims = jwt.decode(
            token,
            signing_key(platform, jwt.get_unverified_header(token)["kid"]),
            algorithms=["RS256"],
            audience=os.environ["LTI_CLIENT_ID"],
            issuer=platform["issuer"],
            options={"require": ["iss", "aud", "exp", "iat", "sub", "nonce"]},
        )
    except (jwt.PyJWTError, KeyError):
        return answer(401, "invalid id_token")
    if claims["nonce"] != item["nonce"]["S"]:
        return answer(401, "nonce")
    return sign_in(ENVIRONMENT, claims)
