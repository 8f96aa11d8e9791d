"""TokenVerifier: the rules of the JWT security checklist, one test each.

The verifier is exercised with real keys and a real HTTPS JWKS server; the
errors asserted are the typed ones the HTTP layer maps to 401/403.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest

from handler import tokens
from handler.config import load_config
from handler.errors import (
    InvalidAudience,
    InvalidClaim,
    InvalidIssuer,
    InvalidSignature,
    InvalidToken,
    InvalidUser,
    MalformedToken,
    MissingClaim,
    SsoError,
    TokenExpired,
    TokenLifetimeTooLong,
    TokenNotYetValid,
    TokenTooLarge,
    UnknownKey,
    UnsupportedAlgorithm,
)
from handler.http_pool import new_http_pool
from handler.keys import HttpFetcher, JwksKeySource
from handler.secret_source import SecretSource
from handler.tokens import TokenVerifier, parse_token
from tests import leakcheck
from tests.support import AUDIENCE, ISSUER, SigningKey, claims, mint, sign_raw, sign_text
from tests.support.clock import FakeClock

NOW = int(time.time())


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forge(header: dict[str, Any] | str, payload: dict[str, Any] | str, signature: str = "c2ln") -> str:
    """A token from raw parts, for tokens no honest signer makes."""
    h = header if isinstance(header, str) else json.dumps(header)
    p = payload if isinstance(payload, str) else json.dumps(payload)
    return f"{b64(h)}.{b64(p)}.{signature}"


@pytest.fixture
def make_verifier(base_env: dict[str, str], ca_file: Path, jwks: Any) -> Callable[..., TokenVerifier]:
    def build(hmac_secret: SecretSource | None = None, **overrides: str) -> TokenVerifier:
        policy = load_config({**base_env, **overrides}).partner.tokens
        keys = JwksKeySource(
            HttpFetcher(new_http_pool(ca_certs=str(ca_file))), policy.issuers, policy.jwks_url
        )
        return TokenVerifier(policy, keys, hmac_secret)

    return build


@pytest.fixture
def verifier(make_verifier: Callable[..., TokenVerifier]) -> TokenVerifier:
    return make_verifier()


@pytest.fixture
def wall_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> FakeClock:
    """The verifier's own reading of the time, held at the whole second the test starts in.

    PyJWT decides on the real clock; the verifier reads this one to word a refusal, so the
    seconds it names are exact. Advancing it is time passing between the two readings.
    """
    clock.now = float(int(time.time()))
    monkeypatch.setattr(tokens, "time", SimpleNamespace(time=clock))
    return clock


def refused(verifier: TokenVerifier, token: str) -> SsoError:
    with pytest.raises(SsoError) as caught:
        verifier.verify(token)
    return caught.value


# ---- accepted ----------------------------------------------------------------------------------------
def test_valid_rs256_token_yields_partner_id_profile_and_jti(
    verifier: TokenVerifier, rsa_key: SigningKey
) -> None:
    verified = verifier.verify(mint(rsa_key, jti="link-1", redirect_to="/members/dashboard"))

    assert verified.partner_id == "abc123"
    assert verified.issuer == ISSUER
    assert verified.kid == rsa_key.kid
    assert verified.jti == "link-1"
    assert verified.redirect_to == "/members/dashboard"
    assert verified.profile == {
        "first_name": "Adelheid",
        "last_name": "Quixotte",
        "email": "adelheid.q@example.edu",
    }


def test_valid_es256_token_is_accepted(verifier: TokenVerifier, ec_key: SigningKey) -> None:
    assert verifier.verify(mint(ec_key)).partner_id == "abc123"


def test_aud_list_containing_the_audience_is_accepted(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    assert verifier.verify(mint(rsa_key, aud=["other", AUDIENCE])).partner_id == "abc123"


def test_one_of_several_configured_issuers_is_accepted(
    make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> None:
    verifier = make_verifier(JWT_ISSUER=f"https://other.test,{ISSUER}")

    assert verifier.verify(mint(rsa_key)).issuer == ISSUER


def test_custom_user_claim_carries_the_partner_id(
    make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> None:
    verifier = make_verifier(JWT_USER_CLAIM="student_id")

    assert verifier.verify(mint(rsa_key, student_id="s-42")).partner_id == "s-42"


@pytest.mark.parametrize("typ", ["JWT", "jwt", "application/jwt", "Application/JWT", "APPLICATION/JWT"])
def test_typ_jwt_or_application_jwt_in_any_case_is_accepted(
    verifier: TokenVerifier, rsa_key: SigningKey, typ: str
) -> None:
    # RFC 7515 §4.1.9: media type names are case-insensitive, and "application/" may be left out.
    assert verifier.verify(mint(rsa_key, headers={"typ": typ})).partner_id == "abc123"


# ---- header rules ------------------------------------------------------------------------------------
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", "HS256", "RS512", "", None, 7])
def test_algorithm_outside_the_allow_list_is_refused(verifier: TokenVerifier, alg: Any) -> None:
    token = forge({"alg": alg, "kid": "rsa-1"}, claims())

    assert isinstance(refused(verifier, token), UnsupportedAlgorithm)


def test_alg_none_with_empty_signature_is_refused(verifier: TokenVerifier) -> None:
    token = f"{b64(json.dumps({'alg': 'none'}))}.{b64(json.dumps(claims()))}."

    assert isinstance(refused(verifier, token), MalformedToken)


@pytest.mark.parametrize("typ", ["at+jwt", "application/json", "application/jwt+x", "JWS"])
def test_typ_other_than_jwt_is_refused(verifier: TokenVerifier, rsa_key: SigningKey, typ: str) -> None:
    assert isinstance(refused(verifier, mint(rsa_key, headers={"typ": typ})), MalformedToken)


@pytest.mark.parametrize(
    ("overrides", "claim"),
    [
        ({"exp": (NOW + 120) * 1000}, "exp"),
        ({"iat": NOW * 1000, "exp": (NOW + 120) * 1000}, "exp"),
        ({"iat": NOW * 1000}, "iat"),
        ({"nbf": NOW * 1000}, "nbf"),
    ],
)
def test_times_in_milliseconds_are_an_invalid_claim_that_says_so(
    verifier: TokenVerifier, rsa_key: SigningKey, overrides: dict[str, Any], claim: str
) -> None:
    error = refused(verifier, mint(rsa_key, **overrides))

    assert isinstance(error, InvalidClaim)
    assert error.detail.startswith(f"{claim} is ")
    assert "looks like milliseconds" in error.detail


def test_a_time_just_below_the_milliseconds_threshold_is_judged_as_seconds(
    verifier: TokenVerifier, rsa_key: SigningKey
) -> None:
    # 10^11 s is the year 5138: below it, a far-future exp is a lifetime problem, not a unit one.
    error = refused(verifier, mint(rsa_key, exp=10**11))

    assert isinstance(error, TokenLifetimeTooLong)


def test_an_unaccepted_issuer_is_named_but_the_accepted_ones_are_not(
    make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> None:
    verifier = make_verifier(JWT_ISSUER=f"{ISSUER},https://other-partner.test")

    error = refused(verifier, mint(rsa_key, iss="https://stranger.test"))

    assert isinstance(error, InvalidIssuer)
    assert error.detail == "iss 'https://stranger.test' is not an accepted issuer"
    assert "other-partner" not in error.detail
    assert "other-partner" in error.log_detail  # the operator's log keeps the list
    assert (error.expected, error.found) == ([ISSUER, "https://other-partner.test"], "https://stranger.test")


def test_a_token_parsed_for_the_log_is_verified_without_a_second_parse(
    verifier: TokenVerifier, rsa_key: SigningKey
) -> None:
    assert verifier.verify(parse_token(mint(rsa_key))).partner_id == "abc123"


def test_a_long_unaccepted_issuer_is_cut_to_200_characters_everywhere_it_is_shown(
    verifier: TokenVerifier, rsa_key: SigningKey
) -> None:
    iss = "https://" + "i" * 300
    shown = iss[:200]

    error = refused(verifier, mint(rsa_key, iss=iss))

    assert isinstance(error, InvalidIssuer)
    assert error.detail == f"iss {shown!r} is not an accepted issuer"
    assert error.log_detail == f"iss {shown!r} is not one of {[ISSUER]}"
    assert (error.expected, error.found) == ([ISSUER], shown)


def test_an_issuer_that_is_not_a_string_is_named_with_what_was_found(
    verifier: TokenVerifier, rsa_key: SigningKey
) -> None:
    error = refused(verifier, sign_raw(rsa_key, claims(iss=42)))

    assert isinstance(error, InvalidClaim)
    assert (error.detail, error.expected, error.found) == ("iss is not a string", "iss", 42)


def test_crit_header_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    token = mint(rsa_key, headers={"crit": ["exp"], "exp": 1})

    assert isinstance(refused(verifier, token), MalformedToken)


def test_missing_kid_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    token = jwt.encode(claims(), rsa_key.private, algorithm="RS256")
    leakcheck.register(token)

    error = refused(verifier, token)

    assert isinstance(error, UnknownKey)
    assert (error.detail, error.expected) == ("the token header has no kid", "kid")


def test_kid_that_is_not_a_string_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    # PyJWT will not write such a header; the signature does not matter, the header is refused first.
    assert isinstance(refused(verifier, forge({"alg": "RS256", "kid": 5}, claims())), MalformedToken)


@pytest.mark.parametrize(
    ("alg", "shown"),
    [("none", "'none'"), ("X" * 30, repr("X" * 20)), (7, "'int'"), (None, "'NoneType'")],
    ids=["none", "cut-to-20", "number", "null"],
)
def test_an_algorithm_refused_is_named_with_the_ones_accepted(
    verifier: TokenVerifier, alg: Any, shown: str
) -> None:
    error = refused(verifier, forge({"alg": alg, "kid": "rsa-1"}, claims()))

    assert isinstance(error, UnsupportedAlgorithm)
    assert error.detail == f"alg {shown} is not accepted; this service accepts ES256, RS256"
    assert (error.expected, error.found) == (["RS256", "ES256"], alg)


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({"typ": "at+jwt"}, "typ must be 'JWT' (or 'application/jwt') when present"),
        ({"typ": 5}, "typ must be 'JWT' (or 'application/jwt') when present"),
        ({"crit": ["exp"], "exp": 1}, "the header has a crit member"),
        ({"kid": ""}, "kid must be a short string"),
        ({"kid": "k" * 257}, "kid must be a short string"),
    ],
    ids=["typ-other", "typ-number", "crit", "kid-empty", "kid-257"],
)
def test_a_header_refused_says_which_rule_it_breaks(
    verifier: TokenVerifier, rsa_key: SigningKey, headers: dict[str, Any], detail: str
) -> None:
    error = refused(verifier, forge({"alg": "RS256", "kid": rsa_key.kid, **headers}, claims()))

    assert isinstance(error, MalformedToken)
    assert error.detail == detail


@pytest.mark.parametrize("length", [1, 256])
def test_a_kid_of_1_to_256_characters_is_looked_up(verifier: TokenVerifier, length: int) -> None:
    error = refused(verifier, mint(SigningKey.rsa(kid="k" * length)))

    assert isinstance(error, UnknownKey)


def test_signature_of_another_token_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    one, other = mint(rsa_key, sub="alice"), mint(rsa_key, sub="mallory")
    spliced = one.rsplit(".", 1)[0] + "." + other.rsplit(".", 1)[1]

    error = refused(verifier, spliced)

    assert isinstance(error, InvalidSignature)
    assert error.detail == "the signature does not verify"


def test_payload_tampered_after_signing_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    header, _, signature = mint(rsa_key).split(".")
    tampered = f"{header}.{b64(json.dumps(claims(sub='admin')))}.{signature}"

    assert isinstance(refused(verifier, tampered), InvalidSignature)


def test_key_with_matching_kid_but_wrong_key_material_is_refused(verifier: TokenVerifier) -> None:
    impostor = SigningKey.rsa(kid="rsa-1")

    assert isinstance(refused(verifier, mint(impostor)), InvalidSignature)


def test_rs256_token_with_kid_of_ec_key_is_refused(
    verifier: TokenVerifier, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    token = mint(rsa_key, headers={"kid": ec_key.kid})

    assert isinstance(refused(verifier, token), UnknownKey)


def test_hs256_signed_with_the_rsa_public_key_is_refused(
    verifier: TokenVerifier, rsa_key: SigningKey
) -> None:
    from cryptography.hazmat.primitives import serialization

    pem = rsa_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = forge({"alg": "HS256", "kid": rsa_key.kid}, claims())
    signing_input = token.rsplit(".", 1)[0].encode()
    import hashlib
    import hmac

    signature = b64(hmac.new(pem, signing_input, hashlib.sha256).digest())

    assert isinstance(refused(verifier, f"{token.rsplit('.', 1)[0]}.{signature}"), UnsupportedAlgorithm)


def test_unknown_kid_is_refused(verifier: TokenVerifier) -> None:
    assert isinstance(refused(verifier, mint(SigningKey.rsa(kid="not-in-jwks"))), UnknownKey)


# ---- structure -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "a.b.c.d.e",
        "..",
        "eyJhbGciOiJSUzI1NiJ9..c2ln",
        "eyJhbGciOiJSUzI1NiJ9.e30=.c2ln",
        "eyJhbGciOiJSUzI1NiJ9.e30.c2l+",
        "eyJhbGciOiJSUzI1NiJ9.e30.",
        "not base64!.e30.c2ln",
    ],
)
def test_malformed_compact_serialisation_is_refused(verifier: TokenVerifier, token: str) -> None:
    assert isinstance(refused(verifier, token), MalformedToken)


@pytest.mark.parametrize(
    "header, payload",
    [
        ('{"alg":"RS256","alg":"none"}', "{}"),
        ('{"alg":"RS256"}', '{"sub":"a","sub":"b"}'),
        ('["RS256"]', "{}"),
        ('{"alg":"RS256"}', "[1,2]"),
        ('{"alg":"RS256"}', '"text"'),
        ('{"alg":"RS256"}', '{"exp": NaN}'),
        ('{"alg":"RS256"', "{}"),
    ],
    ids=[
        "duplicate-header",
        "duplicate-payload",
        "array-header",
        "array-payload",
        "string-payload",
        "nan",
        "truncated",
    ],
)
def test_non_object_or_duplicate_json_is_refused(verifier: TokenVerifier, header: str, payload: str) -> None:
    assert isinstance(refused(verifier, forge(header, payload)), MalformedToken)


def test_non_utf8_segment_is_refused(verifier: TokenVerifier) -> None:
    not_utf8 = b64(b"\xff\xfe")

    assert isinstance(refused(verifier, f"{not_utf8}.{b64('{}')}.c2ln"), MalformedToken)


def test_token_over_8_kib_is_refused_before_parsing(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    token = mint(rsa_key, padding="x" * 9000)

    assert isinstance(refused(verifier, token), TokenTooLarge)


# ---- claims ------------------------------------------------------------------------------------------
def test_expired_token_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    now = int(time.time())

    assert isinstance(refused(verifier, mint(rsa_key, iat=now - 200, exp=now - 60)), TokenExpired)


def test_expiry_within_leeway_is_accepted(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    now = int(time.time())

    assert verifier.verify(mint(rsa_key, iat=now - 100, exp=now - 20)).partner_id == "abc123"


def test_nbf_in_the_future_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    now = int(time.time())

    assert isinstance(refused(verifier, mint(rsa_key, nbf=now + 120)), TokenNotYetValid)


def test_iat_in_the_future_beyond_leeway_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    now = int(time.time())

    assert isinstance(refused(verifier, mint(rsa_key, iat=now + 120, exp=now + 200)), TokenNotYetValid)


@pytest.mark.parametrize(
    ("name", "times"),
    [("nbf", {"nbf": 120, "iat": 0, "exp": 120}), ("iat", {"iat": 120, "exp": 200})],
)
def test_a_time_in_the_future_is_named_with_its_seconds_and_the_skew_allowed(
    verifier: TokenVerifier, rsa_key: SigningKey, wall_clock: FakeClock, name: str, times: dict[str, int]
) -> None:
    now = int(wall_clock.now)
    at: dict[str, Any] = {claim: now + offset for claim, offset in times.items()}

    error = refused(verifier, mint(rsa_key, **at))

    assert isinstance(error, TokenNotYetValid)
    assert error.detail == (
        f"{name} is 120 s in the future; the service allows 30 s of clock skew: "
        "check the minting server's clock"
    )
    assert (error.expected, error.found) == (now + 30, {name: now + 120})


def test_a_time_no_longer_beyond_the_skew_when_the_refusal_is_worded_is_refused_without_figures(
    verifier: TokenVerifier, rsa_key: SigningKey, wall_clock: FakeClock
) -> None:
    # PyJWT found nbf beyond the skew allowed; by the verifier's later reading it is exactly at
    # the limit, where "30 s in the future; the service allows 30 s" would contradict itself.
    now = int(wall_clock.now)
    token = mint(rsa_key, iat=now, exp=now + 120, nbf=now + 90)
    wall_clock.advance(60)

    error = refused(verifier, token)

    assert isinstance(error, TokenNotYetValid)
    assert (error.detail, error.expected, error.found) == ("the token is not valid yet", None, None)


def test_iat_older_than_max_age_plus_leeway_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    # With exp - iat <= 300 s, an iat more than 330 s old means exp has passed beyond the leeway.
    now = int(time.time())

    assert isinstance(refused(verifier, mint(rsa_key, iat=now - 331, exp=now - 31)), TokenExpired)


def test_wrong_issuer_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    assert isinstance(refused(verifier, mint(rsa_key, iss="https://evil.test")), InvalidIssuer)


def test_issuer_is_matched_exactly_not_as_substring(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    assert isinstance(refused(verifier, mint(rsa_key, iss=ISSUER[:-1])), InvalidIssuer)


def test_wrong_audience_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    assert isinstance(refused(verifier, mint(rsa_key, aud="someone-else")), InvalidAudience)


@pytest.mark.parametrize("claim", ["iss", "aud", "exp", "iat", "sub"])
def test_missing_required_claim_is_refused(verifier: TokenVerifier, rsa_key: SigningKey, claim: str) -> None:
    error = refused(verifier, mint(rsa_key, **{claim: None}))

    assert isinstance(error, MissingClaim)
    assert error.status == 401


@pytest.mark.parametrize(
    "claim, value",
    [
        ("exp", "9999999999"),
        ("iat", True),
        ("nbf", "0"),
        ("iss", 42),
        ("aud", 42),
        ("aud", ["ok", 42]),
        ("jti", 42),
        ("jti", ""),
        ("email", ["a@b.c"]),
        ("given_name", 1),
        ("family_name", "x" * 300),
        ("redirect_to", 5),
    ],
)
def test_claim_of_the_wrong_type_is_refused(
    verifier: TokenVerifier, rsa_key: SigningKey, claim: str, value: Any
) -> None:
    error = refused(verifier, sign_raw(rsa_key, claims(**{claim: value})))

    assert error.status == 401
    assert isinstance(error, (InvalidClaim, InvalidIssuer, InvalidAudience, MalformedToken))


@pytest.mark.parametrize("sub", ["a/b", "..", "%2F", "a b", "x" * 65, "", 42, "ü"])
def test_user_claim_that_is_not_a_partner_id_is_403(
    verifier: TokenVerifier, rsa_key: SigningKey, sub: Any
) -> None:
    error = refused(verifier, mint(rsa_key, sub=sub))

    assert isinstance(error, InvalidUser)
    assert error.status == 403


def test_partner_id_of_64_characters_is_accepted(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    assert verifier.verify(mint(rsa_key, sub="A_b-9" * 12 + "abcd")).partner_id == "A_b-9" * 12 + "abcd"


def test_a_token_expired_beyond_the_skew_says_how_long_ago(
    verifier: TokenVerifier, rsa_key: SigningKey, wall_clock: FakeClock
) -> None:
    now = int(wall_clock.now)

    error = refused(verifier, mint(rsa_key, iat=now - 200, exp=now - 60))

    assert isinstance(error, TokenExpired)
    assert error.detail == "exp was 60 s ago; the service allows 30 s of clock skew"
    assert (error.expected, error.found) == (now - 30, now - 60)


@pytest.mark.parametrize("claim", ["aud", "exp", "iat", "sub"])
def test_a_missing_claim_is_named(verifier: TokenVerifier, rsa_key: SigningKey, claim: str) -> None:
    error = refused(verifier, mint(rsa_key, **{claim: None}))

    assert isinstance(error, MissingClaim)
    assert (error.detail, error.expected) == (f"the token has no {claim!r} claim", claim)


@pytest.mark.parametrize(
    ("claim", "detail"),
    [
        ("exp", "Expiration Time claim (exp) must be an integer."),
        ("iat", "Issued At claim (iat) must be an integer."),
        ("nbf", "Not Before claim (nbf) must be an integer."),
    ],
)
def test_a_time_claim_that_is_text_is_refused_in_pyjwts_words(
    verifier: TokenVerifier, rsa_key: SigningKey, claim: str, detail: str
) -> None:
    error = refused(verifier, sign_raw(rsa_key, claims(**{claim: "soon"})))

    assert isinstance(error, InvalidClaim)
    assert error.detail == detail


def test_a_lifetime_of_exactly_the_max_age_is_accepted(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    now = int(time.time())

    assert verifier.verify(mint(rsa_key, iat=now, exp=now + 300)).expires_at == now + 300


@pytest.mark.parametrize("lifetime", [301, 3600, 7200])
def test_a_lifetime_over_the_max_age_is_refused_with_figures(
    verifier: TokenVerifier, rsa_key: SigningKey, lifetime: int
) -> None:
    now = int(time.time())

    error = refused(verifier, mint(rsa_key, iat=now, exp=now + lifetime))

    assert isinstance(error, TokenLifetimeTooLong)
    assert error.detail == f"exp is {lifetime} s after iat; the limit is 300 s"
    assert (error.expected, error.found) == (300, lifetime)


def test_a_time_too_large_for_a_float_is_not_a_number_of_seconds(
    verifier: TokenVerifier, rsa_key: SigningKey
) -> None:
    error = refused(verifier, sign_raw(rsa_key, claims(exp=10**400)))

    assert isinstance(error, InvalidClaim)
    assert error.detail == "exp must be a number of seconds"


@pytest.mark.parametrize("jti", ["j", "j" * 256])
def test_a_jti_of_1_to_256_characters_is_kept(verifier: TokenVerifier, rsa_key: SigningKey, jti: str) -> None:
    assert verifier.verify(mint(rsa_key, jti=jti)).jti == jti


def test_profile_claims_at_their_length_limits_are_passed_on_and_absent_ones_left_out(
    verifier: TokenVerifier, rsa_key: SigningKey
) -> None:
    verified = verifier.verify(mint(rsa_key, given_name=None, family_name="f" * 256, email="e" * 254))

    assert verified.profile == {"last_name": "f" * 256, "email": "e" * 254}


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"jti": ""}, "jti must be a short non-empty string"),
        ({"jti": "j" * 257}, "jti must be a short non-empty string"),
        ({"jti": 42}, "jti must be a short non-empty string"),
        ({"given_name": "g" * 257}, "given_name must be a string of at most 256 characters"),
        ({"family_name": 1}, "family_name must be a string of at most 256 characters"),
        ({"email": "e" * 255}, "email must be a string of at most 254 characters"),
        ({"redirect_to": 5}, "redirect_to must be a string"),
    ],
    ids=[
        "jti-empty",
        "jti-257",
        "jti-number",
        "given_name-257",
        "family_name-number",
        "email-255",
        "redirect_to",
    ],
)
def test_a_claim_refused_says_what_it_must_be(
    verifier: TokenVerifier, rsa_key: SigningKey, overrides: dict[str, Any], detail: str
) -> None:
    error = refused(verifier, sign_raw(rsa_key, claims(**overrides)))

    assert isinstance(error, InvalidClaim)
    assert error.detail == detail


# ---- HS256 -------------------------------------------------------------------------------------------
class StaticSecret(SecretSource):
    def __init__(self, value: str) -> None:
        self.value = value

    def get(self, *, force_fetch: bool = False) -> str:
        return self.value


HMAC_SECRET = "s" * 40


def hs256(secret: str, **overrides: Any) -> str:
    token = jwt.encode(claims(**overrides), secret, algorithm="HS256")
    leakcheck.register(token)
    return token


def test_hs256_is_refused_unless_configured(verifier: TokenVerifier) -> None:
    assert isinstance(refused(verifier, hs256(HMAC_SECRET)), UnsupportedAlgorithm)


def test_hs256_with_configured_secret_is_accepted(make_verifier: Callable[..., TokenVerifier]) -> None:
    verifier = make_verifier(
        StaticSecret(HMAC_SECRET), JWT_ALGORITHMS="RS256,HS256", JWT_HS256_SECRET_ID="hs"
    )

    assert verifier.verify(hs256(HMAC_SECRET)).partner_id == "abc123"


def test_hs256_with_another_secret_is_refused(make_verifier: Callable[..., TokenVerifier]) -> None:
    verifier = make_verifier(StaticSecret(HMAC_SECRET), JWT_ALGORITHMS="HS256", JWT_HS256_SECRET_ID="hs")

    assert isinstance(refused(verifier, hs256("t" * 40)), InvalidSignature)


def test_hs256_secret_shorter_than_256_bits_is_never_used(
    make_verifier: Callable[..., TokenVerifier],
) -> None:
    verifier = make_verifier(StaticSecret("short"), JWT_ALGORITHMS="HS256", JWT_HS256_SECRET_ID="hs")

    error = refused(verifier, hs256("short" * 8))

    assert error.status == 503
    # The answer says nothing of the secret; its length is for the operator's log.
    assert (error.detail, error.log_detail) == (
        "the service's HS256 secret is not usable",
        "the HS256 secret is shorter than 256 bits",
    )


@pytest.mark.parametrize("secret", ["s" * 32, "é" * 16], ids=["32-ascii", "16-two-byte-characters"])
def test_an_hs256_secret_of_exactly_256_bits_is_used(
    make_verifier: Callable[..., TokenVerifier], secret: str
) -> None:
    verifier = make_verifier(StaticSecret(secret), JWT_ALGORITHMS="HS256", JWT_HS256_SECRET_ID="hs")

    assert verifier.verify(hs256(secret)).partner_id == "abc123"


def test_an_hs256_secret_that_is_a_pem_key_is_refused_by_pyjwt_and_named(
    make_verifier: Callable[..., TokenVerifier], rsa_key: SigningKey
) -> None:
    from cryptography.hazmat.primitives import serialization

    pem = rsa_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    verifier = make_verifier(StaticSecret(pem.decode()), JWT_ALGORITHMS="HS256", JWT_HS256_SECRET_ID="hs")
    token = forge({"alg": "HS256", "typ": "JWT"}, claims())

    error = refused(verifier, token)

    assert type(error) is InvalidToken
    assert error.detail == "InvalidKeyError"


@pytest.mark.parametrize(
    "secret", [None, StaticSecret(HMAC_SECRET)], ids=["no-secret", "a-secret-the-policy-does-not-name"]
)
def test_hs256_listed_by_a_policy_without_a_secret_id_is_not_accepted(
    base_env: dict[str, str], ca_file: Path, jwks: Any, secret: SecretSource | None
) -> None:
    # load_config refuses this policy; one built by hand must not enable HS256 either.
    configured = load_config(base_env).partner.tokens
    policy = dataclasses.replace(configured, algorithms=("RS256", "HS256"), hs256_secret_id=None)
    keys = JwksKeySource(HttpFetcher(new_http_pool(ca_certs=str(ca_file))), policy.issuers, policy.jwks_url)

    error = refused(TokenVerifier(policy, keys, secret), hs256(HMAC_SECRET))

    assert isinstance(error, UnsupportedAlgorithm)
    assert (error.detail, error.expected) == (
        "alg 'HS256' is not accepted; this service accepts RS256",
        ["RS256"],
    )


def test_hs256_signed_with_empty_secret_is_refused(make_verifier: Callable[..., TokenVerifier]) -> None:
    verifier = make_verifier(StaticSecret(HMAC_SECRET), JWT_ALGORITHMS="HS256", JWT_HS256_SECRET_ID="hs")
    token = forge({"alg": "HS256", "typ": "JWT"}, claims())
    import hashlib
    import hmac

    signature = b64(hmac.new(b"", token.rsplit(".", 1)[0].encode(), hashlib.sha256).digest())

    assert isinstance(refused(verifier, token.rsplit(".", 1)[0] + "." + signature), InvalidSignature)


# ---- parse_token (also what the log line reads) ------------------------------------------------------
def test_parse_token_reads_alg_kid_and_iss_without_verifying(rsa_key: SigningKey) -> None:
    seen = parse_token(mint(rsa_key))

    assert (seen.alg, seen.kid, seen.issuer) == ("RS256", rsa_key.kid, ISSUER)


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c"])
def test_parse_token_of_garbage_is_a_malformed_token(garbage: str) -> None:
    with pytest.raises(MalformedToken):
        parse_token(garbage)


_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _respelt(segment: str) -> str:
    """``segment`` with its last character changed in the spare bits only (same decoded bytes)."""
    last = _B64URL.index(segment[-1])
    spare = {2: 0b1111, 3: 0b11}[len(segment) % 4]  # bits that encode nothing
    respelt = segment[:-1] + _B64URL[(last & ~spare) | (~last & spare & 1)]
    decode = base64.urlsafe_b64decode
    assert respelt != segment
    assert decode(respelt + "=" * (-len(respelt) % 4)) == decode(segment + "=" * (-len(segment) % 4))
    return respelt


@pytest.mark.parametrize("which", [0, 1, 2], ids=["header", "payload", "signature"])
def test_a_segment_spelt_with_nonzero_spare_bits_is_malformed(
    verifier: TokenVerifier, rsa_key: SigningKey, which: int
) -> None:
    # RFC 4648 §3.5: one value has one spelling. Two spellings of one token would let the
    # same signed bytes pass as a different link; PyJWT refuses them too, as invalid_claim.
    # A segment has spare bits when its length is 2 or 3 more than a multiple of 4.
    spelt = (mint(rsa_key, headers={"pad": "x" * n}, pad="x" * n).split(".") for n in range(8))
    parts = next(parts for parts in spelt if len(parts[which]) % 4 in (2, 3))
    parts[which] = _respelt(parts[which])
    with pytest.raises(MalformedToken, match="canonical"):
        verifier.verify(".".join(parts))


@pytest.mark.parametrize(
    "header, payload",
    [
        ('{"alg":"RS256","kid":"\\ud800"}', '{"sub":"a"}'),
        ('{"alg":"RS256"}', '{"sub":"\\ud800"}'),
        ('{"alg":"RS256"}', '{"nonce":"x\\udfff"}'),
        ('{"alg":"RS256"}', '{"\\udc00":"a"}'),
        ('{"alg":"RS256"}', '{"custom":{"list":["ok","\\ud83d"]}}'),
    ],
    ids=["header-value", "payload-value", "low-surrogate", "member-name", "nested-in-list"],
)
def test_a_lone_surrogate_anywhere_is_a_malformed_token(header: str, payload: str) -> None:
    # Valid JSON, but not UTF-8 text: every later encode (a hash, a URL, a log line) would fail.
    with pytest.raises(MalformedToken, match="UTF-8"):
        parse_token(forge(header, payload))


def test_a_surrogate_pair_is_ordinary_text(rsa_key: SigningKey) -> None:
    seen = parse_token(forge('{"alg":"RS256"}', '{"iss":"\\ud83d\\ude00"}'))

    assert seen.issuer == "\U0001f600"


def test_the_log_reads_string_header_and_claim_values_cut_to_200_characters_and_nothing_else() -> None:
    seen = parse_token(forge({"alg": 7, "kid": ["rsa-1"]}, {"iss": "i" * 300}))

    assert (seen.alg, seen.kid, seen.issuer) == (None, None, "i" * 200)


@pytest.mark.parametrize(
    ("member", "shown"),
    [("sub", "'sub'"), ("m" * 50, "'" + "m" * 40 + "'")],
    ids=["short", "cut-to-40"],
)
def test_a_duplicate_member_is_named_by_its_first_40_characters(member: str, shown: str) -> None:
    with pytest.raises(MalformedToken) as caught:
        parse_token(forge('{"alg":"RS256"}', f'{{"{member}":"a","{member}":"b"}}'))

    assert caught.value.detail == f"duplicate JSON member {shown}"


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        (forge('{"alg":"RS256"', "{}"), "the header is not base64url-encoded UTF-8 JSON"),
        (".".join([b64("{}"), b64(b"\xff\xfe"), "c2ln"]), "the payload is not base64url-encoded UTF-8 JSON"),
        (forge('{"alg":"RS256"}', "[1,2]"), "the payload is not a JSON object"),
    ],
    ids=["truncated-json", "not-utf8", "array"],
)
def test_a_segment_that_is_no_json_object_is_named(token: str, detail: str) -> None:
    with pytest.raises(MalformedToken) as caught:
        parse_token(token)

    assert caught.value.detail == detail


@pytest.mark.parametrize("last", list(_B64URL))
def test_a_four_character_segment_may_end_in_any_base64url_character(last: str) -> None:
    # Only a segment of 2 or 3 more than a multiple of 4 has spare bits; this one has none.
    seen = parse_token(forge('{"alg":"RS256"}', "{}", signature="AAA" + last))

    assert seen.alg == "RS256"


def _token_of(size: int) -> str:
    """A well-formed (unsigned) token of exactly ``size`` bytes: its signature makes up the length."""
    heads = (forge({"alg": "RS256"}, {"pad": "x" * n}, signature="") for n in range(3))
    # No base64url text is 1 more than a multiple of 4 long: one of three paddings avoids it.
    head = next(head for head in heads if (size - len(head)) % 4 != 1)
    return head + "A" * (size - len(head))


def test_a_token_of_exactly_8_kib_is_parsed_and_one_byte_more_is_too_large() -> None:
    assert parse_token(_token_of(8192)).alg == "RS256"
    with pytest.raises(TokenTooLarge) as caught:
        parse_token(_token_of(8193))

    assert caught.value.detail == "8193 characters; the limit is 8192 bytes"


@pytest.mark.parametrize(("token", "count"), [("a.b", 2), ("a.b.c.d", 4)])
def test_a_token_without_three_segments_says_how_many_it_has(token: str, count: int) -> None:
    with pytest.raises(MalformedToken) as caught:
        parse_token(token)

    assert caught.value.detail == f"{count} segments; a JWT has exactly 3"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1E400"])
def test_a_non_finite_number_in_the_payload_is_malformed_and_named(
    verifier: TokenVerifier, rsa_key: SigningKey, number: str
) -> None:
    text = json.dumps(claims(exp=0)).replace('"exp": 0', f'"exp": {number}')

    error = refused(verifier, sign_text(rsa_key, text))

    assert isinstance(error, MalformedToken)
    assert error.detail == f"non-finite number {number}"


def test_a_long_non_finite_number_is_named_by_its_first_40_characters(
    verifier: TokenVerifier, rsa_key: SigningKey
) -> None:
    number = "1" * 45 + "e999"
    text = json.dumps(claims(exp=0)).replace('"exp": 0', f'"exp": {number}')

    error = refused(verifier, sign_text(rsa_key, text))

    assert isinstance(error, MalformedToken)
    assert error.detail == "non-finite number " + "1" * 40


@pytest.mark.parametrize(
    ("iss", "detail"),
    [
        ("https://idp.other.test", "iss 'https://idp.other.test' is not an accepted issuer"),
        (
            ISSUER + "/",
            f"iss '{ISSUER}/' is not an accepted issuer"
            "; issuers are matched exactly, so the trailing '/' matters",
        ),
    ],
)
def test_an_issuer_not_accepted_is_named_with_the_trailing_slash_hint(
    verifier: TokenVerifier, rsa_key: SigningKey, iss: str, detail: str
) -> None:
    error = refused(verifier, mint(rsa_key, iss=iss))

    assert isinstance(error, InvalidIssuer)
    assert error.detail == detail


@pytest.mark.parametrize(
    ("sub", "hint"),
    [
        ("user name", ": it contains other characters"),
        ("x" * 65, ": it is 65 characters long"),
        ("ada@example.edu", ": it looks like an email address; send your stable internal user id instead"),
        (12345, ": it is a int, not a string"),
    ],
)
def test_a_user_claim_that_is_no_partner_id_says_why_without_repeating_it(
    verifier: TokenVerifier, rsa_key: SigningKey, jwks: Any, sub: Any, hint: str
) -> None:
    error = refused(verifier, mint(rsa_key, sub=sub))

    assert error.detail == "sub is not a valid partner_id (1 to 64 of A-Z a-z 0-9 _ -)" + hint
    assert error.expected == "sub"


@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
def test_a_time_claim_that_is_not_a_number_is_named(
    verifier: TokenVerifier, rsa_key: SigningKey, name: str
) -> None:
    error = refused(verifier, sign_raw(rsa_key, claims(**{name: True})))

    assert isinstance(error, InvalidClaim)
    assert error.detail == f"{name} must be a number of seconds"


@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
def test_a_time_claim_in_milliseconds_is_named_with_the_fix(
    verifier: TokenVerifier, rsa_key: SigningKey, name: str
) -> None:
    millis = int(time.time() * 1000)

    error = refused(verifier, sign_raw(rsa_key, claims(**{name: millis})))

    assert isinstance(error, InvalidClaim)
    assert error.detail == (
        f"{name} is {millis}, which looks like milliseconds: "
        "JWT times are whole seconds since 1970 (divide by 1000)"
    )


def test_a_long_audience_is_shown_cut_to_200_characters(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    error = refused(verifier, mint(rsa_key, aud="a" * 300))

    assert isinstance(error, InvalidAudience)
    assert error.found == "a" * 200


@pytest.mark.parametrize(
    ("aud", "shown"),
    [
        ("a" * 118, "'" + "a" * 118 + "'"),  # 120 characters with its quotes: shown whole
        ("a" * 119, "'" + "a" * 119 + "…"),  # 121: cut to 120 and marked
    ],
    ids=["120-characters", "121-characters"],
)
def test_a_refused_audience_is_shown_in_the_detail_up_to_120_characters(
    verifier: TokenVerifier, rsa_key: SigningKey, aud: str, shown: str
) -> None:
    error = refused(verifier, mint(rsa_key, aud=aud))

    assert isinstance(error, InvalidAudience)
    assert (error.detail, error.expected) == (f"aud is {shown}; expected {AUDIENCE!r}", AUDIENCE)


@pytest.mark.parametrize(
    ("aud", "found"),
    [
        (10**18 - 1, 10**18 - 1),
        (10**18, "1000000000000000000"),
        (-(10**18), "-1000000000000000000"),
        (["other"] * 10, ["other"] * 10),
        (["other"] * 11, str(["other"] * 11)),
    ],
    ids=["18-digits", "19-digits", "19-digits-negative", "10-strings", "11-strings"],
)
def test_a_refused_audience_is_found_as_itself_when_json_safe_and_short_else_as_text(
    verifier: TokenVerifier, rsa_key: SigningKey, aud: Any, found: Any
) -> None:
    # A number stays one up to 18 digits, a list of strings up to 10; past that, its text (cut short).
    error = refused(verifier, sign_raw(rsa_key, claims(aud=aud)))

    assert isinstance(error, InvalidAudience)
    assert error.found == found


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        ("!!.e30.sig", "the header is empty or not unpadded base64url"),
        ("e30.!!.sig", "the payload is empty or not unpadded base64url"),
        ("e30.e30.!!", "the signature is empty or not unpadded base64url"),
    ],
)
def test_a_segment_that_is_not_base64url_is_named(verifier: TokenVerifier, token: str, detail: str) -> None:
    error = refused(verifier, token)

    assert isinstance(error, MalformedToken)
    assert error.detail == detail


def test_a_token_without_iss_names_the_claim(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    error = refused(verifier, sign_raw(rsa_key, claims(iss=None)))

    assert isinstance(error, MissingClaim)
    assert (error.detail, error.expected) == ("iss", "iss")
