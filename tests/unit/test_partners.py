"""``PartnerRegistry``'s remembered refusals: each request gets one without earlier requests' frames."""

from __future__ import annotations

import json
from typing import Any

import pytest

from handler.aws_clients import AwsClients
from handler.config import Runtime
from handler.errors import SsoError
from handler.http_pool import new_http_pool
from handler.partners import PartnerRegistry, PartnerWiring
from handler.telemetry import Telemetry
from tests.registry_support import partner_record


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
