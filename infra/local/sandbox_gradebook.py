"""The sandbox learning platform's grade services (LTI Assignment and Grade Services 2.0).

``lti1p3platform`` does the platform's part: ``LTI1P3PlatformConfAbstract.get_access_token``
answers the tool's client-credentials request after verifying its JWT assertion against the
tool's key set (``/lti/jwks``), and ``AssignmentsGradesService.handle_update_score`` checks the
access token and its scope before taking a score. This module adds what a real platform checks
and the package leaves out (the assertion's ``iss``, ``sub``, ``aud`` and single-use ``jti``;
the score's media type, its user and a timestamp newer than the last), keeps the scores, and
renders the gradebook page. ``Gradebook.faults`` makes it misbehave for the tests: refuse
tokens, answer 5xx, or hold its answers until released (a platform that times out).
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.request import Request, TRequest
from lti1p3platform.score import TScore, UpdateScoreStatus
from lti1p3platform.service_connector import AssignmentsGradesService, TPage

from infra.local.http_server import html_page

__all__ = ["Faults", "Gradebook", "Score"]

SCORE_MEDIA_TYPE = "application/vnd.ims.lis.v1.score+json"
TOKEN_PATH = "/token"  # noqa: S105 - a path, not a secret
LINEITEMS_PATH = "/lineitems"
# How long a held answer waits for ``Faults.release`` before giving up (a test's safety net).
_HOLD_LIMIT_SECONDS = 30.0


@dataclass(frozen=True)
class Score:
    """A score the platform took: the line item, the student (LTI sub) and the AGS fields."""

    lineitem: str
    user_id: str
    given: float
    maximum: float
    activity: str
    grading: str
    timestamp: str


@dataclass
class Faults:
    """How the platform misbehaves: a status for every token or score request, or answers held."""

    token_status: int | None = None  # e.g. 400 (client refused) or 503
    score_status: int | None = None
    held: threading.Event | None = None  # while set to an unset Event, answers wait for it

    def hold(self) -> None:
        self.held = threading.Event()

    def release(self) -> None:
        if self.held is not None:
            self.held.set()
        self.held = None


@dataclass
class Gradebook:
    """The platform's scores, by (line item, student); thread-safe."""

    students: Mapping[str, str]  # LTI sub -> the name the gradebook shows
    faults: Faults = field(default_factory=Faults)
    scores: dict[tuple[str, str], Score] = field(default_factory=dict)
    posts: int = 0  # score requests that reached the score service
    tokens_issued: int = 0
    _used_jtis: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def token(
        self, platform: LTI1P3PlatformConfAbstract, token_url: str, form: dict[str, str]
    ) -> tuple[int, Any]:
        """``POST /token``: the package's client-credentials grant, after the checks it leaves out."""
        self._wait()
        if self.faults.token_status is not None:
            return self.faults.token_status, {"error": "temporarily_unavailable"}
        registration = platform.get_registration()
        try:
            claims = platform.tool_validate_and_decode(form.get("client_assertion", ""))
        except Exception:  # noqa: BLE001 - any verification failure is the client's
            return 401, {"error": "invalid_client"}
        client_id = registration.get_client_id()
        # RFC 7523 §3 and the 1EdTech Security Framework §4.1.1: the tool asserts its own client_id.
        if claims.get("iss") != client_id or claims.get("sub") != client_id or claims.get("aud") != token_url:
            return 401, {"error": "invalid_client"}
        with self._lock:
            if claims.get("jti") in self._used_jtis or not claims.get("jti"):
                return 401, {"error": "invalid_client"}
            self._used_jtis.add(str(claims["jti"]))
        try:
            answer = platform.get_access_token(form)
        except Exception:  # noqa: BLE001 - a missing field or grant type
            return 400, {"error": "invalid_request"}
        with self._lock:
            self.tokens_issued += 1
        return 200, answer

    def score(
        self,
        platform: LTI1P3PlatformConfAbstract,
        lineitem_url: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> int:
        """``POST {lineitem}/scores`` through the package's score service; the status it answers."""
        self._wait()
        with self._lock:
            self.posts += 1
        if self.faults.score_status is not None:
            return self.faults.score_status
        if headers.get("Content-Type", "").split(";")[0].strip() != SCORE_MEDIA_TYPE:
            return 415
        try:
            document = json.loads(body)
        except ValueError:
            return 400
        request = _ServiceRequest(("POST", headers, document))
        service = _Scores(request, platform, lineitem_url, self)
        try:
            answer = service.handle_update_score(lineitem_url)
        except Exception:  # noqa: BLE001 - the package raises on a token it cannot decode
            return 401
        return int(answer.code)

    def take(self, lineitem_url: str, score: TScore) -> UpdateScoreStatus:
        """Keep a score the service accepted (the checks the package's TODO leaves to its user)."""
        fields = ("userId", "scoreGiven", "scoreMaximum", "activityProgress", "gradingProgress", "timestamp")
        if any(name not in score for name in fields) or score["userId"] not in self.students:
            return UpdateScoreStatus.NOTAPPLIED
        user_id = str(score["userId"])
        given, maximum = float(score["scoreGiven"]), float(score["scoreMaximum"])
        if not 0 <= given <= maximum:
            return UpdateScoreStatus.NOTAPPLIED
        timestamp = str(score["timestamp"])
        with self._lock:
            previous = self.scores.get((lineitem_url, user_id))
            if previous is not None and timestamp <= previous.timestamp:
                return UpdateScoreStatus.OLD_TIMESTAMP  # AGS §3.4.7: an older score is refused (409)
            self.scores[(lineitem_url, user_id)] = Score(
                lineitem_url,
                user_id,
                given,
                maximum,
                str(score["activityProgress"]),
                str(score["gradingProgress"]),
                timestamp,
            )
        return UpdateScoreStatus.SUCCESS

    def page(self, lineitem_titles: Mapping[str, str]) -> str:
        """The gradebook: one row per student and line item, empty cells where no score came."""
        with self._lock:
            scores = dict(self.scores)
        header = "".join(f'<th scope="col">{html.escape(title)}</th>' for title in lineitem_titles.values())
        rows = []
        for user_id, name in self.students.items():
            cells = []
            for lineitem in lineitem_titles:
                score = scores.get((lineitem, user_id))
                cells.append(
                    "<td>-</td>"
                    if score is None
                    else f"<td>{score.given:g} / {score.maximum:g} "
                    f"<small>({html.escape(score.activity)}, {html.escape(score.grading)})</small></td>"
                )
            rows.append(f'<tr><th scope="row">{html.escape(name)}</th>{"".join(cells)}</tr>')
        body = (
            "<h1>Gradebook: Interview Skills 101</h1>\n"
            "<p><small>Scores the tool posted (LTI Assignment and Grade Services). "
            "They appear after the tool's grade sync runs (<code>make grade-sync</code>).</small></p>\n"
            f'<table>\n<tr><th scope="col">Student</th>{header}</tr>\n{"".join(rows)}\n</table>'
        )
        return html_page("Gradebook", body)

    def _wait(self) -> None:
        held = self.faults.held
        if held is not None:
            held.wait(_HOLD_LIMIT_SECONDS)


class _ServiceRequest(Request):
    """The package's request shape for the score service: method, headers and the JSON body."""

    def build_metadata(self, request: Any) -> TRequest:
        method, headers, document = request
        return {
            "method": method,
            "form_data": {},
            "get_data": {},
            "headers": headers,
            "content_type": SCORE_MEDIA_TYPE,
            "path": "",
            "json": document,
        }


class _Scores(AssignmentsGradesService):
    """The package's score service over the gradebook: one line item per graded link, scores only."""

    def __init__(
        self, request: Request, platform: LTI1P3PlatformConfAbstract, lineitem_url: str, book: Gradebook
    ) -> None:
        super().__init__(
            request,
            platform,
            lineitem_url.rsplit("/", 1)[0],
            lineitem_url,
            allow_creating_lineitems=False,
            results_service_enabled=False,
        )
        self._book = book

    def update_score(self, line_item_id: str, score: TScore) -> UpdateScoreStatus:
        return self._book.take(line_item_id, score)

    def find_lineitems(self, *args: Any, **kwargs: Any) -> TPage:
        raise NotImplementedError

    def find_lineitem(self, line_item_id: str) -> Any:
        raise NotImplementedError

    def create_lineitem(self, creation_data: Any) -> Any:
        raise NotImplementedError

    def update_lineitem(self, update_data: Any) -> Any:
        raise NotImplementedError

    def delete_lineitem(self, line_item_id: str) -> None:
        raise NotImplementedError

    def get_results(self, *args: Any, **kwargs: Any) -> TPage:
        raise NotImplementedError
