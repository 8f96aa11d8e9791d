"""The LTI routes on the function's resolver: ``/lti/login``, ``/lti/launch``, ``/lti/jwks``.

``register_lti_routes`` adds them to the resolver ``handler.routes`` builds, so they share
its log line (``log`` is ``handler.routes.log_outcome``), metrics, security headers and
error pages (``LTI_PAGES``: the platform administrator's). What is LTI's here: the
state cookie, and the form's parameters. With deep linking on, ``/lti/deep-link`` (POST)
takes the instructor's choice from the picker (``handler.lti.deep_linking``).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from handler import api_description
from handler.errors import NotFound, SsoError
from handler.lti.errors import LtiBadRequest, StateCookieMissing
from handler.lti.service import LAUNCH_PATH, LTI_PAGES, Lti, ReadBinding, our_origin, state_cookie_name
from handler.lti.storage import (
    launch_page,
    login_page,
    new_window_page,
    new_window_page_policy,
    storage_page_policy,
)
from handler.request import form_fields, remaining_seconds, request_id, single_values, wants_json
from handler.responses import error_response, redirect
from handler.sign_in import Refusal, SignIn

if TYPE_CHECKING:
    from handler.lti.deep_linking import DeepLinking

__all__ = ["LTI_GUIDE", "register_lti_routes"]

# Error pages name the code's row of the LMS administrator's guide.
LTI_GUIDE = LTI_PAGES.guide


# ``handler.routes.log_outcome`` with its logger and telemetry: (outcome, started, flow=, step=).
Log = Callable[..., None]


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


def _page(status: int, page: str, policy: str) -> Response[str]:
    """One of the pages LTI shows in the LMS's frame, with its own CSP."""
    headers = {"Content-Security-Policy": policy}
    return Response(status_code=status, content_type="text/html; charset=utf-8", body=page, headers=headers)


def register_lti_routes(app: APIGatewayHttpResolver, lti: Lti, log: Log) -> None:
    """Add the LTI routes to ``app`` (``handler.routes.create_handler`` calls this)."""

    def refused(refusal: Refusal, started: float, step: str, state: str = "") -> Response[str]:
        log(refusal, started, flow="lti", step=step)
        pages = refusal.partner.partner.destination.pages if refusal.partner else LTI_PAGES
        response = error_response(refusal.error, request_id(app), wants_json(app.current_event), pages)
        if refusal.clear_cookie:
            response.cookies.append(_state_cookie(state_cookie_name(state), "", 0))
        return response

    @app.get("/lti/login", **api_description.LTI_LOGIN_GET)
    @app.post("/lti/login", **api_description.LTI_LOGIN_POST)
    def lti_login() -> Response[str]:
        started = time.perf_counter()
        event = app.current_event
        try:
            params = (
                single_values(form_fields(event), LtiBadRequest)
                if event.request_context.http.method == "POST"
                else {}
            )
            params = {**(event.query_string_parameters or {}), **params}
        except SsoError as error:
            return refused(Refusal(error), started, "login")
        answer = lti.service.login(params, our_origin(event.headers.get("host", "")))
        if isinstance(answer, Refusal):
            return refused(answer, started, "login")
        log(None, started, flow="lti", step="login")
        if answer.storage_target is None:
            response = redirect(answer.location)
        else:
            # The cookie is set as well: where the frame keeps it, the launch uses it first.
            page = login_page(
                answer.state, answer.binding, answer.storage_target, answer.auth_url, answer.location
            )
            response = _page(200, page, storage_page_policy())
        lifetime = lti.states.lifetime_seconds
        response.cookies.append(_state_cookie(state_cookie_name(answer.state), answer.binding, lifetime))
        return response

    @app.post("/lti/launch", **api_description.LTI_LAUNCH)
    def lti_launch() -> Response[str]:
        started = time.perf_counter()
        event = app.current_event
        try:
            form = single_values(form_fields(event), LtiBadRequest)
        except SsoError as error:
            return refused(Refusal(error), started, "launch")
        cookies = dict(cookie.partition("=")[::2] for cookie in event.cookies or [])

        def binding_for(state: str) -> str | None:
            return cookies.get(state_cookie_name(state)) or None

        host = our_origin(event.headers.get("host", ""))
        outcome = lti.service.launch(
            form,
            binding_for,
            host,
            functools.partial(remaining_seconds, app),
            query=event.query_string_parameters or {},
            posted_from=event.headers.get("origin"),
            # Fetch Metadata: the browser says the launch loads in a frame.
            framed=event.headers.get("sec-fetch-dest") == "iframe",
        )
        if isinstance(outcome, Refusal):
            missing = outcome.error if isinstance(outcome.error, StateCookieMissing) else None
            again = lti.service.relogin(form.get("state", "")) if missing and not wants_json(event) else None
            if missing and again:
                # The same login again, top-level in a new window: there the cookie is first-party.
                log(outcome, started, flow="lti", step="launch")
                page = new_window_page(
                    missing.message, missing.code, request_id(app), again.login, f"{host}/lti/login"
                )
                return _page(missing.status, page, new_window_page_policy(again.platform_origin))
            return refused(outcome, started, "launch", form.get("state", ""))
        if isinstance(outcome, ReadBinding):
            log(None, started, flow="lti", step="launch_storage")
            action = f"{host}{LAUNCH_PATH}"
            page = launch_page(
                form["id_token"], form["state"], outcome.target, outcome.platform_origin, action
            )
            return _page(200, page, storage_page_policy(outcome.destination_origin))
        if isinstance(outcome, SignIn):
            log(outcome, started, flow="lti", step="launch")
            response = redirect(outcome.location)
        else:  # an instructor's deep-linking request: the picker
            log(None, started, flow="lti", step="deep_link_request")
            response = _page(outcome.status, outcome.body, outcome.policy)
        response.cookies.append(_state_cookie(state_cookie_name(form["state"]), "", 0))
        return response

    if lti.service.deep_linking is not None:
        _register_deep_linking(app, lti.service.deep_linking, lti.service.clock, refused, log)

    @app.get("/lti/jwks", **api_description.LTI_JWKS)
    def lti_jwks() -> Response[str]:
        if lti.tool_key is None:
            return error_response(NotFound(), request_id(app), wants_json(app.current_event))
        try:
            document = lti.tool_key.jwks()
        except SsoError as error:
            log(Refusal(error), time.perf_counter(), flow="lti", step="jwks")
            return error_response(error, request_id(app), True, LTI_PAGES)
        return Response(status_code=200, content_type="application/json", body=json.dumps(document))


def _register_deep_linking(
    app: APIGatewayHttpResolver,
    deep_linking: DeepLinking,
    clock: Callable[[], float],
    refused: Callable[..., Response[str]],
    log: Log,
) -> None:
    """``/lti/deep-link``: the picker's form post, answered with the page that returns the signed choice."""
    from handler.lti.deep_linking import CHOOSE_PATH

    @app.post(CHOOSE_PATH)
    def lti_deep_link() -> Response[str]:
        started = time.perf_counter()
        event = app.current_event
        try:
            page = deep_linking.choose(
                form_fields(event),
                our_origin(event.headers.get("host", "")),
                event.headers.get("origin"),
                clock(),
            )
        except SsoError as error:
            return refused(Refusal(error), started, "deep_link_response")
        log(None, started, flow="lti", step="deep_link_response")
        return _page(page.status, page.body, page.policy)
