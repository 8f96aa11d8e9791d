"""The service's own verifier, built for a partner's machine instead of a Lambda.

``check_link`` must say exactly what the service would say, so it does not
re-implement a single rule: it builds ``handler.config.Config`` with
``load_config`` (the same validation and defaults as the function's environment)
and runs ``handler.tokens.TokenVerifier`` over ``handler.keys.JwksKeySource``.

Two small adapters make that work offline and observable, without touching
``handler/``:

- ``DocumentPool``: a urllib3 pool that answers one URL from memory. A JWKS
  *file* is served through it, so the key source runs its normal fetch path
  (size cap, JSON parse, ``kid`` index, ``check_key_fits``, ``PyJWK``) on the
  file's bytes. (A seam in ``handler.keys`` - a key source built from a JWKS
  document - would make this unnecessary.)
- ``ObservedKeySource``: records the key the verifier looked up, so a refusal
  can be placed before or after "key found" (the verifier checks the signature
  right after that, and the claims after the signature).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from jwt import PyJWK

from handler.config import Config, load_config
from handler.keys import JwksKeySource, KeyFetchError, fetch_json
from handler.tokens import TokenVerifier

# Where a JWKS file is "served" from: .invalid (RFC 2606) can never be a real host.
FILE_JWKS_URL = "https://jwks-file.invalid/.well-known/jwks.json"
DEFAULT_AUDIENCE = "big-interview-sso"
# load_config needs these for the Partner API, which check-link never calls.
_UNUSED = {"BI_ORG": "check-link", "BI_API_KEY_SECRET_ID": "unused-by-check-link"}


class DocumentPool(urllib3.PoolManager):
    """A urllib3 pool that answers GETs of fixed URLs from memory and refuses any other URL."""

    def __init__(self, documents: Mapping[str, bytes]) -> None:
        super().__init__()
        self._documents = dict(documents)

    # PoolManager.urlopen's own signature, which urllib3 itself declares with type: ignore[override].
    def urlopen(  # type: ignore[override]
        self, method: str, url: str, redirect: bool = True, **kw: Any
    ) -> urllib3.BaseHTTPResponse:
        body = self._documents.get(url)
        if method != "GET" or body is None:
            raise urllib3.exceptions.LocationValueError(f"{method} {url} is not served here")
        return urllib3.HTTPResponse(
            body=io.BytesIO(body),
            status=200,
            headers={"Content-Type": "application/json"},
            preload_content=False,
            decode_content=True,
        )


class ObservedKeySource(JwksKeySource):
    """A ``JwksKeySource`` that remembers the last key it handed to the verifier."""

    def __init__(self, http: urllib3.PoolManager, issuers: tuple[str, ...], jwks_url: str | None) -> None:
        super().__init__(http, issuers, jwks_url)
        self.http = http
        self.jwks_url = jwks_url
        self.found: tuple[str, str, PyJWK] | None = None

    def signing_key(self, issuer: str, kid: str, alg: str) -> PyJWK:
        key = super().signing_key(issuer, kid, alg)
        self.found = (kid, alg, key)
        return key

    def kids(self, issuer: str) -> list[str] | None:
        """The ``kid`` values the JWKS offers (for an "unknown key" explanation), if it can be read."""
        url = self.jwks_url
        try:
            if url is None:
                discovery = fetch_json(self.http, issuer.rstrip("/") + "/.well-known/openid-configuration")
                url = discovery.get("jwks_uri") if isinstance(discovery, dict) else None
                if not isinstance(url, str):
                    return None
            document = fetch_json(self.http, url)
        except (KeyFetchError, urllib3.exceptions.HTTPError):
            return None
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            return None
        return [str(jwk["kid"]) for jwk in keys if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str)]


@dataclass(frozen=True)
class Settings:
    """What the service's configuration would say; ``None`` means "the service's default"."""

    issuers: tuple[str, ...]
    audience: str = DEFAULT_AUDIENCE
    jwks: str | None = None  # a JWKS URL, a JWKS file path, or None for OIDC discovery
    algorithms: str | None = None
    user_claim: str | None = None
    max_age_seconds: int | None = None
    leeway_seconds: int | None = None
    return_url_allowed_origins: str | None = None

    @property
    def jwks_is_url(self) -> bool:
        return self.jwks is not None and self.jwks.startswith(("https://", "http://"))


@dataclass
class Verifier:
    """The configuration, the observed key source and the verifier built from them."""

    config: Config
    keys: ObservedKeySource
    verifier: TokenVerifier


def build(settings: Settings, http: urllib3.PoolManager | None = None) -> Verifier:
    """The service's verifier for ``settings``.

    Raises ``handler.errors.ConfigError`` for settings the service itself would
    refuse at cold start, and ``OSError``/``ValueError`` for an unreadable JWKS file.
    """
    environ = {
        **_UNUSED,
        "JWT_ISSUER": ",".join(settings.issuers),
        "JWT_AUDIENCE": settings.audience,
        "JWT_ALGORITHMS": settings.algorithms or "",
        "JWT_USER_CLAIM": settings.user_claim or "",
        "JWT_MAX_AGE_SECONDS": "" if settings.max_age_seconds is None else str(settings.max_age_seconds),
        "JWT_LEEWAY_SECONDS": "" if settings.leeway_seconds is None else str(settings.leeway_seconds),
        "RETURN_URL_ALLOWED_ORIGINS": settings.return_url_allowed_origins or "",
    }
    if settings.jwks is None:
        pool = http or urllib3.PoolManager(retries=False)
    elif settings.jwks_is_url:
        environ["JWT_JWKS_URL"] = settings.jwks
        pool = http or urllib3.PoolManager(retries=False)
    else:
        body = Path(settings.jwks).read_bytes()
        json.loads(body)  # a file that is not JSON is a usage error, reported before any check
        environ["JWT_JWKS_URL"] = FILE_JWKS_URL
        pool = DocumentPool({FILE_JWKS_URL: body})
    config = load_config(environ)
    keys = ObservedKeySource(pool, config.issuers, config.jwks_url)
    return Verifier(config, keys, TokenVerifier(config, keys))
