"""The composition root: everything built once per execution environment, and how SnapStart renews it.

``Container.build`` wires every kind of sign-in on one spine: one pool, one ``AwsClients``, one
``PartnerWiring``, the partner directory and, with LTI on, the launch service. ``handler()``
imports the routes: the entry point calls it once the INIT prefetch is under way.
"""

from __future__ import annotations

import functools
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import urllib3

from handler.aws_clients import AwsClients
from handler.config import Config
from handler.http_pool import new_http_pool
from handler.partners import (
    ENVIRONMENT_PARTNER,
    PartnerDirectory,
    PartnerRegistry,
    PartnerServices,
    PartnerWiring,
    SinglePartner,
    registry_provider,
)
from handler.prefetch import (
    BOUND_SECONDS,
    Prefetch,
    fetch_ahead,
    fetch_keys_and_secrets,
    fetch_side_by_side,
    open_registry_connection,
)
from handler.replay import ReplayGuard
from handler.sign_in import SsoService
from handler.telemetry import PowertoolsTelemetry, Telemetry, new_telemetry

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from handler.lti.service import Lti
    from handler.routes import LambdaHandler

__all__ = ["Container"]


@dataclass
class Container:
    """The wired services and the stateful parts behind them (pool, clients, caches)."""

    config: Config
    telemetry: Telemetry
    http: urllib3.PoolManager
    clients: AwsClients
    wiring: PartnerWiring
    service: SsoService
    replay_guard: ReplayGuard | None
    registry: PartnerRegistry | None  # PARTNER_REGISTRY_TABLE's partners and LTI registrations
    lti: Lti | None
    initial: tuple[PartnerServices, ...]  # wired from the environment: what INIT may fetch ahead

    @classmethod
    def build(
        cls,
        config: Config,
        http: urllib3.PoolManager | None = None,
        telemetry: Telemetry | None = None,
        *,
        clients: AwsClients | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        registry_provider_factory: Callable[
            [str, Callable[[], Any], Callable[[], float]], Any
        ] = registry_provider,
    ) -> Container:
        """Wire everything from configuration; nothing is fetched yet.

        ``clock`` is the key caches' and LTI's (wall) clock, ``monotonic`` the secret and
        registry caches' clock: tests cross a refetch cooldown or a cache age without waiting.
        ``registry_provider_factory(table, client, monotonic)`` makes the registry's reader.
        """
        runtime = config.runtime
        telemetry = telemetry or new_telemetry(tracing=runtime.tracing)
        http = http or new_http_pool()
        clients = clients or AwsClients(telemetry)
        wiring = PartnerWiring(runtime, http, clients, telemetry, clock, monotonic)
        environment = wiring.wire(ENVIRONMENT_PARTNER, config.partner)
        partners: PartnerDirectory = SinglePartner(environment)
        registry = None
        if runtime.partner_registry_table:
            table = runtime.partner_registry_table
            partners = registry = PartnerRegistry(
                lambda: registry_provider_factory(table, clients.factory("dynamodb"), monotonic),
                wiring,
                cache_seconds=runtime.partner_registry_cache_seconds,
                environment_partner=environment,
                loopback_base_urls=runtime.registry_loopback_base_urls,
                stale_seconds=runtime.partner_registry_stale_seconds,
                clock=monotonic,
                # Not with tracing on: the fetches' threads would be missing from the request's trace.
                fetch_ahead=None if runtime.tracing else functools.partial(fetch_side_by_side, http),
            )
        replay_guard = None
        if runtime.replay_table_name:
            leeway = config.partner.tokens.leeway_seconds
            replay_guard = ReplayGuard(runtime.replay_table_name, leeway, clients.factory("dynamodb"))
        initial = [environment]
        lti = None
        if config.lti is not None:
            # Imported only with LTI on: cold start a partner-only deployment never pays.
            from handler.lti.service import wire_lti

            ahead = None if runtime.tracing else fetch_keys_and_secrets  # as the registry's, above
            lti = wire_lti(config.lti, wiring, clients, registry, clock, ahead)
            if config.lti.registration is not None:
                initial.append(lti.service.wire(config.lti.registration))
        service = SsoService(partners, replay_guard)
        return cls(
            config, telemetry, http, clients, wiring, service, replay_guard, registry, lti, tuple(initial)
        )

    def handler(
        self, resolver: APIGatewayHttpResolver | None = None, logger: Logger | None = None
    ) -> LambdaHandler:
        """The Lambda handler on these services (``resolver``: where the routes go, e.g. openapi's)."""
        from handler.routes import create_handler

        # Metrics need Powertools' telemetry; a test's counting one reports its components only.
        telemetry = self.telemetry if isinstance(self.telemetry, PowertoolsTelemetry) else None
        return create_handler(self.config, self.service, telemetry, logger, resolver, lti=self.lti)

    @property
    def services(self) -> tuple[str, ...]:
        """The AWS services this configuration calls."""
        uses_dynamodb = self.replay_guard or self.registry or self.lti
        kms = ("kms",) if self.lti and self.lti.tool_key else ()
        return ("secretsmanager", *(("dynamodb",) if uses_dynamodb else ()), *kms)

    def prefetch(
        self,
        initialization_type: str | None,
        *,
        tracing: bool | None = None,
        bound_seconds: float = BOUND_SECONDS,
    ) -> Prefetch:
        """INIT's work ahead of the first request, by Lambda's initialization type (handler/prefetch.py).

        Returns with the network still under way; the caller joins before INIT ends.
        """
        prefetch = Prefetch(bound_seconds)
        tracing = self.config.runtime.tracing if tracing is None else tracing
        if tracing or initialization_type == "snap-start":
            return prefetch
        if initialization_type == "on-demand":
            registry = self.config.runtime.partner_registry_table
            if registry:  # what every registry partner shares: the DynamoDB connection
                dynamodb = self.clients.factory("dynamodb")
                prefetch.start("dynamodb", functools.partial(open_registry_connection, dynamodb, registry))
            # A registry partner's secret is read later on the shared client: read these on it
            # too, so its connection is open and Secrets Manager has one connection.
            fetch_ahead(
                prefetch, self.http, self.clients, self.initial, self.services, shared_secrets=bool(registry)
            )
        elif initialization_type == "provisioned-concurrency":
            self.clients.warm(*self.services)
        return prefetch

    def before_snapshot(self) -> None:
        """Warm what every restored copy needs: AWS clients and the public key sets, but no secret."""
        for partner in self.initial:
            partner.keys.warm()
        self.clients.warm(*self.services)

    def after_restore(self, *, refresh: bool = False) -> None:
        """Renew what a snapshot must not share: connections, cached secrets and keys, randomness.

        ``refresh`` fetches the secrets and key sets and opens the Partner API connection now,
        side by side. The AWS clients are kept: botocore retries on a stale pooled connection.
        """
        self.http.clear()  # pooled TLS connections are stale (and shared by every copy)
        self.wiring.after_restore()  # a restore may come long after the values' lifetimes
        self.service.partners.after_restore()  # registry partners: read and wired again
        random.seed(os.urandom(32))  # every restored copy would otherwise draw the same numbers
        if refresh:
            prefetch = Prefetch()
            registry = bool(self.config.runtime.partner_registry_table)
            fetch_ahead(prefetch, self.http, self.clients, self.initial, shared_secrets=registry)
            prefetch.join()
