"""The partner's public keys: JWKS fetching, caching and key selection.

Why not ``jwt.PyJWKClient``: it fetches with ``urllib.request`` (a new TCP/TLS
connection per fetch, no response-size cap, no loopback-only rule for plain
http) and expires its whole key set on a timer. Here keys live for the
container's life on the shared urllib3 pool, an unknown ``kid`` triggers at most
one refetch per cooldown, and a failed refetch keeps the keys we had. Parsing a
JWK into a key object is still PyJWT's job (``jwt.PyJWK``), done once per
``(kid, alg)``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import urllib3
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from handler.config import url_problem
from handler.errors import InvalidToken, KeysUnavailable, UnknownKey
from handler.telemetry import Telemetry

MAX_DOCUMENT_BYTES = 64 * 1024
FETCH_TIMEOUT = urllib3.Timeout(connect=2.0, read=2.0)
# kty (and curve) each algorithm family may be used with.
KEY_TYPES = {"RS": ("RSA", None), "PS": ("RSA", None), "Ed": ("OKP", ("Ed25519",))}
EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
MIN_RSA_BITS = 2048
# What an answer says about a weak key; the log line says which weakness.
WEAK_KEY = "the JWKS key is too weak to be trusted (the operator's log says why): publish a new key"
# The primes of the ROCA fingerprint test (Nemec et al., CCS 2017), each with the powers of 65537 mod p.
ROCA_PRIMES = (
    3,
    5,
    7,
    11,
    13,
    17,
    19,
    23,
    29,
    31,
    37,
    41,
    43,
    47,
    53,
    59,
    61,
    67,
    71,
    73,
    79,
    83,
    89,
    97,
    101,
    103,
    107,
    109,
    113,
    127,
    131,
    137,
    139,
    149,
    151,
    157,
    163,
    167,
)
ROCA_SUBGROUPS = tuple((p, frozenset(pow(65537, k, p) for k in range(p))) for p in ROCA_PRIMES)


class KeyFetchError(Exception):
    """A JWKS or discovery document could not be fetched or is unusable."""


def fetch_json(http: urllib3.PoolManager, url: str) -> Any:
    """GET a small JSON document: no redirects, short timeouts, capped size."""
    try:
        response = http.request(
            "GET",
            url,
            headers={"Accept": "application/json"},
            timeout=FETCH_TIMEOUT,
            retries=False,  # no redirects, no retries: a JWKS must answer directly
            preload_content=False,
        )
    except urllib3.exceptions.HTTPError as error:
        raise KeyFetchError(f"{url}: {type(error).__name__}") from None
    try:
        if response.status != 200:
            raise KeyFetchError(f"{url}: HTTP {response.status}")
        body = response.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
        if len(body) > MAX_DOCUMENT_BYTES:
            raise KeyFetchError(f"{url}: larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            return json.loads(body)
        except ValueError:
            raise KeyFetchError(f"{url}: not JSON") from None
    except urllib3.exceptions.HTTPError as error:
        raise KeyFetchError(f"{url}: {type(error).__name__}") from None
    finally:
        response.release_conn()


def check_key_fits(jwk: Mapping[str, Any], alg: str) -> None:
    """Refuse a JWK that is not a signing key for exactly ``alg`` (RFC 8725 §3.1)."""
    if jwk.get("alg") is not None and jwk.get("alg") != alg:
        raise UnknownKey(f"the key's alg is {jwk.get('alg')!r}, the token's is {alg!r}")
    if jwk.get("use") is not None and jwk.get("use") != "sig":
        raise UnknownKey(f"the key's use is {jwk.get('use')!r}, not 'sig'")
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise UnknownKey("the key's key_ops do not include 'verify'")
    kty = jwk.get("kty")
    if alg in EC_CURVES:
        if kty != "EC" or jwk.get("crv") != EC_CURVES[alg]:
            raise UnknownKey(f"{alg} needs an EC {EC_CURVES[alg]} key, found {kty}/{jwk.get('crv')}")
        return
    expected_kty, curves = KEY_TYPES.get(alg[:2], (None, None))
    if expected_kty is None or kty != expected_kty:
        # Includes HS*: a JWKS never supplies HMAC keys (key confusion).
        raise UnknownKey(f"{alg} cannot be verified with a {kty!r} key from a JWKS")
    if curves is not None and jwk.get("crv") not in curves:
        raise UnknownKey(f"{alg} needs one of {curves}, found {jwk.get('crv')!r}")
    if kty == "RSA":
        check_rsa_modulus(jwk.get("n"))


def check_rsa_modulus(n_b64: Any) -> None:
    """Refuse RSA keys under 2048 bits (RFC 7518 §3.3) and keys with the ROCA flaw."""
    if not isinstance(n_b64, str):
        raise UnknownKey("the RSA key has no modulus 'n'")
    try:
        n = int.from_bytes(base64.urlsafe_b64decode(n_b64 + "=" * (-len(n_b64) % 4)), "big")
    except (binascii.Error, ValueError):
        raise UnknownKey("the RSA key's modulus is not base64url") from None
    if n.bit_length() < MIN_RSA_BITS:
        raise UnknownKey(
            WEAK_KEY,
            log_detail=f"the RSA key has {n.bit_length()} bits; at least {MIN_RSA_BITS} are required",
        )
    if has_roca_fingerprint(n):
        # Saying which weakness it is would tell an attacker how to recover the private key.
        raise UnknownKey(
            WEAK_KEY, log_detail="the RSA key was made by a generator with the ROCA flaw (CVE-2017-15361)"
        )


def has_roca_fingerprint(n: int) -> bool:
    """True if ``n`` came from the flawed Infineon generator (CVE-2017-15361, the ROCA test).

    Such moduli are, for every small prime p below, congruent mod p to a power of 65537.
    A sound modulus passes all these primes by chance with negligible probability.
    """
    return all(n % p in generated for p, generated in ROCA_SUBGROUPS)


@dataclass
class _KeySet:
    """The keys of one JWKS URL, and when we last tried to fetch them."""

    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Key objects built from ``keys``, by (kid, alg); emptied when ``keys`` changes.
    objects: dict[tuple[str, str], PyJWK] = field(default_factory=dict)
    loaded: bool = False
    last_attempt: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class JwksKeySource:
    """Public keys by ``(issuer, kid)``, from a configured JWKS URL or OIDC discovery."""

    def __init__(
        self,
        http: urllib3.PoolManager,
        issuers: tuple[str, ...],
        jwks_url: str | None,
        *,
        cooldown_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._http = http
        self._jwks_url = jwks_url
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._telemetry = telemetry or Telemetry()
        # One key set for a configured URL; otherwise one per issuer (discovery).
        shared = _KeySet()
        self._sets = {issuer: shared if jwks_url else _KeySet() for issuer in issuers}
        self._discovered: dict[str, str] = {}

    def signing_key(self, issuer: str, kid: str, alg: str) -> PyJWK:
        """The key object for ``kid`` to verify ``alg``; ``issuer`` is already allow-listed."""
        key_set = self._sets[issuer]
        key = key_set.objects.get((kid, alg))
        if key is not None:
            return key
        jwk = key_set.keys.get(kid) or self._refresh_for(issuer, key_set, kid)
        check_key_fits(jwk, alg)
        try:
            key = PyJWK(dict(jwk), algorithm=alg)
        except PyJWTError as error:
            raise UnknownKey(f"kid {kid!r} is not a usable {alg} key: {error}") from None
        if key_set.keys.get(kid) is jwk:  # not if a concurrent refetch replaced the key meanwhile
            key_set.objects[(kid, alg)] = key
        return key

    def warm(self) -> None:
        """Fetch every key set now (SnapStart: a snapshot should hold the JWKS)."""
        for issuer, key_set in self._sets.items():
            if not key_set.loaded:
                # A failed warm-up is retried by the first request that needs the keys.
                with contextlib.suppress(InvalidToken, KeysUnavailable):
                    self._refresh_for(issuer, key_set, kid=None)

    def drop_cooldowns(self) -> None:
        """Allow an immediate refetch (after a SnapStart restore)."""
        for key_set in self._sets.values():
            key_set.last_attempt = None

    def _refresh_for(self, issuer: str, key_set: _KeySet, kid: str | None) -> dict[str, Any]:
        with key_set.lock:
            if kid is not None and kid in key_set.keys:  # another thread refreshed
                return key_set.keys[kid]
            now = self._clock()
            # Before the first successful load, retry sooner, so a JWKS outage at
            # cold start does not outlast the outage by a whole cooldown.
            wait = self._cooldown if key_set.loaded else min(self._cooldown, 1.0)
            if key_set.last_attempt is not None and now - key_set.last_attempt < wait:
                if not key_set.loaded:
                    raise KeysUnavailable("JWKS not loaded yet; retry after cooldown")
                raise UnknownKey(f"kid {kid!r} is not in the JWKS (refetch cooling down)")
            key_set.last_attempt = now
            try:
                with self._telemetry.span("jwks_fetch"):
                    key_set.keys = self._fetch_keys(issuer)
                key_set.objects = {}
                key_set.loaded = True
                self._telemetry.jwks_fetched("ok")
            except KeyFetchError as error:
                self._telemetry.jwks_fetched("error")
                if not key_set.loaded:
                    raise KeysUnavailable(str(error)) from None
                # Keep the keys we had: a JWKS blip must not log everyone out.
            if kid is None:
                return {}
            if kid not in key_set.keys:
                raise UnknownKey(f"kid {kid!r} is not in the JWKS")
            return key_set.keys[kid]

    def _fetch_keys(self, issuer: str) -> dict[str, dict[str, Any]]:
        document = fetch_json(self._http, self._jwks_url or self._jwks_uri_of(issuer))
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise KeyFetchError("the JWKS has no 'keys' list")
        return {jwk["kid"]: jwk for jwk in keys if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str)}

    def _jwks_uri_of(self, issuer: str) -> str:
        """OIDC discovery: the issuer's ``jwks_uri``, which must be on the issuer's host."""
        if issuer not in self._discovered:
            url = issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = fetch_json(self._http, url)
            jwks_uri = document.get("jwks_uri") if isinstance(document, dict) else None
            if not isinstance(jwks_uri, str) or url_problem(jwks_uri):
                raise KeyFetchError(f"{url}: no usable jwks_uri")
            if urlsplit(jwks_uri).hostname != urlsplit(issuer).hostname:
                raise KeyFetchError(f"{url}: jwks_uri is not on the issuer's host")
            self._discovered[issuer] = jwks_uri
        return self._discovered[issuer]
