"""Two partners in one browser, through one deployment (``make dev PARTNERS=2``).

Each demo partner has its own partner page (a development IdP, its own issuer) and its
own Big Interview org (a sandbox with its own API key). The same user id signs in at
both, in one browser, and lands in each partner's own org as that partner's user; a
partner disabled in the registry is then refused, while the other still signs in.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from infra.local.environments import ProcessExecution
from infra.local.moto_secrets import create_registry_table
from infra.local.stack import SANDBOX_REGISTRY_TABLE, DemoPartner, LocalStack, Ports
from tests import leakcheck
from tests.e2e.conftest import BrowserPage
from tests.e2e.test_browser import SIGNED_IN, heading, origin

CACHE_SECONDS = 5


@pytest.fixture(scope="module")
def two_partner_stack(lambda_runtime_ready: None) -> Iterator[LocalStack]:
    # The registry's cache age at its floor, so a disabled partner stops within 5 s.
    environ = {"PARTNER_REGISTRY_CACHE_SECONDS": str(CACHE_SECONDS)}
    with LocalStack(
        ports=Ports.ephemeral(), environ=environ, processes=ProcessExecution(), demo_partners=2
    ) as stack:
        yield stack


def sign_in_on_the_partner_page(page: Page, demo: DemoPartner, sub: str, first: str, last: str) -> None:
    email = f"{sub}@{demo.partner}.example.edu"
    leakcheck.register(email, f"{first} {last}")
    page.goto(f"{demo.identity_provider.url}/")
    page.get_by_label("User id (partner_id)").fill(sub)
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill(last)
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Sign in to Big Interview").click()


def test_the_same_user_signs_in_at_each_partners_own_org(
    two_partner_stack: LocalStack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    first, second = two_partner_stack.demo_partners

    with page.expect_navigation(url=re.compile(r"/sso/login\?")):
        sign_in_on_the_partner_page(page, first, "e2e-shared", "Ada", "One")
    at_first = page.url
    first_heading = heading(page)
    with page.expect_navigation(url=re.compile(r"/sso/login\?")):
        sign_in_on_the_partner_page(page, second, "e2e-shared", "Bea", "Two")

    assert origin(at_first) == first.big_interview.url
    assert first_heading == SIGNED_IN.format(first="Ada", last="One", sub="e2e-shared")
    assert origin(page.url) == second.big_interview.url
    assert heading(page) == SIGNED_IN.format(first="Bea", last="Two", sub="e2e-shared")
    # Each org knows only its own partner's user, with that partner's profile.
    user_one, user_two = (demo.big_interview.user("e2e-shared") for demo in (first, second))
    assert user_one is not None and user_one.email == "e2e-shared@demo-1.example.edu"
    assert user_two is not None and user_two.email == "e2e-shared@demo-2.example.edu"
    assert two_partner_stack.big_interview is not None
    assert two_partner_stack.big_interview.user("e2e-shared") is None  # nor the environment's org
    assert browser_page.errors == []


def test_a_disabled_partner_is_refused_in_the_browser_while_the_other_signs_in(
    two_partner_stack: LocalStack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    first, second = two_partner_stack.demo_partners
    endpoint = two_partner_stack.secrets_manager_url
    assert endpoint is not None
    registry = create_registry_table(two_partner_stack.region, endpoint, SANDBOX_REGISTRY_TABLE)
    key = {"issuer": {"S": second.identity_provider.issuer}}
    record = json.loads(registry.get_item(TableName=SANDBOX_REGISTRY_TABLE, Key=key)["Item"]["value"]["S"])
    registry.put_item(
        TableName=SANDBOX_REGISTRY_TABLE,
        Item={**key, "value": {"S": json.dumps({**record, "enabled": False})}},
    )
    try:
        # A warm environment may still hold the enabled record, for at most the cache age.
        deadline = time.monotonic() + CACHE_SECONDS + 5
        while True:
            sign_in_on_the_partner_page(page, second, "e2e-disabled", "Cy", "Three")
            page.wait_for_load_state()
            if urlsplit(page.url).path == "/sso" or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert urlsplit(page.url).path == "/sso"
        assert "invalid_issuer" in page.content()

        with page.expect_navigation(url=re.compile(r"/sso/login\?")):
            sign_in_on_the_partner_page(page, first, "e2e-still", "Di", "Four")
        assert origin(page.url) == first.big_interview.url
    finally:
        registry.put_item(TableName=SANDBOX_REGISTRY_TABLE, Item={**key, "value": {"S": json.dumps(record)}})
        # The stack is the module's: the module's other tests find the partner enabled again,
        # once no warm environment holds the disabled record any more (at most the cache age).
        deadline = time.monotonic() + CACHE_SECONDS + 5
        while True:
            sign_in_on_the_partner_page(page, second, "e2e-restored", "Ed", "Five")
            page.wait_for_load_state()
            if urlsplit(page.url).path == "/sso/login" or time.monotonic() > deadline:
                break
            time.sleep(1)
