"""handler.lti.claims: LTI 1.3's claim rules on a platform's id_token, and the partner_id."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import pytest

from handler.config import DEFAULT_LTI_LEEWAY_SECONDS
from handler.errors import TokenExpired
from handler.keys import JwksKeySource
from handler.lti.claims import (
    AGS_ENDPOINT_CLAIM,
    CLAIM,
    DEEP_LINKING_REQUEST,
    DEEP_LINKING_SETTINGS,
    MAX_ID_TOKEN_LIFETIME,
    LaunchVerifier,
    VerifiedLaunch,
    launch_policy,
    lti_partner_id,
)
from handler.lti.errors import LtiClaimRefused, UnknownDeployment
from handler.lti.registrations import LtiRegistration
from tests.lti.conftest import (
    CLIENT_ID,
    DEEP_LINK_RETURN_URL,
    DEPLOYMENT_ID,
    LAUNCH_URL,
    PLATFORM,
    SUB,
    deep_linking_request,
    platform_token,
)
from tests.support import SigningKey

NONCE = "nonce-5f2e"
REGISTRATION = LtiRegistration(
    issuer=PLATFORM,
    client_id=CLIENT_ID,
    deployment_ids=(DEPLOYMENT_ID, "2:second-deployment"),
    auth_url="https://lms.example.edu/api/lti/authorize_redirect",
    jwks_url="https://lms.example.edu/api/lti/security/jwks",
    bi_org="xyz",
    bi_base_url="https://api.biginterview.test",
    api_key_secret_id="bi-sso/test/api-key",
)


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.rsa(kid="platform-1")


@pytest.fixture
def verifier(key: SigningKey) -> LaunchVerifier:
    keys = JwksKeySource.from_document({"keys": [key.jwk]}, (PLATFORM,))
    return LaunchVerifier(REGISTRATION, keys)


@pytest.fixture
def deep_linking_verifier(key: SigningKey) -> LaunchVerifier:
    keys = JwksKeySource.from_document({"keys": [key.jwk]}, (PLATFORM,))
    return LaunchVerifier(REGISTRATION, keys, deep_linking=True)


def verify(verifier: LaunchVerifier, key: SigningKey, **claims: Any) -> VerifiedLaunch:
    verified = verifier.verify(platform_token(key, NONCE, **claims))
    assert isinstance(verified, VerifiedLaunch)
    return verified


def refusal(verifier: LaunchVerifier, key: SigningKey, **claims: Any) -> LtiClaimRefused | UnknownDeployment:
    with pytest.raises((LtiClaimRefused, UnknownDeployment)) as raised:
        verifier.verify(platform_token(key, NONCE, **claims))
    assert isinstance(raised.value, LtiClaimRefused | UnknownDeployment)
    return raised.value


# ---- the partner_id --------------------------------------------------------------------------------
def test_the_partner_id_is_lti_and_the_unpadded_base64url_sha256_of_iss_and_sub() -> None:
    digest = hashlib.sha256(json.dumps([PLATFORM, SUB]).encode()).digest()
    expected = "lti-" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    assert lti_partner_id(PLATFORM, SUB) == expected
    assert len(expected) == 4 + 43


def test_the_partner_id_keeps_iss_and_sub_apart_and_non_ascii_as_utf8() -> None:
    assert lti_partner_id("a|b", "c") != lti_partner_id("a", "b|c")
    digest = hashlib.sha256('["https://lms.test", "élève"]'.encode()).digest()
    assert lti_partner_id("https://lms.test", "élève") == "lti-" + base64.urlsafe_b64encode(digest).rstrip(
        b"="
    ).decode("ascii")


def test_the_launch_policy_is_the_registrations_with_rs256_only() -> None:
    policy = launch_policy(REGISTRATION, leeway_seconds=7)

    assert policy.issuers == (PLATFORM,)
    assert policy.audience == CLIENT_ID
    assert policy.jwks_url == REGISTRATION.jwks_url
    assert policy.algorithms == ("RS256",)
    assert policy.user_claim == "sub"
    assert policy.max_age_seconds == MAX_ID_TOKEN_LIFETIME == 3600
    assert policy.leeway_seconds == 7
    assert launch_policy(REGISTRATION).leeway_seconds == DEFAULT_LTI_LEEWAY_SECONDS == 120


# ---- a valid launch --------------------------------------------------------------------------------
def test_a_valid_launch_gives_the_partner_id_the_profile_and_what_the_launch_compares(
    verifier: LaunchVerifier, key: SigningKey
) -> None:
    launch = verify(verifier, key)

    assert launch.partner_id == lti_partner_id(PLATFORM, SUB)
    assert launch.issuer == PLATFORM
    assert launch.kid == "platform-1"
    assert launch.nonce == NONCE
    assert launch.deployment_id == DEPLOYMENT_ID
    assert launch.target_link_uri == LAUNCH_URL
    assert launch.profile["email"] == "o.brackenbury@student.example.edu"
    assert launch.redirect_to is None
    assert launch.sub == SUB
    assert launch.grade_service is None
    assert NONCE not in repr(launch)
    assert SUB not in repr(launch)


def test_a_graded_launch_carries_the_ags_endpoint_claim(verifier: LaunchVerifier, key: SigningKey) -> None:
    endpoint = {
        "scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/score"],
        "lineitem": "https://lms.example.edu/api/lti/courses/7/line_items/3",
    }

    assert verify(verifier, key, **{AGS_ENDPOINT_CLAIM: endpoint}).grade_service == endpoint


@pytest.mark.parametrize("endpoint", ["https://lms.example.edu/api/lti/courses/7/line_items/3", ["score"], 7])
def test_an_ags_endpoint_claim_that_is_not_an_object_is_ignored(
    verifier: LaunchVerifier, key: SigningKey, endpoint: Any
) -> None:
    assert verify(verifier, key, **{AGS_ENDPOINT_CLAIM: endpoint}).grade_service is None


def test_the_verifier_applies_its_own_leeway(key: SigningKey) -> None:
    keys = JwksKeySource.from_document({"keys": [key.jwk]}, (PLATFORM,))
    now = int(time.time())
    expired_a_minute_ago = {"iat": now - 300, "exp": now - 60}

    with pytest.raises(TokenExpired):
        verify(LaunchVerifier(REGISTRATION, keys, leeway_seconds=10), key, **expired_a_minute_ago)
    assert verify(LaunchVerifier(REGISTRATION, keys), key, **expired_a_minute_ago).sub == SUB


def test_aud_as_a_list_of_only_this_tool_and_no_azp_is_accepted(
    verifier: LaunchVerifier, key: SigningKey
) -> None:
    assert verify(verifier, key, aud=[CLIENT_ID], azp=None).deployment_id == DEPLOYMENT_ID


def test_any_registered_deployment_is_accepted(verifier: LaunchVerifier, key: SigningKey) -> None:
    assert verify(verifier, key, **{CLAIM["deployment_id"]: "2:second-deployment"}).deployment_id == (
        "2:second-deployment"
    )


def test_the_custom_redirect_to_is_the_redirect_and_a_top_level_one_is_not(
    verifier: LaunchVerifier, key: SigningKey
) -> None:
    launch = verify(verifier, key, redirect_to="/elsewhere", **{CLAIM["custom"]: {"redirect_to": "/app/x"}})

    assert launch.redirect_to == "/app/x"
    assert verify(verifier, key, redirect_to="/elsewhere").redirect_to is None


# ---- refusals, each by name (an aud without this tool is the partner flow's refusal) -------------------
@pytest.mark.parametrize(
    ("claims", "detail", "found"),
    [
        (
            {"aud": [CLIENT_ID, "other-tool"]},
            "aud must name only this tool's client_id",
            [CLIENT_ID, "other-tool"],
        ),
        ({"azp": "other-tool"}, "azp is not this tool's client_id", "other-tool"),
        ({CLAIM["version"]: "1.1"}, "the LTI version claim must be 1.3.0", "1.1"),
        ({CLAIM["version"]: None}, "the LTI version claim must be 1.3.0", None),
        (
            {CLAIM["message_type"]: "LtiDeepLinkingRequest"},
            "only resource link launches (LtiResourceLinkRequest) are accepted",
            "LtiDeepLinkingRequest",
        ),
        ({CLAIM["resource_link"]: None}, "the resource_link claim with its id is required", None),
        ({CLAIM["resource_link"]: {"title": "x"}}, "the resource_link claim with its id is required", None),
        ({CLAIM["resource_link"]: {"id": 7}}, "the resource_link claim with its id is required", None),
        ({CLAIM["resource_link"]: ["id"]}, "the resource_link claim with its id is required", None),
        ({CLAIM["target_link_uri"]: None}, "the target_link_uri claim is required", None),
        ({CLAIM["target_link_uri"]: 5}, "the target_link_uri claim is required", None),
        ({"nonce": None}, "the nonce claim is required", None),
        ({"nonce": ""}, "the nonce claim is required", None),
        ({"sub": None}, "sub must be the launching user's id (1 to 255 characters)", None),
        ({"sub": ""}, "sub must be the launching user's id (1 to 255 characters)", None),
        ({"sub": "s" * 256}, "sub must be the launching user's id (1 to 255 characters)", None),
        ({CLAIM["custom"]: ["redirect_to"]}, "the custom claim must be an object", None),
        ({CLAIM["custom"]: {"redirect_to": 5}}, "the custom parameter redirect_to must be a string", None),
    ],
)
def test_each_lti_rule_refuses_by_name(
    verifier: LaunchVerifier, key: SigningKey, claims: dict[str, Any], detail: str, found: Any
) -> None:
    refused = refusal(verifier, key, **claims)

    assert type(refused) is LtiClaimRefused
    assert refused.detail == detail
    assert refused.found == found


def test_the_expected_values_are_this_tools(verifier: LaunchVerifier, key: SigningKey) -> None:
    assert refusal(verifier, key, aud=[CLIENT_ID, "other"]).expected == CLIENT_ID
    assert refusal(verifier, key, azp="other").expected == CLIENT_ID
    assert refusal(verifier, key, **{CLAIM["version"]: "1.1"}).expected == "1.3.0"
    assert refusal(verifier, key, **{CLAIM["message_type"]: "x"}).expected == "LtiResourceLinkRequest"


@pytest.mark.parametrize("sub", ["s", "s" * 255])
def test_a_sub_of_1_to_255_characters_is_accepted(
    verifier: LaunchVerifier, key: SigningKey, sub: str
) -> None:
    assert verify(verifier, key, sub=sub).partner_id == lti_partner_id(PLATFORM, sub)


@pytest.mark.parametrize("deployment", ["3:unknown", None, 7])
def test_a_deployment_the_registration_does_not_allow_is_unknown_deployment(
    verifier: LaunchVerifier, key: SigningKey, deployment: Any
) -> None:
    refused = refusal(verifier, key, **{CLAIM["deployment_id"]: deployment})

    assert type(refused) is UnknownDeployment
    assert refused.expected == [DEPLOYMENT_ID, "2:second-deployment"]
    assert refused.found == deployment
    assert "add it to the registration" in refused.detail


@pytest.mark.parametrize(
    ("found", "shown"),
    [
        ("x" * 300, "x" * 200),
        (["a" * 300, "b"], ["a" * 200, "b"]),
        ([str(i) for i in range(11)], repr([str(i) for i in range(11)])),
        (["a", 1], "['a', 1]"),
        ({"a": 1}, "{'a': 1}"),
        (12, 12),
        ({"k": "v" * 300}, repr({"k": "v" * 300})[:120] + "…"),
    ],
)
def test_a_found_value_is_shown_short_and_json_safe(
    verifier: LaunchVerifier, key: SigningKey, found: Any, shown: Any
) -> None:
    assert refusal(verifier, key, azp=found).found == shown


def test_an_unknown_deployment_is_named_in_the_detail(verifier: LaunchVerifier, key: SigningKey) -> None:
    refused = refusal(verifier, key, **{CLAIM["deployment_id"]: "3:unknown"})

    assert refused.detail == (
        "the deployment_id '3:unknown' is not one this registration allows: add it to the registration"
    )


# ---- roles (LTI 1.3 Core §5.3.7: required, an array of strings, possibly empty) ----------------------
def test_an_empty_roles_array_is_a_valid_launch(verifier: LaunchVerifier, key: SigningKey) -> None:
    assert verify(verifier, key, **{CLAIM["roles"]: []}).deployment_id == DEPLOYMENT_ID


@pytest.mark.parametrize("roles", [None, "Learner", {"role": "Learner"}, ["Learner", 7], [None]])
def test_roles_that_are_not_an_array_of_strings_are_refused(
    verifier: LaunchVerifier, key: SigningKey, roles: Any
) -> None:
    refused = refusal(verifier, key, **{CLAIM["roles"]: roles})

    assert type(refused) is LtiClaimRefused
    assert refused.detail == "the roles claim (an array, possibly empty) is required"


# ---- deep linking (Deep Linking 2.0 §4.4), when the tool offers it --------------------------------------
def test_a_deep_linking_request_carries_its_settings(
    deep_linking_verifier: LaunchVerifier, key: SigningKey
) -> None:
    launch = verify(deep_linking_verifier, key, **deep_linking_request())

    assert launch.message_type == DEEP_LINKING_REQUEST
    assert launch.deep_linking is not None
    assert launch.deep_linking["deep_link_return_url"] == DEEP_LINK_RETURN_URL
    assert launch.deep_linking["data"] == "platform-opaque-7"


def test_a_resource_link_launch_with_deep_linking_on_has_no_settings(
    deep_linking_verifier: LaunchVerifier, key: SigningKey
) -> None:
    launch = verify(deep_linking_verifier, key, **{DEEP_LINKING_SETTINGS: {"deep_link_return_url": "x"}})

    assert launch.message_type == "LtiResourceLinkRequest"
    assert launch.deep_linking is None


@pytest.mark.parametrize(
    "settings",
    [
        None,
        "https://lms.example.edu/return",
        ["deep_link_return_url"],
        {"data": "x"},
        {"deep_link_return_url": 7},
    ],
)
def test_a_deep_linking_request_without_a_return_url_is_refused(
    deep_linking_verifier: LaunchVerifier, key: SigningKey, settings: Any
) -> None:
    claims = {**deep_linking_request(), DEEP_LINKING_SETTINGS: settings}

    refused = refusal(deep_linking_verifier, key, **claims)

    assert type(refused) is LtiClaimRefused
    assert refused.detail == "the deep_linking_settings claim with its deep_link_return_url is required"


def test_with_deep_linking_on_the_refusal_names_both_message_types(
    deep_linking_verifier: LaunchVerifier, key: SigningKey
) -> None:
    refused = refusal(deep_linking_verifier, key, **{CLAIM["message_type"]: "LtiSubmissionReviewRequest"})

    assert refused.detail == "only LtiResourceLinkRequest or LtiDeepLinkingRequest messages are accepted"
    assert refused.expected == "LtiResourceLinkRequest or LtiDeepLinkingRequest"
    assert refused.found == "LtiSubmissionReviewRequest"
