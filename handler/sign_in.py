"""The sign-in itself, free of Lambda and HTTP: token in, Big Interview login URL out.

``SsoService.sign_in`` never raises a refusal: it answers with a ``SignIn`` or a
``Refusal``, a value that carries the error beside what was known when it was
refused (the token as parsed, the verified claims, whether the one-time link
was used up), so the log line and the error page read it rather than fields
added to an exception on its way out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from handler.config import Destination
from handler.errors import MissingClaim, SsoError
from handler.partner_api import PartnerApiClient
from handler.redirects import check_redirect_to, check_return_url, sso_login_url
from handler.replay import ReplayGuard
from handler.tokens import TokenVerifier, UnverifiedToken, VerifiedToken, parse_token

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

    location: str
    claims: VerifiedToken
    partner_status: int


@dataclass(frozen=True)
class Refusal:
    """A sign-in that cannot happen: the error, and what was known where it was refused."""

    error: SsoError
    token: UnverifiedToken | None = None  # the token as parsed, when it could be
    claims: VerifiedToken | None = None  # when the refusal came after verification
    link_spent: bool = False  # the one-time link was used up: the page must say a new one is needed


class SsoService:
    """Verifies the partner's token, gets an SSO token, builds the login URL."""

    def __init__(
        self,
        destination: Destination,
        verifier: TokenVerifier,
        partner_api: PartnerApiClient,
        replay_guard: ReplayGuard | None = None,
    ) -> None:
        self._destination = destination
        self._verifier = verifier
        self._partner_api = partner_api
        self._replay_guard = replay_guard

    def sign_in(self, request: SignInRequest, remaining_seconds: Callable[[], float]) -> SignIn | Refusal:
        """Every check happens before the Partner API is called; it is called last."""
        try:
            token = parse_token(request.token)
        except SsoError as error:
            return Refusal(error)
        try:
            claims = self._verifier.verify(token)
        except SsoError as error:
            return Refusal(error, token)
        try:
            redirect_to, return_url = self._landing(claims, request)
            if self._replay_guard is not None:
                # Last check before the Partner API: a link refused for any other reason stays unused.
                if claims.jti is None:
                    raise MissingClaim("one-time links need a jti claim", expected="jti")
                self._replay_guard.use_once(claims.issuer, claims.jti, claims.expires_at)
        except SsoError as error:
            return Refusal(error, token, claims)
        try:
            sso_token, status = self._partner_api.sso_token(
                claims.partner_id, claims.profile, remaining_seconds
            )
        except SsoError as error:
            # With one-time links the link is used up: a reload would only say "already used".
            return Refusal(error, token, claims, link_spent=self._replay_guard is not None)
        location = sso_login_url(self._destination.bi_base_url, sso_token, redirect_to, return_url)
        return SignIn(location=location, claims=claims, partner_status=status)

    def _landing(self, claims: VerifiedToken, request: SignInRequest) -> tuple[str | None, str | None]:
        """Where Big Interview opens (``redirect_to``) and sends the user after logging out."""
        # A signed claim wins over an unsigned parameter.
        redirect_to = claims.redirect_to or request.redirect_to
        if redirect_to is not None:
            check_redirect_to(redirect_to)
        return_url = request.return_url
        if return_url is not None:
            check_return_url(return_url, self._destination.return_url_allowed_origins)
        return redirect_to, return_url or self._destination.sso_return_url
