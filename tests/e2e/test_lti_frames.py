"""LTI launches inside the LMS's frame, as students click them, with third-party cookies blocked.

The sandbox LMS's course page is opened on ``localhost`` and the tool is on
``127.0.0.1``: another site, so the tool in the course page's iframe is a third
party. Chromium runs with third-party cookies blocked; where a test takes the
cookie away entirely (Safari, or Chromium without partitioned cookies), it drops
the ``Cookie`` header of the tool's launch requests. The platform's storage frame
is the sandbox LMS's own (``/storage``, on its authorization endpoint's origin).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import pytest
from playwright.sync_api import Browser, Frame, Page, Playwright, Request, Route

from handler.lti.claims import lti_partner_id
from infra.local.environments import ProcessExecution
from infra.local.sandbox_lms import STUDENTS, SandboxLms
from infra.local.stack import LocalStack, Ports
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, VIEWPORT, BrowserPage

ADA = next(iter(STUDENTS))
# Chromium's switch for the third-party cookie phase-out: unpartitioned cookies in a
# cross-site frame are neither sent nor stored.
THIRD_PARTY_COOKIES_BLOCKED = "--test-third-party-cookie-phaseout"


@pytest.fixture(scope="module")
def lti_stack(lambda_runtime_ready: None) -> Iterator[LocalStack]:
    with LocalStack(ports=Ports.ephemeral(), environ={}, processes=ProcessExecution(), lti=True) as stack:
        yield stack


@pytest.fixture(scope="module")
def strict_browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, THIRD_PARTY_COOKIES_BLOCKED]
    )
    yield browser
    browser.close()


@pytest.fixture
def framed_page(strict_browser: Browser) -> Iterator[BrowserPage]:
    context = strict_browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    watched = BrowserPage(page)
    page.on("console", watched.on_console)
    page.on("pageerror", watched.on_page_error)
    yield watched
    context.close()


def lms_of(stack: LocalStack) -> SandboxLms:
    assert stack.lms is not None
    return stack.lms


def open_framed_course(page: Page, stack: LocalStack, storage: str) -> None:
    query = urlencode({"user": ADA, "link": "big-interview", "storage": storage})
    page.goto(f"{lms_of(stack).framed_url}/course/frame?{query}")


def without_cookies(page: Page, stack: LocalStack) -> list[Request]:
    """The tool's launch requests, each sent without any cookie (what Safari does in a frame)."""
    launches: list[Request] = []
    devtools = page.context.new_cdp_session(page)

    def strip(route: Route) -> None:
        # Through DevTools: Playwright's clear_cookies does not see partitioned cookies, and a
        # route's own headers do not replace the ones the network stack adds.
        devtools.send("Network.clearBrowserCookies")
        launches.append(route.request)
        route.continue_()

    page.route(re.compile(re.escape(stack.api_url) + r"/lti/launch"), strip)
    return launches


def signed_in_frame(page: Page, stack: LocalStack) -> Frame:
    """The tool's frame once it reached Big Interview's signed-in page."""
    frame = page.frame(name="tool")
    assert frame is not None
    frame.wait_for_url(re.compile(re.escape(stack.big_interview_url) + r"/"))
    frame.wait_for_load_state()
    return frame


def signed_in_heading(stack: LocalStack) -> str:
    partner_id = lti_partner_id(lms_of(stack).issuer, ADA)
    return f"Signed in to Big Interview (sandbox) as Ada Lovelace ({partner_id})"


@pytest.mark.parametrize("storage", ["canvas", "blackboard"])
def test_in_a_frame_without_cookies_platform_storage_signs_the_student_in(
    lti_stack: LocalStack, framed_page: BrowserPage, artifacts: Path, storage: str
) -> None:
    """Canvas names its storage frame in the login and the launch; Blackboard in the login only
    (the launch page finds it through lti.capabilities)."""
    page = framed_page.page
    calls = lti_stack.api_calls
    launches = without_cookies(page, lti_stack)
    open_framed_course(page, lti_stack, storage)
    frame = signed_in_frame(page, lti_stack)
    assert frame.locator("h1").inner_text().strip() == signed_in_heading(lti_stack)
    assert lti_stack.api_calls == calls + 1
    # The platform's form post, then the storage page's post with the binding it read back.
    assert len(launches) == 2
    posted = parse_qs(launches[1].post_data or "")
    assert posted["lti_storage_binding"][0]  # the binding read back from the platform's frame
    page.screenshot(path=str(artifacts / f"lti-framed-storage-{storage}.png"))
    assert framed_page.errors == []


def test_in_a_frame_that_keeps_the_cookie_the_cookie_is_used(
    lti_stack: LocalStack, framed_page: BrowserPage
) -> None:
    page = framed_page.page
    calls = lti_stack.api_calls
    launches: list[Request] = []
    page.on("request", lambda r: launches.append(r) if "/lti/launch" in r.url else None)
    open_framed_course(page, lti_stack, "canvas")
    frame = signed_in_frame(page, lti_stack)
    assert frame.locator("h1").inner_text().strip() == signed_in_heading(lti_stack)
    assert lti_stack.api_calls == calls + 1
    # One launch post, carrying the (partitioned) state cookie: no storage round trip.
    [launch] = launches
    assert (launch.header_value("cookie") or "").startswith("__Host-lti-state-")
    assert framed_page.errors == []


def test_without_storage_and_without_cookies_the_new_window_button_completes_the_launch(
    lti_stack: LocalStack, framed_page: BrowserPage, artifacts: Path
) -> None:
    page = framed_page.page
    calls = lti_stack.api_calls
    without_cookies(page, lti_stack)
    open_framed_course(page, lti_stack, "none")
    frame = page.frame(name="tool")
    assert frame is not None
    button = frame.get_by_role("button", name="Open Big Interview in a new window")
    button.wait_for()
    assert frame.locator("p.ref code").first.inner_text() == "lti_state_cookie_missing"
    assert lti_stack.api_calls == calls
    page.screenshot(path=str(artifacts / "lti-framed-new-window.png"))
    with page.context.expect_page() as opened:
        button.click()
    window = opened.value
    window.wait_for_url(re.compile(re.escape(lti_stack.big_interview_url) + r"/"))
    window.wait_for_load_state()
    assert window.locator("h1").inner_text().strip() == signed_in_heading(lti_stack)
    assert lti_stack.api_calls == calls + 1


def test_a_storage_frame_on_another_origin_never_gets_the_binding(
    lti_stack: LocalStack, framed_page: BrowserPage
) -> None:
    """The announced frame is the course page's origin's, not the authorization endpoint's: the
    browser delivers neither put nor get to it, so no binding comes back and nobody is signed in."""
    page = framed_page.page
    calls = lti_stack.api_calls
    launches = without_cookies(page, lti_stack)
    open_framed_course(page, lti_stack, "impostor")
    frame = page.frame(name="tool")
    assert frame is not None
    frame.get_by_role("button", name="Open Big Interview in a new window").wait_for()
    assert len(launches) == 2
    posted = parse_qs(launches[1].post_data or "", keep_blank_values=True)
    assert posted["lti_storage_binding"] == [""] and posted["lti_storage_read"] == ["1"]
    assert lti_stack.api_calls == calls
