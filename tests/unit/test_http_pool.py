"""handler.http_pool: the pool's connections and ``preconnect`` (against the session's HTTPS server).

That a pre-opened connection with unread TLS 1.3 session tickets is reused, where urllib3's own
connection class drops it, is shown against real servers in tests/faults/test_init_prefetch.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from urllib3.exceptions import NewConnectionError

from handler.http_pool import TicketReadingHTTPSConnection, new_http_pool, preconnect
from tests.support.ports import LOOPBACK, free_port


def test_https_connections_read_session_tickets_and_nothing_is_retried_behind_the_callers_back() -> None:
    pool = new_http_pool()

    assert pool.connection_from_url("https://example.test/").ConnectionCls is TicketReadingHTTPSConnection
    assert pool.connection_pool_kw["retries"].total is False


def test_a_connection_opened_ahead_is_the_one_the_request_uses(
    partner_server: HTTPServer, ca_file: Path
) -> None:
    partner_server.expect_request("/ping").respond_with_data("pong")
    pool = new_http_pool(ca_certs=str(ca_file))
    url = partner_server.url_for("/ping")

    assert preconnect(pool, url, time.monotonic() + 5)
    [opened] = [c for c in pool.connection_from_url(url).pool.queue if c is not None]  # type: ignore[union-attr]
    assert opened.is_connected
    assert preconnect(pool, url, time.monotonic() + 5)  # already open: kept, not another
    assert pool.request("GET", url).data == b"pong"
    assert list(pool.connection_from_url(url).pool.queue).count(opened) == 1  # type: ignore[union-attr]


def test_no_time_left_opens_nothing() -> None:
    pool = new_http_pool()

    assert preconnect(pool, "https://example.test/", time.monotonic() - 1) is False
    assert len(pool.pools) == 0


def test_a_failed_connect_raises_and_leaves_the_slot_for_the_request() -> None:
    pool = new_http_pool()
    url = f"https://{LOOPBACK}:{free_port()}/"  # nothing listens

    with pytest.raises(NewConnectionError):
        preconnect(pool, url, time.monotonic() + 5)
    assert all(slot is None for slot in pool.connection_from_url(url).pool.queue)  # type: ignore[union-attr]


def test_a_connection_never_opened_is_not_connected() -> None:
    assert TicketReadingHTTPSConnection(LOOPBACK, 443).is_connected is False
