"""The destinations an instructor may pick: the default catalogue and an operator's additions."""

from __future__ import annotations

import json

import pytest

from handler.lti.catalogue import DEFAULT_ITEMS, Catalogue, Item, parse_catalogue
from handler.redirects import check_redirect_to


def test_the_default_has_the_dashboard_the_guided_tracks_and_the_chapters() -> None:
    groups = {item.group for item in DEFAULT_ITEMS}
    assert groups == {"Dashboard", "Guided tracks", "Curriculum"}
    by_id = {item.id: item for item in DEFAULT_ITEMS}
    assert by_id["dashboard"].path == "/members/dashboard"
    assert {"fast-track", "mastery-track"} <= set(by_id)
    assert by_id["chapter-6"].path == "/members/curriculum?chapter=6"  # the Partner API docs' example
    assert len(by_id) == len(DEFAULT_ITEMS)  # ids are unique
    for item in DEFAULT_ITEMS:
        assert check_redirect_to(item.path) == item.path


def test_an_orgs_additions_join_its_catalogue_only_and_replace_a_default_by_id() -> None:
    catalogue = parse_catalogue(
        json.dumps(
            {
                "xyz": [
                    {
                        "id": "employer-week",
                        "title": "Employer week",
                        "path": "/members/curriculum?chapter=12",
                    }
                ],
                "*": [
                    {
                        "id": "fast-track",
                        "title": "Fast Track",
                        "path": "/members/tracks/fast",
                        "group": "Tracks",
                    }
                ],
            }
        )
    )
    assert catalogue.find("xyz", "employer-week") == Item(
        "employer-week", "Employer week", "/members/curriculum?chapter=12", "Other"
    )
    assert catalogue.find("abc", "employer-week") is None
    assert catalogue.find("abc", "fast-track") == Item(
        "fast-track", "Fast Track", "/members/tracks/fast", "Tracks"
    )
    assert len(catalogue.items("abc")) == len(DEFAULT_ITEMS)
    assert len(catalogue.items("xyz")) == len(DEFAULT_ITEMS) + 1


def test_no_additions_is_the_default() -> None:
    assert Catalogue().items("xyz") == DEFAULT_ITEMS == parse_catalogue(None).items("xyz")


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("[", "cannot be parsed"),
        ("[]", "JSON object"),
        ('{"Not An Org": []}', "the key must be an org"),
        ('{"xyz": {}}', "must be a list"),
        ('{"xyz": [{"id": "a", "title": "A"}]}', "redirect_to must start with exactly one '/'"),
        ('{"xyz": [{"id": "a", "title": "A", "path": "https://evil.example/"}]}', ".path:"),
        ('{"xyz": [{"id": "a", "title": "A", "path": "//evil.example"}]}', ".path:"),
        ('{"xyz": [{"id": "A B", "title": "A", "path": "/members/dashboard"}]}', ".id must be"),
        ('{"xyz": [{"id": "a", "title": "", "path": "/members/dashboard"}]}', ".title must be"),
        ('{"xyz": [{"id": "a", "title": "A", "path": "/x", "colour": "red"}]}', "must be an object with"),
    ],
)
def test_a_bad_catalogue_names_the_problem_and_the_variable(document: str, problem: str) -> None:
    with pytest.raises(ValueError, match="LTI_DEEP_LINKING_CATALOGUE") as raised:
        parse_catalogue(document)
    assert problem in str(raised.value)
