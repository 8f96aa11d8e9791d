"""The AWS clients: one per service per execution environment, shared by every component.

Made with botocore itself rather than boto3, whose extra imports are never used here
(docs/decisions/botocore-clients.md). A botocore session is not safe to share between
threads while it creates clients, and the INIT prefetch creates them from several: creation
holds a lock. ``AWS_ENDPOINT_URL`` points every client at moto locally.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from handler.telemetry import Telemetry

__all__ = ["AwsClients"]

# Connect and read timeouts (seconds) of each service's shared client.
_TIMEOUTS = {"secretsmanager": (2.0, 3.0), "dynamodb": (1.0, 2.0), "kms": (1.0, 2.0)}


class AwsClients:
    """``client(service)``: the shared client, made on first use; ``uncached``: a one-attempt one.

    ``make(service)`` replaces botocore (tests: ``boto3.client`` inside moto's mock).
    Every real ``GetSecretValue`` is counted (``Telemetry.secret_fetched``).
    """

    def __init__(self, telemetry: Telemetry | None = None, make: Callable[[str], Any] | None = None) -> None:
        self._telemetry = telemetry or Telemetry()
        self._make = make
        self._session: Any = None
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._create(service, *_TIMEOUTS[service], retries=True)
            return self._clients[service]

    def factory(self, service: str) -> Callable[[], Any]:
        """``client(service)`` as a component's client factory."""
        return functools.partial(self.client, service)

    def created(self, service: str) -> bool:
        """Whether the shared client of ``service`` exists yet."""
        with self._lock:
            return service in self._clients

    def warm(self, *services: str) -> None:
        """Create the shared clients now (CPU the first request would spend); a failure waits for it."""
        for service in services:
            try:
                self.client(service)
            except Exception:  # noqa: BLE001, S112 - e.g. no region: the request reports it
                continue

    def uncached(self, service: str, timeout: float) -> Any:
        """A client of its own, one attempt, each connect and read bounded by ``timeout`` (the prefetch)."""
        with self._lock:
            return self._create(service, timeout, timeout, retries=False)

    def _create(self, service: str, connect: float, read: float, *, retries: bool) -> Any:
        if self._make is not None:
            client = self._make(service)
        else:
            # Imported here: botocore is slow to import, and only the first use needs it.
            import botocore.session
            from botocore.config import Config

            if self._session is None:
                self._session = botocore.session.get_session()
            config = Config(
                connect_timeout=connect,
                read_timeout=read,
                retries={"mode": "standard", "max_attempts": 2} if retries else {"total_max_attempts": 1},
            )
            client = self._session.create_client(service, config=config)
        if service == "secretsmanager":
            telemetry = self._telemetry
            client.meta.events.register(
                "after-call.secrets-manager.GetSecretValue", lambda **_: telemetry.secret_fetched()
            )
        return client
