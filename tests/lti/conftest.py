"""The LTI harness: the full handler with LTI launches on, a platform's keys, moto and the Partner API.

The platform's JWKS is served by a real HTTPS server on loopback (the shared
``jwks_server``), the Partner API by the shared fake (``partner_api``, whose
``calls`` are counted at the server), and DynamoDB, Secrets Manager and KMS by
moto. ``Tool.login`` and ``Tool.launch`` drive the two routes as a platform and
a browser would; ``platform_token`` signs an id_token as the platform would.
"""

from __future__ import annotations

import html
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import jwt
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from handler.config import load_config
from handler.container import Container
from handler.http_pool import new_http_pool
from handler.lti.claims import CLAIM, DEEP_LINKING_REQUEST, DEEP_LINKING_SETTINGS, lti_partner_id
from handler.lti.service import Lti
from handler.routes import LambdaHandler
from handler.telemetry import new_telemetry
from tests import leakcheck
from tests.conftest import SECRET_ID
from tests.support import (
    AUDIENCE,
    ISSUER,
    FakePartnerApi,
    SigningKey,
    create_pk_table,
    http_event,
    lambda_context,
)
from tests.support.moto import MotoProcess, moto_process

PLATFORM = "https://lms.example.edu"
CLIENT_ID = "10000000000042"
DEPLOYMENT_ID = "1:8865aa05b4b79b64a91a86042e43af5ea8ae79eb"
AUTH_URL = "https://lms.example.edu/api/lti/authorize_redirect"
PLATFORM_JWKS_PATH = "/platform/jwks.json"
STATE_TABLE = "bi-sso-test-lti-states"
TOOL_HOST = "sso.example.test"
TOOL_ORIGIN = f"https://{TOOL_HOST}"
LAUNCH_URL = f"{TOOL_ORIGIN}/lti/launch"
SUB = "f5c9a6b2-0d3e-4c1f-9a8b-5e2d7c3b1a90"


@pytest.fixture(scope="session")
def platform_key() -> SigningKey:
    return SigningKey.rsa(kid="platform-1")


@pytest.fixture
def platform_jwks(jwks_server: HTTPServer, platform_key: SigningKey) -> dict[str, Any]:
    document = {"keys": [platform_key.jwk]}
    jwks_server.expect_request(PLATFORM_JWKS_PATH).respond_with_json(document)
    return document


@pytest.fixture
def lti_aws(aws: Any) -> Iterator[dict[str, Any]]:
    """moto (inside ``aws``'s mock): the launch table, as template.yaml makes it, and the tool's KMS key."""
    dynamodb = create_pk_table(boto3.client("dynamodb", region_name="us-east-1"), STATE_TABLE)
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    yield {"dynamodb": dynamodb, "kms": kms, "key_id": key_id}


def lti_env(partner_server: HTTPServer, jwks_server: HTTPServer, key_id: str) -> dict[str, str]:
    return {
        "BI_ORG": "xyz",
        "BI_BASE_URL": partner_server.url_for("").rstrip("/"),
        "BI_API_KEY_SECRET_ID": SECRET_ID,
        "JWT_ISSUER": ISSUER,
        "JWT_AUDIENCE": AUDIENCE,
        "JWT_JWKS_URL": jwks_server.url_for("/jwks.json"),
        "LTI_STATE_TABLE_NAME": STATE_TABLE,
        "LTI_ISSUER": PLATFORM,
        "LTI_CLIENT_ID": CLIENT_ID,
        "LTI_DEPLOYMENT_IDS": DEPLOYMENT_ID,
        "LTI_AUTH_URL": AUTH_URL,
        "LTI_JWKS_URL": jwks_server.url_for(PLATFORM_JWKS_PATH),
        "LTI_TOOL_KEY_ID": key_id,
    }


@dataclass
class Login:
    """A login's answer, read as the browser and the platform would."""

    result: dict[str, Any]
    location: str = ""
    request: dict[str, str] = field(default_factory=dict)  # the authentication request's parameters
    cookie: str = ""  # "name=value" of the state cookie
    set_cookie: str = ""  # the whole Set-Cookie line

    @property
    def state(self) -> str:
        return self.request["state"]

    @property
    def nonce(self) -> str:
        return self.request["nonce"]


@dataclass
class Tool:
    """The handler with LTI on, and the requests a platform and a browser make to it."""

    handler: LambdaHandler
    lti: Lti
    partner_api: FakePartnerApi
    platform_key: SigningKey
    container: Container

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.handler(event, lambda_context())  # type: ignore[arg-type]

    def login(self, method: str = "GET", host: str = TOOL_HOST, **overrides: Any) -> Login:
        params = {
            "iss": PLATFORM,
            "login_hint": "student-hint-1",
            "target_link_uri": LAUNCH_URL,
            "lti_message_hint": "resource-link-77",
            "client_id": CLIENT_ID,
            "lti_deployment_id": DEPLOYMENT_ID,
            **overrides,
        }
        params = {k: v for k, v in params.items() if v is not None}
        headers = {"host": host}
        if method == "GET":
            event = http_event("GET", "/lti/login", query=params, headers=headers)
        else:
            headers["content-type"] = "application/x-www-form-urlencoded"
            event = http_event(
                "POST", "/lti/login", headers=headers, body=urlencode(params), base64_body=True
            )
        result = self(event)
        login = Login(result)
        if result["statusCode"] == 302:
            login.location = result["headers"]["Location"]
            login.request = {k: v[0] for k, v in parse_qs(urlsplit(login.location).query).items()}
            login.set_cookie = result["cookies"][0]
            login.cookie = login.set_cookie.split(";", 1)[0]
            leakcheck.register(login.state, login.nonce, login.cookie.split("=", 1)[1])
        return login

    def launch(
        self, id_token: str, state: str, cookie: str | None, host: str = TOOL_HOST, **extra: str
    ) -> dict[str, Any]:
        event = http_event(
            "POST",
            "/lti/launch",
            headers={"host": host, "content-type": "application/x-www-form-urlencoded"},
            body=urlencode({"id_token": id_token, "state": state, **extra}),
            base64_body=True,
        )
        if cookie:
            event["cookies"] = [cookie]
        return self(event)

    def choose(
        self, picker: dict[str, Any], *items: str, grade: bool = False, origin: str = TOOL_ORIGIN
    ) -> dict[str, Any]:
        """Post the picker page's form (its ticket) with ``items`` chosen, from ``origin``'s page."""
        ticket = page_field(picker["body"], "ticket")
        fields = [("ticket", ticket), *(("item", item) for item in items)]
        if grade:
            fields.append(("grade", "on"))
        event = http_event(
            "POST",
            "/lti/deep-link",
            headers={
                "host": TOOL_HOST,
                "content-type": "application/x-www-form-urlencoded",
                "origin": origin,
            },
            body=urlencode(fields),
            base64_body=True,
        )
        return self(event)

    def token(self, issued_nonce: str, *, key: SigningKey | None = None, **overrides: Any) -> str:
        return platform_token(key or self.platform_key, issued_nonce, **overrides)

    def launch_from(self, login: Login, **overrides: Any) -> dict[str, Any]:
        """The platform's answer to ``login``'s authentication request, posted by the same browser."""
        return self.launch(self.token(login.nonce, **overrides), login.state, login.cookie)


def launch_claims(issued_nonce: str, **overrides: Any) -> dict[str, Any]:
    """A valid resource link launch for student ``SUB``; ``None`` in overrides removes a claim."""
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": PLATFORM,
        "aud": CLIENT_ID,
        "azp": CLIENT_ID,
        "sub": SUB,
        "iat": now,
        "exp": now + 300,
        "nonce": issued_nonce,
        CLAIM["message_type"]: "LtiResourceLinkRequest",
        CLAIM["version"]: "1.3.0",
        CLAIM["deployment_id"]: DEPLOYMENT_ID,
        CLAIM["target_link_uri"]: LAUNCH_URL,
        CLAIM["resource_link"]: {"id": "resource-link-77", "title": "Big Interview"},
        CLAIM["roles"]: ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
        "given_name": "Ottoline",
        "family_name": "Brackenbury",
        "email": "o.brackenbury@student.example.edu",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


DEEP_LINK_RETURN_URL = "https://lms.example.edu/courses/7/deep_linking_response"


def deep_linking_request(**settings: Any) -> dict[str, Any]:
    """The claims that turn ``launch_claims`` into an instructor's ``LtiDeepLinkingRequest``."""
    values = {
        "deep_link_return_url": DEEP_LINK_RETURN_URL,
        "accept_types": ["ltiResourceLink"],
        "accept_presentation_document_targets": ["iframe", "window"],
        "accept_multiple": False,
        "auto_create": True,
        "data": "platform-opaque-7",
        **settings,
    }
    return {
        CLAIM["message_type"]: DEEP_LINKING_REQUEST,
        CLAIM["resource_link"]: None,
        CLAIM["roles"]: ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"],
        DEEP_LINKING_SETTINGS: {k: v for k, v in values.items() if v is not None},
    }


def platform_token(
    key: SigningKey, issued_nonce: str, headers: dict[str, Any] | None = None, **overrides: Any
) -> str:
    """An id_token signed as the platform signs it; registered as a secret for the leak check."""
    payload = launch_claims(issued_nonce, **overrides)
    token = jwt.encode(payload, key.private, algorithm=key.alg, headers={"kid": key.kid, **(headers or {})})
    leakcheck.register(token, token.rsplit(".", 1)[1])
    for name in ("email", "given_name", "family_name"):
        if isinstance(payload.get(name), str):
            leakcheck.register(payload[name])
    return token


@pytest.fixture
def make_tool(
    partner_server: HTTPServer,
    jwks_server: HTTPServer,
    partner_api: FakePartnerApi,
    platform_jwks: dict[str, Any],
    platform_key: SigningKey,
    lti_aws: dict[str, Any],
    ca_file: Path,
) -> Callable[..., Tool]:
    """Build the handler from the LTI environment plus overrides (``None`` removes a variable)."""

    def build(**overrides: str | None) -> Tool:
        merged = {**lti_env(partner_server, jwks_server, lti_aws["key_id"]), **overrides}
        env = {k: v for k, v in merged.items() if v is not None}
        config = load_config(env)
        telemetry = new_telemetry()
        container = Container.build(config, new_http_pool(ca_certs=str(ca_file)), telemetry)
        assert container.lti is not None
        return Tool(container.handler(), container.lti, partner_api, platform_key, container)

    return build


@pytest.fixture
def tool(make_tool: Callable[..., Tool]) -> Tool:
    return make_tool()


def page_field(page: str, name: str) -> str:
    """The value of a page's hidden field ``name`` (registered as a secret for the leak check)."""
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"the page has no {name} field"
    value = html.unescape(found.group(1))
    leakcheck.register(value)
    return value


def unique() -> str:
    return uuid.uuid4().hex


# ---- grade passback: the Partner API's tracks, the grade links table ----------------------------------
@dataclass
class Progress:
    """The Partner API's ``GET /api/users/{partner_id}/tracks``: each user's tracks, 404 if unknown."""

    tracks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: int = 0

    def set(self, sub: str, *progress: float, issuer: str = PLATFORM) -> None:
        self.tracks[lti_partner_id(issuer, sub)] = [
            {"title": f"Track {n}", "progress": value, "tracks": []} for n, value in enumerate(progress)
        ]

    def __call__(self, request: Request) -> Response:
        self.calls += 1
        partner_id = request.path.split("/")[3]
        if partner_id not in self.tracks:
            return Response(
                json.dumps({"error": {"type": "not_found"}}), 404, content_type="application/json"
            )
        return Response(json.dumps({"tracks": self.tracks[partner_id]}), 200, content_type="application/json")


@pytest.fixture
def progress(partner_server: HTTPServer) -> Progress:
    fake = Progress()
    tracks = re.compile(r"^/api/users/[^/]+/tracks$")
    partner_server.expect_request(tracks, method="GET").respond_with_handler(fake)
    return fake


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoProcess]:
    """A moto server of the module's own (its least-privilege tests turn IAM enforcement on)."""
    with moto_process() as server:
        yield server
