"""Test helpers: API Gateway v2 events, a Lambda context, token minting, a fake Partner API.

The fake Partner API and the JWKS are served by real HTTPS servers on loopback
(pytest-httpserver with a trustme CA); these helpers only describe what they
answer. One module per other need, each the only one of its kind:

- ``isolation``: the process-wide state put back after every test (tests/conftest.py);
- ``clock``: a fake clock for cooldowns, cache ages and retry pauses;
- ``ports``: loopback and free ports;
- ``moto``: moto as a threaded server in the process, or as a process of its own;
- ``least_privilege``: the function's role from the template, in moto, assumed;
- ``observed``: the handler's JSON log lines and EMF metrics, read back.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from werkzeug import Request, Response

from infra.local.lambda_runtime import LambdaContext, new_context
from tests import leakcheck

ISSUER = "https://idp.partner.test"
AUDIENCE = "big-interview-sso"
API_KEY = "935d85189822bf96c28c4fa79d3d8f31"
ROTATED_API_KEY = "0123456789abcdef0123456789abcdef"
leakcheck.register(API_KEY, ROTATED_API_KEY)


def http_event(
    method: str = "GET",
    path: str = "/sso",
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: str | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload v2 event, as AWS sends it."""
    now = time.time()
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": {"host": "sso.example.test", "user-agent": "pytest", **headers},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "sso.example.test",
            "domainPrefix": "sso",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "pytest",
            },
            "requestId": f"req-{uuid.uuid4().hex[:12]}",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if body is not None:
        if base64_body:
            event["body"] = base64.b64encode(body.encode()).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = body
    return event


def form_event(fields: dict[str, str], base64_body: bool = True, **kwargs: Any) -> dict[str, Any]:
    """``POST /sso`` with a form body (base64-encoded by default, as API Gateway sends it)."""
    headers = {"content-type": "application/x-www-form-urlencoded", **kwargs.pop("headers", {})}
    return http_event(
        "POST", "/sso", headers=headers, body=urlencode(fields), base64_body=base64_body, **kwargs
    )


FUNCTION_NAME = "sso-redirector-test"


def lambda_context(remaining_ms: int = 9_000) -> LambdaContext:
    """A Lambda context (the local runtime's own) whose invocation has ``remaining_ms`` left."""
    return new_context(FUNCTION_NAME, 256, remaining_ms / 1000, "us-east-1")


@dataclass
class SigningKey:
    """A partner signing key with its public JWK."""

    kid: str
    alg: str
    private: Any
    jwk: dict[str, Any]

    @staticmethod
    def rsa(kid: str = "rsa-1", alg: str = "RS256") -> SigningKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        return SigningKey(kid, alg, private, {**public, "kid": kid, "alg": alg, "use": "sig"})

    @staticmethod
    def ec(kid: str = "ec-1") -> SigningKey:
        private = ec.generate_private_key(ec.SECP256R1())
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
        return SigningKey(kid, "ES256", private, {**public, "kid": kid, "alg": "ES256", "use": "sig"})


def claims(**overrides: Any) -> dict[str, Any]:
    """A valid claim set for user ``abc123``; ``None`` in overrides removes a claim."""
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "abc123",
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "given_name": "Adelheid",
        "family_name": "Quixotte",
        "email": "adelheid.q@example.edu",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def mint(key: SigningKey, headers: dict[str, Any] | None = None, **claim_overrides: Any) -> str:
    """A signed token; registered as a secret, so the leak check looks for it in logs."""
    payload = claims(**claim_overrides)
    token = jwt.encode(payload, key.private, algorithm=key.alg, headers={"kid": key.kid, **(headers or {})})
    leakcheck.register(token, token.rsplit(".", 1)[1])
    for name in ("email", "given_name", "family_name"):
        if isinstance(payload.get(name), str):
            leakcheck.register(payload[name])
    return token


def sign_raw(key: SigningKey, payload: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    """A token signed over any JSON, even claims PyJWT's encoder would refuse to write."""
    return sign_text(key, json.dumps(payload), headers)


def sign_text(key: SigningKey, payload_json: str, headers: dict[str, Any] | None = None) -> str:
    """A token signed over exactly ``payload_json`` (numbers no JSON encoder writes: 1e999, NaN)."""
    token = jwt.api_jws.PyJWS().encode(
        payload_json.encode(),
        key.private,
        algorithm=key.alg,
        headers={"kid": key.kid, **(headers or {})},
    )
    leakcheck.register(token, token.rsplit(".", 1)[1])
    return token


def user_document(
    token: str, partner_id: str = "abc123", expires_at: str = "2016-05-28T17:16:18.817Z"
) -> dict[str, Any]:
    """The Partner API's documented answer for a user, holding the SSO ``token``."""
    return {
        "user": {
            "partner_id": partner_id,
            "created_at": "2015-01-01T00:00:00.000Z",
            "anonymous": False,
            "token": {"token": token, "expires_at": expires_at},
        }
    }


def create_pk_table(dynamodb: Any, name: str) -> Any:
    """A table keyed on ``pk`` (S), on demand, as template.yaml makes the one-time-link table and
    the LTI tables (states, grade links); returns the client."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb


def fake_aws_environment(patch: pytest.MonkeyPatch) -> None:
    """A region and made-up credentials for moto; no profile, session token or endpoint from the shell."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        patch.delenv(name, raising=False)
    patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@dataclass
class FakePartnerApi:
    """Big Interview's documented ``POST /api/users/{partner_id}``, for pytest-httpserver."""

    api_key: str = API_KEY
    users: set[str] = field(default_factory=set)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: Request) -> Response:
        partner_id = request.path.rsplit("/", 1)[1]
        body = request.get_json(silent=True) or {}
        self.calls.append({"partner_id": partner_id, "headers": dict(request.headers), "json": body})
        if request.headers.get("Authorization") != self.api_key:
            return Response(
                json.dumps({"error": {"type": "unauthorized"}}), 401, content_type="application/json"
            )
        created = partner_id not in self.users
        if created and not all(body.get(f) for f in ("first_name", "last_name", "email")):
            error = {"error": {"type": "validation_error", "message": {"email": ["can't be blank"]}}}
            return Response(json.dumps(error), 422, content_type="application/json")
        self.users.add(partner_id)
        token = secrets.token_hex(32)
        leakcheck.register(token)
        document = user_document(token, partner_id)
        return Response(json.dumps(document), 201 if created else 200, content_type="application/json")
