"""Verifying a JWT: every rule of the project's JWT security checklist.

PyJWT checks the signature and the registered claims; this module adds the rest: a strict
compact-serialisation parse (canonical base64url, UTF-8 JSON objects, no duplicate members),
the header rules, claim types, the lifetime limit, and the user as a Big Interview
``partner_id``. A token is parsed once; the log reads ``alg``, ``kid`` and ``iss`` from it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import jwt
from jwt import PyJWK

from handler.config import TokenPolicy
from handler.errors import (
    InvalidAudience,
    InvalidClaim,
    InvalidIssuer,
    InvalidSignature,
    InvalidToken,
    InvalidUser,
    MalformedToken,
    MissingClaim,
    SecretUnavailable,
    TokenExpired,
    TokenLifetimeTooLong,
    TokenNotYetValid,
    TokenTooLarge,
    UnknownKey,
    UnsupportedAlgorithm,
)
from handler.identity import PARTNER, PARTNER_ID, UnacceptableUserId, partner_id
from handler.keys import KeySource
from handler.secret_source import SecretSource
from handler.untrusted import parse_json

__all__ = [
    "MAX_JTI_LENGTH",
    "MAX_TOKEN_BYTES",
    "PARTNER_ID",
    "PROFILE_CLAIMS",
    "TokenVerifier",
    "UnverifiedToken",
    "VerifiedToken",
    "bounded",
    "claimed_issuer",
    "parse_token",
]

MAX_TOKEN_BYTES = 8 * 1024
# Guards are used with fullmatch: "$" would also match before a final newline.
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_MAX_KID_LENGTH = 256
MAX_JTI_LENGTH = 256
# Profile claims we pass on, with their Partner API names and length limits.
PROFILE_CLAIMS = {
    "given_name": ("first_name", 256),
    "family_name": ("last_name", 256),
    "email": ("email", 254),
}
_MIN_HMAC_KEY_BYTES = 32
# A time claim above this (the year 5138 in seconds) is almost certainly in milliseconds.
_MILLISECONDS_THRESHOLD = 10**11
# RFC 7515 §4.1.9: media types compare case-insensitively; "application/" may be left out.
_ACCEPTED_TYP = frozenset({"jwt", "application/jwt"})


@dataclass(frozen=True)
class VerifiedToken:
    """What a verified token tells us; ``profile`` uses the Partner API's field names."""

    issuer: str
    kid: str | None
    jti: str | None
    partner_id: str
    expires_at: float
    profile: dict[str, str] = field(default_factory=dict, repr=False)  # names and email: out of repr
    redirect_to: str | None = None


@dataclass(frozen=True)
class UnverifiedToken:
    """A token split and parsed, NOT yet trusted: what is known before the signature is checked."""

    # Out of repr: the token is a credential, and the payload may hold an email address.
    text: str = field(repr=False)
    header: dict[str, Any] = field(repr=False)
    payload: dict[str, Any] = field(repr=False)

    @property
    def alg(self) -> str | None:
        return _short_text(self.header.get("alg"))

    @property
    def kid(self) -> str | None:
        return _short_text(self.header.get("kid"))

    @property
    def issuer(self) -> str | None:
        return _short_text(self.payload.get("iss"))


def _short_text(value: Any) -> str | None:
    """A header or claim value for a log line: a string, cut short, or None."""
    return value[:200] if isinstance(value, str) else None


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise MalformedToken(f"duplicate JSON member {key[:40]!r}")
        document[key] = value
    return document


def _reject_constant(name: str) -> Any:
    raise MalformedToken(f"non-finite number {name}")


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent; ``1e999`` would become ``inf``."""
    value = float(text)
    if not math.isfinite(value):
        raise MalformedToken(f"non-finite number {text[:40]}")
    return value


def _segment_bytes(segment: str, what: str) -> bytes:
    """One segment's bytes: unpadded base64url in its one canonical spelling.

    A last character's unused bits are ignored by Python's decoder, so "...A" and "...B" could
    be the same bytes; RFC 4648 §3.5 lets a decoder refuse them, and PyJWT does: so do we, clearly.
    """
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise MalformedToken(f"the {what} is empty or not unpadded base64url")
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != segment:
        raise MalformedToken(
            f"the {what} is not canonical base64url (its last character's unused bits are set)"
        )
    return raw


def _decode_segment(segment: str, what: str) -> dict[str, Any]:
    """One base64url segment to a JSON object, strictly."""
    raw = _segment_bytes(segment, what)
    try:
        document = parse_json(
            raw.decode("utf-8"),
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise MalformedToken(f"the {what} is not base64url-encoded UTF-8 JSON") from None
    if not isinstance(document, dict):
        raise MalformedToken(f"the {what} is not a JSON object")
    try:
        # A JSON escape can spell a lone surrogate (\ud800): valid JSON, but no UTF-8 text,
        # so every later encode of a claim (a hash, a URL, a log line) would fail after checks.
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedToken(f"the {what} holds text that is not UTF-8 (a lone surrogate)") from None
    return document


def parse_token(token: str) -> UnverifiedToken:
    """Header and payload of a compact JWS, parsed strictly but not trusted."""
    if len(token.encode("utf-8", "surrogatepass")) > MAX_TOKEN_BYTES:
        raise TokenTooLarge(f"{len(token)} characters; the limit is {MAX_TOKEN_BYTES} bytes")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken(f"{len(parts)} segments; a JWT has exactly 3")
    header, payload = _decode_segment(parts[0], "header"), _decode_segment(parts[1], "payload")
    _segment_bytes(parts[2], "signature")
    return UnverifiedToken(token, header, payload)


def claimed_issuer(payload: dict[str, Any]) -> str | None:
    """The whole ``iss`` a payload names, unverified (None: it has none); ``InvalidClaim`` if not a string.

    The partner is looked up by it before the token is verified: that lookup and the verifier
    answer a malformed ``iss`` alike.
    """
    issuer = payload.get("iss")
    if issuer is not None and not isinstance(issuer, str):
        raise InvalidClaim("iss is not a string", expected="iss", found=bounded(issuer))
    return issuer


def _is_number(value: Any) -> TypeGuard[int | float]:
    """A JSON number usable as seconds: finite, and (for an integer) within a float's range."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float, such as 10**400
        return False


class TokenVerifier:
    """Verifies a partner JWT against the configuration and the partner's keys."""

    def __init__(
        self,
        policy: TokenPolicy,
        keys: KeySource,
        hmac_secret: SecretSource | None = None,
    ) -> None:
        self._policy = policy
        self._keys = keys
        self._hmac_secret = hmac_secret if policy.hs256_enabled else None
        # In the configured order: what a refusal says is expected.
        self._allowed = tuple(
            alg for alg in policy.algorithms if alg != "HS256" or self._hmac_secret is not None
        )
        self._required = ["iss", "aud", "exp", "iat", policy.user_claim]

    def verify(self, token: str | UnverifiedToken) -> VerifiedToken:
        """The verified claims, or a typed ``InvalidToken``/``InvalidUser`` error."""
        parsed = parse_token(token) if isinstance(token, str) else token
        header, payload = parsed.header, parsed.payload
        alg = self._check_header(header)
        issuer = claimed_issuer(payload)
        if issuer is None:
            raise MissingClaim("iss", expected="iss")
        if issuer not in self._policy.issuers:
            # The accepted list stays in the log: with several partners it would name them.
            hint = (
                "; issuers are matched exactly, so the trailing '/' matters" if issuer.endswith("/") else ""
            )
            raise InvalidIssuer(
                f"iss {issuer[:200]!r} is not an accepted issuer{hint}",
                log_detail=f"iss {issuer[:200]!r} is not one of {list(self._policy.issuers)}",
                expected=list(self._policy.issuers),
                found=issuer[:200],
            )
        kid = header.get("kid")
        key = self._key_for(issuer, kid, alg)
        claims = self._decode(parsed.text, key, alg, payload)
        return self._check_claims(claims, issuer, kid)

    def _check_header(self, header: dict[str, Any]) -> str:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._allowed:
            shown = alg[:20] if isinstance(alg, str) else type(alg).__name__
            raise UnsupportedAlgorithm(
                f"alg {shown!r} is not accepted; this service accepts {', '.join(sorted(self._allowed))}",
                expected=list(self._allowed),
                found=bounded(alg),
            )
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYP):
            raise MalformedToken("typ must be 'JWT' (or 'application/jwt') when present")
        if "crit" in header:
            # No critical extension is understood here, so any is a reason to refuse (RFC 7515 §4.1.11).
            raise MalformedToken("the header has a crit member")
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or not 0 < len(kid) <= _MAX_KID_LENGTH):
            raise MalformedToken("kid must be a short string")
        # jku, x5u, jwk and x5c are never read: key material named by a token is not trusted.
        return alg

    def _key_for(self, issuer: str, kid: Any, alg: str) -> PyJWK | bytes:
        if alg == "HS256":
            assert self._hmac_secret is not None  # guaranteed by the allow-list
            secret = self._hmac_secret.get().encode("utf-8")
            # PyJWT's enforce_minimum_key_length would refuse it too, as an invalid token:
            # this says what it is, a set-up problem of the service.
            if len(secret) < _MIN_HMAC_KEY_BYTES:
                # Nothing about the secret in the answer: its length is for the operator's log.
                raise SecretUnavailable(
                    "the service's HS256 secret is not usable",
                    log_detail="the HS256 secret is shorter than 256 bits",
                )
            return secret
        if kid is None:
            raise UnknownKey("the token header has no kid", expected="kid")
        return self._keys.signing_key(issuer, kid, alg)

    def _decode(self, token: str, key: PyJWK | bytes, alg: str, payload: dict[str, Any]) -> dict[str, Any]:
        """PyJWT's checks; ``payload`` (the same claims, parsed by us) words the refusals."""
        policy = self._policy
        try:
            return jwt.decode(
                token,
                key.key if isinstance(key, PyJWK) else key,
                algorithms=[alg],
                audience=policy.audience,
                issuer=list(policy.issuers),
                leeway=policy.leeway_seconds,
                options={
                    "require": self._required,
                    "verify_sub": False,
                    "verify_jti": False,
                    # Defence in depth: the key source refuses short RSA keys at load, with a
                    # clearer message, and the HS256 secret is checked above.
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.InvalidSignatureError:
            raise InvalidSignature("the signature does not verify") from None
        except jwt.ExpiredSignatureError:
            # PyJWT checks times only after the signature: these claims are the signer's own.
            _check_times(payload)
            now = time.time()
            raise TokenExpired(
                f"exp was {now - float(payload['exp']):.0f} s ago; "
                f"the service allows {policy.leeway_seconds} s of clock skew",
                expected=now - policy.leeway_seconds,  # exp must not be before this
                found=payload["exp"],
            ) from None
        except jwt.ImmatureSignatureError:
            _check_times(payload)
            raise self._not_yet_valid(payload) from None
        except jwt.InvalidAudienceError:
            raise InvalidAudience(
                f"aud is {_shown(payload.get('aud'))}; expected {policy.audience!r}",
                expected=policy.audience,
                found=bounded(payload.get("aud")),
            ) from None
        except jwt.InvalidIssuerError:
            raise InvalidIssuer("iss is not allowed") from None
        except jwt.MissingRequiredClaimError as error:
            raise MissingClaim(f"the token has no {error.claim!r} claim", expected=error.claim) from None
        except (jwt.InvalidIssuedAtError, jwt.DecodeError) as error:
            raise InvalidClaim(str(error)[:200]) from None
        except jwt.PyJWTError as error:
            raise InvalidToken(f"{type(error).__name__}") from None

    def _not_yet_valid(self, payload: dict[str, Any]) -> TokenNotYetValid:
        now = time.time()
        leeway = self._policy.leeway_seconds
        for name in ("nbf", "iat"):
            value = payload.get(name)
            if _is_number(value) and value > now + leeway:
                return TokenNotYetValid(
                    f"{name} is {value - now:.0f} s in the future; the service allows "
                    f"{leeway} s of clock skew: check the minting server's clock",
                    expected=now + leeway,  # the claim must not be after this
                    found={name: value},
                )
        return TokenNotYetValid("the token is not valid yet")

    def _user_id(self, claims: dict[str, Any], issuer: str) -> str:
        """The Big Interview user the token signs in: the partner's own id, in the user claim."""
        return partner_id(PARTNER, claims[self._policy.user_claim])

    def _check_claims(self, claims: dict[str, Any], issuer: str, kid: str | None) -> VerifiedToken:
        policy = self._policy
        _check_times(claims)
        exp, iat = float(claims["exp"]), float(claims["iat"])
        if exp - iat > policy.max_age_seconds:
            raise TokenLifetimeTooLong(
                f"exp is {exp - iat:.0f} s after iat; the limit is {policy.max_age_seconds} s",
                expected=policy.max_age_seconds,
                found=exp - iat,
            )
        # "iat at most max age (+ leeway) ago" needs no check of its own: with
        # exp - iat <= max age, an older iat means exp has passed beyond the leeway.
        aud = claims["aud"]
        if not isinstance(aud, str) and not (isinstance(aud, list) and all(isinstance(a, str) for a in aud)):
            raise InvalidClaim("aud must be a string or a list of strings")
        jti = claims.get("jti")
        if jti is not None and (not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH):
            raise InvalidClaim("jti must be a short non-empty string")
        profile: dict[str, str] = {}
        for claim, (field_name, limit) in PROFILE_CLAIMS.items():
            value = claims.get(claim)
            if value is None:
                continue
            if not isinstance(value, str) or len(value) > limit:
                raise InvalidClaim(f"{claim} must be a string of at most {limit} characters")
            profile[field_name] = value
        redirect_to = claims.get("redirect_to")
        if redirect_to is not None and not isinstance(redirect_to, str):
            raise InvalidClaim("redirect_to must be a string")
        try:
            user = self._user_id(claims, issuer)
        except UnacceptableUserId as error:
            # Checked before the value goes anywhere near a URL path.
            # No ``found``: the value may be an email address.
            raise InvalidUser(
                f"{policy.user_claim} is not a valid partner_id (1 to 64 of A-Z a-z 0-9 _ -): {error}",
                expected=policy.user_claim,
            ) from None
        return VerifiedToken(
            issuer=issuer,
            kid=kid,
            jti=jti,
            partner_id=user,
            expires_at=exp,
            profile=profile,
            redirect_to=redirect_to,
        )


def _check_times(claims: dict[str, Any]) -> None:
    """``exp``/``iat``/``nbf``, when present, are usable seconds: numbers a float can hold, not milliseconds.

    Runs before any time is read or shown: PyJWT compares an integer such as -10**400
    as "expired" (or 10**400 as "not yet valid"), and ``float()`` of it would raise.
    """
    for name in ("exp", "iat", "nbf"):
        if name in claims and not _is_number(claims[name]):
            raise InvalidClaim(f"{name} must be a number of seconds")
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if _is_number(value) and value > _MILLISECONDS_THRESHOLD:
            raise InvalidClaim(
                f"{name} is {_shown(value)}, which looks like milliseconds: "
                "JWT times are whole seconds since 1970 (divide by 1000)"
            )


def bounded(value: Any) -> Any:
    """A claim value as a refusal's ``found``: JSON-safe and short (never a profile claim)."""
    if isinstance(value, str):
        return value[:200]
    if value is None or isinstance(value, bool | int | float):
        return value if not isinstance(value, int) or abs(value) < 10**18 else _shown(value)
    if isinstance(value, list) and len(value) <= 10 and all(isinstance(item, str) for item in value):
        return [item[:200] for item in value]
    return _shown(value)


def _shown(value: Any) -> str:
    """A claim value for the developer's detail, cut short (never a profile claim)."""
    text = repr(value)
    return text if len(text) <= 120 else text[:120] + "…"
