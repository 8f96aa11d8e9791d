"""The whole handler, end to end, against real HTTPS servers (Partner API, JWKS) and moto.

Each test is one behaviour of the HTTP interface in issue 2.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import Sso
from tests.support import API_KEY, FakePartnerApi, SigningKey, form_event, http_event, mint

JSON = {"Accept": "application/json"}

SECURITY_HEADERS = ("Cache-Control", "Referrer-Policy", "X-Content-Type-Options", "Strict-Transport-Security")


def location_params(result: dict[str, Any]) -> dict[str, list[str]]:
    return parse_qs(urlsplit(result["headers"]["Location"]).query)


def test_valid_link_redirects_to_big_interview_sso_login(
    sso: Sso, rsa_key: SigningKey, partner_api: FakePartnerApi
) -> None:
    result = sso(http_event(query={"jwt": mint(rsa_key)}))

    assert result["statusCode"] == 302
    location = urlsplit(result["headers"]["Location"])
    assert f"{location.scheme}://{location.netloc}" == sso.config.partner.destination.bi_base_url
    assert location.path == "/sso/login"
    [call] = partner_api.calls
    assert location_params(result)["token"] == [partner_api_token(partner_api, result)]
    assert call["partner_id"] == "abc123"


def partner_api_token(partner_api: FakePartnerApi, result: dict[str, Any]) -> str:
    # The fake issues a fresh token per call; the one in Location must be the last one issued.
    token = location_params(result)["token"][0]
    assert len(token) == 64 and all(c in "0123456789abcdef" for c in token)
    return token


def test_partner_api_gets_bare_key_profile_and_user_agent(
    sso: Sso, rsa_key: SigningKey, partner_api: FakePartnerApi
) -> None:
    sso(http_event(query={"jwt": mint(rsa_key)}))

    [call] = partner_api.calls
    assert call["headers"]["Authorization"] == API_KEY
    assert call["headers"]["Accept"] == "application/json"
    assert call["headers"]["User-Agent"].startswith("big-interview-sso-redirector/")
    assert call["json"] == {
        "first_name": "Adelheid",
        "last_name": "Quixotte",
        "email": "adelheid.q@example.edu",
    }


def test_es256_token_is_accepted(sso: Sso, ec_key: SigningKey) -> None:
    assert sso(http_event(query={"jwt": mint(ec_key)}))["statusCode"] == 302


def test_form_post_base64_encoded_redirects(sso: Sso, rsa_key: SigningKey) -> None:
    assert sso(form_event({"jwt": mint(rsa_key)}, base64_body=True))["statusCode"] == 302


def test_form_post_plain_text_body_redirects(sso: Sso, rsa_key: SigningKey) -> None:
    assert sso(form_event({"jwt": mint(rsa_key)}, base64_body=False))["statusCode"] == 302


def test_bearer_with_accept_json_answers_200_with_redirect_url(sso: Sso, rsa_key: SigningKey) -> None:
    event = http_event(headers={"Authorization": f"Bearer {mint(rsa_key)}", "Accept": "application/json"})

    result = sso(event)

    assert result["statusCode"] == 200
    url = json.loads(result["body"])["redirect_url"]
    assert url.startswith(sso.config.partner.destination.bi_base_url + "/sso/login?token=")


def test_redirect_to_claim_and_return_url_are_appended_url_encoded(
    make_sso: Any, partner_api: FakePartnerApi, jwks: Any, rsa_key: SigningKey
) -> None:
    sso = make_sso(SSO_RETURN_URL="https://portal.example.edu/")
    result = sso(http_event(query={"jwt": mint(rsa_key, redirect_to="/members/curriculum?chapter=6")}))

    query = urlsplit(result["headers"]["Location"]).query
    assert "redirect_to=%2Fmembers%2Fcurriculum%3Fchapter%3D6" in query
    assert "return_url=https%3A%2F%2Fportal.example.edu%2F" in query


def test_redirect_to_query_parameter_is_appended(sso: Sso, rsa_key: SigningKey) -> None:
    result = sso(http_event(query={"jwt": mint(rsa_key), "redirect_to": "/members/dashboard"}))

    assert location_params(result)["redirect_to"] == ["/members/dashboard"]


@pytest.mark.parametrize(
    "bad", ["//evil.example", "https://evil.example/", "/\\evil.example", "/a\tb", "x" * 10]
)
def test_invalid_redirect_to_is_400_and_partner_api_not_called(
    sso: Sso, rsa_key: SigningKey, partner_api: FakePartnerApi, bad: str
) -> None:
    result = sso(http_event(query={"jwt": mint(rsa_key), "redirect_to": bad}))

    assert result["statusCode"] == 400
    assert partner_api.calls == []
    assert "Location" not in result["headers"]


def test_return_url_outside_allow_list_is_400(
    sso: Sso, rsa_key: SigningKey, partner_api: FakePartnerApi
) -> None:
    result = sso(
        http_event(query={"jwt": mint(rsa_key), "return_url": "https://evil.example/"}, headers=JSON)
    )
    error = json.loads(result["body"])["error"]

    assert result["statusCode"] == 400
    assert partner_api.calls == []
    # Its own sentence: the return address after signing out, not a page inside Big Interview.
    assert error["code"] == "invalid_redirect"
    assert error["message"].startswith(
        "The page your portal asked Big Interview to send you back to after signing out"
    )
    assert error["detail"] == (
        "return_url's origin 'https://evil.example' is not in RETURN_URL_ALLOWED_ORIGINS"
    )


def test_an_unsafe_redirect_to_has_the_in_app_page_sentence(sso: Sso, rsa_key: SigningKey) -> None:
    result = sso(http_event(query={"jwt": mint(rsa_key), "redirect_to": "//evil"}, headers=JSON))
    error = json.loads(result["body"])["error"]

    assert error["message"].startswith("The page your portal asked to open inside Big Interview")
    assert error["detail"] == "redirect_to must start with exactly one '/'"


def test_a_json_error_carries_code_message_detail_and_request_id(sso: Sso, rsa_key: SigningKey) -> None:
    event = http_event(query={"jwt": mint(rsa_key, aud="someone-else")}, headers=JSON)

    error = json.loads(sso(event)["body"])["error"]

    assert error == {
        "code": "invalid_audience",
        "message": "The sign-in link is not valid. Your portal's sign-in to Big Interview is not set up "
        "correctly, so trying again will not help. Please contact your portal's support and quote the "
        "reference below.",
        "detail": "aud is 'someone-else'; expected 'big-interview-sso'",
        "request_id": event["requestContext"]["requestId"],
    }


def test_the_error_pages_guide_link_follows_troubleshooting_url(
    make_sso: Any, jwks: Any, rsa_key: SigningKey
) -> None:
    sso = make_sso(TROUBLESHOOTING_URL="https://docs.example.com/partner-guide.html#top")

    page = sso(http_event(query={"jwt": mint(rsa_key, aud="someone-else")}))["body"]

    assert 'href="https://docs.example.com/partner-guide.html#invalid_audience"' in page


def test_health_answers_200_json_and_calls_nothing(sso: Sso, partner_api: FakePartnerApi) -> None:
    result = sso(http_event(path="/health"))

    assert result["statusCode"] == 200
    assert json.loads(result["body"])["status"] == "ok"
    assert partner_api.calls == []


def test_unknown_route_is_404_page(sso: Sso) -> None:
    result = sso(http_event(path="/admin"))

    assert result["statusCode"] == 404
    assert result["headers"]["Content-Type"].startswith("text/html")


# ---- error statuses ------------------------------------------------------------------------------
def test_missing_token_is_400(sso: Sso) -> None:
    result = sso(http_event())

    assert result["statusCode"] == 400
    assert "missing_token" in result["body"]


def test_expired_token_is_401_html_page_with_request_id(
    sso: Sso, rsa_key: SigningKey, partner_api: FakePartnerApi
) -> None:
    import time

    now = int(time.time())
    token = mint(rsa_key, iat=now - 400, exp=now - 100)
    event = http_event(query={"jwt": token})

    result = sso(event)

    assert result["statusCode"] == 401
    assert result["headers"]["Content-Type"].startswith("text/html")
    assert "expired" in result["body"]
    assert event["requestContext"]["requestId"] in result["body"]
    assert token not in result["body"]
    assert partner_api.calls == []


def test_error_as_json_when_client_prefers_json(sso: Sso) -> None:
    event = http_event(query={"jwt": "a.b.c"}, headers={"Accept": "application/json"})

    result = sso(event)

    error = json.loads(result["body"])["error"]
    assert result["statusCode"] == 401
    assert error["code"] == "malformed_token"
    assert error["request_id"] == event["requestContext"]["requestId"]
    assert error["message"]


def test_invalid_partner_id_is_403_before_any_call(
    sso: Sso, rsa_key: SigningKey, partner_api: FakePartnerApi
) -> None:
    result = sso(http_event(query={"jwt": mint(rsa_key, sub="../admin")}))

    assert result["statusCode"] == 403
    assert partner_api.calls == []


def test_partner_api_422_is_422_profile_required(sso: Sso, rsa_key: SigningKey) -> None:
    # A new user without an email: Big Interview refuses to create it.
    result = sso(http_event(query={"jwt": mint(rsa_key, sub="newuser", email=None)}))

    assert result["statusCode"] == 422
    assert "profile_required" in result["body"]


def test_secrets_manager_without_the_secret_and_nothing_cached_is_503(
    sso: Sso, aws: Any, rsa_key: SigningKey
) -> None:
    aws.delete_secret(SecretId="bi-sso/test/api-key", ForceDeleteWithoutRecovery=True)

    result = sso(http_event(query={"jwt": mint(rsa_key)}))

    assert result["statusCode"] == 503
    assert "secret_unavailable" in result["body"]


def test_error_redirect_url_sends_browsers_there_with_code_and_request_id(make_sso: Any, jwks: Any) -> None:
    sso = make_sso(ERROR_REDIRECT_URL="https://portal.example.edu/sso-error")
    event = http_event(query={"jwt": "a.b.c"})

    result = sso(event)

    assert result["statusCode"] == 302
    location = urlsplit(result["headers"]["Location"])
    assert location.netloc == "portal.example.edu"
    assert parse_qs(location.query) == {
        "error": ["malformed_token"],
        "request_id": [event["requestContext"]["requestId"]],
    }
    # Only the code and the reference: the developer's detail is not for a third party's logs.
    assert "segments" not in result["headers"]["Location"]
    assert result["body"] == ""


@pytest.mark.parametrize(
    "event",
    [
        http_event(path="/health"),
        http_event(),
        http_event(query={"jwt": "x.y.z"}, headers={"Accept": "application/json"}),
        http_event(path="/nope"),
    ],
    ids=["health", "missing", "json-error", "not-found"],
)
def test_every_response_has_security_headers(sso: Sso, event: dict[str, Any]) -> None:
    headers = sso(event)["headers"]

    for name in SECURITY_HEADERS:
        assert headers[name]
    assert headers["Cache-Control"] == "no-store"
    if headers["Content-Type"].startswith("text/html"):
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_redirect_has_security_headers(sso: Sso, rsa_key: SigningKey) -> None:
    headers = sso(http_event(query={"jwt": mint(rsa_key)}))["headers"]

    assert all(headers[name] for name in SECURITY_HEADERS)


def test_the_function_sends_no_cors_headers_api_gateway_owns_cors(
    make_sso: Any, partner_api: FakePartnerApi, jwks: Any, rsa_key: SigningKey
) -> None:
    # CORS is the HTTP API's CorsConfiguration (template.yaml), which API Gateway applies
    # and which overrides whatever a function sends; the function must not keep a second,
    # diverging copy (issue 10). tests/local/test_cors.py checks the gateway's side.
    sso = make_sso(CORS_ALLOWED_ORIGINS="https://portal.example.edu")
    headers = {"Accept": "application/json", "Authorization": f"Bearer {mint(rsa_key)}"}
    origin = {"Origin": "https://portal.example.edu"}

    answers = [
        sso(http_event(headers={**headers, **origin})),
        sso(http_event("OPTIONS", headers={**origin, "Access-Control-Request-Method": "GET"})),
    ]

    assert answers[0]["statusCode"] == 200
    for answer in answers:
        assert not [name for name in answer["headers"] if name.lower().startswith("access-control-")]
