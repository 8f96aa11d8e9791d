"""The first sign-in's round trips, made during INIT (or right after a SnapStart restore), side by side.

On an **on-demand** INIT someone is waiting for this environment: the JWKS, the secrets
and the Partner API's TCP and TLS handshake are fetched in threads while the calling
thread creates the AWS clients and goes on with INIT's imports; the first request is left
with the Partner API call on a connection already open. Never before a SnapStart snapshot
(no secret may enter it; ``Container.after_restore`` fetches after the restore instead),
only the AWS clients ahead of provisioned concurrency (its fetches would be stale by the
first request), and nothing with tracing on (INIT has no X-Ray segment to record them in).

Every step is best effort and bounded: its waits end by ``BOUND_SECONDS``, a failure leaves
nothing behind, and the first request fetches as it always did. The measurements and the
reasoning behind the bound: docs/decisions/init-prefetch.md.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

import urllib3

from handler.aws_clients import AwsClients
from handler.http_pool import preconnect
from handler.partners import PartnerServices

__all__ = ["BOUND_SECONDS", "GRACE_SECONDS", "Prefetch", "fetch_ahead"]

BOUND_SECONDS = 2.0
# After the deadline, time for a thread whose last wait just timed out to return.
GRACE_SECONDS = 0.25

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


class Prefetch:
    """Daemon threads joined by the deadline plus a grace; a task's failure is logged, never raised."""

    def __init__(self, bound_seconds: float = BOUND_SECONDS) -> None:
        self.deadline = time.monotonic() + bound_seconds
        self._threads: list[threading.Thread] = []

    def start(self, name: str, task: Callable[[], object]) -> None:
        def run() -> None:
            try:
                task()
            except Exception as error:  # noqa: BLE001 - best effort: the request fetches again
                # The type only: a message could carry a URL or an answer's text.
                _log.warning(
                    "prefetch %s failed (%s); the first request will fetch", name, type(error).__name__
                )

        thread = threading.Thread(target=run, name=f"prefetch-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def join(self) -> None:
        """Wait for every thread, at most until the deadline (plus the grace)."""
        for thread in self._threads:
            thread.join(max(0.0, self.deadline - time.monotonic()) + GRACE_SECONDS)
        stuck = [thread.name for thread in self._threads if thread.is_alive()]
        if stuck:  # only a wait no timeout covers (DNS) gets here
            _log.warning("prefetch still running after its bound: %s", ", ".join(stuck))


def fetch_ahead(
    prefetch: Prefetch,
    http: urllib3.PoolManager,
    clients: AwsClients,
    partners: Iterable[PartnerServices],
    create_clients: tuple[str, ...] = (),
) -> None:
    """Start the key sets', the connections' and the secrets' fetches of ``partners``, each once.

    ``create_clients`` are made on this thread meanwhile (CPU): Secrets Manager's before the
    secret reads start, the others while they wait.
    """
    wired = list(partners)
    deadline = prefetch.deadline
    for keys in _unique(partner.keys for partner in wired):
        prefetch.start("jwks", functools.partial(keys.warm, timeout_at=deadline))
    for url in dict.fromkeys(partner.partner.destination.bi_base_url for partner in wired):
        prefetch.start("partner-api", functools.partial(preconnect, http, url, deadline))
    clients.warm(*[service for service in create_clients if service == "secretsmanager"])
    for secret in _unique(secret for partner in wired for secret in partner.secrets):
        client_until = functools.partial(clients.uncached, "secretsmanager")
        prefetch.start("secret", functools.partial(secret.prefetch, client_until, deadline))
    clients.warm(*[service for service in create_clients if service != "secretsmanager"])


def _unique(items: Iterable[_T]) -> list[_T]:
    """Each object once, by identity: sources shared by several partners are fetched once."""
    return list({id(item): item for item in items}.values())
