"""Nothing secret reaches a log at DEBUG, from any logger in the process (issue 9).

With ``LogLevel=DEBUG`` Lambda's Python runtime puts the root logger at DEBUG,
Powertools follows ``POWERTOOLS_LOG_LEVEL``, and ``POWERTOOLS_LOGGER_SAMPLE_RATE=1``
samples every invocation at DEBUG. Here that is set up the same way, and
sign-ins, refusals and the fault cases run against moto in server mode (botocore
over real HTTP, so urllib3 logs too), a TLS Partner API and the JWKS on loopback.
Every record of every logger (botocore, urllib3, Powertools, ours), with its
arguments and extra fields, and everything written to stdout and stderr, is
searched for the API key, the HS256 secret, every JWT and its signature, every
SSO token, the email and the names.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from pytest_httpserver import HTTPServer

from handler.config import load_config
from handler.container import Container
from handler.http_pool import new_http_pool
from tests import leakcheck
from tests.conftest import Sso
from tests.faults.conftest import PROFILE_VALUES, Moto
from tests.servers import RawPartnerApi, answer, silent
from tests.support import API_KEY, ROTATED_API_KEY, SigningKey, claims, http_event, mint
from tests.support.clock import FakeClock

HS256_SECRET_ID = "bi-sso/test/hs256"
HS256_SECRET = "hs256-shared-secret-of-at-least-32-bytes-7f3a9c"
leakcheck.register(HS256_SECRET)


class EveryRecord(logging.Handler):
    """Every record it sees, as text: the message, its arguments, every attribute, the traceback."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.lines: list[str] = []
        self.loggers: set[str] = set()
        self.levels: set[int] = set()

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.name} {record.levelname} {record.getMessage()} {vars(record)!r}"
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        self.lines.append(text)
        self.loggers.add(record.name)
        self.levels.add(record.levelno)

    def attach_to_loggers_that_do_not_propagate(self) -> None:
        """Powertools' own logger does not propagate to the root; hook in there too."""
        for logger in logging.Logger.manager.loggerDict.values():
            if isinstance(logger, logging.Logger) and not logger.propagate and self not in logger.handlers:
                logger.addHandler(self)


@pytest.fixture
def debug_everywhere(monkeypatch: pytest.MonkeyPatch) -> EveryRecord:
    """LogLevel=DEBUG as Lambda applies it, 100 % sampling, and a capture of every record."""
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("POWERTOOLS_LOGGER_SAMPLE_RATE", "1")
    # An operator at DEBUG may turn these on too: they must not print the event either.
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    monkeypatch.setenv("POWERTOOLS_EVENT_HANDLER_DEBUG", "true")
    # Undone after the test by the suite's logging isolation (tests/support/isolation.py).
    root = logging.getLogger()
    capture = EveryRecord()
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    logging.getLogger("sso-redirector").setLevel(logging.DEBUG)
    return capture


@pytest.fixture
def hs256_secret(moto: Moto) -> None:
    """The HS256 secret in moto, stored before DEBUG is on (the test's own call is not the subject)."""
    moto.client().create_secret(Name=HS256_SECRET_ID, SecretString=HS256_SECRET)


@pytest.fixture
def debug_sso(
    base_env: dict[str, str],
    ca_file: Path,
    clock: FakeClock,
    hs256_secret: None,
    debug_everywhere: EveryRecord,
) -> Callable[..., Sso]:
    """The handler built the way ``handler.entry_point`` builds it, after the DEBUG set-up; HS256 enabled."""

    def build(**overrides: str) -> Sso:
        env = {
            **base_env,
            "JWT_ALGORITHMS": "RS256,ES256,HS256",
            "JWT_HS256_SECRET_ID": HS256_SECRET_ID,
            **overrides,
        }
        config = load_config(env)
        container = Container.build(config, new_http_pool(ca_certs=str(ca_file)), clock=clock)
        sso = Sso(config, container.handler(), container)
        debug_everywhere.attach_to_loggers_that_do_not_propagate()
        return sso

    return build


def hs256_token(**overrides: Any) -> str:
    token = jwt.encode(claims(**overrides), HS256_SECRET, algorithm="HS256")
    leakcheck.register(token, token.rsplit(".", 1)[1])
    return token


def call(sso: Sso, token: str, accept_json: bool = False, remaining_ms: int = 9_000) -> dict[str, Any]:
    headers = {"Accept": "application/json"} if accept_json else {}
    return sso(http_event(query={"jwt": token}, headers=headers), remaining_ms=remaining_ms)


def assert_no_secret_anywhere(
    capture: EveryRecord, capfd: pytest.CaptureFixture[str], tokens: list[str], sso_tokens: list[str]
) -> None:
    out, err = capfd.readouterr()
    text = "\n".join([*capture.lines, out, err])
    secrets = {
        "the API key": API_KEY,
        "the rotated API key": ROTATED_API_KEY,
        "the HS256 secret": HS256_SECRET,
        **{f"profile value {value[:3]}…": value for value in PROFILE_VALUES},
    }
    for index, token in enumerate(tokens):
        secrets[f"JWT {index}"] = token
        secrets[f"JWT {index}'s signature"] = token.rsplit(".", 1)[1]
    for index, sso_token in enumerate(sso_tokens):
        secrets[f"SSO token {index}"] = sso_token
    found = [name for name, value in secrets.items() if value in text]
    assert found == [], f"secret in the logs at DEBUG: {found}"
    assert leakcheck.leaks(text) == []
    # The capture really saw DEBUG output, and the summary lines: the search above means something.
    assert logging.DEBUG in capture.levels
    assert "sign-in " in text


def test_sign_ins_and_refusals_at_debug_log_nothing_secret(
    debug_sso: Callable[..., Sso],
    raw_partner_api: Callable[..., RawPartnerApi],
    jwks: Any,
    rsa_key: SigningKey,
    ec_key: SigningKey,
    debug_everywhere: EveryRecord,
    capfd: pytest.CaptureFixture[str],
) -> None:
    api = raw_partner_api()
    sso = debug_sso(BI_BASE_URL=api.url)
    tokens = [mint(rsa_key), mint(ec_key), hs256_token(), mint(rsa_key)]

    statuses = [call(sso, token)["statusCode"] for token in tokens]
    expired = mint(rsa_key, iat=1_000, exp=1_100)
    wrong_user = mint(rsa_key, sub="not/a/partner-id")
    api.then(answer(422, '{"error": {"type": "validation_error"}}'))
    refused_by_partner = mint(rsa_key)
    refused = (expired, wrong_user, refused_by_partner)
    refusals = [call(sso, token, accept_json=True)["statusCode"] for token in refused]

    assert statuses == [302, 302, 302, 302]
    assert refusals == [401, 403, 422]  # the Partner API's 422 is profile_required (issue 11)
    assert_no_secret_anywhere(debug_everywhere, capfd, [*tokens, *refused], api.issued)


def test_fault_cases_at_debug_log_nothing_secret(
    debug_sso: Callable[..., Sso],
    raw_partner_api: Callable[..., RawPartnerApi],
    https_server_on: Callable[[int], HTTPServer],
    jwks: Any,
    moto: Moto,
    rsa_key: SigningKey,
    clock: FakeClock,
    closed_port: int,
    debug_everywhere: EveryRecord,
    capfd: pytest.CaptureFixture[str],
) -> None:
    tokens: list[str] = []

    def run(sso: Sso, remaining_ms: int = 9_000) -> int:
        """A browser's request (so a sign-in is a 302 with the SSO token in its Location)."""
        tokens.append(mint(rsa_key))
        return int(call(sso, tokens[-1], remaining_ms=remaining_ms)["statusCode"])

    # Secrets Manager down at cold start, then back.
    api = raw_partner_api(api_key=API_KEY)
    sso = debug_sso(BI_BASE_URL=api.url)
    moto.proxy.set_down()
    assert run(sso) == 503
    moto.proxy.set_up()
    assert run(sso) == 302
    # The Partner API answers 500, hangs until the deadline, refuses the key (so the key is read again).
    api.then(answer(500, "oops"))
    assert run(sso) == 502
    api.then(silent())
    assert run(sso, remaining_ms=1_500) == 504
    rotated = f'{{"api_key": "{ROTATED_API_KEY}"}}'
    moto.client().put_secret_value(SecretId="bi-sso/test/api-key", SecretString=rotated)
    api.api_key = ROTATED_API_KEY
    assert run(sso) == 302
    # The Partner API unreachable.
    assert run(debug_sso(BI_BASE_URL=f"https://127.0.0.1:{closed_port}")) == 502
    # The JWKS down at cold start.
    jwks_down = f"https://127.0.0.1:{closed_port}/jwks.json"
    assert run(debug_sso(BI_BASE_URL=api.url, JWT_JWKS_URL=jwks_down)) == 503

    assert_no_secret_anywhere(debug_everywhere, capfd, tokens, api.issued)
