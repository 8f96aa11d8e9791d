"""Grade passback end to end: a launch records its line item, a scheduled run posts the score.

The platform is PyPI's ``lti1p3platform`` as the sandbox LMS on loopback (its token endpoint
verifies the tool's client assertion against the tool's key set; its score service checks the
access token and takes the score into the gradebook). The tool is the full handler with LTI and
grade passback on; DynamoDB, Secrets Manager and KMS are moto; the Partner API's ``/tracks`` is
the shared HTTPS fake, answering each user's progress from ``Progress``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from handler.lti.claims import AGS_ENDPOINT_CLAIM, lti_partner_id
from handler.lti.grade_links import SCORE_SCOPE, GradeLink, GradeLinks
from handler.lti.grade_sync import build_sync
from handler.lti.grades import GradeSync, PlatformTokens, RunReport
from handler.telemetry import SERVICE
from infra.local.sandbox_lms import STUDENTS, SandboxLms
from tests.lti.conftest import CLIENT_ID, PLATFORM, Progress, Tool
from tests.support import create_pk_table
from tests.support.clock import FakeClock

GRADE_TABLE = "bi-sso-test-lti-grades"
ADA, GRACE, PRIVATE = list(STUDENTS)
MINUTE_MS = 60_000


@pytest.fixture
def grade_table(lti_aws: dict[str, Any]) -> Any:
    return create_pk_table(boto3.client("dynamodb", region_name="us-east-1"), GRADE_TABLE)


@dataclass
class Course:
    """The tool with grade passback on, the sandbox LMS's gradebook, and the scheduled run."""

    tool: Tool
    lms: SandboxLms
    progress: Progress
    clock: FakeClock
    environ: dict[str, str]
    _sync: GradeSync | None = None

    def launch(self, sub: str, lineitem: str | None = None, **overrides: Any) -> dict[str, Any]:
        """A student's launch of the graded link (its AGS claim names the sandbox LMS's line item)."""
        login = self.tool.login()
        claim = {"scope": [SCORE_SCOPE], "lineitem": lineitem or self.lms.lineitem_url()}
        return self.tool.launch_from(login, sub=sub, **{AGS_ENDPOINT_CLAIM: claim, **overrides})

    @property
    def sync(self) -> GradeSync:
        if self._sync is None:
            self._sync = build_sync(self.environ, self.tool.container)
            self._sync.clock = self.clock
        return self._sync

    def run(self, remaining_millis: Callable[[], int] = lambda: MINUTE_MS) -> RunReport:
        self.clock.advance(1)  # each run's scores are newer than the last run's (AGS timestamps)
        return self.sync.run(remaining_millis)

    def score(self, sub: str) -> float | None:
        found = self.lms.gradebook.scores.get((self.lms.lineitem_url(), sub))
        return None if found is None else found.given


@pytest.fixture
def course(
    make_tool: Callable[..., Tool], lms: SandboxLms, progress: Progress, grade_table: Any, clock: FakeClock
) -> Course:
    environ = {
        "LTI_GRADE_TABLE_NAME": GRADE_TABLE,
        "LTI_TOKEN_URL": lms.token_url,
        "LTI_GRADE_MARGIN_SECONDS": "5",
    }
    tool = make_tool(**environ)
    assert tool.lti.tool_key is not None
    lms.tool_key_set = tool.lti.tool_key.jwks()  # the platform's copy of /lti/jwks
    return Course(tool, lms, progress, clock, environ)


def links(table: Any) -> list[dict[str, Any]]:
    return [i for i in table.scan(TableName=GRADE_TABLE)["Items"] if i["pk"]["S"].startswith("link|")]


# ---- the path: launch, run, gradebook ----------------------------------------------------------------
def test_a_launch_then_a_run_puts_the_score_in_the_gradebook_for_that_student_and_line_item(
    course: Course, grade_table: Any
) -> None:
    assert course.launch(ADA)["statusCode"] == 302
    course.progress.set(ADA, 0.5, 0.25)

    report = course.run()

    assert (report.posted, report.links, report.complete) == (1, 1, True)
    assert course.score(ADA) == 37.5  # the dashboard: the mean of the tracks
    assert course.score(GRACE) is None
    taken = course.lms.gradebook.scores[(course.lms.lineitem_url(), ADA)]
    assert (taken.maximum, taken.activity, taken.grading) == (100, "InProgress", "FullyGraded")
    assert [float(i["posted"]["N"]) for i in links(grade_table)] == [37.5]


def test_the_gradebook_page_shows_the_score_by_the_students_name(course: Course) -> None:
    course.launch(ADA)
    course.progress.set(ADA, 1.0)
    course.run()

    page = course.lms.gradebook.page({course.lms.lineitem_url(): "Big Interview"})

    assert '<th scope="row">Ada Lovelace</th><td>100 / 100 <small>(Completed, FullyGraded)' in page


def test_nothing_is_posted_until_progress_rises(course: Course) -> None:
    course.launch(ADA)
    course.progress.set(ADA, 0.4)
    course.run()
    assert course.lms.gradebook.posts == 1

    assert course.run().unchanged == 1
    course.progress.set(ADA, 0.3)  # progress never falls in Big Interview; a lower answer posts nothing
    course.run()
    assert course.lms.gradebook.posts == 1

    course.progress.set(ADA, 0.6)
    assert course.run().posted == 1
    assert (course.lms.gradebook.posts, course.score(ADA)) == (2, 60.0)


def test_a_launch_again_keeps_the_posted_score(course: Course) -> None:
    course.launch(ADA)
    course.progress.set(ADA, 0.4)
    course.run()

    course.launch(ADA)
    course.run()

    assert course.lms.gradebook.posts == 1


def test_the_access_token_is_asked_for_once_and_used_until_it_expires(course: Course) -> None:
    assert course.tool.lti.tool_key is not None
    course.sync.tokens = PlatformTokens(
        course.tool.container.http, course.tool.lti.tool_key, timeout_seconds=5, clock=course.clock
    )
    for sub in (ADA, GRACE):
        course.launch(sub)
        course.progress.set(sub, 0.2)
    course.run()
    assert (course.lms.gradebook.posts, course.lms.gradebook.tokens_issued) == (2, 1)

    course.progress.set(ADA, 0.4)
    course.clock.advance(3000)  # the sandbox's tokens last 3600 s
    course.run()
    assert course.lms.gradebook.tokens_issued == 1

    course.progress.set(ADA, 0.6)
    course.clock.advance(600)  # inside the last minute: a new token
    course.run()
    assert (course.lms.gradebook.posts, course.lms.gradebook.tokens_issued) == (4, 2)


# ---- one failure, isolated and retried -----------------------------------------------------------------
@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"token_status": 400}, id="token-refused"),
        pytest.param({"token_status": 503}, id="token-endpoint-5xx"),
        pytest.param({"score_status": 502}, id="score-service-5xx"),
    ],
)
def test_a_failing_platform_loses_nothing_and_is_retried_on_the_next_run(
    course: Course, fault: dict[str, int]
) -> None:
    course.launch(ADA)
    course.launch(GRACE)
    course.progress.set(ADA, 0.5)
    course.progress.set(GRACE, 0.7)
    for name, status in fault.items():
        setattr(course.lms.gradebook.faults, name, status)

    failed = course.run()

    assert (failed.posted, failed.failed, failed.complete) == (0, 2, True)
    assert failed.failed_platforms == ["lms.example.edu"]
    assert course.lms.gradebook.scores == {}

    for name in fault:
        setattr(course.lms.gradebook.faults, name, None)
    recovered = course.run()

    assert recovered.posted == 2
    assert (course.score(ADA), course.score(GRACE)) == (50.0, 70.0)
    assert course.run().posted == 0  # nothing twice


def test_a_platform_that_does_not_answer_in_time_is_retried_on_the_next_run(course: Course) -> None:
    course.launch(ADA)
    course.progress.set(ADA, 0.5)
    course.environ["LTI_GRADE_TIMEOUT_SECONDS"] = "0.3"
    course.lms.gradebook.faults.hold()  # answers wait past LTI_GRADE_TIMEOUT_SECONDS

    timed_out = course.run()

    assert (timed_out.posted, timed_out.failed) == (0, 1)
    course.lms.gradebook.faults.release()
    del course.environ["LTI_GRADE_TIMEOUT_SECONDS"]  # the next run, as deployed: 5 s a call
    course._sync = None
    assert course.run().posted == 1
    assert course.score(ADA) == 50.0


def test_a_user_the_partner_api_does_not_know_is_skipped_and_the_others_are_posted(course: Course) -> None:
    course.launch(ADA)
    course.launch(GRACE)
    course.progress.set(GRACE, 0.2)  # Ada: 404

    first = course.run()

    assert (first.posted, first.unknown_users) == (1, 1)
    assert (course.score(ADA), course.score(GRACE)) == (None, 20.0)
    course.progress.set(ADA, 0.9)
    assert course.run().posted == 1
    assert course.score(ADA) == 90.0


# ---- bounded runs that resume ----------------------------------------------------------------------
def test_a_run_bounded_in_links_stops_half_way_and_the_next_resumes_there(course: Course) -> None:
    for sub in (ADA, GRACE, PRIVATE):
        course.launch(sub, given_name="A", family_name="Student", email="a.student@student.example.edu")
        course.progress.set(sub, 0.5)
    course.environ["LTI_GRADE_ITEMS_PER_RUN"] = "2"

    first = course.run()
    second = course.run()

    assert (first.links, first.posted, first.complete) == (2, 2, False)
    assert (second.links, second.posted, second.complete) == (1, 1, True)
    assert [course.score(sub) for sub in (ADA, GRACE, PRIVATE)] == [50.0, 50.0, 50.0]
    assert course.lms.gradebook.posts == 3


def test_a_run_near_its_deadline_stops_and_the_next_resumes(course: Course) -> None:
    for sub in (ADA, GRACE):
        course.launch(sub)
        course.progress.set(sub, 0.5)
    left = iter([MINUTE_MS, MINUTE_MS, MINUTE_MS, 4_000])  # then under the 5 s margin

    first = course.run(lambda: next(left, 4_000))
    second = course.run()

    assert (first.links, first.complete) == (1, False)
    assert (second.links, second.complete) == (1, True)
    assert course.lms.gradebook.posts == 2


def test_a_run_that_dies_half_way_resumes_after_its_last_page_and_posts_nothing_twice(
    course: Course, monkeypatch: pytest.MonkeyPatch
) -> None:
    for sub in (ADA, GRACE, PRIVATE):
        course.launch(sub, given_name="A", family_name="Student", email="a.student@student.example.edu")
        course.progress.set(sub, 0.5)
    course.sync.settings = dataclasses.replace(course.sync.settings, page_size=1)
    handle = course.sync._handle
    handled: list[Any] = []

    def dying(link: Any, *rest: Any) -> None:
        if len(handled) == 2:
            raise TimeoutError("Task timed out")  # Lambda ends the invocation, mid-run
        handled.append(link)
        handle(link, *rest)

    monkeypatch.setattr(course.sync, "_handle", dying)
    with pytest.raises(TimeoutError):
        course.run()
    monkeypatch.setattr(course.sync, "_handle", handle)
    resumed = course.run()

    assert (resumed.links, resumed.posted, resumed.complete) == (1, 1, True)
    assert [course.score(sub) for sub in (ADA, GRACE, PRIVATE)] == [50.0, 50.0, 50.0]
    assert course.lms.gradebook.posts == 3


# ---- the launch's write -----------------------------------------------------------------------------
def test_a_launch_without_a_line_item_or_the_score_scope_records_nothing(
    course: Course, grade_table: Any
) -> None:
    login = course.tool.login()
    assert course.tool.launch_from(login, sub=ADA)["statusCode"] == 302
    login = course.tool.login()
    claim = {"scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"], "lineitem": "x"}
    course.tool.launch_from(login, sub=ADA, **{AGS_ENDPOINT_CLAIM: claim})

    assert links(grade_table) == []


def test_a_refused_launch_records_nothing(course: Course, grade_table: Any) -> None:
    assert course.launch(PRIVATE, given_name=None, family_name=None, email=None)["statusCode"] != 302

    assert links(grade_table) == []


def test_a_failed_write_still_signs_the_student_in_and_is_logged_without_the_students_ids(
    make_tool: Callable[..., Tool],
    lms: SandboxLms,
    grade_table: Any,
    progress: Progress,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    environ = {"LTI_GRADE_TABLE_NAME": "no-such-table", "LTI_TOKEN_URL": lms.token_url}
    course = Course(make_tool(**environ), lms, progress, clock, environ)

    assert course.launch(ADA)["statusCode"] == 302
    assert links(grade_table) == []
    formatter = logging.getLogger(SERVICE).handlers[0].formatter  # the Powertools JSON line
    assert formatter is not None
    lines = [formatter.format(r) for r in caplog.records if r.getMessage() == "grade link not recorded"]
    assert len(lines) == 1 and json.loads(lines[0])["code"] == "ResourceNotFoundException"
    assert ADA not in lines[0] and lms.lineitem_url() not in lines[0]


# ---- several platforms ---------------------------------------------------------------------------------
def test_one_platform_failing_does_not_stop_another(course: Course) -> None:
    other = SandboxLms()
    other.client_id, other.tool_key_set = course.lms.client_id, course.lms.tool_key_set
    other.start()
    try:
        this = course.tool.lti.service.registration(PLATFORM, CLIENT_ID)
        elsewhere = dataclasses.replace(this, issuer=other.issuer, token_url=other.token_url)
        registrations = {this.issuer: this, other.issuer: elsewhere}
        course.sync.registration = lambda issuer, client_id: registrations[issuer]
        course.launch(ADA)
        course.progress.set(ADA, 0.5)
        partner_id = lti_partner_id(other.issuer, GRACE)
        link = GradeLink(other.issuer, CLIENT_ID, "dep", other.lineitem_url(), GRACE, partner_id, "")
        GradeLinks(GRADE_TABLE, lambda: boto3.client("dynamodb", region_name="us-east-1")).record(link)
        course.progress.set(GRACE, 0.8, issuer=other.issuer)
        course.lms.gradebook.faults.token_status = 503

        first = course.run()

        assert (first.posted, first.failed, first.failed_platforms) == (1, 1, ["lms.example.edu"])
        assert other.gradebook.scores[(other.lineitem_url(), GRACE)].given == 80.0
        course.lms.gradebook.faults.token_status = None
        assert course.run().posted == 1
        assert course.score(ADA) == 50.0
    finally:
        other.stop()
