"""The new-window page's button in Chromium, when the platform's authorization endpoint sends the
browser on to another origin of its own: Instructure's Canvas (``sso.canvaslms.com`` to the
institution's domain) and Blackboard (its developer gateway to the institution's Learn host) do.

Chromium holds a form's redirects to the page's ``form-action`` too, so a policy naming only the
authorization endpoint's origin stops the new window at that hop. The page and its policy are the
production ones (``handler.lti.storage``); three loopback servers play the tool, the platform's
authorization endpoint and the institution's own host.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Browser

from handler.lti.storage import new_window_page, new_window_page_policy
from tests.e2e.conftest import TIMEOUT_MS


def serve(
    answer: Callable[[BaseHTTPRequestHandler], None], tls: ssl.SSLContext | None = None
) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer(self)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer(self)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def redirect_to(location: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def answer(request: BaseHTTPRequestHandler) -> None:
        request.send_response(302)
        request.send_header("Location", location)
        request.end_headers()

    return answer


@pytest.fixture
def servers(server_ssl_context: ssl.SSLContext) -> Iterator[dict[str, str]]:
    def authorized(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "text/html")
        request.end_headers()
        request.wfile.write(b"<p id='authorized'>the institution's authorization</p>")

    institution = serve(authorized, server_ssl_context)  # https, as every institution's host
    institution_origin = f"https://localhost:{institution.server_address[1]}"
    platform = serve(redirect_to(f"{institution_origin}/api/lti/authorize"))
    platform_origin = f"http://127.0.0.1:{platform.server_address[1]}"
    tool_origin = ""

    def tool_answer(request: BaseHTTPRequestHandler) -> None:
        if request.command == "POST":  # /lti/login: on to the platform's authorization endpoint
            redirect_to(f"{platform_origin}/api/lti/authorize_redirect")(request)
            return
        login = {"iss": "https://canvas.instructure.com", "login_hint": "hint", "client_id": "1"}
        action = f"{tool_origin}/lti/login"
        page = new_window_page("message", "lti_state_cookie_missing", "req-1", login, action)
        request.send_response(400)
        request.send_header("Content-Type", "text/html; charset=utf-8")
        request.send_header("Content-Security-Policy", new_window_page_policy(platform_origin))
        request.end_headers()
        request.wfile.write(page.encode())

    tool = serve(tool_answer)
    tool_origin = f"http://127.0.0.1:{tool.server_address[1]}"
    yield {"tool": tool_origin, "institution": institution_origin}
    for server in (tool, platform, institution):
        server.shutdown()
        server.server_close()


def test_the_button_reaches_the_institutions_host_through_the_platforms_redirects(
    browser: Browser, servers: dict[str, str]
) -> None:
    context = browser.new_context(ignore_https_errors=True)  # the test CA is not the browser's
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        blocked: list[str] = []
        context.on("console", lambda message: blocked.append(message.text))
        page.goto(f"{servers['tool']}/launch")
        with context.expect_page() as opened:
            page.click("button")
        window = opened.value
        window.wait_for_selector("#authorized")
        assert window.url.startswith(f"{servers['institution']}/api/lti/authorize")
        assert not [text for text in blocked if "Content Security Policy" in text]
    finally:
        context.close()
