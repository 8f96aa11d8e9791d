"""The slice of the Lambda runtime a local invocation needs: a context object and a cold import."""

from __future__ import annotations

import importlib
import sys
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
    timeout_seconds: int
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


def new_context(function_name: str, memory_mb: int, timeout_seconds: int, region: str) -> LambdaContext:
    """A fresh context for one invocation."""
    arn = f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{function_name}"
    return LambdaContext(function_name, memory_mb, arn, timeout_seconds)


class ColdImport:
    """Imports a handler as a new Lambda container would: fresh modules, current environment.

    The function reads its configuration at import, so the package is imported
    anew (its already-loaded modules are set aside) after the stack has set the
    environment. ``release()`` puts the previous modules back, so other code in
    the same process (e.g. unit tests) keeps the modules it had.
    """

    def __init__(self, dotted_path: str) -> None:
        module_name, _, attribute = dotted_path.rpartition(".")
        if not module_name:
            raise ValueError(f"handler must be module.function, got {dotted_path!r}")
        self._module_name = module_name
        self._attribute = attribute
        self._package = module_name.split(".")[0]
        self._saved: dict[str, Any] = {}

    def load(self) -> LambdaHandler:
        """Import the module fresh and return the handler function."""
        self._saved = {
            name: module
            for name, module in sys.modules.items()
            if name == self._package or name.startswith(self._package + ".")
        }
        for name in self._saved:
            del sys.modules[name]
        module = importlib.import_module(self._module_name)
        handler: LambdaHandler = getattr(module, self._attribute)
        return handler

    def release(self) -> None:
        """Drop the fresh modules and restore whatever was loaded before ``load()``."""
        for name in [n for n in sys.modules if n == self._package or n.startswith(self._package + ".")]:
            del sys.modules[name]
        sys.modules.update(self._saved)
        self._saved = {}
