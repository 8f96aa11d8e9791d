"""handler.prefetch.Prefetch: the INIT prefetch's threads, bounded and never failing INIT.

What each prefetch fetches, and its bound against slow and failing servers, is shown against real
servers in tests/faults/test_init_prefetch.py and test_registry_cold_path.py.
"""

from __future__ import annotations

import logging
import threading

import pytest

from handler import prefetch
from handler.prefetch import Prefetch


def test_a_failing_task_is_logged_by_its_type_only_and_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    def fails() -> None:
        raise ValueError("https://idp.partner.test/jwks?answer=must-not-show")

    work = Prefetch()
    work.start("keys", fails)
    work.join()

    [record] = [r for r in caplog.records if r.name == prefetch.__name__]
    assert record.levelno == logging.WARNING
    assert "prefetch keys failed (ValueError)" in record.getMessage()
    assert "must-not-show" not in caplog.text


def test_join_returns_at_the_bound_and_names_the_thread_still_running(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prefetch, "GRACE_SECONDS", 0.0)
    release = threading.Event()
    work = Prefetch(bound_seconds=0.0)  # the bound has passed already
    work.start("slow", release.wait)
    try:
        work.join()

        assert "prefetch still running after its bound: prefetch-slow" in caplog.text
        [thread] = work._threads
        assert thread.is_alive() and thread.daemon  # a daemon: it never holds the process open
    finally:
        release.set()
