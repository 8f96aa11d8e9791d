"""The INIT prefetch (handler/prefetch.py) against real servers: what it fetches, when, and its failures.

Secrets Manager is moto in server mode behind a ``SwitchableProxy`` (its connections
counted, and switchable down), the Partner API a ``RawPartnerApi`` on TLS 1.3 (its
connections counted), the JWKS pytest-httpserver on HTTPS (its requests logged).
Every failure case ends with the first request: it signs in, as it would have
without the prefetch, so the prefetch left nothing behind (no value, no cached
error, no refetch cooldown: the key cache's clock is a fake one that never
moves, so a cooldown left behind would refuse the request).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import urllib3
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from handler.container import Container
from tests.conftest import REPLAY_TABLE, Sso
from tests.faults.conftest import Harness, Moto
from tests.servers import MAX_HANG_SECONDS, RawPartnerApi, SwitchableProxy, listening
from tests.support import SigningKey
from tests.support.isolation import fresh_import
from tests.support.ports import LOOPBACK, free_port

Build = Callable[..., Sso]
BOUND = 0.5  # the tests' bound: short, so "slow past the bound" is quick to show


def jwks_fetches(jwks_server: HTTPServer) -> int:
    return sum(1 for request, _ in jwks_server.log if request.path == "/jwks.json")


def prefetch_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("prefetch-")]


def prefetch_threads_left_after(seconds: float) -> list[str]:
    """The prefetch threads still running ``seconds`` after now. The join promises INIT goes on at
    the bound (a step still running is logged, not waited for): on a loaded machine a bounded step
    may end a little after it, while a step without a bound would wait on a silent server forever."""
    deadline = time.monotonic() + seconds
    for thread in threading.enumerate():
        if thread.name.startswith("prefetch-"):
            thread.join(max(0.0, deadline - time.monotonic()))
    return prefetch_threads()


@pytest.fixture
def partner(raw_partner_api: Callable[..., RawPartnerApi]) -> RawPartnerApi:
    return raw_partner_api()


@pytest.fixture
def on_demand(
    build_sso: Build, harness: Callable[[Sso], Harness], moto: Moto, jwks: Any, partner: RawPartnerApi
) -> Callable[..., tuple[Sso, Harness]]:
    """A handler on the fault servers (``env`` overrides), and its harness; INIT not yet prefetched."""

    def make(**env: str) -> tuple[Sso, Harness]:
        sso = build_sso(**{"BI_BASE_URL": partner.url, **env})
        return sso, harness(sso)

    return make


def test_on_demand_init_fetches_all_and_the_first_request_only_calls_the_partner_api(
    on_demand: Callable[..., tuple[Sso, Harness]],
    moto: Moto,
    jwks_server: HTTPServer,
    partner: RawPartnerApi,
    rsa_key: SigningKey,
) -> None:
    sso, h = on_demand()

    sso.container.prefetch("on-demand", tracing=False).join()

    assert prefetch_threads() == []  # every thread ended before INIT does
    assert (moto.proxy.forwarded, jwks_fetches(jwks_server), partner.connections) == (1, 1, 1)
    assert partner.requests == []  # connected, nothing sent
    partner.wait_until(handshakes=1)  # its TLS 1.3 session tickets are on the connection, unread
    h.sign_in(rsa_key, partner.issued)
    # The request made no round trip but the call, on the connection INIT opened.
    assert (moto.proxy.forwarded, jwks_fetches(jwks_server), partner.connections) == (1, 1, 1)
    assert len(partner.requests) == 1


def test_unread_session_tickets_made_urllib3_reconnect_and_the_pool_reads_them(
    build_sso: Build,
    harness: Callable[[Sso], Harness],
    moto: Moto,
    jwks: Any,
    raw_partner_api: Callable[..., RawPartnerApi],
    rsa_key: SigningKey,
    ca_file: Path,
) -> None:
    """The trap: with urllib3's own connection class the pre-opened connection looks dropped."""
    plain, ours = raw_partner_api(), raw_partner_api()
    for api, pool in (
        (plain, urllib3.PoolManager(num_pools=4, maxsize=4, retries=False, ca_certs=str(ca_file))),
        (ours, None),
    ):
        sso = build_sso(BI_BASE_URL=api.url)
        if pool is not None:  # the same wiring on a stock urllib3 pool
            container = Container.build(sso.config, pool)
            sso = Sso(sso.config, container.handler(), container)
        sso.container.prefetch("on-demand", tracing=False).join()
        api.wait_until(handshakes=1)  # the session tickets are sent with the handshake
        harness(sso).sign_in(rsa_key, api.issued)
    assert plain.connections == 2  # urllib3 dropped the pre-opened connection and made another
    assert ours.connections == 1


# ---- each dependency down during INIT ---------------------------------------------------------
def test_secrets_manager_down_during_init_leaves_no_value_and_the_request_reads_it(
    on_demand: Callable[..., tuple[Sso, Harness]], moto: Moto, partner: RawPartnerApi, rsa_key: SigningKey
) -> None:
    sso, h = on_demand()
    moto.proxy.set_down()

    # A refused connection ends the step at once; a roomy bound keeps a loaded machine's slow client
    # creation from ending it first (then nothing would have asked Secrets Manager at all).
    sso.container.prefetch("on-demand", tracing=False, bound_seconds=10 * BOUND).join()

    assert moto.proxy.refused >= 1 and prefetch_threads() == []
    moto.proxy.set_up()
    h.sign_in(rsa_key, partner.issued)  # not a 503 from a cached failure, nor a stale fallback
    assert moto.proxy.forwarded == 1


def test_secrets_manager_still_down_fails_the_first_request_as_today(
    on_demand: Callable[..., tuple[Sso, Harness]], moto: Moto, partner: RawPartnerApi, rsa_key: SigningKey
) -> None:
    from tests.support import mint

    sso, h = on_demand()
    moto.proxy.set_down()
    sso.container.prefetch("on-demand", tracing=False, bound_seconds=BOUND).join()
    refused_during_init = moto.proxy.refused

    h.assert_refused(h.call(mint(rsa_key)), 503, "secret_unavailable")

    assert moto.proxy.refused > refused_during_init  # the request asked again itself
    assert partner.requests == []
    sso.container.http.clear()  # hang up the unused pre-opened connection: the server stops at once


def test_jwks_down_during_init_leaves_no_cooldown(
    on_demand: Callable[..., tuple[Sso, Harness]],
    https_server_on: Callable[[int], HTTPServer],
    jwks: dict[str, Any],
    partner: RawPartnerApi,
    rsa_key: SigningKey,
) -> None:
    port = free_port()
    sso, h = on_demand(JWT_JWKS_URL=f"https://{LOOPBACK}:{port}/jwks.json")

    sso.container.prefetch("on-demand", tracing=False, bound_seconds=BOUND).join()  # refused

    server = https_server_on(port)  # back up; the keys' clock has not moved since INIT
    server.expect_request("/jwks.json").respond_with_json(jwks)
    h.sign_in(rsa_key, partner.issued)
    assert jwks_fetches(server) == 1


def test_partner_api_down_during_init_the_request_connects_itself(
    on_demand: Callable[..., tuple[Sso, Harness]],
    raw_partner_api: Callable[..., RawPartnerApi],
    rsa_key: SigningKey,
) -> None:
    port = free_port()
    sso, h = on_demand(BI_BASE_URL=f"https://{LOOPBACK}:{port}")

    sso.container.prefetch("on-demand", tracing=False, bound_seconds=BOUND).join()  # refused

    api = raw_partner_api(port=port)
    h.sign_in(rsa_key, api.issued)
    assert api.connections == 1


# ---- slow past the bound ------------------------------------------------------------------------
@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP (the kernel's backlog) and never answers: a handshake that hangs."""
    listener = listening(free_port())
    yield listener.getsockname()[1]
    listener.close()


def test_every_init_step_is_bounded_so_hanging_dependencies_leave_no_thread(
    build_sso: Build,
    harness: Callable[[Sso], Harness],
    moto: Moto,
    monkeypatch: pytest.MonkeyPatch,
    silent_port: int,
    rsa_key: SigningKey,
) -> None:
    """Secrets Manager, the JWKS and the Partner API all hang: each step gives up at the bound."""
    silent = f"https://{LOOPBACK}:{silent_port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{LOOPBACK}:{silent_port}")
    sso = build_sso(BI_BASE_URL=silent, JWT_JWKS_URL=f"{silent}/jwks.json")

    sso.container.prefetch("on-demand", tracing=False, bound_seconds=BOUND).join()

    # That the join goes on at the bound is Prefetch's own (tests/unit/test_prefetch.py), timed
    # by no clock here. What only these servers show: every step's I/O is bounded too, so each
    # thread ends, where a step without a bound would wait on the silent port forever.
    assert prefetch_threads_left_after(10.0) == []


def test_a_slow_jwks_past_the_bound_is_fetched_by_the_first_request(
    on_demand: Callable[..., tuple[Sso, Harness]],
    jwks_server: HTTPServer,
    jwks: dict[str, Any],
    partner: RawPartnerApi,
    rsa_key: SigningKey,
) -> None:
    jwks_server.clear()
    slow, let_go = threading.Event(), threading.Event()

    def answer(request: Request) -> Response:
        if not slow.is_set():
            slow.set()
            let_go.wait(MAX_HANG_SECONDS)  # the first fetch (INIT's) is held until INIT is over
        return Response(json.dumps(jwks), content_type="application/json")

    jwks_server.expect_request("/jwks.json").respond_with_handler(answer)
    sso, h = on_demand()

    try:
        sso.container.prefetch("on-demand", tracing=False, bound_seconds=BOUND).join()
    finally:
        let_go.set()

    assert slow.is_set() and prefetch_threads() == []
    h.sign_in(rsa_key, partner.issued)
    assert jwks_fetches(jwks_server) == 2


# ---- a stale pre-opened connection --------------------------------------------------------------
def test_a_pre_opened_connection_the_server_reset_is_replaced(
    on_demand: Callable[..., tuple[Sso, Harness]], partner: RawPartnerApi, rsa_key: SigningKey
) -> None:
    proxy = SwitchableProxy(target_port=partner.port).start()
    try:
        sso, h = on_demand(BI_BASE_URL=f"https://{LOOPBACK}:{proxy.port}")
        sso.container.prefetch("on-demand", tracing=False).join()
        assert proxy.forwarded == 1
        proxy.set_down()  # resets the pre-opened connection, as an idle timeout on the way would
        proxy.set_up()

        h.sign_in(rsa_key, partner.issued)

        assert proxy.forwarded == 2  # urllib3 saw it dropped and opened another
    finally:
        proxy.stop()


class ClosesItsFirstConnection(RawPartnerApi):
    """Hangs up the first connection right after its handshake, as a server's idle timeout would."""

    def _answer(self, conn: Any, index: int, stopping: threading.Event) -> None:
        if index > 0:
            super()._answer(conn, index, stopping)


def test_a_pre_opened_connection_the_server_closed_is_replaced(
    on_demand: Callable[..., tuple[Sso, Harness]], server_ssl_context: Any, rsa_key: SigningKey
) -> None:
    api = ClosesItsFirstConnection(server_ssl_context).start()
    try:
        sso, h = on_demand(BI_BASE_URL=api.url)
        sso.container.prefetch("on-demand", tracing=False).join()
        api.wait_until(handshakes=1, closed=1)  # the tickets, then the close, are on the wire

        h.sign_in(rsa_key, api.issued)

        assert api.connections == 2
    finally:
        api.stop()


# ---- when: Lambda's initialization type, and tracing ----------------------------------------------
@pytest.mark.parametrize(
    ("initialization_type", "tracing"),
    [("snap-start", False), (None, False), ("on-demand", True), ("provisioned-concurrency", False)],
)
def test_no_network_before_a_snapshot_with_tracing_or_ahead_of_provisioned_traffic(
    on_demand: Callable[..., tuple[Sso, Harness]],
    moto: Moto,
    jwks_server: HTTPServer,
    partner: RawPartnerApi,
    initialization_type: str | None,
    tracing: bool,
) -> None:
    sso, _ = on_demand()

    sso.container.prefetch(initialization_type, tracing=tracing).join()

    assert (moto.proxy.forwarded, jwks_fetches(jwks_server), partner.connections) == (0, 0, 0)
    created = sso.container.clients.created("secretsmanager")
    assert created == (initialization_type == "provisioned-concurrency" and not tracing)


def test_after_a_restore_the_secret_keys_and_connection_are_fetched_side_by_side(
    on_demand: Callable[..., tuple[Sso, Harness]],
    moto: Moto,
    jwks_server: HTTPServer,
    partner: RawPartnerApi,
    rsa_key: SigningKey,
) -> None:
    sso, h = on_demand()
    sso.container.before_snapshot()
    assert (moto.proxy.forwarded, jwks_fetches(jwks_server), partner.connections) == (0, 1, 0)

    sso.container.after_restore(refresh=True)

    assert (moto.proxy.forwarded, jwks_fetches(jwks_server), partner.connections) == (1, 2, 1)
    assert prefetch_threads() == []
    h.sign_in(rsa_key, partner.issued)
    assert (moto.proxy.forwarded, jwks_fetches(jwks_server), partner.connections) == (1, 2, 1)


@pytest.fixture
def fresh_entry_point(
    base_env: dict[str, str], moto: Moto, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Any]:
    """Import handler.entry_point anew, as Lambda's INIT does, with ``variables`` set."""

    import snapshot_restore_py

    monkeypatch.setattr(snapshot_restore_py, "_before_snapshot_registry", [])
    monkeypatch.setattr(snapshot_restore_py, "_after_restore_registry", [])

    def load(**variables: str) -> Any:
        for name, value in {**base_env, **variables}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the entry point's own pool trusts the test CA
        return fresh_import("handler.entry_point")

    return load


@pytest.mark.parametrize("initialization_type", ["snap-start", "on-demand"])
def test_the_entry_point_reads_aws_lambda_initialization_type(
    fresh_entry_point: Callable[..., Any],
    moto: Moto,
    jwks_server: HTTPServer,
    jwks: Any,
    partner: RawPartnerApi,
    initialization_type: str,
) -> None:
    app = fresh_entry_point(BI_BASE_URL=partner.url, AWS_LAMBDA_INITIALIZATION_TYPE=initialization_type)

    fetched = (moto.proxy.forwarded, jwks_fetches(jwks_server), partner.connections)
    if initialization_type == "snap-start":
        assert fetched == (0, 0, 0)  # nothing secret (nor anything else) before the snapshot
        app.container.before_snapshot()  # what the runtime calls next: public things only
        assert (moto.proxy.forwarded, partner.connections) == (0, 0)
    else:
        assert fetched == (1, 1, 1)
        app.container.http.clear()  # hang up the unused pre-opened connection


def test_with_one_time_links_the_dynamodb_client_is_made_during_init_and_the_link_is_recorded(
    on_demand: Callable[..., tuple[Sso, Harness]], moto: Moto, partner: RawPartnerApi, rsa_key: SigningKey
) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto.endpoint)
    dynamodb.create_table(
        TableName=REPLAY_TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sso, h = on_demand(REPLAY_TABLE_NAME=REPLAY_TABLE)
    forwarded_before = moto.proxy.forwarded

    sso.container.prefetch("on-demand", tracing=False).join()

    assert sso.container.replay_guard is not None and sso.container.clients.created("dynamodb")
    assert moto.proxy.forwarded == forwarded_before + 1  # the secret's read; the client made no call
    h.sign_in(rsa_key, partner.issued)
    assert dynamodb.scan(TableName=REPLAY_TABLE)["Count"] == 1


def test_the_routes_powertools_imports_wait_until_the_prefetch_is_under_way() -> None:
    # The entry point imports the container, builds it and starts the prefetch, then imports the
    # routes: the resolver's imports (tens of milliseconds of CPU) overlap the prefetch's round
    # trips only if the container's own import leaves them to the routes.
    code = (
        "import sys, handler.container; print('aws_lambda_powertools.event_handler' in sys.modules); "
        "import handler.routes; print('aws_lambda_powertools.event_handler' in sys.modules)"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert loaded.split() == ["False", "True"]
