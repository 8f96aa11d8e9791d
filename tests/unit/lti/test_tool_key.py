"""handler.lti.tool_key: the tool's JWKS from the public half of a KMS key, and the RS256 JWTs it signs
for LTI Advantage messages (moto's KMS; a stand-in only where moto lacks KMS's behaviour)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import boto3
import jwt
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from handler.lti.tool_key import KmsToolKey, ToolKeyUnavailable

NO_SUCH_KEY = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"


@pytest.fixture
def kms(aws: Any) -> Any:
    return boto3.client("kms", region_name="us-east-1")


def new_key(kms: Any, spec: str = "RSA_2048", usage: str = "SIGN_VERIFY") -> str:
    return str(kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"])


def test_an_rsa_signing_key_is_one_rs256_jwk_whose_kid_is_its_rfc_7638_thumbprint(kms: Any) -> None:
    [jwk] = KmsToolKey(new_key(kms), lambda: kms).jwks()["keys"]

    members = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"))
    digest = hashlib.sha256(members.encode()).digest()
    assert jwk["kid"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_a_kms_key_that_cannot_sign_rs256_is_refused(kms: Any) -> None:
    encrypting = new_key(kms, usage="ENCRYPT_DECRYPT")
    with pytest.raises(ToolKeyUnavailable):
        KmsToolKey(encrypting, lambda: kms).jwks()
    elliptic = new_key(kms, spec="ECC_NIST_P256")
    with pytest.raises(ToolKeyUnavailable):
        KmsToolKey(elliptic, lambda: kms).jwks()


def test_failing_jwks_requests_reuse_one_kms_client(kms: Any) -> None:
    made: list[Any] = []

    def factory() -> Any:
        made.append(boto3.client("kms", region_name="us-east-1"))
        return made[-1]

    tool_key = KmsToolKey(NO_SUCH_KEY, factory)
    for _ in range(3):
        with pytest.raises(ToolKeyUnavailable):
            tool_key.jwks()
    # Each request asks KMS again (the key may come back), on the one client: creating one is slow.
    assert len(made) == 1
    tool_key._key_id = new_key(kms)
    assert tool_key.jwks()["keys"][0]["alg"] == "RS256" and len(made) == 1


def test_the_public_key_is_read_once_per_execution_environment(kms: Any) -> None:
    calls: list[str] = []

    class Counting:
        def get_public_key(self, KeyId: str) -> Any:
            calls.append(KeyId)
            return kms.get_public_key(KeyId=KeyId)

    tool_key = KmsToolKey(new_key(kms), Counting)
    assert tool_key.jwks() is tool_key.jwks()
    assert len(calls) == 1


def test_a_client_that_cannot_be_made_is_unavailable_not_a_crash() -> None:
    def no_region() -> Any:
        raise RuntimeError("no region")

    with pytest.raises(ToolKeyUnavailable, match="RuntimeError"):
        KmsToolKey(NO_SUCH_KEY, no_region).jwks()


# ---- signing ----------------------------------------------------------------------------------------
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


def test_a_signed_jwt_verifies_against_the_published_jwks(kms: Any) -> None:
    tool_key = KmsToolKey(new_key(kms), lambda: kms)
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
