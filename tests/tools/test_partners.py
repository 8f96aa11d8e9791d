"""``make partner-add / partner-list / partner-disable``: validated before writing, on moto.

The make targets run for real against moto as a server on 127.0.0.1 (``AWS_ENDPOINT_URL``),
as an operator runs them against ``make dev``'s moto or, with credentials, a real table.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from handler.lti.registrations import RegistryRegistrations, parse_registration
from handler.partner_record import parse_partner_record
from tests.deploy.templates import ROOT
from tests.registry_support import REGISTRY_TABLE, create_registry_table, partner_record, put_record
from tests.support.moto import moto_process

ISSUER_A = "https://idp.campus-a.test"
ISSUER_B = "https://idp.campus-b.test"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_process() as server:
        yield server.endpoint


@pytest.fixture
def table(moto_endpoint: str) -> Iterator[Any]:
    """A fresh registry table on the moto server; the DynamoDB client that made it."""
    client = boto3.client(
        "dynamodb",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    create_registry_table(client)
    yield client
    client.delete_table(TableName=REGISTRY_TABLE)


def make(target: str, endpoint: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MAKEFLAGS": "",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    env.pop("AWS_PROFILE", None)
    arguments = [f"{name}={value}" for name, value in {"TABLE": REGISTRY_TABLE, **variables}.items()]
    return subprocess.run(
        ["make", "--no-print-directory", target, *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )


def stored(client: Any, issuer: str) -> dict[str, Any] | None:
    item = client.get_item(TableName=REGISTRY_TABLE, Key={"issuer": {"S": issuer}}).get("Item")
    return None if item is None else json.loads(item["value"]["S"])


def write(tmp_path: Path, record: dict[str, Any]) -> Path:
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    return path


def test_partner_add_validates_then_stores_a_record_the_function_accepts(
    table: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    record = partner_record("campus-a", ISSUER_A)

    result = make("partner-add", moto_endpoint, FILE=str(write(tmp_path, record)))

    assert result.returncode == 0, result.stderr
    assert "stored partner 'campus-a' (enabled)" in result.stdout
    assert stored(table, ISSUER_A) == record
    item = table.get_item(TableName=REGISTRY_TABLE, Key={"issuer": {"S": ISSUER_A}})["Item"]
    assert parse_partner_record(ISSUER_A, item["value"]["S"]).partner_id == "campus-a"


def test_partner_add_refuses_an_invalid_record_by_field_and_writes_nothing(
    table: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    record = partner_record("campus-a", ISSUER_A, bi_org="Not An Org", api_key_secret_id="prod/db")

    result = make("partner-add", moto_endpoint, FILE=str(write(tmp_path, record)))

    assert result.returncode != 0  # make answers 2 for any failed recipe
    assert "bi_org must be a DNS label" in result.stderr
    assert "api_key_secret_id must name a secret under 'big-interview-sso/'" in result.stderr
    assert stored(table, ISSUER_A) is None


def test_partner_add_refuses_a_second_record_for_an_issuer_unless_replacing(
    table: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    put_record(table, partner_record("campus-a", ISSUER_A))
    changed = partner_record("campus-a", ISSUER_A, audience="new-audience")
    path = write(tmp_path, changed)

    refused = make("partner-add", moto_endpoint, FILE=str(path))
    replaced = make("partner-add", moto_endpoint, FILE=str(path), REPLACE="yes")

    assert refused.returncode != 0 and "already has a record" in refused.stderr
    assert replaced.returncode == 0, replaced.stderr
    assert stored(table, ISSUER_A) == changed


def test_partner_add_refuses_a_partner_id_another_issuer_has(
    table: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    put_record(table, partner_record("campus-a", ISSUER_A))

    result = make(
        "partner-add", moto_endpoint, FILE=str(write(tmp_path, partner_record("campus-a", ISSUER_B)))
    )

    assert result.returncode != 0 and "already has the record of issuer" in result.stderr
    assert stored(table, ISSUER_B) is None


def test_partner_list_shows_partners_invalid_records_and_other_kinds(table: Any, moto_endpoint: str) -> None:
    put_record(table, partner_record("campus-a", ISSUER_A))
    put_record(table, partner_record("campus-b", ISSUER_B, enabled=False, leeway_seconds=999))
    put_record(table, {"kind": "lti", "client_id": "x"}, key="lti|https://lms.test|x")

    result = make("partner-list", moto_endpoint)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.split()[:3] == ["campus-a", "yes", "campus-a"] for line in lines)
    assert any(line.split()[:2] == ["campus-b", "INVALID"] for line in lines)
    assert any("leeway_seconds must be between 0 and 300" in line for line in lines)
    assert any(line.split()[0] == "(lti)" for line in lines)


def test_partner_disable_and_enable_flip_the_flag(table: Any, moto_endpoint: str) -> None:
    put_record(table, partner_record("campus-a", ISSUER_A))
    put_record(table, partner_record("campus-b", ISSUER_B))

    disabled = make("partner-disable", moto_endpoint, PARTNER="campus-a")

    assert disabled.returncode == 0, disabled.stderr
    assert "within 60 s" in disabled.stdout
    assert stored(table, ISSUER_A)["enabled"] is False  # type: ignore[index]
    assert stored(table, ISSUER_B)["enabled"] is True  # type: ignore[index]
    assert make("partner-enable", moto_endpoint, PARTNER="campus-a").returncode == 0
    assert stored(table, ISSUER_A)["enabled"] is True  # type: ignore[index]


def test_partner_disable_of_an_unknown_partner_says_so(table: Any, moto_endpoint: str) -> None:
    result = make("partner-disable", moto_endpoint, PARTNER="nobody")

    assert result.returncode != 0 and "no record has partner 'nobody'" in result.stderr


def test_without_a_table_the_tool_says_which_to_give(moto_endpoint: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PARTNER_REGISTRY_TABLE"}
    result = subprocess.run(
        ["make", "--no-print-directory", "partner-list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**env, "MAKEFLAGS": ""},
    )

    assert result.returncode != 0 and "give TABLE=" in result.stderr


# ---- LTI platform registrations (docs/lti.md): the same table, the LTI launch's own validator --------
LTI_ISS = "https://canvas.instructure.com"
LTI_CLIENT = "10000000000042"
LTI_KEY = f"lti|{LTI_ISS}|{LTI_CLIENT}"


def lti_registration(**fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "kind": "lti_platform",
        "iss": LTI_ISS,
        "client_id": LTI_CLIENT,
        "deployment_ids": ["1:8865aa05b4b79b64a91a86042e43af5ea8ae79eb"],
        "auth_url": "https://sso.canvaslms.com/api/lti/authorize_redirect",
        "jwks_url": "https://sso.canvaslms.com/api/lti/security/jwks",
        "bi_org": "state-university",
        "api_key_secret_id": "big-interview-sso/state-university/api-key",
        "enabled": True,
    }
    record.update(fields)
    return record


def test_partner_add_stores_an_lti_registration_under_its_key_as_the_launch_reads_it(
    table: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    record = lti_registration()

    result = make("partner-add", moto_endpoint, FILE=str(write(tmp_path, record)))

    assert result.returncode == 0, result.stderr
    assert f"stored LTI platform registration (enabled) under key {LTI_KEY!r}" in result.stdout
    assert stored(table, LTI_KEY) == record
    assert stored(table, LTI_ISS) is None  # not under the platform's iss: that is a partner's key
    # What the launch's reader makes of the stored item (handler.lti.registrations).
    item = table.get_item(TableName=REGISTRY_TABLE, Key={"issuer": {"S": LTI_KEY}})["Item"]
    found = RegistryRegistrations(lambda key: item["value"]["S"] if key == LTI_KEY else None)
    assert found.find(LTI_ISS, LTI_CLIENT) == parse_registration(record)


def test_partner_add_refuses_an_invalid_lti_registration_by_field_and_writes_nothing(
    table: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    record = lti_registration(
        jwks_url="http://sso.canvaslms.com/jwks", api_key_secret_id="prod/db", deployment_id="1:x"
    )

    result = make("partner-add", moto_endpoint, FILE=str(write(tmp_path, record)))

    assert result.returncode != 0
    assert "the LTI registration is invalid" in result.stderr
    assert "jwks_url must use https://" in result.stderr
    assert "api_key_secret_id must name a secret under 'big-interview-sso/'" in result.stderr
    assert "unknown fields ['deployment_id']" in result.stderr
    assert table.scan(TableName=REGISTRY_TABLE)["Items"] == []


def test_partner_add_refuses_a_second_lti_registration_for_a_key_unless_replacing(
    table: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    put_record(table, lti_registration(), key=LTI_KEY)
    changed = lti_registration(deployment_ids=["1:abc", "2:def"])
    path = write(tmp_path, changed)

    refused = make("partner-add", moto_endpoint, FILE=str(path))
    replaced = make("partner-add", moto_endpoint, FILE=str(path), REPLACE="yes")

    assert refused.returncode != 0 and "already has a record" in refused.stderr
    assert replaced.returncode == 0, replaced.stderr
    assert stored(table, LTI_KEY) == changed


def test_partner_list_shows_lti_registrations_valid_and_invalid(table: Any, moto_endpoint: str) -> None:
    put_record(table, partner_record("campus-a", ISSUER_A))
    put_record(table, lti_registration(), key=LTI_KEY)
    other = lti_registration(client_id="other", jwks_url="http://lms.test/jwks")
    put_record(table, other, key=f"lti|{LTI_ISS}|other")

    result = make("partner-list", moto_endpoint)

    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert ["(lti_platform)", "yes", "state-university", LTI_KEY] in rows
    assert ["(lti_platform)", "INVALID", f"lti|{LTI_ISS}|other"] in rows
    assert any("jwks_url must use https://" in line for line in result.stdout.splitlines())
    assert any(row[:3] == ["campus-a", "yes", "campus-a"] for row in rows)


def test_partner_disable_and_enable_an_lti_registration_by_its_key(table: Any, moto_endpoint: str) -> None:
    put_record(table, lti_registration(), key=LTI_KEY)
    put_record(table, partner_record("campus-a", ISSUER_A))

    disabled = make("partner-disable", moto_endpoint, PARTNER=LTI_KEY)

    assert disabled.returncode == 0, disabled.stderr
    assert stored(table, LTI_KEY)["enabled"] is False  # type: ignore[index]
    assert stored(table, ISSUER_A)["enabled"] is True  # type: ignore[index]
    listed = make("partner-list", moto_endpoint).stdout
    assert ["(lti_platform)", "no", "state-university", LTI_KEY] in [
        line.split() for line in listed.splitlines()
    ]
    assert make("partner-enable", moto_endpoint, PARTNER=LTI_KEY).returncode == 0
    assert stored(table, LTI_KEY)["enabled"] is True  # type: ignore[index]


def test_partner_add_refuses_an_lti_registration_whose_client_id_has_a_bar(
    table: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    # lti|<iss>|a|b would also be the key of another (iss, client_id) pair.
    result = make("partner-add", moto_endpoint, FILE=str(write(tmp_path, lti_registration(client_id="a|b"))))

    assert result.returncode != 0
    assert "client_id must not contain '|' in a registry record" in result.stderr
    assert table.scan(TableName=REGISTRY_TABLE)["Items"] == []
