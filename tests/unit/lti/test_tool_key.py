"""The tool's KMS key: its JWKS, and the RS256 JWTs it signs for LTI Advantage messages."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import boto3
import jwt
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from handler.lti.tool_key import KmsToolKey, ToolKeyUnavailable


@pytest.fixture
def kms(aws: Any) -> Iterator[tuple[Any, str]]:
    """moto's KMS (inside ``aws``'s mock) with a key shaped as template.yaml's ``LtiToolKey``."""
    client = boto3.client("kms", region_name="us-east-1")
    key_id = client.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    yield client, key_id


class DigestSigningKms:
    """KMS's ``Sign`` for ``MessageType=DIGEST``, which moto does not implement: the message is
    the SHA-256 digest, signed as is (AWS KMS API reference, Sign). Only AWS itself is stood in."""

    def __init__(self) -> None:
        self._private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.calls: list[dict[str, Any]] = []

    def get_public_key(self, KeyId: str) -> dict[str, Any]:
        der = self._private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "KeyUsage": "SIGN_VERIFY",
            "SigningAlgorithms": ["RSASSA_PKCS1_V1_5_SHA_256"],
            "PublicKey": der,
        }

    def sign(self, **call: Any) -> dict[str, Any]:
        self.calls.append(call)
        assert call["SigningAlgorithm"] == "RSASSA_PKCS1_V1_5_SHA_256"
        if call["MessageType"] == "DIGEST":
            assert len(call["Message"]) == 32
            chosen: Any = utils.Prehashed(hashes.SHA256())
        else:
            assert len(call["Message"]) <= 4096  # KMS refuses a longer RAW message
            chosen = hashes.SHA256()
        return {"Signature": self._private.sign(call["Message"], padding.PKCS1v15(), chosen)}


def verified(token: str, tool_key: KmsToolKey) -> dict[str, Any]:
    """The claims, after PyJWT verified the token against the tool's published JWKS, as a platform does."""
    (jwk,) = tool_key.jwks()["keys"]
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT", "kid": jwk["kid"]}
    return jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"], options={"verify_aud": False})


def test_a_signed_jwt_verifies_against_the_published_jwks(kms: tuple[Any, str]) -> None:
    client, key_id = kms
    tool_key = KmsToolKey(key_id, lambda: client)
    claims = {"iss": "client-id", "aud": "https://lms.example.edu", "nonce": "n-1", "exp": 2_000_000_000}
    assert verified(tool_key.sign(claims), tool_key) == claims


def test_a_signing_input_over_kms_raw_limit_is_signed_as_its_digest() -> None:
    stand_in = DigestSigningKms()
    tool_key = KmsToolKey("key", lambda: stand_in)
    short = {"items": ["a"]}
    long = {"items": ["x" * 100] * 50}  # about 6 KB once encoded
    assert verified(tool_key.sign(short), tool_key) == short
    token = tool_key.sign(long)
    assert verified(token, tool_key) == long
    assert [call["MessageType"] for call in stand_in.calls] == ["RAW", "DIGEST"]
    signing_input = token.rsplit(".", 1)[0].encode()
    assert len(signing_input) > 4096
    assert stand_in.calls[1]["Message"] == hashlib.sha256(signing_input).digest()


def test_a_failed_kms_sign_is_503_and_names_no_claim() -> None:
    class DisabledKey(DigestSigningKms):
        def sign(self, **call: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "DisabledException", "Message": "key is disabled"}}, "Sign")

    tool_key = KmsToolKey("key", DisabledKey)
    with pytest.raises(ToolKeyUnavailable) as refused:
        tool_key.sign({"sub": "student-secret-sub"})
    assert refused.value.status == 503
    assert "student-secret-sub" not in str(refused.value) and "student-secret-sub" not in repr(refused.value)
