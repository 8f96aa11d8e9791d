"""The README is a newcomer's page: short, linking every page of docs/; its Python example works."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests import leakcheck
from tests.conftest import Sso
from tests.doc_blocks import ROOT, code_blocks
from tests.support import AUDIENCE, ISSUER, SigningKey, http_event

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_is_at_most_350_lines_and_links_every_page_of_docs() -> None:
    linked = set(re.findall(r"\]\(docs/([\w.-]+\.(?:md|json))", README))

    assert len(README.splitlines()) <= 350
    assert {path.name for path in (ROOT / "docs").glob("*.md")} <= linked
    assert "docs/performance.md" in README and "docs/openapi.json" in README


def test_the_readme_names_the_two_commands_and_the_doctor() -> None:
    for command in ("make dev", "make test", "make doctor"):
        assert f"```bash\n{command}" in README, command


def test_the_sign_in_pages_python_example_mints_a_token_the_service_accepts(
    sso: Sso, rsa_key: SigningKey
) -> None:
    from cryptography.hazmat.primitives import serialization

    namespace: dict[str, Any] = {}
    exec(code_blocks("docs/sign-in.md", "python")[0], namespace)  # noqa: S102 - the page's own example
    mint: Callable[..., str] = namespace["big_interview_token"]
    pem = rsa_key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

    token = mint(
        pem, rsa_key.kid, ISSUER, AUDIENCE, "readme-user", "readme@example.edu", "Readmea", "Examplar"
    )
    leakcheck.register(token, "readme@example.edu", "Readmea", "Examplar")

    assert sso(http_event(query={"jwt": token}))["statusCode"] == 302
