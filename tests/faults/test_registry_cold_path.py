"""A registry partner's first sign-in against real servers: what it fetches, how often, and side by side.

The partner is unknown at INIT, so its round trips happen on its first request. Once its
record is read, its key set, its API key and the Partner API's handshake must start together.
Shown without timing anything: each of the three servers holds its answer until all three
requests have arrived (a barrier, with a bound). Done one after another, the first request
would wait alone until the bound, and the barrier would break.

moto (server mode) stands behind a proxy that counts, by their ``X-Amz-Target``, the
``GetItem`` and ``GetSecretValue`` calls (moto closes each connection after its answer, so
one client's reuse of its connection is shown by the clients made, not by the proxy); the
Partner API is a ``RawPartnerApi`` on TLS 1.3 (its connections counted), the JWKS
pytest-httpserver on HTTPS.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from handler.aws_clients import AwsClients
from handler.config import load_config
from handler.container import Container
from handler.http_pool import new_http_pool
from handler.telemetry import Telemetry
from tests.conftest import Sso
from tests.faults.conftest import Harness
from tests.registry_support import REGISTRY_TABLE, create_registry_table, partner_record, put_record
from tests.servers import RawPartnerApi, SwitchableProxy
from tests.support import SigningKey, mint
from tests.support.moto import start_moto, stop_moto

PARTNER = "campus-cold"
ISSUER = "https://idp.campus-cold.test"
# Long enough for three threads on a loaded machine to reach their servers, far shorter than a
# server's own timeouts; the fetches' own bound (2 s) is not what is measured here.
HOLD_SECONDS = 5.0


@dataclass
class Gate:
    """Each party waits at the barrier before answering; who got through and who found it broken."""

    barrier: threading.Barrier = field(default_factory=lambda: threading.Barrier(3, timeout=HOLD_SECONDS))
    passed: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)

    def wait(self, party: str) -> None:
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            self.broken.append(party)
        else:
            self.passed.append(party)


class CountingProxy(SwitchableProxy):
    """The moto proxy, counting AWS calls by ``X-Amz-Target``; a secret read waits at ``gate``."""

    def __init__(self, target_port: int) -> None:
        super().__init__(target_port=target_port)
        self.calls: Counter[str] = Counter()
        self.gate: Gate | None = None

    def seen(self, data: bytes) -> None:
        for target in (b"DynamoDB_20120810.GetItem", b"secretsmanager.GetSecretValue"):
            if target in data:
                self.calls[target.decode().rsplit(".", 1)[1]] += 1
                if self.gate is not None and target.startswith(b"secrets"):
                    self.gate.wait("secret")  # the request reaches moto, and its answer, later


class HeldPartnerApi(RawPartnerApi):
    """A Partner API whose first connection's handshake waits at ``gate``."""

    gate: Gate | None = None

    def _run(self, conn: socket.socket, index: int) -> None:
        if index == 0 and self.gate is not None:
            self.gate.wait("partner-api")
        super()._run(conn, index)


class ClientsSeen(AwsClients):
    """The production clients, remembering every uncached (one-attempt) client made."""

    def __init__(self) -> None:
        super().__init__()
        self.uncached_made: list[str] = []

    def uncached(self, service: str, timeout: float) -> Any:
        self.uncached_made.append(service)
        return super().uncached(service, timeout)


@dataclass
class Cold:
    sso: Sso
    clients: ClientsSeen
    proxy: CountingProxy
    api: HeldPartnerApi
    jwks_requests: list[str]
    key: SigningKey


@pytest.fixture
def cold(
    aws_env: None,
    monkeypatch: pytest.MonkeyPatch,
    base_env: dict[str, str],
    jwks: Any,
    jwks_server: HTTPServer,
    server_ssl_context: ssl.SSLContext,
    ca_file: Path,
) -> Iterator[Cold]:
    """A registry deployment on moto behind the counting proxy; one partner with its own hosts."""
    server, endpoint = start_moto()
    proxy = CountingProxy(server.get_host_and_port()[1])
    proxy.start()
    api = HeldPartnerApi(server_ssl_context).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    try:
        dynamodb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint)
        create_registry_table(dynamodb)
        secret_id = f"big-interview-sso/{PARTNER}/api-key"
        secrets = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=endpoint)
        secrets.create_secret(Name=secret_id, SecretString="registry-partner-api-key")
        key = SigningKey.rsa(kid="cold-1")
        jwks_requests: list[str] = []

        def key_set(request: Request) -> Response:
            jwks_requests.append(request.path)
            if api.gate is not None:
                api.gate.wait("jwks")
            return Response(json.dumps({"keys": [key.jwk]}), content_type="application/json")

        jwks_server.expect_request("/campus-cold/jwks.json").respond_with_handler(key_set)
        record = partner_record(
            PARTNER,
            ISSUER,
            jwks_url=jwks_server.url_for("/campus-cold/jwks.json"),
            bi_base_url=api.url,
            api_key_secret_id=secret_id,
        )
        put_record(dynamodb, record)
        # The record's Partner API is on loopback: the local stack's setting.
        env = {**base_env, "PARTNER_REGISTRY_TABLE": REGISTRY_TABLE, "REGISTRY_LOOPBACK_BASE_URLS": "true"}
        config = load_config(env)
        clients = ClientsSeen()
        container = Container.build(config, new_http_pool(ca_certs=str(ca_file)), clients=clients)
        yield Cold(Sso(config, container.handler(), container), clients, proxy, api, jwks_requests, key)
        container.http.clear()
    finally:
        api.stop()
        proxy.stop()
        stop_moto(server)


def test_init_opens_the_connections_every_registry_partner_shares(cold: Cold) -> None:
    """One DynamoDB and one Secrets Manager connection, each opened by a real call, before any request."""
    cold.sso.container.prefetch("on-demand", tracing=False).join()

    # The environment partner's secret and a GetItem for a key no record has, each on the
    # shared client of its service: the one every registry partner's reads use next.
    assert dict(cold.proxy.calls) == {"GetItem": 1, "GetSecretValue": 1}
    assert cold.clients.created("dynamodb") and cold.clients.created("secretsmanager")
    assert cold.clients.uncached_made == []


def test_a_registry_partners_first_sign_in_fetches_its_three_things_once_and_side_by_side(
    cold: Cold, harness: Callable[[Sso], Harness]
) -> None:
    cold.sso.container.prefetch("on-demand", tracing=False).join()
    before = Counter(cold.proxy.calls)
    gate = Gate()
    cold.proxy.gate = cold.api.gate = gate

    outcome = harness(cold.sso).call(mint(cold.key, iss=ISSUER, aud=f"{PARTNER}-sso"), accept_json=False)

    assert outcome.status == 302, outcome.result.get("body")
    # Each of the three servers held its answer until the other two requests had arrived.
    assert sorted(gate.passed) == ["jwks", "partner-api", "secret"] and gate.broken == []
    # 1 GetItem, 1 JWKS fetch, 1 secret read, 1 Partner API connection (and its one call) ...
    assert cold.proxy.calls - before == Counter({"GetItem": 1, "GetSecretValue": 1})
    assert cold.jwks_requests == ["/campus-cold/jwks.json"]
    assert (cold.api.connections, len(cold.api.requests)) == (1, 1)
    # ... the secret read on the shared client, as INIT's was: one client, one connection.
    assert cold.clients.uncached_made == []

    cold.proxy.gate = cold.api.gate = None
    harness(cold.sso).call(mint(cold.key, iss=ISSUER, aud=f"{PARTNER}-sso"), accept_json=False)
    # The second sign-in: the record, the keys and the secret from the caches; only the call
    # (this server closes each connection after its answer).
    assert cold.proxy.calls - before == Counter({"GetItem": 1, "GetSecretValue": 1})
    assert (len(cold.jwks_requests), len(cold.api.requests)) == (1, 2)


def test_without_the_side_by_side_fetches_the_gate_breaks(
    cold: Cold, harness: Callable[[Sso], Harness]
) -> None:
    """The check can fail: with tracing on, the fetches stay on the request's thread, one after another."""
    config = cold.sso.config
    config = dataclasses.replace(config, runtime=dataclasses.replace(config.runtime, tracing=True))
    container = Container.build(config, cold.sso.container.http, Telemetry())  # no X-Ray here
    sso = Sso(config, container.handler(), container)
    gate = Gate()
    cold.proxy.gate = cold.api.gate = gate

    harness(sso).call(mint(cold.key, iss=ISSUER, aud=f"{PARTNER}-sso"))

    # The key set's request waited alone, past the fetch's own timeout (that sign-in is a 503):
    # the other two never started beside it.
    assert (gate.passed, gate.barrier.n_waiting) == ([], 1)
    gate.barrier.abort()


def test_two_first_requests_at_once_share_one_set_of_fetches(
    cold: Cold, harness: Callable[[Sso], Harness]
) -> None:
    """No duplicate work: the second request waits for the first's fetches rather than making its own."""
    cold.sso.container.prefetch("on-demand", tracing=False).join()
    before = Counter(cold.proxy.calls)
    h = harness(cold.sso)
    tokens = [mint(cold.key, iss=ISSUER, aud=f"{PARTNER}-sso") for _ in range(2)]
    outcomes: list[int] = []
    threads = [
        threading.Thread(target=lambda token=token: outcomes.append(h.call(token, accept_json=False).status))
        for token in tokens
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert outcomes == [302, 302]
    assert cold.proxy.calls - before == Counter({"GetItem": 1, "GetSecretValue": 1})
    assert cold.jwks_requests == ["/campus-cold/jwks.json"]
    assert len(cold.api.requests) == 2
