"""Platform Storage beside the cookie path: the browser's extra round trips, and the pages' own time.

In Chromium, a course page on ``localhost`` frames the tool on ``127.0.0.1`` (another site)
beside the sandbox LMS's storage frame (``infra.local.sandbox_lms.STORAGE_FRAME_SCRIPT``) on
the course page's own origin, the platform's. The tool side serves the service's own pages
(``handler.lti.storage``) with their CSP; the platform's authorization endpoint and the
tool's launch step are stubs that answer at once, so what is timed is the page's own work on
loopback: from the tool's answer to the request the page makes next. The cookie path's
login is a 302 (its next request follows at once) and its launch needs no page at all.

Counted per path: HTTP requests the browser makes beyond the cookie path's, and the
postMessage exchanges the storage frame answered.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Request, sync_playwright

from handler.lti.storage import launch_page, login_page, storage_page_policy
from infra.local.http_server import BackgroundHTTPServer, QuietHandler, html_page
from infra.local.sandbox_lms import STORAGE_FRAME_SCRIPT

# Debian's Chromium, never a downloaded one (as the browser tests); headless, offline.
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
FRAME = "post_message_forwarding"
STATE, BINDING, ID_TOKEN = "bench-state", "bench-binding", "bench.id.token"


def _tool_handler(urls: dict[str, str], posted: list[str]) -> type[QuietHandler]:
    class Tool(QuietHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            platform_url = urls["platform"]
            auth = f"{platform_url}/auth"
            if path == "/login-cookie":  # the cookie path: the redirect, nothing else
                self.send(302, headers=[("Location", f"{auth}?state={STATE}")])
            elif path == "/login":
                page = login_page(STATE, BINDING, FRAME, auth, f"{auth}?state={STATE}&storage=1")
                self._page(page, storage_page_policy())
            elif path == "/launch":
                page = launch_page(ID_TOKEN, STATE, FRAME, platform_url, "/done")
                self._page(page, storage_page_policy())
            else:
                self.send(404)

        def do_POST(self) -> None:
            body = parse_qs(self.read_body().decode())
            posted.append(body.get("lti_storage_binding", [""])[0])
            self.send(200, b"done", [("Content-Type", "text/plain")])

        def _page(self, page: str, policy: str) -> None:
            headers = [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Security-Policy", policy),
                ("Cache-Control", "no-store"),
            ]
            self.send(200, page.encode(), headers)

    return Tool


def _platform_handler(urls: dict[str, str]) -> type[QuietHandler]:
    class Platform(QuietHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/course":
                src = f"{urls['tool']}/{parse_qs(parts.query)['page'][0]}"
                # The tool's frame once the storage frame has loaded, as an LMS page renders its
                # storage frame first: what is timed is then the page's work, not that race.
                body = (
                    f'<iframe name="{FRAME}" src="/storage" hidden></iframe>\n'
                    f"<script>document.getElementsByName({FRAME!r})[0].onload = function () {{"
                    f"var tool = document.createElement('iframe'); tool.name = 'tool'; tool.src = {src!r};"
                    "document.body.appendChild(tool); };</script>"
                )
                policy = "default-src 'none'; frame-src *; script-src 'unsafe-inline'"
                self.send_html(200, html_page("course", body), csp=policy)
            elif parts.path == "/storage":
                page = html_page("storage", "").replace(
                    "</body>", f"<script>{STORAGE_FRAME_SCRIPT}</script></body>"
                )
                self.send_html(200, page, csp="default-src 'none'; script-src 'unsafe-inline'")
            elif parts.path == "/auth" and "storage" in parse_qs(parts.query):
                # The platform's answer, at once (a GET, not its form post): on to the launch page.
                self.send(302, headers=[("Location", f"{urls['tool']}/launch")])
            elif parts.path == "/auth":
                self.send_html(200, html_page("auth", "<p>authorized</p>"), csp="default-src 'none'")
            else:
                self.send(404)

    return Platform


def _timed(page: Any, course: str, steps: dict[str, tuple[str, str]], last: str) -> dict[str, float]:
    """Per step, ms from the tool's answer at its first path to the browser's request of its second."""
    answered: dict[str, float] = {}
    requested: dict[str, float] = {}

    def finished(request: Request) -> None:
        answered.setdefault(urlsplit(request.url).path, time.perf_counter())

    def started(request: Request) -> None:
        requested.setdefault(urlsplit(request.url).path, time.perf_counter())

    page.on("requestfinished", finished)
    page.on("request", started)
    with page.expect_request(lambda request: urlsplit(request.url).path == last):
        page.goto(course)
    tool = page.frame(name="tool")
    assert tool is not None
    tool.wait_for_url(lambda url: urlsplit(url).path == last)  # its answer too, before closing
    page.remove_listener("requestfinished", finished)
    page.remove_listener("request", started)
    return {name: (requested[after] - answered[before]) * 1000 for name, (before, after) in steps.items()}


def measure_platform_storage(samples: int) -> dict[str, Any]:
    """The section: per path, the extra HTTP requests, the message exchanges and the page's ms."""
    urls: dict[str, str] = {}  # known once the servers listen; read per request
    platform = BackgroundHTTPServer(_platform_handler(urls))
    posted: list[str] = []  # the bindings the launch page read back and posted
    tool = BackgroundHTTPServer(_tool_handler(urls, posted))
    platform.start()
    tool.start()
    urls["platform"] = platform.url.replace("127.0.0.1", "localhost")  # another site than the tool
    urls["tool"] = tool.url
    platform_url = urls["platform"]
    rows: dict[str, list[float]] = {"cookie_login": [], "storage_login": [], "storage_launch": []}
    exchanges: dict[str, int] = {}
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(samples):
                for page_path, steps, last in (
                    ("login-cookie", {"cookie_login": ("/login-cookie", "/auth")}, "/auth"),
                    (
                        "login",
                        {"storage_login": ("/login", "/auth"), "storage_launch": ("/launch", "/done")},
                        "/done",
                    ),
                ):
                    context = browser.new_context()
                    page = context.new_page()
                    timed = _timed(page, f"{platform_url}/course?page={page_path}", steps, last)
                    for name, ms in timed.items():
                        rows[name].append(ms)
                    storage = page.frame(name=FRAME)
                    received = storage.evaluate("window.received") if storage else {}
                    for name in steps:  # a login puts the binding, a launch gets it
                        subject = "lti.get_data" if name.endswith("launch") else "lti.put_data"
                        exchanges[name] = int(received.get(subject, 0))
                    context.close()
            browser.close()
    finally:
        platform.stop()
        tool.stop()
    extra_requests = {"cookie_login": 0, "storage_login": 0, "storage_launch": 1}  # the page's own post
    return {
        "samples": samples,
        # Every launch page posted the binding the login page stored: the path worked each time.
        "bindings_read_back": sum(value == BINDING for value in posted),
        "paths": {
            name: {
                "extra_http_requests": extra_requests[name],
                "message_exchanges": exchanges[name],
                "page_ms_p50": round(statistics.median(values), 1),
                "page_ms_max": round(max(values), 1),
            }
            for name, values in rows.items()
        },
    }
