"""A partner's token cannot sign in as an LTI student: the lti- id space is not the partner's."""

from __future__ import annotations

import json

import pytest

from handler.lti.claims import lti_partner_id
from tests.conftest import Sso
from tests.support import FakePartnerApi, SigningKey, http_event, mint

STUDENT = lti_partner_id("https://lms.example.edu", "f5c9a6b2-0d3e-4c1f-9a8b-5e2d7c3b1a90")


@pytest.mark.parametrize("user", [STUDENT, STUDENT.upper(), "LTI-" + STUDENT[4:], "lti-anything"])
def test_a_partner_jwt_naming_an_lti_user_is_refused_before_the_partner_api(
    sso: Sso, rsa_key: SigningKey, partner_api: FakePartnerApi, user: str
) -> None:
    result = sso(http_event(query={"jwt": mint(rsa_key, sub=user)}, headers={"Accept": "application/json"}))

    assert result["statusCode"] == 403
    assert json.loads(result["body"])["error"]["code"] == "invalid_user"
    assert partner_api.calls == []


def test_a_partner_user_id_outside_the_minted_spaces_still_signs_in(
    sso: Sso, rsa_key: SigningKey, partner_api: FakePartnerApi
) -> None:
    result = sso(http_event(query={"jwt": mint(rsa_key, sub="ltistudent-7")}))

    assert result["statusCode"] == 302
    assert [call["partner_id"] for call in partner_api.calls] == ["ltistudent-7"]
