"""The partner's public keys: JWKS fetching, caching, expiry and key selection.

Not ``jwt.PyJWKClient``: it opens a connection per fetch, caps no answer, ignores the
partner's ``Cache-Control`` and has nothing to fall back on when a refetch fails. Here a key
set comes over the shared pool and is used for at most ``JWKS_MAX_AGE_SECONDS`` (or the
partner's shorter ``max-age``, never below 60 s); a failed refetch keeps the old keys for at
most ``JWKS_STALE_SECONDS``; an unknown ``kid`` refetches at most once per cooldown. The seams
are aws-jwt-verify's: ``KeySource``, a ``Fetcher``, and ``JwksKeySource.from_document`` for
tools and tests without network. PyJWT's ``PyJWK`` parses each key, once per ``(kid, alg)``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import urllib3
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from handler.errors import InvalidToken, KeysUnavailable, UnknownKey
from handler.telemetry import Telemetry
from handler.untrusted import parse_json
from handler.url_rules import origin_of, url_problem

__all__ = [
    "Fetched",
    "Fetcher",
    "HttpFetcher",
    "JwksKeySource",
    "KeyFetchError",
    "KeySource",
    "cache_max_age",
    "check_key_fits",
    "has_roca_fingerprint",
]

_MAX_DOCUMENT_BYTES = 64 * 1024
_DEFAULT_MAX_AGE_SECONDS = 600
_DEFAULT_STALE_SECONDS = 86400
# A partner's Cache-Control may shorten the max age, but not below this: a JWKS server
# answering no-store must not turn every sign-in into a fetch.
_MIN_MAX_AGE_SECONDS = 60
_MAX_AGE_DIRECTIVE = re.compile(r'max-age=(?:([0-9]{1,10})|"([0-9]{1,10})")')  # fullmatch, RFC 9111 §5.2
_CONNECT_TIMEOUT_SECONDS = 2.0
_FETCH_TIMEOUT = urllib3.Timeout(connect=_CONNECT_TIMEOUT_SECONDS, read=2.0)
# kty (and curve) each algorithm family may be used with.
_KEY_TYPES = {"RS": ("RSA", None), "PS": ("RSA", None), "Ed": ("OKP", ("Ed25519",))}
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_MIN_RSA_BITS = 2048
# What an answer says about a weak key; the log line says which weakness.
_WEAK_KEY = "the JWKS key is too weak to be trusted (the operator's log says why): publish a new key"
# The primes of the ROCA fingerprint test (Nemec et al., CCS 2017): the odd primes up to 167,
# each with the powers of 65537 mod p.
_ROCA_PRIMES = tuple(p for p in range(3, 168) if all(p % d for d in range(2, p)))  # 3 to 167
_ROCA_SUBGROUPS = tuple((p, frozenset(pow(65537, k, p) for k in range(p))) for p in _ROCA_PRIMES)


# Where a key set loaded from a document (``JwksKeySource.from_document``) says it came from.
_DOCUMENT_URL = "document:jwks"


class KeyFetchError(Exception):
    """A JWKS or discovery document could not be fetched or is unusable."""


@dataclass(frozen=True)
class Fetched:
    """A fetched JSON document, and how long its server allows it to be cached (if it says)."""

    document: Any
    max_age: int | None


def cache_max_age(cache_control: str | None) -> int | None:
    """Seconds from a ``Cache-Control`` header: its ``max-age``, 0 for ``no-store``/``no-cache``,
    None when it says neither (or says it unreadably)."""
    ages = []
    for directive in (cache_control or "").lower().split(","):
        directive = directive.strip()
        if directive in ("no-store", "no-cache"):
            return 0
        if found := _MAX_AGE_DIRECTIVE.fullmatch(directive):
            ages.append(int(found.group(1) or found.group(2)))
    return min(ages) if ages else None


class Fetcher(Protocol):
    """How a JSON document (a JWKS, a discovery document) is fetched."""

    def __call__(self, url: str) -> Fetched: ...


class HttpFetcher:
    """GET a small JSON document on the shared pool: no redirects, short timeouts, capped size."""

    def __init__(self, http: urllib3.PoolManager, deadline: float | None = None) -> None:
        self._http = http
        self._deadline = deadline

    def until(self, deadline: float) -> HttpFetcher:
        """This fetcher, its waits cut to end by ``deadline`` (``time.monotonic``): INIT's prefetch."""
        return HttpFetcher(self._http, deadline)

    def _timeout(self, url: str) -> urllib3.Timeout:
        if self._deadline is None:
            return _FETCH_TIMEOUT
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise KeyFetchError(f"{url}: no time left before the prefetch's bound")
        # total: the connection and the answer's first bytes share what is left (urllib3 then
        # holds each later socket read to its own timeout; a server that trickles its answer
        # can still pass the bound, as the prefetch's docstring says of DNS).
        return urllib3.Timeout(connect=min(_CONNECT_TIMEOUT_SECONDS, left), read=left, total=left)

    def __call__(self, url: str) -> Fetched:
        timeout = self._timeout(url)
        try:
            response = self._http.request(
                "GET",
                url,
                headers={"Accept": "application/json"},
                timeout=timeout,
                retries=False,  # no redirects, no retries: a JWKS must answer directly
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as error:
            raise KeyFetchError(f"{url}: {type(error).__name__}") from None
        try:
            if response.status != 200:
                raise KeyFetchError(f"{url}: HTTP {response.status}")
            body = response.read(_MAX_DOCUMENT_BYTES + 1, decode_content=True)
            if len(body) > _MAX_DOCUMENT_BYTES:
                raise KeyFetchError(f"{url}: larger than {_MAX_DOCUMENT_BYTES} bytes")
            try:
                document = parse_json(body)
            except ValueError:
                raise KeyFetchError(f"{url}: not JSON") from None
            return Fetched(document, cache_max_age(response.headers.get("Cache-Control")))
        except urllib3.exceptions.HTTPError as error:
            raise KeyFetchError(f"{url}: {type(error).__name__}") from None
        finally:
            response.release_conn()


class KeySource(Protocol):
    """What the verifier asks for: the key object for ``kid`` to verify ``alg``."""

    def signing_key(self, issuer: str, kid: str, alg: str) -> PyJWK: ...


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
    if alg in _EC_CURVES:
        if kty != "EC" or jwk.get("crv") != _EC_CURVES[alg]:
            raise UnknownKey(f"{alg} needs an EC {_EC_CURVES[alg]} key, found {kty}/{jwk.get('crv')}")
        return
    expected_kty, curves = _KEY_TYPES.get(alg[:2], (None, None))
    if expected_kty is None or kty != expected_kty:
        # Includes HS*: a JWKS never supplies HMAC keys (key confusion).
        raise UnknownKey(f"{alg} cannot be verified with a {kty!r} key from a JWKS")
    if curves is not None and jwk.get("crv") not in curves:
        raise UnknownKey(f"{alg} needs one of {curves}, found {jwk.get('crv')!r}")
    if kty == "RSA":
        _check_rsa_modulus(jwk.get("n"))


def _check_rsa_modulus(n_b64: Any) -> None:
    """Refuse RSA keys under 2048 bits (RFC 7518 §3.3) and keys with the ROCA flaw."""
    if not isinstance(n_b64, str):
        raise UnknownKey("the RSA key has no modulus 'n'")
    try:
        n = int.from_bytes(base64.urlsafe_b64decode(n_b64 + "=" * (-len(n_b64) % 4)), "big")
    except (binascii.Error, ValueError):
        raise UnknownKey("the RSA key's modulus is not base64url") from None
    if n.bit_length() < _MIN_RSA_BITS:
        raise UnknownKey(
            _WEAK_KEY,
            log_detail=f"the RSA key has {n.bit_length()} bits; at least {_MIN_RSA_BITS} are required",
        )
    if has_roca_fingerprint(n):
        # Saying which weakness it is would tell an attacker how to recover the private key.
        raise UnknownKey(
            _WEAK_KEY, log_detail="the RSA key was made by a generator with the ROCA flaw (CVE-2017-15361)"
        )


def has_roca_fingerprint(n: int) -> bool:
    """True if ``n`` came from the flawed Infineon generator (CVE-2017-15361, the ROCA test).

    Such moduli are, for every small prime p below, congruent mod p to a power of 65537.
    A sound modulus passes all these primes by chance with negligible probability.
    """
    return all(n % p in generated for p, generated in _ROCA_SUBGROUPS)


def _fitting_key(candidates: list[dict[str, Any]], kid: str, alg: str) -> dict[str, Any]:
    """The JWK among those under ``kid`` that fits ``alg``.

    RFC 7517 §4.5 lets one ``kid`` name alternative keys (an RSA and an EC key, say);
    the token's ``alg`` picks among them, and a key that does not fit it is never used.
    """
    problems = []
    for jwk in candidates:
        try:
            check_key_fits(jwk, alg)
        except UnknownKey as error:
            problems.append(error.detail)
        else:
            return jwk
    if len(problems) == 1:
        raise UnknownKey(problems[0])
    raise UnknownKey(f"none of the {len(problems)} keys under kid {kid!r} fits {alg}: " + "; ".join(problems))


@dataclass
class _KeySet:
    """The keys of one JWKS URL (each ``kid`` may name several), their age, and fetch attempts."""

    keys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Key objects built from ``keys``, by (kid, alg); emptied when ``keys`` changes.
    objects: dict[tuple[str, str], PyJWK] = field(default_factory=dict)
    fetched_at: float | None = None  # None: never fetched
    fresh_until: float = -math.inf  # used without a refetch until then
    usable_until: float = -math.inf  # kept after failed refetches until then (the stale window)
    last_attempt: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def loaded(self) -> bool:
        return self.fetched_at is not None


class JwksKeySource:
    """Public keys by ``(issuer, kid)``, from a configured JWKS URL or OIDC discovery.

    The clock is the wall clock, not a monotonic one: key ages must hold across a
    SnapStart snapshot and restore, and a restored microVM's monotonic clock does
    not promise to count the time in between.
    """

    def __init__(
        self,
        fetcher: Fetcher,
        issuers: tuple[str, ...],
        jwks_url: str | None,
        *,
        max_age_seconds: float = _DEFAULT_MAX_AGE_SECONDS,
        stale_seconds: float = _DEFAULT_STALE_SECONDS,
        cooldown_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._fetch = fetcher
        self._jwks_url = jwks_url
        self._max_age = max_age_seconds
        self._stale = stale_seconds
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._telemetry = telemetry or Telemetry()
        # One key set for a configured URL; otherwise one per issuer (discovery).
        shared = _KeySet()
        self._sets = {issuer: shared if jwks_url else _KeySet() for issuer in issuers}
        self._discovered: dict[str, str] = {}

    @classmethod
    def from_document(cls, document: Any, issuers: tuple[str, ...]) -> JwksKeySource:
        """A key source holding the keys of one JWKS document, for ``issuers``; it never fetches.

        The document goes through the same checks as a fetched one (a ``keys`` list,
        each key fitting the token's ``alg``), and never expires.
        """

        def the_document(url: str) -> Fetched:
            return Fetched(document, None)

        # No cooldown: "refetching" a document in memory costs nothing, and a refusal
        # then says the kid is not in the JWKS rather than that a refetch is cooling down.
        return cls(
            the_document,
            issuers,
            _DOCUMENT_URL,
            max_age_seconds=math.inf,
            stale_seconds=0,
            cooldown_seconds=0,
        )

    def signing_key(self, issuer: str, kid: str, alg: str) -> PyJWK:
        """The key object for ``kid`` to verify ``alg``; ``issuer`` is already allow-listed."""
        key_set = self._sets[issuer]
        if self._clock() >= key_set.fresh_until:
            self._refresh(issuer, key_set, kid=None)  # never fetched, or expired: fetch first
        key = key_set.objects.get((kid, alg))
        if key is not None:
            return key
        candidates = key_set.keys.get(kid) or self._refresh(issuer, key_set, kid)
        jwk = _fitting_key(candidates, kid, alg)
        try:
            key = PyJWK(dict(jwk), algorithm=alg)
        except PyJWTError as error:
            raise UnknownKey(f"kid {kid!r} is not a usable {alg} key: {error}") from None
        if key_set.keys.get(kid) is candidates:  # not if a concurrent refetch replaced the keys meanwhile
            key_set.objects[(kid, alg)] = key
        return key

    def warm(self, timeout_at: float | None = None) -> None:
        """Fetch every key set that is not fresh now (before a snapshot, after a restore, during INIT).

        ``timeout_at`` (``time.monotonic``) cuts every wait to the prefetch's bound. A failure leaves
        no refetch cooldown: the first request fetches as it would have.
        """
        fetch = self._fetch
        if timeout_at is not None and isinstance(fetch, HttpFetcher):
            fetch = fetch.until(timeout_at)
        for issuer, key_set in self._sets.items():
            if self._clock() < key_set.fresh_until:
                continue
            attempted_before, fetched_before = key_set.last_attempt, key_set.fetched_at
            with contextlib.suppress(InvalidToken, KeysUnavailable):
                self._refresh(issuer, key_set, kid=None, fetch=fetch)
            with key_set.lock:
                if key_set.fetched_at == fetched_before:  # it failed: as if it had not been tried
                    key_set.last_attempt = attempted_before

    def after_restore(self) -> None:
        """A SnapStart restore: the snapshot's key sets count as expired (a restore may come days later).

        Their stale window still counts from when they were fetched.
        """
        for key_set in self._sets.values():
            with key_set.lock:
                key_set.fresh_until = -math.inf
                key_set.last_attempt = None

    def _refresh(
        self, issuer: str, key_set: _KeySet, kid: str | None, fetch: Fetcher | None = None
    ) -> list[dict[str, Any]]:
        """Fetch the key set again (at most once per cooldown); the JWKs under ``kid``, if given.

        A failed fetch keeps the keys we had until their stale window ends; with none
        left, it is ``KeysUnavailable``.
        """
        with key_set.lock:
            now = self._clock()
            if kid is None and now < key_set.fresh_until:  # another thread refetched meanwhile
                return []
            if kid is not None and kid in key_set.keys:  # likewise
                return key_set.keys[kid]
            # Before the first successful load, retry sooner, so a JWKS outage at
            # cold start does not outlast the outage by a whole cooldown.
            wait = self._cooldown if key_set.loaded else min(self._cooldown, 1.0)
            cooling = key_set.last_attempt is not None and now - key_set.last_attempt < wait
            failure = "refetch cooling down" if cooling else self._fetch_into(issuer, key_set, now, fetch)
            if not key_set.loaded:
                raise KeysUnavailable(
                    "JWKS not loaded yet; retry after cooldown" if cooling else str(failure)
                )
            if now >= key_set.usable_until:
                assert key_set.fetched_at is not None  # loaded
                raise KeysUnavailable(
                    f"the JWKS cannot be fetched ({failure}) and the keys we have are "
                    f"{now - key_set.fetched_at:.0f} s old, older than the max age plus "
                    f"JWKS_STALE_SECONDS ({self._stale:.0f} s)"
                )
            if kid is None:
                return []
            if kid not in key_set.keys:
                raise UnknownKey(
                    f"kid {kid!r} is not in the JWKS" + (f" ({failure})" if cooling else ""),
                    expected=tuple(key_set.keys),
                    found=kid,
                )
            return key_set.keys[kid]

    def _fetch_into(self, issuer: str, key_set: _KeySet, now: float, fetch: Fetcher | None) -> str | None:
        """One fetch of the key set, under its lock; why it failed, or None."""
        key_set.last_attempt = now
        try:
            with self._telemetry.span("jwks_fetch"):
                keys, max_age = self._fetch_keys(issuer, fetch or self._fetch)
        except KeyFetchError as error:
            self._telemetry.jwks_fetched("error")
            # Keep the keys we had: a JWKS blip must not log everyone out.
            return str(error)
        key_set.keys, key_set.objects = keys, {}
        key_set.fetched_at = now
        key_set.fresh_until = now + max_age
        key_set.usable_until = key_set.fresh_until + self._stale
        self._telemetry.jwks_fetched("ok")
        return None

    def _fetch_keys(self, issuer: str, fetch: Fetcher) -> tuple[dict[str, list[dict[str, Any]]], float]:
        """The JWKs by ``kid``, and how long they may be used: the max age, or the server's
        shorter ``Cache-Control: max-age``, but never less than ``_MIN_MAX_AGE_SECONDS``."""
        fetched = fetch(self._jwks_url or self._jwks_uri_of(issuer, fetch))
        document = fetched.document
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise KeyFetchError("the JWKS has no 'keys' list")
        by_kid: dict[str, list[dict[str, Any]]] = {}
        for jwk in keys:
            if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
                by_kid.setdefault(jwk["kid"], []).append(jwk)
        max_age = self._max_age
        if fetched.max_age is not None:
            max_age = max(_MIN_MAX_AGE_SECONDS, min(max_age, fetched.max_age))
        return by_kid, max_age

    def _jwks_uri_of(self, issuer: str, fetch: Fetcher) -> str:
        """OIDC discovery: the issuer's ``jwks_uri``, which must be on the issuer's origin."""
        if issuer not in self._discovered:
            url = issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = fetch(url).document
            if not isinstance(document, dict):
                raise KeyFetchError(f"{url}: not a JSON object")
            # OIDC Discovery 1.0 §4.3: the issuer in the document must be identical to the
            # one the document was asked for; otherwise its keys speak for someone else.
            found = document.get("issuer")
            if found != issuer:
                shown = found[:200] if isinstance(found, str) else found
                raise KeyFetchError(f"{url}: the document's issuer {shown!r} is not {issuer!r}")
            jwks_uri = document.get("jwks_uri")
            if not isinstance(jwks_uri, str) or url_problem(jwks_uri):
                raise KeyFetchError(f"{url}: no usable jwks_uri")
            # The whole origin (scheme, host, port): another port of the host is another service.
            if origin_of(jwks_uri) != origin_of(issuer):
                raise KeyFetchError(f"{url}: jwks_uri is not on the issuer's origin")
            self._discovered[issuer] = jwks_uri
        return self._discovered[issuer]
