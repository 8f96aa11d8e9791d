"""LTI launches from the environment: on when ``LTI_STATE_TABLE_NAME`` is set, else off.

Registrations come from ``LTI_ISSUER`` and its companions (one platform), from
the partner registry (``PARTNER_REGISTRY_TABLE``: the container's registry, read
through its reader), or from both (the environment's first). Every problem is
reported together, by variable name, as ``handler.config`` does for the partner flow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3

from handler.config import Runtime
from handler.errors import ConfigError
from handler.lti.registrations import (
    EnvironmentRegistrations,
    LtiRegistration,
    RegistrationSource,
    RegistryRegistrations,
)
from handler.lti.service import LtiRuntime, LtiService
from handler.lti.state import LaunchStates
from handler.lti.tool_key import KmsToolKey, kms_client
from handler.replay import dynamodb_client

__all__ = ["LtiSetup", "lti_from_environment"]


@dataclass
class LtiSetup:
    """What the LTI routes need: the service, the tool key (if any) and the state's lifetime."""

    service: LtiService
    tool_key: KmsToolKey | None
    state_lifetime_seconds: int
    states: LaunchStates

    def before_snapshot(self) -> None:
        self.states.warm_client()

    def after_restore(self) -> None:
        self.service.after_restore()


class _Chain:
    """The first source that knows the registration."""

    def __init__(self, *sources: RegistrationSource) -> None:
        self._sources = sources

    def find(self, issuer: str, client_id: str | None) -> LtiRegistration | None:
        for source in self._sources:
            found = source.find(issuer, client_id)
            if found is not None:
                return found
        return None


def lti_from_environment(
    environ: Mapping[str, str],
    http: urllib3.PoolManager,
    runtime: Runtime,
    secret_client_factory: Callable[[], Any],
    *,
    registry_record_text: Callable[[str], str | None] | None = None,
    dynamodb_client_factory: Callable[[], Any] = dynamodb_client,
    kms_client_factory: Callable[[], Any] = kms_client,
    telemetry: Any = None,
) -> LtiSetup | None:
    """The LTI set-up, or None when ``LTI_STATE_TABLE_NAME`` is unset (LTI launches off).

    ``registry_record_text``: the partner registry's reader (``PartnerRegistry.record_text``),
    given when ``PARTNER_REGISTRY_TABLE`` is set; ``dynamodb_client_factory``: the container's
    DynamoDB client, so the launch table and the registry share one.
    """

    def get(name: str) -> str:
        return environ.get(name, "").strip()

    table = get("LTI_STATE_TABLE_NAME")
    if not table:
        return None
    problems: list[str] = []
    sources: list[RegistrationSource] = []
    if get("LTI_ISSUER"):
        try:
            sources.append(EnvironmentRegistrations(environ))
        except ConfigError as error:
            problems.extend(error.problems)
    if get("PARTNER_REGISTRY_TABLE"):
        if registry_record_text is None:
            raise ValueError("PARTNER_REGISTRY_TABLE is set: give the container's registry reader")
        sources.append(RegistryRegistrations(registry_record_text, runtime.registry_loopback_base_urls))
    if not sources:
        problems.append(
            "LTI_STATE_TABLE_NAME is set, which needs LTI_ISSUER (one platform) or PARTNER_REGISTRY_TABLE"
        )
    lifetime = get("LTI_STATE_SECONDS") or "600"
    if not lifetime.isdigit() or not 60 <= int(lifetime) <= 3600:
        problems.append(
            f"LTI_STATE_SECONDS must be a whole number of seconds from 60 to 3600, got {lifetime!r}"
        )
        lifetime = "600"
    if problems:
        raise ConfigError(problems)
    states = LaunchStates(table, int(lifetime), dynamodb_client_factory)
    service = LtiService(
        sources[0] if len(sources) == 1 else _Chain(*sources),
        states,
        http,
        secret_client_factory,
        LtiRuntime(
            partner_api_timeout_seconds=runtime.partner_api_timeout_seconds,
            secret_cache_seconds=runtime.secret_cache_seconds,
            jwks_max_age_seconds=runtime.jwks_max_age_seconds,
            jwks_stale_seconds=runtime.jwks_stale_seconds,
        ),
        telemetry=telemetry,
    )
    key_id = get("LTI_TOOL_KEY_ID")
    tool_key = KmsToolKey(key_id, kms_client_factory) if key_id else None
    return LtiSetup(service, tool_key, int(lifetime), states)
