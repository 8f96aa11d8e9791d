"""``state`` and ``nonce``: issued at login, used once at launch, kept in DynamoDB for minutes.

``issue`` writes one item per login, on the condition that it is new, keyed by the SHA-256 of
the state and holding the SHA-256 of the nonce and of the browser binding (never the values),
the registration and ``expires_at`` (the table's TTL). ``use_once`` marks it used on the
condition that it exists, is unused, unexpired and bound to the browser's cookie: using the
state uses its nonce. Each write carries a random claim, so botocore's retry of a write whose
answer was lost is recognised as ours. DynamoDB failing refuses the launch (fail closed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from handler.errors import ReplayStoreUnavailable
from handler.lti.errors import LaunchExpired, StateCookieMissing, StateRefused
from handler.replay import put_if_new, store_client

__all__ = ["IssuedLaunch", "LaunchStates", "digest"]


def digest(value: str) -> str:
    """The SHA-256 of a state, nonce or binding: what is stored, compared and (never the value) logged."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedLaunch:
    """What a login stored for its state."""

    issuer: str
    client_id: str
    nonce_sha256: str


class LaunchStates:
    """The launch table: one item per login, used once."""

    def __init__(self, table_name: str, lifetime_seconds: int, client: Callable[[], Any]) -> None:
        self._table_name = table_name
        self.lifetime_seconds = lifetime_seconds
        self._client = client

    def issue(
        self,
        state: str,
        nonce: str,
        binding: str,
        issuer: str,
        client_id: str,
        now: float,
        login: Mapping[str, str] | None = None,
    ) -> None:
        """Remember a login's state (its nonce and browser binding) until ``now`` + the lifetime.

        ``login``: the login initiation's parameters (the platform's own, none secret), so that a
        launch whose browser lost the binding can start the same login again in a new window.
        """
        # The condition (the state is new) stays: nothing else may overwrite a state's item; the
        # key is the SHA-256 of 256 random bits, so only a retry of our own write finds one there.
        item = {
            "pk": {"S": f"lti-state#{digest(state)}"},
            "expires_at": {"N": str(int(now) + self.lifetime_seconds)},
            "nonce_sha256": {"S": digest(nonce)},
            "binding_sha256": {"S": digest(binding)},
            "iss": {"S": issuer},
            "client_id": {"S": client_id},
        }
        if login:
            item["login"] = {"S": json.dumps(dict(login), sort_keys=True)}
        if put_if_new(self._client, self._table_name, item, "launch state") is not None:
            raise ReplayStoreUnavailable("DynamoDB (launch state): the state's item exists")

    def use_once(self, state: str, binding: str | None, now: float) -> IssuedLaunch:
        """Mark the state used if it is ours, unused, unexpired and this browser's; what it was issued for.

        ``binding`` is None when the browser sent no cookie for the state: the conditional
        write then cannot succeed (no binding matches), and the item it returns tells a
        reload of a finished launch (used) and a launch after the state's lifetime
        (expired) from a cookie the browser withheld (``StateCookieMissing``).
        """
        client = store_client(self._client, "launch state")
        claim = uuid.uuid4().hex
        try:
            answer = client.update_item(
                TableName=self._table_name,
                Key={"pk": {"S": f"lti-state#{digest(state)}"}},
                UpdateExpression="SET used_by = :claim",
                ConditionExpression=(
                    "attribute_exists(pk) AND attribute_not_exists(used_by) "
                    "AND binding_sha256 = :binding AND expires_at > :now"
                ),
                ExpressionAttributeValues={
                    ":claim": {"S": claim},
                    ":binding": {"S": digest(binding) if binding is not None else "no cookie"},
                    ":now": {"N": str(int(now))},
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            item = answer["Attributes"]
        except client.exceptions.ConditionalCheckFailedException as error:
            item = error.response.get("Item") or {}
            if item.get("used_by", {}).get("S") != claim:  # not our own retried write
                raise _refusal(item, binding, now) from None
        except Exception as error:  # noqa: BLE001 - any other failure refuses the launch
            raise ReplayStoreUnavailable(f"DynamoDB (launch state): {type(error).__name__}") from None
        return IssuedLaunch(item["iss"]["S"], item["client_id"]["S"], item["nonce_sha256"]["S"])

    def login_of(self, state: str, now: float) -> dict[str, str] | None:
        """The login parameters an unused, unexpired state was issued with; None if there is no such state."""
        client = store_client(self._client, "launch state")
        try:
            item = client.get_item(
                TableName=self._table_name,
                Key={"pk": {"S": f"lti-state#{digest(state)}"}},
                ConsistentRead=True,
            ).get("Item")
        except Exception as error:  # noqa: BLE001 - the caller shows the plain page instead
            raise ReplayStoreUnavailable(f"DynamoDB (launch state): {type(error).__name__}") from None
        if not item or "used_by" in item or float(item["expires_at"]["N"]) <= now or "login" not in item:
            return None
        login: dict[str, str] = json.loads(item["login"]["S"])
        return login


def _refusal(item: dict[str, Any], binding: str | None, now: float) -> Exception:
    """Why a state could not be used: unknown, used, expired, no cookie, or another browser's."""
    if not item:
        return StateRefused("the state is not one this service issued, or it has expired")
    if "used_by" in item:
        return StateRefused("the state was already used: a launch is used once")
    if float(item.get("expires_at", {}).get("N", "0")) <= now:
        return LaunchExpired(
            "the launch took longer than the state's lifetime; start it again from the course"
        )
    if binding is None:
        return StateCookieMissing(
            "the browser sent no cookie for this state: third-party cookies blocked in a frame, "
            "or the launch finished in another browser"
        )
    if not hmac.compare_digest(item.get("binding_sha256", {}).get("S", ""), digest(binding)):
        return StateRefused(
            "the state was issued to another browser (its cookie or stored binding does not match)"
        )
    return StateRefused("the state cannot be used")
