"""Plain-words helpers shared by the partner tools: durations, times, masking."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any


def duration(seconds: float) -> str:
    """``45 s``, ``3 minutes``, ``2 hours``, ``4 days``: rounded, as a person would say it."""
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return _plural(round(seconds / 60), "minute")
    if seconds < 36 * 3600:
        return _plural(round(seconds / 3600), "hour")
    return _plural(round(seconds / 86400), "day")


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" + ("" if count == 1 else "s")


def relative(moment: float, now: float | None = None) -> str:
    """``in 2 minutes`` / ``3 minutes ago`` / ``now``."""
    delta = moment - (time.time() if now is None else now)
    if abs(delta) < 1:
        return "now"
    return f"in {duration(delta)}" if delta > 0 else f"{duration(delta)} ago"


def utc(moment: float) -> str:
    """``2025-06-01 12:00:00 UTC``; out-of-range numbers are shown as they are."""
    try:
        return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"{moment!r} (not a representable time)"


def escaped(text: str) -> str:
    """``text`` safe for a terminal: every character ``str.isprintable`` refuses (control
    characters such as ESC and newline, C1 controls, bidi overrides, lone surrogates) is
    written as its escape (``\\x1b``), as ``repr`` writes it, without the quotes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def mask_email(value: str) -> str:
    """``a***@example.edu``: enough to recognise whose token it is, not enough to leak the address."""
    local, at, domain = value.rpartition("@")
    if not at:
        return mask_name(value)
    return escaped(f"{local[:1]}***@{domain}")


def mask_name(value: str) -> str:
    """``D*** (4 characters)``: names are personal data too, so only their shape is shown."""
    return escaped(f"{value[:1]}*** ({_plural(len(value), 'character')})") if value else "(empty)"


def partner_id_problem(value: Any) -> str:
    """Why ``value`` is not a partner_id, in words (the decision itself is the verifier's)."""
    if not isinstance(value, str):
        return f"it is a {type(value).__name__}, not a string"
    if not value:
        return "it is empty"
    if len(value) > 64:
        return f"it is {len(value)} characters long; the limit is 64"
    bad = sorted({c for c in value if not (c.isascii() and (c.isalnum() or c in "_-"))})
    return f"it contains {', '.join(repr(c) for c in bad)}" if bad else "it does not match the rule"
