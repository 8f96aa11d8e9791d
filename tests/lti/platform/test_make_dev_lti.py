"""``make dev LTI=1``: the banner names the course page, and its first link launches the tool, signed in;
its "Add content" link opens the deep-linking picker (deep linking is on in the sandbox)."""

from __future__ import annotations

import re
import signal

from tests.local.test_make_dev import run_stack_module
from tests.lti.platform.test_real_platform import Browser

PORTS = ("--api-port", "0", "--idp-port", "0", "--bi-port", "0", "--secrets-port", "0", "--lms-port", "0")


def test_make_dev_lti_serves_a_course_page_whose_big_interview_link_signs_the_student_in() -> None:
    # --in-process: the same stack without the artifact build (the browser tests run the artifact).
    process = run_stack_module(*PORTS, "--in-process", LTI="1")
    try:
        assert process.stdout is not None
        banner = []
        for line in process.stdout:
            banner.append(line)
            if line.startswith("Tool's LTI URLs:"):
                break
        text = "".join(banner)
        course = re.search(r"^Course page:\s+(\S+)", text, re.M)
        bi = re.search(r"Big Interview \(sandbox\):\s+(\S+)", text)
        assert course and bi, text
        browser = Browser()
        page = browser.request("GET", course.group(1))
        assert page.status == 200 and b"Interview Skills 101" in page.data
        first_link = re.search(rb'href="(/launch\?[^"]+)"', page.data)
        assert first_link
        launched = browser.launch(
            course.group(1).rstrip("/") + first_link.group(1).decode().replace("&amp;", "&")
        )
        assert launched.status == 302
        assert launched.headers["Location"].startswith(f"{bi.group(1)}/sso/login?token=")
        add_content = re.search(r"^Add content:\s+(\S+)", text, re.M)
        assert add_content, text
        picker = Browser().launch(add_content.group(1))
        assert picker.status == 200 and b"<h1>Add Big Interview content</h1>" in picker.data
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "GET /lti/login 302" in output and "POST /lti/launch 302" in output, output
    assert "POST /lti/launch 200" in output, output  # the instructor's picker
