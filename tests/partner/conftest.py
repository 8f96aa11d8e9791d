"""Fixtures for the partner tools: key pairs made by ``make keys``' code, a loopback JWKS server."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest

from infra.local.http_server import BackgroundHTTPServer, QuietHandler
from infra.partner.keys import PrivateKey, load_private_key, write_key_pair
from tests import leakcheck
from tests.support import claims

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://idp.partner-school.test"
AUDIENCE = "big-interview-sso"
EMAIL = "adelheid.q@example.edu"
FIRST = "Adelheid"
LAST = "Quixotte"
leakcheck.register(EMAIL, FIRST, LAST)


@dataclass(frozen=True)
class KeyPair:
    """What ``make keys`` wrote."""

    private_path: Path
    jwks_path: Path
    kid: str
    alg: str

    @property
    def private(self) -> PrivateKey:
        return load_private_key(self.private_path)

    @property
    def jwks(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.jwks_path.read_text())
        return document


def _pair(directory: Path, alg: str) -> KeyPair:
    private_path, jwks_path, kid = write_key_pair(alg, directory)
    return KeyPair(private_path, jwks_path, kid, alg)


@pytest.fixture(scope="session")
def rsa_pair(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return _pair(tmp_path_factory.mktemp("rsa") / "keys", "RS256")


@pytest.fixture(scope="session")
def ec_pair(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return _pair(tmp_path_factory.mktemp("ec") / "keys", "ES256")


@pytest.fixture(scope="session")
def other_rsa_pair(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return _pair(tmp_path_factory.mktemp("other") / "keys", "RS256")


def sign(pair: KeyPair, headers: dict[str, Any] | None = None, **overrides: Any) -> str:
    """A token for ``abc123`` signed with ``pair`` (``None`` removes a claim); registered as a secret.

    The suite's ``claims``, with this module's issuer, audience and user.
    """
    own = {"iss": ISSUER, "aud": AUDIENCE, "given_name": FIRST, "family_name": LAST, "email": EMAIL}
    payload = claims(**{**own, **overrides})
    token = jwt.encode(
        payload, pair.private, algorithm=pair.alg, headers={"kid": pair.kid, **(headers or {})}
    )
    leakcheck.register(token, token.rsplit(".", 1)[1])
    return token


@pytest.fixture
def serve_json() -> Iterator[Callable[[dict[str, Any]], str]]:
    """Serve JSON documents by path on 127.0.0.1 (plain http: allowed on loopback); returns the base URL."""
    servers: list[BackgroundHTTPServer] = []

    def start(documents: dict[str, Any]) -> str:
        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if self.path in documents:
                    self.send_json(200, documents[self.path])
                else:
                    self.send_json(404, {"error": "not found"})

        server = BackgroundHTTPServer(Handler)
        server.start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()


def run_make(*arguments: str) -> subprocess.CompletedProcess[str]:
    """``make -s TARGET VAR=…`` in the repository, the way a partner types it.

    ``-o .venv/.installed``: the suite already runs inside the virtual
    environment, so make must not reinstall it (another change to the
    requirements would otherwise start pip from inside a test).
    """
    return subprocess.run(
        ["make", "-s", "-o", ".venv/.installed", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
