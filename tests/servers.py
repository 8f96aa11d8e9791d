"""Servers that misbehave on purpose, on 127.0.0.1, each stoppable and bounded in time.

``RawServer`` accepts TCP connections (TLS when given a context) and runs a test's
function on each, in a thread of its own, so a misbehaving server never blocks the
shared pytest-httpserver. ``read_request`` and ``http_answer`` read and write HTTP/1.1
on such a connection, and ``rst_close`` hangs up with a TCP RST (after ``sent_out``, once
what was written has reached the client).

``RawPartnerApi`` is a TLS ``RawServer`` that answers each Partner API request with
the next behaviour of its script (then a healthy answer), at the socket level:
silence, slowness, a reset in the middle of the body, 20 MB, ... It may be bound
to a fixed port and started late, so a test can show "refused, then back".

``SwitchableProxy`` forwards TCP to a real server (moto) and can be switched
down: every live connection is cut and new ones are reset, and it counts the
connections it refused, so a test knows the handler really asked.

``start_moto`` runs Secrets Manager (moto in server mode, holding the API key) on
loopback, and ``stop_moto`` stops it for good, for outages.

Every blocking wait ends when the server stops, or after ``MAX_HANG_SECONDS``.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import select
import socket
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Self

from tests import leakcheck
from tests.support import user_document
from tests.support.ports import LOOPBACK, free_port

MAX_HANG_SECONDS = 20.0


def listening(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:``port``, whose ``accept`` waits 50 ms at a time."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((LOOPBACK, port))
    listener.listen(64)
    listener.settimeout(0.05)
    return listener


def accepted(listener: socket.socket, stopping: threading.Event) -> Iterator[socket.socket]:
    """The connections ``listener`` accepts, until ``stopping`` is set or the listener is closed."""
    while not stopping.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        yield conn


@dataclass
class SeenRequest:
    """One request as the raw server read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def read_request(conn: socket.socket) -> SeenRequest | None:
    """One HTTP/1.1 request with a Content-Length body; None if the client went away."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = [*lines[0].split(" ", 2), "", ""][:3]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return SeenRequest(method, path, headers, body)


def http_answer(status: int, body: bytes, content_type: str = "application/json", **headers: str) -> bytes:
    extra = "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in headers.items())
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        f"{extra}Connection: close\r\n\r\n"
    )
    return head.encode() + body


def sent_out(conn: socket.socket, timeout: float = MAX_HANG_SECONDS) -> None:
    """Wait until the kernel has sent everything written on ``conn`` (nothing left unsent).

    On loopback, sent is in the peer's receive queue, where a later RST leaves it readable;
    while it is still queued here, an RST discards it, and the peer sees a reset, not the bytes.
    """
    # Writable once fewer than 1 byte is unsent (TCP_NOTSENT_LOWAT): a wait on the kernel, no polling.
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, 1)
    select.select([], [conn], [], timeout)


def rst_close(conn: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0) rather than a FIN."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # Close the raw socket under TLS: no close_notify, the peer sees the RST.
    with contextlib.suppress(OSError):
        socket.socket.close(conn)


Handle = Callable[[socket.socket, int, threading.Event], None]


class RawServer:
    """TCP on 127.0.0.1 (TLS when given a context); runs ``handle(conn, index, stopping)`` per connection.

    ``index`` counts the connections from 0; ``stopping`` is set by ``stop``. The server
    may be bound to a fixed ``port`` and started late, stopped and started again. Each
    connection's socket operations time out after ``timeout`` seconds. ``wait_until``
    waits for handshakes (and the TLS 1.3 session tickets the server sends with them) and
    closes to have happened, instead of sleeping.
    """

    def __init__(
        self,
        handle: Handle,
        ssl_context: ssl.SSLContext | None,
        port: int = 0,
        timeout: float = MAX_HANG_SECONDS,
    ) -> None:
        self._handle = handle
        self._context = ssl_context
        self._timeout = timeout
        self.port = port or free_port()
        self.url = f"https://{LOOPBACK}:{self.port}"
        self.stopping = threading.Event()
        self.connections = 0
        self.handshakes = 0  # TLS handshakes done: the session tickets are sent with them
        self.closed = 0  # connections this server has hung up
        self._progress = threading.Condition()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> Self:
        listener = listening(self.port)
        self._listener = listener
        self.stopping.clear()
        self._acceptor = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True)
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
            self._acceptor = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for thread in self._threads:
            thread.join(timeout=self._timeout + 5)
        self._threads = []

    def wait_until(self, *, handshakes: int = 0, closed: int = 0, timeout: float = 5) -> None:
        """Returns once at least ``handshakes`` handshakes and ``closed`` closes have happened."""
        with self._progress:
            reached = self._progress.wait_for(
                lambda: self.handshakes >= handshakes and self.closed >= closed, timeout
            )
        assert reached, f"{self.handshakes} handshakes and {self.closed} closes after {timeout} s"

    def _happened(self, event: str) -> None:
        with self._progress:
            setattr(self, event, getattr(self, event) + 1)
            self._progress.notify_all()

    def _accept_loop(self, listener: socket.socket) -> None:
        for conn in accepted(listener, self.stopping):
            index = self.connections
            self.connections += 1
            thread = threading.Thread(target=self._run, args=(conn, index), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, conn: socket.socket, index: int) -> None:
        try:
            conn.settimeout(self._timeout)
            if self._context is not None:
                conn = self._context.wrap_socket(conn, server_side=True)
                self._happened("handshakes")
            self._handle(conn, index, self.stopping)
        except OSError:
            pass  # the client hung up: several behaviours provoke exactly that
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            self._happened("closed")


# A behaviour answers one request: (server, connection, request) -> None.
Behaviour = Callable[["RawPartnerApi", socket.socket, SeenRequest], None]


class RawPartnerApi(RawServer):
    """A Partner API on raw TLS sockets; ``script`` behaviours first, then ``healthy``."""

    def __init__(self, ssl_context: ssl.SSLContext, port: int = 0, api_key: str | None = None) -> None:
        super().__init__(self._answer, ssl_context, port)
        self.api_key = api_key
        self.script: deque[Behaviour] = deque()
        self.requests: list[SeenRequest] = []
        self.issued: list[str] = []  # SSO tokens handed out by healthy answers
        self._lock = threading.Lock()

    def then(self, *behaviours: Behaviour) -> Self:
        self.script.extend(behaviours)
        return self

    def _answer(self, conn: socket.socket, index: int, stopping: threading.Event) -> None:
        request = read_request(conn)
        if request is None:
            return
        with self._lock:
            self.requests.append(request)
            behaviour = self.script.popleft() if self.script else healthy()
        behaviour(self, conn, request)

    def new_token(self, value: str | None = None) -> str:
        token = value or secrets.token_hex(32)
        leakcheck.register(token)
        with self._lock:
            self.issued.append(token)
        return token


# ---- behaviours -------------------------------------------------------------------------------
def healthy(status: int = 201, token: str | None = None) -> Behaviour:
    """The documented answer (a fresh token), if the key is right (when the server checks keys)."""

    def answer(server: RawPartnerApi, conn: socket.socket, request: SeenRequest) -> None:
        if server.api_key is not None and request.headers.get("authorization") != server.api_key:
            conn.sendall(http_answer(401, b'{"error": {"type": "unauthorized"}}'))
            return
        document = user_document(server.new_token(token), expires_at="2099-05-28T17:16:18.817Z")
        conn.sendall(http_answer(status, json.dumps(document).encode()))

    return answer


def answer(
    status: int, body: bytes | str, content_type: str = "application/json", **headers: str
) -> Behaviour:
    """A fixed answer."""
    raw = body.encode() if isinstance(body, str) else body

    def send(server: RawPartnerApi, conn: socket.socket, request: SeenRequest) -> None:
        conn.sendall(http_answer(status, raw, content_type, **headers))

    return send


def silent() -> Behaviour:
    """Reads the request and never answers (until the server stops)."""

    def wait(server: RawPartnerApi, conn: socket.socket, request: SeenRequest) -> None:
        server.stopping.wait(MAX_HANG_SECONDS)

    return wait


def delayed(seconds: float, then: Behaviour | None = None) -> Behaviour:
    """Waits ``seconds`` before answering (healthy by default)."""
    then = then or healthy()

    def wait(server: RawPartnerApi, conn: socket.socket, request: SeenRequest) -> None:
        if not server.stopping.wait(seconds):
            then(server, conn, request)

    return wait


def trickle(interval: float, for_seconds: float) -> Behaviour:
    """Headers at once (Content-Length 1000), then one body byte every ``interval``; gives up after
    ``for_seconds`` by closing the connection. Each byte arrives well inside any read timeout."""

    def drip(server: RawPartnerApi, conn: socket.socket, request: SeenRequest) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
            b"Connection: close\r\n\r\n{"
        )
        deadline = time.monotonic() + for_seconds
        while time.monotonic() < deadline and not server.stopping.wait(interval):
            conn.sendall(b" ")
        rst_close(conn)

    return drip


def reset_mid_body() -> Behaviour:
    """Headers promising 1000 bytes, 10 bytes of body, then a TCP RST."""

    def reset(server: RawPartnerApi, conn: socket.socket, request: SeenRequest) -> None:
        conn.sendall(
            b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"user": {'
        )
        sent_out(conn)  # the client gets the headers and the start of the body, then the reset
        rst_close(conn)

    return reset


def huge(total_bytes: int = 20 * 1024 * 1024) -> Behaviour:
    """A 200 whose JSON body is ``total_bytes`` long; stops when the client hangs up."""

    def stream(server: RawPartnerApi, conn: socket.socket, request: SeenRequest) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {total_bytes}\r\nConnection: close\r\n\r\n".encode()
        )
        chunk = b" " * 65536
        sent = 0
        server.sent_bytes = 0  # type: ignore[attr-defined]
        while sent < total_bytes and not server.stopping.is_set():
            piece = chunk[: total_bytes - sent]
            conn.sendall(piece)  # raises once the client has closed: the end of the stream
            sent += len(piece)
            server.sent_bytes = sent  # type: ignore[attr-defined]

    return stream


# ---- a TCP proxy that can be switched down --------------------------------------------------------
@dataclass
class SwitchableProxy:
    """Forwards 127.0.0.1:``port`` to ``target_port`` while up; while down, resets every connection."""

    target_port: int
    port: int = field(default_factory=free_port)
    up: bool = True
    refused: int = 0
    forwarded: int = 0
    _stopping: threading.Event = field(default_factory=threading.Event)
    _live: set[socket.socket] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)
    _listener: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> SwitchableProxy:
        listener = listening(self.port)
        self._listener = listener
        thread = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True)
        self._threads.append(thread)
        thread.start()
        return self

    def set_down(self) -> None:
        """Cut every live connection; reset new ones until ``set_up``."""
        with self._lock:
            self.up = False
            live, self._live = set(self._live), set()
        for sock in live:
            rst_close(sock)

    def set_up(self) -> None:
        with self._lock:
            self.up = True

    def stop(self) -> None:
        self.set_down()
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept_loop(self, listener: socket.socket) -> None:
        for client in accepted(listener, self._stopping):
            with self._lock:
                up = self.up
                if not up:
                    self.refused += 1
            if not up:
                rst_close(client)
                continue
            try:
                upstream = socket.create_connection((LOOPBACK, self.target_port), timeout=5)
            except OSError:
                rst_close(client)
                continue
            with self._lock:
                self.forwarded += 1
                self._live.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                pump = (source, sink, source is client)
                thread = threading.Thread(target=self._pump, args=pump, daemon=True)
                self._threads.append(thread)
                thread.start()

    def seen(self, data: bytes) -> None:
        """Each piece of a request on its way to the target (a subclass may look, or hold it)."""

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        source.settimeout(MAX_HANG_SECONDS)
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if from_client:
                    self.seen(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
