"""handler.lti.grades: the score rule, the score service URL, the platform label, the run's settings."""

from __future__ import annotations

import pytest

from handler.lti.grades import SyncSettings, platform_label, score_of, scores_url

FAST = {
    "title": "Fast Track",
    "progress": 0.5,
    "tracks": [{"step": 1, "link": "/members/curriculum?chapter=6"}],
}
MASTERY = {"title": "Mastery Track", "progress": 0.25, "tracks": [{"step": 1, "link": "/members/practice"}]}


@pytest.mark.parametrize("destination", ["", "/members/dashboard", "/members/somewhere-else"])
def test_the_dashboard_or_another_destination_scores_the_mean_of_the_tracks(destination: str) -> None:
    assert score_of([FAST, MASTERY], destination) == 37.5


def test_a_destination_that_is_a_tracks_step_scores_that_track() -> None:
    assert score_of([FAST, MASTERY], "/members/practice") == 25.0
    assert score_of([FAST, MASTERY], "/members/curriculum?chapter=6") == 50.0


@pytest.mark.parametrize(
    "tracks",
    [[], [{"title": "x"}], [{"progress": "0.5"}], [{"progress": True}], [{"progress": float("nan")}], ["x"]],
)
def test_no_usable_progress_is_no_score(tracks: list[object]) -> None:
    assert score_of(tracks, "") is None


def test_progress_outside_0_to_1_is_clamped() -> None:
    assert score_of([{"progress": 1.7}], "") == 100.0
    assert score_of([{"progress": -1}], "") == 0.0


@pytest.mark.parametrize(
    ("lineitem", "scores"),
    [
        ("https://canvas.example.edu/api/lti/courses/1/line_items/7", "/line_items/7/scores"),
        (
            "https://moodle.example.edu/mod/lti/services.php/2/lineitems/5/lineitem?type_id=1",
            "/lineitems/5/lineitem/scores?type_id=1",
        ),
        ("https://lms.example.edu/lineitems/9/", "/lineitems/9/scores"),
    ],
)
def test_the_score_service_is_the_line_item_path_and_scores_with_its_query_kept(
    lineitem: str, scores: str
) -> None:
    assert scores_url(lineitem).endswith(scores)


def test_the_platform_label_is_the_issuers_host() -> None:
    assert platform_label("https://canvas.instructure.com") == "canvas.instructure.com"
    assert platform_label("http://127.0.0.1:8123/path") == "127.0.0.1:8123"


def test_settings_come_from_the_environment_and_bad_values_name_the_variable() -> None:
    settings = SyncSettings.from_environ(
        {"LTI_GRADE_ITEMS_PER_RUN": "20", "LTI_GRADE_TIMEOUT_SECONDS": "0.5"}
    )
    assert (settings.items_per_run, settings.platform_timeout_seconds) == (20, 0.5)
    assert SyncSettings.from_environ({}) == SyncSettings()
    with pytest.raises(ValueError, match="LTI_GRADE_ITEMS_PER_RUN"):
        SyncSettings.from_environ({"LTI_GRADE_ITEMS_PER_RUN": "0"})
    with pytest.raises(ValueError, match="LTI_GRADE_MARGIN_SECONDS"):
        SyncSettings.from_environ({"LTI_GRADE_MARGIN_SECONDS": "soon"})
