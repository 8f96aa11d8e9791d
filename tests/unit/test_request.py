"""handler.request: the token and the unsigned parameters out of an HTTP API (v2) event."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from handler.errors import BadRequest, ConflictingTokens, MissingToken, TokenTooLarge
from handler.request import form_fields, sign_in_request, wants_json
from handler.sign_in import SignInRequest
from tests.support import form_event, http_event

TOKEN = "header.payload.signature"


def event(raw: dict[str, Any]) -> APIGatewayProxyEventV2:
    return APIGatewayProxyEventV2(raw)


@pytest.mark.parametrize(
    ("accept", "json"),
    [
        ("application/json", True),
        ("Application/JSON; q=1", True),
        ("text/html,application/json", False),
        ("text/html", False),
        ("", False),
    ],
)
def test_json_is_wanted_only_when_accepted_without_html(accept: str, json: bool) -> None:
    headers = {"accept": accept} if accept else {}
    assert wants_json(event(http_event(headers=headers))) is json


def test_the_token_comes_from_the_query_with_its_parameters() -> None:
    raw = http_event(query={"jwt": TOKEN, "redirect_to": "/a", "return_url": "https://p.test/"})

    assert sign_in_request(event(raw)) == SignInRequest(TOKEN, "/a", "https://p.test/")


@pytest.mark.parametrize("base64_body", [True, False])
def test_the_token_comes_from_a_form_whose_parameters_win_over_the_query(base64_body: bool) -> None:
    raw = form_event(
        {"jwt": TOKEN, "redirect_to": "/form"}, base64_body=base64_body, query={"redirect_to": "/q"}
    )

    assert sign_in_request(event(raw)) == SignInRequest(TOKEN, "/form", None)


def test_the_token_comes_from_a_bearer_header() -> None:
    raw = http_event(headers={"Authorization": f"bearer  {TOKEN} "})

    assert sign_in_request(event(raw)).token == TOKEN


def test_the_same_token_twice_is_one_token() -> None:
    raw = http_event(query={"jwt": TOKEN}, headers={"Authorization": f"Bearer {TOKEN}"})

    assert sign_in_request(event(raw)).token == TOKEN


def test_a_form_on_a_get_is_not_read() -> None:
    raw = http_event(query={"jwt": TOKEN}, body="jwt=other", headers={"content-type": "text/plain"})

    assert sign_in_request(event(raw)).token == TOKEN


@pytest.mark.parametrize(
    ("raw", "error", "detail"),
    [
        (http_event(), MissingToken, "no jwt in the query, the form or an Authorization header"),
        (
            http_event(query={"jwt": TOKEN}, headers={"Authorization": "Bearer other"}),
            ConflictingTokens,
            "the request carries different tokens",
        ),
        (
            form_event({"jwt": TOKEN}, query={"jwt": "other"}),
            ConflictingTokens,
            "the request carries different tokens",
        ),
        (
            http_event(headers={"Authorization": "Basic dXNlcjpwdw=="}),
            BadRequest,
            "Authorization must be 'Bearer <JWT>'",
        ),
        (
            http_event(headers={"Authorization": "Bearer   "}),
            BadRequest,
            "Authorization must be 'Bearer <JWT>'",
        ),
    ],
)
def test_a_missing_or_ambiguous_token_is_refused_by_name(
    raw: dict[str, Any], error: type[Exception], detail: str
) -> None:
    with pytest.raises(error) as raised:
        sign_in_request(event(raw))
    assert type(raised.value) is error
    assert str(raised.value) == detail


FORM = "application/x-www-form-urlencoded"


def posted(body: str, content_type: str = FORM) -> APIGatewayProxyEventV2:
    return event(http_event("POST", body=body, base64_body=False, headers={"content-type": content_type}))


def posted_base64(body: str) -> APIGatewayProxyEventV2:
    """A body flagged base64, as API Gateway sends a form; ``body`` as it arrives."""
    return event(
        {**http_event("POST", headers={"content-type": FORM}), "body": body, "isBase64Encoded": True}
    )


def test_form_fields_are_read_and_blank_ones_dropped() -> None:
    assert form_fields(posted("jwt=a&redirect_to=&x=1&x=2")) == {"jwt": ["a"], "x": ["1", "2"]}
    assert form_fields(posted("")) == {}
    assert form_fields(posted("jwt=a", "Application/X-WWW-Form-Urlencoded; charset=utf-8")) == {"jwt": ["a"]}


def test_a_repeated_parameter_with_different_values_is_refused() -> None:
    with pytest.raises(BadRequest, match=r"^redirect_to is given more than once$"):
        sign_in_request(posted(f"jwt={TOKEN}&redirect_to=/a&redirect_to=/b"))
    with pytest.raises(ConflictingTokens, match=r"^the form carries several different jwt values$"):
        sign_in_request(posted("jwt=a&jwt=b"))
    assert (
        sign_in_request(posted(f"jwt={TOKEN}&jwt={TOKEN}&redirect_to=/a&redirect_to=/a")).redirect_to == "/a"
    )


TOO_LARGE = "the request body is too large"


@pytest.mark.parametrize(
    ("request_event", "error", "detail"),
    [
        (
            posted("jwt=a", "application/json"),
            BadRequest,
            f"POST body must be {FORM}, got 'application/json'",
        ),
        (posted("jwt=" + "a" * (16 * 1024 * 4 // 3 + 1)), TokenTooLarge, TOO_LARGE),
        (posted("jwt=" + "a" * (16 * 1024 - 3)), TokenTooLarge, TOO_LARGE),
        (
            posted_base64(base64.b64encode(b"jwt=" + b"a" * (16 * 1024 - 3)).decode()),
            TokenTooLarge,
            TOO_LARGE,
        ),
        (posted_base64("***"), BadRequest, "the body is flagged base64 but is not"),
        (
            posted_base64(base64.b64encode(b"jwt=\xff").decode()),
            BadRequest,
            "the form body is not valid UTF-8 form data",
        ),
    ],
)
def test_an_unusable_form_body_is_refused_by_name(
    request_event: APIGatewayProxyEventV2, error: type[Exception], detail: str
) -> None:
    with pytest.raises(error) as raised:
        form_fields(request_event)
    assert str(raised.value) == detail


def test_a_body_of_exactly_16_kib_is_read() -> None:
    assert form_fields(posted("jwt=" + "a" * (16 * 1024 - 4))) == {"jwt": ["a" * (16 * 1024 - 4)]}
