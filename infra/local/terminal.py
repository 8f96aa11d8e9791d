"""What ``make dev`` prints per request: one short line by default, everything with ``VERBOSE=1``.

The handler speaks for CloudWatch: a JSON log line per request from its
Powertools ``Logger`` and an EMF metrics document printed to stdout. In a
terminal that is a wall of JSON, so by default the stack shows one line per
request (method, path, status, the handler's code, latency) and keeps only the
handler's ERROR records (a crash still shows its trace). The code comes from
the handler's own summary record (its ``reason`` field), read by a logging
handler: nothing is parsed out of the answer.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from infra.local.lambda_runtime import LambdaHandler

# Powertools warns when a request published no metric (/health): expected, as in pyproject's filter.
EXPECTED_WARNING = "UserWarning: No application metrics to publish"
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


class RequestOutcomes(logging.Handler):
    """Remembers the ``reason`` of the handler's summary record, per thread (one invocation each)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        reason = getattr(record, "reason", None)
        if isinstance(reason, str):
            self.record(reason)

    def start(self) -> None:
        self._local.reason = None

    def record(self, reason: str) -> None:
        self._local.reason = reason

    def reason(self) -> str | None:
        value: str | None = getattr(self._local, "reason", None)
        return value


class Terminal:
    """Wires the handler's logger for ``make dev``: short lines, or (verbose) the full JSON too."""

    def __init__(self, service: str, verbose: bool, in_process: bool = True) -> None:
        self.verbose = verbose
        self.outcomes = RequestOutcomes()
        if not in_process:
            return  # the handler runs elsewhere (process environments): ``log_sink`` reads its output
        logger = logging.getLogger(service)
        logger.addHandler(self.outcomes)
        if not verbose:
            for handler in logger.handlers:
                if handler is not self.outcomes:
                    handler.setLevel(logging.ERROR)

    def wrap(self, lambda_handler: LambdaHandler) -> LambdaHandler:
        """The handler, with its outcome recorded and (unless verbose) its EMF output set aside."""

        def invoke(event: dict[str, Any], context: Any) -> Any:
            self.outcomes.start()
            with self._metrics_output():
                return lambda_handler(event, context)

        return invoke

    @contextlib.contextmanager
    def _metrics_output(self) -> Iterator[None]:
        if self.verbose:
            yield
            return
        # Powertools prints EMF with print(): swapping stdout is process-wide, which is safe
        # here because the gateway runs one invocation at a time and nothing else prints.
        with contextlib.redirect_stdout(io.StringIO()):
            yield

    def log_sink(self, lines: list[str]) -> None:
        """A process environment's output (its calling thread's invocation): as ``wrap`` does in-process.

        The request's code is the ``reason`` of the handler's summary record (a JSON log
        line); by default only ERROR records are shown, with ``verbose`` every line.
        """
        warning_source = False
        for line in lines:
            # The warning filtered above, as a process environment prints it: its line, then
            # the indented source line. Expected for /health; in-process it is never printed.
            if EXPECTED_WARNING in line or (warning_source and line.startswith("  ")):
                warning_source = EXPECTED_WARNING in line
                continue
            warning_source = False
            if line.startswith("START RequestId:"):
                self.outcomes.start()
            record = _json_object(line)
            if record is not None and isinstance(record.get("reason"), str):
                self.outcomes.record(record["reason"])
            if self.verbose or (record is not None and record.get("level") in ("ERROR", "CRITICAL")):
                print(line, file=sys.stderr, flush=True)

    def code(self) -> str:
        """The code of the request just served: ``ok``, an error code, or ``-`` (e.g. /health)."""
        return self.outcomes.reason() or "-"


def _json_object(line: str) -> dict[str, Any] | None:
    """A JSON log line as a dict; None for anything else (text, a traceback, a warning)."""
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def access_line(method: str, path: str, status: int, code: Callable[[], str] | None, ms: float) -> str:
    """``GET /sso 401 token_expired 3 ms``: never the query (it holds the token) or the body."""
    shown = f" {code()}" if code is not None else ""
    return f"{method} {path} {status}{shown} {ms:.0f} ms"
