"""Big Interview user ids (``partner_id``): made by one function from (kind of sign-in, principal).

A partner's own user id is taken as it is. Every other kind mints its ids under a prefix of its
own (``MINTED_PREFIXES``), hashing its principal, and a partner's id may never start with any of
those prefixes, in any case: no kind of sign-in can name another kind's user. A new kind gets a
prefix here, or ``partner_id`` refuses it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

__all__ = ["LTI", "MINTED_PREFIXES", "PARTNER", "PARTNER_ID", "UnacceptableUserId", "partner_id"]

PARTNER = "partner"
LTI = "lti"
# Fullmatch: "$" would also match before a final newline. It goes into the Partner API's URL path.
PARTNER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MINTED_PREFIXES = {LTI: "lti-"}


class UnacceptableUserId(ValueError):
    """A partner's user id Big Interview cannot take; the message says why, never the value."""


def partner_id(kind: str, principal: str | tuple[str, ...]) -> str:
    """The ``partner_id`` of ``principal`` (a partner's user id, or the parts a minted id hashes).

    A minted id is the prefix and the unpadded base64url SHA-256 of the JSON array of the parts:
    the array keeps ``("a|b", "c")`` and ``("a", "b|c")`` apart, and all 256 bits are kept.
    """
    if kind == PARTNER:
        if not isinstance(principal, str):
            raise UnacceptableUserId(f"it is a {type(principal).__name__}, not a string")
        return _partner_own_id(principal)
    prefix = MINTED_PREFIXES[kind]  # a kind without a prefix of its own mints nothing
    parts = [principal] if isinstance(principal, str) else list(principal)
    hashed = hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).digest()
    return prefix + base64.urlsafe_b64encode(hashed).rstrip(b"=").decode("ascii")


def _partner_own_id(user: str) -> str:
    if "@" in user:
        raise UnacceptableUserId("it looks like an email address; send your stable internal user id instead")
    if not user or len(user) > 64:
        raise UnacceptableUserId(f"it is {len(user)} characters long")
    if not PARTNER_ID.fullmatch(user):
        raise UnacceptableUserId("it contains other characters")
    lowered = user.lower()
    for kind, prefix in MINTED_PREFIXES.items():
        if lowered.startswith(prefix):
            raise UnacceptableUserId(
                f"it starts with {prefix!r}, which is reserved for the ids of {kind} sign-ins; "
                "use ids without that prefix"
            )
    return user
