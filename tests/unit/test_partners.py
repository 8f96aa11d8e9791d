"""``PartnerRegistry``'s remembered refusals: each request gets one without earlier requests' frames."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import boto3
import pytest

from handler.aws_clients import AwsClients
from handler.config import Runtime
from handler.errors import SsoError
from handler.http_pool import new_http_pool
from handler.partners import PartnerRegistry, PartnerWiring, RegistryReader
from handler.telemetry import Telemetry
from tests.registry_support import REGISTRY_TABLE, create_registry_table, partner_record
from tests.support.clock import FakeClock


class Records:
    """A provider answering from a dict, as Powertools' would from the table."""

    def __init__(self, records: dict[str, str]) -> None:
        self.records = records

    def get(self, key: str, max_age: int) -> str | None:
        return self.records.get(key)

    def clear_cache(self) -> None:
        pass


def traceback_depth(error: BaseException) -> int:
    depth, frame = 0, error.__traceback__
    while frame is not None:
        depth, frame = depth + 1, frame.tb_next
    return depth


@pytest.mark.parametrize(
    "record",
    [
        partner_record("campus-x", "https://idp.x.example", enabled=False),  # disabled
        partner_record("campus-x", "https://idp.x.example", bi_base_url="https://evil.example"),  # invalid
        {"kind": "lti_platform", "issuer": "https://idp.x.example"},  # another kind's key
    ],
    ids=["disabled", "invalid", "another-kind"],
)
def test_a_remembered_refusal_keeps_no_earlier_requests_frames(record: dict[str, Any]) -> None:
    # The refusal is kept per record and raised for every token naming it: raising one exception
    # object again and again would chain each request's frames (their tokens) onto its traceback.
    issuer = "https://idp.x.example"
    wiring = PartnerWiring(Runtime(), new_http_pool(), AwsClients(), Telemetry())
    provider = Records({issuer: json.dumps(record)})
    registry = PartnerRegistry(lambda: provider, wiring, cache_seconds=60)
    depths = []
    for _ in range(5):
        with pytest.raises(SsoError) as refused:
            registry.find(issuer)
        depths.append(traceback_depth(refused.value))
    assert depths == [depths[0]] * 5


# ---- RegistryReader: one GetItem per record, kept max_age seconds (moto) ----------------------------
@pytest.fixture
def registry_table(aws: Any) -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_registry_table(client)
    return client


def counted_reader(table: Any, clock: FakeClock) -> tuple[RegistryReader, list[str]]:
    """A reader on the table; each ``GetItem`` it makes, by key."""
    reads: list[str] = []
    table.meta.events.register(
        "provide-client-params.dynamodb.GetItem",
        lambda params, **_: reads.append(params["Key"]["issuer"]["S"]),
    )
    return RegistryReader(REGISTRY_TABLE, lambda: table, clock), reads


def put(table: Any, key: str, value: str) -> None:
    table.put_item(TableName=REGISTRY_TABLE, Item={"issuer": {"S": key}, "value": {"S": value}})


def test_the_reader_keeps_a_record_for_max_age_then_reads_it_again(registry_table: Any) -> None:
    clock = FakeClock()
    reader, reads = counted_reader(registry_table, clock)
    put(registry_table, "https://idp.x.example", "first")

    assert reader.get("https://idp.x.example", max_age=60) == "first"
    put(registry_table, "https://idp.x.example", "second")
    clock.advance(59.9)
    kept = reader.get("https://idp.x.example", max_age=60)
    clock.advance(0.1)
    read_again = reader.get("https://idp.x.example", max_age=60)

    assert (kept, read_again) == ("first", "second")
    assert reads == ["https://idp.x.example"] * 2


def test_the_reader_keeps_no_missing_record_and_clear_cache_forgets_the_others(registry_table: Any) -> None:
    reader, reads = counted_reader(registry_table, FakeClock())
    put(registry_table, "https://idp.x.example", "record")

    assert reader.get("https://idp.y.example", max_age=60) is None
    assert reader.get("https://idp.y.example", max_age=60) is None  # the registry keeps it negatively
    assert reader.get("https://idp.x.example", max_age=60) == "record"
    reader.clear_cache()
    assert reader.get("https://idp.x.example", max_age=60) == "record"
    assert reads == ["https://idp.y.example"] * 2 + ["https://idp.x.example"] * 2


def test_the_reader_refuses_an_item_whose_value_is_not_a_string(registry_table: Any) -> None:
    registry_table.put_item(
        TableName=REGISTRY_TABLE, Item={"issuer": {"S": "https://idp.x.example"}, "value": {"N": "1"}}
    )
    reader, _ = counted_reader(registry_table, FakeClock())

    with pytest.raises(TypeError, match="'value' attribute is not a string"):
        reader.get("https://idp.x.example", max_age=60)


def test_the_reader_imports_no_powertools_parameters() -> None:
    # Powertools Parameters' package imports boto3 and all of its providers: tens of milliseconds
    # on a registry partner's first request. The reader is imported, made and used without it.
    code = (
        "import sys; from handler.partners import registry_provider; "
        "reader = registry_provider('t', lambda: None); reader.clear_cache(); "
        "print(sorted(m for m in sys.modules "
        "if m.startswith(('aws_lambda_powertools.utilities.parameters', 'boto3'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert loaded.strip() == "[]"
