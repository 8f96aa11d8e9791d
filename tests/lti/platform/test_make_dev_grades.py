"""``make dev LTI=1`` then ``make grade-sync``: a graded link's launch, practice, a run, the gradebook.

The whole local stack (``LocalStack(lti=True)``): the student launches the sandbox LMS's graded
link through the tool, signs in to the sandbox Big Interview and practises (its button completes a
step of the Fast Track); ``python -m infra.local.grade_sync`` (what ``make grade-sync`` runs), in a
process of its own as the make target does, posts the score; the LMS's gradebook page shows it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.sandbox_big_interview import PRACTICE_PATH
from infra.local.sandbox_lms import GRADED_LINK, STUDENTS
from infra.local.stack import LocalStack, Ports
from tests.lti.platform.test_real_platform import Browser, course_link

ADA, GRACE = list(STUDENTS)[:2]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(ports=Ports.ephemeral(), environ={}, lti=True) as running:
        yield running


def grade_sync(stack: LocalStack, tmp_path: Path) -> dict[str, object]:
    environment = tmp_path / "grade-sync.json"
    stack.leave_grade_sync_environment(environment)
    done = subprocess.run(
        [sys.executable, "-m", "infra.local.grade_sync", str(environment)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    report: dict[str, object] = json.loads(done.stdout[done.stdout.index("{\n") :])
    return report


def test_practice_after_a_graded_launch_reaches_the_gradebook(stack: LocalStack, tmp_path: Path) -> None:
    assert stack.lms is not None
    browser = Browser()
    launched = browser.launch(course_link(stack, ADA, GRADED_LINK))
    assert launched.status == 302
    assert browser.request("GET", launched.headers["Location"]).status in (200, 302, 303)  # signed in
    practised = browser.request("POST", f"{stack.big_interview_url}{PRACTICE_PATH}")
    assert practised.status == 303
    assert Browser().launch(course_link(stack, GRACE, GRADED_LINK)).status == 302  # launched, no practice

    report = grade_sync(stack, tmp_path)

    assert (report["posted"], report["unchanged"], report["complete"]) == (1, 1, True)
    # The dashboard link scores the mean of the two tracks: 0.33 of the Fast Track (the API has two
    # decimals) and none of the other.
    page = browser.request("GET", f"{stack.lms.url}/gradebook").data.decode()
    assert '<th scope="row">Ada Lovelace</th><td>16.5 / 100 <small>(InProgress, FullyGraded)' in page
    assert '<th scope="row">Grace Hopper</th><td>-</td>' in page
    assert grade_sync(stack, tmp_path)["posted"] == 0  # nothing new: nothing posted again
