"""Fixtures for the browser tests: the local stack on free ports, and Debian's Chromium via Playwright.

No browser is ever downloaded: Playwright drives the system ``chromium``
(``apt-get install chromium``; ``.ci/run`` installs it). Each test gets a fresh
browser context (no shared cookies) and a page whose console errors, page errors
and CSP violations are collected in ``BrowserPage.errors``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Error,
    Page,
    Playwright,
    ViewportSize,
    sync_playwright,
)

from infra.local.environments import ProcessExecution
from infra.local.stack import LocalStack, Ports

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
# Test artifacts (screenshots) land here; build/ is not committed.
ARTIFACTS = REPOSITORY_ROOT / "build" / "e2e"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# The background-networking flags matter: without them Chromium phones home at
# start, and on a closed network those connections are refused and logged.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1000, "height": 700}
# Chromium logs an error page's HTTP status (e.g. 401) as a console error; the
# tests assert the status themselves, so only that message is not a failure.
HTTP_STATUS_MESSAGE = re.compile(r"^Failed to load resource: the server responded with a status of \d{3}\b")
TIMEOUT_MS = 15_000


@dataclass
class BrowserPage:
    """A page plus everything the browser complained about while it was open."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        # CSP violations are reported as console errors too.
        if message.type == "error" and not HTTP_STATUS_MESSAGE.match(message.text):
            self.errors.append(f"console: {message.text}")

    def on_page_error(self, error: Error) -> None:
        self.errors.append(f"pageerror: {error.message}")


@pytest.fixture(scope="module")
def local_stack(lambda_runtime_ready: None) -> Iterator[LocalStack]:
    """The whole stack as ``make dev`` runs it, every piece a sandbox, on free ports.

    The function is the built artifact in Lambda execution environments (processes
    under awslambdaric on Python 3.13); one-time links are on (a moto DynamoDB table).
    """
    with LocalStack(ports=Ports.ephemeral(), environ={}, processes=ProcessExecution()) as stack:
        yield stack


# Module scope: the driver (and its event loop) is gone before other test modules run.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's (apt-get install chromium chromium-driver) "
            "or set CHROMIUM; the browser tests never download one"
        )
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def browser_page(browser: Browser) -> Iterator[BrowserPage]:
    """A fresh context and page; the context is closed after the test."""
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    watched = BrowserPage(page)
    page.on("console", watched.on_console)
    page.on("pageerror", watched.on_page_error)
    yield watched
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
