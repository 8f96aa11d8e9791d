"""Parsing outside text so that every way it can be unparseable is one ordinary ``ValueError``.

The standard library raises more on hostile input: ``json`` raises ``RecursionError`` on a
few thousand ``[`` (3.11 and 3.12), ``urlsplit`` raises for an unmatched ``[``, and ``.port``
only when read. Callers catch ``ValueError`` and answer with their own 4xx (or 502).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import SplitResult, urlsplit

__all__ = [
    "parse_json",
    "split_url",
]


def parse_json(text: str | bytes, **hooks: Any) -> Any:
    """``json.loads(text, **hooks)``; nesting too deep for the decoder is a ``ValueError`` too."""
    try:
        return json.loads(text, **hooks)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def split_url(value: str) -> SplitResult:
    """``urlsplit(value)`` with its port checked now: ``ValueError`` if either cannot be parsed."""
    parts = urlsplit(value)
    _ = parts.port  # raises ValueError for a port that is not a number from 0 to 65535
    return parts
