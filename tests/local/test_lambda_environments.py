"""Execution environments as processes: awslambdaric against the local Runtime API.

Most tests run a stand-in function (a few lines written to a temporary task
root) under the real runtime client on Python 3.13, because what they prove
belongs to the environments, not to our handler: one invocation at a time, the
timeout ending the environment, INIT failures, the SnapStart hooks' order. The
built artifact (our handler) is used where its answer matters: an INIT refused
by its configuration, and the stack.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from infra.local import environments
from infra.local.api_gateway import LocalApiGateway
from infra.local.environments import (
    DEFAULT_RUNTIME_PYTHON,
    FunctionError,
    FunctionRuntime,
    InitError,
    ProcessEnvironment,
    ProcessExecution,
)
from infra.local.lambda_runtime import EnvironmentPool
from infra.local.sam_template import FunctionSpec, Route, read_function_spec
from infra.local.stack import DEFAULT_TEMPLATE, LocalStack, Ports, StackConfigurationError
from tests.local.conftest import fetch

pytestmark = pytest.mark.usefixtures("lambda_runtime_ready")

STAND_IN = """\
import json
import logging
import os
import time

from snapshot_restore_py import register_after_restore, register_before_snapshot

calls = []
INIT_TYPE = "AWS_LAMBDA_INITIALIZATION_TYPE"
register_before_snapshot(lambda: calls.append(["before_snapshot", os.environ[INIT_TYPE]]))
register_after_restore(lambda: calls.append(["after_restore"]))
if os.environ.get("FAIL_INIT"):
    raise RuntimeError("the stand-in refuses to start")
hang = os.environ.get("HANG_INIT", "")  # "always", or a file: only the INIT that creates it hangs
if hang == "always" or (hang and not os.path.exists(hang)):
    if hang != "always":
        open(hang, "w").close()
    time.sleep(60)

RESERVED = ("_HANDLER", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_REGION",
            "LAMBDA_TASK_ROOT", "TZ", "GREETING")


def handler(event, context):
    calls.append(["invoke", context.aws_request_id])
    time.sleep(float((event.get("queryStringParameters") or {}).get("sleep", "0")))
    body = {"pid": os.getpid(), "calls": calls, "env": {name: os.environ.get(name) for name in RESERVED},
            "remaining_ms": context.get_remaining_time_in_millis()}
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
"""
TIMEOUT_SECONDS = 1


@pytest.fixture
def stand_in(tmp_path: Path) -> FunctionSpec:
    (tmp_path / "stand_in.py").write_text(STAND_IN)
    return FunctionSpec(
        logical_id="StandIn",
        handler="stand_in.handler",
        timeout_seconds=TIMEOUT_SECONDS,
        memory_mb=128,
        routes=(Route("GET", "/work"),),
    )


def stand_in_runtime(spec: FunctionSpec, task_root: Path, **variables: str) -> FunctionRuntime:
    return FunctionRuntime.for_function(
        spec, {"GREETING": "hello", **variables}, region="eu-west-1", task_root=task_root
    )


@pytest.fixture
def gateway_factory() -> Iterator[Any]:
    """A local API Gateway in front of a pool of process environments (stopped afterwards)."""
    started: list[ProcessEnvironment] = []
    gateways: list[LocalApiGateway] = []

    def make(runtime: FunctionRuntime) -> tuple[LocalApiGateway, EnvironmentPool]:
        def new_environment() -> ProcessEnvironment:
            environment = ProcessEnvironment(runtime, log_sink=lambda lines: None)
            started.append(environment)
            environment.start()
            return environment

        spec = FunctionSpec(runtime.function_name, runtime.handler, runtime.timeout_seconds, 128, ROUTES)
        pool = EnvironmentPool(None, new_environment)
        gateway = LocalApiGateway(pool.invoke, spec, environments=pool)
        gateway.start()
        gateways.append(gateway)
        return gateway, pool

    yield make
    for gateway in gateways:
        gateway.stop()
    for environment in started:
        environment.stop()


ROUTES = (Route("GET", "/work"), Route("GET", "/health"))


def work(gateway: LocalApiGateway, sleep: float = 0) -> tuple[int, Any]:
    answer = fetch("GET", f"{gateway.url}/work?sleep={sleep}")
    return answer.status, answer.json()


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_environment_gets_the_reserved_variables_and_the_functions_own(
    stand_in: FunctionSpec, tmp_path: Path
) -> None:
    environment = ProcessEnvironment(stand_in_runtime(stand_in, tmp_path), log_sink=lambda lines: None)
    environment.start()
    try:
        first = environment.invoke(b'{"rawPath": "/work"}')
        second = environment.invoke(b'{"rawPath": "/work"}')
    finally:
        environment.stop()
    body = json.loads(first.json()["body"])
    assert body["env"] == {
        "_HANDLER": "stand_in.handler",
        "AWS_LAMBDA_FUNCTION_NAME": "StandIn",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": "eu-west-1",
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "TZ": ":UTC",
        "GREETING": "hello",
    }
    assert body["pid"] != os.getpid()
    assert 0 < body["remaining_ms"] <= TIMEOUT_SECONDS * 1000  # the deadline from /next's header
    # The first invocation reports INIT (and bills it); a warm one does not.
    assert first.report.init_ms is not None and first.report.init_ms > 0
    assert first.report.billed_ms >= first.report.init_ms + first.report.duration_ms
    assert first.report.max_memory_used_mb > 5
    assert second.report.init_ms is None and "Init Duration" not in second.report.line()
    assert second.report.line().startswith(f"REPORT RequestId: {second.report.request_id}\tDuration: ")


def test_one_environment_never_runs_two_invocations_at_once(
    stand_in: FunctionSpec, tmp_path: Path, gateway_factory: Any
) -> None:
    gateway, pool = gateway_factory(stand_in_runtime(stand_in, tmp_path))
    with ThreadPoolExecutor(max_workers=3) as clients:
        answers = list(clients.map(lambda _: work(gateway, 0.3), range(6)))
    assert [status for status, _ in answers] == [200] * 6
    environments: list[ProcessEnvironment] = [e for e in pool._idle if isinstance(e, ProcessEnvironment)]
    # Concurrent requests made the pool grow (each new environment a cold start)...
    assert 2 <= pool.size <= 3 and len(environments) == pool.size
    assert len({body["pid"] for _, body in answers}) == pool.size
    # ...and each environment ran its invocations one after another, never overlapping.
    for environment in environments:
        spans = sorted((started, ended) for _, started, ended in environment.history)
        assert all(previous[1] <= following[0] for previous, following in itertools.pairwise(spans))
    assert sum(len(e.history) for e in environments) == 6

    # The environment itself refuses a second invocation while one runs.
    busy = environments[0]
    running = threading.Thread(target=busy.invoke, args=(b'{"queryStringParameters": {"sleep": "0.5"}}',))
    running.start()
    try:
        while not busy._busy.locked():
            pass
        with pytest.raises(RuntimeError, match="one invocation at a time"):
            busy.invoke(b"{}")
    finally:
        running.join()


def test_a_timeout_ends_the_environment_and_the_next_request_gets_a_fresh_one(
    stand_in: FunctionSpec, tmp_path: Path, gateway_factory: Any
) -> None:
    gateway, pool = gateway_factory(stand_in_runtime(stand_in, tmp_path))
    status, body = work(gateway)
    assert status == 200
    first_pid = body["pid"]

    answer = fetch("GET", f"{gateway.url}/work?sleep=5")
    # Lambda ends the invocation at the function's timeout (1 s here, well inside the HTTP
    # API's 30 s integration timeout): a function error, which API Gateway answers with 500.
    assert answer.status == 500
    assert answer.json() == {"message": "Internal Server Error"}
    assert answer.headers.get("apigw-requestid")
    assert not process_exists(first_pid)  # the environment was ended, not left running
    assert pool.size == 0

    status, body = work(gateway)
    assert status == 200
    assert body["pid"] != first_pid
    assert [call[0] for call in body["calls"]] == ["invoke"]  # a cold environment: nothing before
    assert pool.size == 1


def test_the_timeout_is_reported_as_lambda_reports_it(stand_in: FunctionSpec, tmp_path: Path) -> None:
    logs: list[str] = []
    environment = ProcessEnvironment(stand_in_runtime(stand_in, tmp_path), log_sink=logs.extend)
    environment.start()
    with pytest.raises(FunctionError) as raised:
        environment.invoke(b'{"queryStringParameters": {"sleep": "5"}}', "timeout-request")
    assert raised.value.document == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "RequestId: timeout-request Error: Task timed out after 1.00 seconds",
    }
    assert raised.value.report.status == "timeout"
    assert raised.value.report.duration_ms >= TIMEOUT_SECONDS * 1000  # the whole timeout, as Lambda bills it
    assert any(line.endswith("timeout-request Task timed out after 1.00 seconds") for line in logs)
    assert logs[-1].startswith("REPORT RequestId: timeout-request") and logs[-1].endswith("Status: timeout")
    assert not environment.alive and environment.pid is not None and not process_exists(environment.pid)


def test_an_init_error_is_answered_as_api_gateway_answers_it(
    stand_in: FunctionSpec, tmp_path: Path, gateway_factory: Any
) -> None:
    gateway, pool = gateway_factory(stand_in_runtime(stand_in, tmp_path, FAIL_INIT="1"))
    for _ in range(2):  # each request tries a fresh INIT, as Lambda does
        answer = fetch("GET", f"{gateway.url}/work")
        assert answer.status == 500
        assert answer.json() == {"message": "Internal Server Error"}
    assert pool.size == 0


def test_the_runtime_reports_the_init_error(stand_in: FunctionSpec, tmp_path: Path) -> None:
    environment = ProcessEnvironment(stand_in_runtime(stand_in, tmp_path, FAIL_INIT="1"), lambda lines: None)
    with pytest.raises(InitError) as raised:
        environment.start()
    assert raised.value.document["errorType"] == "RuntimeError"
    assert raised.value.document["errorMessage"] == "the stand-in refuses to start"
    assert environment.pid is not None and not process_exists(environment.pid)


def test_an_init_past_10_s_runs_again_once_within_the_functions_timeout(
    stand_in: FunctionSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lambda's rule for on-demand INIT: past its 10 s (here 0.5 s), it runs again, once, as part
    of the first invocation, bounded by the function's timeout; the environment then serves."""
    monkeypatch.setattr(environments, "INIT_TIMEOUT_SECONDS", 0.5)
    spec = dataclasses.replace(stand_in, timeout_seconds=30)
    hung = tmp_path / "first-init-hung"
    environment = ProcessEnvironment(
        stand_in_runtime(spec, tmp_path, HANG_INIT=str(hung)), lambda lines: None
    )
    try:
        environment.start()
        first = environment.pid

        answer = environment.invoke(b'{"rawPath": "/work"}')

        assert hung.exists() and environment.alive
        assert json.loads(answer.json()["body"])["pid"] == first
    finally:
        environment.stop()


def test_an_init_that_also_outlasts_the_functions_timeout_is_named_a_timeout(
    stand_in: FunctionSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(environments, "INIT_TIMEOUT_SECONDS", 0.5)
    environment = ProcessEnvironment(
        stand_in_runtime(stand_in, tmp_path, HANG_INIT="always"), lambda lines: None
    )

    with pytest.raises(InitError) as raised:
        environment.start()

    # Not "Runtime exited: signal 9": that SIGKILL is the environment's own, at the bound.
    assert raised.value.document == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"INIT took longer than {TIMEOUT_SECONDS} s",
    }
    assert environment.pid is not None and not process_exists(environment.pid)


def test_our_function_refusing_its_configuration_at_init_is_a_500(gateway_factory: Any) -> None:
    """The built artifact, with a configuration its INIT rejects (an invalid BI_ORG)."""
    function = read_function_spec(DEFAULT_TEMPLATE)
    variables = {**function.environment, "BI_ORG": "Not A Label", "BI_API_KEY_SECRET_ID": "x"}
    gateway, pool = gateway_factory(FunctionRuntime.for_function(function, variables, region="us-east-1"))
    answer = fetch("GET", f"{gateway.url}/health")
    assert answer.status == 500
    assert answer.json() == {"message": "Internal Server Error"}
    assert pool.size == 0


def test_the_stack_refuses_to_start_when_the_function_fails_init() -> None:
    stack = LocalStack(
        ports=Ports.ephemeral(), environ={"JWT_MAX_AGE_SECONDS": "5"}, processes=ProcessExecution()
    )
    with pytest.raises(StackConfigurationError, match=r"the function failed INIT: .*JWT_MAX_AGE_SECONDS"):
        stack.start()
    assert stack.environments and not stack.environments[0].alive


def test_snapstart_runs_before_snapshot_at_init_and_after_restore_before_the_first_invocation(
    stand_in: FunctionSpec, tmp_path: Path
) -> None:
    runtime = FunctionRuntime.for_function(
        stand_in, {}, region="eu-west-1", task_root=tmp_path, snap_start=True
    )
    environment = ProcessEnvironment(runtime, log_sink=lambda lines: None)
    environment.start()
    try:
        first = environment.invoke(b"{}", "first")
        second = environment.invoke(b"{}", "second")
    finally:
        environment.stop()
    calls = json.loads(second.json()["body"])["calls"]
    assert calls == [
        ["before_snapshot", "snap-start"],
        ["after_restore"],
        ["invoke", "first"],
        ["invoke", "second"],
    ]
    assert json.loads(first.json()["body"])["env"]["AWS_LAMBDA_INITIALIZATION_TYPE"] == "snap-start"
    # A restored environment's REPORT: Restore Duration instead of Init Duration (INIT was the publish's).
    assert first.report.restore_ms is not None and first.report.init_ms is None
    assert "\tRestore Duration: " in first.report.line() and "Init Duration" not in first.report.line()
    assert second.report.restore_ms is None


def test_without_the_runtime_the_error_names_the_make_target(stand_in: FunctionSpec, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make lambda-venv"):
        FunctionRuntime.for_function(
            stand_in, {}, region="us-east-1", task_root=tmp_path, python=tmp_path / "no-python"
        )
    assert DEFAULT_RUNTIME_PYTHON.exists()


def test_a_stack_on_process_environments_leaves_this_processs_loggers_alone() -> None:
    """The handler runs elsewhere: its terminal must not attach to the in-process service logger.

    (It once did, and every in-process test after it in the same worker lost Powertools'
    formatter: 'NoneType' object has no attribute 'append_keys'.)
    """
    logger = logging.getLogger("sso-redirector")
    before = list(logger.handlers)
    with LocalStack(
        ports=Ports.ephemeral(), environ={}, processes=ProcessExecution(), access_log=True
    ) as stack:
        assert fetch("GET", f"{stack.api_url}/health").status == 200
    assert logger.handlers == before
