"""The function's configuration: read from the environment once, at cold start.

Every variable is validated in one pass and every problem is reported together,
by variable name, so an operator fixes a bad deployment in one go.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from handler.errors import ConfigError
from handler.untrusted import split_url

# Guards are used with fullmatch: "$" would also match before a final newline.
DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# Algorithms we can verify with a public key from a JWKS, plus HS256 (shared secret).
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
SUPPORTED_ALGORITHMS = ASYMMETRIC_ALGORITHMS | {"HS256"}
# Error pages link to the code's row of this page's troubleshooting table (``#<code>``).
DEFAULT_TROUBLESHOOTING_URL = (
    "https://github.com/big-interview/sso-redirector/blob/main/docs/partner-guide.md"
)
USER_CLAIM = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")


@dataclass(frozen=True)
class Config:
    """Validated settings; see the README's configuration table."""

    bi_org: str
    bi_base_url: str
    api_key_secret_id: str
    issuers: tuple[str, ...]
    audience: str
    jwks_url: str | None
    algorithms: tuple[str, ...]
    hs256_secret_id: str | None
    user_claim: str
    max_age_seconds: int
    leeway_seconds: int
    partner_api_timeout_seconds: float
    sso_return_url: str | None
    return_url_allowed_origins: tuple[str, ...]
    error_redirect_url: str | None
    secret_cache_seconds: int
    replay_table_name: str | None = None
    jwks_max_age_seconds: int = 600
    jwks_stale_seconds: int = 86400
    tracing: bool = False
    troubleshooting_url: str = DEFAULT_TROUBLESHOOTING_URL

    @property
    def hs256_enabled(self) -> bool:
        return self.hs256_secret_id is not None and "HS256" in self.algorithms


def is_loopback_host(host: str | None) -> bool:
    """True for localhost and 127.0.0.0/8 / ::1: the only hosts allowed plain http."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable service URL (https, or http on loopback)."""
    try:
        parts = split_url(value)
    except ValueError:
        return "must be an absolute https:// URL (this one cannot be parsed)"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an absolute https:// URL"
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        return "must use https:// (http:// is allowed only for 127.0.0.1 or localhost)"
    if parts.username or parts.password:
        return "must not contain credentials"
    return None


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL, lower-cased."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def load_config(environ: Mapping[str, str]) -> Config:
    """Build a ``Config`` from ``environ`` or raise ``ConfigError`` listing every problem."""
    problems: list[str] = []

    def get(name: str) -> str | None:
        value = environ.get(name, "").strip()
        return value or None

    def required(name: str) -> str:
        value = get(name)
        if value is None:
            problems.append(f"{name} is required")
            return ""
        return value

    def integer(name: str, default: int, low: int, high: int) -> int:
        raw = get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            problems.append(f"{name} must be a whole number, got {raw!r}")
            return default
        if not low <= value <= high:
            problems.append(f"{name} must be between {low} and {high}, got {value}")
            return default
        return value

    def url(name: str, value: str | None) -> str | None:
        if value is not None and (problem := url_problem(value)):
            problems.append(f"{name} {problem}, got {value!r}")
            return None
        return value

    def csv(name: str) -> tuple[str, ...]:
        return tuple(item.strip() for item in (get(name) or "").split(",") if item.strip())

    bi_org = required("BI_ORG").lower()
    if bi_org and not DNS_LABEL.fullmatch(bi_org):
        problems.append(f"BI_ORG must be a DNS label such as 'xyz', got {bi_org!r}")
    bi_base_url = url("BI_BASE_URL", get("BI_BASE_URL")) or f"https://{bi_org}.biginterview.com"

    issuers = csv("JWT_ISSUER")
    if not issuers:
        problems.append("JWT_ISSUER is required")

    algorithms = csv("JWT_ALGORITHMS") or ("RS256", "ES256")
    unknown = [alg for alg in algorithms if alg not in SUPPORTED_ALGORITHMS]
    if unknown:
        problems.append(
            f"JWT_ALGORITHMS has unsupported values {unknown}; choose from {sorted(SUPPORTED_ALGORITHMS)}"
        )
    hs256_secret_id = get("JWT_HS256_SECRET_ID")
    if "HS256" in algorithms and hs256_secret_id is None:
        problems.append("JWT_ALGORITHMS lists HS256, which needs JWT_HS256_SECRET_ID")

    jwks_url = url("JWT_JWKS_URL", get("JWT_JWKS_URL"))
    if jwks_url is None and get("JWT_JWKS_URL") is None:
        # Discovery derives the JWKS URL from each issuer, so each must be a URL.
        for issuer in issuers:
            if problem := url_problem(issuer):
                problems.append(
                    f"JWT_ISSUER {issuer!r} {problem} when JWT_JWKS_URL is unset "
                    "(the JWKS is discovered from the issuer)"
                )

    user_claim = get("JWT_USER_CLAIM") or "sub"
    if not USER_CLAIM.fullmatch(user_claim):
        problems.append(f"JWT_USER_CLAIM must be a claim name, got {user_claim!r}")

    timeout = integer("PARTNER_API_TIMEOUT_SECONDS", 5, 1, 25)

    sso_return_url = url("SSO_RETURN_URL", get("SSO_RETURN_URL"))
    allowed_return = csv("RETURN_URL_ALLOWED_ORIGINS")
    for origin in allowed_return:
        if url_problem(origin) or origin_of(origin) != origin.lower().rstrip("/"):
            problems.append(
                f"RETURN_URL_ALLOWED_ORIGINS entries must be origins like "
                f"'https://portal.example.edu', got {origin!r}"
            )

    config = Config(
        bi_org=bi_org,
        bi_base_url=bi_base_url.rstrip("/"),
        api_key_secret_id=required("BI_API_KEY_SECRET_ID"),
        issuers=issuers,
        audience=required("JWT_AUDIENCE"),
        jwks_url=jwks_url,
        algorithms=algorithms,
        hs256_secret_id=hs256_secret_id,
        user_claim=user_claim,
        max_age_seconds=integer("JWT_MAX_AGE_SECONDS", 300, 10, 3600),
        leeway_seconds=integer("JWT_LEEWAY_SECONDS", 30, 0, 300),
        partner_api_timeout_seconds=float(timeout),
        sso_return_url=sso_return_url,
        return_url_allowed_origins=tuple(
            origin_of(o) for o in allowed_return + ((sso_return_url,) if sso_return_url else ())
        ),
        error_redirect_url=url("ERROR_REDIRECT_URL", get("ERROR_REDIRECT_URL")),
        secret_cache_seconds=integer("SECRET_CACHE_SECONDS", 300, 0, 86400),
        replay_table_name=get("REPLAY_TABLE_NAME"),
        # The floor of 60 s is also the floor for a partner's Cache-Control (handler.keys).
        jwks_max_age_seconds=integer("JWKS_MAX_AGE_SECONDS", 600, 60, 86400),
        jwks_stale_seconds=integer("JWKS_STALE_SECONDS", 86400, 0, 7 * 86400),
        # Powertools' own switch; tracing is on only when it is explicitly "false".
        tracing=(get("POWERTOOLS_TRACE_DISABLED") or "true").lower() in ("false", "0"),
        # The pages add "#<code>"; a fragment of the operator's own would break that.
        troubleshooting_url=(
            url("TROUBLESHOOTING_URL", get("TROUBLESHOOTING_URL")) or DEFAULT_TROUBLESHOOTING_URL
        ).split("#", 1)[0],
    )
    if problems:
        raise ConfigError(problems)
    return config
