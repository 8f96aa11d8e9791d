"""handler.lti.tool_key: the tool's JWKS from the public half of a KMS key (moto's KMS)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import boto3
import pytest

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
