"""The LTI launch's own refusals, in the project's one error hierarchy (``handler.errors``).

Messages speak to a student who clicked a course link; ``detail`` to the platform's
administrator. None ever holds a state, a nonce, the ``id_token`` or a profile claim.
"""

from __future__ import annotations

from handler.errors import BadRequest, InvalidToken, PartnerUnavailable, ProfileRequired

__all__ = [
    "LaunchExpired",
    "LtiBadRequest",
    "LtiClaimRefused",
    "LtiProfileNotReleased",
    "LtiRegistrationUnavailable",
    "StateCookieMissing",
    "StateRefused",
    "TargetLinkElsewhere",
    "UnknownDeployment",
    "UnknownRegistration",
]

_ADMIN = (
    "Big Interview is not set up correctly in this course, so trying again will not help. "
    "Please tell your course's instructor or your learning platform's administrator, and quote "
    "the reference below."
)
_AGAIN = "Go back to your course and click the Big Interview link again."


class LtiBadRequest(BadRequest):
    code = "lti_invalid_request"
    message = f"Your learning platform sent an incomplete launch request. {_ADMIN}"


class UnknownRegistration(BadRequest):
    code = "lti_unknown_registration"
    message = f"This learning platform is not registered with Big Interview. {_ADMIN}"


class UnknownDeployment(BadRequest):
    code = "lti_unknown_deployment"
    message = f"This course's Big Interview deployment is not registered with Big Interview. {_ADMIN}"


class TargetLinkElsewhere(BadRequest):
    code = "lti_target_link_uri"
    message = f"The Big Interview link in this course points at another address. {_ADMIN}"


class StateCookieMissing(BadRequest):
    code = "lti_state_cookie_missing"
    message = (
        "Your browser did not send back the cookie that ties this launch to you. Browsers that "
        "block third-party cookies inside a course page (Safari, or strict privacy settings) do "
        "this when Big Interview opens inside a frame: open the link in a new window or tab "
        "(right-click, Open in new tab), and ask your course's instructor to set the Big "
        "Interview link to open in a new window."
    )


class StateRefused(InvalidToken):
    code = "lti_state_invalid"
    message = f"This launch was already used, has expired, or belongs to another browser. {_AGAIN}"


class LaunchExpired(InvalidToken):
    code = "lti_launch_expired"
    message = f"This launch has expired. {_AGAIN}"


class LtiClaimRefused(InvalidToken):
    code = "lti_claim_invalid"
    message = f"Your learning platform's launch is not one Big Interview can accept. {_ADMIN}"


class LtiProfileNotReleased(ProfileRequired):
    code = "lti_profile_not_released"
    message = (
        "Big Interview needs your first name, last name and email to create your account, and your "
        "learning platform did not send them. Please tell your course's instructor or your "
        "learning platform's administrator: the tool's privacy settings must release them "
        "(the details are below). Quote the reference below."
    )


class LtiRegistrationUnavailable(PartnerUnavailable):
    """The platform's registration in the partner registry is invalid, or the registry cannot be read."""

    code = "lti_registration_unavailable"
    message = (
        "Big Interview cannot open from this course right now: this learning platform's "
        "registration could not be read or is not set up correctly. Try again in a few minutes; "
        "if it keeps happening, tell your course's instructor or your learning platform's "
        "administrator, and quote the reference below."
    )
