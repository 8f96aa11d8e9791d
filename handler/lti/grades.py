"""Grade passback (LTI Assignment and Grade Services 2.0): Big Interview progress to LMS gradebooks.

``GradeSync.run`` is one scheduled run. It reads the grade links (``handler.lti.grade_links``)
from where the last run stopped, and for each: the student's tracks from the Partner API
(``GET /api/users/{partner_id}/tracks``, the org's key through the same ``PartnerWiring`` as a
launch), the score of the link's destination (``score_of``), and, only when it rose above the
last one the platform accepted, a score posted to ``{lineitem}/scores``; the score is recorded
after the platform accepts it. A run stops after ``items_per_run`` links or when its deadline
comes near, saving its place; the next run resumes there.

The access token is the platform's (OAuth 2.0 client credentials, the client authenticated by
a JWT assertion, RFC 7523, signed by the tool's KMS key; 1EdTech Security Framework §4.1),
cached until it expires. A platform that fails (token refused, 5xx, timeout) is left alone for
the rest of the run and its links are tried again on the next pass; no other platform waits
for it. A user the Partner API does not know (404) is skipped the same way.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import urllib3
from aws_lambda_powertools import Logger

from handler.errors import SsoError
from handler.lti.grade_links import SCORE_SCOPE, GradeLink, GradeLinks
from handler.lti.registrations import LtiRegistration
from handler.lti.tool_key import KmsToolKey
from handler.partners import PartnerServices
from handler.telemetry import SERVICE
from handler.untrusted import parse_json

__all__ = [
    "DASHBOARD",
    "GradeSync",
    "PlatformFailed",
    "PlatformTokens",
    "RunReport",
    "SyncSettings",
    "platform_label",
    "score_of",
    "scores_url",
]

# A child of the function's Powertools logger: its JSON lines, with the extra fields.
_log = Logger(service=SERVICE, child=True)

DASHBOARD = "/members/dashboard"
SCORE_MEDIA_TYPE = "application/vnd.ims.lis.v1.score+json"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCORE_MAXIMUM = 100
# A token is used until this long before it expires (the platform's clock, the post's time).
_TOKEN_MARGIN_SECONDS = 60
_ASSERTION_LIFETIME_SECONDS = 300
_MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class SyncSettings:
    """One run: ``items_per_run`` links at most, ending ``margin_seconds`` before its deadline."""

    items_per_run: int = 500
    margin_seconds: float = 10.0
    page_size: int = 50  # links read per scan call
    platform_timeout_seconds: float = 5.0  # each call to a platform (token, score)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> SyncSettings:
        """``LTI_GRADE_ITEMS_PER_RUN``, ``LTI_GRADE_MARGIN_SECONDS``, ``LTI_GRADE_TIMEOUT_SECONDS``."""
        default = cls()
        return cls(
            items_per_run=_bounded(environ, "LTI_GRADE_ITEMS_PER_RUN", default.items_per_run, 1, 100_000),
            margin_seconds=_bounded(environ, "LTI_GRADE_MARGIN_SECONDS", default.margin_seconds, 0, 300),
            platform_timeout_seconds=_bounded(
                environ, "LTI_GRADE_TIMEOUT_SECONDS", default.platform_timeout_seconds, 0.05, 30
            ),
        )


def _bounded(environ: Mapping[str, str], name: str, default: Any, low: float, high: float) -> Any:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = type(default)(text)
    except ValueError:
        raise ValueError(f"{name} must be a number from {low} to {high}, got {text[:40]!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be a number from {low} to {high}, got {text[:40]!r}")
    return value


def platform_label(issuer: str) -> str:
    """The platform in metrics and logs: its issuer's host (and port), as the template's alarm writes it."""
    return urlsplit(issuer).netloc or issuer[:100]


def score_of(tracks: list[Any], destination: str) -> float | None:
    """The score, 0 to 100, of a destination given the user's tracks (docs/lti.md, "Grade passback").

    A destination that is one of a track's steps (its ``link``) scores that track's progress (the
    first such track); the dashboard, or any other destination, the mean of all tracks' progress.
    None: no track with a usable progress.
    """
    progress = {}
    for index, track in enumerate(tracks):
        value = track.get("progress") if isinstance(track, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            progress[index] = min(max(float(value), 0.0), 1.0)
    if not progress:
        return None
    path = destination or DASHBOARD
    for index, track in enumerate(tracks):
        steps = track.get("tracks") if isinstance(track, dict) else None
        if (
            index in progress
            and isinstance(steps, list)
            and any(isinstance(step, dict) and step.get("link") == path for step in steps)
        ):
            return round(progress[index] * SCORE_MAXIMUM, 2)
    return round(sum(progress.values()) / len(progress) * SCORE_MAXIMUM, 2)


def scores_url(lineitem: str) -> str:
    """AGS §3.4: the score service is the line item URL with ``/scores`` added to its path (query kept)."""
    parts = urlsplit(lineitem)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


class PlatformFailed(Exception):
    """A platform's token endpoint or score service failed; ``reason`` is low-cardinality, for metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass
class _Token:
    value: str = field(repr=False)
    expires_at: float


class PlatformTokens:
    """Access tokens for the score scope, one per (token endpoint, client_id), kept until they expire.

    ``clock`` measures a token's lifetime (tests move it); the assertion's ``iat`` and ``exp``
    are always the real time, which the platform checks.
    """

    def __init__(
        self,
        http: urllib3.PoolManager,
        tool_key: KmsToolKey,
        timeout_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._tool_key = tool_key
        self._timeout = timeout_seconds
        self._clock = clock
        self._tokens: dict[tuple[str, str], _Token] = {}

    def token(self, registration: LtiRegistration) -> str:
        """A token for the score scope; ``PlatformFailed`` if the endpoint refuses or fails."""
        token_url = registration.token_url
        if token_url is None:
            raise PlatformFailed("no_token_url", "the registration has no token endpoint (token_url)")
        key = (token_url, registration.client_id)
        cached = self._tokens.get(key)
        if cached is not None and self._clock() < cached.expires_at - _TOKEN_MARGIN_SECONDS:
            return cached.value
        asked_at = self._clock()
        now = int(time.time())  # the assertion's times are the platform's to check: the real clock
        try:
            assertion = self._tool_key.sign(
                {
                    "iss": registration.client_id,
                    "sub": registration.client_id,
                    "aud": token_url,
                    "iat": now,
                    "exp": now + _ASSERTION_LIFETIME_SECONDS,
                    "jti": secrets.token_urlsafe(16),
                }
            )
        except SsoError as error:
            raise PlatformFailed("tool_key", error.detail) from None
        body = urlencode(
            {
                "grant_type": "client_credentials",
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": assertion,
                "scope": SCORE_SCOPE,
            }
        )
        status, document = request(
            self._http,
            "POST",
            token_url,
            body,
            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            self._timeout,
        )
        if status >= 500:
            raise PlatformFailed("platform_5xx", f"the token endpoint answered {status}")
        if status != 200:
            raise PlatformFailed("token_refused", f"the token endpoint answered {status}")
        value = document.get("access_token") if isinstance(document, dict) else None
        lifetime = document.get("expires_in", 3600) if isinstance(document, dict) else None
        if not isinstance(value, str) or not value or not isinstance(lifetime, int | float):
            raise PlatformFailed("token_refused", "the token endpoint's answer has no access_token")
        self._tokens[key] = _Token(value, asked_at + float(lifetime))
        return value

    def forget(self, registration: LtiRegistration) -> None:
        """Drop the registration's cached token (the score service refused it)."""
        self._tokens.pop((registration.token_url or "", registration.client_id), None)


def request(
    http: urllib3.PoolManager, method: str, url: str, body: str, headers: dict[str, str], timeout: float
) -> tuple[int, Any]:
    """One call to a platform: status and parsed JSON (None if none); ``PlatformFailed`` if no answer."""
    try:
        response = http.request(
            method,
            url,
            body=body.encode("utf-8"),
            headers=headers,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=False,
            redirect=False,
            preload_content=False,
        )
    except urllib3.exceptions.NewConnectionError as error:
        raise PlatformFailed("network", f"{type(error).__name__}") from None
    except urllib3.exceptions.TimeoutError as error:
        raise PlatformFailed("timeout", f"{type(error).__name__}") from None
    except urllib3.exceptions.HTTPError as error:
        raise PlatformFailed("network", f"{type(error).__name__}") from None
    try:
        raw = response.read(_MAX_ANSWER_BYTES + 1)
    except urllib3.exceptions.TimeoutError:
        raise PlatformFailed("timeout", "ReadTimeoutError while the answer arrived") from None
    except urllib3.exceptions.HTTPError as error:
        raise PlatformFailed("network", f"{type(error).__name__}") from None
    finally:
        response.release_conn()
    try:
        document = parse_json(raw) if raw and len(raw) <= _MAX_ANSWER_BYTES else None
    except ValueError:
        document = None
    return response.status, document


@dataclass
class RunReport:
    """What one run did (the scheduled function's answer, and its metrics)."""

    links: int = 0  # handled this run
    posted: int = 0
    unchanged: int = 0
    unknown_users: int = 0
    failed: int = 0  # links left for the next pass: their platform or the Partner API failed
    skipped: int = 0  # links of no usable registration, or malformed items
    failed_platforms: list[str] = field(default_factory=list)
    complete: bool = False  # the pass reached the table's end (the next run starts over)


class GradeMetrics:
    """What a run reports; the base counts nothing (tests record it, production is Powertools')."""

    def count(self, name: str, platform: str | None = None) -> None:
        """One ``name`` event, of ``platform`` if given."""


@dataclass
class GradeSync:
    """One run of grade passback over the grade links (module docstring)."""

    links: GradeLinks
    registration: Callable[[str, str], LtiRegistration]  # raises SsoError when unknown or disabled
    wire: Callable[[LtiRegistration], PartnerServices]
    tokens: PlatformTokens
    http: urllib3.PoolManager
    settings: SyncSettings = field(default_factory=SyncSettings)
    metrics: GradeMetrics = field(default_factory=GradeMetrics)
    clock: Callable[[], float] = time.time

    def run(self, remaining_millis: Callable[[], int]) -> RunReport:
        """Links from the saved place until the table's end, ``items_per_run`` or the deadline's margin."""
        report = RunReport()
        failed: set[str] = set()  # platforms not to call again this run

        def remaining_seconds() -> float:
            return remaining_millis() / 1000 - self.settings.margin_seconds

        def must_stop() -> bool:
            return report.links >= self.settings.items_per_run or remaining_seconds() <= 0

        after = saved = self.links.cursor()
        while not must_stop():
            limit = min(self.settings.page_size, self.settings.items_per_run - report.links)
            found, last_key = self.links.page(after, limit)
            for link in found:
                if must_stop():
                    break
                self._handle(link, report, failed, remaining_seconds)
                report.links += 1
                after = link if isinstance(link, str) else link.key
            else:  # the whole page: go on after it, or the pass is complete
                if last_key is None:
                    after, report.complete = None, True
                    break
                after = last_key
                # Each page's end is kept: a run that dies later (out of time) resumes here.
                self.links.save_cursor(after)
                saved = after
                continue
            break
        if after != saved or report.complete:
            self.links.save_cursor(after)
        report.failed_platforms = sorted(failed)
        _log.info("grade sync run", extra=vars(report))
        return report

    def _handle(
        self,
        link: GradeLink | str,
        report: RunReport,
        failed: set[str],
        remaining_seconds: Callable[[], float],
    ) -> None:
        if isinstance(link, str):
            report.skipped += 1
            _log.warning("grade link item is malformed: skipped", extra={"link": link[:80]})
            return
        platform = platform_label(link.issuer)
        if platform in failed:
            report.failed += 1  # its platform failed earlier in this run: tried again next pass
            return
        try:
            registration = self.registration(link.issuer, link.client_id)
        except SsoError as error:
            report.skipped += 1
            _log.warning(
                "grade link's registration is unusable: skipped",
                extra={"platform": platform, "reason": error.code},
            )
            return
        services = self.wire(registration)
        try:
            tracks = services.partner_api.user_tracks(link.partner_id, remaining_seconds)
        except SsoError as error:  # the Partner API, or the org's API key (Secrets Manager)
            report.failed += 1
            self.metrics.count("GradePartnerApiFailed", platform)
            _log.warning(
                "Partner API failed for a grade link",
                extra={"platform": platform, "reason": error.code, "detail": error.log_detail},
            )
            return
        if tracks is None:
            report.unknown_users += 1
            self.metrics.count("GradeUnknownUser", platform)
            return
        score = score_of(tracks, link.destination)
        if score is None or score <= (link.posted or 0.0):
            report.unchanged += 1
            return
        try:
            self._post(registration, link, score)
        except PlatformFailed as error:
            failed.add(platform)
            report.failed += 1
            self.metrics.count("GradePlatformFailed", platform)
            _log.warning(
                "platform failed: its links wait for the next run",
                extra={"platform": platform, "reason": error.reason, "detail": str(error)[:200]},
            )
            return
        self.links.mark_posted(link, score)
        report.posted += 1
        self.metrics.count("GradeScorePosted", platform)

    def _post(self, registration: LtiRegistration, link: GradeLink, score: float) -> None:
        """POST the score; a refused token is renewed once."""
        for attempt in (1, 2):
            token = self.tokens.token(registration)
            status, _ = request(
                self.http,
                "POST",
                scores_url(link.lineitem),
                json.dumps(self._score(link, score)),
                {"Authorization": f"Bearer {token}", "Content-Type": SCORE_MEDIA_TYPE},
                self.settings.platform_timeout_seconds,
            )
            if status in (200, 201, 202, 204):
                return
            if status == 401 and attempt == 1:
                self.tokens.forget(registration)
                continue
            reason = "platform_5xx" if status >= 500 else "score_refused"
            raise PlatformFailed(reason, f"the score service answered {status}")

    def _score(self, link: GradeLink, score: float) -> dict[str, Any]:
        """The score (AGS §3.4): final as it stands, so the gradebook shows it at once."""
        timestamp = datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="milliseconds")
        return {
            "userId": link.sub,
            "scoreGiven": score,
            "scoreMaximum": SCORE_MAXIMUM,
            "activityProgress": "Completed" if score >= SCORE_MAXIMUM else "InProgress",
            "gradingProgress": "FullyGraded",
            "timestamp": timestamp.replace("+00:00", "Z"),
        }
