"""A tiny loopback HTTP server running on a background thread, shared by the local servers.

The sandbox Big Interview, the development identity provider and the local API
Gateway are all "a ``ThreadingHTTPServer`` on 127.0.0.1 that tests start and
stop"; this module is that part, written once.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

LOOPBACK = "127.0.0.1"
# One small stylesheet for every local page (demo partner, sandbox Big Interview), so a
# screenshot of the flow looks like a product. Inline, with no fonts, images or other
# assets to fetch; the CSP admits exactly this block by its hash, not 'unsafe-inline'.
STYLESHEET = (
    ":root{color-scheme:light;--accent:#1f5fbf;--ink:#1c2330;--muted:#5b6575;--line:#d9dee7}"
    "*{box-sizing:border-box}"
    "body{margin:0;min-height:100vh;background:#f3f5f9;color:var(--ink);"
    "font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}"
    "main{max-width:34rem;margin:3rem auto;padding:2rem 2.25rem;background:#fff;"
    "border:1px solid var(--line);border-radius:12px;box-shadow:0 6px 24px rgba(28,35,48,.08)}"
    "h1{margin:0 0 .75rem;font-size:1.5rem;line-height:1.25}"
    "p{margin:.6rem 0}small{color:var(--muted)}code{font-size:.9em}"
    "label{font-weight:600}"
    "input[type=text],input[type=email],input:not([type]){width:100%;margin-top:.25rem;padding:.5rem .65rem;"
    "font:inherit;border:1px solid var(--line);border-radius:8px}"
    "input:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid #8fb3ef;outline-offset:2px}"
    "fieldset{margin:1rem 0;padding:.5rem 1rem;border:1px solid var(--line);border-radius:8px}"
    "fieldset label{font-weight:400}"
    "button{padding:.65rem 1.25rem;font:inherit;font-weight:600;color:#fff;background:var(--accent);"
    "border:0;border-radius:8px;cursor:pointer}button:hover{background:#174b98}"
    "a{color:var(--accent)}"
)
STYLE_SOURCE = (
    "style-src 'sha256-" + base64.b64encode(hashlib.sha256(STYLESHEET.encode()).digest()).decode() + "'"
)


class QuietHandler(BaseHTTPRequestHandler):
    """Request handler base: HTTP/1.1 keep-alive, no per-request stderr logging."""

    # HTTP/1.1 so clients (and benchmarks) can reuse connections; every
    # response therefore carries a Content-Length (see ``send``).
    protocol_version = "HTTP/1.1"
    server_version = "local-dev"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default access log: the stack prints its own summary."""

    def read_body(self) -> bytes:
        """The request body, as announced by Content-Length (chunked bodies are not used here)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send(
        self,
        status: int,
        body: bytes = b"",
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Send a complete response; header pairs may repeat (e.g. several Set-Cookie)."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, document: Any, headers: Iterable[tuple[str, str]] = ()) -> None:
        """Send ``document`` as a JSON response."""
        # Compact separators: API Gateway's own answers look like {"message":"Not Found"}.
        body = json.dumps(document, separators=(",", ":")).encode()
        self.send(status, body, [("Content-Type", "application/json"), *headers])

    def send_html(
        self,
        status: int,
        page: str,
        headers: Iterable[tuple[str, str]] = (),
        csp: str = "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
    ) -> None:
        """Send an HTML page with a restrictive CSP (pages opt in to more, e.g. a script nonce).

        Every policy also admits the shared stylesheet, by its hash.
        """
        self.send(
            status,
            page.encode(),
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Security-Policy", f"{csp}; {STYLE_SOURCE}"),
                ("Cache-Control", "no-store"),
                *headers,
            ],
        )


def html_page(title: str, body: str) -> str:
    """A minimal, accessible HTML document; ``body`` must already be escaped."""
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLESHEET}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n"
        "</body>\n</html>\n"
    )


def first(query: Mapping[str, list[str]], name: str) -> str | None:
    """The first value of ``name`` in a ``parse_qs`` result, or None."""
    values = query.get(name)
    return values[0] if values else None


class BackgroundHTTPServer:
    """A ``ThreadingHTTPServer`` on 127.0.0.1 served from a daemon thread.

    ``port=0`` picks a free port (tests); ``url`` is known once ``start()`` returns.
    """

    def __init__(self, handler_class: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        self._handler_class = handler_class
        self._requested_port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind (raising ``OSError`` if the port is taken) and serve in the background."""
        if self._server is not None:
            return
        server = ThreadingHTTPServer((LOOPBACK, self._requested_port), self._handler_class)
        # Worker threads must not keep the process alive after Ctrl-C.
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=f"http-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        """The bound port (after ``start()``)."""
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:3002``."""
        return f"http://{LOOPBACK}:{self.port}"


class Service:
    """``start()``/``stop()`` plus the context-manager protocol, shared by every local server."""

    def start(self) -> None:
        """Start serving."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving; safe to call twice."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class LoopbackService(Service):
    """A service whose HTTP side is one ``BackgroundHTTPServer`` (set ``_http`` in ``__init__``)."""

    _http: BackgroundHTTPServer

    def start(self) -> None:
        """Start serving on 127.0.0.1."""
        self._http.start()

    def stop(self) -> None:
        """Stop serving."""
        self._http.stop()

    @property
    def url(self) -> str:
        """Base URL of this server, without a trailing slash."""
        return self._http.url
