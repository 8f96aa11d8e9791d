"""A real browser (Debian's Chromium, driven by Playwright) through the whole local stack.

demo partner page -> development IdP -> local API Gateway -> the handler ->
sandbox Big Interview, following every redirect as a user's browser would.
Screenshots of the signed-in page and of the expired-link page are saved under
``build/e2e/`` as test artifacts.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page, Response

from infra.local.dev_identity_provider import DevIdentityProvider
from infra.local.stack import LocalStack
from tests import leakcheck
from tests.e2e.conftest import BrowserPage

SIGNED_IN = "Signed in to Big Interview (sandbox) as {first} {last} ({sub})"


def idp_of(stack: LocalStack) -> DevIdentityProvider:
    assert stack.identity_provider is not None
    return stack.identity_provider


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def fill_demo_form(
    page: Page, stack: LocalStack, sub: str, first: str, last: str, email: str, redirect_to: str = ""
) -> None:
    """Open the demo partner page and type a user into it, as a person would."""
    page.goto(f"{idp_of(stack).url}/")
    assert page.title() == "Demo partner - development identity provider"
    page.get_by_label("User id (partner_id)").fill(sub)
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill(last)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Redirect to (optional)").fill(redirect_to)
    leakcheck.register(email, f"{first} {last}")


def heading(page: Page) -> str:
    return page.locator("h1").inner_text()


def test_the_demo_page_link_style_signs_the_user_in(
    local_stack: LocalStack, browser_page: BrowserPage, artifacts: Path
) -> None:
    page = browser_page.page
    fill_demo_form(page, local_stack, "e2e-link", "Grace", "Hopper", "grace.hopper@example.com")
    page.get_by_label("Link (GET /sso?jwt=...)").check()
    with page.expect_navigation(url=re.compile(r"/sso/login\?")):
        page.get_by_role("button", name="Sign in to Big Interview").click()

    final = urlsplit(page.url)
    assert origin(page.url) == local_stack.big_interview_url
    assert final.path == "/sso/login"
    assert re.search(r"(^|&)token=[0-9a-f]{64}(&|$)", final.query)
    assert heading(page) == SIGNED_IN.format(first="Grace", last="Hopper", sub="e2e-link")
    assert page.get_by_role("link", name="Log out").get_attribute("href") == f"{idp_of(local_stack).url}/"
    page.screenshot(path=str(artifacts / "signed-in.png"))
    assert browser_page.errors == []


def test_the_auto_submitting_form_post_signs_the_user_in(
    local_stack: LocalStack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    requests: list[tuple[str, str]] = []
    page.on("request", lambda request: requests.append((request.method, request.url)))
    fill_demo_form(page, local_stack, "e2e-post", "Ada", "Lovelace", "ada.lovelace@example.com")
    assert page.get_by_label("Form POST (recommended: keeps the token out of URLs and logs)").is_checked()
    with page.expect_navigation(url=re.compile(r"/sso/login\?")):
        page.get_by_role("button", name="Sign in to Big Interview").click()

    assert origin(page.url) == local_stack.big_interview_url
    assert urlsplit(page.url).path == "/sso/login"
    assert heading(page) == SIGNED_IN.format(first="Ada", last="Lovelace", sub="e2e-post")
    # The token went to the API in a form body (the IdP page's script submitted it), never in a URL.
    api_sso = f"{local_stack.api_url}/sso"
    assert ("POST", api_sso) in requests
    assert not any(url.startswith(api_sso + "?") for _, url in requests)
    assert browser_page.errors == []


def test_a_deep_link_lands_on_the_redirect_to_path(
    local_stack: LocalStack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    deep = "/members/curriculum?chapter=6"
    fill_demo_form(page, local_stack, "e2e-deep", "Alan", "Turing", "alan.turing@example.com", deep)
    with page.expect_navigation(url=re.compile(r"/members/curriculum")):
        page.get_by_role("button", name="Sign in to Big Interview").click()

    assert page.url == f"{local_stack.big_interview_url}{deep}"
    assert heading(page) == SIGNED_IN.format(first="Alan", last="Turing", sub="e2e-deep")
    assert page.locator("code").inner_text() == deep
    assert browser_page.errors == []


def test_an_expired_link_shows_the_error_page_with_the_request_id(
    local_stack: LocalStack, browser_page: BrowserPage, artifacts: Path
) -> None:
    page = browser_page.page
    now = int(time.time())
    # Issued 200 s ago, expired 100 s ago: past the 30 s leeway, within the 300 s lifetime limit.
    token = idp_of(local_stack).mint_token("e2e-expired", extra_claims={"iat": now - 200, "exp": now - 100})
    leakcheck.register(token, token.rsplit(".", 1)[1])
    response = page.goto(idp_of(local_stack).sso_link(token))
    assert isinstance(response, Response)

    assert response.status == 401
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert page.title() == "This sign-in link does not work"
    assert heading(page) == "This sign-in link does not work"
    assert "The sign-in link has expired. Go back to your portal and click the link again." in (
        page.locator("main").inner_text()
    )
    codes = page.locator("p.ref code").all_inner_texts()
    assert codes == ["token_expired", response.headers["apigw-requestid"]]
    assert re.fullmatch(r"[A-Za-z0-9+/=_-]{8,}", codes[1])
    assert token not in page.content()
    page.screenshot(path=str(artifacts / "expired-link.png"))
    # The page renders under its own strict CSP: no console error, no CSP violation.
    assert browser_page.errors == []


def test_a_link_used_twice_shows_the_already_used_page(
    local_stack: LocalStack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    link = local_stack.sign_in_url("e2e-twice")
    first = page.goto(link)
    assert first is not None
    assert first.ok
    assert heading(page) == SIGNED_IN.format(first="Dana", last="Demo", sub="e2e-twice")

    second = page.goto(link)
    assert second is not None
    assert second.status == 401
    assert origin(page.url) == local_stack.api_url
    text = page.locator("main").inner_text()
    assert "This sign-in link was already used" in text
    assert "Go back to your portal and open Big Interview from there to get a fresh link." in text
    assert page.locator("p.ref code").first.inner_text() == "link_already_used"
    assert browser_page.errors == []


def developer_section(page: Page) -> tuple[str, str]:
    """The page's "For the portal's developers" section: its text, and the troubleshooting row it
    names. The local stack publishes no guide (TROUBLESHOOTING_URL unset): the page names the
    partner guide and links nowhere, rather than to an address the service would have to guess."""
    section = page.get_by_role("region", name="For the portal's developers")
    assert section.is_visible()
    assert section.get_by_role("link").count() == 0
    text = section.inner_text()
    named = re.search(
        r"What (\S+) means and how to fix it: its row in the troubleshooting table of (.+)\.",
        text,
    )
    assert named is not None, text
    return text, f"{named.group(2)}#{named.group(1)}"


def test_a_configuration_error_page_tells_the_user_to_contact_support_and_the_developer_why(
    local_stack: LocalStack, browser_page: BrowserPage, artifacts: Path
) -> None:
    page = browser_page.page
    # The portal's set-up is wrong: its tokens carry another audience.
    token = idp_of(local_stack).mint_token("e2e-config", extra_claims={"aud": "portal-internal"})
    leakcheck.register(token, token.rsplit(".", 1)[1])
    response = page.goto(idp_of(local_stack).sso_link(token))
    assert isinstance(response, Response)

    assert response.status == 401
    text = page.locator("main").inner_text()
    assert "sign-in to Big Interview is not set up correctly, so trying again will not help" in text
    assert "Please contact your portal's support" in text
    assert "click the link again" not in text and "try again in" not in text
    details, guide = developer_section(page)
    assert "aud is 'portal-internal'; expected 'big-interview-sso'" in details
    assert guide == "the partner guide (docs/partner-guide.md, from the service's operator)#invalid_audience"
    assert token not in page.content()
    page.screenshot(path=str(artifacts / "configuration-error.png"), full_page=True)
    assert browser_page.errors == []


def test_a_new_user_without_a_profile_gets_the_profile_required_page_then_a_fresh_link_hint(
    local_stack: LocalStack, browser_page: BrowserPage, artifacts: Path
) -> None:
    page = browser_page.page
    # The portal sends no names and no email for a user Big Interview has never seen.
    link = local_stack.sign_in_url("e2e-no-profile", given_name="", family_name="", email="")
    response = page.goto(link)
    assert isinstance(response, Response)

    assert response.status == 422
    assert page.title() == "Big Interview needs a few details"
    text = page.locator("main").inner_text()
    assert "your portal did not send them. Please contact your portal's support" in text
    # One-time links are on: this link is spent, and the page says what to do next.
    assert "This sign-in link is now used up: go back to your portal" in text
    assert page.locator("p.ref code").first.inner_text() == "profile_required"
    details, guide = developer_section(page)
    assert "the token has no given_name, family_name, email" in details
    assert guide.endswith("(docs/partner-guide.md, from the service's operator)#profile_required")
    page.screenshot(path=str(artifacts / "profile-required.png"), full_page=True)

    again = page.reload()
    assert again is not None and again.status == 401
    assert "to get a fresh link" in page.locator("main").inner_text()
    assert browser_page.errors == []


def test_the_demo_partner_page_is_styled_under_its_strict_csp(
    local_stack: LocalStack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    page.goto(f"{idp_of(local_stack).url}/")
    button = page.get_by_role("button", name="Sign in to Big Interview")

    # The inline stylesheet applied (its CSP hash matched): the button wears the accent colour.
    assert button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(31, 95, 191)"
    assert page.locator("main").evaluate("m => getComputedStyle(m).borderRadius") == "12px"
    assert browser_page.errors == []
