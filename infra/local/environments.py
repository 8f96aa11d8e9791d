"""Lambda execution environments as processes: the built artifact under AWS's runtime client.

Each ``ProcessEnvironment`` is what Lambda calls an execution environment: its
own process (``python -m awslambdaric <handler>`` on the Lambda runtime's Python,
3.13), its own Runtime API endpoint (``runtime_api.py``), the function's
environment variables plus the ones Lambda reserves, and the artifact
``sam build`` wrote as its task root. It starts cold (INIT: the handler module is
imported), then serves one invocation at a time; one that outlives the function's
timeout ends the environment, as Lambda does.

What differs from Lambda (and from ``sam local invoke``'s container): no
isolation (the process sees this machine's files and network), no memory cap
(``Max Memory Used`` is measured, never enforced) and this machine's CPU.

Why not ``aws-lambda-rie`` (the emulator in AWS's base images): it is a Go binary
downloaded outside any package registry, and it serves one environment; this
module is the few parts of it we need, in Python, with a pool in front.
"""

from __future__ import annotations

import json
import math
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.local.lambda_runtime import LOCAL_ACCOUNT_ID
from infra.local.runtime_api import MAX_PAYLOAD_BYTES, Invocation, RuntimeApi, RuntimeMessage
from infra.local.sam_template import FunctionSpec

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
# `make local-artifact` (sam build for this machine's architecture) and `make lambda-venv`.
DEFAULT_BUILD_DIR = REPOSITORY_ROOT / ".aws-sam" / "build"
DEFAULT_RUNTIME_PYTHON = REPOSITORY_ROOT / ".venv-lambda" / "bin" / "python"

# Lambda's limit on INIT for on-demand functions; SnapStart's INIT (at publish) may run 15 minutes.
INIT_TIMEOUT_SECONDS = 10.0
SNAPSTART_INIT_TIMEOUT_SECONDS = 15 * 60.0
# SnapStart: the runtime's restore and the after_restore hooks must finish within 10 s.
RESTORE_TIMEOUT_SECONDS = 10.0
RUNTIME_ID = "python3.13"

LogSink = Callable[[list[str]], None]


@dataclass(frozen=True)
class FunctionRuntime:
    """What every environment of one function shares: where the code is and how to run it."""

    python: Path  # the runtime's interpreter, with awslambdaric installed
    task_root: Path  # the built artifact (LAMBDA_TASK_ROOT)
    handler: str  # template.yaml's Handler, e.g. handler.entry_point.lambda_handler
    function_name: str
    memory_mb: int
    timeout_seconds: int
    region: str
    variables: Mapping[str, str] = field(default_factory=dict)  # the function's own environment
    snap_start: bool = False
    log_format: str | None = None  # the template's LoggingConfig.LogFormat (AWS_LAMBDA_LOG_FORMAT)

    @classmethod
    def for_function(
        cls,
        function: FunctionSpec,
        variables: Mapping[str, str],
        *,
        region: str,
        task_root: Path | None = None,
        python: Path | None = None,
        snap_start: bool = False,
    ) -> FunctionRuntime:
        """The template's function, from the artifact ``sam build`` wrote for it (by default)."""
        task_root = task_root or DEFAULT_BUILD_DIR / function.logical_id
        python = python or DEFAULT_RUNTIME_PYTHON
        module = task_root / function.handler.rpartition(".")[0].replace(".", "/")
        if not module.with_suffix(".py").exists() and not module.is_dir():
            raise FileNotFoundError(f"no built function in {task_root}: run `make local-artifact` first")
        if not python.exists():
            raise FileNotFoundError(f"no Lambda runtime at {python}: run `make lambda-venv` first")
        return cls(
            python=python,
            task_root=task_root,
            handler=function.handler,
            function_name=function.logical_id,
            memory_mb=function.memory_mb,
            timeout_seconds=function.timeout_seconds,
            region=region,
            variables=dict(variables),
            snap_start=snap_start,
            log_format=function.log_format,
        )

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{LOCAL_ACCOUNT_ID}:function:{self.function_name}"


@dataclass(frozen=True)
class ProcessExecution:
    """A local stack's choice to run the function in process environments (``LocalStack(processes=…)``).

    ``task_root`` and ``python`` default to ``make local-artifact``'s and ``make lambda-venv``'s;
    ``limit`` caps the pool (Lambda's concurrency limit).
    """

    snap_start: bool = False
    task_root: Path | None = None
    python: Path | None = None
    limit: int = 64


def profile_credentials(profile: str) -> dict[str, str]:
    """The keys of an AWS profile: Lambda has no profiles, only the execution role's keys."""
    import boto3  # only when a profile is named: its import costs ~0.3 s

    credentials = boto3.Session(profile_name=profile).get_credentials()
    if credentials is None:
        return {}
    frozen = credentials.get_frozen_credentials()
    keys = {"AWS_ACCESS_KEY_ID": str(frozen.access_key), "AWS_SECRET_ACCESS_KEY": str(frozen.secret_key)}
    if frozen.token:
        keys["AWS_SESSION_TOKEN"] = str(frozen.token)
    return keys


def reserved_variables(runtime: FunctionRuntime, runtime_api: str, log_stream: str) -> dict[str, str]:
    """The variables Lambda sets in every environment (AWS's "defined runtime environment variables")."""
    variables = {
        "_HANDLER": runtime.handler,
        "AWS_REGION": runtime.region,
        "AWS_DEFAULT_REGION": runtime.region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{RUNTIME_ID}",
        "AWS_LAMBDA_FUNCTION_NAME": runtime.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(runtime.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start" if runtime.snap_start else "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{runtime.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "LAMBDA_TASK_ROOT": str(runtime.task_root),
        "LAMBDA_RUNTIME_DIR": str(runtime.python.parent.parent),
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": f"{runtime.python.parent}:/usr/local/bin:/usr/bin:/bin",
        # The task root first on sys.path, before the runtime's packages, as on Lambda.
        "PYTHONPATH": str(runtime.task_root),
    }
    if runtime.log_format:  # the template's LoggingConfig (JSON: the runtime's own records as JSON)
        variables["AWS_LAMBDA_LOG_FORMAT"] = runtime.log_format
    return variables


class InitError(Exception):
    """INIT failed: the runtime reported an init error, exited, or took too long."""

    def __init__(self, document: dict[str, Any], init_ms: float) -> None:
        super().__init__(f"{document.get('errorType')}: {document.get('errorMessage')}")
        self.document = document
        self.init_ms = init_ms


class FunctionError(Exception):
    """The invocation ended in an error (Lambda's ``X-Amz-Function-Error: Unhandled``)."""

    def __init__(self, document: dict[str, Any], report: Report) -> None:
        super().__init__(f"{document.get('errorType')}: {document.get('errorMessage')}")
        self.document = document
        self.report = report


@dataclass(frozen=True)
class Report:
    """The figures of Lambda's ``REPORT`` line for one invocation."""

    request_id: str
    duration_ms: float
    memory_mb: int
    max_memory_used_mb: int
    init_ms: float | None = None  # the environment's INIT, on its first invocation (not SnapStart)
    restore_ms: float | None = None  # SnapStart: the restore (after_restore hooks) before it
    status: str | None = None  # "timeout", "error" (the runtime exited): Lambda's Status field

    @property
    def billed_ms(self) -> int:
        """Billed Duration: INIT is billed too, for on-demand ZIP functions, since August 2025."""
        return math.ceil(self.duration_ms + (self.init_ms or 0.0))

    def line(self) -> str:
        """``REPORT RequestId: … Duration: … ms …``, tab-separated as in CloudWatch Logs."""
        parts = [
            f"REPORT RequestId: {self.request_id}",
            f"Duration: {self.duration_ms:.2f} ms",
            f"Billed Duration: {self.billed_ms} ms",
            f"Memory Size: {self.memory_mb} MB",
            f"Max Memory Used: {self.max_memory_used_mb} MB",
        ]
        if self.init_ms is not None:
            parts.append(f"Init Duration: {self.init_ms:.2f} ms")
        if self.restore_ms is not None:
            parts.append(f"Restore Duration: {self.restore_ms:.2f} ms")
            parts.append(f"Billed Restore Duration: {math.ceil(self.restore_ms)} ms")
        if self.status is not None:
            parts.append(f"Status: {self.status}")
        return "\t".join(parts)


@dataclass(frozen=True)
class Result:
    """A successful invocation: the function's answer (JSON) and its REPORT."""

    payload: bytes
    report: Report

    def json(self) -> Any:
        return json.loads(self.payload)


class OutputPump:
    """Reads an environment's stdout+stderr as it comes (a full pipe would block the function).

    ``take()`` returns the complete lines written so far. Called after the runtime
    answered, it includes everything the function wrote before answering: the
    runtime writes its logs before it posts the answer, and ``take()`` waits until
    the pipe holds nothing unread.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self._pending = b""
        self._lines: list[str] = []
        self._closed = False
        threading.Thread(target=self._pump, name=f"lambda-output-{fd}", daemon=True).start()

    def _pump(self) -> None:
        while True:
            select.select([self._fd], [], [])
            with self._lock:
                chunk = os.read(self._fd, 65536)
                if not chunk:
                    if self._pending:
                        self._lines.append(self._pending.decode("utf-8", "replace"))
                    self._pending = b""
                    self._closed = True
                    os.close(self._fd)
                    return
                *complete, self._pending = (self._pending + chunk).split(b"\n")
                self._lines.extend(line.decode("utf-8", "replace") for line in complete)

    def take(self) -> list[str]:
        while True:
            with self._lock:
                if self._closed or not select.select([self._fd], [], [], 0)[0]:
                    lines, self._lines = self._lines, []
                    return lines
            time.sleep(0.001)


class ProcessEnvironment:
    """One execution environment: a process running awslambdaric against its own Runtime API.

    ``start()`` runs INIT (raising ``InitError``); then each ``invoke()`` is one
    invocation, never two at once. Also a Lambda handler (``environment(event,
    context)``), so the local API Gateway's ``EnvironmentPool`` can hold it.
    """

    def __init__(self, runtime: FunctionRuntime, log_sink: LogSink | None = None) -> None:
        self.runtime = runtime
        self.log_sink = log_sink or write_to_stderr  # where its output goes, one call per phase
        self._api = RuntimeApi()
        self._process: subprocess.Popen[bytes] | None = None
        self._output: OutputPump | None = None
        self._busy = threading.Lock()
        self._init_ms: float | None = None  # reported on the first invocation, then cleared
        self._restore_pending = runtime.snap_start
        # (request id, handed to the runtime, answered): what this environment ran, and when.
        self.history: list[tuple[str, float, float]] = []
        self.alive = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> None:
        """Start the process and wait for the end of INIT (its first ``/next``, or ``/restore/next``).

        Lambda's rule for on-demand functions: an INIT that has not ended within 10 s is run
        again, once, as part of the first invocation, bounded by the function's timeout.
        """
        if self.runtime.snap_start:
            bounds = [SNAPSTART_INIT_TIMEOUT_SECONDS]
        else:
            bounds = [INIT_TIMEOUT_SECONDS, self.runtime.timeout_seconds]
        expected = "restore_waiting" if self.runtime.snap_start else "waiting"
        started = time.monotonic()
        for attempt, bound in enumerate(bounds, start=1):
            self._spawn()
            message = self._wait_for({expected, "init_error"}, bound)
            self._forward_logs()
            timed_out = message is None and self._process is not None and self._process.poll() is None
            if not (timed_out and attempt < len(bounds)):
                break
            self._end_process()  # the INIT that ran out of time; the next one gets a new API
            self._api.stop()
            self._api = RuntimeApi()
        init_ms = (time.monotonic() - started) * 1000
        if message is None or message.kind != expected:
            failure = self._init_failure(message, bound)  # before stop(): its SIGKILL is ours
            self.stop()
            raise InitError(failure, init_ms)
        self._init_ms = init_ms
        self.alive = True

    def _spawn(self) -> None:
        """The runtime's process, on its Runtime API, running INIT."""
        self._api.start()
        log_stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        variables = {
            **self.runtime.variables,
            **reserved_variables(self.runtime, self._api.address, log_stream),
        }
        read_end, write_end = os.pipe()
        try:
            self._process = subprocess.Popen(
                # -B: Lambda's task root is read-only, so every cold start compiles the
                # function's modules (the artifact ships no .pyc); writing them here would
                # make later cold starts faster than Lambda's.
                [str(self.runtime.python), "-B", "-m", "awslambdaric", self.runtime.handler],
                cwd=self.runtime.task_root,
                env=variables,
                stdin=subprocess.DEVNULL,
                stdout=write_end,
                stderr=write_end,
                start_new_session=True,  # a Ctrl-C in make dev's terminal is the stack's to handle
            )
        finally:
            os.close(write_end)
        self._output = OutputPump(read_end)

    def _end_process(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def stop(self) -> None:
        """End the environment (SIGKILL: Lambda gives no shutdown phase without extensions)."""
        self.alive = False
        self._end_process()
        self._api.stop()

    # -- invocations ---------------------------------------------------------
    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        """A Lambda handler's signature: the function's answer, or ``FunctionError``."""
        return self.invoke(json.dumps(event).encode(), context.aws_request_id).json()

    def invoke(self, payload: bytes, request_id: str | None = None) -> Result:
        """Run one invocation; ``FunctionError`` if it failed, timed out or the runtime died."""
        if not self._busy.acquire(blocking=False):
            raise RuntimeError("an execution environment runs one invocation at a time")
        try:
            return self._invoke(payload, request_id or str(uuid.uuid4()))
        finally:
            self._busy.release()

    def _invoke(self, payload: bytes, request_id: str) -> Result:
        if not self.alive:
            raise RuntimeError("this execution environment has ended")
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"the event is larger than Lambda's {MAX_PAYLOAD_BYTES} bytes")
        init_ms, self._init_ms = self._init_ms, None
        restore_ms = self._restore() if self._restore_pending else None
        if restore_ms is not None:
            init_ms = None  # with SnapStart, INIT belongs to the publish (its INIT_REPORT)
        timeout = self.runtime.timeout_seconds
        started = time.monotonic()
        deadline_ms = int((time.time() + timeout) * 1000)
        trace_id = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0"
        self.log_sink([f"START RequestId: {request_id} Version: $LATEST"])
        self._api.deliver(Invocation(request_id, payload, deadline_ms, self.runtime.function_arn, trace_id))
        message = self._wait_for({"response", "error", "too_large"}, timeout)
        ended = time.monotonic()
        duration_ms = (ended - started) * 1000
        self.history.append((request_id, started, ended))
        self._forward_logs()
        status = None
        if message is None:
            status = "timeout" if self._process and self._process.poll() is None else "error"
        report = Report(
            request_id,
            duration_ms,
            self.runtime.memory_mb,
            self._max_memory_used_mb(),
            init_ms,
            restore_ms,
            status,
        )
        if message is None:
            self.stop()
            if status == "timeout":
                error_type, what = "Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds"
                self.log_sink([f"{_timestamp()} {request_id} {what}"])
            else:
                error_type, what = "Runtime.ExitError", f"Runtime exited with error: {self._exit()}"
            document = {"errorType": error_type, "errorMessage": f"RequestId: {request_id} Error: {what}"}
            self.log_sink([f"END RequestId: {request_id}", report.line()])
            raise FunctionError(document, report)
        self.log_sink([f"END RequestId: {request_id}", report.line()])
        if message.kind == "too_large":
            raise FunctionError(
                {
                    "errorType": "Function.ResponseSizeTooLarge",
                    "errorMessage": f"Response payload size exceeded maximum allowed payload size "
                    f"({MAX_PAYLOAD_BYTES} bytes).",
                },
                report,
            )
        if message.kind == "error":
            raise FunctionError(message.error_document(), report)
        return Result(message.body, report)

    def _restore(self) -> float:
        """SnapStart: resume the environment; the after_restore hooks run before the next event."""
        self._restore_pending = False
        started = time.monotonic()
        self._api.restore()
        message = self._wait_for({"waiting", "restore_error"}, RESTORE_TIMEOUT_SECONDS)
        restore_ms = (time.monotonic() - started) * 1000
        self._forward_logs()
        if message is None or message.kind != "waiting":
            self.stop()
            document = (
                message.error_document()
                if message is not None
                else {"errorType": "Runtime.RestoreError", "errorMessage": "restore timed out"}
            )
            report = Report("-", 0.0, self.runtime.memory_mb, 0, restore_ms=restore_ms, status="error")
            raise FunctionError(document, report)
        return restore_ms

    # -- helpers ---------------------------------------------------------------
    def _wait_for(self, kinds: set[str], timeout: float) -> RuntimeMessage | None:
        """The runtime's next message of ``kinds``; None on timeout or if the process exited."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self._api.next_message(min(left, 0.05))
            if message is not None and message.kind in kinds:
                return message
            if message is None and self._process is not None and self._process.poll() is not None:
                # The runtime may have reported (init/error) just before exiting.
                message = self._api.next_message(0)
                return message if message is not None and message.kind in kinds else None
        return None

    def _init_failure(self, message: RuntimeMessage | None, timeout: float) -> dict[str, Any]:
        if message is not None and message.kind == "init_error":
            return message.error_document()
        if self._process is not None and self._process.poll() is not None:
            return {"errorType": "Runtime.ExitError", "errorMessage": f"Runtime exited: {self._exit()}"}
        return {"errorType": "Sandbox.Timedout", "errorMessage": f"INIT took longer than {timeout:.0f} s"}

    def _exit(self) -> str:
        code = self._process.poll() if self._process else None
        if code is None:
            return "still running"
        return f"signal {-code}" if code < 0 else f"exit status {code}"

    def _forward_logs(self) -> None:
        if self._output is not None:
            lines = self._output.take()
            if lines:
                self.log_sink(lines)

    def _max_memory_used_mb(self) -> int:
        """The process's peak resident memory (VmHWM), as Lambda's Max Memory Used."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return 0
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return math.ceil(int(line.split()[1]) / 1024)
        return 0


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def write_to_stderr(lines: list[str]) -> None:
    for line in lines:
        print(line, file=sys.stderr)
    sys.stderr.flush()
