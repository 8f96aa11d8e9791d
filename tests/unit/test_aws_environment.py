"""The tools' region and credentials: filled in for the local stack's moto, never over the user's."""

from __future__ import annotations

from infra.tools.aws_environment import LOCAL_ACCESS_KEY, for_local_endpoint

MOTO = "http://127.0.0.1:3003"


def test_a_loopback_endpoint_gets_a_region_and_motos_keys() -> None:
    added = for_local_endpoint({"AWS_ENDPOINT_URL": MOTO})

    assert added == {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": LOCAL_ACCESS_KEY,
    }


def test_the_users_own_region_and_credentials_win() -> None:
    assert (
        for_local_endpoint({"AWS_ENDPOINT_URL": MOTO, "AWS_REGION": "eu-west-1", "AWS_PROFILE": "dev"}) == {}
    )
    assert "AWS_ACCESS_KEY_ID" not in for_local_endpoint(
        {"AWS_ENDPOINT_URL": MOTO, "AWS_ACCESS_KEY_ID": "AKIA"}
    )


def test_pointed_at_aws_nothing_is_filled_in() -> None:
    assert for_local_endpoint({}) == {}
    assert for_local_endpoint({"AWS_ENDPOINT_URL": "https://dynamodb.eu-west-1.amazonaws.com"}) == {}


def test_a_service_specific_loopback_endpoint_counts_too() -> None:
    assert "AWS_DEFAULT_REGION" in for_local_endpoint({"AWS_ENDPOINT_URL_DYNAMODB": "http://localhost:4566"})
