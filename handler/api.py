"""The HTTP API: routes, error mapping, the per-request log line and metrics.

``create_handler`` turns an ``SsoService`` into a Lambda handler;
``build_service`` wires the service's dependencies from configuration. Both take
their parts as arguments, so tests and the local stack pass real local servers.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from typing import Any

import urllib3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from handler import __version__
from handler.config import Config
from handler.errors import NotFound, SsoError
from handler.keys import JwksKeySource
from handler.partner_api import PartnerApiClient
from handler.replay import ReplayGuard, dynamodb_client
from handler.request import sign_in_request, wants_json
from handler.responses import error_response, redirect, redirect_as_json, with_security_headers
from handler.secrets import SecretFetcher, SecretSource, powertools_secrets_provider
from handler.sso import SignIn, SsoService
from handler.tokens import TokenVerifier, peek

LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]
SERVICE = "sso-redirector"


def new_http_pool(**pool_options: Any) -> urllib3.PoolManager:
    """The one connection pool for the Partner API and the JWKS (TLS verified)."""
    return urllib3.PoolManager(num_pools=4, maxsize=4, retries=False, **pool_options)


def build_service(
    config: Config,
    http: urllib3.PoolManager,
    secret_fetcher_factory: Callable[[], SecretFetcher] = powertools_secrets_provider,
    dynamodb_client_factory: Callable[[], Any] = dynamodb_client,
) -> SsoService:
    """The sign-in service and its dependencies, from configuration."""
    keys = JwksKeySource(http, config.issuers, config.jwks_url)
    hmac_secret = (
        SecretSource(config.hs256_secret_id, secret_fetcher_factory, config.secret_cache_seconds)
        if config.hs256_secret_id
        else None
    )
    api_key = SecretSource(config.api_key_secret_id, secret_fetcher_factory, config.secret_cache_seconds)
    verifier = TokenVerifier(config, keys, hmac_secret)
    partner_api = PartnerApiClient(config.bi_base_url, api_key, http, config.partner_api_timeout_seconds)
    replay_guard = (
        ReplayGuard(config.replay_table_name, config.leeway_seconds, dynamodb_client_factory)
        if config.replay_table_name
        else None
    )
    return SsoService(config, verifier, partner_api, replay_guard)


def create_handler(
    config: Config,
    service: SsoService,
    logger: Logger | None = None,
    metrics: Metrics | None = None,
) -> LambdaHandler:
    """The Lambda handler for ``service``: routes, error mapping, logging and metrics."""
    logger = logger or Logger(service=SERVICE)
    metrics = metrics or Metrics(
        namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "BigInterviewSso"
    )
    cors = (
        CORSConfig(
            allow_origin=config.cors_allowed_origins[0],
            extra_origins=list(config.cors_allowed_origins[1:]),
            allow_headers=["Authorization"],
            max_age=600,
        )
        if config.cors_allowed_origins
        else None
    )
    app = APIGatewayHttpResolver(cors=cors)

    def request_id() -> str:
        return app.current_event.request_context.request_id or "-"

    def remaining_seconds() -> float:
        return app.lambda_context.get_remaining_time_in_millis() / 1000

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "service": SERVICE, "version": __version__}

    @app.get("/sso")
    @app.post("/sso")
    def sso() -> Response[str]:
        started = time.perf_counter()
        event = app.current_event
        token = None
        outcome: SignIn | SsoError
        try:
            request = sign_in_request(event)
            token = request.token
            outcome = service.sign_in(request, remaining_seconds)
        except SsoError as error:
            outcome = error
        log_outcome(logger, metrics, outcome, token, started)
        json_wanted = wants_json(event) or bool(event.headers.get("authorization"))
        if isinstance(outcome, SsoError):
            return error_response(outcome, request_id(), json_wanted, config.error_redirect_url)
        if wants_json(event):
            return redirect_as_json(outcome.location)
        return redirect(outcome.location)

    @app.not_found
    def not_found(_: Exception) -> Response[str]:
        return error_response(NotFound(), request_id(), wants_json(app.current_event), None)

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def unexpected(error: Exception) -> Response[str]:
        # The stack trace goes to the log (it holds no request data); the user sees a plain page.
        logger.exception("unexpected error", extra={"outcome": "error", "reason": "internal_error"})
        return error_response(SsoError(), request_id(), wants_json(app.current_event), None)

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    @metrics.log_metrics(capture_cold_start_metric=True)
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return with_security_headers(app.resolve(event, context))

    # The decorators are typed loosely; the wrapped function keeps this signature.
    handler: LambdaHandler = lambda_handler

    return handler


def log_outcome(
    logger: Logger,
    metrics: Metrics,
    outcome: SignIn | SsoError,
    token: str | None,
    started: float,
) -> None:
    """The one summary line per sign-in request, and its metrics. Nothing secret."""
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    if isinstance(outcome, SignIn):
        claims = outcome.claims
        logger.info(
            "sign-in redirected",
            extra={
                "outcome": "redirected",
                "reason": "ok",
                "iss": claims.issuer,
                "kid": claims.kid,
                "jti_sha256": _digest(claims.jti),
                "partner_id": claims.partner_id,
                "partner_status": outcome.partner_status,
                "latency_ms": latency_ms,
            },
        )
        metrics.add_metric(name="SsoRedirect", unit=MetricUnit.Count, value=1)
        return
    seen = peek(token) if token else None
    logger.info(
        "sign-in refused",
        extra={
            "outcome": "refused",
            "reason": outcome.code,
            "status": outcome.status,
            "detail": outcome.detail,
            "iss": seen.issuer if seen else None,
            "kid": seen.kid if seen else None,
            "latency_ms": latency_ms,
        },
    )
    with single_metric(
        name="SsoRefused", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
    ) as metric:
        metric.add_dimension(name="reason", value=outcome.code)


def _digest(value: str | None) -> str | None:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16] if value else None
