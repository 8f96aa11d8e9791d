"""Running Project Wycheproof's JWS and JWK vectors through our verifier's signature layer.

The vectors sign arbitrary payloads ("foo", "", binary), not our claim set, so
the full ``TokenVerifier.verify`` would refuse every one of them at the claims
(a payload must be a JSON object with iss, aud, exp, ...). What the vectors test
is the signature layer, so ``signature_layer`` below is ``TokenVerifier.verify``
with the claims cut off and nothing else changed:

1. ``parse_token``'s structural rules: the size cap, exactly three segments,
   every segment non-empty unpadded base64url, the header a strict UTF-8 JSON
   object (``_decode_segment``). The payload is checked as a segment only, not
   parsed as JSON: that is the claims layer.
2. ``TokenVerifier._check_header``: the algorithm allow-list, ``typ``, no ``crit``, ``kid``.
3. ``TokenVerifier._key_for``: the HS256 secret, or ``JwksKeySource.signing_key``
   (a real fetch of the vector's keyset from the JWKS server on loopback,
   ``check_key_fits``, ``PyJWK``).
4. ``jwt.api_jws.decode_complete`` with ``algorithms=[alg]`` and the minimum key
   lengths enforced: the very PyJWS object ``jwt.decode`` delegates the signature to.

So this runner, unlike the other tests, reaches past the public surface into
``handler.tokens``' private names: it must run the verifier's own rules one
layer at a time, which ``verify`` does not offer.

The configuration is the most permissive one we support, so that a refusal is
never merely a narrow allow-list: every asymmetric algorithm, plus HS256 when
the vector's key can be an HS256 secret at all (a Secrets Manager text value).
``test_wycheproof.py::test_signature_layer_agrees_with_the_full_verifier`` keeps
the two paths honest with each other.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import urllib3
from jwt import PyJWK

from handler.config import ASYMMETRIC_ALGORITHMS, load_config
from handler.errors import InvalidSignature, MalformedToken, SsoError, TokenTooLarge
from handler.keys import HttpFetcher, JwksKeySource
from handler.secret_source import SecretSource, parse_secret_value
from handler.tokens import _SEGMENT as SEGMENT
from handler.tokens import MAX_TOKEN_BYTES, TokenVerifier
from handler.tokens import _decode_segment as decode_segment  # see the module docstring
from tests.support import AUDIENCE, ISSUER

VECTOR_DIR = Path(__file__).parent / "wycheproof"
FILES = {"jws": "json_web_signature_test.json", "jwk": "json_web_key_test.json"}
HS256_SECRET_ID = "wycheproof/hs256"


@dataclass(frozen=True)
class Vector:
    """One Wycheproof test case and the keyset it is verified against."""

    id: str  # "jws-33": the file's prefix and the tcId (tcIds repeat across files)
    comment: str
    result: str  # "valid", "invalid" or "acceptable"
    flags: tuple[str, ...]
    token: str
    keys: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Outcome:
    """What our signature layer did with a vector: accepted, or refused with an error code."""

    accepted: bool
    code: str
    detail: str = ""


def load_vectors() -> list[Vector]:
    vectors = []
    for prefix, name in FILES.items():
        document = json.loads((VECTOR_DIR / name).read_text())
        for group in document["testGroups"]:
            keyset = group.get("public") or group.get("private") or {}
            keys = tuple(keyset.get("keys", [keyset]))
            for test in group["tests"]:
                vectors.append(
                    Vector(
                        id=f"{prefix}-{test['tcId']}",
                        comment=test["comment"],
                        result=test["result"],
                        flags=tuple(test.get("flags", [])),
                        token=test["jws"],
                        keys=keys,
                    )
                )
    return vectors


def key_bytes(jwk: dict[str, Any]) -> bytes:
    k = str(jwk.get("k", ""))
    return base64.urlsafe_b64decode(k + "=" * (-len(k) % 4))


def hs256_secret_for(keys: tuple[dict[str, Any], ...]) -> str | None:
    """The vector's HMAC key as our HS256 secret, if a Secrets Manager text value can hold it.

    Our HS256 secret is one text value (its UTF-8 bytes are the key), so a
    keyset with several oct keys, a key that is not UTF-8, or one that our
    secret parsing would change (trimmed whitespace, empty) has no equivalent.
    """
    oct_keys = [jwk for jwk in keys if jwk.get("kty") == "oct"]
    if len(oct_keys) != 1:
        return None
    try:
        text = key_bytes(oct_keys[0]).decode("utf-8")
        return text if parse_secret_value(text) == text else None
    except (UnicodeDecodeError, ValueError, binascii.Error):
        return None


class StaticSecret:
    """A Secrets Manager client holding one value (the vector's key), for ``SecretSource``."""

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self, SecretId: str) -> dict[str, str]:
        return {"SecretString": self._value}


def jwks_for(vector: Vector) -> dict[str, Any]:
    """The vector's keyset as a JWKS, exactly as given, with a kid added where a key has none."""
    header_kid = peek_kid(vector.token)
    keys = []
    for jwk in vector.keys:
        if "kid" not in jwk and header_kid is not None:
            jwk = {**jwk, "kid": header_kid}  # reachable by the token's kid; nothing else changes
        keys.append(jwk)
    return {"keys": keys}


def peek_kid(token: str) -> str | None:
    try:
        header = decode_segment(token.split(".")[0], "header")
    except (SsoError, IndexError):
        return None
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


def build_verifier(vector: Vector, jwks_url: str, http: urllib3.PoolManager) -> TokenVerifier:
    secret = hs256_secret_for(vector.keys)
    algorithms = sorted(ASYMMETRIC_ALGORITHMS) + (["HS256"] if secret is not None else [])
    env = {
        "BI_ORG": "xyz",
        "BI_API_KEY_SECRET_ID": "unused",
        "JWT_ISSUER": ISSUER,
        "JWT_AUDIENCE": AUDIENCE,
        "JWT_JWKS_URL": jwks_url,
        "JWT_ALGORITHMS": ",".join(algorithms),
        **({"JWT_HS256_SECRET_ID": HS256_SECRET_ID} if secret is not None else {}),
    }
    config = load_config(env)
    policy = config.partner.tokens
    keys = JwksKeySource(HttpFetcher(http), policy.issuers, policy.jwks_url)
    hmac_secret = (
        SecretSource(HS256_SECRET_ID, lambda: StaticSecret(secret), 0) if secret is not None else None
    )
    return TokenVerifier(policy, keys, hmac_secret)


def signature_layer(verifier: TokenVerifier, token: str) -> None:
    """``TokenVerifier.verify`` up to and including the signature check; raises ``SsoError`` to refuse."""
    if len(token.encode("utf-8", "surrogatepass")) > MAX_TOKEN_BYTES:
        raise TokenTooLarge("over the cap")
    segments = token.split(".")
    if len(segments) != 3:
        raise MalformedToken(f"{len(segments)} segments; a JWT has exactly 3")
    header_segment, payload_segment, signature_segment = segments
    if not SEGMENT.fullmatch(signature_segment):
        raise MalformedToken("the signature is empty or not unpadded base64url")
    if not SEGMENT.fullmatch(payload_segment):
        raise MalformedToken("the payload is empty or not unpadded base64url")
    header = decode_segment(header_segment, "header")
    alg = verifier._check_header(header)  # the verifier's own header rules
    key = verifier._key_for(ISSUER, header.get("kid"), alg)  # and its own key selection
    try:
        jwt.api_jws.decode_complete(
            token,
            key.key if isinstance(key, PyJWK) else key,
            algorithms=[alg],
            options={"enforce_minimum_key_length": True},
        )
    except jwt.PyJWTError as error:
        raise InvalidSignature(type(error).__name__) from None


def outcome_of(verifier: TokenVerifier, token: str) -> Outcome:
    try:
        signature_layer(verifier, token)
    except SsoError as error:
        return Outcome(False, error.code, error.detail[:120])
    except Exception as error:  # recorded: the handler would answer 500
        return Outcome(False, f"crash:{type(error).__name__}", str(error)[:120])
    return Outcome(True, "accepted")
