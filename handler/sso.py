"""The sign-in itself, free of Lambda and HTTP: token in, Big Interview login URL out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from handler.config import Config
from handler.errors import MissingClaim, SsoError
from handler.partner_api import PartnerApiClient
from handler.redirects import check_redirect_to, check_return_url, sso_login_url
from handler.replay import ReplayGuard
from handler.tokens import TokenVerifier, VerifiedToken


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


class SsoService:
    """Verifies the partner's token, gets an SSO token, builds the login URL."""

    def __init__(
        self,
        config: Config,
        verifier: TokenVerifier,
        partner_api: PartnerApiClient,
        replay_guard: ReplayGuard | None = None,
    ) -> None:
        self._config = config
        self._verifier = verifier
        self._partner_api = partner_api
        self._replay_guard = replay_guard

    def sign_in(self, request: SignInRequest, remaining_seconds: Callable[[], float]) -> SignIn:
        """Every check happens before the Partner API is called; it is called last."""
        claims = self._verifier.verify(request.token)
        try:
            return self._sign_in_verified(claims, request, remaining_seconds)
        except SsoError as error:
            error.claims = claims  # so the log line can say who was refused, and why
            raise

    def _sign_in_verified(
        self, claims: VerifiedToken, request: SignInRequest, remaining_seconds: Callable[[], float]
    ) -> SignIn:
        # A signed claim wins over an unsigned parameter.
        redirect_to = claims.redirect_to or request.redirect_to
        if redirect_to is not None:
            check_redirect_to(redirect_to)
        return_url = request.return_url
        if return_url is not None:
            check_return_url(return_url, self._config)
        return_url = return_url or self._config.sso_return_url
        if self._replay_guard is not None:
            # Last check before the Partner API: a link refused for any other reason stays unused.
            if claims.jti is None:
                raise MissingClaim("one-time links need a jti claim")
            self._replay_guard.use_once(claims.issuer, claims.jti, claims.expires_at)
        try:
            token, status = self._partner_api.sso_token(claims.partner_id, claims.profile, remaining_seconds)
        except SsoError as error:
            # The link is used up: a reload would only say "already used".
            error.link_spent = self._replay_guard is not None
            raise
        location = sso_login_url(self._config, token, redirect_to, return_url)
        return SignIn(location=location, claims=claims, partner_status=status)
