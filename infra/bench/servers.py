"""The bench's local stack: each dependency on an ephemeral loopback port, counted at the server.

- moto (Secrets Manager and DynamoDB) in a werkzeug server of our own, behind a
  WSGI middleware that counts every AWS call by its ``X-Amz-Target`` (for
  example ``secretsmanager.GetSecretValue``): counted where the call arrives,
  not in the handler's code.
- the sandbox Big Interview (``infra.local``), with its accepted TCP
  connections counted: a new connection is what a lost keep-alive costs.
- the development IdP: it mints the tokens (its ``iss``) and serves their key set,
  its JWKS GETs counted.
- a UDP sink standing in for the X-Ray daemon, counting datagrams (tracing on).

The handler and the reference run in child processes; ``child_environment``
is what they get, shaped like the function's Lambda configuration.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from infra.local.dev_identity_provider import DevIdentityProvider
from infra.local.http_server import LOOPBACK
from infra.local.moto_secrets import (
    FAKE_ACCESS_KEY_ID,
    FAKE_SECRET_ACCESS_KEY,
    api_key_secret_value,
    create_replay_table,
    new_api_key,
    put_secret,
)
from infra.local.sandbox_big_interview import SandboxBigInterview

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
AUDIENCE = "big-interview-sso"
SECRET_NAME = "bi-sso/bench/api-key"  # noqa: S105 - a name, not a secret
REPLAY_TABLE = "bi-sso-bench-replay"
TOKEN_LIFETIME_SECONDS = 1800  # the whole bench runs on tokens minted at its start
GET_SECRET_VALUE = "secretsmanager.GetSecretValue"  # noqa: S105 - an API name
PUT_ITEM = "DynamoDB_20120810.PutItem"


class CountingWsgi:
    """WSGI middleware: counts requests by ``X-Amz-Target`` (or method and path)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = (
            environ.get("HTTP_X_AMZ_TARGET") or f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
        )
        with self._lock:
            self.calls[target] += 1
        return self._app(environ, start_response)

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.calls)


class NoDelayMotoRequestHandler(MotoRequestHandler):
    """moto's request handler with Nagle's algorithm off (see ``no_delay``)."""

    disable_nagle_algorithm = True


def no_delay(server: ThreadingHTTPServer) -> None:
    """Turn Nagle's algorithm off on the connections ``server`` accepts.

    The stdlib servers write the headers and the body of an answer separately;
    with Nagle on, the body waits for the client's delayed ACK, a flat ~40 ms on
    every keep-alive request that no real (TLS, one-record) server shows. It would
    drown the overhead the bench is there to measure.
    """
    server.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]


class CountingMoto:
    """moto's server app in a threaded werkzeug server on an ephemeral port, calls counted."""

    def __init__(self) -> None:
        self.counter = CountingWsgi(DomainDispatcherApplication(create_backend_app))
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = make_server(LOOPBACK, 0, self.counter, True, request_handler=NoDelayMotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="bench-moto", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"


def count_connections(server: ThreadingHTTPServer) -> Callable[[], int]:
    """Count the TCP connections ``server`` accepts; returns the reader."""
    accepted = [0]
    lock = threading.Lock()
    original = server.get_request

    def get_request() -> tuple[socket.socket, Any]:
        connection = original()
        with lock:
            accepted[0] += 1
        return connection

    server.get_request = get_request  # type: ignore[method-assign]

    def read() -> int:
        with lock:
            return accepted[0]

    return read


def count_gets(server: ThreadingHTTPServer, path: str) -> Callable[[], int]:
    """Count the GET requests for ``path`` that ``server`` answers; returns the reader."""
    served = [0]
    lock = threading.Lock()
    handler_class: Any = server.RequestHandlerClass

    class Counting(handler_class):  # type: ignore[misc]  # a subclass of a class known at run time
        def do_GET(self) -> None:
            if urlsplit(self.path).path == path:
                with lock:
                    served[0] += 1
            super().do_GET()

    server.RequestHandlerClass = Counting

    def read() -> int:
        with lock:
            return served[0]

    return read


class UdpSink:
    """A bound UDP socket where the X-Ray SDK may send its segments; counts datagrams."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((LOOPBACK, 0))
        self._socket.settimeout(0.5)
        self._datagrams = 0
        self._running = True
        self._thread = threading.Thread(target=self._drain, name="bench-xray-sink", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while self._running:
            try:
                self._socket.recv(65536)
            except (TimeoutError, OSError):
                continue
            self._datagrams += 1

    @property
    def address(self) -> str:
        host, port = self._socket.getsockname()
        return f"{host}:{port}"

    @property
    def datagrams(self) -> int:
        return self._datagrams

    def stop(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self._socket.close()


class BenchStack:
    """Every server the bench needs, started together; ``counts()`` reads the counters."""

    def __init__(self) -> None:
        self.moto = CountingMoto()
        self.api_key = new_api_key()
        self.big_interview = SandboxBigInterview(self.api_key, 0)
        self.identity_provider = DevIdentityProvider(
            audience=AUDIENCE, port=0, token_lifetime_seconds=TOKEN_LIFETIME_SECONDS
        )
        self.xray = UdpSink()
        self._partner_connections: Callable[[], int] = lambda: 0
        self._jwks_fetches: Callable[[], int] = lambda: 0

    def start(self) -> None:
        self.moto.start()
        # moto keeps its state per process: a second stack in one process finds the secret there.
        put_secret(self.secrets_client(), SECRET_NAME, api_key_secret_value(self.api_key))
        create_replay_table(REGION, self.moto.url, REPLAY_TABLE)
        self.big_interview.start()
        # The sandbox's server is the stock ThreadingHTTPServer behind infra.local's
        # BackgroundHTTPServer; its accept() is wrapped to count new connections.
        sandbox_server = self.big_interview._http._server
        assert sandbox_server is not None
        no_delay(sandbox_server)
        self._partner_connections = count_connections(sandbox_server)
        self.identity_provider.start()
        identity_provider_server = self.identity_provider._http._server
        assert identity_provider_server is not None
        no_delay(identity_provider_server)
        self._jwks_fetches = count_gets(identity_provider_server, urlsplit(self.jwks_url).path)

    def secrets_client(self) -> Any:
        """A Secrets Manager client on the stack's moto."""
        return boto3.client(
            "secretsmanager",
            region_name=REGION,
            endpoint_url=self.moto.url,
            aws_access_key_id=FAKE_ACCESS_KEY_ID,
            aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
        )

    def stop(self) -> None:
        for stop in (
            self.identity_provider.stop,
            self.big_interview.stop,
            self.moto.stop,
            self.xray.stop,
        ):
            try:
                stop()
            except Exception as error:  # noqa: BLE001 - stop the rest whatever happens
                logging.getLogger(__name__).warning("stopping a bench server failed: %s", error)

    def counts(self) -> dict[str, int]:
        """Server-side counters: AWS calls, JWKS fetches, Partner API calls and connections."""
        aws = self.moto.counter.snapshot()
        return {
            "get_secret_value": aws[GET_SECRET_VALUE],
            "put_item": aws[PUT_ITEM],
            "jwks_fetches": self._jwks_fetches(),
            "partner_api_calls": self.big_interview.api_calls,
            "partner_api_connections": self._partner_connections(),
            "xray_datagrams": self.xray.datagrams,
        }

    @property
    def jwks_url(self) -> str:
        """The development IdP's JWKS, named outright so the handler skips OIDC discovery."""
        return self.identity_provider.jwks_url

    def mint(self, count: int, users: int = 50) -> list[str]:
        """``count`` fresh tokens (distinct ``jti``), spread over ``users`` partner ids."""
        idp = self.identity_provider
        return [
            idp.mint_token(
                f"bench-user-{i % users}",
                given_name="Bench",
                family_name=f"User{i % users}",
                email=f"bench{i % users}@example.com",
            )
            for i in range(count)
        ]

    def child_environment(self, *, replay: bool = False, tracing: bool = False) -> dict[str, str]:
        """The function's configuration for a child process, plus Lambda's own variables."""
        environment = {
            "BI_ORG": "sandbox",
            "BI_BASE_URL": self.big_interview.url,
            "BI_API_KEY_SECRET_ID": SECRET_NAME,
            "JWT_ISSUER": self.identity_provider.issuer,
            "JWT_AUDIENCE": AUDIENCE,
            "JWT_JWKS_URL": self.jwks_url,
            "JWT_MAX_AGE_SECONDS": "3600",
            "AWS_ENDPOINT_URL": self.moto.url,
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_SERVICE_NAME": "sso-redirector",
            "POWERTOOLS_METRICS_NAMESPACE": "sso-redirector-bench",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "POWERTOOLS_TRACE_DISABLED": "false" if tracing else "true",
            # What Lambda sets: Powertools Tracer only runs where LAMBDA_TASK_ROOT is set,
            # and the X-Ray SDK needs a trace header and a daemon address (our UDP sink).
            "LAMBDA_TASK_ROOT": str(REPOSITORY_ROOT),
            "AWS_LAMBDA_FUNCTION_NAME": "bench-sso",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            "AWS_XRAY_DAEMON_ADDRESS": self.xray.address,
            # Not in Lambda's Python runtime (see infra/bench/child.py): the dev venv has them
            # for aws-sam-cli, and botocore imports them when they are there.
            "BENCH_ABSENT_MODULES": "awscrt,OpenSSL",
        }
        if replay:
            environment["REPLAY_TABLE_NAME"] = REPLAY_TABLE
        return environment
