"""LTI 1.3 launches in a real browser (Debian's Chromium through Playwright), from a real platform.

The stack is ``make dev LTI=1``'s: the sandbox learning platform (PyPI's
``lti1p3platform``) with its course page, the tool as the built artifact in
Lambda execution environments behind the local API Gateway, the sandbox Big
Interview, and moto (launch table, KMS key, API key). Each test clicks a link
on the course page, as a student would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, Route

from handler.lti.claims import lti_partner_id
from infra.local.environments import ProcessExecution
from infra.local.sandbox_lms import DEEP_LINK, STUDENTS, SandboxLms
from infra.local.stack import LocalStack, Ports
from tests import leakcheck
from tests.e2e.conftest import BrowserPage

ADA = next(iter(STUDENTS))


@pytest.fixture(scope="module")
def lti_stack(lambda_runtime_ready: None) -> Iterator[LocalStack]:
    with LocalStack(ports=Ports.ephemeral(), environ={}, processes=ProcessExecution(), lti=True) as stack:
        yield stack


def lms_of(stack: LocalStack) -> SandboxLms:
    assert stack.lms is not None
    return stack.lms


def heading(page: Page) -> str:
    return page.locator("h1").inner_text().strip()


def error_code(page: Page) -> str:
    return page.locator("p.ref code").first.inner_text()


def open_course(page: Page, stack: LocalStack) -> None:
    page.goto(f"{lms_of(stack).url}/")
    assert heading(page) == "Interview Skills 101"


def test_a_student_launch_lands_signed_in(
    lti_stack: LocalStack, browser_page: BrowserPage, artifacts: Path
) -> None:
    page = browser_page.page
    calls = lti_stack.api_calls
    open_course(page, lti_stack)
    page.screenshot(path=str(artifacts / "lti-course-page.png"))
    with page.expect_navigation(url=re.compile(r"/sso/login\?|/$")):
        page.get_by_role("link", name="Big Interview", exact=True).first.click()
    page.wait_for_load_state()
    assert page.url.startswith(lti_stack.big_interview_url)
    partner_id = lti_partner_id(lms_of(lti_stack).issuer, ADA)
    assert heading(page) == f"Signed in to Big Interview (sandbox) as Ada Lovelace ({partner_id})"
    assert lti_stack.api_calls == calls + 1
    page.screenshot(path=str(artifacts / "lti-signed-in.png"))
    assert browser_page.errors == []


def test_a_deep_link_lands_on_its_big_interview_page(
    lti_stack: LocalStack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    open_course(page, lti_stack)
    page.get_by_role("link", name="Big Interview: the curriculum, chapter 6").first.click()
    page.wait_for_url(re.compile(re.escape(lti_stack.big_interview_url) + r"/members/curriculum"))
    parts = urlsplit(page.url)
    assert f"{parts.path}?{parts.query}" == DEEP_LINK
    assert heading(page).startswith("Signed in to Big Interview (sandbox) as Ada Lovelace")
    assert browser_page.errors == []


def test_an_expired_launch_shows_the_expired_page(
    lti_stack: LocalStack, browser_page: BrowserPage, artifacts: Path
) -> None:
    page = browser_page.page
    calls = lti_stack.api_calls
    lms = lms_of(lti_stack)
    lms.id_token_lifetime_seconds = -600  # expired 10 minutes ago: beyond the 120 s of clock skew allowed
    try:
        open_course(page, lti_stack)
        with page.expect_response(re.compile(r"/lti/launch$")) as launched:
            page.get_by_role("link", name="Big Interview", exact=True).first.click()
    finally:
        lms.id_token_lifetime_seconds = 300
    assert launched.value.status == 401
    page.wait_for_load_state()
    assert error_code(page) == "token_expired"
    assert "has expired" in page.locator("main").inner_text()
    assert lti_stack.api_calls == calls
    page.screenshot(path=str(artifacts / "lti-expired.png"))


def test_a_replayed_id_token_is_refused(lti_stack: LocalStack, browser_page: BrowserPage) -> None:
    page = browser_page.page
    launches: list[Request] = []
    page.on(
        "request", lambda request: launches.append(request) if request.url.endswith("/lti/launch") else None
    )
    open_course(page, lti_stack)
    page.get_by_role("link", name="Big Interview", exact=True).first.click()
    page.wait_for_url(re.compile(re.escape(lti_stack.big_interview_url)))
    [launch] = launches
    form, cookie = launch.post_data or "", launch.header_value("cookie") or ""
    assert "id_token=" in form and cookie.startswith("__Host-lti-state-")
    leakcheck.register(*(item.split("=", 1)[1] for item in form.split("&")), cookie.split("=", 1)[1])
    calls = lti_stack.api_calls

    # The same form post again from this browser, even with the used state's cookie.
    answer = page.context.request.post(
        f"{lti_stack.api_url}/lti/launch",
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        max_redirects=0,
    )
    assert answer.status == 401
    assert "<code>lti_state_invalid</code>" in answer.text()
    assert "already used" in answer.text()
    assert lti_stack.api_calls == calls


def test_a_wrong_deployment_id_shows_the_administrators_page(
    lti_stack: LocalStack, browser_page: BrowserPage, artifacts: Path
) -> None:
    page = browser_page.page
    calls = lti_stack.api_calls
    open_course(page, lti_stack)
    with page.expect_response(re.compile(r"/lti/login\?")) as login:
        page.get_by_role("link", name="Big Interview (a deployment the tool does not know)").click()
    assert login.value.status == 400
    page.wait_for_load_state()
    assert error_code(page) == "lti_unknown_deployment"
    text = page.locator("main").inner_text()
    assert "deployment is not registered" in text and "sandbox-deployment-unregistered" in text
    assert lti_stack.api_calls == calls
    page.screenshot(path=str(artifacts / "lti-wrong-deployment.png"))


def test_a_missing_state_cookie_says_to_launch_in_a_new_window(
    lti_stack: LocalStack, browser_page: BrowserPage, artifacts: Path
) -> None:
    page = browser_page.page
    calls = lti_stack.api_calls

    devtools = page.context.new_cdp_session(page)

    def without_cookies(route: Route) -> None:
        # What Safari does to a third-party cookie in an LMS frame: the tool never gets it back.
        # (Through DevTools: Playwright's clear_cookies does not see partitioned cookies.)
        devtools.send("Network.clearBrowserCookies")
        route.continue_()

    # The platform's form post (the authorization request, a redirect, is not routable).
    page.route(re.compile(r"/lti/launch$"), without_cookies)
    open_course(page, lti_stack)
    with page.expect_response(re.compile(r"/lti/launch$")) as launched:
        page.get_by_role("link", name="Big Interview", exact=True).first.click()
    assert launched.value.status == 400
    page.wait_for_load_state()
    assert error_code(page) == "lti_state_cookie_missing"
    text = page.locator("main").inner_text()
    assert "new window" in text and "Safari" in text
    assert lti_stack.api_calls == calls
    page.screenshot(path=str(artifacts / "lti-missing-cookie.png"))
