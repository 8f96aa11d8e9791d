"""The HTTP routes: ``/health`` and ``/sso``, error mapping, the per-request log line and metrics.

``create_handler`` turns an ``SsoService`` into a Lambda handler: the routes of
an ``APIGatewayHttpResolver``, one summary log line per request, and the
Powertools decorators for the correlation id, metrics and (optionally) tracing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from handler import __version__, api_description
from handler.config import Config
from handler.errors import NotFound, SsoError
from handler.partners import UNKNOWN_PARTNER, InvalidRecord
from handler.request import sign_in_request, wants_json
from handler.responses import error_response, redirect, redirect_as_json, with_security_headers
from handler.sign_in import Refusal, SignIn, SsoService
from handler.telemetry import (
    SERVICE,
    PowertoolsTelemetry,
    Telemetry,
    keep_secrets_out_of_library_logs,
    new_telemetry,
)

if TYPE_CHECKING:
    from handler.lti.setup import LtiSetup

__all__ = ["LambdaHandler", "create_handler"]

LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def create_handler(
    config: Config,
    service: SsoService,
    telemetry: PowertoolsTelemetry | None = None,
    logger: Logger | None = None,
    resolver: APIGatewayHttpResolver | None = None,
    lti: LtiSetup | None = None,
) -> LambdaHandler:
    """The Lambda handler for ``service``: routes, error mapping, logging and metrics.

    ``resolver`` is where the routes are registered (default: a new one);
    ``infra.tools.openapi`` passes its own to describe the routes. ``lti``: LTI
    launches are on, and their routes are added (``handler.lti.routes``).
    """
    keep_secrets_out_of_library_logs()  # during INIT, before the first request
    destination = config.partner.destination
    logger = logger or Logger(service=SERVICE)
    telemetry = telemetry or new_telemetry()
    metrics = telemetry.metrics
    # No CORS here: the HTTP API's CorsConfiguration (template.yaml) answers preflights and
    # sets the CORS headers; API Gateway ignores any a function sends.
    # debug=False: POWERTOOLS_DEV or POWERTOOLS_EVENT_HANDLER_DEBUG would print each event (the JWT).
    app = resolver if resolver is not None else APIGatewayHttpResolver(debug=False)

    def request_id() -> str:
        return app.current_event.request_context.request_id or "-"

    def remaining_seconds() -> float:
        return app.lambda_context.get_remaining_time_in_millis() / 1000

    @app.get("/health", **api_description.HEALTH)
    def health() -> dict[str, str]:
        return {"status": "ok", "service": SERVICE, "version": __version__}

    @app.get("/sso", **api_description.SSO_GET)
    @app.post("/sso", **api_description.SSO_POST)
    def sso() -> Response[str]:
        started = time.perf_counter()
        event = app.current_event
        outcome: SignIn | Refusal
        try:
            request = sign_in_request(event)
        except SsoError as error:
            outcome = Refusal(error)
        else:
            outcome = service.sign_in(request, remaining_seconds)
        _log_outcome(logger, telemetry, outcome, started, service.partners.labelled)
        prefers_json = wants_json(event)
        if isinstance(outcome, Refusal):
            # A Bearer caller is a script or a single-page app: it gets JSON errors too.
            json_errors = prefers_json or bool(event.headers.get("authorization"))
            # The token's partner's error pages; before a partner is known, the deployment's.
            pages = outcome.partner.partner.destination if outcome.partner else destination
            return error_response(
                outcome.error,
                request_id(),
                json_errors,
                pages.error_redirect_url,
                pages.troubleshooting_url,
                link_spent=outcome.link_spent,
            )
        if prefers_json:
            return redirect_as_json(outcome.location)
        return redirect(outcome.location)

    if lti is not None:
        from handler.lti.routes import register_lti_routes  # imported only with LTI on (cold start)

        register_lti_routes(app, lti.service, lti.tool_key, logger, telemetry, lti.state_lifetime_seconds)

    @app.not_found
    def not_found(_: Exception) -> Response[str]:
        return error_response(NotFound(), request_id(), wants_json(app.current_event), None)

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def unexpected(error: Exception) -> Response[str]:
        # The stack trace goes to the log (it holds no request data); the user sees a plain page.
        logger.exception("unexpected error", extra={"outcome": "error", "reason": "internal_error"})
        return error_response(SsoError(), request_id(), wants_json(app.current_event), None)

    # log_event=False: POWERTOOLS_LOGGER_LOG_EVENT=true would otherwise log each event (the JWT).
    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
    @metrics.log_metrics(capture_cold_start_metric=True)
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return with_security_headers(app.resolve(event, context))

    if telemetry.tracer is not None:
        # The response holds the SSO login URL: never put it in a trace.
        lambda_handler = telemetry.tracer.capture_lambda_handler(capture_response=False)(lambda_handler)

    # The decorators are typed loosely; the wrapped function keeps this signature.
    handler: LambdaHandler = lambda_handler

    return handler


def _log_outcome(
    logger: Logger, telemetry: Telemetry, outcome: SignIn | Refusal, started: float, labelled: bool
) -> None:
    """The one summary line per sign-in request, and its metrics. Nothing secret.

    ``labelled`` (registry mode): the line and the metrics name the partner, by its
    registry id (``partner``), or ``unknown`` before one is found: a bounded set.
    """
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    label = None
    if labelled:
        label = outcome.partner.partner_id if outcome.partner is not None else UNKNOWN_PARTNER
        if isinstance(outcome, Refusal) and isinstance(outcome.error, InvalidRecord):
            label = outcome.error.partner_id  # no services, but the broken record's own id
    partner_field = {} if label is None else {"partner": label}
    if isinstance(outcome, SignIn):
        claims = outcome.claims
        logger.info(
            "sign-in redirected",
            extra={
                "outcome": "redirected",
                "reason": "ok",
                **partner_field,
                "iss": claims.issuer,
                "kid": claims.kid,
                "jti_sha256": _digest(claims.jti),
                "partner_id": claims.partner_id,
                "partner_status": outcome.partner_status,
                "latency_ms": latency_ms,
            },
        )
        telemetry.redirected(label)
        return
    error, seen, verified = outcome.error, outcome.token, outcome.claims
    logger.info(
        "sign-in refused",
        extra={
            **partner_field,
            "outcome": "refused",
            "reason": error.code,
            "status": error.status,
            "detail": error.log_detail,
            "expected": error.expected,
            "found": error.found,
            "iss": seen.issuer if seen else None,
            "kid": seen.kid if seen else None,
            "jti_sha256": _digest(verified.jti) if verified else None,
            "partner_id": verified.partner_id if verified else None,
            "partner_status": error.partner_status,
            "latency_ms": latency_ms,
        },
    )
    telemetry.refused(error.code, label)


def _digest(value: str | None) -> str | None:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16] if value else None
