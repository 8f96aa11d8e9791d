"""The function's configuration: read from the environment once, at cold start.

Split by what each part describes, so each component takes only its part: ``TokenPolicy``
(how to trust a partner's tokens), ``Destination`` (where its users go, and its error pages),
``Runtime`` (how this deployment runs) and ``LtiSettings`` (LTI launches, when on). A
``Partner`` is a token policy and a destination; an LTI registration becomes one too. Every
variable is validated in one pass and every problem reported together, by variable name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from handler.errors import ConfigError, ProfileRequired
from handler.untrusted import split_url
from handler.url_rules import origin_of, url_problem

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "DEFAULT_TROUBLESHOOTING_URL",
    "DNS_LABEL",
    "LOOPBACK_BASE_URLS",
    "LTI_FIELDS",
    "LTI_MAX_DEPLOYMENT_IDS",
    "LTI_MAX_ID",
    "MAX_URL",
    "Config",
    "Destination",
    "ErrorPages",
    "LtiRegistration",
    "LtiSettings",
    "Partner",
    "Runtime",
    "TokenPolicy",
    "load_config",
    "load_partner",
    "load_return_url_origins",
    "load_token_policy",
    "loopback_base_urls_allowed",
    "parse_registration",
]

_T = TypeVar("_T")
# Guards are used with fullmatch: "$" would also match before a final newline.
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
DNS_LABEL = _DNS_LABEL  # a Big Interview org: also what registry records check their secrets by
# Algorithms we can verify with a public key from a JWKS, plus HS256 (shared secret).
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_SUPPORTED_ALGORITHMS = ASYMMETRIC_ALGORITHMS | {"HS256"}
# Error pages link to the code's row of the partner guide's troubleshooting table
# (``#<code>``) where the operator published it; no address is assumed: unset, they name it.
DEFAULT_TROUBLESHOOTING_URL = ""
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
class ErrorPages:
    """Whom a refusal's page speaks to and where it points: a destination's data, not a code path."""

    # The pages link to its "#<code>" rows where the operator published the guide; unset, they
    # name the guide instead (no address is assumed).
    troubleshooting_url: str = DEFAULT_TROUBLESHOOTING_URL
    guide: str = "the partner guide (docs/partner-guide.md, from the service's operator)"
    error_redirect_url: str | None = None  # browsers go there instead, with the code and request id
    reader: str = "the portal's developers"
    framed: bool = False  # may show inside another site's frame (a learning platform's)
    # Big Interview's 422 for a new user without a full profile: the refusal, and its advice.
    profile_refusal: type[ProfileRequired] = ProfileRequired
    profile_advice: str = "the token has no {missing}; send given_name, family_name and email in every token"


@dataclass(frozen=True)
class Destination:
    """Where a partner's users go: their Big Interview org, and the pages around a sign-in."""

    bi_org: str
    bi_base_url: str
    api_key_secret_id: str
    sso_return_url: str | None = None
    # Origins a return_url may point to (SSO_RETURN_URL's own included), lower-cased.
    return_url_allowed_origins: tuple[str, ...] = ()
    pages: ErrorPages = ErrorPages()


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


# The clock skew allowed on an id_token's exp and iat by default (LTI_LEEWAY_SECONDS, 0 to 600):
# LMS servers' clocks drift by a minute or more, and a launch refused for it cannot be retried.
DEFAULT_LTI_LEEWAY_SECONDS = 120


@dataclass(frozen=True)
class LtiSettings:
    """LTI launches (on when ``LTI_STATE_TABLE_NAME`` is set): the state table, the tool key, a platform."""

    state_table: str
    state_seconds: int = 600
    tool_key_id: str | None = None
    registration: LtiRegistration | None = None  # the environment's one platform (LTI_ISSUER...)
    leeway_seconds: int = DEFAULT_LTI_LEEWAY_SECONDS
    # Deep Linking 2.0 (LTI_DEEP_LINKING=Enabled): the picker, and the operator's catalogue additions
    # (LTI_DEEP_LINKING_CATALOGUE, JSON checked by handler.lti.catalogue).
    deep_linking: bool = False
    deep_linking_catalogue: str | None = None
    # Grade passback (LtiGradePassback=Enabled): the table a launch records its grade link in.
    grade_table: str | None = None


@dataclass(frozen=True)
class Config:
    """Validated settings; see the README's configuration table."""

    partner: Partner
    runtime: Runtime = field(default_factory=Runtime)
    lti: LtiSettings | None = None  # None: LTI launches off


def load_config(environ: Mapping[str, str]) -> Config:
    """Build a ``Config`` from ``environ`` or raise ``ConfigError`` listing every problem."""
    return _read(environ, lambda env: Config(env.environment_partner(), env.runtime(), env.lti()))


def load_partner(values: Mapping[str, str], label: Callable[[str], str] = str) -> Partner:
    """One partner from variables, by exactly the rules ``load_config`` applies to the environment.

    Registry records come here too (``handler.partner_record``): ``label`` names their fields.
    """
    return _read(values, _Environment.partner, label)


def load_token_policy(environ: Mapping[str, str], *, keys_given: bool = False) -> TokenPolicy:
    """Only the ``JWT_*`` variables, validated as ``load_config`` does (for check-link).

    ``keys_given``: the caller brings the key set, so neither a JWKS URL nor discovery is needed.
    """
    return _read(environ, lambda env: env.token_policy(keys_given=keys_given))


def load_return_url_origins(environ: Mapping[str, str]) -> tuple[str, ...]:
    """``RETURN_URL_ALLOWED_ORIGINS`` (and ``SSO_RETURN_URL``'s origin), as ``load_config`` reads them."""
    return _read(environ, lambda env: env.return_url_origins(env.url("SSO_RETURN_URL")))


def _read(
    environ: Mapping[str, str], read: Callable[[_Environment], _T], label: Callable[[str], str] = str
) -> _T:
    """``read`` on the variables, then every problem it found raised together (``ConfigError``)."""
    env = _Environment(environ, label)
    value = read(env)
    if env.problems:  # once each: the partner and the LTI platform share BI_* variables
        raise ConfigError(list(dict.fromkeys(env.problems)))
    return value


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

    def partner(self) -> Partner:
        destination = self.destination()  # first: problems are listed in the README table's order
        return Partner(self.token_policy(), destination)

    def environment_partner(self) -> Partner:
        """The environment's partner; with LTI on and no ``JWT_ISSUER``, a launch-only deployment's."""
        if self.get("LTI_STATE_TABLE_NAME") and not self.get("JWT_ISSUER"):
            # No issuer: every partner token is refused, and there is no partner key set to
            # fetch (the other JWT_* settings are not read).
            return Partner(TokenPolicy(issuers=(), audience=""), self.destination())
        return self.partner()

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
            pages=ErrorPages(
                # The pages add "#<code>"; a fragment of the operator's own would break that.
                (self.url("TROUBLESHOOTING_URL") or DEFAULT_TROUBLESHOOTING_URL).split("#", 1)[0],
                error_redirect_url=self.url("ERROR_REDIRECT_URL"),
            ),
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

    def lti(self) -> LtiSettings | None:
        state_table = self.get("LTI_STATE_TABLE_NAME")
        if state_table is None:
            return None
        registration = None
        if self.get("LTI_ISSUER"):
            values = {name: self.get(variable) or "" for name, variable in LTI_FIELDS.items()}
            try:
                registration = parse_registration(values, LTI_FIELDS)
            except ConfigError as error:
                self.problems.extend(error.problems)
        elif not self.get("PARTNER_REGISTRY_TABLE"):
            self.problems.append(
                "LTI_STATE_TABLE_NAME is set, which needs LTI_ISSUER (one platform) or PARTNER_REGISTRY_TABLE"
            )
        lifetime = self.get("LTI_STATE_SECONDS") or "600"
        if not lifetime.isdigit() or not 60 <= int(lifetime) <= 3600:
            self.problems.append(
                f"LTI_STATE_SECONDS must be a whole number of seconds from 60 to 3600, got {lifetime!r}"
            )
            lifetime = "600"
        leeway = self.integer("LTI_LEEWAY_SECONDS", DEFAULT_LTI_LEEWAY_SECONDS, 0, 600)
        deep_linking, catalogue = self.lti_deep_linking()
        return LtiSettings(
            state_table,
            int(lifetime),
            self.get("LTI_TOOL_KEY_ID"),
            registration,
            leeway,
            deep_linking,
            catalogue,
            grade_table=self.get("LTI_GRADE_TABLE_NAME"),
        )

    def lti_deep_linking(self) -> tuple[bool, str | None]:
        """``LTI_DEEP_LINKING`` (Enabled or Disabled, the default) and its catalogue's additions."""
        switch = self.get("LTI_DEEP_LINKING") or "Disabled"
        if switch not in ("Enabled", "Disabled"):
            self.problems.append(f"LTI_DEEP_LINKING must be Enabled or Disabled, got {switch[:40]!r}")
        if switch != "Enabled":
            return False, None
        if not self.get("LTI_TOOL_KEY_ID"):
            self.problems.append(
                "LTI_DEEP_LINKING=Enabled needs LTI_TOOL_KEY_ID (the key that signs its answers)"
            )
        catalogue = self.get("LTI_DEEP_LINKING_CATALOGUE")
        if catalogue:
            # Imported only with deep linking on: cold start a deployment without it never pays.
            from handler.lti.catalogue import parse_catalogue

            try:
                parse_catalogue(catalogue)
            except ValueError as error:
                self.problems.append(str(error))
        return True, catalogue

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


# The longest URL a setting or record may hold, in characters.
MAX_URL = 2048
# An LTI registration's ids (iss, client_id, each deployment_id: at most 255 characters in
# LTI 1.3 Core §5.3.3 and OIDC), and how many deployments one registration may allow.
LTI_MAX_ID = 255
LTI_MAX_DEPLOYMENT_IDS = 100
# LTI 1.3 Core §5.3.3: deployment_id is at most LTI_MAX_ID ASCII characters, case-sensitive.
_DEPLOYMENT_ID = re.compile(rf"[\x21-\x7e]{{1,{LTI_MAX_ID}}}")
# A client_id (and an iss) is shown to operators and stored in a key: printable ASCII only.
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
# A secret name or ARN, as template.yaml's BiApiKeySecretId allows.
_SECRET_ID = re.compile(
    r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+|[A-Za-z0-9/_+=.@-]{1,512}"
)


@dataclass(frozen=True)
class LtiRegistration:
    """One platform registration of the tool, and the Big Interview org behind it."""

    issuer: str
    client_id: str
    deployment_ids: tuple[str, ...]
    auth_url: str
    jwks_url: str
    bi_org: str
    bi_base_url: str
    api_key_secret_id: str
    return_url: str | None = None
    enabled: bool = True  # a registry record's flag (make partner-disable); the environment's is on
    # The platform's OAuth 2.0 token endpoint (LTI Advantage services: grade passback); optional.
    token_url: str | None = None


# Each registration field's name in a registry record, and its environment variable.
LTI_FIELDS = {
    "iss": "LTI_ISSUER",
    "client_id": "LTI_CLIENT_ID",
    "deployment_ids": "LTI_DEPLOYMENT_IDS",
    "auth_url": "LTI_AUTH_URL",
    "jwks_url": "LTI_JWKS_URL",
    "bi_org": "BI_ORG",
    "bi_base_url": "BI_BASE_URL",
    "api_key_secret_id": "BI_API_KEY_SECRET_ID",
    "return_url": "LTI_RETURN_URL",
    "token_url": "LTI_TOKEN_URL",
}


def parse_registration(values: Mapping[str, Any], names: Mapping[str, str] | None = None) -> LtiRegistration:
    """A validated registration from a record's fields, or ``ConfigError`` listing every problem.

    ``names`` says what each field is called where it came from (an environment
    variable), so a problem names what the operator has to fix.
    """
    shown = names or {name: name for name in LTI_FIELDS}
    problems: list[str] = []

    def text(field: str, required: bool = True, limit: int = MAX_URL) -> str:
        value = values.get(field)
        if value is None or value == "":
            if required:
                problems.append(f"{shown[field]} is required")
            return ""
        if not isinstance(value, str) or len(value) > limit or value != value.strip():
            problems.append(
                f"{shown[field]} must be a string of at most {limit} characters without spaces around it"
            )
            return ""
        return value

    def url(field: str, required: bool = True) -> str:
        value = text(field, required)
        if value and (problem := url_problem(value)):
            problems.append(f"{shown[field]} {problem}, got {value[:200]!r}")
        return value

    issuer = text("iss", limit=LTI_MAX_ID)
    if issuer and (problem := _issuer_problem(issuer)):
        problems.append(f"{shown['iss']} {problem}, got {issuer[:200]!r}")
    client_id = text("client_id", limit=LTI_MAX_ID)
    if client_id and not _PRINTABLE_ASCII.fullmatch(client_id):
        problems.append(f"{shown['client_id']} must be printable ASCII, got {client_id[:200]!r}")
    deployment_ids = _deployment_ids(values.get("deployment_ids"), shown["deployment_ids"], problems)
    auth_url = url("auth_url")
    jwks_url = url("jwks_url")
    bi_org = text("bi_org", limit=63).lower()
    if bi_org and not _DNS_LABEL.fullmatch(bi_org):
        problems.append(f"{shown['bi_org']} must be a DNS label such as 'xyz', got {bi_org!r}")
    bi_base_url = url("bi_base_url", required=False) or f"https://{bi_org}.biginterview.com"
    secret_id = text("api_key_secret_id")
    if secret_id and not _SECRET_ID.fullmatch(secret_id):
        problems.append(f"{shown['api_key_secret_id']} must be a Secrets Manager secret name or ARN")
    return_url = url("return_url", required=False) or None
    token_url = url("token_url", required=False) or None
    if problems:
        raise ConfigError(problems)
    return LtiRegistration(
        issuer=issuer,
        client_id=client_id,
        deployment_ids=deployment_ids,
        auth_url=auth_url,
        jwks_url=jwks_url,
        bi_org=bi_org,
        bi_base_url=bi_base_url.rstrip("/"),
        api_key_secret_id=secret_id,
        return_url=return_url,
        token_url=token_url,
    )


def _issuer_problem(issuer: str) -> str | None:
    """Why ``issuer`` is not a platform's ``iss`` (LTI 1.3 Core §5.1.2, OIDC Core §2): a
    case-sensitive https URL of scheme, host, optional port and path, no query or fragment
    (http on loopback only, for the local stack, as every service URL)."""
    if not _PRINTABLE_ASCII.fullmatch(issuer):
        return "must be an https URL of printable ASCII characters"
    if problem := url_problem(issuer):
        return problem
    parts = split_url(issuer)
    if parts.query or parts.fragment or "?" in issuer or "#" in issuer:
        return "must be an https URL without a query or fragment"
    return None


def _deployment_ids(value: Any, name: str, problems: list[str]) -> tuple[str, ...]:
    """A list of deployment ids (a record's JSON list, or the variable's comma-separated text)."""
    items = [item.strip() for item in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list) or not [item for item in items if item]:
        problems.append(f"{name} is required: the deployment_id(s) the platform gave this tool")
        return ()
    ids = tuple(item for item in items if item)
    if len(ids) > LTI_MAX_DEPLOYMENT_IDS:
        problems.append(f"{name} must be at most {LTI_MAX_DEPLOYMENT_IDS} deployment ids, got {len(ids)}")
        return ()
    if not all(isinstance(item, str) and _DEPLOYMENT_ID.fullmatch(item) for item in ids):
        problems.append(f"{name} must be deployment ids of 1 to {LTI_MAX_ID} printable ASCII characters")
        return ()
    return ids
