"""handler.lti.grade_links: which launches make a link, the one write, pages, posted scores, cursor (moto)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from handler.config import LtiRegistration
from handler.lti.claims import VerifiedLaunch
from handler.lti.grade_links import LINK_LIFETIME_SECONDS, SCORE_SCOPE, GradeLink, GradeLinks, link_of
from tests.conftest import REPLAY_TABLE

NOW = 1_700_000_000.0
REGISTRATION = LtiRegistration(
    "https://lms.example.edu",
    "client-1",
    ("dep-1",),
    "https://lms.example.edu/auth",
    "https://lms.example.edu/jwks",
    "xyz",
    "https://xyz.biginterview.com",
    "bi/xyz/api-key",
)
LINEITEM = "https://lms.example.edu/api/lti/courses/1/line_items/7"


def launch(service: dict[str, Any] | None, redirect_to: str | None = None) -> VerifiedLaunch:
    return VerifiedLaunch(
        "https://lms.example.edu",
        "k",
        None,
        "lti-abc",
        NOW + 300,
        redirect_to=redirect_to,
        deployment_id="dep-1",
        sub="student-1",
        grade_service=service,
    )


def test_a_launch_with_a_line_item_and_the_score_scope_makes_a_link() -> None:
    link = link_of(REGISTRATION, launch({"scope": [SCORE_SCOPE], "lineitem": LINEITEM}, "/members/practice"))

    assert link == GradeLink(
        "https://lms.example.edu", "client-1", "dep-1", LINEITEM, "student-1", "lti-abc", "/members/practice"
    )


@pytest.mark.parametrize(
    "service",
    [
        None,
        {"scope": [SCORE_SCOPE]},
        {"scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"], "lineitem": LINEITEM},
        {"scope": SCORE_SCOPE, "lineitem": LINEITEM},
        {"scope": [SCORE_SCOPE], "lineitem": "http://lms.example.edu/line_items/7"},
        {"scope": [SCORE_SCOPE], "lineitem": 7},
    ],
)
def test_no_line_item_no_score_scope_or_an_unsafe_url_makes_no_link(service: dict[str, Any] | None) -> None:
    assert link_of(REGISTRATION, launch(service)) is None


def test_the_key_reveals_no_part_of_the_link() -> None:
    link = link_of(REGISTRATION, launch({"scope": [SCORE_SCOPE], "lineitem": LINEITEM}))
    assert link is not None
    assert link.key.startswith("link|")
    assert "student-1" not in link.key and "lms.example.edu" not in link.key
    assert "student-1" not in repr(link) and LINEITEM not in repr(link)


@pytest.fixture
def links(replay_table: Any) -> GradeLinks:
    clock = iter([NOW, NOW + 3600, NOW + 2 * 86400])
    return GradeLinks(
        REPLAY_TABLE, lambda: boto3.client("dynamodb", region_name="us-east-1"), lambda: next(clock)
    )


def test_a_link_is_written_once_a_day_at_most_and_keeps_its_posted_score(
    links: GradeLinks, replay_table: Any
) -> None:
    link = link_of(REGISTRATION, launch({"scope": [SCORE_SCOPE], "lineitem": LINEITEM}))
    assert link is not None

    assert links.record(link) is True
    assert links.mark_posted(link, 40.0) is True
    assert links.record(link) is False  # an hour later: fresh already
    assert links.record(link) is True  # two days later: the expiry moves on

    item = replay_table.get_item(TableName=REPLAY_TABLE, Key={"pk": {"S": link.key}})["Item"]
    assert int(item["expires_at"]["N"]) == int(NOW + 2 * 86400) + LINK_LIFETIME_SECONDS
    assert float(item["posted"]["N"]) == 40.0


def test_a_posted_score_only_rises(links: GradeLinks) -> None:
    link = link_of(REGISTRATION, launch({"scope": [SCORE_SCOPE], "lineitem": LINEITEM}))
    assert link is not None
    links.record(link)

    assert links.mark_posted(link, 50.0) is True
    assert links.mark_posted(link, 50.0) is False
    assert links.mark_posted(link, 30.0) is False
    assert [found.posted for found in links.page(None, 10)[0] if isinstance(found, GradeLink)] == [50.0]


def test_pages_resume_after_a_key_and_the_cursor_is_kept_and_cleared(links: GradeLinks) -> None:
    for n in range(3):
        link = link_of(REGISTRATION, launch({"scope": [SCORE_SCOPE], "lineitem": f"{LINEITEM}{n}"}))
        assert link is not None
        GradeLinks(links.table, links._client, lambda: NOW).record(link)
    first, more = links.page(None, 2)
    assert len(first) == 2 and more
    after = first[-1].key if isinstance(first[-1], GradeLink) else first[-1]
    links.save_cursor(after)
    assert links.cursor() == after
    rest, _ = links.page(links.cursor(), 10)

    assert len(rest) == 1 and rest[0] not in first
    links.save_cursor(None)
    assert links.cursor() is None
