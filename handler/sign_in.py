"""The sign-in, free of Lambda and HTTP: a token in, a Big Interview login URL out.

Every kind of sign-in ends the same way once its token is verified (``landing`` and
``finish``): the redirect rules, the Partner API call and the login URL, answered as a
``SignIn``. A refusal is a ``Refusal`` value carrying the error beside what was known
when it was refused, so the log line and the error page read it. ``SsoService`` is the
partner flow's verifier step (a partner's JWT at ``/sso``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from handler.config import Destination
from handler.errors import MissingClaim, SsoError
from handler.partners import PartnerDirectory, PartnerServices
from handler.redirects import check_redirect_to, check_return_url, sso_login_url
from handler.replay import ReplayGuard
from handler.tokens import UnverifiedToken, VerifiedToken, claimed_issuer, parse_token

__all__ = ["Landing", "Refusal", "SignIn", "SignInRequest", "SsoService", "finish", "landing"]


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
    clear_cookie: bool = False  # an LTI launch's state was used: its cookie is of no more use


@dataclass(frozen=True)
class Landing:
    """Where Big Interview opens after the sign-in, and where it sends the user after logging out."""

    redirect_to: str | None
    return_url: str | None


def landing(
    destination: Destination, signed_redirect_to: str | None, redirect_to: str | None, return_url: str | None
) -> Landing:
    """The redirect rules: a signed ``redirect_to`` wins over an unsigned one; ``return_url``'s origin."""
    redirect_to = signed_redirect_to or redirect_to
    if redirect_to is not None:
        check_redirect_to(redirect_to)
    if return_url is not None:
        check_return_url(return_url, destination.return_url_allowed_origins)
    return Landing(redirect_to, return_url or destination.sso_return_url)


def finish(
    partner: PartnerServices, claims: VerifiedToken, at: Landing, remaining_seconds: Callable[[], float]
) -> SignIn:
    """After every check: the Partner API's SSO token for the user, and the login URL."""
    sso_token, status = partner.partner_api.sso_token(claims.partner_id, claims.profile, remaining_seconds)
    location = sso_login_url(
        partner.partner.destination.bi_base_url, sso_token, at.redirect_to, at.return_url
    )
    return SignIn(location=location, claims=claims, partner_status=status, partner=partner)


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
        token: UnverifiedToken | None = None
        partner: PartnerServices | None = None
        claims: VerifiedToken | None = None
        try:
            token = parse_token(request.token)
            # All of it: ``token.issuer`` is cut short for the log.
            partner = self.partners.find(claimed_issuer(token.payload))
            claims = partner.verifier.verify(token)
            destination = partner.partner.destination
            at = landing(destination, claims.redirect_to, request.redirect_to, request.return_url)
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
            return finish(partner, claims, at, remaining_seconds)
        except SsoError as error:
            # With one-time links the link is used up: a reload would only say "already used".
            return Refusal(error, token, claims, link_spent=self._replay_guard is not None, partner=partner)
