"""The sandbox Big Interview behaves as the Partner API docs describe."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from urllib.parse import urlencode

from infra.local.sandbox_big_interview import SandboxBigInterview
from tests.local.conftest import Answer, MutableClock, fetch

PROFILE = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}


def create(
    bi: SandboxBigInterview, partner_id: str, key: str | None, body: dict[str, str] | None = None
) -> Answer:
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = key
    payload = json.dumps(PROFILE if body is None else body).encode()
    return fetch("POST", f"{bi.url}/api/users/{partner_id}", headers=headers, body=payload)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_creating_an_unknown_user_answers_201_with_the_documented_shape(
    sandbox_big_interview: SandboxBigInterview, sandbox_api_key: str
) -> None:
    answer = create(sandbox_big_interview, "abc123", sandbox_api_key)
    assert answer.status == 201
    user = answer.json()["user"]
    assert set(user) == {"partner_id", "created_at", "anonymous", "token"}
    assert user["partner_id"] == "abc123"
    assert user["anonymous"] is False
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", user["created_at"])


def test_tokens_are_64_hex_and_expire_48_hours_after_issue(
    sandbox_big_interview: SandboxBigInterview, sandbox_api_key: str, clock: MutableClock
) -> None:
    token = create(sandbox_big_interview, "abc123", sandbox_api_key).json()["user"]["token"]
    assert re.fullmatch(r"[0-9a-f]{64}", token["token"])
    lifetime = parse_time(token["expires_at"]) - clock.now
    assert abs(lifetime - timedelta(hours=48)) < timedelta(milliseconds=1)


def test_an_existing_user_is_refreshed_with_200_and_a_new_token(
    sandbox_big_interview: SandboxBigInterview, sandbox_api_key: str
) -> None:
    first = create(sandbox_big_interview, "abc123", sandbox_api_key).json()["user"]
    again = create(sandbox_big_interview, "abc123", sandbox_api_key, body={})
    assert again.status == 200
    assert again.json()["user"]["created_at"] == first["created_at"]
    assert again.json()["user"]["token"]["token"] != first["token"]["token"]


def test_the_bare_key_is_required_and_a_bearer_prefix_is_refused(
    sandbox_big_interview: SandboxBigInterview, sandbox_api_key: str
) -> None:
    for key in (None, "0" * 32, f"Bearer {sandbox_api_key}"):
        answer = create(sandbox_big_interview, "abc123", key)
        assert answer.status == 401
        assert "error" in answer.json()
    assert sandbox_big_interview.user("abc123") is None


def test_a_rotated_key_replaces_the_old_one(
    sandbox_big_interview: SandboxBigInterview, sandbox_api_key: str
) -> None:
    sandbox_big_interview.set_api_key("f" * 32)
    assert create(sandbox_big_interview, "abc123", sandbox_api_key).status == 401
    assert create(sandbox_big_interview, "abc123", "f" * 32).status == 201


def test_creating_without_email_is_a_422_validation_error(
    sandbox_big_interview: SandboxBigInterview, sandbox_api_key: str
) -> None:
    answer = create(
        sandbox_big_interview, "abc123", sandbox_api_key, body={"first_name": "A", "last_name": "B"}
    )
    assert answer.status == 422
    assert answer.json() == {"error": {"type": "validation_error", "message": {"email": ["can't be blank"]}}}


def test_every_missing_creation_field_is_reported(
    sandbox_big_interview: SandboxBigInterview, sandbox_api_key: str
) -> None:
    answer = create(sandbox_big_interview, "abc123", sandbox_api_key, body={"email": " "})
    assert answer.status == 422
    assert set(answer.json()["error"]["message"]) == {"first_name", "last_name", "email"}


def test_form_encoded_bodies_are_accepted_too(
    sandbox_big_interview: SandboxBigInterview, sandbox_api_key: str
) -> None:
    answer = fetch(
        "POST",
        f"{sandbox_big_interview.url}/api/users/formuser",
        headers={"Authorization": sandbox_api_key, "Content-Type": "application/x-www-form-urlencoded"},
        body=urlencode(PROFILE).encode(),
    )
    assert answer.status == 201


def test_partner_ids_outside_the_documented_rules_are_refused(
    sandbox_big_interview: SandboxBigInterview, sandbox_api_key: str
) -> None:
    for bad in ("a%2Eb", "x" * 65, "caf%C3%A9", "a%20b"):
        answer = create(sandbox_big_interview, bad, sandbox_api_key)
        assert answer.status == 422, bad
        assert answer.json()["error"]["type"] == "validation_error"
        assert "partner_id" in answer.json()["error"]["message"]
    assert create(sandbox_big_interview, "a/b", sandbox_api_key).status == 404
    assert create(sandbox_big_interview, "A-z_09" + "x" * 58, sandbox_api_key).status == 201


def test_api_calls_are_counted(sandbox_big_interview: SandboxBigInterview, sandbox_api_key: str) -> None:
    create(sandbox_big_interview, "abc123", sandbox_api_key)
    create(sandbox_big_interview, "abc123", None)
    assert sandbox_big_interview.api_calls == 2
    sandbox_big_interview.reset_api_calls()
    assert sandbox_big_interview.api_calls == 0


def new_token(bi: SandboxBigInterview, key: str, partner_id: str = "abc123") -> str:
    return str(create(bi, partner_id, key).json()["user"]["token"]["token"])


def test_sso_login_with_a_valid_token_shows_who_signed_in_and_the_logout_link(
    sandbox_big_interview: SandboxBigInterview, sandbox_api_key: str
) -> None:
    token = new_token(sandbox_big_interview, sandbox_api_key)
    query = urlencode({"token": token, "return_url": "https://portal.example.edu/bye"})
    answer = fetch("GET", f"{sandbox_big_interview.url}/sso/login?{query}")
    assert answer.status == 200
    assert "Signed in to Big Interview (sandbox) as Ada Lovelace (abc123)" in answer.text
    assert '<a href="https://portal.example.edu/bye">Log out</a>' in answer.text
    assert "bi_sandbox_session=" in answer.headers["Set-Cookie"]


def test_sso_login_redirects_to_a_relative_redirect_to_which_shows_the_signed_in_page(
    sandbox_big_interview: SandboxBigInterview, sandbox_api_key: str
) -> None:
    token = new_token(sandbox_big_interview, sandbox_api_key)
    path = "/members/curriculum?chapter=6"
    answer = fetch(
        "GET", f"{sandbox_big_interview.url}/sso/login?{urlencode({'token': token, 'redirect_to': path})}"
    )
    assert answer.status == 302
    assert answer.headers["Location"] == path
    cookie = answer.headers["Set-Cookie"].split(";")[0]
    page = fetch("GET", f"{sandbox_big_interview.url}{path}", headers={"Cookie": cookie})
    assert page.status == 200
    assert "as Ada Lovelace (abc123)" in page.text
    assert "/members/curriculum?chapter=6" in page.text


def test_an_absolute_redirect_to_is_ignored(
    sandbox_big_interview: SandboxBigInterview, sandbox_api_key: str
) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        token = new_token(sandbox_big_interview, sandbox_api_key)
        query = urlencode({"token": token, "redirect_to": target})
        answer = fetch("GET", f"{sandbox_big_interview.url}/sso/login?{query}")
        assert answer.status == 200, target


def test_sso_login_refuses_unknown_replaced_and_expired_tokens(
    sandbox_big_interview: SandboxBigInterview, sandbox_api_key: str, clock: MutableClock
) -> None:
    def login(token: str) -> int:
        return fetch("GET", f"{sandbox_big_interview.url}/sso/login?token={token}").status

    assert login("0" * 64) == 401
    replaced = new_token(sandbox_big_interview, sandbox_api_key)
    current = new_token(sandbox_big_interview, sandbox_api_key)
    assert login(replaced) == 401
    clock.advance(timedelta(hours=47, minutes=59))
    assert login(current) == 200
    clock.advance(timedelta(minutes=2))
    assert login(current) == 401


def test_pages_without_a_session_are_refused(sandbox_big_interview: SandboxBigInterview) -> None:
    assert fetch("GET", f"{sandbox_big_interview.url}/members/dashboard").status == 401


def tracks(bi: SandboxBigInterview, partner_id: str, key: str) -> Answer:
    return fetch("GET", f"{bi.url}/api/users/{partner_id}/tracks", headers={"Authorization": key})


def test_a_users_tracks_have_the_documented_shape_and_practice_raises_their_progress(
    sandbox_big_interview: SandboxBigInterview, sandbox_api_key: str
) -> None:
    create(sandbox_big_interview, "abc123", sandbox_api_key)
    before = tracks(sandbox_big_interview, "abc123", sandbox_api_key)
    assert before.status == 200
    assert [(t["title"], t["progress"]) for t in before.json()["tracks"]] == [
        ("Fast Track", 0.0),
        ("Mastery Track", 0.0),
    ]
    step = before.json()["tracks"][0]["tracks"][0]
    assert set(step) == {"step", "title", "link", "completed"} and step["link"].startswith("/members/")

    sandbox_big_interview.complete_step("abc123")
    fast = tracks(sandbox_big_interview, "abc123", sandbox_api_key).json()["tracks"][0]

    assert fast["progress"] == 0.33
    assert [s["completed"] for s in fast["tracks"]] == [True, False, False]


def test_the_tracks_of_an_unknown_user_are_404_and_need_the_key(
    sandbox_big_interview: SandboxBigInterview, sandbox_api_key: str
) -> None:
    assert tracks(sandbox_big_interview, "nobody", sandbox_api_key).status == 404
    assert tracks(sandbox_big_interview, "nobody", "wrong-key").status == 401
