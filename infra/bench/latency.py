"""Network latency on loopback: HTTPS proxies that delay each new connection and each request.

Over plain loopback a round trip costs nothing, so a cold start measured there
sees only CPU. A ``LatencyProxy`` stands where a real dependency would be: it
listens on 127.0.0.1 with TLS (a ``trustme`` CA the children trust through
``SSL_CERT_FILE`` and ``AWS_CA_BUNDLE``), sleeps the profile's connection delay
before the TLS handshake of each new connection (what TCP's and TLS's round
trips cost), sleeps its request delay before forwarding each request (the
server's round trip and work), and forwards to the plain-HTTP loopback server
behind it. It counts the connections it accepts: a cold start should open
exactly one per host.

TLS is TLS 1.3 with Python's default two session tickets per connection, as real
servers send them: a connection opened and not yet used has them waiting unread,
which is what tripped urllib3 into reconnecting (handler/prefetch.py).
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme
import urllib3

from infra.local.dev_identity_provider import DevIdentityProvider
from infra.local.http_server import LOOPBACK

# Hop-by-hop headers (RFC 9110 §7.6.1) and what we recompute: never forwarded as they are.
_NOT_FORWARDED = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})


@dataclass(frozen=True)
class Delay:
    """Milliseconds slept before each new connection's TLS handshake, and before each request."""

    connection_ms: float
    request_ms: float

    def __str__(self) -> str:
        return f"{self.connection_ms:g}/{self.request_ms:g} ms"

    @classmethod
    def parse(cls, text: str) -> Delay:
        """``"100/100"`` (connection/request, in ms)."""
        connection, _, request = text.partition("/")
        try:
            return cls(float(connection), float(request or connection))
        except ValueError:
            raise ValueError(f"a delay is CONNECTION_MS/REQUEST_MS, e.g. 100/100, not {text!r}") from None


# The issue's profile: an AWS regional endpoint nearby, the partner's identity
# provider further away, Big Interview's Partner API furthest (and slowest to answer).
DEFAULT_PROFILE: Mapping[str, Delay] = {
    "secrets_manager": Delay(15, 15),
    "dynamodb": Delay(15, 15),
    "identity_provider": Delay(50, 40),
    "partner_api": Delay(100, 100),
}


class _DelayingServer(ThreadingHTTPServer):
    """Accepts on the listening thread; each connection's delay and handshake run on its own thread."""

    daemon_threads = True

    def __init__(self, proxy: LatencyProxy, context: ssl.SSLContext) -> None:
        self.proxy = proxy
        self.context = context
        super().__init__((LOOPBACK, 0), _Forwarding)

    def finish_request(self, request: Any, client_address: Any) -> None:
        self.proxy._accepted()
        time.sleep(self.proxy.delay.connection_ms / 1000)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return  # the client gave up during the delay or the handshake
        with contextlib.closing(tls):
            super().finish_request(tls, client_address)


class _Forwarding(BaseHTTPRequestHandler):
    """Sleeps the request delay, forwards the request upstream, relays the answer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as the bench's other servers (servers.no_delay)
    server: _DelayingServer

    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""

    def _forward(self) -> None:
        proxy = self.server.proxy
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(proxy.delay.request_ms / 1000)
        headers = {name: value for name, value in self.headers.items() if name.lower() not in _NOT_FORWARDED}
        answer = proxy.upstream_pool.request(
            self.command,
            proxy.upstream + self.path,
            body=body or None,
            headers=headers,
            retries=False,
            redirect=False,
            timeout=10.0,
        )
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            if name.lower() not in _NOT_FORWARDED:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.data)))
        self.end_headers()
        self.wfile.write(answer.data)

    do_GET = do_POST = do_PUT = do_DELETE = _forward


class LatencyProxy:
    """HTTPS on 127.0.0.1 in front of ``upstream`` (plain HTTP on loopback), with ``delay``."""

    def __init__(self, name: str, upstream: str, delay: Delay, context: ssl.SSLContext) -> None:
        self.name = name
        self.upstream = upstream.rstrip("/")
        self.delay = delay
        self.upstream_pool = urllib3.PoolManager(maxsize=8, retries=False)
        self._server = _DelayingServer(self, context)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connections = 0

    def _accepted(self) -> None:
        with self._lock:
            self._connections += 1

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        with self._lock:
            return self._connections

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"latency-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.upstream_pool.clear()


class LatencyNetwork:
    """A CA, and one ``LatencyProxy`` per dependency; ``environment()`` makes children trust the CA."""

    def __init__(self, scratch: Path) -> None:
        self._ca = trustme.CA()
        self.ca_file = scratch / "latency-ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_file))
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert(LOOPBACK).configure_cert(self._context)
        self.proxies: dict[str, LatencyProxy] = {}

    def add(self, name: str, upstream: str, delay: Delay) -> LatencyProxy:
        proxy = LatencyProxy(name, upstream, delay, self._context)
        proxy.start()
        self.proxies[name] = proxy
        return proxy

    def connections(self) -> dict[str, int]:
        return {name: proxy.connections for name, proxy in self.proxies.items()}

    def environment(self) -> dict[str, str]:
        """urllib3 (the system default context) reads ``SSL_CERT_FILE``; botocore ``AWS_CA_BUNDLE``."""
        return {"SSL_CERT_FILE": str(self.ca_file), "AWS_CA_BUNDLE": str(self.ca_file)}

    def stop(self) -> None:
        for proxy in self.proxies.values():
            with contextlib.suppress(Exception):
                proxy.stop()


class ProxiedIdentityProvider(DevIdentityProvider):
    """The development IdP as seen through a proxy: its issuer (and so discovery) is ``public_url``."""

    public_url = ""

    @property
    def issuer(self) -> str:
        return self.public_url or self.url

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/.well-known/jwks.json"
