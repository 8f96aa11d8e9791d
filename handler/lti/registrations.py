"""Platform registrations: which learning platforms may launch, and where their students go.

An ``LtiRegistration`` is what a platform's administrator and Big Interview's
operator agreed on: the platform's ``iss`` and the ``client_id`` it gave this
tool, the ``deployment_id``s allowed, the platform's authorization endpoint and
JWKS URL, and the Big Interview org, base URL and API key secret its students
go to. ``parse_registration`` is the one place a registration is validated,
whether it comes from environment variables (``EnvironmentRegistrations``: one
platform, for a single-platform deployment) or from the partner registry table
(``RegistryRegistrations``: one DynamoDB item per registration).

A registration in the partner registry is an item like a partner's: hash key
``issuer`` (S) holding ``lti|<platform iss>|<client_id>``, and the record as a
JSON string in ``value`` with ``"kind": "lti_platform"``. It is read through the
partner registry's own reader (``PartnerRegistry.record_text``: one Powertools
provider, one DynamoDB client, one cache policy for every kind of record).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from handler.errors import ConfigError, PartnerUnavailable
from handler.partner_record import (
    LTI_MAX_DEPLOYMENT_IDS,
    LTI_MAX_ID,
    MAX_URL,
    base_url_problem,
    record_kind,
    record_org,
    secret_outside_org,
)
from handler.untrusted import parse_json, split_url
from handler.url_rules import url_problem

__all__ = [
    "RECORD_KIND",
    "EnvironmentRegistrations",
    "LtiRegistration",
    "RegistrationSource",
    "RegistrationUnavailable",
    "RegistryRegistrations",
    "parse_registration",
    "registry_key",
    "registry_registration",
]

RECORD_KIND = "lti_platform"
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
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


# Each field's name in a registry record, and its environment variable.
_FIELDS = {
    "iss": "LTI_ISSUER",
    "client_id": "LTI_CLIENT_ID",
    "deployment_ids": "LTI_DEPLOYMENT_IDS",
    "auth_url": "LTI_AUTH_URL",
    "jwks_url": "LTI_JWKS_URL",
    "bi_org": "BI_ORG",
    "bi_base_url": "BI_BASE_URL",
    "api_key_secret_id": "BI_API_KEY_SECRET_ID",
    "return_url": "LTI_RETURN_URL",
}
# What a registry record has besides the fields above.
_RECORD_ONLY = frozenset({"kind", "enabled"})


def parse_registration(values: Mapping[str, Any], names: Mapping[str, str] | None = None) -> LtiRegistration:
    """A validated registration from a record's fields, or ``ConfigError`` listing every problem.

    ``names`` says what each field is called where it came from (an environment
    variable), so a problem names what the operator has to fix.
    """
    shown = names or {name: name for name in _FIELDS}
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


class RegistrationUnavailable(Exception):
    """The registry could not be read (not: the registration does not exist)."""


class RegistrationSource(Protocol):
    """Where registrations come from; ``None``: no such registration."""

    def find(self, issuer: str, client_id: str | None) -> LtiRegistration | None: ...


class EnvironmentRegistrations:
    """The one registration a single-platform deployment gives in its environment (``LTI_*``, ``BI_*``)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        values: dict[str, Any] = {field: environ.get(name, "").strip() for field, name in _FIELDS.items()}
        self.registration = parse_registration(values, _FIELDS)

    def find(self, issuer: str, client_id: str | None) -> LtiRegistration | None:
        registration = self.registration
        if issuer != registration.issuer:
            return None
        # client_id is optional in a login initiation: a platform with one registration may leave it out.
        if client_id is not None and client_id != registration.client_id:
            return None
        return registration


def registry_key(issuer: str, client_id: str) -> str:
    """The registry item's ``issuer`` attribute for a platform registration."""
    return f"lti|{issuer}|{client_id}"


def registry_registration(key: str, document: Any, *, loopback_base_urls: bool = False) -> LtiRegistration:
    """A registry record (its ``value``'s JSON) stored under ``key``, or ``ConfigError`` naming each field.

    ``parse_registration``'s rules, and what only a record has: its ``kind``, its ``enabled``
    flag (``make partner-disable``; a disabled registration's logins are refused), no unknown
    fields, ``key`` = ``registry_key(iss, client_id)``, and the partner records' rule for
    secrets and base URL (``handler.partner_record.secret_outside_org``,
    ``base_url_problem``): the API key is its org's, under ``big-interview-sso/{bi_org}/``,
    and is sent to its org's host only (or to loopback, with ``loopback_base_urls``: the
    local stack's setting).
    """
    if not isinstance(document, dict):
        raise ConfigError(["value must be a JSON object"])
    problems: list[str] = []
    if document.get("kind") != RECORD_KIND:
        shown = repr(document.get("kind"))[:80]
        problems.append(f"kind must be {RECORD_KIND!r} for a platform registration, got {shown}")
    unknown = sorted(str(name)[:40] for name in set(document) - set(_FIELDS) - _RECORD_ONLY)
    if unknown:
        problems.append(
            f"unknown fields {unknown[:10]}; a registration has {sorted(set(_FIELDS) | _RECORD_ONLY)}"
        )
    org = record_org(document)
    if problem := secret_outside_org("api_key_secret_id", document.get("api_key_secret_id"), org):
        problems.append(problem)
    base_url = document.get("bi_base_url")
    if problem := base_url_problem("bi_base_url", org, base_url, loopback_base_urls):
        problems.append(problem)
        document = {name: value for name, value in document.items() if name != "bi_base_url"}
    enabled = document.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(f"enabled must be true or false, got {repr(enabled)[:80]}")
    registration: LtiRegistration | None = None
    try:
        registration = parse_registration(document)
    except ConfigError as error:
        problems.extend(error.problems)
    if registration is not None and "|" in registration.client_id:
        # The key's last '|' then always separates iss from client_id: one key, one pair.
        problems.append(
            "client_id must not contain '|' in a registry record (its key is lti|<iss>|<client_id>)"
        )
    if registration is not None and registry_key(registration.issuer, registration.client_id) != key:
        problems.append(f"iss and client_id must be the record's key {key[:400]!r}: lti|<iss>|<client_id>")
    if problems or registration is None:
        raise ConfigError(problems)
    return dataclasses.replace(registration, enabled=enabled)


class RegistryRegistrations:
    """Registrations in the partner registry table, one item each.

    ``record_text(key)`` is the registry's reader (``PartnerRegistry.record_text``): the
    item's ``value``, None when there is none, ``PartnerUnavailable`` when DynamoDB
    cannot answer. A login without ``client_id`` cannot be looked up here (the key holds it).
    """

    def __init__(self, record_text: Callable[[str], str | None], loopback_base_urls: bool = False) -> None:
        self._record_text = record_text
        self._loopback_base_urls = loopback_base_urls  # the local stack's setting (partner_record)

    def find(self, issuer: str, client_id: str | None) -> LtiRegistration | None:
        # No registration has an iss or client_id this long (parse_registration), and the key of
        # one could exceed DynamoDB's 2048-byte partition key limit: GetItem would fail (a 503).
        if client_id is None or len(issuer) > LTI_MAX_ID or len(client_id) > LTI_MAX_ID:
            return None
        key = registry_key(issuer, client_id)
        try:
            text = self._record_text(key)
        except PartnerUnavailable as error:
            raise RegistrationUnavailable(error.log_detail or error.detail) from None
        if text is None:
            return None
        kind = record_kind(text)
        if kind is None:
            raise RegistrationUnavailable(f"the registry record {key[:400]!r}: value is not a JSON object")
        if kind != RECORD_KIND:
            return None  # another kind's record under this key: no registration
        try:
            registration = registry_registration(
                key, parse_json(text), loopback_base_urls=self._loopback_base_urls
            )
        except ConfigError as error:
            raise RegistrationUnavailable(
                f"the registry record {key[:400]!r} is invalid: " + "; ".join(error.problems)
            ) from None
        # lti|a|b|c is the key of both ("a|b", "c") and ("a", "b|c"): the record must be this pair's.
        if (registration.issuer, registration.client_id) != (issuer, client_id):
            return None
        return registration
