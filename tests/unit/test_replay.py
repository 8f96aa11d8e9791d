"""handler.replay: each (iss, jti) once, in DynamoDB (moto), failing closed."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from handler.errors import LinkAlreadyUsed, ReplayStoreUnavailable
from handler.replay import ReplayGuard, put_if_new
from tests.conftest import REPLAY_TABLE

ISSUER = "https://idp.partner.test"


def client() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1")


def stored(replay_table: Any, pk: str) -> dict[str, Any]:
    item: dict[str, Any] = replay_table.get_item(TableName=REPLAY_TABLE, Key={"pk": {"S": pk}})["Item"]
    return item


def test_a_first_use_is_recorded_with_its_expiry_plus_the_leeway(replay_table: Any) -> None:
    ReplayGuard(REPLAY_TABLE, leeway_seconds=30, client=client).use_once(ISSUER, "jti-1", 1_700_000_000.9)

    item = stored(replay_table, f"{ISSUER}#jti-1")
    assert item["expires_at"] == {"N": "1700000030"}
    assert len(item["claim"]["S"]) == 32


def test_a_partners_own_leeway_replaces_the_guards(replay_table: Any) -> None:
    ReplayGuard(REPLAY_TABLE, 30, client).use_once(ISSUER, "jti-2", 1_700_000_000, leeway_seconds=5)

    assert stored(replay_table, f"{ISSUER}#jti-2")["expires_at"] == {"N": "1700000005"}


def test_a_second_use_is_refused_and_another_jti_or_issuer_is_not(replay_table: Any) -> None:
    guard = ReplayGuard(REPLAY_TABLE, 30, client)
    guard.use_once(ISSUER, "jti-3", 1_700_000_000)

    with pytest.raises(LinkAlreadyUsed, match=r"^\(iss, jti\) seen before$"):
        guard.use_once(ISSUER, "jti-3", 1_700_000_000)
    guard.use_once(ISSUER, "jti-4", 1_700_000_000)
    guard.use_once("https://other.test", "jti-3", 1_700_000_000)


def test_put_if_new_gives_none_when_written_and_the_stored_item_when_not(replay_table: Any) -> None:
    item = {"pk": {"S": "k"}, "expires_at": {"N": "1"}}

    assert put_if_new(lambda: replay_table, REPLAY_TABLE, item, "one-time links") is None
    again = put_if_new(lambda: replay_table, REPLAY_TABLE, item, "one-time links")

    assert again is not None
    assert again["pk"] == {"S": "k"} and again["claim"] == stored(replay_table, "k")["claim"]


def test_a_retried_write_of_our_own_item_counts_as_written(replay_table: Any) -> None:
    """botocore retried a write whose answer was lost: the stored claim is this write's own."""

    class LostAnswer:
        exceptions = replay_table.exceptions

        def put_item(self, **request: Any) -> Any:
            replay_table.put_item(**{k: v for k, v in request.items() if k != "ConditionExpression"})
            return replay_table.put_item(**request)  # the retry: its condition fails on our own item

    lost = {"pk": {"S": "lost"}, "expires_at": {"N": "1"}}
    assert put_if_new(LostAnswer, REPLAY_TABLE, lost, "one-time links") is None


def test_dynamodb_failing_refuses_the_request(aws: Any) -> None:
    guard = ReplayGuard("no-such-table", 30, client)

    with pytest.raises(
        ReplayStoreUnavailable, match=r"^DynamoDB \(one-time links\): ResourceNotFoundException$"
    ):
        guard.use_once(ISSUER, "jti-5", 1_700_000_000)


def test_a_client_that_cannot_be_made_refuses_and_is_tried_again_next_time(aws: Any) -> None:
    attempts: list[int] = []

    def factory() -> Any:
        attempts.append(1)
        raise ValueError("no region")

    guard = ReplayGuard(REPLAY_TABLE, 30, factory)
    for jti in ("jti-6", "jti-7"):
        with pytest.raises(ReplayStoreUnavailable, match=r"^DynamoDB client \(one-time links\): ValueError$"):
            guard.use_once(ISSUER, jti, 1_700_000_000)
    assert len(attempts) == 2
