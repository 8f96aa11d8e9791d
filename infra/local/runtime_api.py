"""A local Lambda Runtime API (version 2018-06-01): the HTTP side of one execution environment.

The runtime inside the environment (here AWS's ``awslambdaric``) polls
``GET /2018-06-01/runtime/invocation/next`` for an event and answers it with
``POST …/invocation/{id}/response`` or ``…/{id}/error``; a failed INIT is
``POST …/runtime/init/error``. With SnapStart the runtime also calls
``GET …/runtime/restore/next`` after the ``before_snapshot`` hooks (it returns
when the environment is "restored") and ``POST …/runtime/restore/error``.

As in Lambda, each execution environment has an endpoint of its own
(``AWS_LAMBDA_RUNTIME_API``), so one ``RuntimeApi`` serves one runtime. The
controller side (``environments.py``) hands it events with ``deliver`` and
reads what the runtime said with ``next_message``: the runtime can only get an
event by asking for the next one, i.e. after answering the previous one, which
is how Lambda keeps one invocation at a time per environment.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from infra.local.http_server import BackgroundHTTPServer, LoopbackService, QuietHandler

PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
# Lambda's synchronous invocation payload limit (request and response): 6 MB.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024


@dataclass(frozen=True)
class Invocation:
    """One event for the runtime, with the headers ``/next`` answers with."""

    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str


@dataclass(frozen=True)
class RuntimeMessage:
    """What the runtime told the API: ``kind`` is one of the ``KINDS``.

    ``waiting`` (it asked for the next event: INIT or the previous invocation is
    over), ``restore_waiting`` (SnapStart: INIT and ``before_snapshot`` are over),
    ``response``, ``error`` (an invocation's answer), ``init_error``, ``restore_error``,
    ``too_large`` (a response over 6 MB, refused).
    """

    kind: str
    request_id: str | None = None
    body: bytes = b""
    error_type: str | None = None
    at: float = field(default_factory=time.monotonic)

    KINDS = ("waiting", "restore_waiting", "response", "error", "init_error", "restore_error", "too_large")

    def error_document(self) -> dict[str, Any]:
        """The runtime's error JSON (``errorMessage``, ``errorType``, ``stackTrace``), or a stand-in."""
        try:
            document = json.loads(self.body or b"{}")
        except ValueError:
            document = {}
        if not isinstance(document, dict):
            document = {}
        document.setdefault("errorType", self.error_type or "Runtime.Unknown")
        document.setdefault("errorMessage", "")
        return document


class RuntimeApi(LoopbackService):
    """The Runtime API of one execution environment, on a free loopback port."""

    def __init__(self) -> None:
        self._messages: queue.Queue[RuntimeMessage] = queue.Queue()
        self._invocations: queue.Queue[Invocation | None] = queue.Queue()
        self._restored = threading.Event()
        self._current: str | None = None  # the request id handed out and not yet answered
        self._lock = threading.Lock()
        self._http = BackgroundHTTPServer(_handler_class_for(self))

    @property
    def address(self) -> str:
        """``host:port``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        return self.url.removeprefix("http://")

    # -- the controller's side ------------------------------------------------
    def deliver(self, invocation: Invocation) -> None:
        """Queue ``invocation`` for the runtime's pending (or next) ``/next``."""
        self._invocations.put(invocation)

    def restore(self) -> None:
        """SnapStart: let the runtime's ``/restore/next`` return (the environment is resumed)."""
        self._restored.set()

    def next_message(self, timeout: float | None) -> RuntimeMessage | None:
        """The runtime's next message, or None after ``timeout`` seconds."""
        try:
            return self._messages.get(timeout=timeout)
        except queue.Empty:
            return None

    def stop(self) -> None:
        """Release any request still waiting (its runtime is gone), then stop serving."""
        self._invocations.put(None)
        self._restored.set()
        super().stop()

    # -- the runtime's side (called by the request handler) -------------------
    def _next_invocation(self) -> Invocation | None:
        self._messages.put(RuntimeMessage("waiting"))
        invocation = self._invocations.get()
        if invocation is not None:
            with self._lock:
                self._current = invocation.request_id
        return invocation

    def _answer(self, request_id: str, kind: str, body: bytes, error_type: str | None) -> int:
        """Record an invocation's answer; the HTTP status for the runtime."""
        with self._lock:
            if request_id != self._current:
                return 400  # not the invocation in progress (or already answered)
            self._current = None
        if kind == "response" and len(body) > MAX_PAYLOAD_BYTES:
            self._messages.put(RuntimeMessage("too_large", request_id))
            return 413
        self._messages.put(RuntimeMessage(kind, request_id, body, error_type))
        return 202

    def _report(self, kind: str, body: bytes, error_type: str | None) -> None:
        self._messages.put(RuntimeMessage(kind, None, body, error_type))

    def _wait_for_restore(self) -> None:
        self._messages.put(RuntimeMessage("restore_waiting"))
        self._restored.wait()


def _handler_class_for(api: RuntimeApi) -> type[QuietHandler]:
    class RuntimeApiRequestHandler(QuietHandler):
        server_version = "local-lambda-runtime-api"
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every event and answer.
        disable_nagle_algorithm = True

        def handle(self) -> None:
            # The runtime's process may be ended mid-request (a timeout, or the environment stopped).
            with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                super().handle()

        def do_GET(self) -> None:
            if self.path == f"{PREFIX}/invocation/next":
                invocation = api._next_invocation()
                if invocation is None:  # the environment is being shut down
                    self.send_json(410, {"errorMessage": "environment stopped"})
                    return
                self.send(
                    200,
                    invocation.payload,
                    [
                        ("Content-Type", "application/json"),
                        ("Lambda-Runtime-Aws-Request-Id", invocation.request_id),
                        ("Lambda-Runtime-Deadline-Ms", str(invocation.deadline_ms)),
                        ("Lambda-Runtime-Invoked-Function-Arn", invocation.function_arn),
                        ("Lambda-Runtime-Trace-Id", invocation.trace_id),
                    ],
                )
            elif self.path == f"{PREFIX}/restore/next":
                api._wait_for_restore()
                self.send(200)
            else:
                self.send_json(404, {"errorMessage": f"no such resource: GET {self.path}"})

        def do_POST(self) -> None:
            body = self.read_body()
            error_type = self.headers.get(ERROR_TYPE_HEADER)
            parts = self.path.removeprefix(PREFIX + "/").split("/")
            if parts == ["init", "error"]:
                api._report("init_error", body, error_type)
                self.send_json(202, {"status": "OK"})
            elif parts == ["restore", "error"]:
                api._report("restore_error", body, error_type)
                self.send_json(202, {"status": "OK"})
            elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                status = api._answer(parts[1], parts[2], body, error_type)
                if status == 202:
                    self.send_json(202, {"status": "OK"})
                elif status == 413:
                    self.send_json(413, {"errorMessage": "Response payload size exceeded maximum allowed"})
                else:
                    self.send_json(400, {"errorMessage": f"unknown or finished request id {parts[1]}"})
            else:
                self.send_json(404, {"errorMessage": f"no such resource: POST {self.path}"})

    return RuntimeApiRequestHandler
