"""JwksKeySource against a real HTTPS JWKS server on loopback, with a fake clock.

Fetches are counted where they land: in the JWKS server's request log.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import re
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import urllib3
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from handler.errors import KeysUnavailable, UnknownKey
from handler.http_pool import new_http_pool
from handler.keys import (
    HttpFetcher,
    JwksKeySource,
    KeyFetchError,
    cache_max_age,
    check_key_fits,
    has_roca_fingerprint,
)
from handler.telemetry import Telemetry
from tests import leakcheck
from tests.servers import RawServer, http_answer, read_request
from tests.support import SigningKey
from tests.support.clock import FakeClock
from tests.support.ports import free_port

ISSUER = "https://idp.partner.test"


class JwksEndpoint:
    """A JWKS whose document, status and headers a test can change between fetches."""

    def __init__(self, document: Any, status: int = 200) -> None:
        self.document = document
        self.status = status
        self.headers: dict[str, str] = {}

    def __call__(self, request: Request) -> Response:
        body = self.document if isinstance(self.document, str | bytes) else json.dumps(self.document)
        return Response(body, self.status, headers=self.headers, content_type="application/json")


@pytest.fixture
def pool(ca_file: Path) -> urllib3.PoolManager:
    return new_http_pool(ca_certs=str(ca_file))


@pytest.fixture
def endpoint(jwks_server: HTTPServer, rsa_key: SigningKey, ec_key: SigningKey) -> JwksEndpoint:
    served = JwksEndpoint({"keys": [rsa_key.jwk, ec_key.jwk]})
    jwks_server.expect_request("/jwks.json").respond_with_handler(served)
    return served


@pytest.fixture
def source(pool: urllib3.PoolManager, jwks_server: HTTPServer, clock: FakeClock) -> JwksKeySource:
    return JwksKeySource(HttpFetcher(pool), (ISSUER,), jwks_server.url_for("/jwks.json"), clock=clock)


def fetches(server: HTTPServer, path: str = "/jwks.json") -> int:
    return sum(1 for request, _ in server.log if request.path == path)


def signs_and_verifies(key: SigningKey, found: Any) -> bool:
    token = jwt.encode({"sub": "abc123"}, key.private, algorithm=key.alg, headers={"kid": key.kid})
    subject: object = jwt.decode(token, found.key, algorithms=[key.alg])["sub"]
    return subject == "abc123"


# ---- lookup and caching ------------------------------------------------------------------------------
def test_key_is_found_by_kid(source: JwksKeySource, endpoint: JwksEndpoint, rsa_key: SigningKey) -> None:
    found = source.signing_key(ISSUER, "rsa-1", "RS256")

    assert signs_and_verifies(rsa_key, found)


def test_ec_key_is_found_by_kid(source: JwksKeySource, endpoint: JwksEndpoint, ec_key: SigningKey) -> None:
    found = source.signing_key(ISSUER, "ec-1", "ES256")

    assert signs_and_verifies(ec_key, found)


def test_key_object_is_built_once_per_kid_and_alg(source: JwksKeySource, endpoint: JwksEndpoint) -> None:
    first = source.signing_key(ISSUER, "rsa-1", "RS256")

    assert source.signing_key(ISSUER, "rsa-1", "RS256") is first


def test_key_object_is_reused_once_cached(source: JwksKeySource, endpoint: JwksEndpoint) -> None:
    source.signing_key(ISSUER, "rsa-1", "RS256")
    cached = source.signing_key(ISSUER, "rsa-1", "RS256")

    assert source.signing_key(ISSUER, "rsa-1", "RS256") is cached


def test_key_without_alg_gets_one_key_object_per_alg(
    source: JwksKeySource, endpoint: JwksEndpoint, rsa_key: SigningKey
) -> None:
    endpoint.document = {"keys": [without(rsa_key.jwk, "alg")]}

    rs256 = source.signing_key(ISSUER, "rsa-1", "RS256")
    ps256 = source.signing_key(ISSUER, "rsa-1", "PS256")

    assert (rs256.algorithm_name, ps256.algorithm_name) == ("RS256", "PS256")


def test_known_kids_are_served_from_one_fetch_within_the_max_age(
    source: JwksKeySource, endpoint: JwksEndpoint, jwks_server: HTTPServer, clock: FakeClock
) -> None:
    for _ in range(5):
        source.signing_key(ISSUER, "rsa-1", "RS256")
        source.signing_key(ISSUER, "ec-1", "ES256")
        clock.advance(119)  # 5 x 119 s < 600 s, JWKS_MAX_AGE_SECONDS' default

    assert fetches(jwks_server) == 1


def test_unknown_kid_triggers_one_refetch(
    source: JwksKeySource, endpoint: JwksEndpoint, jwks_server: HTTPServer, clock: FakeClock
) -> None:
    source.signing_key(ISSUER, "rsa-1", "RS256")
    clock.advance(31)

    with pytest.raises(UnknownKey):
        source.signing_key(ISSUER, "nobody", "RS256")

    assert fetches(jwks_server) == 2


def test_unknown_kid_triggers_at_most_one_refetch_per_cooldown(
    source: JwksKeySource, endpoint: JwksEndpoint, jwks_server: HTTPServer, clock: FakeClock
) -> None:
    source.signing_key(ISSUER, "rsa-1", "RS256")
    clock.advance(31)

    for n in range(50):
        with pytest.raises(UnknownKey):
            source.signing_key(ISSUER, f"storm-{n}", "RS256")
        clock.advance(0.5)  # 25 s in all: still inside the cooldown

    assert fetches(jwks_server) == 2


def test_unknown_kid_right_after_the_first_load_does_not_refetch(
    source: JwksKeySource, endpoint: JwksEndpoint, jwks_server: HTTPServer, clock: FakeClock
) -> None:
    source.signing_key(ISSUER, "rsa-1", "RS256")
    clock.advance(5)

    with pytest.raises(UnknownKey):
        source.signing_key(ISSUER, "nobody", "RS256")

    assert fetches(jwks_server) == 1


def test_refetch_is_allowed_again_after_the_cooldown(
    source: JwksKeySource, endpoint: JwksEndpoint, jwks_server: HTTPServer, clock: FakeClock
) -> None:
    source.signing_key(ISSUER, "rsa-1", "RS256")
    clock.advance(31)
    with pytest.raises(UnknownKey):
        source.signing_key(ISSUER, "nobody", "RS256")
    clock.advance(31)

    with pytest.raises(UnknownKey):
        source.signing_key(ISSUER, "nobody-either", "RS256")

    assert fetches(jwks_server) == 3


def test_rotated_in_kid_is_accepted_after_one_refetch(
    source: JwksKeySource,
    endpoint: JwksEndpoint,
    jwks_server: HTTPServer,
    clock: FakeClock,
    rsa_key: SigningKey,
) -> None:
    source.signing_key(ISSUER, "rsa-1", "RS256")
    new_key = SigningKey.rsa(kid="rsa-2")
    endpoint.document = {"keys": [rsa_key.jwk, new_key.jwk]}
    clock.advance(31)

    found = source.signing_key(ISSUER, "rsa-2", "RS256")

    assert signs_and_verifies(new_key, found)
    assert fetches(jwks_server) == 2


def test_failed_refetch_keeps_the_old_keys(
    source: JwksKeySource,
    endpoint: JwksEndpoint,
    jwks_server: HTTPServer,
    clock: FakeClock,
    rsa_key: SigningKey,
) -> None:
    source.signing_key(ISSUER, "ec-1", "ES256")
    endpoint.status = 500
    clock.advance(31)
    with pytest.raises(UnknownKey):
        source.signing_key(ISSUER, "nobody", "RS256")  # the refetch, answered 500

    found = source.signing_key(ISSUER, "rsa-1", "RS256")

    assert signs_and_verifies(rsa_key, found)
    assert fetches(jwks_server) == 2


def test_jwks_down_at_cold_start_is_keys_unavailable(source: JwksKeySource, endpoint: JwksEndpoint) -> None:
    endpoint.status = 500

    with pytest.raises(KeysUnavailable):
        source.signing_key(ISSUER, "rsa-1", "RS256")


def test_jwks_down_at_cold_start_is_not_refetched_within_one_second(
    source: JwksKeySource, endpoint: JwksEndpoint, jwks_server: HTTPServer, clock: FakeClock
) -> None:
    endpoint.status = 500
    with pytest.raises(KeysUnavailable):
        source.signing_key(ISSUER, "rsa-1", "RS256")
    endpoint.status = 200
    clock.advance(0.5)

    with pytest.raises(KeysUnavailable) as cooling:
        source.signing_key(ISSUER, "rsa-1", "RS256")

    assert fetches(jwks_server) == 1
    assert cooling.value.detail == "JWKS not loaded yet; retry after cooldown"


def test_jwks_back_up_after_cold_start_outage_works_after_one_second(
    source: JwksKeySource,
    endpoint: JwksEndpoint,
    jwks_server: HTTPServer,
    clock: FakeClock,
    rsa_key: SigningKey,
) -> None:
    endpoint.status = 500
    with pytest.raises(KeysUnavailable):
        source.signing_key(ISSUER, "rsa-1", "RS256")
    endpoint.status = 200
    clock.advance(1.1)

    found = source.signing_key(ISSUER, "rsa-1", "RS256")

    assert signs_and_verifies(rsa_key, found)
    assert fetches(jwks_server) == 2


# ---- what a JWKS answer must be ----------------------------------------------------------------------
def test_redirect_is_not_followed(
    source: JwksKeySource,
    jwks_server: HTTPServer,
    partner_server: HTTPServer,
    rsa_key: SigningKey,
) -> None:
    # The target would serve a perfectly good JWKS, if anyone asked it.
    partner_server.expect_request("/jwks.json").respond_with_json({"keys": [rsa_key.jwk]})
    jwks_server.expect_request("/jwks.json").respond_with_data(
        "", status=302, headers={"Location": partner_server.url_for("/jwks.json")}
    )

    with pytest.raises(KeysUnavailable, match="302"):
        source.signing_key(ISSUER, "rsa-1", "RS256")

    # The redirect's target saw no request for the key set. (Only that path: a slow Partner
    # API answer that an earlier test gave up on can still land in this shared server's log.)
    assert [request.path for request, _ in partner_server.log if request.path == "/jwks.json"] == []


@pytest.mark.parametrize(
    ("size", "refused"), [(64 * 1024, False), (64 * 1024 + 1, True)], ids=["64-kib", "one-byte-more"]
)
def test_a_jwks_of_up_to_64_kib_is_read_and_a_larger_one_refused(
    pool: urllib3.PoolManager, jwks_server: HTTPServer, endpoint: JwksEndpoint, size: int, refused: bool
) -> None:
    document = {"keys": [], "padding": ""}
    document["padding"] = "x" * (size - len(json.dumps(document)))
    endpoint.document = json.dumps(document)
    assert len(endpoint.document) == size
    url = jwks_server.url_for("/jwks.json")

    if refused:
        with pytest.raises(KeyFetchError) as raised:
            HttpFetcher(pool)(url)
        assert str(raised.value) == f"{url}: larger than 65536 bytes"
    else:
        assert HttpFetcher(pool)(url).document == document


def test_a_gzip_encoded_jwks_is_decoded(
    source: JwksKeySource, endpoint: JwksEndpoint, rsa_key: SigningKey
) -> None:
    endpoint.document = gzip.compress(json.dumps({"keys": [rsa_key.jwk]}).encode())
    endpoint.headers = {"Content-Encoding": "gzip"}

    assert signs_and_verifies(rsa_key, source.signing_key(ISSUER, "rsa-1", "RS256"))


def test_an_endless_jwks_is_refused_after_64_kib_without_waiting_for_the_rest(
    pool: urllib3.PoolManager, raw_server: Callable[..., RawServer]
) -> None:
    def handle(conn: socket.socket, index: int, stopping: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n")
        conn.sendall(b"{" + b" " * 70_000)
        stopping.wait(10)  # the other 9.9 MB never come

    url = raw_server(handle).url + "/jwks.json"

    with pytest.raises(KeyFetchError) as raised:
        HttpFetcher(pool)(url)

    assert str(raised.value) == f"{url}: larger than 65536 bytes"


def test_a_jwks_answer_cut_off_midway_names_the_failure(
    pool: urllib3.PoolManager, raw_server: Callable[..., RawServer]
) -> None:
    def handle(conn: socket.socket, index: int, stopping: threading.Event) -> None:
        read_request(conn)
        conn.sendall(
            b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"keys"'
        )
        # and the server closes: the other 993 bytes never come

    url = raw_server(handle).url + "/jwks.json"

    with pytest.raises(KeyFetchError) as raised:
        HttpFetcher(pool)(url)

    assert str(raised.value) == f"{url}: ProtocolError"


def test_the_fetcher_follows_no_redirect_even_on_a_pool_that_would(
    ca_file: Path, jwks_server: HTTPServer, endpoint: JwksEndpoint
) -> None:
    jwks_server.expect_request("/moved.json").respond_with_data(
        "", status=302, headers={"Location": jwks_server.url_for("/jwks.json")}
    )
    following = urllib3.PoolManager(ca_certs=str(ca_file))  # urllib3's default: follows redirects
    url = jwks_server.url_for("/moved.json")

    with pytest.raises(KeyFetchError) as raised:
        HttpFetcher(following)(url)

    assert str(raised.value) == f"{url}: HTTP 302"
    assert fetches(jwks_server) == 0


def test_non_json_jwks_is_refused(source: JwksKeySource, endpoint: JwksEndpoint) -> None:
    endpoint.document = "<html>not a JWKS</html>"

    with pytest.raises(KeysUnavailable, match="not JSON"):
        source.signing_key(ISSUER, "rsa-1", "RS256")


@pytest.mark.parametrize(
    "document", [{"kid": "rsa-1"}, {"keys": "rsa-1"}, ["rsa-1"]], ids=["no-keys", "keys-not-list", "list"]
)
def test_json_without_a_keys_list_is_refused(
    source: JwksKeySource, endpoint: JwksEndpoint, document: Any
) -> None:
    endpoint.document = document

    with pytest.raises(KeysUnavailable) as refused:
        source.signing_key(ISSUER, "rsa-1", "RS256")

    assert refused.value.detail == "the JWKS has no 'keys' list"


def test_jwks_entries_that_are_not_keys_with_a_kid_are_passed_over(
    source: JwksKeySource, endpoint: JwksEndpoint, rsa_key: SigningKey
) -> None:
    endpoint.document = {
        "keys": ["rsa-1", without(rsa_key.jwk, "kid"), {**rsa_key.jwk, "kid": 1}, rsa_key.jwk]
    }

    assert signs_and_verifies(rsa_key, source.signing_key(ISSUER, "rsa-1", "RS256"))


# ---- OIDC discovery -------------------------------------------------------------------------------------
def discovery(jwks_server: HTTPServer, jwks_uri: str) -> str:
    """Serve the discovery document on ``jwks_server``; the issuer is that server's URL."""
    issuer = jwks_server.url_for("").rstrip("/")
    jwks_server.expect_request("/.well-known/openid-configuration").respond_with_json(
        {"issuer": issuer, "jwks_uri": jwks_uri}
    )
    return issuer


def test_discovery_finds_jwks_uri_on_the_issuers_host(
    pool: urllib3.PoolManager,
    jwks_server: HTTPServer,
    endpoint: JwksEndpoint,
    clock: FakeClock,
    rsa_key: SigningKey,
) -> None:
    issuer = discovery(jwks_server, jwks_server.url_for("/jwks.json"))
    source = JwksKeySource(HttpFetcher(pool), (issuer,), None, clock=clock)

    found = source.signing_key(issuer, "rsa-1", "RS256")

    assert signs_and_verifies(rsa_key, found)
    assert fetches(jwks_server, "/.well-known/openid-configuration") == 1


@pytest.mark.parametrize(
    ("issuer_path", "asked"),
    [
        ("", "/.well-known/openid-configuration"),
        ("/", "/.well-known/openid-configuration"),
        ("/realms/SSO-X", "/realms/SSO-X/.well-known/openid-configuration"),
        ("/realms/SSO-X/", "/realms/SSO-X/.well-known/openid-configuration"),
    ],
    ids=["origin", "trailing-slash", "path", "path-trailing-slash"],
)
def test_discovery_asks_the_issuers_well_known_path_once_and_exactly(
    pool: urllib3.PoolManager,
    jwks_server: HTTPServer,
    endpoint: JwksEndpoint,
    clock: FakeClock,
    issuer_path: str,
    asked: str,
) -> None:
    # OIDC Discovery 1.0 section 4: the issuer less any trailing slash, then the well-known path.
    issuer = jwks_server.url_for("").rstrip("/") + issuer_path
    jwks_server.expect_request(asked).respond_with_json(
        {"issuer": issuer, "jwks_uri": jwks_server.url_for("/jwks.json")}
    )
    source = JwksKeySource(HttpFetcher(pool), (issuer,), None, clock=clock)

    source.signing_key(issuer, "rsa-1", "RS256")

    # The path as sent (RAW_URI): the server's parsed path would fold a doubled leading slash away.
    sent = [request.environ["RAW_URI"] for request, _ in jwks_server.log if "well-known" in request.path]
    assert sent == [asked]


def test_discovery_document_that_is_not_a_json_object_is_refused(
    pool: urllib3.PoolManager, jwks_server: HTTPServer, endpoint: JwksEndpoint, clock: FakeClock
) -> None:
    issuer = jwks_server.url_for("").rstrip("/")
    jwks_server.expect_request("/.well-known/openid-configuration").respond_with_json(["jwks_uri"])
    source = JwksKeySource(HttpFetcher(pool), (issuer,), None, clock=clock)

    with pytest.raises(KeysUnavailable) as refused:
        source.signing_key(issuer, "rsa-1", "RS256")

    assert refused.value.detail == f"{issuer}/.well-known/openid-configuration: not a JSON object"


def test_discovery_with_jwks_uri_on_another_host_is_refused(
    pool: urllib3.PoolManager, jwks_server: HTTPServer, endpoint: JwksEndpoint, clock: FakeClock
) -> None:
    # Same server, reachable and trusted as "localhost": only the host name differs from the issuer's.
    issuer = discovery(jwks_server, f"https://localhost:{jwks_server.port}/jwks.json")
    source = JwksKeySource(HttpFetcher(pool), (issuer,), None, clock=clock)

    with pytest.raises(KeysUnavailable, match="not on the issuer's origin"):
        source.signing_key(issuer, "rsa-1", "RS256")

    assert fetches(jwks_server) == 0


def test_discovery_with_jwks_uri_on_another_port_of_the_issuers_host_is_refused(
    pool: urllib3.PoolManager,
    jwks_server: HTTPServer,
    partner_server: HTTPServer,
    clock: FakeClock,
    rsa_key: SigningKey,
) -> None:
    # The whole origin is compared: another port of the issuer's host is another service
    # (here a server on 127.0.0.1 with the same trusted certificate, serving a usable JWKS).
    partner_server.expect_request("/jwks.json").respond_with_json({"keys": [rsa_key.jwk]})
    issuer = discovery(jwks_server, partner_server.url_for("/jwks.json"))
    assert partner_server.port != jwks_server.port and partner_server.host == jwks_server.host
    source = JwksKeySource(HttpFetcher(pool), (issuer,), None, clock=clock)

    with pytest.raises(KeysUnavailable, match="not on the issuer's origin"):
        source.signing_key(issuer, "rsa-1", "RS256")

    assert partner_server.log == []


def test_discovery_with_plain_http_jwks_uri_off_loopback_is_refused(
    pool: urllib3.PoolManager, jwks_server: HTTPServer, endpoint: JwksEndpoint, clock: FakeClock
) -> None:
    issuer = discovery(jwks_server, "http://idp.partner.test/jwks.json")
    source = JwksKeySource(HttpFetcher(pool), (issuer,), None, clock=clock)

    with pytest.raises(KeysUnavailable, match="no usable jwks_uri"):
        source.signing_key(issuer, "rsa-1", "RS256")


# Two issuers discovered on one server (paths /a and /b), each with its own JWKS: A's holds the RSA
# key, B's the EC key.
@pytest.fixture
def two_issuers(jwks_server: HTTPServer, rsa_key: SigningKey, ec_key: SigningKey) -> dict[str, JwksEndpoint]:
    """The issuers' URLs, each with its JWKS endpoint (a test may change what it serves)."""
    base = jwks_server.url_for("").rstrip("/")
    served = {}
    for name, key in (("a", rsa_key), ("b", ec_key)):
        issuer = f"{base}/{name}"
        jwks_server.expect_request(f"/{name}/.well-known/openid-configuration").respond_with_json(
            {"issuer": issuer, "jwks_uri": f"{issuer}/jwks.json"}
        )
        served[issuer] = JwksEndpoint({"keys": [key.jwk]})
        jwks_server.expect_request(f"/{name}/jwks.json").respond_with_handler(served[issuer])
    return served


def test_discovered_issuers_keep_their_own_key_sets(
    pool: urllib3.PoolManager, two_issuers: dict[str, JwksEndpoint], clock: FakeClock, rsa_key: SigningKey
) -> None:
    a, b = two_issuers
    source = JwksKeySource(HttpFetcher(pool), (a, b), None, clock=clock)
    assert signs_and_verifies(rsa_key, source.signing_key(a, "rsa-1", "RS256"))

    with pytest.raises(UnknownKey) as refused:  # A's key does not speak for B
        source.signing_key(b, "rsa-1", "RS256")

    # B's key set was just fetched (without it): no refetch so soon.
    assert refused.value.detail == "kid 'rsa-1' is not in the JWKS (refetch cooling down)"


def test_with_discovery_a_rotated_in_kid_is_found_after_one_refetch(
    pool: urllib3.PoolManager,
    jwks_server: HTTPServer,
    two_issuers: dict[str, JwksEndpoint],
    clock: FakeClock,
    rsa_key: SigningKey,
) -> None:
    a = next(iter(two_issuers))
    source = JwksKeySource(HttpFetcher(pool), tuple(two_issuers), None, clock=clock)
    source.signing_key(a, "rsa-1", "RS256")
    new_key = SigningKey.rsa(kid="rsa-2")
    two_issuers[a].document = {"keys": [rsa_key.jwk, new_key.jwk]}
    clock.advance(31)

    assert signs_and_verifies(new_key, source.signing_key(a, "rsa-2", "RS256"))
    assert fetches(jwks_server, "/a/jwks.json") == 2


def test_issuers_that_share_a_configured_jwks_url_share_one_fetch(
    pool: urllib3.PoolManager, jwks_server: HTTPServer, endpoint: JwksEndpoint, clock: FakeClock
) -> None:
    issuers = (ISSUER, "https://other.partner.test")
    source = JwksKeySource(HttpFetcher(pool), issuers, jwks_server.url_for("/jwks.json"), clock=clock)

    for issuer in issuers:
        source.signing_key(issuer, "rsa-1", "RS256")

    assert fetches(jwks_server) == 1


# ---- keys that must not verify the token's alg --------------------------------------------------------
def p384_jwk() -> dict[str, Any]:
    public = ec.generate_private_key(ec.SECP384R1()).public_key()
    jwk: dict[str, Any] = jwt.algorithms.ECAlgorithm.to_jwk(public, as_dict=True)
    return jwk


def hmac_jwk() -> dict[str, Any]:
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    leakcheck.register(secret)
    return {"kty": "oct", "k": secret}


def without(jwk: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in jwk.items() if k not in names}


def x25519_jwk() -> dict[str, Any]:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    jwk: dict[str, Any] = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(public))
    return {**jwk, "crv": "X25519"}  # a key-agreement curve, never a signing one


# name: (a JWK made from the RSA JWK, the token's alg, the refusal's exact detail)
UNFIT: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str, str]] = {
    "alg-mismatch": (
        lambda rsa: {**rsa, "alg": "RS512"},
        "RS256",
        "the key's alg is 'RS512', the token's is 'RS256'",
    ),
    "use-enc": (lambda rsa: {**rsa, "use": "enc"}, "RS256", "the key's use is 'enc', not 'sig'"),
    "key-ops-without-verify": (
        lambda rsa: {**without(rsa, "use"), "key_ops": ["encrypt"]},
        "RS256",
        "the key's key_ops do not include 'verify'",
    ),
    "key-ops-not-a-list": (
        lambda rsa: {**without(rsa, "use"), "key_ops": "verify"},
        "RS256",
        "the key's key_ops do not include 'verify'",
    ),
    "rsa-key-for-es256": (
        lambda rsa: without(rsa, "alg"),
        "ES256",
        "ES256 needs an EC P-256 key, found RSA/None",
    ),
    "p384-key-for-es256": (
        lambda rsa: {**p384_jwk(), "alg": "ES256"},
        "ES256",
        "ES256 needs an EC P-256 key, found EC/P-384",
    ),
    "ec-key-for-rs256": (
        lambda rsa: p384_jwk(),
        "RS256",
        "RS256 cannot be verified with a 'EC' key from a JWKS",
    ),
    "oct-key-for-hs256": (
        lambda rsa: {**hmac_jwk(), "alg": "HS256"},
        "HS256",
        "HS256 cannot be verified with a 'oct' key from a JWKS",
    ),
    "x25519-key-for-eddsa": (
        lambda rsa: x25519_jwk(),
        "EdDSA",
        "EdDSA needs one of ('Ed25519',), found 'X25519'",
    ),
    "rsa-without-n": (lambda rsa: without(rsa, "n"), "RS256", "the RSA key has no modulus 'n'"),
    # One character cannot be base64url (it holds 6 of a byte's 8 bits).
    "rsa-n-not-base64url": (lambda rsa: {**rsa, "n": "A"}, "RS256", "the RSA key's modulus is not base64url"),
}


@pytest.mark.parametrize("case", list(UNFIT), ids=list(UNFIT))
def test_unfit_key_from_the_jwks_is_unknown_key(
    source: JwksKeySource, endpoint: JwksEndpoint, rsa_key: SigningKey, case: str
) -> None:
    build, alg, says = UNFIT[case]
    endpoint.document = {"keys": [{**build(rsa_key.jwk), "kid": "unfit"}]}

    with pytest.raises(UnknownKey) as refused:
        source.signing_key(ISSUER, "unfit", alg)

    assert refused.value.detail == says


def test_a_key_that_fits_but_cannot_be_built_is_refused_with_the_reason(
    source: JwksKeySource, endpoint: JwksEndpoint, rsa_key: SigningKey
) -> None:
    endpoint.document = {"keys": [without(rsa_key.jwk, "e")]}

    with pytest.raises(UnknownKey) as refused:
        source.signing_key(ISSUER, "rsa-1", "RS256")

    assert refused.value.detail == "kid 'rsa-1' is not a usable RS256 key: Not a public or private key"


def test_ed25519_key_is_found_for_eddsa(source: JwksKeySource, endpoint: JwksEndpoint) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    public = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key()))
    endpoint.document = {"keys": [{**public, "kid": "ed-1", "use": "sig", "key_ops": ["verify"]}]}
    key = SigningKey("ed-1", "EdDSA", private, public)

    assert signs_and_verifies(key, source.signing_key(ISSUER, "ed-1", "EdDSA"))


WEAK_KEY_DETAIL = "the JWKS key is too weak to be trusted (the operator's log says why): publish a new key"


# The three sizes encode their modulus in 171, 172 and 174 base64url characters: each
# way the padding can be missing (one "=", none, two "==") is restored and read right.
@pytest.mark.parametrize("bits", [1024, 1032, 1040])
def test_rsa_key_under_2048_bits_is_refused_whatever_else_fits_and_the_log_says_its_size(bits: int) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key())), "kid": "small"}

    with pytest.raises(UnknownKey) as refused:
        check_key_fits(jwk, "RS256")

    # The operator's log says why; the answer's detail says only that the key is too weak.
    assert refused.value.log_detail == f"the RSA key has {bits} bits; at least 2048 are required"
    assert refused.value.detail == WEAK_KEY_DETAIL


def roca_vector_jwk() -> dict[str, Any]:
    """Wycheproof's RSA key (2049 bits) from the generator with the ROCA flaw."""
    vectors = json.loads(
        (Path(__file__).parents[1] / "security" / "wycheproof" / "json_web_key_test.json").read_text()
    )
    roca = next(g for g in vectors["testGroups"] if g["comment"] == "jws_rsa_roca_key")["private"]
    jwk: dict[str, Any] = roca["keys"][0] if "keys" in roca else roca
    return jwk


def test_rsa_key_with_the_roca_flaw_is_refused_and_only_the_log_says_why() -> None:
    public = {k: v for k, v in roca_vector_jwk().items() if k in ("kty", "use", "alg", "n", "e", "kid")}

    with pytest.raises(UnknownKey) as refused:
        check_key_fits(public, "RS256")

    assert (
        refused.value.log_detail == "the RSA key was made by a generator with the ROCA flaw (CVE-2017-15361)"
    )
    assert refused.value.detail == WEAK_KEY_DETAIL


def test_roca_test_flags_a_vulnerable_modulus_and_passes_a_sound_one() -> None:
    roca_key = roca_vector_jwk()
    sound = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(SigningKey.rsa().private.public_key()))

    def modulus(jwk: dict[str, Any]) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(jwk["n"] + "=" * (-len(jwk["n"]) % 4)), "big")

    assert has_roca_fingerprint(modulus(roca_key))
    assert not has_roca_fingerprint(modulus(sound))


def test_discovery_document_whose_issuer_is_not_the_configured_one_is_refused(
    pool: urllib3.PoolManager, jwks_server: HTTPServer, endpoint: JwksEndpoint, clock: FakeClock
) -> None:
    # OIDC Discovery 1.0 section 4.3: the document's issuer must be identical to the issuer asked.
    issuer = jwks_server.url_for("").rstrip("/")
    jwks_server.expect_request("/.well-known/openid-configuration").respond_with_json(
        {"issuer": "https://idp.attacker.test", "jwks_uri": jwks_server.url_for("/jwks.json")}
    )
    source = JwksKeySource(HttpFetcher(pool), (issuer,), None, clock=clock)

    with pytest.raises(KeysUnavailable, match=r"issuer 'https://idp\.attacker\.test' is not"):
        source.signing_key(issuer, "rsa-1", "RS256")

    assert fetches(jwks_server) == 0


def test_a_long_foreign_issuer_is_shown_cut_to_200_characters(
    pool: urllib3.PoolManager, jwks_server: HTTPServer, endpoint: JwksEndpoint, clock: FakeClock
) -> None:
    issuer = jwks_server.url_for("").rstrip("/")
    foreign = "https://idp.attacker.test/" + "a" * 300
    jwks_server.expect_request("/.well-known/openid-configuration").respond_with_json(
        {"issuer": foreign, "jwks_uri": jwks_server.url_for("/jwks.json")}
    )
    source = JwksKeySource(HttpFetcher(pool), (issuer,), None, clock=clock)

    with pytest.raises(KeysUnavailable) as refused:
        source.signing_key(issuer, "rsa-1", "RS256")

    shown = "https://idp.attacker.test/" + "a" * 174  # 200 characters
    assert refused.value.detail == (
        f"{issuer}/.well-known/openid-configuration: the document's issuer {shown!r} is not {issuer!r}"
    )


@pytest.mark.parametrize(
    "spelling", ["{issuer}/", "{ISSUER}", None, 42], ids=["slash", "case", "absent", "number"]
)
def test_discovery_issuer_must_be_identical_not_similar(
    pool: urllib3.PoolManager,
    jwks_server: HTTPServer,
    endpoint: JwksEndpoint,
    clock: FakeClock,
    spelling: Any,
) -> None:
    issuer = jwks_server.url_for("").rstrip("/")
    document: dict[str, Any] = {"jwks_uri": jwks_server.url_for("/jwks.json")}
    if isinstance(spelling, str):
        document["issuer"] = spelling.format(issuer=issuer, ISSUER=issuer.upper())
    elif spelling is not None:
        document["issuer"] = spelling
    jwks_server.expect_request("/.well-known/openid-configuration").respond_with_json(document)
    source = JwksKeySource(HttpFetcher(pool), (issuer,), None, clock=clock)

    with pytest.raises(KeysUnavailable, match="issuer"):
        source.signing_key(issuer, "rsa-1", "RS256")


# ---- two keys under one kid (RFC 7517 section 4.5) ---------------------------------------------------------
@pytest.mark.parametrize("order", ["rsa-first", "ec-first"])
def test_two_keys_under_one_kid_are_told_apart_by_the_tokens_alg(
    source: JwksKeySource, endpoint: JwksEndpoint, order: str
) -> None:
    rsa_key, ec_key = SigningKey.rsa(kid="shared"), SigningKey.ec(kid="shared")
    keys = [rsa_key.jwk, ec_key.jwk]
    endpoint.document = {"keys": keys if order == "rsa-first" else keys[::-1]}

    assert signs_and_verifies(rsa_key, source.signing_key(ISSUER, "shared", "RS256"))
    assert signs_and_verifies(ec_key, source.signing_key(ISSUER, "shared", "ES256"))
    with pytest.raises(UnknownKey):  # neither key fits a third algorithm
        source.signing_key(ISSUER, "shared", "ES384")


def test_when_no_key_under_a_kid_fits_the_refusal_gives_each_keys_reason(
    source: JwksKeySource, endpoint: JwksEndpoint, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    endpoint.document = {"keys": [{**rsa_key.jwk, "kid": "shared"}, {**ec_key.jwk, "kid": "shared"}]}

    with pytest.raises(UnknownKey) as refused:
        source.signing_key(ISSUER, "shared", "ES384")

    assert refused.value.detail == (
        "none of the 2 keys under kid 'shared' fits ES384: "
        "the key's alg is 'RS256', the token's is 'ES384'; the key's alg is 'ES256', the token's is 'ES384'"
    )


def test_two_rsa_keys_under_one_kid_are_told_apart_by_their_alg(
    source: JwksKeySource, endpoint: JwksEndpoint
) -> None:
    rs256, ps256 = SigningKey.rsa(kid="shared"), SigningKey.rsa(kid="shared", alg="PS256")
    endpoint.document = {"keys": [rs256.jwk, ps256.jwk]}

    assert signs_and_verifies(rs256, source.signing_key(ISSUER, "shared", "RS256"))
    assert signs_and_verifies(ps256, source.signing_key(ISSUER, "shared", "PS256"))


# ---- key expiry (JWKS_MAX_AGE_SECONDS, Cache-Control, JWKS_STALE_SECONDS, SnapStart) ------------------
def remove_rsa_key(endpoint: JwksEndpoint, ec_key: SigningKey) -> None:
    """The partner removes its (leaked) RSA key from the JWKS."""
    endpoint.document = {"keys": [ec_key.jwk]}


def test_a_removed_key_is_accepted_until_the_max_age_and_refused_from_then_on(
    source: JwksKeySource,
    endpoint: JwksEndpoint,
    jwks_server: HTTPServer,
    clock: FakeClock,
    ec_key: SigningKey,
) -> None:
    source.signing_key(ISSUER, "rsa-1", "RS256")
    remove_rsa_key(endpoint, ec_key)

    clock.advance(599.9)
    source.signing_key(ISSUER, "rsa-1", "RS256")  # not yet: the key set is 599.9 s old
    assert fetches(jwks_server) == 1
    clock.advance(0.1)
    with pytest.raises(UnknownKey):  # 600 s: the first request refetches, and the key is gone
        source.signing_key(ISSUER, "rsa-1", "RS256")
    assert fetches(jwks_server) == 2


def test_max_age_is_configurable(
    pool: urllib3.PoolManager,
    jwks_server: HTTPServer,
    endpoint: JwksEndpoint,
    clock: FakeClock,
    ec_key: SigningKey,
) -> None:
    url = jwks_server.url_for("/jwks.json")
    source = JwksKeySource(HttpFetcher(pool), (ISSUER,), url, clock=clock, max_age_seconds=90)
    source.signing_key(ISSUER, "rsa-1", "RS256")
    remove_rsa_key(endpoint, ec_key)

    clock.advance(89)
    source.signing_key(ISSUER, "rsa-1", "RS256")
    clock.advance(1)
    with pytest.raises(UnknownKey):
        source.signing_key(ISSUER, "rsa-1", "RS256")


@pytest.mark.parametrize(
    ("cache_control", "max_age"),
    [
        ("public, max-age=120", 120),  # shorter than the setting: wins
        ("max-age=3600", 600),  # longer: the setting wins
        ("max-age=5", 60),  # never below 60 s
        ("no-cache", 60),
        ("no-store", 60),
        ('max-age="120"', 120),  # quoted, as RFC 9111 tolerates
        ("max-age=abc", 600),  # unreadable: ignored
        ("max-age=120x", 600),  # not a whole number
        ("s-maxage=120", 600),  # for shared caches, not for us
    ],
)
def test_cache_control_max_age_shorter_than_the_setting_wins_but_never_below_60_s(
    source: JwksKeySource,
    endpoint: JwksEndpoint,
    jwks_server: HTTPServer,
    clock: FakeClock,
    ec_key: SigningKey,
    cache_control: str,
    max_age: int,
) -> None:
    endpoint.headers = {"Cache-Control": cache_control}
    source.signing_key(ISSUER, "rsa-1", "RS256")
    remove_rsa_key(endpoint, ec_key)

    clock.advance(max_age - 0.5)
    source.signing_key(ISSUER, "rsa-1", "RS256")
    assert fetches(jwks_server) == 1
    clock.advance(0.5)
    with pytest.raises(UnknownKey):
        source.signing_key(ISSUER, "rsa-1", "RS256")
    assert fetches(jwks_server) == 2


@pytest.mark.parametrize(
    ("cache_control", "seconds"),
    [
        (None, None),
        ("", None),
        ("public", None),
        ("no-store", 0),
        ("no-cache", 0),
        ("private, No-Cache", 0),
        ("max-age=120,no-store", 0),  # directives need no space after the comma
        ("max-age=120", 120),
        ("Max-Age=45", 45),  # directive names are case-insensitive (RFC 9111 section 5.2)
        ('max-age="90"', 90),
        ("max-age=300,max-age=120", 120),  # the strictest of repeated directives
        ("max-age=120, max-age=300", 120),
        ("max-age=", None),
        ("max-age=120x", None),
        ("s-maxage=120", None),
    ],
)
def test_cache_max_age_reads_the_servers_cache_control(
    cache_control: str | None, seconds: int | None
) -> None:
    assert cache_max_age(cache_control) == seconds


def test_a_failed_refetch_keeps_the_keys_within_the_stale_window_retrying_once_per_cooldown(
    source: JwksKeySource,
    endpoint: JwksEndpoint,
    jwks_server: HTTPServer,
    clock: FakeClock,
    rsa_key: SigningKey,
) -> None:
    source.signing_key(ISSUER, "rsa-1", "RS256")
    endpoint.status = 500  # the partner's JWKS is down

    clock.advance(600)  # expired: the refetch fails, the old keys are kept
    assert signs_and_verifies(rsa_key, source.signing_key(ISSUER, "rsa-1", "RS256"))
    clock.advance(29)
    source.signing_key(ISSUER, "rsa-1", "RS256")
    assert fetches(jwks_server) == 2  # no refetch within the 30 s cooldown
    clock.advance(1)
    source.signing_key(ISSUER, "rsa-1", "RS256")
    assert fetches(jwks_server) == 3
    endpoint.status = 200  # back: the next refetch after the cooldown replaces the set
    clock.advance(30)
    source.signing_key(ISSUER, "rsa-1", "RS256")
    assert fetches(jwks_server) == 4
    clock.advance(599)
    source.signing_key(ISSUER, "rsa-1", "RS256")
    assert fetches(jwks_server) == 4  # fresh again for a whole max age


def test_a_failed_refetch_beyond_the_stale_window_is_keys_unavailable(
    pool: urllib3.PoolManager, jwks_server: HTTPServer, endpoint: JwksEndpoint, clock: FakeClock
) -> None:
    source = JwksKeySource(
        HttpFetcher(pool), (ISSUER,), jwks_server.url_for("/jwks.json"), clock=clock, stale_seconds=3600
    )
    source.signing_key(ISSUER, "rsa-1", "RS256")
    endpoint.status = 500

    clock.advance(600 + 3600 - 1)  # expired, and 1 s short of the end of the stale window
    source.signing_key(ISSUER, "rsa-1", "RS256")
    clock.advance(1)
    with pytest.raises(KeysUnavailable) as unavailable:
        source.signing_key(ISSUER, "rsa-1", "RS256")
    assert unavailable.value.detail == (
        "the JWKS cannot be fetched (refetch cooling down) and the keys we have are 4200 s old, "
        "older than the max age plus JWKS_STALE_SECONDS (3600 s)"
    )
    endpoint.status = 200  # back: served again after the cooldown
    clock.advance(30)
    source.signing_key(ISSUER, "rsa-1", "RS256")


def test_the_default_stale_window_is_a_day(
    source: JwksKeySource, endpoint: JwksEndpoint, clock: FakeClock
) -> None:
    source.signing_key(ISSUER, "rsa-1", "RS256")
    endpoint.status = 500

    clock.advance(600 + 86400 - 1)
    source.signing_key(ISSUER, "rsa-1", "RS256")
    clock.advance(1)
    with pytest.raises(KeysUnavailable):
        source.signing_key(ISSUER, "rsa-1", "RS256")


def test_after_a_restore_the_key_set_counts_as_expired(
    source: JwksKeySource, endpoint: JwksEndpoint, jwks_server: HTTPServer, ec_key: SigningKey
) -> None:
    source.warm()  # before_snapshot: the snapshot holds this key set
    remove_rsa_key(endpoint, ec_key)

    source.after_restore()  # a restore, however soon after the snapshot

    with pytest.raises(UnknownKey):
        source.signing_key(ISSUER, "rsa-1", "RS256")
    assert fetches(jwks_server) == 2


def test_after_a_restore_a_failed_refetch_still_serves_the_snapshot_keys_within_the_stale_window(
    source: JwksKeySource, endpoint: JwksEndpoint, jwks_server: HTTPServer, rsa_key: SigningKey
) -> None:
    source.warm()
    endpoint.status = 500

    source.after_restore()

    assert signs_and_verifies(rsa_key, source.signing_key(ISSUER, "rsa-1", "RS256"))
    assert fetches(jwks_server) == 2


def test_an_unknown_kid_refetch_renews_the_max_age(
    source: JwksKeySource, endpoint: JwksEndpoint, jwks_server: HTTPServer, clock: FakeClock
) -> None:
    source.signing_key(ISSUER, "rsa-1", "RS256")
    clock.advance(300)
    with pytest.raises(UnknownKey):
        source.signing_key(ISSUER, "nobody", "RS256")  # refetch (cooldown passed)
    clock.advance(599)

    source.signing_key(ISSUER, "rsa-1", "RS256")

    assert fetches(jwks_server) == 2


class RecordingTelemetry(Telemetry):
    """What the key source reports: its trace spans, and each JWKS fetch's outcome."""

    def __init__(self) -> None:
        self.spans: list[str] = []
        self.fetches: list[str] = []

    @contextlib.contextmanager
    def span(self, name: str) -> Iterator[None]:
        self.spans.append(name)
        yield

    def jwks_fetched(self, outcome: str) -> None:
        self.fetches.append(outcome)


def test_each_jwks_fetch_is_traced_and_counted_with_its_outcome(
    pool: urllib3.PoolManager, jwks_server: HTTPServer, endpoint: JwksEndpoint, clock: FakeClock
) -> None:
    telemetry = RecordingTelemetry()
    url = jwks_server.url_for("/jwks.json")
    source = JwksKeySource(HttpFetcher(pool), (ISSUER,), url, clock=clock, telemetry=telemetry)
    source.signing_key(ISSUER, "rsa-1", "RS256")
    endpoint.status = 500
    clock.advance(600)

    source.signing_key(ISSUER, "rsa-1", "RS256")  # the refetch fails: the old keys serve

    assert (telemetry.spans, telemetry.fetches) == (["jwks_fetch", "jwks_fetch"], ["ok", "error"])


# ---- the seam: a key set loaded from a document (check-link's JWKS file, tests) ---------------------
def test_a_key_set_loaded_from_a_document_gives_keys_without_any_fetch(
    rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    source = JwksKeySource.from_document({"keys": [rsa_key.jwk, ec_key.jwk]}, (ISSUER,))

    assert signs_and_verifies(rsa_key, source.signing_key(ISSUER, "rsa-1", "RS256"))
    assert signs_and_verifies(ec_key, source.signing_key(ISSUER, ec_key.kid, "ES256"))


def test_an_unknown_kid_in_a_document_is_refused_with_the_kids_it_offers(rsa_key: SigningKey) -> None:
    source = JwksKeySource.from_document({"keys": [rsa_key.jwk]}, (ISSUER,))

    with pytest.raises(UnknownKey) as refused:
        source.signing_key(ISSUER, "other", "RS256")

    assert refused.value.detail == "kid 'other' is not in the JWKS"
    assert (refused.value.expected, refused.value.found) == (("rsa-1",), "other")


def test_a_document_without_keys_is_keys_unavailable() -> None:
    source = JwksKeySource.from_document({"not": "a jwks"}, (ISSUER,))

    with pytest.raises(KeysUnavailable) as refused:
        source.signing_key(ISSUER, "rsa-1", "RS256")

    assert refused.value.detail == "the JWKS has no 'keys' list"


def test_a_document_key_goes_through_the_same_fit_checks(rsa_key: SigningKey) -> None:
    source = JwksKeySource.from_document({"keys": [{**rsa_key.jwk, "use": "enc"}]}, (ISSUER,))

    with pytest.raises(UnknownKey) as refused:
        source.signing_key(ISSUER, "rsa-1", "RS256")

    assert refused.value.detail == "the key's use is 'enc', not 'sig'"


# ---- warming ahead of the first request (SnapStart, INIT's prefetch) -----------------------------------
def test_warm_fetches_every_key_set_that_is_not_fresh(
    pool: urllib3.PoolManager,
    jwks_server: HTTPServer,
    two_issuers: dict[str, JwksEndpoint],
    clock: FakeClock,
    ec_key: SigningKey,
) -> None:
    a, b = two_issuers
    source = JwksKeySource(HttpFetcher(pool), (a, b), None, clock=clock)
    source.signing_key(a, "rsa-1", "RS256")  # A is fresh, B never fetched

    source.warm()

    assert (fetches(jwks_server, "/a/jwks.json"), fetches(jwks_server, "/b/jwks.json")) == (1, 1)
    assert signs_and_verifies(ec_key, source.signing_key(b, "ec-1", "ES256"))
    assert fetches(jwks_server, "/b/jwks.json") == 1


def test_a_key_set_from_a_document_warms_within_a_bound_too(rsa_key: SigningKey) -> None:
    source = JwksKeySource.from_document({"keys": [rsa_key.jwk]}, (ISSUER,))

    source.warm(timeout_at=time.monotonic() + 5)

    assert signs_and_verifies(rsa_key, source.signing_key(ISSUER, "rsa-1", "RS256"))


def test_a_failed_warm_leaves_the_cooldown_of_the_last_failed_fetch_as_it_was(
    source: JwksKeySource, endpoint: JwksEndpoint, jwks_server: HTTPServer, clock: FakeClock
) -> None:
    endpoint.status = 500
    with pytest.raises(KeysUnavailable):
        source.signing_key(ISSUER, "rsa-1", "RS256")  # fails; retried no sooner than 1 s later
    clock.advance(2)
    source.warm()  # fails as well, and does not count as an attempt
    assert fetches(jwks_server) == 2
    clock.advance(-1.5)  # the wall clock is stepped back: 0.5 s after the first attempt

    with pytest.raises(KeysUnavailable) as cooling:
        source.signing_key(ISSUER, "rsa-1", "RS256")

    assert cooling.value.detail == "JWKS not loaded yet; retry after cooldown"
    assert fetches(jwks_server) == 2


def test_warm_fetches_the_key_set_so_the_first_request_does_not(
    source: JwksKeySource, endpoint: JwksEndpoint, jwks_server: HTTPServer, rsa_key: SigningKey
) -> None:
    source.warm()
    assert fetches(jwks_server) == 1

    assert signs_and_verifies(rsa_key, source.signing_key(ISSUER, "rsa-1", "RS256"))
    source.warm()  # fresh: nothing to do
    assert fetches(jwks_server) == 1


def test_warm_within_a_bound_fetches_on_the_same_pool(
    source: JwksKeySource, endpoint: JwksEndpoint, jwks_server: HTTPServer
) -> None:
    source.warm(timeout_at=time.monotonic() + 5)

    assert fetches(jwks_server) == 1


def test_a_warm_past_its_bound_fetches_nothing_and_leaves_no_cooldown(
    source: JwksKeySource, endpoint: JwksEndpoint, jwks_server: HTTPServer, rsa_key: SigningKey
) -> None:
    source.warm(timeout_at=time.monotonic() - 1)
    assert fetches(jwks_server) == 0

    assert signs_and_verifies(rsa_key, source.signing_key(ISSUER, "rsa-1", "RS256"))  # fetched at once
    assert fetches(jwks_server) == 1


def test_a_fetcher_bound_to_a_deadline_that_has_passed_refuses_before_connecting(
    pool: urllib3.PoolManager, jwks_server: HTTPServer, endpoint: JwksEndpoint
) -> None:
    url = jwks_server.url_for("/jwks.json")
    bound = HttpFetcher(pool).until(time.monotonic() - 1)

    with pytest.raises(KeyFetchError) as refused:
        bound(url)

    assert str(refused.value) == f"{url}: no time left before the prefetch's bound"
    assert fetches(jwks_server) == 0
    assert HttpFetcher(pool).until(time.monotonic() + 5)(url).document == endpoint.document


def test_a_fetcher_with_a_second_left_still_fetches(
    pool: urllib3.PoolManager, jwks_server: HTTPServer, endpoint: JwksEndpoint
) -> None:
    bound = HttpFetcher(pool).until(time.monotonic() + 1)

    assert bound(jwks_server.url_for("/jwks.json")).document == endpoint.document


def test_the_jwks_is_asked_for_as_json(
    source: JwksKeySource, endpoint: JwksEndpoint, jwks_server: HTTPServer
) -> None:
    source.signing_key(ISSUER, "rsa-1", "RS256")

    asked = [(request.method, request.headers.get("Accept")) for request, _ in jwks_server.log]
    assert asked == [("GET", "application/json")]


# ---- a JWKS server that is slow or silent (real waits of a second or two, no timing asserted) ----------
def test_a_jwks_server_that_never_answers_is_given_up_at_the_fetchers_bound(
    pool: urllib3.PoolManager, raw_server: Callable[..., RawServer]
) -> None:
    def handle(conn: socket.socket, index: int, stopping: threading.Event) -> None:
        read_request(conn)
        stopping.wait(10)  # then it hangs up: a different failure, had nothing given up before

    url = raw_server(handle).url + "/jwks.json"

    with pytest.raises(KeyFetchError) as raised:
        HttpFetcher(pool).until(time.monotonic() + 1)(url)

    assert str(raised.value) == f"{url}: ReadTimeoutError"


def test_a_tls_handshake_that_never_ends_is_given_up_after_the_2_s_connect_timeout(
    pool: urllib3.PoolManager, raw_server: Callable[..., RawServer]
) -> None:
    def handle(conn: socket.socket, index: int, stopping: threading.Event) -> None:
        stopping.wait(4)  # TCP accepted, not a byte of TLS; then it hangs up

    url = raw_server(handle, tls=False).url + "/jwks.json"

    # 10 s left: only the connect timeout (2 s) ends the wait before the server hangs up.
    with pytest.raises(KeyFetchError) as raised:
        HttpFetcher(pool).until(time.monotonic() + 10)(url)

    assert str(raised.value) == f"{url}: ReadTimeoutError"


def test_a_slow_handshake_counts_against_the_time_left_for_the_answer(
    pool: urllib3.PoolManager, raw_server: Callable[..., RawServer], server_ssl_context: ssl.SSLContext
) -> None:
    def handle(conn: socket.socket, index: int, stopping: threading.Event) -> None:
        if stopping.wait(1):  # a second before the TLS handshake
            return
        with server_ssl_context.wrap_socket(conn, server_side=True) as tls:
            read_request(tls)
            if not stopping.wait(2):  # the answer, 2 s after the request: 3 s after connecting
                tls.sendall(http_answer(200, b'{"keys": []}'))

    url = raw_server(handle, tls=False).url + "/jwks.json"

    # 2.5 s in all: the handshake's second leaves 1.5 s for an answer that takes 2 s.
    with pytest.raises(KeyFetchError) as raised:
        HttpFetcher(pool).until(time.monotonic() + 2.5)(url)

    assert str(raised.value) == f"{url}: ReadTimeoutError"


def test_an_unknown_kid_within_the_cooldown_says_the_refetch_is_cooling_down(
    source: JwksKeySource, endpoint: JwksEndpoint, jwks_server: HTTPServer, clock: FakeClock
) -> None:
    source.signing_key(ISSUER, "rsa-1", "RS256")
    clock.advance(31)
    with pytest.raises(UnknownKey) as refetched:  # refetched: the kid is not there either
        source.signing_key(ISSUER, "nobody", "RS256")
    clock.advance(1)

    with pytest.raises(UnknownKey) as cooling:
        source.signing_key(ISSUER, "nobody-else", "RS256")

    assert refetched.value.detail == "kid 'nobody' is not in the JWKS"
    assert cooling.value.detail == "kid 'nobody-else' is not in the JWKS (refetch cooling down)"
    assert fetches(jwks_server) == 2


def test_warm_refetches_a_key_set_from_the_moment_it_expires(
    source: JwksKeySource, endpoint: JwksEndpoint, jwks_server: HTTPServer, clock: FakeClock
) -> None:
    source.warm()
    clock.advance(599)
    source.warm()
    assert fetches(jwks_server) == 1
    clock.advance(1)  # exactly the max age (600 s)

    source.warm()

    assert fetches(jwks_server) == 2


def test_a_key_set_that_cannot_be_reached_names_the_url_and_the_failure(pool: urllib3.PoolManager) -> None:
    url = f"https://127.0.0.1:{free_port()}/jwks.json"  # nothing listens there

    with pytest.raises(KeyFetchError) as raised:
        HttpFetcher(pool)(url)

    assert re.fullmatch(re.escape(url) + r": [A-Za-z]+Error", str(raised.value)), str(raised.value)
