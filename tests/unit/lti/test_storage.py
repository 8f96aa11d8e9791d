"""handler.lti.storage's pages and names (the flow through them: tests/lti/test_platform_storage.py,
in a browser: tests/e2e/)."""

from __future__ import annotations

import json
import re

import pytest

from handler.lti.storage import (
    BINDING_FIELD,
    launch_page,
    login_page,
    new_window_page,
    platform_origin,
    storage_key,
    storage_target,
)


def page_data(page: str) -> dict[str, object]:
    match = re.search(r'<script type="application/json" id="lti-storage">(.*?)</script>', page, re.S)
    assert match is not None
    data: dict[str, object] = json.loads(match.group(1))
    return data


def test_the_first_source_naming_a_valid_frame_is_the_target() -> None:
    assert storage_target({"lti_storage_target": "_parent"}, {"lti_storage_target": "post"}) == "_parent"
    assert storage_target({"lti_storage_target": "not a frame"}, {"lti_storage_target": "post"}) == "post"
    assert storage_target({"lti_storage_target": "x" * 65}, {}) is None
    assert storage_target({}) is None


def test_the_storage_key_is_one_per_state_and_does_not_show_it() -> None:
    assert storage_key("state-1") != storage_key("state-2")
    assert "state-1" not in storage_key("state-1") and storage_key("state-1").startswith("bi-lti-state-")


def test_the_platforms_origin_is_its_authorization_endpoints() -> None:
    assert (
        platform_origin("https://sso.canvaslms.com/api/lti/authorize_redirect") == "https://sso.canvaslms.com"
    )


def test_the_login_page_carries_its_data_as_json_that_no_value_can_end_early() -> None:
    location = "https://lms.example.edu/auth?x=</script><script>alert(1)</script>"
    page = login_page("state", "binding", "_parent", "https://lms.example.edu/auth", location)

    assert "</script><script>alert(1)" not in page
    data = page_data(page)
    assert (data["mode"], data["next"], data["value"]) == ("put", location, "binding")
    assert data["origin"] == "https://lms.example.edu" and data["key"] == storage_key("state")


def test_the_launch_page_posts_the_launch_back_with_an_empty_binding_field_for_the_script() -> None:
    page = launch_page('a.b"c', "state", None, "https://lms.example.edu", "/lti/launch")

    assert 'name="id_token" value="a.b&quot;c"' in page
    assert f'name="{BINDING_FIELD}" value=""' in page
    assert page_data(page)["target"] is None  # the script asks the platform for its frame


@pytest.mark.parametrize("hostile", ['"><img src=x onerror=alert(1)>', "<script>alert(1)</script>"])
def test_the_new_window_page_escapes_everything_it_shows(hostile: str) -> None:
    page = new_window_page(hostile, hostile, hostile, {"iss": hostile}, "/lti/login")

    assert hostile not in page
    assert "<script" not in page  # the page runs no script at all
