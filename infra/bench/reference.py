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
"""

from __future__ import annotations

import json
import os
import time
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import jwt
import urllib3

BASE_URL = os.environ["BI_BASE_URL"].rstrip("/")
SECRET_ID = os.environ["BI_API_KEY_SECRET_ID"]
ISSUER = os.environ["JWT_ISSUER"]
AUDIENCE = os.environ["JWT_AUDIENCE"]
JWKS_URL = os.environ.get("JWT_JWKS_URL") or ""
REPLAY_TABLE = os.environ.get("REPLAY_TABLE_NAME") or ""
SECRET_TTL_SECONDS = 300

http = urllib3.PoolManager(num_pools=4, maxsize=4, retries=False)
secrets_client = boto3.client("secretsmanager")
dynamodb = boto3.client("dynamodb") if REPLAY_TABLE else None
_keys: dict[str, Any] = {}
_secret: tuple[float, str] | None = None


def api_key() -> str:
    global _secret
    if _secret is None or time.monotonic() - _secret[0] > SECRET_TTL_SECONDS:
        raw = secrets_client.get_secret_value(SecretId=SECRET_ID)["SecretString"]
        value = json.loads(raw)["api_key"] if raw.lstrip().startswith("{") else raw.strip()
        _secret = (time.monotonic(), value)
    return _secret[1]


def discovered_jwks_url() -> str:
    configuration = http.request("GET", f"{ISSUER.rstrip('/')}/.well-known/openid-configuration", timeout=2.0)
    return str(json.loads(configuration.data)["jwks_uri"])


def signing_key(kid: str) -> Any:
    if kid not in _keys:
        url = JWKS_URL or discovered_jwks_url()
        document = json.loads(http.request("GET", url, timeout=2.0).data)
        for jwk in document["keys"]:
            _keys[jwk["kid"]] = jwt.PyJWK(jwk).key
    return _keys[kid]


def answer(status: int, message: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "text/plain"}, "body": message}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = (event.get("queryStringParameters") or {}).get("jwt")
    if not token:
        return answer(400, "no token")
    try:
        kid = jwt.get_unverified_header(token)["kid"]
        claims = jwt.decode(
            token,
            signing_key(kid),
            algorithms=["RS256", "ES256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["iss", "aud", "exp", "iat", "sub"]},
        )
    except (jwt.PyJWTError, KeyError):
        return answer(401, "invalid token")
    if dynamodb is not None:
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
    profile = {
        name: claims[claim]
        for claim, name in (("given_name", "first_name"), ("family_name", "last_name"), ("email", "email"))
        if claim in claims
    }
    response = http.request(
        "POST",
        f"{BASE_URL}/api/users/{claims['sub']}",
        body=json.dumps(profile).encode(),
        headers={"Authorization": api_key(), "Content-Type": "application/json"},
        timeout=5.0,
    )
    if response.status not in (200, 201):
        return answer(502, "partner api error")
    sso_token = json.loads(response.data)["user"]["token"]["token"]
    location = f"{BASE_URL}/sso/login?{urlencode({'token': sso_token}, quote_via=quote, safe='')}"
    return {"statusCode": 302, "headers": {"Location": location}, "body": ""}
