"""Grade links: which platform line item a student's Big Interview progress goes to.

A launch whose ``id_token`` carries the AGS endpoint claim (LTI Assignment and Grade Services
2.0 §3.1) with a ``lineitem`` and the score scope is remembered here (``link_of``, then
``GradeLinks.record``): the platform registration (iss, client_id, deployment), the line item
URL, the student's LTI ``sub`` and Big Interview ``partner_id``, the destination, and later the
last score the platform accepted. The scheduled grade sync (``handler.lti.grades``) reads them
page by page and keeps its place in the same table (``cursor``, ``save_cursor``).

Items expire (DynamoDB TTL, ``expires_at``) ``LINK_LIFETIME_SECONDS`` after the student's last
launch: a course ends, its links stop being synced without anyone cleaning up.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from handler.config import MAX_URL
from handler.lti.claims import VerifiedLaunch
from handler.lti.registrations import LtiRegistration
from handler.telemetry import SERVICE
from handler.url_rules import url_problem

__all__ = ["LINK_LIFETIME_SECONDS", "SCORE_SCOPE", "GradeLink", "GradeLinks", "launch_recorder", "link_of"]

# A child of the function's Powertools logger: its JSON lines, with the extra fields.
_log = Logger(service=SERVICE, child=True)

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
# A link lives this long after the student's last launch (a long semester and its grading).
LINK_LIFETIME_SECONDS = 200 * 86400
# A launch refreshes a link's expiry at most once a day: the other launches write nothing.
_REFRESH_SECONDS = 86400
_CURSOR_KEY = "#cursor"
_LINK_PREFIX = "link|"


@dataclass(frozen=True)
class GradeLink:
    """One student's line item on one platform; ``posted``: the last score it accepted (0 to 100)."""

    issuer: str
    client_id: str
    deployment_id: str
    lineitem: str = field(repr=False)
    sub: str = field(repr=False)  # the platform's id of the student: not for logs
    partner_id: str = field(repr=False)
    destination: str  # the launch's redirect_to; "" is Big Interview's dashboard
    posted: float | None = None

    @property
    def key(self) -> str:
        """The item's key: one per (registration, deployment, line item, student), revealing none of them."""
        parts = [self.issuer, self.client_id, self.deployment_id, self.lineitem, self.sub]
        return _LINK_PREFIX + hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()


def link_of(registration: LtiRegistration, launch: VerifiedLaunch) -> GradeLink | None:
    """The launch's grade link, or None: no AGS claim, no ``lineitem``, or no score scope."""
    service = launch.grade_service
    if service is None:
        return None
    lineitem, scopes = service.get("lineitem"), service.get("scope")
    if not isinstance(lineitem, str) or len(lineitem) > MAX_URL or url_problem(lineitem):
        return None
    if not isinstance(scopes, list) or SCORE_SCOPE not in scopes:
        return None
    return GradeLink(
        registration.issuer,
        registration.client_id,
        launch.deployment_id,
        lineitem,
        launch.sub,
        launch.partner_id,
        launch.redirect_to or "",
    )


class GradeLinks:
    """The grade links table (``LTI_GRADE_TABLE_NAME``): a launch's one write, the sync's pages."""

    def __init__(self, table: str, client: Callable[[], Any], clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self._client = client
        self._clock = clock

    def record(self, link: GradeLink) -> bool:
        """One conditional ``UpdateItem``: the link, its expiry moved on; False when it was fresh already.

        The last posted score is kept: a student launching again is not graded again.
        """
        now = int(self._clock())
        values = {
            ":iss": link.issuer,
            ":client_id": link.client_id,
            ":deployment_id": link.deployment_id,
            ":lineitem": link.lineitem,
            ":sub": link.sub,
            ":partner_id": link.partner_id,
            ":destination": link.destination,
        }
        try:
            self._client().update_item(
                TableName=self.table,
                Key={"pk": {"S": link.key}},
                # Names as #placeholders: "sub" is one of DynamoDB's reserved words.
                UpdateExpression="SET "
                + ", ".join(f"#{name[1:]} = {name}" for name in values)
                + ", expires_at = :expires_at",
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :refresh_before",
                ExpressionAttributeNames={f"#{name[1:]}": name[1:] for name in values},
                ExpressionAttributeValues={
                    **{name: {"S": value} for name, value in values.items()},
                    ":expires_at": {"N": str(now + LINK_LIFETIME_SECONDS)},
                    ":refresh_before": {"N": str(now + LINK_LIFETIME_SECONDS - _REFRESH_SECONDS)},
                },
            )
        except Exception as error:
            if _conditional_check_failed(error):
                return False
            raise
        return True

    def page(self, after: str | None, limit: int) -> tuple[list[GradeLink | str], str | None]:
        """Up to ``limit`` links after the key ``after`` (a malformed one: its key), and the key to go
        on after (None: the table's end). The cursor item counts in ``limit`` but is not returned."""
        request: dict[str, Any] = {"TableName": self.table, "Limit": limit, "ConsistentRead": True}
        if after is not None:
            request["ExclusiveStartKey"] = {"pk": {"S": after}}
        answer = self._client().scan(**request)
        found: list[GradeLink | str] = []
        for item in answer.get("Items", []):
            key = item["pk"]["S"]
            if not key.startswith(_LINK_PREFIX):
                continue  # the cursor
            link = _link_in(item)
            found.append(link if link is not None and link.key == key else key)
        last = answer.get("LastEvaluatedKey")
        return found, last["pk"]["S"] if last else None

    def mark_posted(self, link: GradeLink, score: float) -> bool:
        """Record a score the platform accepted; False if a higher one is recorded already (another run)."""
        try:
            self._client().update_item(
                TableName=self.table,
                Key={"pk": {"S": link.key}},
                UpdateExpression="SET posted = :score",
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(posted) OR posted < :score)"
                ),
                ExpressionAttributeValues={":score": {"N": _number(score)}},
            )
        except Exception as error:
            if _conditional_check_failed(error):
                return False
            raise
        return True

    def cursor(self) -> str | None:
        """Where the last run stopped: the key of the last link it handled; None: start from the first."""
        item = (
            self._client()
            .get_item(TableName=self.table, Key={"pk": {"S": _CURSOR_KEY}}, ConsistentRead=True)
            .get("Item")
        )
        return item["after"]["S"] if item and "after" in item else None

    def save_cursor(self, after: str | None) -> None:
        """Keep the place for the next run (None: the pass is complete, the next run starts over)."""
        if after is None:
            self._client().delete_item(TableName=self.table, Key={"pk": {"S": _CURSOR_KEY}})
        else:
            self._client().put_item(
                TableName=self.table, Item={"pk": {"S": _CURSOR_KEY}, "after": {"S": after}}
            )


def launch_recorder(links: GradeLinks) -> Callable[[LtiRegistration, VerifiedLaunch], None]:
    """What a signed-in launch calls: its grade link recorded, if it has one; a failure is only logged.

    The student is signed in either way: a link not recorded now is recorded at the next launch.
    """

    def record(registration: LtiRegistration, launch: VerifiedLaunch) -> None:
        try:
            link = link_of(registration, launch)
            if link is not None:
                links.record(link)
        except Exception as error:  # noqa: BLE001 - never the launch's failure
            # The class and AWS's error code only: the item holds the student's ids.
            code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
            _log.warning(
                "grade link not recorded",
                extra={"reason": type(error).__name__, "code": str(code)[:80], "table": links.table},
            )

    return record


def _link_in(item: dict[str, Any]) -> GradeLink | None:
    try:
        text = {
            name: item[name]["S"]
            for name in ("iss", "client_id", "deployment_id", "lineitem", "sub", "partner_id", "destination")
        }
        posted = float(item["posted"]["N"]) if "posted" in item else None
    except (KeyError, TypeError, ValueError):
        return None
    return GradeLink(
        text["iss"],
        text["client_id"],
        text["deployment_id"],
        text["lineitem"],
        text["sub"],
        text["partner_id"],
        text["destination"],
        posted,
    )


def _number(score: float) -> str:
    return f"{score:.2f}"


def _conditional_check_failed(error: Exception) -> bool:
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return bool(code == "ConditionalCheckFailedException")
