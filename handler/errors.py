"""One error hierarchy for every way a sign-in can fail.

Errors are raised deep (verifier, key source, Partner API client) and turned
into an HTTP answer in exactly one place (``responses.error_response``). Each
class carries a stable ``code`` (a metric dimension and the ``error`` query
parameter of ``ERROR_REDIRECT_URL``), the HTTP ``status``, and a ``message`` a
user can act on. ``detail`` is for the log line: what was expected and what was
found, never the token, a key or a profile claim.
"""

from __future__ import annotations

from typing import Any


class SsoError(Exception):
    """Base class: a request that cannot end in a sign-in."""

    code = "internal_error"
    status = 500
    message = "Something went wrong on our side. Please try again."

    def __init__(self, detail: str = "", *, partner_status: int | None = None) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        # For the log line: the Partner API's status, and the verified token's claims
        # (a ``VerifiedToken``) when the refusal came after verification.
        self.partner_status = partner_status
        self.claims: Any = None


# 400: the request itself is unusable.
class BadRequest(SsoError):
    code = "invalid_request"
    status = 400
    message = "The sign-in request is malformed."


class MissingToken(BadRequest):
    code = "missing_token"
    message = "The sign-in link carries no token. Go back to your portal and use its sign-in link."


class TokenTooLarge(BadRequest):
    code = "token_too_large"
    message = "The sign-in token is too large to be a valid token."


class ConflictingTokens(BadRequest):
    code = "conflicting_tokens"
    message = "The request carries more than one different sign-in token."


class InvalidRedirect(BadRequest):
    code = "invalid_redirect"
    message = "The requested destination inside Big Interview is not a valid relative path."


# 401: the token fails a check.
class InvalidToken(SsoError):
    code = "invalid_token"
    status = 401
    message = "The sign-in link is not valid. Go back to your portal and click the link again."


class MalformedToken(InvalidToken):
    code = "malformed_token"


class UnsupportedAlgorithm(InvalidToken):
    code = "unsupported_algorithm"


class UnknownKey(InvalidToken):
    code = "unknown_key"


class InvalidSignature(InvalidToken):
    code = "invalid_signature"


class TokenExpired(InvalidToken):
    code = "token_expired"
    message = "The sign-in link has expired. Go back to your portal and click the link again."


class LinkAlreadyUsed(InvalidToken):
    code = "link_already_used"
    message = (
        "This sign-in link was already used. Go back to your portal and click the link again "
        "to get a fresh one."
    )


class TokenNotYetValid(InvalidToken):
    code = "token_not_yet_valid"
    message = "The sign-in link is not valid yet. Check the clock of the system that made it."


class TokenLifetimeTooLong(InvalidToken):
    code = "token_lifetime_too_long"


class InvalidIssuer(InvalidToken):
    code = "invalid_issuer"


class InvalidAudience(InvalidToken):
    code = "invalid_audience"


class MissingClaim(InvalidToken):
    code = "missing_claim"


class InvalidClaim(InvalidToken):
    code = "invalid_claim"


# 403: a valid token for a user Big Interview cannot accept.
class InvalidUser(SsoError):
    code = "invalid_user"
    status = 403
    message = "This account cannot be signed in to Big Interview. Please contact your portal's support."


# 5xx: a dependency failed.
class PartnerApiError(SsoError):
    code = "partner_api_error"
    status = 502
    message = "Big Interview could not sign you in just now. Please try again in a minute."


class KeysUnavailable(SsoError):
    code = "keys_unavailable"
    status = 503
    message = "Sign-in is temporarily unavailable. Please try again in a minute."


class SecretUnavailable(SsoError):
    code = "secret_unavailable"
    status = 503
    message = "Sign-in is temporarily unavailable. Please try again in a minute."


class ReplayStoreUnavailable(SsoError):
    code = "replay_store_unavailable"
    status = 503
    message = "Sign-in is temporarily unavailable. Please try again in a minute."


class PartnerApiTimeout(SsoError):
    code = "partner_api_timeout"
    status = 504
    message = "Big Interview took too long to answer. Please try again."


class NotFound(SsoError):
    code = "not_found"
    status = 404
    message = "There is nothing here."


class ConfigError(Exception):
    """The function's environment is invalid; lists every problem by variable name."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration: " + "; ".join(problems))
        self.problems = problems
