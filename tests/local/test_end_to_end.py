"""End to end through the real handler: partner JWT -> local API Gateway -> sandbox Big Interview."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.request
from urllib.parse import parse_qs, urlencode, urlsplit

from infra.local.stack import LocalStack
from tests.local.conftest import fetch, post_form


def test_health_answers_without_calling_big_interview(local_stack: LocalStack) -> None:
    before = local_stack.api_calls
    answer = fetch("GET", f"{local_stack.api_url}/health")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert local_stack.api_calls == before


def test_a_get_sign_in_redirects_to_the_sandbox_login_with_a_fresh_token(local_stack: LocalStack) -> None:
    before = local_stack.api_calls
    answer = fetch("GET", local_stack.sign_in_url("e2e-get"))
    assert answer.status == 302
    location = urlsplit(answer.headers["Location"])
    assert (
        f"{location.scheme}://{location.netloc}{location.path}"
        == f"{local_stack.big_interview_url}/sso/login"
    )
    query = parse_qs(location.query)
    assert re.fullmatch(r"[0-9a-f]{64}", query["token"][0])
    assert query["return_url"] == [f"{local_stack.idp_url}/"]
    assert local_stack.api_calls == before + 1
    assert answer.headers["Cache-Control"] == "no-store"


def test_following_the_redirect_signs_the_user_in_to_the_sandbox(local_stack: LocalStack) -> None:
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    url = local_stack.sign_in_url(
        "e2e-follow", given_name="Grace", family_name="Hopper", email="g@example.com"
    )
    with browser.open(url, timeout=15) as response:
        page = response.read().decode()
        assert response.status == 200
        assert response.url.startswith(f"{local_stack.big_interview_url}/sso/login?")
    assert "Signed in to Big Interview (sandbox) as Grace Hopper (e2e-follow)" in page
    assert f'href="{local_stack.idp_url}/">Log out' in page


def test_a_redirect_to_claim_lands_on_that_sandbox_page(local_stack: LocalStack) -> None:
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    url = local_stack.sign_in_url(
        "e2e-deep",
        given_name="Alan",
        family_name="Turing",
        email="a@example.com",
        redirect_to="/members/curriculum?chapter=6",
    )
    with browser.open(url, timeout=15) as response:
        page = response.read().decode()
    assert response.url == f"{local_stack.big_interview_url}/members/curriculum?chapter=6"
    assert "as Alan Turing (e2e-deep)" in page
    assert "/members/curriculum?chapter=6" in page


def test_the_demo_page_form_post_reaches_big_interview(local_stack: LocalStack) -> None:
    idp = local_stack.identity_provider
    assert idp is not None
    form = {"sub": "e2e-form", "given_name": "Ada", "family_name": "L", "email": "ada@example.com"}
    page = post_form(f"{idp.url}/sign-in", form).text
    token = re.search(r'name="jwt" value="([^"]+)"', page)
    assert token is not None
    # What the auto-submitting form sends: POST /sso with a form body.
    answer = post_form(f"{local_stack.api_url}/sso", {"jwt": token.group(1)})
    assert answer.status == 302
    assert answer.headers["Location"].startswith(f"{local_stack.big_interview_url}/sso/login?token=")


def test_json_clients_get_the_redirect_url(local_stack: LocalStack) -> None:
    token = parse_qs(urlsplit(local_stack.sign_in_url("e2e-json")).query)["jwt"][0]
    answer = fetch(
        "GET",
        f"{local_stack.api_url}/sso",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    assert answer.status == 200
    assert json.loads(answer.body)["redirect_url"].startswith(
        f"{local_stack.big_interview_url}/sso/login?token="
    )


def test_a_forged_token_is_refused_without_calling_big_interview(local_stack: LocalStack) -> None:
    before = local_stack.api_calls
    token = parse_qs(urlsplit(local_stack.sign_in_url("e2e-forged")).query)["jwt"][0]
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    answer = fetch(
        "GET",
        f"{local_stack.api_url}/sso?{urlencode({'jwt': forged})}",
        headers={"Accept": "application/json"},
    )
    assert answer.status == 401
    assert local_stack.api_calls == before


def test_an_invalid_partner_id_is_refused_with_403(local_stack: LocalStack) -> None:
    answer = fetch("GET", local_stack.sign_in_url("not a valid id"), headers={"Accept": "application/json"})
    assert answer.status == 403


def test_an_unknown_route_is_404_from_the_gateway(local_stack: LocalStack) -> None:
    assert fetch("GET", f"{local_stack.api_url}/elsewhere").status == 404


def test_a_link_used_twice_shows_the_already_used_page(local_stack: LocalStack) -> None:
    url = local_stack.sign_in_url("e2e-twice")
    assert fetch("GET", url).status == 302

    again = fetch("GET", url)

    assert again.status == 401
    assert "link_already_used" in again.text
    assert "already used" in again.text
    assert "Location" not in again.headers
