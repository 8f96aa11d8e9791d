"""``make check-launch``: a captured id_token through the service's launch verifier, in words."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from handler.lti.claims import CLAIM, lti_partner_id
from infra.partner import check_launch
from tests.lti.conftest import CLIENT_ID, DEPLOYMENT_ID, PLATFORM, SUB, TOOL_ORIGIN, platform_token
from tests.support import SigningKey


@pytest.fixture
def jwks_file(tmp_path: Path, platform_key: SigningKey) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [platform_key.jwk]}))
    return path


def run(token: str, jwks_file: Path, *extra: str) -> tuple[int, str]:
    out = io.StringIO()
    arguments = [
        "-",
        "--iss",
        PLATFORM,
        "--client-id",
        CLIENT_ID,
        "--deployment-ids",
        DEPLOYMENT_ID,
        "--jwks",
        str(jwks_file),
        *extra,
    ]
    code = check_launch.main(arguments, stdin=io.StringIO(token), out=out)
    return code, out.getvalue()


def test_a_good_launch_passes_every_step_and_shows_nothing_secret(
    platform_key: SigningKey, jwks_file: Path
) -> None:
    custom: dict[str, Any] = {CLAIM["custom"]: {"redirect_to": "/members/curriculum"}}
    token = platform_token(platform_key, "a-nonce", **custom)
    code, output = run(token, jwks_file, "--tool", TOOL_ORIGIN)
    assert code == 0, output
    for step in (
        "structure",
        "signature",
        "aud",
        "LTI claims",
        "deployment",
        "target",
        "profile",
        "deep link",
    ):
        assert f"✓ {step}" in output
    assert lti_partner_id(PLATFORM, SUB) in output
    assert "state and nonce" in output
    assert (
        token not in output and "o.brackenbury@student.example.edu" not in output and "Ottoline" not in output
    )


@pytest.mark.parametrize(
    ("overrides", "step", "code"),
    [
        ({"exp": int(time.time()) - 300, "iat": int(time.time()) - 600}, "times", "token_expired"),
        ({CLAIM["deployment_id"]: "another"}, "deployment", "lti_unknown_deployment"),
        ({"aud": [CLIENT_ID, "other"]}, "LTI claims", "lti_claim_invalid"),
        ({"iss": "https://other.example"}, "issuer", "invalid_issuer"),
    ],
)
def test_a_bad_launch_names_the_failing_step(
    platform_key: SigningKey, jwks_file: Path, overrides: dict[str, Any], step: str, code: str
) -> None:
    exit_code, output = run(platform_token(platform_key, "n", **overrides), jwks_file)
    assert exit_code == 1
    assert f"✗ {step}" in output and code in output


def test_a_launch_without_name_and_email_is_flagged(platform_key: SigningKey, jwks_file: Path) -> None:
    code, output = run(platform_token(platform_key, "n", given_name=None, email=None), jwks_file)
    assert code == 0
    assert "not released: first_name, email" in output


def test_a_target_elsewhere_is_refused(platform_key: SigningKey, jwks_file: Path) -> None:
    target: dict[str, Any] = {CLAIM["target_link_uri"]: "https://evil.example/lti/launch"}
    code, output = run(platform_token(platform_key, "n", **target), jwks_file, "--tool", TOOL_ORIGIN)
    assert code == 1 and "✗ target" in output


def test_an_unreadable_jwks_is_a_usage_error(platform_key: SigningKey, tmp_path: Path) -> None:
    code, _ = run(platform_token(platform_key, "n"), tmp_path / "missing.json")
    assert code == 2


def test_untrusted_claims_reach_the_terminal_escaped(platform_key: SigningKey, jwks_file: Path) -> None:
    token = platform_token(
        platform_key,
        "a-nonce",
        email="o.b@evil\x1b]0;owned\x07.example",
        given_name="\x1b[2JOttoline",
        family_name="B\nforged line",
    )
    code, output = run(token, jwks_file)
    assert code == 0, output
    for control in ("\x1b", "\x07"):
        assert control not in output
    assert not [line for line in output.splitlines() if line.startswith("forged")]
