"""A launch-only deployment in template.yaml: LtiLaunch=Enabled with an empty JwtIssuer.

The empty value reaches the function's JWT_ISSUER, and the function then wires no partner
flow to fetch (tests/lti/test_launch_only.py counts the fetches); a stack without LTI still
needs the partner's issuer and audience, refused at deploy time by the template's rule.
"""

from __future__ import annotations

from typing import Any

import pytest

from handler.config import load_config
from tests.deploy.templates import TEMPLATE_PATH, function_properties, load, rule_accepts

RULE = "PartnerTokensNeedAnIssuerAndAudience"
PARTNER = {"JwtIssuer": "https://idp.partner.example.com", "JwtAudience": "big-interview-sso"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load(TEMPLATE_PATH)


@pytest.mark.parametrize(
    ("values", "accepted"),
    [
        (PARTNER, True),  # the partner flow, as before
        ({**PARTNER, "LtiLaunch": "Enabled"}, True),  # both flows
        ({"LtiLaunch": "Enabled"}, True),  # launch-only
        ({"LtiLaunch": "Enabled", "JwtAudience": "big-interview-sso"}, True),  # launch-only, audience unused
        ({}, False),  # no flow at all
        ({"JwtIssuer": PARTNER["JwtIssuer"]}, False),  # tokens without an audience would fail INIT
        ({"JwtIssuer": PARTNER["JwtIssuer"], "LtiLaunch": "Enabled"}, False),
        ({"JwtAudience": "big-interview-sso"}, False),
    ],
)
def test_the_partners_issuer_and_audience_are_required_unless_the_deployment_is_launch_only(
    template: dict[str, Any], values: dict[str, str], accepted: bool
) -> None:
    assert rule_accepts(template, RULE, values) is accepted


def test_an_empty_jwt_issuer_reaches_the_function_and_makes_it_launch_only(template: dict[str, Any]) -> None:
    variables = function_properties(template)["Environment"]["Variables"]
    assert variables["JWT_ISSUER"] == {"Ref": "JwtIssuer"}
    assert template["Parameters"]["JwtIssuer"]["Default"] == ""

    # What the function gets from a launch-only stack (its parameters at their defaults).
    environment = {
        "BI_ORG": "xyz",
        "BI_API_KEY_SECRET_ID": "bi-sso/prod/api-key",
        "JWT_ISSUER": template["Parameters"]["JwtIssuer"]["Default"],
        "JWT_AUDIENCE": template["Parameters"]["JwtAudience"]["Default"],
        "JWT_JWKS_URL": template["Parameters"]["JwtJwksUrl"]["Default"],
        "LTI_STATE_TABLE_NAME": "launch-states",
        "LTI_ISSUER": "https://lms.example.edu",
        "LTI_CLIENT_ID": "10000000000042",
        "LTI_DEPLOYMENT_IDS": "1:8865aa05",
        "LTI_AUTH_URL": "https://lms.example.edu/auth",
        "LTI_JWKS_URL": "https://lms.example.edu/jwks",
    }
    assert load_config(environment).partner.tokens.issuers == ()
