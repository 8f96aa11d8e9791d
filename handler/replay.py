"""One-time links: each ``(iss, jti)`` is accepted once, remembered in DynamoDB.

After the token is valid and before the Partner API is called, ``(iss, jti)`` (never the token
text: one token has several spellings) is written on the condition that it is new; the item
expires at ``exp`` + leeway. DynamoDB failing refuses the request (fail closed). Each write
carries a random ``claim``: a botocore retry of a write whose answer was lost meets our own
item, which ``ReturnValuesOnConditionCheckFailure`` shows, and is not a second use. Powertools'
Idempotency would answer a repeat with the first response; a repeated link must be refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from handler.errors import LinkAlreadyUsed, ReplayStoreUnavailable

__all__ = [
    "ReplayGuard",
    "put_if_new",
    "store_client",
]


def put_if_new(
    client: Callable[[], Any], table_name: str, item: dict[str, Any], what: str
) -> dict[str, Any] | None:
    """``PutItem`` on the condition that ``item``'s ``pk`` is new; None when written, else the stored item.

    A write botocore retried after its applied answer was lost counts as written: its random
    ``claim`` is the stored one. Any other failure is ``ReplayStoreUnavailable`` (fail closed).
    """
    dynamodb = store_client(client, what)
    claim = uuid.uuid4().hex
    try:
        dynamodb.put_item(
            TableName=table_name,
            Item={**item, "claim": {"S": claim}},
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException as error:
        stored: dict[str, Any] = error.response.get("Item") or {}
        return None if stored.get("claim", {}).get("S") == claim else stored
    except Exception as error:  # noqa: BLE001 - any other failure refuses the request
        raise ReplayStoreUnavailable(f"DynamoDB ({what}): {type(error).__name__}") from None
    return None


def store_client(client: Callable[[], Any], what: str) -> Any:
    """The DynamoDB client; one that cannot be made (no region) refuses the request, never crashes it."""
    try:
        return client()
    except Exception as error:  # noqa: BLE001
        raise ReplayStoreUnavailable(f"DynamoDB client ({what}): {type(error).__name__}") from None


class ReplayGuard:
    """Refuses the second use of a link, by ``(iss, jti)``."""

    def __init__(self, table_name: str, leeway_seconds: int, client: Callable[[], Any]) -> None:
        self._table_name = table_name
        self._leeway = leeway_seconds
        self._client = client

    def use_once(self, issuer: str, jti: str, expires_at: float, leeway_seconds: int | None = None) -> None:
        """Record the link as used, or raise ``LinkAlreadyUsed`` if it already was.

        ``leeway_seconds``: the token's partner's clock-skew allowance (default: the guard's).
        """
        leeway = self._leeway if leeway_seconds is None else leeway_seconds
        item = {"pk": {"S": f"{issuer}#{jti}"}, "expires_at": {"N": str(int(expires_at) + leeway)}}
        if put_if_new(self._client, self._table_name, item, "one-time links") is not None:
            raise LinkAlreadyUsed("(iss, jti) seen before")
