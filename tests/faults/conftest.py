"""Fault-injection fixtures: the whole handler against servers that misbehave on purpose.

``build_sso`` wires the real handler (``build_service`` + ``create_handler``) to
the loopback servers, like the suite's ``make_sso``, but without choosing the
Secrets Manager: a test takes ``aws`` (moto in process) or ``moto`` (moto in
server mode behind a proxy it can switch off). The JWKS and secret caches' clock
is a ``FakeClock``, so the 30 s refetch cooldown and the secret's cache age are
crossed without waiting.

``handler_log`` records every line the handler logs (through the same
Powertools formatter it uses), so each test can show that nothing secret was
written for its request.
"""

from __future__ import annotations

import io
import json
import logging
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from aws_lambda_powertools import Logger
from moto.server import ThreadedMotoServer
from pytest_httpserver import HTTPServer

from handler.config import load_config
from handler.container import Container
from handler.http_pool import new_http_pool
from handler.telemetry import SERVICE
from tests import leakcheck
from tests.conftest import Sso
from tests.servers import Behaviour, RawPartnerApi, SwitchableProxy
from tests.support import API_KEY, ROTATED_API_KEY, SigningKey, http_event, mint
from tests.support.clock import FakeClock
from tests.support.moto import start_moto, stop_moto
from tests.support.ports import LOOPBACK, free_port

# Everything the handler must never log, besides each test's tokens.
PROFILE_VALUES = ("adelheid.q@example.edu", "Adelheid", "Quixotte")
LOGGER_NAME = SERVICE


class HandlerLog(logging.Handler):
    """The handler's log lines, formatted by its Powertools handler, plus library log records."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        super().__init__(logging.DEBUG)
        self.buffer = io.StringIO()
        self._caplog = caplog

    def emit(self, record: logging.LogRecord) -> None:
        # Powertools' formatter (JSON with every extra key) is set up when the handler's
        # Logger is first built, so it is looked up for each record.
        powertools = getattr(logging.getLogger(LOGGER_NAME), "powertools_handler", None)
        formatter = powertools.formatter if powertools is not None and powertools.formatter else None
        self.buffer.write((formatter or logging.Formatter("%(message)s")).format(record) + "\n")

    def mark(self) -> tuple[int, int]:
        return len(self.buffer.getvalue()), len(self._caplog.text)

    def since(self, mark: tuple[int, int]) -> str:
        return self.buffer.getvalue()[mark[0] :] + self._caplog.text[mark[1] :]


@pytest.fixture
def handler_log(caplog: pytest.LogCaptureFixture) -> HandlerLog:
    caplog.set_level(logging.INFO)  # the level Lambda logs at; botocore DEBUG would print the secret
    log = HandlerLog(caplog)
    # Powertools' handler first: a later Logger(service=...) takes the logger's first handler
    # for its own. The suite's logging isolation removes both after the test.
    Logger(service=LOGGER_NAME)
    logging.getLogger(LOGGER_NAME).addHandler(log)
    return log


@dataclass
class Outcome:
    """One request through the handler: its result and what it logged (timings are make bench's)."""

    result: dict[str, Any]
    log: str
    token: str

    @property
    def status(self) -> int:
        return int(self.result["statusCode"])

    @property
    def headers(self) -> dict[str, str]:
        return self.result.get("headers") or {}

    @property
    def error_code(self) -> str | None:
        body = self.result.get("body") or ""
        try:
            return str(json.loads(body)["error"]["code"])
        except (ValueError, KeyError, TypeError):
            return None

    @property
    def sso_token(self) -> str:
        [token] = parse_qs(urlsplit(self.headers["Location"]).query)["token"]
        return token


@dataclass
class Harness:
    """Calls the handler with a token; asserts the outcome of a failure and of a recovery."""

    sso: Sso
    log: HandlerLog
    extra_secrets: list[str] = field(default_factory=list)

    def call(self, token: str, *, accept_json: bool = True, remaining_ms: int = 9_000) -> Outcome:
        headers = {"Accept": "application/json"} if accept_json else {}
        mark = self.log.mark()
        result = self.sso(http_event(query={"jwt": token}, headers=headers), remaining_ms=remaining_ms)
        outcome = Outcome(result, self.log.since(mark), token)
        self.assert_nothing_secret_logged(outcome)
        return outcome

    def sign_in(self, key: SigningKey, issued: list[str] | None = None) -> str:
        """A browser's request (no JSON asked for) with a fresh token from ``key``: signed in."""
        return self.assert_signed_in(self.call(mint(key), accept_json=False), issued)

    def secrets_for(self, outcome: Outcome) -> list[str]:
        values = [
            outcome.token,
            outcome.token.rsplit(".", 1)[-1],
            API_KEY,
            ROTATED_API_KEY,
            *PROFILE_VALUES,
            *self.extra_secrets,
        ]
        if outcome.headers.get("Location", "").startswith(self.sso.config.partner.destination.bi_base_url):
            values.append(outcome.sso_token)
        return [v for v in values if v]

    def assert_nothing_secret_logged(self, outcome: Outcome) -> None:
        # The handler logged its one summary line for this request (so the capture works) ...
        assert '"sign-in ' in outcome.log, outcome.log[:500]
        # ... and none of it is secret: the token, the API key, SSO tokens, the profile.
        found = [value[:4] + "…" for value in self.secrets_for(outcome) if value in outcome.log]
        assert found == []
        assert leakcheck.leaks(outcome.log) == []

    def assert_refused(self, outcome: Outcome, status: int, code: str) -> None:
        """The status and the JSON error code, and no redirect anywhere."""
        assert (outcome.status, outcome.error_code) == (status, code), outcome.result.get("body")
        assert "Location" not in outcome.headers
        assert "redirect_url" not in (outcome.result.get("body") or "")
        assert self.sso.config.partner.destination.bi_base_url not in (outcome.result.get("body") or "")
        assert f'"reason":"{code}"' in outcome.log.replace(" ", "")

    def assert_signed_in(self, outcome: Outcome, issued: list[str] | None = None) -> str:
        """A 302 to Big Interview's SSO login with the token the Partner API issued last."""
        assert outcome.status == 302, outcome.result.get("body")
        location = urlsplit(outcome.headers["Location"])
        assert f"{location.scheme}://{location.netloc}" == self.sso.config.partner.destination.bi_base_url
        assert location.path == "/sso/login"
        if issued is not None:
            assert outcome.sso_token == issued[-1]
        return outcome.sso_token


# ---- the handler --------------------------------------------------------------------------------
@pytest.fixture
def build_sso(base_env: dict[str, str], ca_file: Path, clock: FakeClock) -> Callable[..., Sso]:
    """Like ``make_sso``, with the key and secret caches on ``clock`` and no Secrets Manager chosen."""

    def build(**overrides: str | None) -> Sso:
        env = {**base_env, **overrides}
        config = load_config({k: v for k, v in env.items() if v is not None})
        # The caches on the fake clock: the keys' 30 s refetch cooldown and the secret's cache
        # age, crossed without waiting.
        pool = new_http_pool(ca_certs=str(ca_file))
        container = Container.build(config, pool, clock=clock, monotonic=clock)
        return Sso(config, container.handler(), container)

    return build


@pytest.fixture
def harness(handler_log: HandlerLog) -> Callable[[Sso], Harness]:
    return lambda sso: Harness(sso, handler_log)


@pytest.fixture
def raw_partner_api(server_ssl_context: ssl.SSLContext) -> Iterator[Callable[..., RawPartnerApi]]:
    """Factory: a ``RawPartnerApi`` (started unless ``start=False``); all stopped afterwards."""
    made: list[RawPartnerApi] = []

    def make(port: int = 0, start: bool = True, api_key: str | None = None) -> RawPartnerApi:
        server = RawPartnerApi(server_ssl_context, port, api_key)
        made.append(server)
        return server.start() if start else server

    yield make
    for server in made:
        server.stop()


RawApi = Callable[..., tuple[RawPartnerApi, Harness]]


@pytest.fixture
def raw_api(
    build_sso: Callable[..., Sso],
    harness: Callable[[Sso], Harness],
    raw_partner_api: Callable[..., RawPartnerApi],
    aws: Any,
    jwks: Any,
    rsa_key: SigningKey,
) -> RawApi:
    """Factory: a started ``RawPartnerApi`` running ``behaviours`` first, and a ``Harness`` on a
    handler that calls it (``env`` overrides its environment; the secret in moto, the suite's JWKS).

    With ``warm=True`` the handler signs in once first (keys and secret cached), and the API's
    request log is cleared before the behaviours are queued.
    """

    def make(*behaviours: Behaviour, warm: bool = False, **env: str) -> tuple[RawPartnerApi, Harness]:
        api = raw_partner_api()
        h = harness(build_sso(BI_BASE_URL=api.url, **env))
        if warm:
            h.sign_in(rsa_key, api.issued)
            api.requests.clear()
        api.then(*behaviours)
        return api, h

    return make


@pytest.fixture
def https_server_on(server_ssl_context: ssl.SSLContext) -> Iterator[Callable[[int], HTTPServer]]:
    """Factory: a started pytest-httpserver HTTPS server on a given port; stopped afterwards."""
    made: list[HTTPServer] = []

    def make(port: int) -> HTTPServer:
        server = HTTPServer(host=LOOPBACK, port=port, ssl_context=server_ssl_context)
        server.start()
        made.append(server)
        return server

    yield make
    for server in made:
        server.clear()
        if server.is_running():
            server.stop()


# ---- Secrets Manager in moto server mode ----------------------------------------------------------
@dataclass
class Moto:
    """moto in server mode behind a ``SwitchableProxy``; the handler talks to the proxy."""

    server: ThreadedMotoServer
    endpoint: str
    proxy: SwitchableProxy

    def client(self) -> Any:
        return boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=self.endpoint)


@pytest.fixture
def moto(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Moto]:
    """moto (server mode, clean state) holding the API key; ``AWS_ENDPOINT_URL`` is the proxy."""
    server, endpoint = start_moto()
    proxy = SwitchableProxy(target_port=server.get_host_and_port()[1]).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    yield Moto(server, endpoint, proxy)
    proxy.stop()
    stop_moto(server)


@pytest.fixture
def closed_port() -> int:
    return free_port()
