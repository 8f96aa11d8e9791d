"""LTI's own steps, free of Lambda and HTTP: a login in, a redirect out; an id_token in, a sign-in out.

``LtiService.login`` answers a platform's third-party initiated login (LTI 1.3 Core
§5.1.1 / Security Framework §5.1.1) with the authentication request and the state it
issued. ``LtiService.launch`` uses the state once, verifies the ``id_token`` with the
registration wired as a partner (``PartnerWiring``, ``launch_partner``) and ends as
every sign-in does (``handler.sign_in.finish``). Like ``SsoService`` it answers with a value.

The browser binding that ties a state to its browser comes back as the state cookie or, in
an LMS frame that drops it, from the platform's storage (``handler.lti.storage``): a launch
without either first answers ``ReadBinding`` (the page that reads it back), and a launch that
still has none may start the same login again in a new window (``relogin``).

With deep linking on, a verified ``LtiDeepLinkingRequest`` ends in the picker instead of a
sign-in (``handler.lti.deep_linking``, imported only then).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from handler.aws_clients import AwsClients
from handler.config import (
    DEFAULT_LTI_LEEWAY_SECONDS,
    Destination,
    ErrorPages,
    LtiRegistration,
    LtiSettings,
    Partner,
)
from handler.errors import SsoError
from handler.keys import KeySource
from handler.lti.claims import (
    DEEP_LINKING_REQUEST,
    LaunchVerifier,
    VerifiedLaunch,
    check_deployment,
    launch_policy,
)
from handler.lti.errors import (
    LtiBadRequest,
    LtiProfileNotReleased,
    LtiRegistrationUnavailable,
    StateRefused,
    TargetLinkElsewhere,
    UnknownRegistration,
)
from handler.lti.registrations import (
    EnvironmentRegistrations,
    RegistrationSource,
    RegistrationUnavailable,
    RegistryRegistrations,
)
from handler.lti.state import LaunchStates, digest
from handler.lti.storage import BINDING_FIELD, READ_FIELD, platform_origin, storage_target
from handler.lti.tool_key import KmsToolKey
from handler.partners import PartnerRegistry, PartnerServices, PartnerWiring
from handler.prefetch import Prefetch
from handler.secret_source import SecretSource
from handler.sign_in import Refusal, SignIn, finish, landing
from handler.tokens import UnverifiedToken, parse_token
from handler.untrusted import split_url
from handler.url_rules import is_loopback_host, origin_of

if TYPE_CHECKING:
    from handler.lti.deep_linking import DeepLinking, Page

__all__ = [
    "LAUNCH_PATH",
    "LTI_PAGES",
    "LoginAnswer",
    "Lti",
    "LtiService",
    "ReadBinding",
    "Relogin",
    "launch_partner",
    "our_origin",
    "wire_lti",
]

LAUNCH_PATH = "/lti/launch"
_MAX_PARAMETER = 2048
# The login initiation's parameters (LTI 1.3 Core 5.1.1 / Security Framework 5.1.1.1).
_LOGIN_PARAMETERS = (
    "iss",
    "login_hint",
    "target_link_uri",
    "client_id",
    "lti_deployment_id",
    "lti_message_hint",
)
# Where each platform releases the names and email to a tool (docs/lti.md says more).
PRIVACY_SETTINGS = (
    "Canvas: the developer key's Privacy Level must be Public; Moodle: the tool's Privacy settings "
    "'Share launcher's name with tool' and 'Share launcher's email with tool' must be Always; "
    "Blackboard Learn: the LTI 1.3 tool's User Fields to Send must include Name and Email Address; "
    "D2L Brightspace: the deployment's Security Settings must include Name and Email"
)


# The error pages of every LTI step: they speak to the platform's administrator, name the LMS
# guide's troubleshooting table, and may show inside the LMS's frame.
LTI_PAGES = ErrorPages(
    "",
    guide="the LMS administrator's LTI guide (docs/lti.md, from the service's operator)",
    reader="the learning platform's administrator",
    framed=True,
    profile_refusal=LtiProfileNotReleased,
    profile_advice=f"the launch has no {{missing}}. Release them to the tool: {PRIVACY_SETTINGS}.",
)


def launch_partner(registration: LtiRegistration) -> Partner:
    """A platform registration as a partner: its id_tokens' policy, and its org's destination."""
    destination = Destination(
        registration.bi_org,
        registration.bi_base_url,
        registration.api_key_secret_id,
        sso_return_url=registration.return_url,
        pages=LTI_PAGES,
    )
    return Partner(launch_policy(registration), destination)


@dataclass(frozen=True)
class LoginAnswer:
    """The authentication request to send the browser to, and the cookie binding it to this browser."""

    location: str = field(repr=False)  # carries the state and nonce
    state: str = field(repr=False, default="")
    binding: str = field(repr=False, default="")
    # The platform's storage frame, when it announced one: the binding is kept there too.
    storage_target: str | None = None
    auth_url: str = ""


@dataclass(frozen=True)
class Relogin:
    """A login to start again, top-level: its parameters, and the platform's origin it goes on to."""

    login: dict[str, str]
    platform_origin: str


@dataclass(frozen=True)
class ReadBinding:
    """No cookie came back, and the platform has storage: the browser must read the binding from it."""

    target: str | None  # None: the page asks the platform (lti.capabilities)
    platform_origin: str  # the only origin whose answer the page reads
    destination_origin: str  # Big Interview's: where the page's post is redirected when it signs in


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


@dataclass
class LtiService:
    """Login initiations and launches for the registrations its sources know (the first that does)."""

    registrations: tuple[RegistrationSource, ...]
    states: LaunchStates
    wiring: PartnerWiring
    clock: Callable[[], float] = time.time
    leeway_seconds: int = DEFAULT_LTI_LEEWAY_SECONDS
    # Starts a launch's key set and secret fetches while it uses its state (prefetch.fetch_keys_and_secrets).
    fetch_ahead: Callable[[Callable[[], PartnerServices | None]], Prefetch] | None = None
    deep_linking: DeepLinking | None = None  # LTI_DEEP_LINKING=Enabled: deep-linking requests accepted
    # Grade passback: remembers a signed-in launch's line item (grade_links.launch_recorder); never raises.
    record_grade: Callable[[LtiRegistration, VerifiedLaunch], None] | None = None

    def wire(self, registration: LtiRegistration) -> PartnerServices:
        """The registration's services, on the shared wiring: its key set and API key are the deployment's."""

        def verifier(policy: object, keys: KeySource, _: SecretSource | None) -> LaunchVerifier:
            return LaunchVerifier(
                registration, keys, self.leeway_seconds, deep_linking=self.deep_linking is not None
            )

        return self.wiring.wire("lti", launch_partner(registration), verifier)

    # ---- /lti/login -------------------------------------------------------------------------
    def login(self, params: dict[str, str], origin: str | None) -> LoginAnswer | Refusal:
        try:
            return self._login(params, origin)
        except SsoError as error:
            return Refusal(error)

    def _login(self, params: dict[str, str], origin: str | None) -> LoginAnswer:
        issuer, login_hint, target_link_uri = (
            _required(params, name) for name in ("iss", "login_hint", "target_link_uri")
        )
        client_id = _optional(params, "client_id")
        deployment_id = _optional(params, "lti_deployment_id")
        message_hint = _optional(params, "lti_message_hint")
        registration = self._registration(issuer, client_id)
        if deployment_id is not None:
            check_deployment(registration, deployment_id, "lti_deployment_id")
        origin = _check_on_our_host(target_link_uri, origin)
        state, nonce, binding = (secrets.token_urlsafe(32) for _ in range(3))
        # What a new window needs to start this login again (top-level, where the cookie works).
        login = {name: params[name] for name in _LOGIN_PARAMETERS if params.get(name)}
        self.states.issue(
            state, nonce, binding, registration.issuer, registration.client_id, self.clock(), login
        )
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
        location = registration.auth_url + separator + urlencode(request)
        return LoginAnswer(location, state, binding, storage_target(params), registration.auth_url)

    # ---- /lti/launch ------------------------------------------------------------------------
    def launch(
        self,
        form: dict[str, str],
        binding_for: Callable[[str], str | None],
        origin: str | None,
        remaining_seconds: Callable[[], float],
        query: dict[str, str] | None = None,
        posted_from: str | None = None,
        framed: bool = False,
    ) -> SignIn | ReadBinding | Page | Refusal:
        """``binding_for(state)``: the browser's cookie for that state, if it sent one.

        Without it, a platform that announced storage (in the form, or in the redirect URI's
        ``query`` as Blackboard's is registered) gets ``ReadBinding``; the binding the storage
        page then posts (``BINDING_FIELD``) counts only from a page of ours: ``posted_from``
        (the request's ``Origin``) must be this service's ``origin``. A ``framed`` launch
        (in an iframe) without either also gets it: the page asks the platform for its
        storage frame (``lti.capabilities``), as Blackboard's launch announces none.
        """
        token: UnverifiedToken | None = None
        claims: VerifiedLaunch | None = None
        partner: PartnerServices | None = None
        state_used = False
        try:
            if "error" in form:
                # The platform answered the authentication request with an error (OIDC §3.1.2.6).
                raise LtiBadRequest(f"the platform answered the login with error {form['error'][:60]!r}")
            id_token, state = _required(form, "id_token", limit=16 * 1024), _required(form, "state")
            binding = binding_for(state) or _posted_binding(form, origin, posted_from)
            target = storage_target(form, query or {})
            if binding is None and READ_FIELD not in form and (target is not None or framed):
                return self._read_binding(target, parse_token(id_token))
            token = parse_token(id_token)
            ahead = self._fetch_ahead(token)
            try:
                # No cookie (nor stored binding) is no binding: the state's own item then says why (used,
                # expired, or live and so really a cookie the browser did not send), as use_once answers.
                issued = self.states.use_once(state, binding, self.clock())
            finally:
                if ahead is not None:
                    ahead.join()
            state_used = True
            registration = self._registration(issued.issuer, issued.client_id)
            # The whole iss: UnverifiedToken.issuer is cut to 200 characters for logs.
            if token.payload.get("iss") != registration.issuer:
                raise StateRefused("the id_token's iss is not the platform this state was issued for")
            partner = self.wire(registration)
            verified = partner.verifier.verify(token)
            assert isinstance(verified, VerifiedLaunch)  # LaunchVerifier returns it
            claims = verified
            if digest(claims.nonce) != issued.nonce_sha256:
                raise StateRefused("the id_token's nonce is not the one issued with this state")
            ours = _check_on_our_host(claims.target_link_uri, origin)
            if claims.message_type == DEEP_LINKING_REQUEST and self.deep_linking is not None:
                # An instructor adding content: the picker, no sign-in (the verifier accepts this
                # message type only with deep linking on).
                return self.deep_linking.open(registration, claims, ours, ours + LAUNCH_PATH, self.clock())
            at = landing(partner.partner.destination, claims.redirect_to, None, None)
            signed_in = finish(partner, claims, at, remaining_seconds)
            if self.record_grade is not None:
                self.record_grade(registration, claims)
            return signed_in
        except SsoError as error:
            return Refusal(error, token, claims, partner=partner, clear_cookie=state_used)

    def _fetch_ahead(self, token: UnverifiedToken) -> Prefetch | None:
        """Start the key set and the secret of the registration the id_token names, unverified.

        Only the registration's own key set and secret: fetching them for a launch the state then
        refuses costs a read and changes nothing, and the Partner API is called only after every check.
        """
        if self.fetch_ahead is None:
            return None
        issuer, client_id = _named_registration(token)
        if not issuer or client_id is None:
            return None

        def partner() -> PartnerServices | None:
            try:
                return self.wire(self._registration(issuer, client_id))
            except SsoError:
                return None  # the launch refuses it itself, after the state

        return self.fetch_ahead(partner)

    def relogin(self, state: str) -> Relogin | None:
        """The login a launch without its binding can start again in a new window; None if none can."""
        try:
            login = self.states.login_of(state, self.clock()) if state else None
            if login is None:
                return None
            registration = self._registration(login["iss"], login.get("client_id"))
        except SsoError:
            return None
        return Relogin(login, platform_origin(registration.auth_url))

    def _read_binding(self, target: str | None, token: UnverifiedToken) -> ReadBinding:
        """Where the page reads the binding: the registration the token's unverified ``iss``/``azp`` name.

        Unverified is enough: it only says where the browser asks for the binding; the
        launch that follows verifies everything.
        """
        issuer, client_id = _named_registration(token)
        if not issuer:
            raise LtiBadRequest("the id_token has no iss", expected="iss")
        registration = self._registration(issuer, client_id)
        return ReadBinding(
            target, platform_origin(registration.auth_url), origin_of(registration.bi_base_url)
        )

    def registration(self, issuer: str, client_id: str) -> LtiRegistration:
        """The enabled registration of ``(issuer, client_id)``; an ``SsoError`` says why there is none."""
        return self._registration(issuer, client_id)

    def _registration(self, issuer: str, client_id: str | None) -> LtiRegistration:
        try:
            found = (source.find(issuer, client_id) for source in self.registrations)
            registration = next((registration for registration in found if registration), None)
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


@dataclass
class Lti:
    """LTI launches as the routes need them: the service, the tool key (if any), the state table."""

    service: LtiService
    tool_key: KmsToolKey | None
    states: LaunchStates


def wire_lti(
    settings: LtiSettings,
    wiring: PartnerWiring,
    clients: AwsClients,
    registry: PartnerRegistry | None,
    clock: Callable[[], float] = time.time,
    fetch_ahead: Callable[[Callable[[], PartnerServices | None]], Prefetch] | None = None,
) -> Lti:
    """LTI on the deployment's spine: registrations from the environment and/or the registry's reader."""
    sources: list[RegistrationSource] = []
    if settings.registration is not None:
        sources.append(EnvironmentRegistrations(settings.registration))
    if registry is not None:
        sources.append(RegistryRegistrations(registry.record_text, registry.loopback_base_urls))
    states = LaunchStates(settings.state_table, settings.state_seconds, clients.factory("dynamodb"))
    tool_key = KmsToolKey(settings.tool_key_id, clients.factory("kms")) if settings.tool_key_id else None
    deep_linking = None
    if settings.deep_linking and tool_key is not None:
        # Imported only with deep linking on: cold start a deployment without it never pays.
        from handler.lti.catalogue import parse_catalogue
        from handler.lti.deep_linking import DeepLinking

        deep_linking = DeepLinking(
            tool_key,
            parse_catalogue(settings.deep_linking_catalogue),
            settings.state_table,
            settings.state_seconds,
            clients.factory("dynamodb"),
        )
    service = LtiService(
        tuple(sources),
        states,
        wiring,
        clock,
        settings.leeway_seconds,
        fetch_ahead=fetch_ahead,
        deep_linking=deep_linking,
    )
    if settings.grade_table is not None:
        # Imported only with grade passback on: a deployment without it never loads it.
        from handler.lti.grade_links import GradeLinks, launch_recorder

        links = GradeLinks(settings.grade_table, clients.factory("dynamodb"), clock)
        service.record_grade = launch_recorder(links)
    return Lti(service, tool_key, states)


def _named_registration(token: UnverifiedToken) -> tuple[str, str | None]:
    """The ``iss`` and client id (``azp``, else a lone ``aud``) an id_token names, unverified ("": none)."""
    issuer, audience, party = (token.payload.get(name) for name in ("iss", "aud", "azp"))
    client_id = party or (audience if isinstance(audience, str) else None)
    return (issuer if isinstance(issuer, str) else ""), (client_id if isinstance(client_id, str) else None)


def _required(params: dict[str, str], name: str, limit: int = _MAX_PARAMETER) -> str:
    value = params.get(name)
    if not value:
        raise LtiBadRequest(f"the request has no {name}", expected=name)
    if len(value) > limit:
        raise LtiBadRequest(f"{name} is longer than {limit} characters")
    return value


def _optional(params: dict[str, str], name: str) -> str | None:
    return _required(params, name) if params.get(name) else None


def _posted_binding(form: dict[str, str], origin: str | None, posted_from: str | None) -> str | None:
    """The binding the storage page posted, if the form carries one: refused unless our page sent it."""
    if BINDING_FIELD not in form:
        return None
    if origin is None or posted_from != origin:
        # Another site's form could post a binding it knows (its own launch's) to sign this browser in.
        raise StateRefused(
            f"the browser binding was posted from {(posted_from or 'no origin')[:100]!r}, "
            "not from this service's page"
        )
    return form[BINDING_FIELD]  # a blank field is no field (form parsing drops it)


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
