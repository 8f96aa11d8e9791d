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


def partner_list_in_a_bare_shell(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """``make partner-list`` from a shell with no AWS settings at all (no region, no credentials,
    no ~/.aws), plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "PARTNER_REGISTRY_TABLE"}
    return subprocess.run(
        ["make", "--no-print-directory", "partner-list", f"TABLE={REGISTRY_TABLE}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**env, "HOME": str(tmp_path), "MAKEFLAGS": "", **variables},
    )


def test_against_the_local_stacks_moto_the_tools_need_no_region_or_credentials(
    table: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    put_record(table, partner_record("campus-a", ISSUER_A))

    result = partner_list_in_a_bare_shell(tmp_path, AWS_ENDPOINT_URL=moto_endpoint)

    assert result.returncode == 0, result.stderr
    assert "campus-a" in result.stdout and ISSUER_A in result.stdout


def test_against_aws_without_a_region_the_tool_says_what_to_set(tmp_path: Path) -> None:
    result = partner_list_in_a_bare_shell(tmp_path)

    assert result.returncode != 0
    assert "no AWS region: set AWS_REGION" in result.stderr
    assert "Traceback" not in result.stderr


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
    assert "api_key_secret_id must name a secret under 'big-interview-sso/state-university/'" in result.stderr
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


# ---- untrusted text reaches the operator's terminal escaped --------------------------------------------
FORGED_ROW = "\nforged-partner       yes      forged-org           https://forged.test"
TERMINAL_CONTROLS = ("\x1b", "\x07", "\x9b", "\r")


def test_partner_list_prints_hostile_keys_and_fields_escaped(table: Any, moto_endpoint: str) -> None:
    # Records written around the tool (the table is the source of truth): keys and values are
    # untrusted text, and ESC / OSC sequences or a newline must not reach the terminal as such.
    put_record(table, partner_record("campus-a", ISSUER_A))
    put_record(table, partner_record("x\x1b[2J", "https://idp.test/\x1b]0;owned\x07" + FORGED_ROW))
    put_record(
        table, lti_registration(iss="https://lms.test/\x1b[31m"), key="lti|https://lms.test/\x1b[31m|c\x9b"
    )
    put_record(table, {"kind": "other\x1b[5m"}, key="other" + FORGED_ROW)

    result = make("partner-list", moto_endpoint)

    assert result.returncode == 0, result.stderr
    for control in TERMINAL_CONTROLS:
        assert control not in result.stdout
    assert not [line for line in result.stdout.splitlines() if line.startswith("forged")]
    assert "\\x1b]0;owned\\x07" in result.stdout  # shown, escaped, so the operator sees it


def test_partner_tool_refusals_print_hostile_values_escaped(
    table: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    result = make("partner-disable", moto_endpoint, PARTNER="nobody\x1b]0;owned\x07")

    assert result.returncode != 0 and "no record has partner" in result.stderr
    for control in TERMINAL_CONTROLS:
        assert control not in result.stderr + result.stdout


# ---- limits: the tool refuses what the function would ignore, by field ------------------------------------
def test_partner_add_refuses_an_oversized_issuer_and_audience_by_field_and_writes_nothing(
    table: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    # The function ignores an issuer over 512 characters (invalid_issuer, no lookup), and an
    # audience of 500,000 characters would have failed with DynamoDB's own error (item size).
    issuer = "https://idp.test/" + "i" * 600
    record = partner_record("campus-a", issuer, audience="a" * 500_000)

    result = make("partner-add", moto_endpoint, FILE=str(write(tmp_path, record)))

    assert result.returncode != 0
    assert "issuer must be at most 512 characters" in result.stderr
    assert "audience must be at most 512 characters" in result.stderr
    assert "ValidationException" not in result.stderr
    assert table.scan(TableName=REGISTRY_TABLE)["Items"] == []


# ---- disabling always works; one partner id, one record, atomically -----------------------------------
def test_partner_disable_disables_every_record_of_a_partner_id_even_two(
    table: Any, moto_endpoint: str
) -> None:
    # Two records with one partner id (two adds that raced, or records written around the tool):
    # the function serves both, so an incident's disable must stop both, not refuse.
    put_record(table, partner_record("campus-a", ISSUER_A))
    put_record(table, partner_record("campus-a", ISSUER_B))

    result = make("partner-disable", moto_endpoint, PARTNER="campus-a")

    assert result.returncode == 0, result.stderr
    assert stored(table, ISSUER_A)["enabled"] is False  # type: ignore[index]
    assert stored(table, ISSUER_B)["enabled"] is False  # type: ignore[index]
    assert ISSUER_A in result.stdout and ISSUER_B in result.stdout


def test_partner_disable_changes_only_the_flag_of_an_invalid_record(table: Any, moto_endpoint: str) -> None:
    record = partner_record("campus-a", ISSUER_A, leeway_seconds=999, surprise="field")
    put_record(table, record)

    result = make("partner-disable", moto_endpoint, PARTNER="campus-a")

    assert result.returncode == 0, result.stderr
    assert stored(table, ISSUER_A) == {**record, "enabled": False}


class RacingClient:
    """A DynamoDB client whose scan sees nothing and which runs ``before_write`` before its first
    write: the interleavings of two operators (or a disable and a replace) made deterministic."""

    def __init__(self, client: Any, before_write: Any = None, blind_scan: bool = False) -> None:
        self._client = client
        self._before_write = before_write
        self._blind_scan = blind_scan
        self.exceptions = client.exceptions

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name in ("put_item", "update_item", "transact_write_items") and self._before_write:
            before, self._before_write = self._before_write, None
            before()
        return attribute

    def get_paginator(self, name: str) -> Any:
        if name == "scan" and self._blind_scan:

            class Nothing:
                def paginate(self, **_: Any) -> list[dict[str, Any]]:
                    return [{"Items": []}]

            return Nothing()
        return self._client.get_paginator(name)


def test_two_adds_of_one_partner_id_that_race_store_one_record(table: Any) -> None:
    from infra.tools.partners import Refused, Registry

    # Both operators' scans ran before either wrote: the rule must hold at the write itself.
    first = Registry(REGISTRY_TABLE, RacingClient(table, blind_scan=True))
    second = Registry(REGISTRY_TABLE, RacingClient(table, blind_scan=True))
    first.put(partner_record("campus-a", ISSUER_A), replace=False)

    with pytest.raises(Refused, match="already has the record of issuer"):
        second.put(partner_record("campus-a", ISSUER_B), replace=False)

    assert stored(table, ISSUER_B) is None
    assert stored(table, ISSUER_A) == partner_record("campus-a", ISSUER_A)


def test_a_replace_that_renames_the_partner_frees_its_old_id(table: Any) -> None:
    from infra.tools.partners import Registry

    registry = Registry(REGISTRY_TABLE, table)
    registry.put(partner_record("campus-a", ISSUER_A), replace=False)
    registry.put(partner_record("campus-z", ISSUER_A), replace=True)

    registry.put(partner_record("campus-a", ISSUER_B), replace=False)

    assert stored(table, ISSUER_B)["partner"] == "campus-a"  # type: ignore[index]


def test_a_disable_never_overwrites_a_change_made_meanwhile(table: Any) -> None:
    from infra.tools.partners import Registry

    put_record(table, partner_record("campus-a", ISSUER_A))
    replaced = partner_record("campus-a", ISSUER_A, audience="changed-meanwhile")
    registry = Registry(REGISTRY_TABLE, RacingClient(table, before_write=lambda: put_record(table, replaced)))

    assert registry.set_enabled("campus-a", False) == [ISSUER_A]

    assert stored(table, ISSUER_A) == {**replaced, "enabled": False}


def test_partner_list_and_disable_do_not_show_the_partner_id_claims(
    table: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    result = make(
        "partner-add", moto_endpoint, FILE=str(write(tmp_path, partner_record("campus-a", ISSUER_A)))
    )
    assert result.returncode == 0, result.stderr

    listed = make("partner-list", moto_endpoint).stdout.splitlines()

    assert len(listed) == 2, listed  # the header and campus-a's row


# ---- one platform, one signer, per org: its students are one set of users ------------------------------
def test_a_registration_of_a_known_iss_in_the_same_org_with_another_jwks_url_is_refused(table: Any) -> None:
    from infra.tools.partners import Refused, Registry

    # partner_id hashes (iss, sub) only: another signer claiming this iss could mint its students.
    registry = Registry(REGISTRY_TABLE, table)
    registry.put(lti_registration(), replace=False)
    impostor = lti_registration(client_id="other", jwks_url="https://lms.attacker.example/jwks")

    with pytest.raises(Refused, match="must use the same jwks_url"):
        registry.put(impostor, replace=False)

    assert stored(table, f"lti|{LTI_ISS}|other") is None


@pytest.mark.parametrize("blind_scan", [False, True], ids=["scan", "race"])
def test_registrations_of_one_iss_in_one_org_share_their_jwks_url_even_when_adds_race(
    table: Any, blind_scan: bool
) -> None:
    from infra.tools.partners import Refused, Registry

    first = Registry(REGISTRY_TABLE, RacingClient(table, blind_scan=blind_scan))
    second = Registry(REGISTRY_TABLE, RacingClient(table, blind_scan=blind_scan))
    first.put(lti_registration(), replace=False)
    second.put(lti_registration(client_id="same-signer"), replace=False)  # same jwks_url: fine

    with pytest.raises(Refused, match="must use the same jwks_url"):
        second.put(
            lti_registration(client_id="impostor", jwks_url="https://lms.attacker.example/jwks"),
            replace=False,
        )


def test_another_org_may_register_the_iss_with_its_own_jwks_url(table: Any) -> None:
    from infra.tools.partners import Registry

    registry = Registry(REGISTRY_TABLE, table)
    registry.put(lti_registration(), replace=False)
    registry.put(
        lti_registration(
            client_id="other-org",
            bi_org="other-org",
            api_key_secret_id="big-interview-sso/other-org/api-key",
            jwks_url="https://lms.other.example/jwks",
        ),
        replace=False,
    )


def test_the_only_registration_of_an_iss_may_move_to_a_new_jwks_url(table: Any) -> None:
    from infra.tools.partners import Registry

    registry = Registry(REGISTRY_TABLE, table)
    registry.put(lti_registration(), replace=False)
    moved = lti_registration(jwks_url="https://sso.canvaslms.com/api/lti/security/jwks-v2")

    registry.put(moved, replace=True)

    assert stored(table, LTI_KEY) == moved
