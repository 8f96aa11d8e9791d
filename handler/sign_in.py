"""The sign-in itself, free of Lambda and HTTP: token in, Big Interview login URL out.

``SsoService.sign_in`` never raises a refusal: it answers with a ``SignIn`` or a
``Refusal``, a value that carries the error beside what was known when it was
refused (the token as parsed, the verified claims, whether the one-time link
was used up), so the log line and the error page read it rather than fields
added to an exception on its way out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from handler.config import Destination
from handler.errors import MissingClaim, SsoError
from handler.partners import PartnerDirectory, PartnerServices
from handler.redirects import check_redirect_to, check_return_url, sso_login_url
from handler.replay import ReplayGuard
from handler.tokens import UnverifiedToken, VerifiedToken, parse_token

__all__ = ["Refusal", "SignIn", "SignInRequest", "SsoService"]


@dataclass(frozen=True)
class SignInRequest:
    """What the partner's browser sent: the token and optional unsigned parameters."""

    token: str
    redirect_to: str | None = None
    return_url: str | None = None


@dataclass(frozen=True)
class SignIn:
    """A completed sign-in: where to send the browser, and what to log about it."""

    location: str = field(repr=False)  # carries the SSO token
    claims: VerifiedToken
    partner_status: int
    partner: PartnerServices | None = None  # the partner it was for


@dataclass(frozen=True)
class Refusal:
    """A sign-in that cannot happen: the error, and what was known where it was refused."""

    error: SsoError
    token: UnverifiedToken | None = None  # the token as parsed, when it could be
    claims: VerifiedToken | None = None  # when the refusal came after verification
    link_spent: bool = False  # the one-time link was used up: the page must say a new one is needed
    partner: PartnerServices | None = None  # the token's partner, once found: its error pages apply


class SsoService:
    """Finds the token's partner, verifies the token, gets an SSO token, builds the login URL.

    The partner is chosen by the token's unverified ``iss``; from then on only that
    partner's services and settings are used (its keys, audience, API key and org).
    """

    def __init__(self, partners: PartnerDirectory, replay_guard: ReplayGuard | None = None) -> None:
        self.partners = partners
        self._replay_guard = replay_guard

    def sign_in(self, request: SignInRequest, remaining_seconds: Callable[[], float]) -> SignIn | Refusal:
        """Every check happens before the Partner API is called; it is called last."""
        try:
            token = parse_token(request.token)
        except SsoError as error:
            return Refusal(error)
        issuer = token.payload.get("iss")  # all of it: ``token.issuer`` is cut short for the log
        try:
            partner = self.partners.find(issuer if isinstance(issuer, str) else None)
        except SsoError as error:
            return Refusal(error, token)
        try:
            claims = partner.verifier.verify(token)
        except SsoError as error:
            return Refusal(error, token, partner=partner)
        destination = partner.partner.destination
        try:
            redirect_to, return_url = _landing(claims, request, destination)
            if self._replay_guard is not None:
                # Last check before the Partner API: a link refused for any other reason stays unused.
                if claims.jti is None:
                    raise MissingClaim("one-time links need a jti claim", expected="jti")
                self._replay_guard.use_once(
                    claims.issuer, claims.jti, claims.expires_at, partner.partner.tokens.leeway_seconds
                )
        except SsoError as error:
            return Refusal(error, token, claims, partner=partner)
        try:
            sso_token, status = partner.partner_api.sso_token(
                claims.partner_id, claims.profile, remaining_seconds
            )
        except SsoError as error:
            # With one-time links the link is used up: a reload would only say "already used".
            return Refusal(error, token, claims, link_spent=self._replay_guard is not None, partner=partner)
        location = sso_login_url(destination.bi_base_url, sso_token, redirect_to, return_url)
        return SignIn(location=location, claims=claims, partner_status=status, partner=partner)


def _landing(
    claims: VerifiedToken, request: SignInRequest, destination: Destination
) -> tuple[str | None, str | None]:
    """Where Big Interview opens (``redirect_to``) and sends the user after logging out."""
    # A signed claim wins over an unsigned parameter.
    redirect_to = claims.redirect_to or request.redirect_to
    if redirect_to is not None:
        check_redirect_to(redirect_to)
    return_url = request.return_url
    if return_url is not None:
        check_return_url(return_url, destination.return_url_allowed_origins)
    return redirect_to, return_url or destination.sso_return_url
