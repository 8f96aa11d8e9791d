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

The same machinery serves a partner INIT could not know: a registry partner's first request
fetches its key set, secrets and Partner API connection side by side (``fetch_side_by_side``),
and an LTI launch its platform's key set and secret while it uses the state.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import urllib3

from handler.aws_clients import AwsClients
from handler.http_pool import preconnect
from handler.partners import PartnerServices
from handler.secret_source import SecretSource

__all__ = [
    "BOUND_SECONDS",
    "GRACE_SECONDS",
    "Prefetch",
    "fetch_ahead",
    "fetch_keys_and_secrets",
    "fetch_side_by_side",
    "open_registry_connection",
]

BOUND_SECONDS = 2.0
# After the deadline, time for a thread whose last wait just timed out to return.
GRACE_SECONDS = 0.25

_log = logging.getLogger(__name__)
# No registry record has this key (a partner's is its issuer, an LTI registration's starts lti|).
_NO_RECORD_KEY = "connection-check"
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
    *,
    shared_secrets: bool = False,
) -> None:
    """Start the key sets', the connections' and the secrets' fetches of ``partners``, each once.

    The secrets are read one after another on one client, so on one connection: a client of
    their own bounded by the deadline or, with ``shared_secrets`` (a registry deployment, whose
    partners' secrets are read later on the shared client), the shared client, whose connection
    they leave open for those reads. ``create_clients`` are made on this thread meanwhile (CPU):
    Secrets Manager's before the secret reads start, the others while they wait.
    """
    wired = list(partners)
    deadline = prefetch.deadline
    _start_keys_and_connections(prefetch, http, wired)
    clients.warm(*[service for service in create_clients if service == "secretsmanager"])
    secrets = _unique(secret for partner in wired for secret in partner.secrets)
    if secrets and shared_secrets:
        prefetch.start("secret", functools.partial(_read_each, secrets, SecretSource.get))
    elif secrets:

        def read_on_a_bounded_client() -> None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no time left before the prefetch's bound")
            # Its connect and every read share what is left, so the last read ends by the bound.
            client = clients.uncached("secretsmanager", left / (len(secrets) + 1))
            _read_each(secrets, lambda secret: secret.prefetch(lambda _: client, deadline))

        prefetch.start("secret", read_on_a_bounded_client)
    clients.warm(*[service for service in create_clients if service != "secretsmanager"])


def fetch_side_by_side(
    http: urllib3.PoolManager, partner: PartnerServices, bound_seconds: float = BOUND_SECONDS
) -> None:
    """A partner wired on the request path (a registry partner's first request): its key set, its
    secrets and its Partner API connection, started together, waited on until done or the bound.

    Each fetch fills the cache the request reads next (the key set, the ``SecretSource`` on the
    shared client, the pool), under that cache's own lock: a request needing the same thing
    meanwhile waits for this fetch rather than making its own. A failure leaves nothing behind:
    the request fetches as it would have.
    """
    prefetch = Prefetch(bound_seconds)
    _start_keys_and_connections(prefetch, http, [partner])
    prefetch.start("secret", functools.partial(_read_each, partner.secrets, SecretSource.get))
    prefetch.join()


def fetch_keys_and_secrets(
    find: Callable[[], PartnerServices | None], bound_seconds: float = BOUND_SECONDS
) -> Prefetch:
    """Start fetching the key set and the secrets of the partner ``find`` answers (None: nothing).

    For a request that has a round trip of its own to make meanwhile (an LTI launch uses its
    state): the caller makes it, then joins. ``find`` runs on each fetch's thread, so a
    registry read it needs overlaps too. The Partner API is not contacted.
    """
    prefetch = Prefetch(bound_seconds)

    def keys() -> None:
        if (partner := find()) is not None:
            partner.keys.warm(timeout_at=prefetch.deadline)

    def secrets() -> None:
        if (partner := find()) is not None:
            _read_each(partner.secrets, SecretSource.get)

    prefetch.start("jwks", keys)
    prefetch.start("secret", secrets)
    return prefetch


def open_registry_connection(client: Callable[[], Any], table_name: str) -> None:
    """One ``GetItem`` for a key no record has, on the shared DynamoDB client: its connection opened.

    botocore has no public call that only connects; this read is the cheapest real one the
    function's role allows (the registry's ``GetItem``): half a read capacity unit, one round trip.
    """
    key = {"issuer": {"S": _NO_RECORD_KEY}}
    client().get_item(TableName=table_name, Key=key, ProjectionExpression="issuer")


def _start_keys_and_connections(
    prefetch: Prefetch, http: urllib3.PoolManager, partners: list[PartnerServices]
) -> None:
    for keys in _unique(partner.keys for partner in partners):
        prefetch.start("jwks", functools.partial(keys.warm, timeout_at=prefetch.deadline))
    for url in dict.fromkeys(partner.partner.destination.bi_base_url for partner in partners):
        prefetch.start("partner-api", functools.partial(preconnect, http, url, prefetch.deadline))


def _read_each(secrets: Iterable[SecretSource], read: Callable[[SecretSource], object]) -> None:
    """``read`` every secret, in turn (one connection); the first failure is raised after the rest."""
    failure: Exception | None = None
    for secret in secrets:
        try:
            read(secret)
        except Exception as error:  # noqa: BLE001 - the others are still worth reading
            failure = failure or error
    if failure is not None:
        raise failure


def _unique(items: Iterable[_T]) -> list[_T]:
    """Each object once, by identity: sources shared by several partners are fetched once."""
    return list({id(item): item for item in items}.values())
