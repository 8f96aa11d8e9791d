"""The first sign-in's round trips, moved into INIT and run side by side.

Sign-ins are sparse, so most land on a new execution environment, and the first
request used to pay every round trip in turn: OIDC discovery and the JWKS, the
Secrets Manager read, the Partner API's TCP and TLS handshakes, then its call.
On an **on-demand** INIT (``AWS_LAMBDA_INITIALIZATION_TYPE=on-demand``) they run
now instead, in threads, while the calling thread creates the AWS clients (CPU the
first request would otherwise spend) and then goes on with INIT's remaining
imports (``handler/entry_point.py`` joins the threads last); the first request is
left with the Partner API call on a connection already open.

When, and why only then:

- ``on-demand``: someone is waiting for this environment, and INIT's result is
  used at once. Everything is prefetched.
- ``snap-start``: never. INIT runs when a version is published and its memory is
  snapshotted and shared by every restored copy: no secret may enter it, and a
  pre-opened connection would be shared and stale. ``Container.before_snapshot``
  warms only what is public; after a restore, ``after_restore`` overlaps the secret
  read, the key-set refresh and the pre-connect (``refresh_after_restore``).
- ``provisioned-concurrency``: the AWS clients only (CPU, no network). The
  environment is initialised ahead of traffic, for sparse traffic often long
  before its first request: by then the secret's cache period and the key set's
  max age would have run out and an idle connection been closed, so their fetches
  would be wasted calls; the clients keep.
- tracing on: nothing moves. During INIT there is no X-Ray segment to attach the
  calls to (Lambda opens one per invocation), so moved calls would vanish from the
  traces the operator turned tracing on to see; the cold path stays as it was.

Every step is best effort: a failure leaves nothing behind (no value, no cached
error, no refetch cooldown), and the first request fetches as it always did.

The bound (``BOUND_SECONDS``, 2 s): every network wait of the prefetch is cut to
end by it (connect and read timeouts computed from a deadline), and INIT joins the
threads at the deadline plus a short grace. Lambda ends an INIT that takes longer
than 10 s (it then retries the initialisation inside the first invocation); this
function's INIT is CPU (imports, clients: about 0.6 s on a full vCPU, so
roughly 4 s at 256 MB, where Lambda gives about a seventh of one), so 2 s of
waiting on top still leaves a few seconds' margin at the smallest memory size,
while a healthy prefetch takes a few hundred milliseconds. A dependency slower
than that is left to the first request, with its own timeouts. Not bounded by a
socket timeout: DNS resolution (``getaddrinfo``), and a server that trickles its
answer (urllib3 and botocore time each socket read, not the whole answer); a thread
stuck there outlives the join (it is logged), and its result, if any, lands under the
components' locks as a request's would, so the first request may wait for it as it
would for its own fetch. Otherwise no prefetch thread is alive when INIT ends.

The pre-opened connection and TLS 1.3: the server sends its session tickets
after the handshake, and nobody reads them until a request does. urllib3 asks
whether a pooled connection is still good by checking its socket is *not*
readable, so the unread tickets made it look dropped and urllib3 opened a second
connection, losing the pre-connect's gain. ``TicketReadingHTTPSConnection``
reads such post-handshake records before that check (``new_http_pool`` uses it).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import urllib3
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.wait import wait_for_read

if TYPE_CHECKING:
    from handler.container import Container

__all__ = [
    "BOUND_SECONDS",
    "Prefetch",
    "TicketReadingHTTPSConnection",
    "prefetch_during_init",
    "reading_session_tickets",
    "refresh_after_restore",
    "start_prefetch_during_init",
]

BOUND_SECONDS = 2.0
# After the deadline, time for a thread whose last wait just timed out to return.
GRACE_SECONDS = 0.25

_log = logging.getLogger(__name__)


def start_prefetch_during_init(
    container: Container,
    initialization_type: str | None,
    *,
    tracing: bool,
    bound_seconds: float = BOUND_SECONDS,
) -> Prefetch:
    """What INIT does ahead of the first request, by Lambda's ``AWS_LAMBDA_INITIALIZATION_TYPE``.

    Returns with the network still under way, so that the caller's remaining imports
    overlap it; the caller joins (``Prefetch.join``) before INIT ends.
    """
    deadline = time.monotonic() + bound_seconds
    prefetch = Prefetch(deadline)
    if tracing or initialization_type not in ("on-demand", "provisioned-concurrency"):
        return prefetch
    if initialization_type == "provisioned-concurrency":
        _create_clients(container)
        return prefetch
    prefetch.start("jwks", lambda: container.keys.warm(timeout_at=deadline))
    prefetch.start("partner-api", lambda: container.partner_api.preconnect(deadline))
    # CPU, here, while the threads wait on the network: the Secrets Manager clients, then
    # the secret reads, which wait beside the DynamoDB client's creation and the caller's imports.
    _create_secret_clients(container)
    for source in container.secrets:
        prefetch.start("secret", functools.partial(source.prefetch, deadline))
    _create_replay_client(container)
    return prefetch


def prefetch_during_init(
    container: Container,
    initialization_type: str | None,
    *,
    tracing: bool,
    bound_seconds: float = BOUND_SECONDS,
) -> None:
    """``start_prefetch_during_init``, joined."""
    start_prefetch_during_init(
        container, initialization_type, tracing=tracing, bound_seconds=bound_seconds
    ).join()


def refresh_after_restore(container: Container, bound_seconds: float = BOUND_SECONDS) -> None:
    """After a SnapStart restore: the secret read, the key-set refresh and the pre-connect, side by side."""
    deadline = time.monotonic() + bound_seconds
    prefetch = Prefetch(deadline)
    prefetch.start("jwks", lambda: container.keys.warm(timeout_at=deadline))
    prefetch.start("partner-api", lambda: container.partner_api.preconnect(deadline))
    for source in container.secrets:
        prefetch.start("secret", functools.partial(source.prefetch, deadline))
    prefetch.join()


def _create_clients(container: Container) -> None:
    """The AWS clients (botocore's import and client creation: CPU the first request would spend)."""
    _create_secret_clients(container)
    _create_replay_client(container)


def _create_secret_clients(container: Container) -> None:
    for source in container.secrets:
        with contextlib.suppress(Exception):  # e.g. no region: the request reports it, as today
            source.warm_client()


def _create_replay_client(container: Container) -> None:
    if container.replay_guard is not None:
        with contextlib.suppress(Exception):
            container.replay_guard.warm_client()


class Prefetch:
    """Daemon threads joined by ``deadline`` plus a grace; a task's failure is logged, never raised."""

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline
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
            thread.join(max(0.0, self._deadline - time.monotonic()) + GRACE_SECONDS)
        stuck = [thread.name for thread in self._threads if thread.is_alive()]
        if stuck:  # only a wait no timeout covers (DNS) gets here
            _log.warning("prefetch still running after its bound: %s", ", ".join(stuck))


def seconds_left(deadline: float) -> float:
    """Seconds until ``deadline`` (``time.monotonic``), never negative."""
    return max(0.0, deadline - time.monotonic())


# ---- a pooled TLS connection opened ahead of its first request ------------------------------------
def _read_post_handshake_records(sock: ssl.SSLSocket) -> bool:
    """Let OpenSSL read what is waiting (session tickets); False if it was data or the end.

    A non-blocking ``recv`` processes post-handshake messages and, with no
    application data behind them, raises ``SSLWantReadError``: the connection is
    good. Application data before any request, or the peer's close, means it is not.
    """
    timeout = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        sock.recv(1)
    except ssl.SSLWantReadError:
        return True
    except OSError:
        return False
    finally:
        sock.settimeout(timeout)
    return False


class TicketReadingHTTPSConnection(HTTPSConnection):
    """urllib3's HTTPS connection, which reads TLS 1.3 session tickets before judging itself dropped."""

    @property
    def is_connected(self) -> bool:
        sock = self.sock
        if sock is None:
            return False
        if not wait_for_read(sock, timeout=0.0):
            return True  # nothing waiting: urllib3's own test, one poll as before
        # Something is waiting: session tickets are no reason to drop a TLS connection;
        # application data before any request, or the peer's close, is.
        return (
            isinstance(sock, ssl.SSLSocket)
            and _read_post_handshake_records(sock)
            and not wait_for_read(sock, timeout=0.0)
        )


class TicketReadingHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = TicketReadingHTTPSConnection


def reading_session_tickets(pool_manager: urllib3.PoolManager) -> urllib3.PoolManager:
    """``pool_manager``, its https pools made of ``TicketReadingHTTPSConnection``."""
    pool_manager.pool_classes_by_scheme = {
        "http": HTTPConnectionPool,
        "https": TicketReadingHTTPSConnectionPool,
    }
    return pool_manager


def preconnect(http: urllib3.PoolManager, url: str, deadline: float) -> bool:
    """Open (TCP and TLS) one pooled connection to ``url``'s host now; True if one is ready.

    urllib3 has no public call that connects without a request, so this takes a
    connection from the host's pool, connects it, and puts it back, as urllib3's
    own ``urlopen`` does around a request (``_get_conn`` / ``_put_conn``).
    """
    left = seconds_left(deadline)
    if left <= 0:
        return False
    pool = http.connection_from_url(url)
    connection: Any = pool._get_conn()
    if not connection.is_closed:  # an open, usable connection is already pooled
        pool._put_conn(connection)
        return True
    connection.timeout = left
    try:
        connection.connect()
    except Exception:
        connection.close()
        pool._put_conn(None)  # the slot back, empty: the request opens its own, as today
        raise
    pool._put_conn(connection)
    return True
