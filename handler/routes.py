"""The HTTP routes: ``/health`` and ``/sso``, error mapping, the per-request log line and metrics.

``create_handler`` turns an ``SsoService`` (and LTI, when on) into a Lambda handler: the
routes of an ``APIGatewayHttpResolver``, one summary log line per request of every kind
of sign-in (``log_outcome``), and the Powertools decorators for the correlation id,
metrics and (optionally) tracing.
"""

from __future__ import annotations

import functools
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
from handler.request import remaining_seconds, request_id, sign_in_request, wants_json
from handler.responses import error_response, redirect, redirect_as_json, with_security_headers
from handler.sign_in import Refusal, SignIn, SsoService
from handler.telemetry import (
    SERVICE,
    PowertoolsTelemetry,
    Telemetry,
    keep_secrets_out_of_library_logs,
    new_telemetry,
)
from handler.tokens import VerifiedToken

if TYPE_CHECKING:
    from handler.lti.service import Lti

__all__ = ["LambdaHandler", "create_handler", "log_outcome"]

LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def create_handler(
    config: Config,
    service: SsoService,
    telemetry: PowertoolsTelemetry | None = None,
    logger: Logger | None = None,
    resolver: APIGatewayHttpResolver | None = None,
    lti: Lti | None = None,
) -> LambdaHandler:
    """The Lambda handler for ``service``: routes, error mapping, logging and metrics.

    ``resolver``: where the routes go (``infra.tools.openapi`` passes its own); ``lti``: LTI's too.
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
            outcome = service.sign_in(request, functools.partial(remaining_seconds, app))
        label = None
        if service.partners.labelled:  # registry mode: by registry id, or "unknown" before one is found
            label = outcome.partner.partner_id if outcome.partner is not None else UNKNOWN_PARTNER
            if isinstance(outcome, Refusal) and isinstance(outcome.error, InvalidRecord):
                label = outcome.error.partner_id  # no services, but the broken record's own id
        log_outcome(logger, telemetry, outcome, started, label=label)
        prefers_json = wants_json(event)
        if isinstance(outcome, Refusal):
            # A Bearer caller is a script or a single-page app: it gets JSON errors too.
            json_errors = prefers_json or bool(event.headers.get("authorization"))
            # The token's partner's error pages; before a partner is known, the deployment's.
            pages = (outcome.partner.partner.destination if outcome.partner else destination).pages
            return error_response(
                outcome.error, request_id(app), json_errors, pages, link_spent=outcome.link_spent
            )
        if prefers_json:
            return redirect_as_json(outcome.location)
        return redirect(outcome.location)

    if lti is not None:
        from handler.lti.routes import register_lti_routes  # imported only with LTI on (cold start)

        register_lti_routes(app, lti, functools.partial(log_outcome, logger, telemetry))

    @app.not_found
    def not_found(_: Exception) -> Response[str]:
        return error_response(NotFound(), request_id(app), wants_json(app.current_event))

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def unexpected(error: Exception) -> Response[str]:
        # The stack trace goes to the log (it holds no request data); the user sees a plain page.
        logger.exception("unexpected error", extra={"outcome": "error", "reason": "internal_error"})
        return error_response(SsoError(), request_id(app), wants_json(app.current_event))

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


def log_outcome(
    logger: Logger,
    telemetry: Telemetry,
    outcome: SignIn | Refusal | None,
    started: float,
    *,
    flow: str = "sso",
    step: str = "sign-in",
    label: str | None = None,
) -> None:
    """The one summary line per request of every kind of sign-in, and its metrics. Nothing secret.

    ``outcome`` None: a step that answered without a sign-in (an LTI login). ``label``
    (registry mode): the partner's registry id, a bounded set, in the line and the metrics.
    """
    common = {"flow": flow, "step": step, **({} if label is None else {"partner": label})}
    what = "sign-in" if flow == "sso" else f"{flow} {step}"
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    if not isinstance(outcome, Refusal):
        claims = outcome.claims if outcome else None
        logger.info(
            f"{what} {'answered' if outcome is None else 'redirected'}",
            extra={
                "outcome": "redirected",
                "reason": "ok",
                **common,
                **_claim_fields(claims),
                "partner_status": outcome.partner_status if outcome else None,
                "latency_ms": latency_ms,
            },
        )
        if outcome is not None:
            telemetry.redirected(label)
        return
    error, seen = outcome.error, outcome.token
    logger.info(
        f"{what} refused",
        extra={
            "outcome": "refused",
            "reason": error.code,
            "status": error.status,
            **common,
            "detail": error.log_detail,
            "expected": error.expected,
            "found": error.found,
            **_claim_fields(outcome.claims),
            "iss": seen.issuer if seen else None,
            "kid": seen.kid if seen else None,
            "partner_status": error.partner_status,
            "latency_ms": latency_ms,
        },
    )
    telemetry.refused(error.code, label)


def _claim_fields(claims: VerifiedToken | None) -> dict[str, Any]:
    """What the line says of verified claims: never a profile claim, the jti only as a digest."""
    if claims is None:
        return {"iss": None, "kid": None, "jti_sha256": None, "partner_id": None}
    deployment_id = getattr(claims, "deployment_id", None)  # an LTI launch's
    return {
        "iss": claims.issuer,
        "kid": claims.kid,
        "jti_sha256": _digest(claims.jti),
        "partner_id": claims.partner_id,
        **({} if deployment_id is None else {"deployment_id": deployment_id}),
    }


def _digest(value: str | None) -> str | None:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16] if value else None
