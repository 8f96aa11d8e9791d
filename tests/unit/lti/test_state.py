"""handler.lti.state: a login's state issued once, used once, by the browser it was issued to (moto)."""

from __future__ import annotations

import hashlib
from typing import Any

import boto3
import pytest

from handler.errors import ReplayStoreUnavailable
from handler.lti.errors import LaunchExpired, StateRefused
from handler.lti.state import IssuedLaunch, LaunchStates, digest
from tests.conftest import REPLAY_TABLE

ISSUER = "https://lms.example.edu"
CLIENT_ID = "10000000000042"
NOW = 1_700_000_000.0


def client() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def states(replay_table: Any) -> LaunchStates:
    return LaunchStates(REPLAY_TABLE, lifetime_seconds=600, client=client)


def test_the_digest_is_the_hex_sha256() -> None:
    assert digest("état") == hashlib.sha256("état".encode()).hexdigest()


def test_a_state_is_stored_as_digests_with_its_registration_and_expiry(
    states: LaunchStates, replay_table: Any
) -> None:
    states.issue("state-1", "nonce-1", "binding-1", ISSUER, CLIENT_ID, NOW + 0.9)

    item = replay_table.get_item(TableName=REPLAY_TABLE, Key={"pk": {"S": f"lti-state#{digest('state-1')}"}})[
        "Item"
    ]
    assert item["expires_at"] == {"N": str(int(NOW) + 600)}
    assert item["nonce_sha256"] == {"S": digest("nonce-1")}
    assert item["binding_sha256"] == {"S": digest("binding-1")}
    assert (item["iss"], item["client_id"]) == ({"S": ISSUER}, {"S": CLIENT_ID})
    assert "state-1" not in str(item) and "nonce-1" not in str(item) and "binding-1" not in str(item)


def test_a_state_is_used_once_by_its_browser_before_it_expires(states: LaunchStates) -> None:
    states.issue("state-2", "nonce-2", "binding-2", ISSUER, CLIENT_ID, NOW)

    assert states.use_once("state-2", "binding-2", NOW + 599) == IssuedLaunch(
        ISSUER, CLIENT_ID, digest("nonce-2")
    )
    with pytest.raises(StateRefused, match=r"^the state was already used: a launch is used once$"):
        states.use_once("state-2", "binding-2", NOW + 599)


@pytest.mark.parametrize(
    ("state", "binding", "at", "error", "detail"),
    [
        (
            "never-issued",
            "binding-3",
            NOW,
            StateRefused,
            "the state is not one this service issued, or it has expired",
        ),
        (
            "state-3",
            "other-browser",
            NOW,
            StateRefused,
            "the state was issued to another browser (its cookie or stored binding does not match)",
        ),
        (
            "state-3",
            "binding-3",
            NOW + 600,
            LaunchExpired,
            "the launch took longer than the state's lifetime; start it again from the course",
        ),
    ],
)
def test_a_state_that_cannot_be_used_is_refused_saying_why(
    states: LaunchStates, state: str, binding: str, at: float, error: type[Exception], detail: str
) -> None:
    states.issue("state-3", "nonce-3", "binding-3", ISSUER, CLIENT_ID, NOW)

    with pytest.raises(error) as raised:
        states.use_once(state, binding, at)

    assert type(raised.value) is error
    assert str(raised.value) == detail
    # A refused use leaves the state usable by its own browser in time.
    assert states.use_once("state-3", "binding-3", NOW + 1).nonce_sha256 == digest("nonce-3")


def test_a_state_issued_twice_is_refused_as_a_store_failure(states: LaunchStates) -> None:
    states.issue("state-4", "nonce-4", "binding-4", ISSUER, CLIENT_ID, NOW)

    with pytest.raises(ReplayStoreUnavailable, match=r"the state's item exists$"):
        states.issue("state-4", "nonce-5", "binding-4", ISSUER, CLIENT_ID, NOW)


def test_dynamodb_failing_refuses_the_login_and_the_launch(aws: Any) -> None:
    states = LaunchStates("no-such-table", 600, client)

    with pytest.raises(
        ReplayStoreUnavailable, match=r"^DynamoDB \(launch state\): ResourceNotFoundException$"
    ):
        states.issue("s", "n", "b", ISSUER, CLIENT_ID, NOW)
    with pytest.raises(
        ReplayStoreUnavailable, match=r"^DynamoDB \(launch state\): ResourceNotFoundException$"
    ):
        states.use_once("s", "b", NOW)


def test_a_client_that_cannot_be_made_refuses(aws: Any) -> None:
    def factory() -> Any:
        raise ValueError("no region")

    with pytest.raises(ReplayStoreUnavailable, match=r"^DynamoDB client \(launch state\): ValueError$"):
        LaunchStates(REPLAY_TABLE, 600, factory).use_once("s", "b", NOW)


def test_a_client_that_cannot_be_made_refuses_with_503() -> None:
    def no_region() -> Any:
        raise RuntimeError("no region")

    states = LaunchStates(REPLAY_TABLE, 600, no_region)
    with pytest.raises(ReplayStoreUnavailable):
        states.issue("state", "nonce", "binding", ISSUER, CLIENT_ID, 0)
