"""Deep linking in a real browser with JavaScript off: the instructor adds content with the keyboard.

Debian's Chromium through Playwright, JavaScript disabled: every auto-submitting form
(the platform's id_token post, the tool's signed answer) shows its ``noscript`` button,
and the picker is a plain form. The stack is ``make dev LTI=1``'s, the tool in-process.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page

from infra.local.stack import LocalStack, Ports
from tests.e2e.conftest import TIMEOUT_MS, VIEWPORT, BrowserPage


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(ports=Ports.ephemeral(), environ={}, lti=True) as running:
        yield running


@pytest.fixture
def page_without_script(browser: Browser) -> Iterator[BrowserPage]:
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    watched = BrowserPage(context.new_page())
    watched.page.on("console", watched.on_console)
    yield watched
    context.close()


def press(page: Page, name: str) -> None:
    """Activate a button from the keyboard, as a user without a mouse does."""
    page.get_by_role("button", name=name).focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_an_instructor_adds_a_graded_chapter_without_javascript(
    stack: LocalStack, page_without_script: BrowserPage, artifacts: Path
) -> None:
    assert stack.lms is not None
    page = page_without_script.page
    page.goto(f"{stack.lms.url}/")
    page.get_by_role("link", name="Add an activity: Big Interview").click()
    press(page, "Continue")  # the platform's id_token form, posted by hand
    assert page.locator("h1").inner_text() == "Add Big Interview content"
    page.screenshot(path=str(artifacts / "lti-deep-linking-picker.png"), full_page=True)

    # Every choice is a labelled control in a named group, reachable from the keyboard.
    curriculum = page.get_by_role("group", name="Curriculum")
    chapter = curriculum.get_by_role("radio", name="Curriculum, chapter 6")
    chapter.focus()
    page.keyboard.press("Space")
    assert chapter.is_checked()
    grade = page.get_by_role("group", name="Grade").get_by_role("checkbox")
    grade.focus()
    page.keyboard.press("Space")
    assert grade.is_checked()
    press(page, "Add to course")

    assert page.locator("h1").inner_text() == "Returning to your course"
    press(page, "Continue to your course")  # the signed answer, posted by hand
    assert page.locator("h1").inner_text() == "Added to Interview Skills 101"
    [link] = stack.lms.deep_linking.created
    assert link.custom == {"redirect_to": "/members/curriculum?chapter=6"} and link.line_item is not None
    assert page_without_script.errors == []

    # A student opens the new link from the course page and lands on the chapter.
    page.goto(f"{stack.lms.url}/")
    page.get_by_role("link", name=link.title).first.click()
    press(page, "Continue")
    page.wait_for_url(re.compile(re.escape(stack.big_interview_url) + r"/members/curriculum"))
    parts = urlsplit(page.url)
    assert f"{parts.path}?{parts.query}" == "/members/curriculum?chapter=6"
