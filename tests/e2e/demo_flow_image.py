"""Make the README's picture of the demo flow: ``python -m tests.e2e.demo_flow_image [out.png]``.

Starts the local stack on free ports, walks the demo flow in Debian's Chromium
(the demo partner page filled in, then the signed-in sandbox Big Interview) and
lays the two screenshots side by side in one 1000x700 PNG (default:
``docs/img/demo-flow.png``). Not a test; the browser tests prove the flow.
"""

from __future__ import annotations

import base64
import html
import sys
from pathlib import Path

from playwright.sync_api import Page, ViewportSize, sync_playwright

from infra.local.stack import LocalStack, Ports
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, REPOSITORY_ROOT

DEFAULT_OUTPUT = REPOSITORY_ROOT / "docs" / "img" / "demo-flow.png"
SIZE: ViewportSize = {"width": 1000, "height": 700}
SHOT: ViewportSize = {"width": 620, "height": 760}
# The ports `make dev` uses, shown in the address bars (the stack itself runs on free ports).
SHOWN = {"idp": "http://127.0.0.1:3001", "bi": "http://127.0.0.1:3002"}

LAYOUT = """<!doctype html>
<html><head><meta charset="utf-8"><style>
body{{margin:0;width:1000px;height:700px;background:#eef1f5;font-family:system-ui,sans-serif;color:#1a1a1a}}
h1{{font-size:20px;margin:18px 24px 12px}}
.row{{display:flex;align-items:center;gap:12px;padding:0 20px}}
.win{{width:440px;background:#fff;border:1px solid #c5ccd6;border-radius:8px;overflow:hidden;
box-shadow:0 2px 8px rgba(0,0,0,.12)}}
.bar{{background:#dde3ea;padding:6px 10px;font:12px monospace;white-space:nowrap;overflow:hidden;
text-overflow:ellipsis}}
.win img{{display:block;width:440px;height:539px;object-fit:cover;object-position:top}}
.cap{{font-size:14px;margin:8px 10px 10px}}
.arrow{{font-size:40px;color:#4a5a70}}
</style></head><body>
<h1>make dev: a partner page signs a user in to Big Interview (all local)</h1>
<div class="row">
<div class="win"><div class="bar">{idp_url}</div><img src="data:image/png;base64,{left}">
<div class="cap">1. The demo partner page: type a user, click.</div></div>
<div class="arrow">&rarr;</div>
<div class="win"><div class="bar">{bi_url}</div><img src="data:image/png;base64,{right}">
<div class="cap">2. JWT verified, Partner API called, 302 followed: signed in.</div></div>
</div></body></html>
"""


def screenshot(page: Page) -> str:
    return base64.b64encode(page.screenshot()).decode()


def shown(url: str, stack: LocalStack) -> str:
    """``url`` as it reads under ``make dev`` (default ports)."""
    assert stack.idp_url is not None
    return url.replace(stack.idp_url, SHOWN["idp"]).replace(stack.big_interview_url, SHOWN["bi"])


def make_image(output: Path) -> None:
    with LocalStack(ports=Ports.ephemeral(), environ={}) as stack, sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=SHOT)
        page.goto(f"{stack.idp_url}/")
        page.get_by_label("User id (partner_id)").fill("grace-h")
        page.get_by_label("First name").fill("Grace")
        page.get_by_label("Last name").fill("Hopper")
        page.get_by_label("Email").fill("grace@example.edu")
        left, left_url = screenshot(page), shown(page.url, stack)
        with page.expect_navigation(url=f"{stack.big_interview_url}/**"):
            page.get_by_role("button", name="Sign in to Big Interview").click()
        page.wait_for_load_state()
        right = screenshot(page)
        # The SSO token in the URL is a credential for 48 hours: show the path only.
        right_url = shown(page.url.split("?", 1)[0], stack) + "?token=…"
        layout = browser.new_page(viewport=SIZE)
        layout.set_content(
            LAYOUT.format(
                left=left, right=right, idp_url=html.escape(left_url), bi_url=html.escape(right_url)
            )
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        layout.screenshot(path=str(output))
        browser.close()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT
    make_image(target)
    print(f"wrote {target} ({target.stat().st_size} bytes)")
