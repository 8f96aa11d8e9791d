"""A partner registry record: its JSON shape, and its validation by the environment's rules.

A record is one item of the registry table: the hash key ``issuer`` and, in the
attribute ``value``, a JSON object (Powertools' ``DynamoDBProvider`` layout).
Its fields are the environment's variables under short names (``FIELDS``); the
values go through ``handler.config.load_partner``, the very validator of the
environment, so a record and a deployment are refused for the same reasons, and
each problem names the record's field. What only a record has is checked here:
its ``kind``, its ``partner`` id, that its ``issuer`` is the item's key, its
``enabled`` flag, that every secret it names belongs to its org (under
``SECRET_PREFIX`` + ``bi_org`` + ``/``: the role may read ``SECRET_PREFIX`` only, and
a record must not use another org's key), and that its Partner API is its org's own
host, ``https://{bi_org}.biginterview.com``: every sign-in sends the API key there.
A loopback base URL is allowed only with the local stack's setting
(``LOOPBACK_BASE_URLS``), which template.yaml never sets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from handler.config import (
    DNS_LABEL,
    LOOPBACK_BASE_URLS,
    LTI_MAX_DEPLOYMENT_IDS,
    LTI_MAX_ID,
    MAX_URL,
    Partner,
    load_partner,
)
from handler.errors import ConfigError
from handler.untrusted import parse_json, split_url
from handler.url_rules import is_loopback_host, url_problem

__all__ = [
    "FIELDS",
    "LOOPBACK_BASE_URLS",
    "LTI_MAX_DEPLOYMENT_IDS",
    "LTI_MAX_ID",
    "MAX_URL",
    "PARTNER_KIND",
    "RECORD_LIMITS",
    "SECRET_PREFIX",
    "PartnerRecord",
    "base_url_problem",
    "parse_partner_record",
    "record_kind",
    "record_org",
    "record_partner_id",
    "record_problems",
    "secret_outside_org",
    "validate_partner_record",
]

# Secrets Manager names a record may point to; template.yaml grants GetSecretValue on these only.
SECRET_PREFIX = "big-interview-sso/"  # noqa: S105 - a name prefix, not a secret
PARTNER_KIND = "partner"
# A partner id is a metric dimension and a log field: short, lower-case, and one per record.
_PARTNER_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:(?P<name>.+)")
# Record field -> the environment variable it stands for (the README's configuration table).
FIELDS = {
    "issuer": "JWT_ISSUER",
    "audience": "JWT_AUDIENCE",
    "jwks_url": "JWT_JWKS_URL",
    "algorithms": "JWT_ALGORITHMS",
    "hs256_secret_id": "JWT_HS256_SECRET_ID",
    "user_claim": "JWT_USER_CLAIM",
    "max_age_seconds": "JWT_MAX_AGE_SECONDS",
    "leeway_seconds": "JWT_LEEWAY_SECONDS",
    "bi_org": "BI_ORG",
    "bi_base_url": "BI_BASE_URL",
    "api_key_secret_id": "BI_API_KEY_SECRET_ID",
    "sso_return_url": "SSO_RETURN_URL",
    "return_url_allowed_origins": "RETURN_URL_ALLOWED_ORIGINS",
    "error_redirect_url": "ERROR_REDIRECT_URL",
    "troubleshooting_url": "TROUBLESHOOTING_URL",
}
# One set of limits for a record's fields, in characters (a list's entries joined with commas),
# read by make partner-add and by the function alike; docs/operations.md lists them. The
# issuer is the table's key and what the function looks a token up by: DynamoDB allows a key
# of 2048 bytes, so 512 characters of any UTF-8 text. Every limit keeps an item far below
# DynamoDB's 400 KB, so a write never fails for its size.
RECORD_LIMITS = {
    "issuer": 512,
    "audience": 512,
    "jwks_url": MAX_URL,
    "algorithms": 128,
    "hs256_secret_id": MAX_URL,
    "user_claim": 64,
    "bi_org": 63,
    "bi_base_url": MAX_URL,
    "api_key_secret_id": MAX_URL,
    "sso_return_url": MAX_URL,
    "return_url_allowed_origins": 4 * MAX_URL,
    "error_redirect_url": MAX_URL,
    "troubleshooting_url": MAX_URL,
}
_LISTS = frozenset({"algorithms", "return_url_allowed_origins"})
_INTEGERS = frozenset({"max_age_seconds", "leeway_seconds"})
_FIELD_OF = {variable: name for name, variable in FIELDS.items()}


@dataclass(frozen=True)
class PartnerRecord:
    """A valid partner record: its id, whether it may sign in, and the partner it describes."""

    partner_id: str
    enabled: bool
    partner: Partner


def record_kind(text: str) -> str | None:
    """The ``kind`` of a stored record (``partner`` when it has none); None if it is not a JSON object."""
    try:
        document = parse_json(text)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    kind = document.get("kind", PARTNER_KIND)
    return kind if isinstance(kind, str) else None


def record_partner_id(text: str) -> str | None:
    """The ``partner`` id of a stored record, valid record or not, if it is a well-formed id."""
    try:
        document = parse_json(text)
    except ValueError:
        return None
    partner_id = document.get("partner") if isinstance(document, dict) else None
    return partner_id if isinstance(partner_id, str) and _PARTNER_ID.fullmatch(partner_id) else None


def parse_partner_record(issuer: str, text: str, *, loopback_base_urls: bool = False) -> PartnerRecord:
    """The record stored under ``issuer`` (the ``value`` attribute's JSON), or ``ConfigError``."""
    try:
        document = parse_json(text)
    except ValueError:
        raise ConfigError(["value is not JSON"]) from None
    return validate_partner_record(issuer, document, loopback_base_urls=loopback_base_urls)


def validate_partner_record(issuer: str, document: Any, *, loopback_base_urls: bool = False) -> PartnerRecord:
    """Validate a record's JSON object; ``ConfigError`` lists every problem by field name.

    ``loopback_base_urls``: the local stack's setting (``LOOPBACK_BASE_URLS``), under which
    ``bi_base_url`` may also be a URL on a loopback host.
    """
    if not isinstance(document, dict):
        raise ConfigError(["value must be a JSON object"])
    problems = record_problems(document, PARTNER_KIND, "partner record", {*FIELDS, "partner"})
    partner_id = document.get("partner")
    if not isinstance(partner_id, str) or not _PARTNER_ID.fullmatch(partner_id):
        problems.append(
            "partner must be a short id (1 to 32 of a-z 0-9 -, starting with a letter or digit), "
            f"got {_shown(partner_id)}"
        )
    enabled = document.get("enabled", True)
    if document.get("issuer") != issuer:
        problems.append(f"issuer must be the record's key {issuer!r}, got {_shown(document.get('issuer'))}")
    values: dict[str, str] = {}
    org = record_org(document)
    base_url = document.get("bi_base_url")
    base_url_refused = base_url_problem("bi_base_url", org, base_url, loopback_base_urls)
    if base_url_refused:
        problems.append(base_url_refused)
    for name, variable in FIELDS.items():
        if name not in document or document[name] is None or (name == "bi_base_url" and base_url_refused):
            continue
        value = _as_text(name, document[name], problems)
        limit = RECORD_LIMITS.get(name)
        if value is not None and limit is not None and len(value) > limit:
            problems.append(f"{name} must be at most {limit} characters, got {len(value)}")
        elif value is not None:
            values[variable] = value
    partner: Partner | None = None
    try:
        partner = load_partner(values, label=lambda variable: _FIELD_OF.get(variable, variable))
    except ConfigError as error:
        problems.extend(error.problems)
    if problems or partner is None:
        raise ConfigError(problems)
    assert isinstance(partner_id, str) and isinstance(enabled, bool)  # checked above
    return PartnerRecord(partner_id, enabled, partner)


def record_problems(document: dict[str, Any], kind: str, what: str, fields: set[str]) -> list[str]:
    """What every kind of registry record is checked for besides its fields' values: its ``kind``,
    its ``enabled`` flag, no unknown field, and every secret it names in its org's folder."""
    problems = []
    if document.get("kind", PARTNER_KIND) != kind:
        problems.append(f"kind must be {kind!r} for a {what}, got {_shown(document.get('kind'))}")
    if not isinstance(document.get("enabled", True), bool):
        problems.append(f"enabled must be true or false, got {_shown(document.get('enabled'))}")
    known = {"kind", "enabled", *fields}
    unknown = sorted(str(name)[:40] for name in set(document) - known)
    if unknown:
        problems.append(f"unknown fields {unknown[:10]}; a {what} has {sorted(known)}")
    for name in ("api_key_secret_id", "hs256_secret_id"):
        if problem := secret_outside_org(name, document.get(name), record_org(document)):
            problems.append(problem)
    return problems


def _as_text(name: str, value: Any, problems: list[str]) -> str | None:
    """A field's value as the environment would spell it (a list comma-separated)."""
    if name in _LISTS:
        if not isinstance(value, list) or not all(isinstance(v, str) and "," not in v for v in value):
            problems.append(f"{name} must be a list of strings without commas, got {_shown(value)}")
            return None
        return ",".join(value)
    if name in _INTEGERS:
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{name} must be a whole number, got {_shown(value)}")
            return None
        return str(value)
    if not isinstance(value, str) or (name == "issuer" and "," in value):
        problems.append(f"{name} must be a string, got {_shown(value)}")
        return None
    return value


def record_org(document: dict[str, Any]) -> str | None:
    """A record's ``bi_org`` when it is a valid org (a DNS label, any case); else None, and
    the field's own validation says why."""
    org = document.get("bi_org")
    org = org.strip().lower() if isinstance(org, str) else None
    return org if org and DNS_LABEL.fullmatch(org) else None


def secret_outside_org(field: str, secret_id: Any, bi_org: str | None) -> str | None:
    """The problem with a record's secret field naming a secret that is not its org's; else None.

    The one rule for every kind of registry record (partners here, LTI registrations in
    ``handler.lti.registrations``): a record's secrets are under ``SECRET_PREFIX`` (the only
    secrets the function's role may read in registry mode), in the folder of its own org,
    ``big-interview-sso/{bi_org}/``, so no record can have another org's API key sent
    anywhere. A missing or non-string value is left to the field's own validation; without
    a valid org, the secret must still be under ``SECRET_PREFIX``.
    """
    if not isinstance(secret_id, str) or not secret_id:
        return None
    folder = f"{SECRET_PREFIX}{bi_org}/" if bi_org else SECRET_PREFIX
    match = _SECRET_ARN.fullmatch(secret_id)
    name = match.group("name") if match else secret_id
    if name.startswith(folder) and len(name) > len(folder):
        return None
    return f"{field} must name a secret under {folder!r} (the record's org), got {secret_id[:200]!r}"


def base_url_problem(field: str, bi_org: str | None, base_url: Any, loopback_allowed: bool) -> str | None:
    """The problem with a record's ``bi_base_url``; None when it is absent or allowed.

    Every sign-in sends the org's API key to this URL, so in a record it can only be the
    org's own Big Interview host (what an absent one means), or, with the local stack's
    setting, a URL on a loopback host (the sandbox Big Interview).
    """
    if base_url is None or not bi_org:
        return None
    expected = f"https://{bi_org}.biginterview.com"
    if isinstance(base_url, str):
        if base_url.rstrip("/").lower() == expected:
            return None
        if loopback_allowed and not url_problem(base_url) and is_loopback_host(split_url(base_url).hostname):
            return None
    allowed = " (or a loopback URL, in the local stack)" if loopback_allowed else ""
    return f"{field} must be {expected!r}, the record's org's own host{allowed}, got {_shown(base_url)}"


def _shown(value: Any) -> str:
    return repr(value)[:80]
