"""The local pages share one inline stylesheet, admitted by its hash: no external asset, CSP strict."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from infra.local.stack import LocalStack
from tests.local.conftest import Answer, fetch


def pages(stack: LocalStack) -> dict[str, Answer]:
    assert stack.idp_url is not None
    return {
        "demo partner page": fetch("GET", f"{stack.idp_url}/"),
        "auto-post page": fetch("GET", f"{stack.idp_url}/sign-in?sub=demo-user&given_name=D&family_name=D"
                                "&email=d%40example.com"),
        "sandbox signed-in page": fetch("GET", stack.sign_in_url(), follow_redirects=True),
        "sandbox not signed in": fetch("GET", f"{stack.big_interview_url}/members/dashboard"),
    }  # fmt: skip


@pytest.mark.parametrize(
    "name", ["demo partner page", "auto-post page", "sandbox signed-in page", "sandbox not signed in"]
)
def test_the_page_is_styled_by_one_inline_block_its_csp_admits_by_hash(
    local_stack: LocalStack, name: str
) -> None:
    answer = pages(local_stack)[name]
    [style] = re.findall(r"<style>(.*?)</style>", answer.text, flags=re.S)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    csp = answer.headers["Content-Security-Policy"]

    assert f"style-src 'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    # Nothing to fetch: no stylesheet link, image, font or url() anywhere on the page.
    assert "<link" not in answer.text and "<img" not in answer.text
    assert "url(" not in style and "@import" not in style and "@font-face" not in style
