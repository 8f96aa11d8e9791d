"""Partner registry helpers for tests: the table as template.yaml creates it, and records."""

from __future__ import annotations

import json
from typing import Any

REGISTRY_TABLE = "bi-sso-test-partners"


def create_registry_table(client: Any, name: str = REGISTRY_TABLE) -> None:
    """The registry table's shape in template.yaml: hash key ``issuer`` (S), on-demand."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "issuer", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "issuer", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def put_record(
    client: Any, record: dict[str, Any], name: str = REGISTRY_TABLE, key: str | None = None
) -> None:
    """Store ``record`` under its issuer (or ``key``), its JSON in ``value``."""
    client.put_item(
        TableName=name,
        Item={"issuer": {"S": key or record["issuer"]}, "value": {"S": json.dumps(record)}},
    )


def partner_record(partner: str, issuer: str, **fields: Any) -> dict[str, Any]:
    """A minimal valid record for ``partner``, its secret under the prefix; ``fields`` override."""
    record: dict[str, Any] = {
        "kind": "partner",
        "partner": partner,
        "issuer": issuer,
        "audience": f"{partner}-sso",
        "bi_org": partner,
        "api_key_secret_id": f"big-interview-sso/{partner}/api-key",
        "enabled": True,
    }
    record.update(fields)
    return {k: v for k, v in record.items() if v is not None}
