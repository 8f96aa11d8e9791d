"""The README's promises: its Python minting example works, its make targets exist."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests import leakcheck
from tests.conftest import Sso
from tests.support import AUDIENCE, ISSUER, SigningKey, http_event

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_readme_python_example_mints_a_token_the_service_accepts(sso: Sso, rsa_key: SigningKey) -> None:
    from cryptography.hazmat.primitives import serialization

    namespace: dict[str, Any] = {}
    exec(code_blocks("python")[0], namespace)  # noqa: S102 - the README's own example
    mint: Callable[..., str] = namespace["big_interview_token"]
    pem = rsa_key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

    token = mint(
        pem, rsa_key.kid, ISSUER, AUDIENCE, "readme-user", "readme@example.edu", "Readmea", "Examplar"
    )
    leakcheck.register(token, "readme@example.edu", "Readmea", "Examplar")

    assert sso(http_event(query={"jwt": token}))["statusCode"] == 302


def test_every_make_target_the_readme_shows_exists() -> None:
    targets = set(re.findall(r"^make (\w[\w-]*)", README, flags=re.M))

    assert {"dev", "test"} <= targets
    for target in sorted(targets):
        dry_run = subprocess.run(
            ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert dry_run.returncode == 0, f"make {target}: {dry_run.stderr}"
