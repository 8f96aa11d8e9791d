"""The service's own verifier, built for a partner's machine instead of a Lambda.

``check_link`` must say exactly what the service would say, so it does not
re-implement a single rule: it reads its settings with
``handler.config.load_token_policy`` (the validation and defaults of the
function's ``JWT_*`` variables) and runs ``handler.tokens.TokenVerifier`` over
``handler.keys.JwksKeySource``, the production key source: fetched on the
production pool from a JWKS URL or by the service's own OIDC discovery, or
loaded from a JWKS file with ``JwksKeySource.from_document`` (same checks, no
network).

``ObservedKeySource`` wraps it through the verifier's ``KeySource`` seam and
records the key the verifier looked up, so a refusal can be placed before or
after "key found" (the verifier checks the signature right after that, and the
claims after the signature).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import urllib3
from jwt import PyJWK

from handler.config import TokenPolicy, load_return_url_origins, load_token_policy
from handler.http_pool import new_http_pool
from handler.keys import HttpFetcher, JwksKeySource, KeySource
from handler.tokens import TokenVerifier

DEFAULT_AUDIENCE = "big-interview-sso"


class ObservedKeySource:
    """A ``KeySource`` that remembers the last key it handed to the verifier."""

    def __init__(self, keys: KeySource) -> None:
        self._keys = keys
        self.found: tuple[str, str, PyJWK] | None = None

    def signing_key(self, issuer: str, kid: str, alg: str) -> PyJWK:
        key = self._keys.signing_key(issuer, kid, alg)
        self.found = (kid, alg, key)
        return key


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
    """The token policy, the return-URL origins, the observed key source and the verifier."""

    policy: TokenPolicy
    return_url_origins: tuple[str, ...]
    keys: ObservedKeySource
    verifier: TokenVerifier


def build(settings: Settings, http: urllib3.PoolManager | None = None) -> Verifier:
    """The service's verifier for ``settings``.

    Raises ``handler.errors.ConfigError`` for settings the service itself would
    refuse at cold start, and ``OSError``/``ValueError`` for an unreadable JWKS file.
    """
    environ = {
        "JWT_ISSUER": ",".join(settings.issuers),
        "JWT_AUDIENCE": settings.audience,
        "JWT_ALGORITHMS": settings.algorithms or "",
        "JWT_USER_CLAIM": settings.user_claim or "",
        "JWT_MAX_AGE_SECONDS": "" if settings.max_age_seconds is None else str(settings.max_age_seconds),
        "JWT_LEEWAY_SECONDS": "" if settings.leeway_seconds is None else str(settings.leeway_seconds),
        "RETURN_URL_ALLOWED_ORIGINS": settings.return_url_allowed_origins or "",
    }
    keys: JwksKeySource
    if settings.jwks is not None and not settings.jwks_is_url:
        # A file that is not JSON is a usage error, reported before any check.
        document = json.loads(Path(settings.jwks).read_bytes())
        policy = load_token_policy(environ, keys_given=True)
        keys = JwksKeySource.from_document(document, policy.issuers)
    else:
        policy = load_token_policy({**environ, "JWT_JWKS_URL": settings.jwks or ""})
        keys = JwksKeySource(HttpFetcher(http or new_http_pool()), policy.issuers, policy.jwks_url)
    observed = ObservedKeySource(keys)
    origins = load_return_url_origins(environ)
    return Verifier(policy, origins, observed, TokenVerifier(policy, observed))
