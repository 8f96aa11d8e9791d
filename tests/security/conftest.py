"""The attack harness: the full handler with one-time links on, and one refusal check.

Every attack test ends in ``assert_refused(result)``, which asserts all five of:

1. a 4xx status;
2. no ``Location`` header at all (``ERROR_REDIRECT_URL`` is not configured here,
   so any ``Location`` could only point at Big Interview);
3. zero Partner API calls (and no request of any kind to the Big Interview host);
4. zero DynamoDB writes (the replay table is empty);
5. zero requests to any URL named in a token (the attacker's server saw nothing)
   and no JWKS request other than the one configured ``/jwks.json``.

The positive controls in the test files show that the same harness does see a
success (302, one Partner API call, one DynamoDB item), so a refusal is not an
artefact of a broken set-up.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests import leakcheck
from tests.conftest import REPLAY_TABLE, Sso, _https_server
from tests.support import FakePartnerApi, SigningKey

JWKS_PATH = "/jwks.json"
ATTACKER_JWKS_PATH = "/attacker/jwks.json"
ATTACKER_X5U_PATH = "/attacker/cert.pem"
HS256_SECRET_ID = "bi-sso/test/hs256"
# 48 random-looking ASCII characters: a valid (>= 256-bit) HS256 secret for the tests that enable HS256.
HS256_SECRET = "kq3Vf9XwT2mB7cLp0sR4yZ8aH1dG6jN5eU3oI9tQ2vW7xK0b"
leakcheck.register(HS256_SECRET)


@dataclass
class Attacker:
    """The attacker's key and the HTTPS server that would serve it, if anyone asked."""

    server: HTTPServer
    key: SigningKey
    ec_key: SigningKey

    @property
    def jwks_url(self) -> str:
        return self.server.url_for(ATTACKER_JWKS_PATH)

    @property
    def x5u_url(self) -> str:
        return self.server.url_for(ATTACKER_X5U_PATH)


@pytest.fixture(scope="session")
def _attacker_server(server_ssl_context: ssl.SSLContext) -> Iterator[HTTPServer]:
    # Same loopback TLS as the partner's servers: a fetch would succeed, so none must happen.
    yield from _https_server(server_ssl_context)


@pytest.fixture(scope="session")
def attacker_key() -> SigningKey:
    return SigningKey.rsa(kid="attacker-1")


@pytest.fixture(scope="session")
def attacker_ec_key() -> SigningKey:
    return SigningKey.ec(kid="attacker-ec-1")


@pytest.fixture
def attacker(
    _attacker_server: HTTPServer, attacker_key: SigningKey, attacker_ec_key: SigningKey
) -> Iterator[Attacker]:
    """An attacker HTTPS server on loopback serving the attacker's JWKS (and an x5u URL)."""
    _attacker_server.expect_request(ATTACKER_JWKS_PATH).respond_with_json(
        {"keys": [attacker_key.jwk, attacker_ec_key.jwk]}
    )
    _attacker_server.expect_request(ATTACKER_X5U_PATH).respond_with_data("-----BEGIN CERTIFICATE-----")
    yield Attacker(_attacker_server, attacker_key, attacker_ec_key)
    _attacker_server.clear()


@pytest.fixture
def hs256_secret(aws: Any) -> str:
    """A valid HS256 secret in (moto) Secrets Manager, for the tests that switch HS256 on."""
    aws.create_secret(Name=HS256_SECRET_ID, SecretString=HS256_SECRET)
    return HS256_SECRET


@pytest.fixture
def make_secured(
    make_sso: Callable[..., Sso],
    jwks_server: HTTPServer,
    partner_api: FakePartnerApi,
    replay_table: Any,
    attacker: Attacker,
    rsa_key: SigningKey,
    ec_key: SigningKey,
) -> Callable[..., Sso]:
    """The handler with one-time links on; ``jwks`` replaces the partner's JWKS document."""

    def build(jwks: dict[str, Any] | None = None, **env: str | None) -> Sso:
        document = jwks if jwks is not None else {"keys": [rsa_key.jwk, ec_key.jwk]}
        jwks_server.expect_request(JWKS_PATH).respond_with_json(document)
        return make_sso(REPLAY_TABLE_NAME=REPLAY_TABLE, **env)

    return build


@pytest.fixture
def secured(make_secured: Callable[..., Sso]) -> Sso:
    """The default attack target: RS256/ES256, the partner's JWKS, one-time links on."""
    return make_secured()


@pytest.fixture
def secured_hs256(make_secured: Callable[..., Sso], hs256_secret: str) -> Sso:
    """The same, with HS256 also enabled (a 384-bit secret in Secrets Manager)."""
    return make_secured(JWT_ALGORITHMS="RS256,ES256,HS256", JWT_HS256_SECRET_ID=HS256_SECRET_ID)


def replay_items(replay_table: Any) -> list[dict[str, Any]]:
    return list(replay_table.scan(TableName=REPLAY_TABLE)["Items"])


def header_names(result: dict[str, Any]) -> set[str]:
    names = {name.lower() for name in (result.get("headers") or {})}
    names |= {name.lower() for name in (result.get("multiValueHeaders") or {})}
    return names


@pytest.fixture
def assert_refused(
    partner_api: FakePartnerApi,
    partner_server: HTTPServer,
    replay_table: Any,
    attacker: Attacker,
    jwks_server: HTTPServer,
) -> Callable[..., None]:
    """The refusal check every attack test ends with (five parts, and a sixth: a safe answer)."""

    def check(result: dict[str, Any], status: int | None = None, code: str | None = None) -> None:
        # Header names only: a Location could carry an SSO token, which must never be printed.
        shown = {"statusCode": result.get("statusCode"), "headers": sorted(header_names(result))}
        assert 400 <= result["statusCode"] < 500, f"not a 4xx refusal: {json.dumps(shown)[:600]}"
        if status is not None:
            assert result["statusCode"] == status, shown
        if code is not None:
            assert code in (result.get("body") or ""), f"expected error code {code!r}: {shown}"
        assert "location" not in header_names(result), f"a refusal must not redirect: {shown}"
        assert partner_api.calls == [], "the Partner API was called"
        assert [request.path for request, _ in partner_server.log] == [], "Big Interview was contacted"
        assert replay_items(replay_table) == [], "a one-time-link item was written"
        assert [request.url for request, _ in attacker.server.log] == [], (
            "a URL named in the token was fetched"
        )
        stray = {request.path for request, _ in jwks_server.log} - {JWKS_PATH}
        assert stray == set(), f"the JWKS host saw requests beyond {JWKS_PATH}: {stray}"
        # The answer's developer detail (and the whole page) shows no token, key or profile claim.
        leaked = leakcheck.leaks(result.get("body") or "")
        assert leaked == [], f"the answer shows registered secrets: {leaked}"

    return check


@pytest.fixture
def assert_signed_in(
    partner_api: FakePartnerApi, partner_server: HTTPServer, replay_table: Any
) -> Callable[..., None]:
    """The positive control: a 302 to the configured Big Interview host, one call, one item."""

    def check(result: dict[str, Any], expected_items: int = 1) -> None:
        assert result["statusCode"] == 302, result.get("body", "")[:400]
        location = result["headers"]["Location"]
        assert location.startswith(partner_server.url_for("/sso/login?"))
        assert len(partner_api.calls) == 1
        assert len(replay_items(replay_table)) == expected_items

    return check
