"""The attack catalogue of the JWT security checklist, one named test per item.

Source: ``../shared/docs/jwt-security-checklist.md``, "Attack catalogue the tests
must cover". Every attack goes through the full Lambda handler with one-time
links on and ends in ``assert_refused`` (see ``conftest.py``): 4xx, no
``Location``, no Partner API call, no DynamoDB write, no request to a URL named
in the token. The two positive controls show the harness can see a success.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.conftest import Sso
from tests.security.conftest import Attacker
from tests.security.tokens import b64, forge, hs256, rs256, swap_signature
from tests.support import AUDIENCE, ISSUER, SigningKey, claims, form_event, http_event, mint, sign_raw

Refused = Callable[..., None]
LEEWAY = 30  # the default JWT_LEEWAY_SECONDS
MAX_AGE = 300  # the default JWT_MAX_AGE_SECONDS


def get(token: str, **query: str) -> dict[str, Any]:
    return http_event(query={"jwt": token, **query})


# ---- positive controls: the harness can see a success ------------------------------------------------
def test_positive_control_a_valid_token_redirects_with_one_call_and_one_item(
    secured: Sso, rsa_key: SigningKey, assert_signed_in: Callable[..., None]
) -> None:
    assert_signed_in(secured(get(mint(rsa_key))))


def test_positive_control_the_same_token_in_query_and_form_is_accepted(
    secured: Sso, rsa_key: SigningKey, assert_signed_in: Callable[..., None]
) -> None:
    token = mint(rsa_key)
    event = form_event({"jwt": token}, query={"jwt": token})

    assert_signed_in(secured(event))


# ---- header attacks ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["", "c2ln"], ids=["no-signature", "junk-signature"])
def test_alg_none_in_any_spelling_is_refused(
    secured: Sso, assert_refused: Refused, alg: str, signature: str
) -> None:
    token = forge({"alg": alg, "typ": "JWT", "kid": "rsa-1"}, claims(), signature)

    assert_refused(
        secured(get(token)), status=401, code="unsupported_algorithm" if signature else "malformed_token"
    )


def test_empty_signature_is_refused(secured: Sso, rsa_key: SigningKey, assert_refused: Refused) -> None:
    assert_refused(secured(get(swap_signature(mint(rsa_key), ""))), status=401, code="malformed_token")


def test_signature_of_another_token_is_refused(
    secured: Sso, rsa_key: SigningKey, assert_refused: Refused
) -> None:
    other_signature = mint(rsa_key, sub="someone_else").rsplit(".", 1)[1]

    result = secured(get(swap_signature(mint(rsa_key), other_signature)))

    assert_refused(result, status=401, code="invalid_signature")


def test_payload_tampered_after_signing_is_refused(
    secured: Sso, rsa_key: SigningKey, assert_refused: Refused
) -> None:
    header, _, signature = mint(rsa_key).split(".")
    tampered = f"{header}.{b64(json.dumps(claims(sub='admin')))}.{signature}"

    assert_refused(secured(get(tampered)), status=401, code="invalid_signature")


def public_key_forms(key: SigningKey) -> dict[str, bytes]:
    public = key.private.public_key()
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    pkcs1 = serialization.PublicFormat.PKCS1
    pem = serialization.Encoding.PEM
    return {
        "pem": public.public_bytes(pem, spki),
        "pem-pkcs1": public.public_bytes(pem, pkcs1),
        "jwk": json.dumps(key.jwk).encode(),
        "jwk-public-only": jwt.algorithms.RSAAlgorithm.to_jwk(public).encode(),
    }


@pytest.mark.parametrize("form", ["pem", "pem-pkcs1", "jwk", "jwk-public-only"])
@pytest.mark.parametrize("hs256_enabled", [False, True], ids=["hs256-off", "hs256-on"])
def test_hs256_signed_with_the_rsa_public_key_is_refused(
    request: pytest.FixtureRequest,
    rsa_key: SigningKey,
    assert_refused: Refused,
    form: str,
    hs256_enabled: bool,
) -> None:
    # Key confusion: a verifier that picks the key by kid and the algorithm from
    # the token would check this HMAC with the public key's bytes, which everyone has.
    sso: Sso = request.getfixturevalue("secured_hs256" if hs256_enabled else "secured")
    token = hs256(
        {"alg": "HS256", "typ": "JWT", "kid": rsa_key.kid}, claims(), public_key_forms(rsa_key)[form]
    )

    code = "invalid_signature" if hs256_enabled else "unsupported_algorithm"
    assert_refused(sso(get(token)), status=401, code=code)


@pytest.mark.parametrize("hs256_enabled", [False, True], ids=["hs256-off", "hs256-on"])
@pytest.mark.parametrize("with_kid", [False, True], ids=["no-kid", "rsa-kid"])
def test_hs256_with_an_empty_secret_is_refused(
    request: pytest.FixtureRequest, assert_refused: Refused, hs256_enabled: bool, with_kid: bool
) -> None:
    sso: Sso = request.getfixturevalue("secured_hs256" if hs256_enabled else "secured")
    header = {"alg": "HS256", "typ": "JWT", **({"kid": "rsa-1"} if with_kid else {})}

    result = sso(get(hs256(header, claims(), b"")))

    assert_refused(result, status=401, code="invalid_signature" if hs256_enabled else "unsupported_algorithm")


@pytest.mark.parametrize("kid", ["attacker-1", "rsa-1"], ids=["attacker-kid", "partner-kid"])
def test_embedded_jwk_header_with_the_attackers_key_is_refused(
    secured: Sso, attacker: Attacker, assert_refused: Refused, kid: str
) -> None:
    header = {"alg": "RS256", "typ": "JWT", "kid": kid, "jwk": attacker.key.jwk}

    result = secured(get(rs256(header, claims(), attacker.key)))

    assert_refused(result, status=401, code="unknown_key" if kid == "attacker-1" else "invalid_signature")


@pytest.mark.parametrize("member", ["jku", "x5u"])
@pytest.mark.parametrize("kid", ["attacker-1", "rsa-1"], ids=["attacker-kid", "partner-kid"])
def test_jku_or_x5u_pointing_to_an_attacker_jwks_is_never_fetched(
    secured: Sso, attacker: Attacker, assert_refused: Refused, member: str, kid: str
) -> None:
    url = attacker.jwks_url if member == "jku" else attacker.x5u_url
    header = {"alg": "RS256", "typ": "JWT", "kid": kid, member: url}

    result = secured(get(rs256(header, claims(), attacker.key)))

    # assert_refused also checks the attacker's server log is empty.
    assert_refused(result, status=401)


def test_x5c_header_with_the_attackers_certificate_chain_is_refused(
    secured: Sso, attacker: Attacker, assert_refused: Refused
) -> None:
    header = {"alg": "RS256", "kid": attacker.key.kid, "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOC"]}

    assert_refused(secured(get(rs256(header, claims(), attacker.key))), status=401, code="unknown_key")


@pytest.mark.parametrize("kid", ["../../../../dev/null", "/dev/null", "' UNION SELECT '1';--", "|sleep 10"])
def test_kid_injection_is_only_a_lookup_key(
    secured: Sso, attacker: Attacker, assert_refused: Refused, kid: str
) -> None:
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    token = rs256(header, claims(), attacker.key)

    result = secured(get(token))

    assert_refused(result, status=401, code="unknown_key")
    # Looked up in the JWKS, as any kid: never a path, a shell word or a query.
    assert "is not in the JWKS" in result["body"]


@pytest.mark.parametrize(
    "signature",
    [
        bytes(64),
        # r = s = n (the order of P-256): reduces to zero modulo n, the other psychic form.
        bytes.fromhex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551") * 2,
    ],
    ids=["r=s=0", "r=s=n"],
)
def test_ecdsa_psychic_signature_is_refused(
    secured: Sso, ec_key: SigningKey, assert_refused: Refused, signature: bytes
) -> None:
    # CVE-2022-21449: Java 15-18 accepted r = s = 0 for any message and key.
    token = forge({"alg": "ES256", "typ": "JWT", "kid": ec_key.kid}, claims(), b64(signature))

    assert_refused(secured(get(token)), status=401, code="invalid_signature")


# ---- claims --------------------------------------------------------------------------------------------
def test_expired_token_is_refused(secured: Sso, rsa_key: SigningKey, assert_refused: Refused) -> None:
    now = int(time.time())
    token = mint(rsa_key, iat=now - LEEWAY - 120, exp=now - LEEWAY - 10)

    assert_refused(secured(get(token)), status=401, code="token_expired")


def test_not_yet_valid_token_is_refused(secured: Sso, rsa_key: SigningKey, assert_refused: Refused) -> None:
    now = int(time.time())
    token = mint(rsa_key, nbf=now + LEEWAY + 60)

    assert_refused(secured(get(token)), status=401, code="token_not_yet_valid")


def test_iat_in_the_future_is_refused(secured: Sso, rsa_key: SigningKey, assert_refused: Refused) -> None:
    now = int(time.time())
    token = mint(rsa_key, iat=now + LEEWAY + 60, exp=now + LEEWAY + 120)

    assert_refused(secured(get(token)), status=401)


@pytest.mark.parametrize("lifetime", [MAX_AGE + 1, 3600, 10 * 365 * 86400])
def test_lifetime_longer_than_allowed_is_refused(
    secured: Sso, rsa_key: SigningKey, assert_refused: Refused, lifetime: int
) -> None:
    now = int(time.time())
    token = mint(rsa_key, iat=now, exp=now + lifetime)

    assert_refused(secured(get(token)), status=401, code="token_lifetime_too_long")


@pytest.mark.parametrize(
    "iss",
    [
        "https://evil.test",
        ISSUER + "/",
        ISSUER[:-1],  # a substring (PyJWT 2.10.0 matched substrings)
        ISSUER + ".evil.test",
        ISSUER.upper(),
        "",
    ],
)
def test_wrong_iss_is_refused(secured: Sso, rsa_key: SigningKey, assert_refused: Refused, iss: str) -> None:
    assert_refused(secured(get(mint(rsa_key, iss=iss))), status=401)


@pytest.mark.parametrize(
    "aud",
    ["another-app", [], ["another-app"], AUDIENCE + "x", AUDIENCE[:-1], AUDIENCE.upper(), ""],
    ids=repr,
)
def test_wrong_aud_is_refused(secured: Sso, rsa_key: SigningKey, assert_refused: Refused, aud: Any) -> None:
    assert_refused(secured(get(mint(rsa_key, aud=aud))), status=401)


@pytest.mark.parametrize("claim", ["iss", "aud", "exp", "iat", "sub", "jti"])
def test_missing_required_claim_is_refused(
    secured: Sso, rsa_key: SigningKey, assert_refused: Refused, claim: str
) -> None:
    # jti is required because one-time links are on in this harness.
    assert_refused(secured(get(mint(rsa_key, **{claim: None}))), status=401)


WRONG_TYPES: list[tuple[str, Any]] = [
    ("exp", "9999999999"),
    ("exp", True),
    ("exp", [9999999999]),
    ("exp", None),
    ("iat", "now"),
    ("iat", {"t": 1}),
    ("nbf", "0"),
    ("iss", 12345),
    ("iss", [ISSUER]),
    ("aud", 12345),
    ("aud", [AUDIENCE, 5678]),
    ("aud", {"aud": AUDIENCE}),
    ("sub", 12345),
    ("sub", ["abc123"]),
    ("sub", None),
    ("jti", 12345),
    ("jti", ""),
    ("jti", "x" * 257),
    ("email", 12345),
    ("given_name", ["Ada"]),
    ("family_name", "x" * 257),
    ("redirect_to", 5),
]


@pytest.mark.parametrize(("claim", "value"), WRONG_TYPES, ids=[f"{c}={v!r}"[:40] for c, v in WRONG_TYPES])
def test_claim_of_the_wrong_type_is_refused(
    secured: Sso, rsa_key: SigningKey, assert_refused: Refused, claim: str, value: Any
) -> None:
    payload = claims()
    payload[claim] = value  # a JSON null stays null here (claims() would drop it)
    assert_refused(secured(get(sign_raw(rsa_key, payload))))


def test_non_finite_time_is_refused(secured: Sso, rsa_key: SigningKey, assert_refused: Refused) -> None:
    # json.dumps writes Infinity, which is not JSON: an exp that never expires.
    assert_refused(secured(get(sign_raw(rsa_key, claims(exp=float("inf"))))), status=401)


@pytest.mark.parametrize(
    "sub",
    ["abc/def", "/", "..", "../admin", "abc%2Fdef", "%2e%2e", "abc def", " abc123", "abc123 ", "a" * 65, ""],
    ids=repr,
)
def test_sub_that_is_not_a_partner_id_is_refused(
    secured: Sso, rsa_key: SigningKey, assert_refused: Refused, sub: str
) -> None:
    expected = 401 if sub == "" else 403
    assert_refused(secured(get(mint(rsa_key, sub=sub))), status=expected if sub else None)


# ---- size and ambiguity ------------------------------------------------------------------------------------
MIB = 1024 * 1024


def test_token_of_one_mebibyte_in_the_query_is_refused(
    secured: Sso, rsa_key: SigningKey, assert_refused: Refused
) -> None:
    token = mint(rsa_key, padding="x" * MIB)
    assert len(token) > MIB

    assert_refused(secured(get(token)), status=400, code="token_too_large")


@pytest.mark.parametrize("base64_body", [True, False], ids=["base64-body", "plain-body"])
def test_token_of_one_mebibyte_in_a_form_body_is_refused(
    secured: Sso, rsa_key: SigningKey, assert_refused: Refused, base64_body: bool
) -> None:
    token = mint(rsa_key, padding="x" * MIB)

    result = secured(form_event({"jwt": token}, base64_body=base64_body))

    assert_refused(result, status=400, code="token_too_large")


def event_with(places: dict[str, str]) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {places['bearer']}"} if "bearer" in places else {}
    query = {"jwt": places["query"]} if "query" in places else None
    if "form" in places:
        return form_event({"jwt": places["form"]}, query=query, headers=headers)
    return http_event(query=query, headers=headers)


@pytest.mark.parametrize("places", [("query", "form"), ("query", "bearer"), ("form", "bearer")], ids="+".join)
def test_two_tokens_that_disagree_are_refused(
    secured: Sso, rsa_key: SigningKey, assert_refused: Refused, places: tuple[str, str]
) -> None:
    # Both are valid: which one would be used is exactly the ambiguity refused.
    first, second = mint(rsa_key, sub="alice"), mint(rsa_key, sub="mallory")
    event = event_with({places[0]: first, places[1]: second})

    assert_refused(secured(event), status=400, code="conflicting_tokens")


def test_two_different_tokens_in_one_form_are_refused(
    secured: Sso, rsa_key: SigningKey, assert_refused: Refused
) -> None:
    body = urlencode([("jwt", mint(rsa_key, sub="alice")), ("jwt", mint(rsa_key, sub="mallory"))])
    event = http_event(
        "POST", "/sso", headers={"content-type": "application/x-www-form-urlencoded"}, body=body
    )

    assert_refused(secured(event), status=400, code="conflicting_tokens")
