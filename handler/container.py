"""Everything built once per Lambda execution environment, and how SnapStart renews it.

``Container.build`` wires the sign-in service's dependencies from
configuration. Each takes its parts as arguments, so tests and the local stack
pass real local servers. With SnapStart, the environment is snapshotted after
INIT and restored many times: ``before_snapshot`` warms what a snapshot should
hold (imports, AWS clients, the partner's JWKS; never a secret), and
``after_restore`` renews what must not be shared between restored copies.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3

from handler.config import Config
from handler.keys import JwksKeySource
from handler.partner_api import PartnerApiClient
from handler.partners import (
    ENVIRONMENT_PARTNER,
    PartnerDirectory,
    PartnerRegistry,
    PartnerWiring,
    SinglePartner,
    registry_provider,
)
from handler.prefetch import (
    BOUND_SECONDS,
    Prefetch,
    prefetch_during_init,
    reading_session_tickets,
    refresh_after_restore,
    start_prefetch_during_init,
)
from handler.replay import ReplayGuard, dynamodb_client
from handler.secret_source import SecretSource, secrets_manager_client
from handler.sign_in import SsoService
from handler.telemetry import Telemetry

__all__ = ["Container", "new_http_pool"]


def new_http_pool(**pool_options: Any) -> urllib3.PoolManager:
    """The one connection pool for the Partner API and the JWKS (TLS verified).

    Its connections read TLS 1.3 session tickets before urllib3 judges them dropped, so a
    connection opened ahead of its first request is reused (handler/prefetch.py).
    """
    return reading_session_tickets(urllib3.PoolManager(num_pools=4, maxsize=4, retries=False, **pool_options))


class _Once:
    """A factory's product, made on the first call and shared by every caller."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._made: Any = None
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            if self._made is None:
                self._made = self._factory()
            return self._made


@dataclass
class Container:
    """The service and the stateful parts behind it (pool, caches, clients)."""

    service: SsoService
    http: urllib3.PoolManager
    keys: JwksKeySource
    secrets: tuple[SecretSource, ...]
    replay_guard: ReplayGuard | None
    partner_api: PartnerApiClient
    # The partner registry (PARTNER_REGISTRY_TABLE), whose reader the LTI launch shares; None without.
    registry: PartnerRegistry | None = None
    # The one DynamoDB client (made on first use): one-time links, registry, LTI launch table.
    dynamodb: Callable[[], Any] = dynamodb_client

    @classmethod
    def build(
        cls,
        config: Config,
        http: urllib3.PoolManager,
        telemetry: Telemetry | None = None,
        secret_client_factory: Callable[..., Any] | None = None,
        dynamodb_client_factory: Callable[[], Any] = dynamodb_client,
        clock: Callable[[], float] = time.time,
        registry_provider_factory: Callable[[str, Callable[[], Any]], Any] = registry_provider,
    ) -> Container:
        """Wire the service from configuration; nothing is fetched yet.

        ``clock`` is the key cache's (wall) clock: tests cross its refetch cooldown
        and max age without waiting. With ``PARTNER_REGISTRY_TABLE`` set, partners are
        also found in the registry (``registry_provider_factory`` makes its reader).
        """
        telemetry = telemetry or Telemetry()
        runtime = config.runtime
        client_factory = secret_client_factory or (
            lambda **options: secrets_manager_client(telemetry, **options)
        )
        wiring = PartnerWiring(runtime, http, client_factory, telemetry, clock)
        environment = wiring.wire(ENVIRONMENT_PARTNER, config.partner)
        partners: PartnerDirectory = SinglePartner(environment)
        # One DynamoDB client for the one-time links, the registry and LTI: creating one is slow.
        dynamodb = _Once(dynamodb_client_factory)
        registry = None
        if runtime.partner_registry_table:
            table = runtime.partner_registry_table
            partners = registry = PartnerRegistry(
                lambda: registry_provider_factory(table, dynamodb),
                wiring,
                cache_seconds=runtime.partner_registry_cache_seconds,
                environment_partner=environment,
                loopback_base_urls=runtime.registry_loopback_base_urls,
                stale_seconds=runtime.partner_registry_stale_seconds,
            )
        replay_guard = (
            ReplayGuard(runtime.replay_table_name, config.partner.tokens.leeway_seconds, dynamodb)
            if runtime.replay_table_name
            else None
        )
        service = SsoService(partners, replay_guard)
        return cls(
            service,
            http,
            environment.keys,
            environment.secrets,
            replay_guard,
            environment.partner_api,
            registry,
            dynamodb,
        )

    def before_snapshot(self) -> None:
        """Warm what every restored copy needs: AWS clients and the JWKS, but no secret."""
        self.keys.warm()
        for source in self.secrets:
            source.warm_client()
        if self.replay_guard is not None:
            self.replay_guard.warm_client()

    def prefetch_during_init(
        self, initialization_type: str | None, *, tracing: bool, bound_seconds: float = BOUND_SECONDS
    ) -> None:
        """On an on-demand INIT, the first sign-in's round trips now, side by side (handler/prefetch.py)."""
        prefetch_during_init(self, initialization_type, tracing=tracing, bound_seconds=bound_seconds)

    def start_prefetch_during_init(
        self, initialization_type: str | None, *, tracing: bool, bound_seconds: float = BOUND_SECONDS
    ) -> Prefetch:
        """``prefetch_during_init`` under way: the caller's imports overlap it; join before INIT ends."""
        return start_prefetch_during_init(
            self, initialization_type, tracing=tracing, bound_seconds=bound_seconds
        )

    def after_restore(self, *, refresh: bool = False) -> None:
        """Renew what a snapshot must not share: connections, cached secrets and keys, randomness.

        ``refresh`` fetches the secret and the key set and opens the Partner API connection
        at once, side by side, rather than one after another on the first request.

        The AWS clients are kept: botocore retries a request whose pooled
        connection went stale, and creating them again would cost what the
        snapshot saved.
        """
        self.http.clear()  # pooled TLS connections are stale (and shared by every copy)
        for source in self.secrets:
            source.forget_value()  # a restore may come long after the value's TTL
        self.keys.after_restore()  # the snapshot's keys count as expired: the next request refetches
        self.service.partners.after_restore()  # registry partners: read and wired again
        random.seed(os.urandom(32))  # every restored copy would otherwise draw the same numbers
        if refresh:  # the secret, the key set and the Partner API connection now, side by side
            refresh_after_restore(self)
