"""The tool's key: an AWS KMS asymmetric key. ``/lti/jwks`` serves its public half; LTI
Advantage messages (a deep-linking response, a client assertion for a platform's token
endpoint) are signed with it.

KMS, not a secret: the private key is created inside KMS and never leaves it (never in memory,
logs or a snapshot). A launch alone needs only ``kms:GetPublicKey``; ``kms:Sign`` is granted
only where an LTI Advantage service is on. ``RSA_2048``, ``SIGN_VERIFY``: RS256. A KMS public
key never changes, so it is read once per execution environment; its ``kid`` is the RFC 7638
thumbprint, and signed messages carry it.
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
from jwt.algorithms import Algorithm, RSAAlgorithm
from jwt.api_jws import PyJWS

from handler.errors import SsoError

__all__ = ["KmsToolKey", "ToolKeyUnavailable"]


class ToolKeyUnavailable(SsoError):
    code = "tool_key_unavailable"
    status = 503
    message = "The tool's public key is temporarily unavailable. Please try again in a minute."


_KMS_RS256 = "RSASSA_PKCS1_V1_5_SHA_256"


class KmsToolKey:
    """The tool's JWKS, from the public half of a KMS key, fetched once; and RS256 JWTs signed by KMS."""

    def __init__(self, key_id: str, client_factory: Callable[[], Any]) -> None:
        self._key_id = key_id
        self._client_factory = client_factory
        self._jwks: dict[str, Any] | None = None
        self._client: Any = None  # made once, kept after a failed call too: creating one is slow
        self._lock = threading.Lock()
        self._jws = PyJWS(algorithms=[])  # nothing but the KMS algorithm below
        self._jws.register_algorithm("RS256", _KmsRs256(self._kms))

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact RS256 JWT of ``claims``, with the key's ``kid``; ``ToolKeyUnavailable`` if KMS fails."""
        kid = self.jwks()["keys"][0]["kid"]
        payload = json.dumps(claims, separators=(",", ":")).encode()
        try:
            return self._jws.encode(payload, self._key_id, "RS256", headers={"typ": "JWT", "kid": kid})
        except Exception as error:  # noqa: BLE001 - any failure: 503, the caller retries
            raise ToolKeyUnavailable(f"KMS Sign: {type(error).__name__}") from None

    def _kms(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            if self._jwks is None:
                self._jwks = {"keys": [self._public_jwk()]}
            return self._jwks

    def _public_jwk(self) -> dict[str, Any]:
        try:
            if self._client is None:  # under self._lock (jwks)
                self._client = self._client_factory()
            answer = self._client.get_public_key(KeyId=self._key_id)
        except Exception as error:  # noqa: BLE001 - any failure: 503, the platform retries
            raise ToolKeyUnavailable(f"KMS GetPublicKey: {type(error).__name__}") from None
        if answer.get("KeyUsage") != "SIGN_VERIFY" or _KMS_RS256 not in answer.get("SigningAlgorithms", []):
            raise ToolKeyUnavailable("the KMS key is not an RSA signing key usable for RS256")
        public = load_der_public_key(answer["PublicKey"])
        if not isinstance(public, rsa.RSAPublicKey) or public.key_size < 2048:
            raise ToolKeyUnavailable("the KMS key is not an RSA key of at least 2048 bits")
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(public))
        return {**jwk, "kid": _thumbprint(jwk), "alg": "RS256", "use": "sig"}


class _KmsRs256(Algorithm):
    """RS256 whose private key is a KMS key id: PyJWT builds the JWS, KMS makes the signature.

    PyJWT does the header, payload and base64url (``PyJWS.encode``); only ``sign`` is ours.
    KMS takes a RAW message of at most 4,096 bytes; a longer signing input (a deep-linking
    response with many items) is sent as its SHA-256 digest, which yields the same signature.
    """

    RAW_LIMIT = 4096

    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client

    def prepare_key(self, key: Any) -> Any:
        return key

    def sign(self, msg: bytes, key: Any) -> bytes:
        if len(msg) <= self.RAW_LIMIT:
            message, message_type = msg, "RAW"
        else:
            message, message_type = hashlib.sha256(msg).digest(), "DIGEST"
        answer = self._client().sign(
            KeyId=key, Message=message, MessageType=message_type, SigningAlgorithm=_KMS_RS256
        )
        return bytes(answer["Signature"])

    def verify(self, msg: bytes, key: Any, sig: bytes) -> bool:  # the platform verifies, not us
        raise NotImplementedError

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> Any:
        raise NotImplementedError

    @staticmethod
    def from_jwk(jwk: str | dict[str, Any]) -> Any:
        raise NotImplementedError


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 of the required members, in lexical order, without whitespace."""
    members = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(members.encode("ascii")).digest()).rstrip(b"=").decode()
