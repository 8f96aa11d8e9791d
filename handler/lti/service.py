"""The launch, free of Lambda and HTTP: a login in, a redirect out; an id_token in, Big Interview out.

``LtiService.login`` answers a platform's third-party initiated login (LTI 1.3
Core §5.1.1 / Security Framework §5.1.1) with the authentication request to
the platform's authorization endpoint, and the state it issued.
``LtiService.launch`` checks the form-posted ``id_token`` and ``state`` and,
last, calls the Partner API. Like ``SsoService.sign_in`` they never raise a
refusal: they answer with a value. Every part that holds state (key sets,
secrets, Partner API clients) is made once per registration and kept.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3

from handler.errors import ProfileRequired, SsoError
from handler.keys import HttpFetcher, JwksKeySource
from handler.lti.claims import LaunchVerifier, VerifiedLaunch
from handler.lti.errors import (
    LtiBadRequest,
    LtiProfileNotReleased,
    LtiRegistrationUnavailable,
    StateRefused,
    TargetLinkElsewhere,
    UnknownDeployment,
    UnknownRegistration,
)
from handler.lti.registrations import LtiRegistration, RegistrationSource, RegistrationUnavailable
from handler.lti.state import LaunchStates, digest
from handler.partner_api import PROFILE_FIELDS, PartnerApiClient
from handler.redirects import check_redirect_to, sso_login_url
from handler.secret_source import SecretSource
from handler.telemetry import Telemetry
from handler.tokens import UnverifiedToken, parse_token
from handler.untrusted import split_url
from handler.url_rules import is_loopback_host

__all__ = ["LAUNCH_PATH", "Launched", "LoginAnswer", "LtiRefusal", "LtiRuntime", "LtiService", "our_origin"]

LAUNCH_PATH = "/lti/launch"
_MAX_PARAMETER = 2048
# Where each platform releases the names and email to a tool (docs/lti.md says more).
PRIVACY_SETTINGS = (
    "Canvas: the developer key's Privacy Level must be Public; Moodle: the tool's Privacy settings "
    "'Share launcher's name with tool' and 'Share launcher's email with tool' must be Always; "
    "Blackboard Learn: the LTI 1.3 tool's User Fields to Send must include Name and Email Address; "
    "D2L Brightspace: the deployment's Security Settings must include Name and Email"
)


@dataclass(frozen=True)
class LtiRuntime:
    """The deployment-wide settings of LTI launches (the partner flow's ``Runtime`` has the rest)."""

    partner_api_timeout_seconds: float = 5.0
    secret_cache_seconds: int = 300
    jwks_max_age_seconds: int = 600
    jwks_stale_seconds: int = 86400
    leeway_seconds: int = 30


@dataclass(frozen=True)
class LoginAnswer:
    """The authentication request to send the browser to, and the cookie binding it to this browser."""

    location: str = field(repr=False)  # carries the state and nonce
    state: str = field(repr=False, default="")
    binding: str = field(repr=False, default="")


@dataclass(frozen=True)
class Launched:
    """A completed launch: where to send the browser, and what to log about it."""

    location: str = field(repr=False)  # carries the SSO token
    claims: VerifiedLaunch
    partner_status: int


@dataclass(frozen=True)
class LtiRefusal:
    """A login or launch that cannot happen, and what was known where it was refused."""

    error: SsoError
    token: UnverifiedToken | None = None
    claims: VerifiedLaunch | None = None
    clear_cookie: bool = False  # the state was used: its cookie is of no more use


def our_origin(host: str) -> str | None:
    """This service's origin as the browser reached it: https, or http on a loopback host (``make dev``)."""
    try:
        hostname = split_url(f"//{host}").hostname if host else None
    except ValueError:  # a Host header such as "[" (an unclosed IPv6 bracket): not ours
        return None
    if not hostname:
        return None
    return f"{'http' if is_loopback_host(hostname) else 'https'}://{host.lower()}"


def state_cookie_name(state: str) -> str:
    """One cookie per login, so launches started in two tabs do not overwrite each other's.

    ``__Host-``: the browser accepts it only Secure, with Path=/ and no Domain, from this
    very host, so no sibling subdomain of a custom domain can plant one (RFC 6265bis).
    """
    return f"__Host-lti-state-{digest(state)[:16]}"


class LtiService:
    """Login initiations and launches for the registrations a ``RegistrationSource`` knows."""

    def __init__(
        self,
        registrations: RegistrationSource,
        states: LaunchStates,
        http: urllib3.PoolManager,
        secret_client_factory: Callable[[], Any],
        runtime: LtiRuntime = LtiRuntime(),
        telemetry: Telemetry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._registrations = registrations
        self._states = states
        self._http = http
        self._secret_client_factory = secret_client_factory
        self._runtime = runtime
        self._telemetry = telemetry or Telemetry()
        self._clock = clock
        self._lock = threading.Lock()
        # Made once per registration (or per secret / base URL) and kept: caches live in them.
        self._verifiers: dict[LtiRegistration, LaunchVerifier] = {}
        self._key_sources: dict[tuple[str, str], JwksKeySource] = {}
        self._secrets: dict[str, SecretSource] = {}
        self._partner_apis: dict[tuple[str, str], PartnerApiClient] = {}

    # ---- /lti/login -------------------------------------------------------------------------
    def login(self, params: dict[str, str], origin: str | None) -> LoginAnswer | LtiRefusal:
        try:
            return self._login(params, origin)
        except SsoError as error:
            return LtiRefusal(error)

    def _login(self, params: dict[str, str], origin: str | None) -> LoginAnswer:
        issuer, login_hint, target_link_uri = (
            _required(params, name) for name in ("iss", "login_hint", "target_link_uri")
        )
        client_id = _optional(params, "client_id")
        deployment_id = _optional(params, "lti_deployment_id")
        message_hint = _optional(params, "lti_message_hint")
        registration = self._registration(issuer, client_id)
        if deployment_id is not None and deployment_id not in registration.deployment_ids:
            raise UnknownDeployment(
                f"lti_deployment_id {deployment_id[:200]!r} is not one this registration allows: "
                "add it to the registration",
                expected=list(registration.deployment_ids),
                found=deployment_id[:200],
            )
        origin = _check_on_our_host(target_link_uri, origin)
        state, nonce, binding = (secrets.token_urlsafe(32) for _ in range(3))
        self._states.issue(state, nonce, binding, registration.issuer, registration.client_id, self._clock())
        request = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": registration.client_id,
            "redirect_uri": origin + LAUNCH_PATH,
            "login_hint": login_hint,
            "state": state,
            "nonce": nonce,
        }
        if message_hint is not None:
            request["lti_message_hint"] = message_hint  # echoed unchanged; only the platform reads it
        separator = "&" if urlsplit(registration.auth_url).query else "?"
        return LoginAnswer(registration.auth_url + separator + urlencode(request), state, binding)

    # ---- /lti/launch ------------------------------------------------------------------------
    def launch(
        self,
        form: dict[str, str],
        binding_for: Callable[[str], str | None],
        origin: str | None,
        remaining_seconds: Callable[[], float],
    ) -> Launched | LtiRefusal:
        """``binding_for(state)``: the browser's cookie for that state, if it sent one."""
        token: UnverifiedToken | None = None
        claims: VerifiedLaunch | None = None
        state_used = False
        try:
            if "error" in form:
                # The platform answered the authentication request with an error (OIDC §3.1.2.6).
                raise LtiBadRequest(f"the platform answered the login with error {form['error'][:60]!r}")
            id_token, state = _required(form, "id_token", limit=16 * 1024), _required(form, "state")
            token = parse_token(id_token)
            # No cookie is no binding: the state's own item then says why (used, expired, or live
            # and so really a cookie the browser did not send), as LaunchStates.use_once answers.
            issued = self._states.use_once(state, binding_for(state), self._clock())
            state_used = True
            registration = self._registration(issued.issuer, issued.client_id)
            # The whole iss: UnverifiedToken.issuer is cut to 200 characters for logs.
            if token.payload.get("iss") != registration.issuer:
                raise StateRefused("the id_token's iss is not the platform this state was issued for")
            verified = self._verifier(registration).verify(token)
            assert isinstance(verified, VerifiedLaunch)  # LaunchVerifier returns it
            claims = verified
            if digest(claims.nonce) != issued.nonce_sha256:
                raise StateRefused("the id_token's nonce is not the one issued with this state")
            _check_on_our_host(claims.target_link_uri, origin)
            if claims.redirect_to is not None:
                check_redirect_to(claims.redirect_to)
            partner_api = self._partner_api(registration)
            try:
                sso_token, status = partner_api.sso_token(
                    claims.partner_id, claims.profile, remaining_seconds
                )
            except ProfileRequired as error:
                raise _profile_not_released(claims.profile, error) from None
        except SsoError as error:
            return LtiRefusal(error, token, claims, clear_cookie=state_used)
        location = sso_login_url(
            registration.bi_base_url, sso_token, claims.redirect_to, registration.return_url
        )
        return Launched(location, claims, status)

    # ---- parts made once per registration ---------------------------------------------------
    def _registration(self, issuer: str, client_id: str | None) -> LtiRegistration:
        try:
            registration = self._registrations.find(issuer, client_id)
        except RegistrationUnavailable as error:
            raise LtiRegistrationUnavailable(
                "the platform's registration cannot be used", log_detail=f"registry: {error}"
            ) from None
        if registration is None:
            detail = f"no registration for iss {issuer[:200]!r}" + (
                f" and client_id {client_id[:200]!r}" if client_id else " (the login carries no client_id)"
            )
            raise UnknownRegistration(
                detail, found={"iss": issuer[:200], "client_id": (client_id or "")[:200]}
            )
        if not registration.enabled:
            # As a disabled partner's tokens: refused as unregistered, the log says why.
            raise UnknownRegistration(
                "this platform's registration is not accepted",
                log_detail=f"the registration of iss {issuer[:200]!r} and client_id "
                f"{registration.client_id[:200]!r} is disabled in the partner registry",
            )
        return registration

    def _verifier(self, registration: LtiRegistration) -> LaunchVerifier:
        with self._lock:
            verifier = self._verifiers.get(registration)
            if verifier is None:
                key = (registration.issuer, registration.jwks_url)
                keys = self._key_sources.get(key)
                if keys is None:
                    keys = self._key_sources[key] = JwksKeySource(
                        HttpFetcher(self._http),
                        (registration.issuer,),
                        registration.jwks_url,
                        max_age_seconds=self._runtime.jwks_max_age_seconds,
                        stale_seconds=self._runtime.jwks_stale_seconds,
                        clock=self._clock,
                        telemetry=self._telemetry,
                    )
                verifier = self._verifiers[registration] = LaunchVerifier(
                    registration, keys, self._runtime.leeway_seconds
                )
            return verifier

    def _partner_api(self, registration: LtiRegistration) -> PartnerApiClient:
        with self._lock:
            secret = self._secrets.get(registration.api_key_secret_id)
            if secret is None:
                secret = self._secrets[registration.api_key_secret_id] = SecretSource(
                    registration.api_key_secret_id,
                    self._secret_client_factory,
                    self._runtime.secret_cache_seconds,
                )
            key = (registration.bi_base_url, registration.api_key_secret_id)
            client = self._partner_apis.get(key)
            if client is None:
                client = self._partner_apis[key] = PartnerApiClient(
                    registration.bi_base_url,
                    secret,
                    self._http,
                    self._runtime.partner_api_timeout_seconds,
                    telemetry=self._telemetry,
                )
            return client

    def after_restore(self) -> None:
        """SnapStart: no cached secret or key set of the snapshot is trusted (``Container.after_restore``)."""
        with self._lock:
            for secret in self._secrets.values():
                secret.forget_value()
            for keys in self._key_sources.values():
                keys.after_restore()


def _required(params: dict[str, str], name: str, limit: int = _MAX_PARAMETER) -> str:
    value = params.get(name)
    if not value:
        raise LtiBadRequest(f"the request has no {name}", expected=name)
    if len(value) > limit:
        raise LtiBadRequest(f"{name} is longer than {limit} characters")
    return value


def _optional(params: dict[str, str], name: str) -> str | None:
    return _required(params, name) if params.get(name) else None


def _check_on_our_host(target_link_uri: str, origin: str | None) -> str:
    """``target_link_uri`` must be on this service's origin (a link elsewhere is not ours to launch)."""
    if origin is None:
        raise LtiBadRequest("the request has no Host header")
    try:
        parts = urlsplit(target_link_uri)
        # userinfo is refused on its own: "https://ours@evil" has netloc "ours@evil".
        found = "" if parts.username or parts.password else f"{parts.scheme}://{parts.netloc}".lower()
    except ValueError:  # e.g. an unclosed IPv6 bracket
        found = ""
    if found != origin:
        raise TargetLinkElsewhere(
            f"target_link_uri must be on {origin}; set the tool's target link to {origin}{LAUNCH_PATH}",
            expected=origin + LAUNCH_PATH,
            found=target_link_uri[:200],
        )
    return origin


def _profile_not_released(profile: dict[str, str], error: ProfileRequired) -> LtiProfileNotReleased:
    missing = [claim for field, claim in PROFILE_FIELDS.items() if not profile.get(field)]
    if not missing:
        return LtiProfileNotReleased(error.detail, partner_status=error.partner_status)
    return LtiProfileNotReleased(
        f"Big Interview answered 422: the user is new and the launch has no {', '.join(missing)}. "
        f"Release them to the tool: {PRIVACY_SETTINGS}.",
        partner_status=error.partner_status,
    )
