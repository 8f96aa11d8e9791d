"""One-time links: the second use of a link is refused, keyed on (iss, jti), failing closed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import REPLAY_TABLE, Sso
from tests.support import ISSUER, FakePartnerApi, SigningKey, http_event, mint


@pytest.fixture
def sso(make_sso: Callable[..., Sso], partner_api: FakePartnerApi, jwks: Any, replay_table: Any) -> Sso:
    return make_sso(REPLAY_TABLE_NAME=REPLAY_TABLE)


def items(replay_table: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = replay_table.scan(TableName=REPLAY_TABLE)["Items"]
    return found


def test_first_use_redirects_and_records_iss_and_jti_until_exp_plus_leeway(
    sso: Sso, rsa_key: SigningKey, replay_table: Any
) -> None:
    exp = int(time.time()) + 120

    assert sso(http_event(query={"jwt": mint(rsa_key, jti="link-1", exp=exp)}))["statusCode"] == 302
    [item] = items(replay_table)
    assert item["pk"] == {"S": f"{ISSUER}#link-1"}
    assert item["expires_at"] == {"N": str(exp + 30)}
    assert set(item) == {"pk", "expires_at", "claim"}  # the claim tells a retry from a second use


def test_second_use_of_a_link_is_401_link_already_used(
    sso: Sso, rsa_key: SigningKey, partner_api: FakePartnerApi
) -> None:
    token = mint(rsa_key)
    sso(http_event(query={"jwt": token}))

    again = sso(http_event(query={"jwt": token}))

    assert again["statusCode"] == 401
    assert "link_already_used" in again["body"]
    assert "already used" in again["body"]
    assert len(partner_api.calls) == 1


def test_a_write_retried_after_its_answer_was_lost_is_still_the_first_use(
    sso: Sso, rsa_key: SigningKey, partner_api: FakePartnerApi, replay_table: Any
) -> None:
    """botocore retries a PutItem whose answer it did not get; if that write had landed,
    the retry meets our own item. That is the first use, not 'already used'."""
    client = sso.container.clients.client("dynamodb")  # the handler's own botocore client
    seen: list[int] = []

    def lose_first_answer(attempts: int = 0, **_: Any) -> float | None:
        seen.append(attempts)
        return 0.0 if attempts == 1 else None  # "retry now" after the first, successful, write

    client.meta.events.register_first("needs-retry.dynamodb.PutItem", lose_first_answer)
    try:
        first = sso(http_event(query={"jwt": mint(rsa_key, jti="retried")}))
    finally:
        client.meta.events.unregister("needs-retry.dynamodb.PutItem", lose_first_answer)

    assert seen[:2] == [1, 2]  # the write really was sent twice
    assert first["statusCode"] == 302
    assert len(items(replay_table)) == 1
    assert len(partner_api.calls) == 1


def test_another_token_with_the_same_iss_and_jti_counts_as_used(
    sso: Sso, rsa_key: SigningKey, partner_api: FakePartnerApi
) -> None:
    now = int(time.time())
    sso(http_event(query={"jwt": mint(rsa_key, jti="same", iat=now)}))

    again = sso(http_event(query={"jwt": mint(rsa_key, jti="same", iat=now - 1)}))

    assert again["statusCode"] == 401
    assert "link_already_used" in again["body"]
    assert len(partner_api.calls) == 1


def test_padded_re_encoding_of_a_used_token_is_refused(
    sso: Sso, rsa_key: SigningKey, partner_api: FakePartnerApi
) -> None:
    token = mint(rsa_key)
    sso(http_event(query={"jwt": token}))
    header, payload, signature = token.split(".")
    padded = ".".join(part + "=" * (-len(part) % 4) for part in (header, payload, signature))
    assert padded != token

    again = sso(http_event(query={"jwt": padded}))

    assert again["statusCode"] == 401
    assert len(partner_api.calls) == 1


def test_same_jti_from_another_issuer_is_a_different_link(
    make_sso: Callable[..., Sso],
    partner_api: FakePartnerApi,
    jwks: Any,
    replay_table: Any,
    rsa_key: SigningKey,
) -> None:
    sso = make_sso(REPLAY_TABLE_NAME=REPLAY_TABLE, JWT_ISSUER=f"{ISSUER},https://second.test")

    first = sso(http_event(query={"jwt": mint(rsa_key, jti="shared")}))
    second = sso(http_event(query={"jwt": mint(rsa_key, jti="shared", iss="https://second.test")}))

    assert (first["statusCode"], second["statusCode"]) == (302, 302)


def test_token_without_jti_is_refused_when_links_are_one_time(
    sso: Sso, rsa_key: SigningKey, partner_api: FakePartnerApi
) -> None:
    result = sso(http_event(query={"jwt": mint(rsa_key, jti=None)}))

    assert result["statusCode"] == 401
    assert "missing_claim" in result["body"]
    assert partner_api.calls == []


def test_invalid_redirect_does_not_use_up_the_link(sso: Sso, rsa_key: SigningKey, replay_table: Any) -> None:
    token = mint(rsa_key)

    assert sso(http_event(query={"jwt": token, "redirect_to": "//evil"}))["statusCode"] == 400
    assert items(replay_table) == []
    assert sso(http_event(query={"jwt": token}))["statusCode"] == 302


def test_replay_store_unavailable_refuses_with_503(
    make_sso: Callable[..., Sso],
    partner_api: FakePartnerApi,
    jwks: Any,
    replay_table: Any,
    rsa_key: SigningKey,
) -> None:
    sso = make_sso(REPLAY_TABLE_NAME="no-such-table")

    result = sso(http_event(query={"jwt": mint(rsa_key)}))

    assert result["statusCode"] == 503
    assert "replay_store_unavailable" in result["body"]
    assert partner_api.calls == []


def test_after_a_failure_that_spent_the_link_every_page_says_to_get_a_fresh_one(
    sso: Sso, rsa_key: SigningKey, partner_api: FakePartnerApi
) -> None:
    # A new user without a profile: the link is used up before Big Interview refuses (422).
    token = mint(rsa_key, sub="newuser", given_name=None, family_name=None, email=None)
    json_headers = {"Accept": "application/json"}

    failed = json.loads(sso(http_event(query={"jwt": token}, headers=json_headers))["body"])["error"]
    reloaded = sso(http_event(query={"jwt": token}))

    assert failed["code"] == "profile_required"
    assert failed["message"].endswith(
        "This sign-in link is now used up: go back to your portal and open Big Interview from there "
        "to get a fresh one."
    )
    assert reloaded["statusCode"] == 401
    assert "link_already_used" in reloaded["body"]
    assert "Go back to your portal and open Big Interview from there to get a fresh link." in reloaded["body"]
    assert len(partner_api.calls) == 1


def test_a_refusal_before_the_link_is_spent_does_not_say_it_is_used_up(sso: Sso, rsa_key: SigningKey) -> None:
    result = sso(http_event(query={"jwt": mint(rsa_key), "redirect_to": "//evil"}))

    assert result["statusCode"] == 400
    assert "used up" not in result["body"]
