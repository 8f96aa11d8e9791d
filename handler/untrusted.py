"""Parsing text that comes from outside (tokens, request parameters, the Partner API's and
the JWKS's answers) so that every way it can be unparseable is one ordinary ``ValueError``.

The standard library raises more than ``ValueError`` on hostile input: ``json``'s
decoder recurses once per nesting level, so a few thousand ``[`` raise
``RecursionError`` (on Python 3.11 and 3.12; 3.13 goes deeper first), and
``urlsplit`` raises ``ValueError`` for an unmatched ``[`` or characters that NFKC
turns into ``/ ? # @ :``, while ``.port`` raises only when read. Callers catch
``ValueError`` and answer with their own 4xx (or 502 for a dependency's answer).
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
