"""An LTI launch's ``id_token``: the partner flow's verifier, plus LTI 1.3's claim rules.

``LaunchVerifier`` is a ``TokenVerifier`` for one registration (same parse, header rules, key
source, ``iss``/``aud``/``exp``/``iat`` checks; RS256 only, Security Framework §6.1). It adds
LTI's rules first (Security Framework §5.1.3, Core §5.3, §5.4): ``aud`` names only this tool,
``azp`` is the ``client_id``, ``version`` 1.3.0, a ``LtiResourceLinkRequest`` with a
``resource_link`` (or, with deep linking on, a ``LtiDeepLinkingRequest`` with its
``deep_linking_settings``: Deep Linking 2.0 §4.4), an allowed ``deployment_id``, ``sub``
and ``nonce``. The base checks then run with ``redirect_to`` taken from the custom claim.

The user is ``partner_id(LTI, (iss, sub))`` (``handler.identity``): ``lti-`` and the hash of the
platform and its user id, the same whichever course or deployment, revealing neither; a
partner's token can never name it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from handler.config import DEFAULT_LTI_LEEWAY_SECONDS, TokenPolicy
from handler.identity import LTI, partner_id
from handler.keys import KeySource
from handler.lti.errors import LtiClaimRefused, UnknownDeployment
from handler.lti.registrations import LtiRegistration
from handler.tokens import TokenVerifier, VerifiedToken, bounded

__all__ = [
    "AGS_ENDPOINT_CLAIM",
    "CLAIM",
    "DEEP_LINKING_REQUEST",
    "DEEP_LINKING_SETTINGS",
    "LaunchVerifier",
    "VerifiedLaunch",
    "check_deployment",
    "launch_policy",
    "lti_partner_id",
]

_LTI = "https://purl.imsglobal.org/spec/lti/claim/"
CLAIM = {
    name: _LTI + name
    for name in (
        "message_type",
        "version",
        "deployment_id",
        "target_link_uri",
        "resource_link",
        "roles",
        "custom",
    )
}
RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
DEEP_LINKING_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
# LTI Assignment and Grade Services 2.0 §3.1: the launch's line item and the scopes granted.
AGS_ENDPOINT_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
_MAX_SUB = 255  # LTI 1.3 Core §5.3.6 and OIDC: at most 255 ASCII characters
# Canvas signs id_tokens valid for an hour; the state's few minutes bound a launch anyway.
MAX_ID_TOKEN_LIFETIME = 3600


def lti_partner_id(issuer: str, sub: str) -> str:
    """The Big Interview ``partner_id`` of a platform's user (module docstring)."""
    return partner_id(LTI, (issuer, sub))


def launch_policy(
    registration: LtiRegistration, leeway_seconds: int = DEFAULT_LTI_LEEWAY_SECONDS
) -> TokenPolicy:
    """The partner flow's token policy, for a platform's id_tokens."""
    return TokenPolicy(
        issuers=(registration.issuer,),
        audience=registration.client_id,
        jwks_url=registration.jwks_url,
        algorithms=("RS256",),
        user_claim="sub",
        max_age_seconds=MAX_ID_TOKEN_LIFETIME,
        leeway_seconds=leeway_seconds,
    )


@dataclass(frozen=True)
class VerifiedLaunch(VerifiedToken):
    """A verified id_token: the partner flow's fields, and what the launch still compares."""

    nonce: str = dataclasses.field(default="", repr=False)
    deployment_id: str = ""
    target_link_uri: str = ""
    message_type: str = RESOURCE_LINK_REQUEST
    # A deep-linking request's settings (an object; handler.lti.deep_linking reads it).
    deep_linking: dict[str, Any] | None = dataclasses.field(default=None, repr=False)
    sub: str = dataclasses.field(default="", repr=False)  # the platform's user id (AGS's userId)
    # The AGS endpoint claim as the platform sent it (read only by grade passback), if an object.
    grade_service: dict[str, Any] | None = dataclasses.field(default=None, repr=False)


class LaunchVerifier(TokenVerifier):
    """Verifies one registration's id_tokens; ``verify`` returns a ``VerifiedLaunch``."""

    def __init__(
        self,
        registration: LtiRegistration,
        keys: KeySource,
        leeway_seconds: int = DEFAULT_LTI_LEEWAY_SECONDS,
        deep_linking: bool = False,
    ) -> None:
        super().__init__(launch_policy(registration, leeway_seconds), keys)
        self._registration = registration
        self._message_types = (RESOURCE_LINK_REQUEST, *((DEEP_LINKING_REQUEST,) if deep_linking else ()))
        # sub is LTI's to check (_check_claims: lti_claim_invalid, as docs/lti.md says), not PyJWT's.
        self._required = [claim for claim in self._required if claim != "sub"]

    def _user_id(self, claims: dict[str, Any], issuer: str) -> str:
        return lti_partner_id(issuer, claims["sub"])

    def _check_claims(self, claims: dict[str, Any], issuer: str, kid: str | None) -> VerifiedToken:
        """LTI's rules first, then the partner flow's on the claims as Big Interview sees them."""
        registration = self._registration
        aud = claims["aud"]
        audiences = aud if isinstance(aud, list) else [aud]
        if audiences != [registration.client_id]:
            # Security Framework §5.1.3 (3): reject audiences the tool does not trust.
            raise LtiClaimRefused(
                "aud must name only this tool's client_id",
                expected=registration.client_id,
                found=bounded(aud),
            )
        azp = claims.get("azp")
        if azp is not None and azp != registration.client_id:
            raise LtiClaimRefused(
                "azp is not this tool's client_id", expected=registration.client_id, found=bounded(azp)
            )
        version = claims.get(CLAIM["version"])
        if version != "1.3.0":
            raise LtiClaimRefused(
                "the LTI version claim must be 1.3.0", expected="1.3.0", found=bounded(version)
            )
        message_type = claims.get(CLAIM["message_type"])
        if message_type not in self._message_types:
            accepted = " or ".join(self._message_types)
            raise LtiClaimRefused(
                f"only {accepted} messages are accepted"
                if len(self._message_types) > 1
                else "only resource link launches (LtiResourceLinkRequest) are accepted",
                expected=accepted,
                found=bounded(message_type),
            )
        settings = claims.get(DEEP_LINKING_SETTINGS)
        if message_type == DEEP_LINKING_REQUEST:
            if not isinstance(settings, dict) or not isinstance(settings.get("deep_link_return_url"), str):
                raise LtiClaimRefused(
                    "the deep_linking_settings claim with its deep_link_return_url is required"
                )
        else:
            resource_link = claims.get(CLAIM["resource_link"])
            if not isinstance(resource_link, dict) or not isinstance(resource_link.get("id"), str):
                raise LtiClaimRefused("the resource_link claim with its id is required")
        roles = claims.get(CLAIM["roles"])
        if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
            # LTI 1.3 Core 5.3.7: required, an array of URIs; empty (no role) and unknown roles are valid.
            raise LtiClaimRefused("the roles claim (an array, possibly empty) is required")
        deployment_id = claims.get(CLAIM["deployment_id"])
        check_deployment(registration, deployment_id, "the deployment_id")
        target_link_uri = claims.get(CLAIM["target_link_uri"])
        if not isinstance(target_link_uri, str):
            raise LtiClaimRefused("the target_link_uri claim is required")
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not nonce:
            raise LtiClaimRefused("the nonce claim is required")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not 0 < len(sub) <= _MAX_SUB:
            # Anonymous launches (no sub) cannot become a Big Interview user.
            # Never shown: it identifies a person.
            raise LtiClaimRefused("sub must be the launching user's id (1 to 255 characters)")
        custom = claims.get(CLAIM["custom"])
        if custom is not None and not isinstance(custom, dict):
            raise LtiClaimRefused("the custom claim must be an object")
        redirect_to = (custom or {}).get("redirect_to")
        if redirect_to is not None and not isinstance(redirect_to, str):
            raise LtiClaimRefused("the custom parameter redirect_to must be a string")
        # A platform's own top-level redirect_to is not an LTI claim: only the custom one counts.
        as_partner = {**claims, "redirect_to": redirect_to}
        verified = super()._check_claims(as_partner, issuer, kid)
        fields = {field.name: getattr(verified, field.name) for field in dataclasses.fields(VerifiedToken)}
        grade_service = claims.get(AGS_ENDPOINT_CLAIM)
        return VerifiedLaunch(
            **fields,
            nonce=nonce,
            deployment_id=str(deployment_id),
            target_link_uri=target_link_uri,
            message_type=str(message_type),
            deep_linking=settings if message_type == DEEP_LINKING_REQUEST else None,
            sub=sub,
            grade_service=grade_service if isinstance(grade_service, dict) else None,
        )


def check_deployment(registration: LtiRegistration, deployment_id: Any, name: str) -> None:
    """``deployment_id`` (a login's parameter or a launch's claim) must be one the registration allows."""
    if deployment_id not in registration.deployment_ids:
        raise UnknownDeployment(
            f"{name} {bounded(deployment_id)!r} is not one this registration allows: "
            "add it to the registration",
            expected=list(registration.deployment_ids),
            found=bounded(deployment_id),
        )
