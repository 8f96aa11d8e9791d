"""The LTI routes on the function's resolver: ``/lti/login``, ``/lti/launch``, ``/lti/jwks``.

``register_lti_routes`` adds them to the resolver ``handler.routes`` builds, so
they share its log context, metrics, security headers and error handling. Each
login and launch is one log line, as each ``/sso`` request is; it never holds
the ``id_token``, the state, the nonce, the SSO token, a name or an email.
"""

from __future__ import annotations

import json
import time

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from handler import api_description
from handler.config import DEFAULT_TROUBLESHOOTING_URL
from handler.errors import NotFound, SsoError
from handler.lti.errors import LtiBadRequest
from handler.lti.service import Launched, LoginAnswer, LtiRefusal, LtiService, our_origin, state_cookie_name
from handler.lti.tool_key import KmsToolKey
from handler.request import form_fields, wants_json
from handler.responses import error_response, redirect
from handler.telemetry import Telemetry

__all__ = ["LTI_TROUBLESHOOTING_URL", "register_lti_routes"]

# Error pages link to the code's row of the LMS administrator's guide.
LTI_TROUBLESHOOTING_URL = DEFAULT_TROUBLESHOOTING_URL.replace("partner-guide.md", "lti.md")
# The partner flow's page policy, except that any page may frame it: LMSs open tools in a
# frame, and a refusal the student cannot see (frame-ancestors 'none') helps no one. The
# page has no form, script or button to trick anyone into, so framing it risks nothing.
LTI_PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *; base-uri 'none'; form-action 'none'"
)


def _state_cookie(name: str, value: str, max_age: int) -> Cookie:
    # SameSite=None: the platform's form post to /lti/launch is a cross-site request.
    # Partitioned (CHIPS) keeps the cookie usable when the launch runs in an LMS frame in
    # browsers that block unpartitioned third-party cookies.
    # Path=/ and no Domain: what the name's __Host- prefix requires (state_cookie_name).
    return Cookie(
        name,
        value,
        path="/",
        secure=True,
        http_only=True,
        same_site=SameSite.NONE_MODE,
        max_age=max_age,
        custom_attributes=["Partitioned"],
    )


def register_lti_routes(
    app: APIGatewayHttpResolver,
    service: LtiService,
    tool_key: KmsToolKey | None,
    logger: Logger,
    telemetry: Telemetry,
    state_lifetime_seconds: int,
) -> None:
    """Add the LTI routes to ``app`` (``handler.routes.create_handler`` calls this)."""

    def request_id() -> str:
        return app.current_event.request_context.request_id or "-"

    def remaining_seconds() -> float:
        return app.lambda_context.get_remaining_time_in_millis() / 1000

    def refused(refusal: LtiRefusal, started: float, step: str, state: str = "") -> Response[str]:
        error = refusal.error
        _log(logger, telemetry, step, started, error=error, refusal=refusal)
        response = error_response(
            error,
            request_id(),
            wants_json(app.current_event),
            None,
            LTI_TROUBLESHOOTING_URL,
            reader="the learning platform's administrator",
        )
        if (response.content_type or "").startswith("text/html"):
            response.headers["Content-Security-Policy"] = LTI_PAGE_POLICY
        if refusal.clear_cookie:
            response.cookies.append(_state_cookie(state_cookie_name(state), "", 0))
        return response

    @app.get("/lti/login", **api_description.LTI_LOGIN_GET)
    @app.post("/lti/login", **api_description.LTI_LOGIN_POST)
    def lti_login() -> Response[str]:
        started = time.perf_counter()
        event = app.current_event
        try:
            params = _single_values(form_fields(event)) if event.request_context.http.method == "POST" else {}
            params = {**(event.query_string_parameters or {}), **params}
        except SsoError as error:
            return refused(LtiRefusal(error), started, "login")
        answer = service.login(params, our_origin(event.headers.get("host", "")))
        if isinstance(answer, LtiRefusal):
            return refused(answer, started, "login")
        assert isinstance(answer, LoginAnswer)
        _log(logger, telemetry, "login", started)
        response = redirect(answer.location)
        response.cookies.append(
            _state_cookie(state_cookie_name(answer.state), answer.binding, state_lifetime_seconds)
        )
        return response

    @app.post("/lti/launch", **api_description.LTI_LAUNCH)
    def lti_launch() -> Response[str]:
        started = time.perf_counter()
        event = app.current_event
        try:
            form = _single_values(form_fields(event))
        except SsoError as error:
            return refused(LtiRefusal(error), started, "launch")
        cookies = dict(cookie.partition("=")[::2] for cookie in event.cookies or [])

        def binding_for(state: str) -> str | None:
            return cookies.get(state_cookie_name(state)) or None

        outcome = service.launch(
            form, binding_for, our_origin(event.headers.get("host", "")), remaining_seconds
        )
        if isinstance(outcome, LtiRefusal):
            return refused(outcome, started, "launch", form.get("state", ""))
        assert isinstance(outcome, Launched)
        _log(logger, telemetry, "launch", started, launched=outcome)
        response = redirect(outcome.location)
        response.cookies.append(_state_cookie(state_cookie_name(form["state"]), "", 0))
        return response

    @app.get("/lti/jwks", **api_description.LTI_JWKS)
    def lti_jwks() -> Response[str]:
        if tool_key is None:
            return error_response(NotFound(), request_id(), wants_json(app.current_event), None)
        try:
            document = tool_key.jwks()
        except SsoError as error:
            logger.info(
                "tool key unavailable",
                extra={"outcome": "refused", "reason": error.code, "detail": error.log_detail},
            )
            return error_response(error, request_id(), True, None, LTI_TROUBLESHOOTING_URL)
        return Response(status_code=200, content_type="application/json", body=json.dumps(document))


def _single_values(fields: dict[str, list[str]]) -> dict[str, str]:
    """One value per form field; a field given twice with different values is refused."""
    single = {}
    for name, values in fields.items():
        if len(set(values)) > 1:
            raise LtiBadRequest(f"{name[:40]} is given more than once")
        single[name] = values[0]
    return single


def _log(
    logger: Logger,
    telemetry: Telemetry,
    step: str,
    started: float,
    *,
    error: SsoError | None = None,
    refusal: LtiRefusal | None = None,
    launched: Launched | None = None,
) -> None:
    """One line per login or launch; nothing secret (no token, state, nonce, name or email)."""
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    if error is None:
        claims = launched.claims if launched else None
        logger.info(
            f"lti {step} {'redirected' if launched else 'answered'}",
            extra={
                "outcome": "redirected",
                "reason": "ok",
                "flow": "lti",
                "step": step,
                "iss": claims.issuer if claims else None,
                "kid": claims.kid if claims else None,
                "deployment_id": claims.deployment_id if claims else None,
                "partner_id": claims.partner_id if claims else None,
                "partner_status": launched.partner_status if launched else None,
                "latency_ms": latency_ms,
            },
        )
        if launched:
            telemetry.redirected()
        return
    seen = refusal.token if refusal else None
    verified = refusal.claims if refusal else None
    logger.info(
        f"lti {step} refused",
        extra={
            "outcome": "refused",
            "reason": error.code,
            "status": error.status,
            "flow": "lti",
            "step": step,
            "detail": error.log_detail,
            "expected": error.expected,
            "found": error.found,
            "iss": seen.issuer if seen else None,
            "kid": seen.kid if seen else None,
            "partner_id": verified.partner_id if verified else None,
            "partner_status": error.partner_status,
            "latency_ms": latency_ms,
        },
    )
    telemetry.refused(error.code)
