"""Platform registrations: which learning platforms may launch, and where their students go.

An ``LtiRegistration`` (``handler.config``, validated by ``parse_registration`` whatever its
source) comes from the environment (``EnvironmentRegistrations``: one platform) or from the
partner registry table (``RegistryRegistrations``): an item under the key
``lti|<platform iss>|<client_id>`` whose ``value`` is the record's JSON with
``"kind": "lti_platform"``, read through the registry's own reader (``record_text``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from handler.config import LTI_FIELDS, LTI_MAX_ID, LtiRegistration, parse_registration
from handler.errors import ConfigError, PartnerUnavailable
from handler.partner_record import base_url_problem, record_kind, record_org, record_problems
from handler.untrusted import parse_json

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


class RegistrationUnavailable(Exception):
    """The registry could not be read (not: the registration does not exist)."""


class RegistrationSource(Protocol):
    """Where registrations come from; ``None``: no such registration."""

    def find(self, issuer: str, client_id: str | None) -> LtiRegistration | None: ...


class EnvironmentRegistrations:
    """The one registration a single-platform deployment gives in its environment (``LTI_*``, ``BI_*``)."""

    def __init__(self, environ: Mapping[str, str] | LtiRegistration) -> None:
        if isinstance(environ, LtiRegistration):
            self.registration = environ
        else:
            values = {field: environ.get(name, "").strip() for field, name in LTI_FIELDS.items()}
            self.registration = parse_registration(values, LTI_FIELDS)

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
    """A registry record stored under ``key``, or ``ConfigError`` naming each field.

    ``parse_registration``'s rules, and a record's own (``record_problems``: ``kind``,
    ``enabled``, no unknown fields, its secrets in its org's folder), ``key`` =
    ``registry_key(iss, client_id)``, and its Partner API on its org's own host
    (``base_url_problem``; loopback too with ``loopback_base_urls``, the local stack's setting).
    """
    if not isinstance(document, dict):
        raise ConfigError(["value must be a JSON object"])
    problems = record_problems(document, RECORD_KIND, "platform registration", set(LTI_FIELDS))
    if problem := base_url_problem(
        "bi_base_url", record_org(document), document.get("bi_base_url"), loopback_base_urls
    ):
        problems.append(problem)
        document = {name: value for name, value in document.items() if name != "bi_base_url"}
    enabled = document.get("enabled", True)
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
