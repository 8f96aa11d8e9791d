"""The suite-wide check that nothing secret reaches a log.

Tests register every secret they create (JWTs and their signatures, API keys,
SSO tokens, emails, names). ``conftest.py`` collects everything the suite
printed or logged, and at the end of the session fails the run if any
registered secret appears in it.
"""

from __future__ import annotations

import threading

MIN_LENGTH = 6  # shorter strings match by chance and prove nothing
_secrets: set[str] = set()
_lock = threading.Lock()


def register(*values: str) -> None:
    """Remember values that must never be logged."""
    with _lock:
        _secrets.update(v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH)


def leaks(text: str, secrets: set[str] | None = None) -> list[str]:
    """The registered secrets found in ``text``, shortened so the report does not leak them."""
    with _lock:
        candidates = set(_secrets if secrets is None else secrets)
    return sorted(f"{s[:4]}…({len(s)} chars)" for s in candidates if s in text)


def registered_count() -> int:
    with _lock:
        return len(_secrets)
