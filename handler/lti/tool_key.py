"""The tool's public key for ``/lti/jwks``: an AWS KMS asymmetric key, read with ``GetPublicKey``.

KMS, not a secret: the private key is created inside KMS and never leaves it (never in memory,
logs or a snapshot); the function may only ``kms:GetPublicKey``. Platforms' registration forms
ask for the tool's JWKS (LTI Advantage services need it; a launch itself needs no signature
from the tool). ``RSA_2048``, ``SIGN_VERIFY``: RS256. A KMS public key never changes, so it is
read once per execution environment; its ``kid`` is the RFC 7638 thumbprint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key
from jwt.algorithms import RSAAlgorithm

from handler.errors import SsoError

__all__ = ["KmsToolKey", "ToolKeyUnavailable"]


class ToolKeyUnavailable(SsoError):
    code = "tool_key_unavailable"
    status = 503
    message = "The tool's public key is temporarily unavailable. Please try again in a minute."


class KmsToolKey:
    """The tool's JWKS, from the public half of a KMS key, fetched once."""

    def __init__(self, key_id: str, client_factory: Callable[[], Any]) -> None:
        self._key_id = key_id
        self._client_factory = client_factory
        self._jwks: dict[str, Any] | None = None
        self._client: Any = None  # made once, kept after a failed call too: creating one is slow
        self._lock = threading.Lock()

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            if self._jwks is None:
                self._jwks = {"keys": [self._public_jwk()]}
            return self._jwks

    def _public_jwk(self) -> dict[str, Any]:
        try:
            if self._client is None:
                self._client = self._client_factory()
            answer = self._client.get_public_key(KeyId=self._key_id)
        except Exception as error:  # noqa: BLE001 - any failure: 503, the platform retries
            raise ToolKeyUnavailable(f"KMS GetPublicKey: {type(error).__name__}") from None
        if answer.get("KeyUsage") != "SIGN_VERIFY" or "RSASSA_PKCS1_V1_5_SHA_256" not in answer.get(
            "SigningAlgorithms", []
        ):
            raise ToolKeyUnavailable("the KMS key is not an RSA signing key usable for RS256")
        public = load_der_public_key(answer["PublicKey"])
        if not isinstance(public, rsa.RSAPublicKey) or public.key_size < 2048:
            raise ToolKeyUnavailable("the KMS key is not an RSA key of at least 2048 bits")
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(public))
        return {**jwk, "kid": _thumbprint(jwk), "alg": "RS256", "use": "sig"}


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 of the required members, in lexical order, without whitespace."""
    members = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(members.encode("ascii")).digest()).rstrip(b"=").decode()
