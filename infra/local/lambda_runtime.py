"""The slice of the Lambda runtime a local invocation needs: a context object and a cold import."""

from __future__ import annotations

import importlib
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LambdaHandler = Callable[[dict[str, Any], Any], Any]
LOCAL_ACCOUNT_ID = "123456789012"


@dataclass
class LambdaContext:
    """The attributes of Lambda's Python context that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout_seconds: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        # The clock starts when the invocation does, as in Lambda.
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout (never negative)."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def new_context(function_name: str, memory_mb: int, timeout_seconds: float, region: str) -> LambdaContext:
    """A fresh context for one invocation."""
    arn = f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{function_name}"
    return LambdaContext(function_name, memory_mb, arn, timeout_seconds)


class ColdImport:
    """Imports a handler as a new Lambda container would: fresh modules, current environment.

    The function reads its configuration at import, so the package is imported
    anew (its already-loaded modules are set aside) after the stack has set the
    environment. The fresh modules stay private to the handler: the previous ones are
    put back as soon as it is imported, so other code in the same process (tests, the
    stack) goes on importing the modules it had, never a mix of both. The handler
    imports what it needs while it is built, never later.
    """

    def __init__(self, dotted_path: str) -> None:
        module_name, _, attribute = dotted_path.rpartition(".")
        if not module_name:
            raise ValueError(f"handler must be module.function, got {dotted_path!r}")
        self._module_name = module_name
        self._attribute = attribute
        self._package = module_name.split(".")[0]

    def load(self) -> LambdaHandler:
        """Import the module fresh and return the handler function."""
        package = self._package
        saved = {name: module for name, module in sys.modules.items() if name.partition(".")[0] == package}
        for name in saved:
            del sys.modules[name]
        try:
            module = importlib.import_module(self._module_name)
            handler: LambdaHandler = getattr(module, self._attribute)
        finally:
            for name in [name for name in sys.modules if name.partition(".")[0] == package]:
                del sys.modules[name]
            sys.modules.update(saved)
        return handler


class EnvironmentPool:
    """Lambda's concurrency model: an execution environment serves one invocation at a time.

    An invocation takes an idle environment; when none is idle it gets a new one (a
    cold start) from ``new_environment``, up to ``limit``, and otherwise waits. With no
    ``new_environment`` the pool holds ``first`` alone, so invocations are serialized.
    An environment whose ``alive`` attribute turns false (``environments.ProcessEnvironment``
    ended at its timeout) leaves the pool; the next invocation then gets a fresh one.

    The environments that run in parallel are processes: Powertools' resolver keeps the
    current event on a class attribute shared by every resolver in a process, so two
    handlers imported into one process would race (one user's answer went to another).
    """

    def __init__(
        self,
        first: LambdaHandler | None,
        new_environment: Callable[[], LambdaHandler] | None = None,
        limit: int = 64,
    ) -> None:
        self._idle = [first] if first is not None else []
        self._size = len(self._idle)
        self._new_environment = new_environment
        self._limit = limit if new_environment is not None else 1
        self._available = threading.Condition()

    @property
    def size(self) -> int:
        """How many environments exist (idle or busy)."""
        return self._size

    def invoke(self, event: dict[str, Any], context: Any) -> Any:
        """Run one invocation on an environment of its own."""
        handler = self._acquire()
        try:
            return handler(event, context)
        finally:
            with self._available:
                # An environment that ended (a process killed at its timeout) is not reused.
                if getattr(handler, "alive", True):
                    self._idle.append(handler)
                else:
                    self._size -= 1
                self._available.notify()

    def _acquire(self) -> LambdaHandler:
        with self._available:
            while not self._idle and self._size >= self._limit:
                self._available.wait()
            if self._idle:
                return self._idle.pop()
            self._size += 1  # reserved: created below, outside the condition
        assert self._new_environment is not None  # _limit is 1 without it
        try:
            return self._new_environment()  # cold starts run in parallel, as Lambda's do
        except BaseException:
            with self._available:
                self._size -= 1
                self._available.notify()
            raise
