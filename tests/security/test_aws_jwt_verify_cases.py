"""awslabs/aws-jwt-verify's verifier test cases, ported with our own keys and our handler.

Each group cites the file it comes from (aws-jwt-verify, ``tests/unit/`` and
``src/``). Their tests call the library; ours go through the full Lambda handler
with one-time links on, so every refusal also proves "no redirect, no Partner API
call, no DynamoDB write" (``assert_refused``). The odd JWKs are served by the
real JWKS server on loopback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from tests.conftest import Sso
from tests.security.tokens import b64, forge
from tests.support import ISSUER, SigningKey, claims, http_event, mint, sign_raw

Refused = Callable[..., None]
LEEWAY = 30  # JWT_LEEWAY_SECONDS default: aws-jwt-verify's graceSeconds


def get(token: str) -> dict[str, Any]:
    return http_event(query={"jwt": token})


# ---- tests/unit/jwt-rsa.test.ts, describe("parse errors") and describe("kid errors") ------------------
EMPTY_OBJECT = b64("{}")
RS256_HEADER = b64('{"alg":"RS256","kid":"rsa-1"}')


def parts(header: str, payload: str, signature: str = "c2ln") -> str:
    return ".".join((header, payload, signature))


MALFORMED = {
    "less-than-3-parts": "header.payload",
    "more-than-3-parts": "header.payload.signature.other.garbage",
    "header-not-json": parts(b64("abc"), EMPTY_OBJECT),
    "header-not-an-object": parts(b64("123"), EMPTY_OBJECT),
    "header-a-json-array": parts(b64("[1]"), EMPTY_OBJECT),
    "payload-not-json": parts(RS256_HEADER, b64("abc")),
    "payload-not-an-object": parts(RS256_HEADER, b64("123")),
    "alg-not-a-string": parts(b64('{"alg":12345}'), b64('{"iss":"test"}')),
    "kid-not-a-string": parts(b64('{"alg":"RS256","kid":{"foo":"bar"}}'), EMPTY_OBJECT),
    "duplicate-header-member": parts(b64('{"alg":"RS256","alg":"none","kid":"rsa-1"}'), EMPTY_OBJECT),
    "header-not-base64url": "eyJhbGciOiJSUzI1NiJ9!.e30.c2ln",
    "padded-segments": "eyJhbGciOiJSUzI1NiJ9.e30=.c2ln",
    "empty-header": parts("", EMPTY_OBJECT),
    "only-dots": "..",
}


@pytest.mark.parametrize("token", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_segments_are_refused(secured: Sso, assert_refused: Refused, token: str) -> None:
    assert_refused(secured(get(token)), status=401)


def test_token_without_kid_is_refused(secured: Sso, rsa_key: SigningKey, assert_refused: Refused) -> None:

    token = jwt.encode(claims(), rsa_key.private, algorithm="RS256")  # PyJWT writes no kid
    assert_refused(secured(get(token)), status=401, code="unknown_key")


def test_kid_not_in_the_jwks_is_refused(secured: Sso, rsa_key: SigningKey, assert_refused: Refused) -> None:
    assert_refused(secured(get(mint(rsa_key, headers={"kid": "abcd"}))), status=401, code="unknown_key")


def test_missing_alg_is_refused(secured: Sso, rsa_key: SigningKey, assert_refused: Refused) -> None:
    # "missing signature algorithm": a header without alg, whatever the signature.
    signature = mint(rsa_key).rsplit(".", 1)[1]
    token = forge({"kid": rsa_key.kid, "typ": "JWT"}, claims(), signature)

    assert_refused(secured(get(token)), status=401, code="unsupported_algorithm")


def test_header_alg_not_allowed_is_refused(secured: Sso, assert_refused: Refused) -> None:
    # "error flow with wrong algorithm": RS512 when only RS256/ES256 are configured.
    key = SigningKey.rsa(kid="rsa-1", alg="RS512")
    assert_refused(secured(get(mint(key))), status=401, code="unsupported_algorithm")


# ---- tests/unit/jwt-rsa.test.ts, "parse errors" (claim types), "expiry", "not before" -------------------
CLAIM_TYPES: dict[str, dict[str, Any]] = {
    "iss-not-a-string": {"iss": 12345},
    "aud-not-a-string": {"aud": 12345},
    "aud-not-a-string-array": {"aud": ["1234", 5678]},
    "iat-not-a-number": {"iat": "12345"},
    "jti-not-a-string": {"jti": 12345},
    "exp-nonsense": {"exp": "Garbage"},
    "nbf-nonsense": {"nbf": "foobar"},
    "scope-style-extra-claim-wrong-type-is-ignored-but-sub-is-not": {"sub": {"id": 1}},
}


@pytest.mark.parametrize("overrides", list(CLAIM_TYPES.values()), ids=list(CLAIM_TYPES))
def test_claims_of_the_wrong_type_are_refused(
    secured: Sso, rsa_key: SigningKey, assert_refused: Refused, overrides: dict[str, Any]
) -> None:
    assert_refused(secured(get(sign_raw(rsa_key, {**claims(), **overrides}))))


def boundary_claims(edge: str, now: int) -> dict[str, Any]:
    """Times 2 s inside or outside the leeway: aws-jwt-verify's "just enough graceSeconds" pair."""
    return {
        "exp-inside": {"exp": now - LEEWAY + 2, "iat": now - LEEWAY - 58},
        "exp-outside": {"exp": now - LEEWAY - 2, "iat": now - LEEWAY - 62},
        "nbf-inside": {"nbf": now + LEEWAY - 2},
        "nbf-outside": {"nbf": now + LEEWAY + 2},
    }[edge]


@pytest.mark.parametrize("edge", ["exp-inside", "nbf-inside"])
def test_just_inside_the_grace_period_is_accepted(
    secured: Sso, rsa_key: SigningKey, assert_signed_in: Callable[..., None], edge: str
) -> None:
    assert_signed_in(secured(get(mint(rsa_key, **boundary_claims(edge, int(time.time()))))))


@pytest.mark.parametrize("edge", ["exp-outside", "nbf-outside"])
def test_just_outside_the_grace_period_is_refused(
    secured: Sso, rsa_key: SigningKey, assert_refused: Refused, edge: str
) -> None:
    code = "token_expired" if edge.startswith("exp") else "token_not_yet_valid"
    result = secured(get(mint(rsa_key, **boundary_claims(edge, int(time.time())))))

    assert_refused(result, status=401, code=code)


# ---- tests/unit/jwt-rsa.test.ts, describe("invalid JWK for token verification"),
# ---- and src/jwk.ts assertIsRsaSignatureJwk / assertIsEcSignatureJwk (their jwk.test.ts cases) ----------
def odd_jwk(key: SigningKey, change: dict[str, Any]) -> dict[str, Any]:
    jwk = dict(key.jwk)
    for name, value in change.items():
        if value is None:
            jwk.pop(name, None)
        else:
            jwk[name] = value
    return jwk


RSA_JWK_CHANGES: dict[str, dict[str, Any]] = {
    "jwk-alg-RS384-header-RS256": {"alg": "RS384"},
    "jwk-alg-PS256-header-RS256": {"alg": "PS256"},
    "jwk-alg-HS256-header-RS256": {"alg": "HS256"},
    "jwk-use-notsig": {"use": "notsig"},
    "jwk-use-enc": {"use": "enc"},
    "jwk-key_ops-encrypt": {"key_ops": ["encrypt"]},
    "jwk-key_ops-not-a-list": {"key_ops": "verify"},
    "jwk-kty-EC": {"kty": "EC"},
    "jwk-kty-oct": {"kty": "oct"},
    "jwk-kty-missing": {"kty": None},
    "rsa-without-n": {"n": None},
    "rsa-without-e": {"e": None},
    "rsa-n-empty": {"n": ""},
    "rsa-n-not-base64url": {"n": "!!!"},
}
EC_JWK_CHANGES: dict[str, dict[str, Any]] = {
    "jwk-alg-ES384-header-ES256": {"alg": "ES384"},
    "jwk-use-enc": {"use": "enc"},
    "ec-without-x": {"x": None},
    "ec-without-y": {"y": None},
    "ec-without-crv": {"crv": None},
    "ec-crv-P-384": {"crv": "P-384"},
    "ec-crv-secp256k1": {"crv": "secp256k1"},
    "ec-point-not-on-curve": {"y": b64(bytes(31) + b"\x01")},
}


@pytest.mark.parametrize("change", list(RSA_JWK_CHANGES.values()), ids=list(RSA_JWK_CHANGES))
def test_unusable_rsa_jwk_is_refused(
    make_secured: Callable[..., Sso],
    rsa_key: SigningKey,
    ec_key: SigningKey,
    assert_refused: Refused,
    change: dict[str, Any],
) -> None:
    sso = make_secured(jwks={"keys": [odd_jwk(rsa_key, change), ec_key.jwk]})

    assert_refused(sso(get(mint(rsa_key))), status=401, code="unknown_key")


@pytest.mark.parametrize("change", list(EC_JWK_CHANGES.values()), ids=list(EC_JWK_CHANGES))
def test_unusable_ec_jwk_is_refused(
    make_secured: Callable[..., Sso],
    rsa_key: SigningKey,
    ec_key: SigningKey,
    assert_refused: Refused,
    change: dict[str, Any],
) -> None:
    sso = make_secured(jwks={"keys": [rsa_key.jwk, odd_jwk(ec_key, change)]})

    assert_refused(sso(get(mint(ec_key))), status=401, code="unknown_key")


def test_jwk_without_alg_use_or_key_ops_is_accepted(
    make_secured: Callable[..., Sso], rsa_key: SigningKey, assert_signed_in: Callable[..., None]
) -> None:
    # The counterpart: alg, use and key_ops are optional in a JWK (RFC 7517); when absent, kty decides.
    bare = odd_jwk(rsa_key, {"alg": None, "use": None})
    sso = make_secured(jwks={"keys": [bare]})

    assert_signed_in(sso(get(mint(rsa_key))))


def test_issuer_outside_the_allow_list_is_refused_before_any_key_lookup(
    secured: Sso, rsa_key: SigningKey, assert_refused: Refused
) -> None:
    # tests/unit/jwt-verifier.test.ts "jwt without iss claim" / wrong issuer.
    assert_refused(secured(get(mint(rsa_key, iss=ISSUER + "/other"))), status=401, code="invalid_issuer")
