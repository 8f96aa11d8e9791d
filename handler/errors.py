"""One error hierarchy for every way a sign-in can fail.

Raised deep (verifier, key source, Partner API client), turned into an HTTP answer in one
place (``responses.error_response``). Each class has a stable ``code`` (metric dimension,
``ERROR_REDIRECT_URL``'s ``error``), an HTTP ``status`` and a ``message`` a user can act on.
``detail`` (and ``expected``/``found``, kept as fields as aws-jwt-verify does) is for the
developer and the log, so it never holds the token, the SSO token, an API key, a profile
claim, the accepted issuers or key material; ``log_detail`` holds what only the log may see.
An error is complete when raised: what the caller knows travels beside it (``Refusal``).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadRequest",
    "ConfigError",
    "ConflictingTokens",
    "InvalidAudience",
    "InvalidClaim",
    "InvalidIssuer",
    "InvalidRedirect",
    "InvalidReturnUrl",
    "InvalidSignature",
    "InvalidToken",
    "InvalidUser",
    "KeysUnavailable",
    "LinkAlreadyUsed",
    "MalformedToken",
    "MissingClaim",
    "MissingToken",
    "NotFound",
    "PartnerApiError",
    "PartnerApiTimeout",
    "PartnerUnavailable",
    "ProfileRequired",
    "ReplayStoreUnavailable",
    "SecretUnavailable",
    "SsoError",
    "TokenExpired",
    "TokenLifetimeTooLong",
    "TokenNotYetValid",
    "TokenTooLarge",
    "UnknownKey",
    "UnsupportedAlgorithm",
]

# For refusals only the portal's set-up can fix: trying again cannot help.
_SET_UP = (
    "Your portal's sign-in to Big Interview is not set up correctly, so trying again will not help. "
    "Please contact your portal's support and quote the reference below."
)
_SPENT = (
    "This sign-in link is now used up: go back to your portal and open Big Interview from there "
    "to get a fresh one."
)


class SsoError(Exception):
    """Base class: a request that cannot end in a sign-in."""

    code = "internal_error"
    status = 500
    message = "Something went wrong on our side. Please try again."

    def __init__(
        self,
        detail: str = "",
        *,
        expected: Any = None,
        found: Any = None,
        partner_status: int | None = None,
        log_detail: str | None = None,
    ) -> None:
        self.detail = detail
        self.log_detail = detail if log_detail is None else log_detail
        super().__init__(self.log_detail or self.code)  # a traceback shows the log's version
        # What the check wanted and what the request had (JSON-safe values), when one value failed.
        self.expected = expected
        self.found = found
        self.partner_status = partner_status  # the Partner API's status, when it answered

    def user_message(self, link_spent: bool = False) -> str:
        """The user's sentence; once the one-time link is spent, reloading cannot help."""
        return f"{self.message} {_SPENT}" if link_spent else self.message


# 400: the request itself is unusable.
class BadRequest(SsoError):
    code = "invalid_request"
    status = 400
    message = f"The sign-in request is malformed. {_SET_UP}"


class MissingToken(BadRequest):
    code = "missing_token"
    message = "The sign-in link carries no token. Go back to your portal and use its sign-in link."


class TokenTooLarge(BadRequest):
    code = "token_too_large"
    message = f"The sign-in token is too large to be a valid token. {_SET_UP}"


class ConflictingTokens(BadRequest):
    code = "conflicting_tokens"
    message = f"The request carries more than one different sign-in token. {_SET_UP}"


class InvalidRedirect(BadRequest):
    code = "invalid_redirect"
    message = f"The page your portal asked to open inside Big Interview is not a valid address. {_SET_UP}"


class InvalidReturnUrl(InvalidRedirect):
    """A ``return_url`` whose origin is not allowed: same code, its own sentence."""

    message = (
        "The page your portal asked Big Interview to send you back to after signing out is not "
        f"one this service allows. {_SET_UP}"
    )


# 401: the token fails a check.
class InvalidToken(SsoError):
    code = "invalid_token"
    status = 401
    message = f"The sign-in link is not valid. {_SET_UP}"


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
        "This sign-in link was already used (reloading the page or going back does that). "
        "Go back to your portal and open Big Interview from there to get a fresh link."
    )


class TokenNotYetValid(InvalidToken):
    code = "token_not_yet_valid"
    message = (
        "The sign-in link is not valid yet: your portal's server clock seems to be ahead. "
        "Please contact your portal's support and quote the reference below."
    )


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
    message = f"Your portal sent a user id that Big Interview cannot accept. {_SET_UP}"


# 422: Big Interview cannot create the user from what the token carries.
class ProfileRequired(SsoError):
    code = "profile_required"
    status = 422
    message = (
        "Big Interview needs your first name, last name and email to create your account, and your "
        "portal did not send them. Please contact your portal's support and quote the reference below."
    )


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


class PartnerUnavailable(SsoError):
    code = "partner_unavailable"
    status = 503
    message = "Sign-in is temporarily unavailable. Please try again in a minute."


class PartnerApiTimeout(SsoError):
    code = "partner_api_timeout"
    status = 504
    message = "Big Interview took too long to answer. Please try again."


class NotFound(SsoError):
    code = "not_found"
    status = 404
    message = (
        "This address is not a page of the Big Interview sign-in service. The link may be "
        "mistyped or out of date: go back to your portal and open Big Interview from there."
    )


class ConfigError(Exception):
    """The function's environment is invalid; lists every problem by variable name."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration: " + "; ".join(problems))
        self.problems = problems
