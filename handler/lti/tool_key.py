"""The tool's public key for ``/lti/jwks``: an AWS KMS asymmetric key, read with ``GetPublicKey``.

Why KMS and not a Secrets Manager secret: the private key is created inside KMS
and never leaves it, so it is never in the function's memory, code, logs or a
snapshot; nobody can copy it, only use it while IAM allows (and CloudTrail
records each use). A launch needs no signature from the tool (the platform
signs, the tool verifies); the key exists because every platform's registration
form asks for the tool's JWKS, which LTI Advantage services and deep-linking
responses need. So the function is granted ``kms:GetPublicKey`` only; a later
feature that signs would add ``kms:Sign`` on this one key. A Secrets Manager
secret would put the private key in the function's memory on every cold start
and in everyone's hands who may read the secret.

The key is ``RSA_2048`` with ``SIGN_VERIFY`` usage: RS256
(``RSASSA_PKCS1_V1_5_SHA_256``), the algorithm LTI 1.3 requires platforms to
support. A KMS key's public key never changes, so it is read once per
execution environment; its ``kid`` is the RFC 7638 thumbprint.
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

from handler.aws_clients import aws_client
from handler.errors import SsoError

__all__ = ["KmsToolKey", "ToolKeyUnavailable", "kms_client"]


class ToolKeyUnavailable(SsoError):
    code = "tool_key_unavailable"
    status = 503
    message = "The tool's public key is temporarily unavailable. Please try again in a minute."


def kms_client() -> Any:
    """A KMS client with short timeouts; ``AWS_ENDPOINT_URL`` points it at moto locally."""
    from botocore.config import Config as BotoConfig

    config = BotoConfig(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 2})
    return aws_client("kms", config)


class KmsToolKey:
    """The tool's JWKS, from the public half of a KMS key, fetched once."""

    def __init__(self, key_id: str, client_factory: Callable[[], Any] = kms_client) -> None:
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
