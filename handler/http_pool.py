"""The one urllib3 pool (Partner API, JWKS), and opening one of its TLS connections ahead of a request.

TLS 1.3 servers send session tickets after the handshake, and nobody reads them until a
request does. urllib3 judges a pooled connection alive by its socket *not* being readable,
so a connection opened ahead of its first request looked dropped and was replaced.
``TicketReadingHTTPSConnection`` reads such post-handshake records before that check.
"""

from __future__ import annotations

import ssl
import time
from typing import Any

import urllib3
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.wait import wait_for_read

__all__ = ["TicketReadingHTTPSConnection", "new_http_pool", "preconnect"]


def new_http_pool(**pool_options: Any) -> urllib3.PoolManager:
    """The pool for the Partner API and the JWKS (TLS verified), reusing connections opened ahead."""
    pool = urllib3.PoolManager(num_pools=4, maxsize=4, retries=False, **pool_options)
    pool.pool_classes_by_scheme = {"http": HTTPConnectionPool, "https": _TicketReadingHTTPSConnectionPool}
    return pool


def _read_post_handshake_records(sock: ssl.SSLSocket) -> bool:
    """Let OpenSSL read what is waiting (session tickets); False if it was data or the end.

    A non-blocking ``recv`` processes post-handshake messages and, with no application data
    behind them, raises ``SSLWantReadError``: the connection is good.
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
            return True  # nothing waiting: urllib3's own test
        # Session tickets are no reason to drop a connection; data before any request, or a close, is.
        return (
            isinstance(sock, ssl.SSLSocket)
            and _read_post_handshake_records(sock)
            and not wait_for_read(sock, timeout=0.0)
        )


class _TicketReadingHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = TicketReadingHTTPSConnection


def preconnect(http: urllib3.PoolManager, url: str, deadline: float) -> bool:
    """Open (TCP and TLS) one pooled connection to ``url``'s host by ``deadline``; True if one is ready.

    urllib3 has no public call that connects without a request, so this takes a connection
    from the host's pool, connects it and puts it back, as its ``urlopen`` does around a request.
    A failure leaves the pool as it was.
    """
    left = deadline - time.monotonic()
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
        pool._put_conn(None)  # the slot back, empty: the request opens its own
        raise
    pool._put_conn(connection)
    return True
