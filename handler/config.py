"""The function's configuration: read from the environment once, at cold start.

It is split by what each part describes, so each component takes only the part
it needs:

- ``TokenPolicy``: how to trust one partner's tokens (issuers, audience, key
  source, algorithms, user claim, lifetime, leeway, HS256 secret);
- ``Destination``: where that partner's users go (the Big Interview org and
  base URL, the API key's secret, the return-URL rules, the error pages);
- ``Runtime``: how this deployment runs (timeouts, caches, one-time links,
  telemetry), whatever the partner.

A ``Partner`` is a token policy and a destination. The environment describes
exactly one; ``load_config`` is the only place that knows it. Every variable is
validated in one pass and every problem is reported together, by variable
name, so an operator fixes a bad deployment in one go.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from handler.errors import ConfigError
from handler.url_rules import origin_of, url_problem

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "DEFAULT_TROUBLESHOOTING_URL",
    "DNS_LABEL",
    "LOOPBACK_BASE_URLS",
    "Config",
    "Destination",
    "Partner",
    "Runtime",
    "TokenPolicy",
    "load_config",
    "load_partner",
    "load_return_url_origins",
    "load_token_policy",
    "loopback_base_urls_allowed",
]

# Guards are used with fullmatch: "$" would also match before a final newline.
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
DNS_LABEL = _DNS_LABEL  # a Big Interview org: also what registry records check their secrets by
# Algorithms we can verify with a public key from a JWKS, plus HS256 (shared secret).
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_SUPPORTED_ALGORITHMS = ASYMMETRIC_ALGORITHMS | {"HS256"}
# Error pages link to the code's row of this page's troubleshooting table (``#<code>``).
DEFAULT_TROUBLESHOOTING_URL = (
    "https://github.com/big-interview/sso-redirector/blob/main/docs/partner-guide.md"
)
_USER_CLAIM = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")
# The local stack's setting ("true"): registry records may name a Partner API on loopback
# (handler.partner_record). template.yaml never sets it, so a deployed function never has it.
LOOPBACK_BASE_URLS = "REGISTRY_LOOPBACK_BASE_URLS"


@dataclass(frozen=True)
class TokenPolicy:
    """How to trust a partner's tokens; what ``TokenVerifier`` and the key source need."""

    issuers: tuple[str, ...]
    audience: str
    jwks_url: str | None = None  # None: OIDC discovery from each issuer
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    user_claim: str = "sub"
    max_age_seconds: int = 300
    leeway_seconds: int = 30
    hs256_secret_id: str | None = None

    @property
    def hs256_enabled(self) -> bool:
        return self.hs256_secret_id is not None and "HS256" in self.algorithms


@dataclass(frozen=True)
class Destination:
    """Where a partner's users go: their Big Interview org, and the pages around a sign-in."""

    bi_org: str
    bi_base_url: str
    api_key_secret_id: str
    sso_return_url: str | None = None
    # Origins a return_url may point to (SSO_RETURN_URL's own included), lower-cased.
    return_url_allowed_origins: tuple[str, ...] = ()
    error_redirect_url: str | None = None
    troubleshooting_url: str = DEFAULT_TROUBLESHOOTING_URL


@dataclass(frozen=True)
class Partner:
    """One partner: how its tokens are trusted, and where its users go."""

    tokens: TokenPolicy
    destination: Destination


@dataclass(frozen=True)
class Runtime:
    """How this deployment runs, whichever partner a request comes from."""

    partner_api_timeout_seconds: float = 5.0
    secret_cache_seconds: int = 300
    jwks_max_age_seconds: int = 600
    jwks_stale_seconds: int = 86400
    replay_table_name: str | None = None  # None: one-time links off
    tracing: bool = False
    partner_registry_table: str | None = None  # None: the environment's partner only
    partner_registry_cache_seconds: int = 60  # how long a registry record is used before it is read again
    registry_loopback_base_urls: bool = False  # LOOPBACK_BASE_URLS: the local stack only
    # How long after its last successful read a registry record is still used while DynamoDB fails.
    partner_registry_stale_seconds: int = 900


@dataclass(frozen=True)
class Config:
    """Validated settings; see the README's configuration table."""

    partner: Partner
    runtime: Runtime = field(default_factory=Runtime)


def load_config(environ: Mapping[str, str]) -> Config:
    """Build a ``Config`` from ``environ`` or raise ``ConfigError`` listing every problem."""
    env = _Environment(environ)
    destination = env.destination()  # first: problems are listed in the README table's order
    config = Config(Partner(env.token_policy(), destination), env.runtime())
    env.raise_problems()
    return config


def load_partner(values: Mapping[str, str], label: Callable[[str], str] = str) -> Partner:
    """One partner from variables, by exactly the rules ``load_config`` applies to the environment.

    Registry records come here too (``handler.partner_record``), their fields given
    under the variables' names and ``label`` naming the fields in the problems.
    """
    env = _Environment(values, label)
    destination = env.destination()  # first: problems are listed in the README table's order
    partner = Partner(env.token_policy(), destination)
    env.raise_problems()
    return partner


def load_token_policy(environ: Mapping[str, str], *, keys_given: bool = False) -> TokenPolicy:
    """Only the ``JWT_*`` variables, validated as ``load_config`` does (for check-link).

    ``keys_given``: the caller brings the key set (a JWKS document), so neither
    ``JWT_JWKS_URL`` nor discovery from the issuers is needed.
    """
    env = _Environment(environ)
    policy = env.token_policy(keys_given=keys_given)
    env.raise_problems()
    return policy


def load_return_url_origins(environ: Mapping[str, str]) -> tuple[str, ...]:
    """``RETURN_URL_ALLOWED_ORIGINS`` (and ``SSO_RETURN_URL``'s origin), as ``load_config`` reads them."""
    env = _Environment(environ)
    origins = env.return_url_origins(env.url("SSO_RETURN_URL"))
    env.raise_problems()
    return origins


def loopback_base_urls_allowed(environ: Mapping[str, str]) -> bool:
    """``LOOPBACK_BASE_URLS`` is ``true``: the local stack (the function and the operator tools)."""
    return environ.get(LOOPBACK_BASE_URLS, "").strip().lower() == "true"


class _Environment:
    """Reads variables, collecting every problem instead of stopping at the first.

    ``label`` names a variable in a problem: the variable itself for the
    environment, the record's field for a registry record (``handler.partner_record``),
    so both are read, and refused, by these same rules.
    """

    def __init__(self, environ: Mapping[str, str], label: Callable[[str], str] = str) -> None:
        self._environ = environ
        self.label = label
        self.problems: list[str] = []

    def raise_problems(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)

    def get(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def required(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            self.problems.append(f"{self.label(name)} is required")
            return ""
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problems.append(f"{self.label(name)} must be a whole number, got {raw!r}")
            return default
        if not low <= value <= high:
            self.problems.append(f"{self.label(name)} must be between {low} and {high}, got {value}")
            return default
        return value

    def url(self, name: str) -> str | None:
        value = self.get(name)
        if value is not None and (problem := url_problem(value)):
            self.problems.append(f"{self.label(name)} {problem}, got {value!r}")
            return None
        return value

    def csv(self, name: str) -> tuple[str, ...]:
        return tuple(item.strip() for item in (self.get(name) or "").split(",") if item.strip())

    def token_policy(self, keys_given: bool = False) -> TokenPolicy:
        label = self.label
        issuers = self.csv("JWT_ISSUER")
        if not issuers:
            self.problems.append(f"{label('JWT_ISSUER')} is required")
        audience = self.required("JWT_AUDIENCE")
        algorithms = self.csv("JWT_ALGORITHMS") or ("RS256", "ES256")
        unknown = [alg for alg in algorithms if alg not in _SUPPORTED_ALGORITHMS]
        if unknown:
            choices = sorted(_SUPPORTED_ALGORITHMS)
            self.problems.append(
                f"{label('JWT_ALGORITHMS')} has unsupported values {unknown}; choose from {choices}"
            )
        hs256_secret_id = self.get("JWT_HS256_SECRET_ID")
        if "HS256" in algorithms and hs256_secret_id is None:
            self.problems.append(
                f"{label('JWT_ALGORITHMS')} lists HS256, which needs {label('JWT_HS256_SECRET_ID')}"
            )
        jwks_url = self.url("JWT_JWKS_URL")
        if self.get("JWT_JWKS_URL") is None and not keys_given:
            # Discovery derives the JWKS URL from each issuer, so each must be a URL.
            for issuer in issuers:
                if problem := url_problem(issuer):
                    self.problems.append(
                        f"{label('JWT_ISSUER')} {issuer!r} {problem} when {label('JWT_JWKS_URL')} is unset "
                        "(the JWKS is discovered from the issuer)"
                    )
        user_claim = self.get("JWT_USER_CLAIM") or "sub"
        if not _USER_CLAIM.fullmatch(user_claim):
            self.problems.append(f"{label('JWT_USER_CLAIM')} must be a claim name, got {user_claim!r}")
        return TokenPolicy(
            issuers=issuers,
            audience=audience,
            jwks_url=jwks_url,
            algorithms=algorithms,
            user_claim=user_claim,
            max_age_seconds=self.integer("JWT_MAX_AGE_SECONDS", 300, 10, 3600),
            leeway_seconds=self.integer("JWT_LEEWAY_SECONDS", 30, 0, 300),
            hs256_secret_id=hs256_secret_id,
        )

    def destination(self) -> Destination:
        bi_org = self.required("BI_ORG").lower()
        if bi_org and not _DNS_LABEL.fullmatch(bi_org):
            self.problems.append(f"{self.label('BI_ORG')} must be a DNS label such as 'xyz', got {bi_org!r}")
        bi_base_url = self.url("BI_BASE_URL") or f"https://{bi_org}.biginterview.com"
        api_key_secret_id = self.required("BI_API_KEY_SECRET_ID")
        sso_return_url = self.url("SSO_RETURN_URL")
        return Destination(
            bi_org=bi_org,
            bi_base_url=bi_base_url.rstrip("/"),
            api_key_secret_id=api_key_secret_id,
            sso_return_url=sso_return_url,
            return_url_allowed_origins=self.return_url_origins(sso_return_url),
            error_redirect_url=self.url("ERROR_REDIRECT_URL"),
            # The pages add "#<code>"; a fragment of the operator's own would break that.
            troubleshooting_url=(self.url("TROUBLESHOOTING_URL") or DEFAULT_TROUBLESHOOTING_URL).split(
                "#", 1
            )[0],
        )

    def return_url_origins(self, sso_return_url: str | None) -> tuple[str, ...]:
        allowed = self.csv("RETURN_URL_ALLOWED_ORIGINS")
        for origin in allowed:
            if url_problem(origin) or origin_of(origin) != origin.lower().rstrip("/"):
                self.problems.append(
                    f"{self.label('RETURN_URL_ALLOWED_ORIGINS')} entries must be origins like "
                    f"'https://portal.example.edu', got {origin!r}"
                )
        return tuple(origin_of(o) for o in allowed + ((sso_return_url,) if sso_return_url else ()))

    def runtime(self) -> Runtime:
        return Runtime(
            partner_api_timeout_seconds=float(self.integer("PARTNER_API_TIMEOUT_SECONDS", 5, 1, 25)),
            secret_cache_seconds=self.integer("SECRET_CACHE_SECONDS", 300, 0, 86400),
            # The floor of 60 s is also the floor for a partner's Cache-Control (handler.keys).
            jwks_max_age_seconds=self.integer("JWKS_MAX_AGE_SECONDS", 600, 60, 86400),
            jwks_stale_seconds=self.integer("JWKS_STALE_SECONDS", 86400, 0, 7 * 86400),
            replay_table_name=self.get("REPLAY_TABLE_NAME"),
            partner_registry_table=self.get("PARTNER_REGISTRY_TABLE"),
            partner_registry_cache_seconds=self.integer("PARTNER_REGISTRY_CACHE_SECONDS", 60, 5, 3600),
            registry_loopback_base_urls=loopback_base_urls_allowed(self._environ),
            partner_registry_stale_seconds=self.integer("PARTNER_REGISTRY_STALE_SECONDS", 900, 0, 86400),
            # Powertools' own switch; tracing is on only when it is explicitly "false".
            tracing=(self.get("POWERTOOLS_TRACE_DISABLED") or "true").lower() in ("false", "0"),
        )
