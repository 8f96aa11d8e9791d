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
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3

from handler.config import Config
from handler.keys import HttpFetcher, JwksKeySource
from handler.partner_api import PartnerApiClient
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
from handler.tokens import TokenVerifier

__all__ = ["Container", "new_http_pool"]


def new_http_pool(**pool_options: Any) -> urllib3.PoolManager:
    """The one connection pool for the Partner API and the JWKS (TLS verified).

    Its connections read TLS 1.3 session tickets before urllib3 judges them dropped, so a
    connection opened ahead of its first request is reused (handler/prefetch.py).
    """
    return reading_session_tickets(urllib3.PoolManager(num_pools=4, maxsize=4, retries=False, **pool_options))


@dataclass
class Container:
    """The service and the stateful parts behind it (pool, caches, clients)."""

    service: SsoService
    http: urllib3.PoolManager
    keys: JwksKeySource
    secrets: tuple[SecretSource, ...]
    replay_guard: ReplayGuard | None
    partner_api: PartnerApiClient

    @classmethod
    def build(
        cls,
        config: Config,
        http: urllib3.PoolManager,
        telemetry: Telemetry | None = None,
        secret_client_factory: Callable[[], Any] | None = None,
        dynamodb_client_factory: Callable[[], Any] = dynamodb_client,
        clock: Callable[[], float] = time.time,
    ) -> Container:
        """Wire the service from configuration; nothing is fetched yet.

        ``clock`` is the key cache's (wall) clock: tests cross its refetch cooldown
        and max age without waiting.
        """
        telemetry = telemetry or Telemetry()
        tokens, destination, runtime = config.partner.tokens, config.partner.destination, config.runtime
        client_factory = secret_client_factory or (
            lambda **options: secrets_manager_client(telemetry, **options)
        )
        keys = JwksKeySource(
            HttpFetcher(http),
            tokens.issuers,
            tokens.jwks_url,
            max_age_seconds=runtime.jwks_max_age_seconds,
            stale_seconds=runtime.jwks_stale_seconds,
            clock=clock,
            telemetry=telemetry,
        )
        api_key = SecretSource(destination.api_key_secret_id, client_factory, runtime.secret_cache_seconds)
        hmac_secret = (
            SecretSource(tokens.hs256_secret_id, client_factory, runtime.secret_cache_seconds)
            if tokens.hs256_secret_id
            else None
        )
        partner_api = PartnerApiClient(
            destination.bi_base_url, api_key, http, runtime.partner_api_timeout_seconds, telemetry=telemetry
        )
        replay_guard = (
            ReplayGuard(runtime.replay_table_name, tokens.leeway_seconds, dynamodb_client_factory)
            if runtime.replay_table_name
            else None
        )
        verifier = TokenVerifier(tokens, keys, hmac_secret)
        service = SsoService(destination, verifier, partner_api, replay_guard)
        secrets = (api_key,) if hmac_secret is None else (api_key, hmac_secret)
        return cls(service, http, keys, secrets, replay_guard, partner_api)

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
        random.seed(os.urandom(32))  # every restored copy would otherwise draw the same numbers
        if refresh:  # the secret, the key set and the Partner API connection now, side by side
            refresh_after_restore(self)
