"""Forging helpers for the attack suite: tokens no honest signer makes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding

from tests import leakcheck
from tests.support import SigningKey


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def segment(document: dict[str, Any] | str) -> str:
    return b64(document if isinstance(document, str) else json.dumps(document))


def forge(header: dict[str, Any] | str, payload: dict[str, Any] | str, signature: str = "c2ln") -> str:
    """A token from raw parts; registered with the leak check."""
    token = f"{segment(header)}.{segment(payload)}.{signature}"
    leakcheck.register(token)
    return token


def hs256(header: dict[str, Any], payload: dict[str, Any], key: bytes) -> str:
    """An HS256 token keyed with any bytes (PyJWT refuses some keys, an attacker does not)."""
    signing_input = f"{segment(header)}.{segment(payload)}"
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return forge(header, payload, b64(mac))


def rs256(header: dict[str, Any], payload: dict[str, Any], key: SigningKey) -> str:
    """An RS256 signature over any header, e.g. one carrying jku, x5u or jwk."""
    signing_input = f"{segment(header)}.{segment(payload)}".encode()
    if isinstance(key.private, ec.EllipticCurvePrivateKey):
        raise TypeError("rs256 needs an RSA key")
    signature = key.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return forge(header, payload, b64(signature))


def swap_signature(token: str, signature: str) -> str:
    head, payload, _ = token.split(".")
    forged = f"{head}.{payload}.{signature}"
    leakcheck.register(forged)
    return forged
