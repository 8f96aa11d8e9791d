"""Every make variable handed to a tool arrives as one argument, whatever it starts with.

argparse takes a separate value that starts with ``-`` for a flag (``--kid -abc`` is refused:
"expected one argument"), so a random key's thumbprint, or a partner id like ``-abc123``,
broke ``make token``. The variables are read from the Makefile's recipes, so a variable
added later is covered without touching this test.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import jwt
import pytest

from tests.partner.conftest import ISSUER, KeyPair

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = (ROOT / "Makefile").read_text()
# What argparse says when an argument did not reach it as one value.
ARGPARSE_REFUSALS = ("expected one argument", "unrecognized arguments")
# Positional values (after '--'): the variable, and the targets that pass it.
POSITIONALS = {
    "check-link": "URL",
    "check-launch": "TOKEN",
    "partner-add": "FILE",
    "partner-disable": "PARTNER",
}


def recipes() -> dict[str, str]:
    """``target -> recipe text`` for the tool targets (the recipe lines after ``target: venv``)."""
    found: dict[str, str] = {}
    for match in re.finditer(r"^([\w -]+): venv[^\n]*\n((?:\t[^\n]*\n)+)", MAKEFILE, flags=re.M):
        for target in match.group(1).split():
            found[target] = match.group(2)
    return found


def variables_passed_to_tools() -> list[tuple[str, str]]:
    """``(target, VARIABLE)`` for every variable a tool target hands to its tool."""
    pairs = []
    for target, recipe in recipes().items():
        pairs += [(target, name) for name in re.findall(r"\$\(call partner_flag,(\w+),--", recipe)]
        if "$(partner_table)" in recipe:
            pairs.append((target, "TABLE"))
    pairs += list(POSITIONALS.items())
    return sorted(set(pairs))


def make_elsewhere(cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The repository's Makefile run from ``cwd``, so a value used as a path writes nothing here."""
    venv = ROOT / ".venv"
    environment = {
        **os.environ,
        "MAKEFLAGS": "",
        "PYTHONPATH": str(ROOT),
        # A partner-… target must fail fast, not look for AWS.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_MAX_ATTEMPTS": "1",
    }
    return subprocess.run(
        ["make", "-s", "-f", str(ROOT / "Makefile"), f"VENV={venv}", "-o", f"{venv}/.installed", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=environment,
        stdin=subprocess.DEVNULL,
    )


def test_the_tool_targets_and_their_variables_are_found() -> None:
    pairs = variables_passed_to_tools()

    assert ("token", "KID") in pairs and ("token", "USER") in pairs and ("invoke", "ENV") in pairs
    assert {target for target, _ in pairs} >= {"keys", "token", "check-link", "check-launch", "partner-add"}


@pytest.mark.parametrize(("target", "variable"), variables_passed_to_tools())
def test_a_value_starting_with_a_dash_reaches_the_tool_as_one_argument(
    target: str, variable: str, tmp_path: Path
) -> None:
    if target == "invoke":
        # The Lambda runtime and artifact are not what this test is about: the command, as the shell
        # splits it, holds the value as one argument (a flag's, or the event after '--').
        event = [] if variable == "EVENT" else ["EVENT=events/health.json"]
        result = make_elsewhere(tmp_path, "-n", "-o", "lambda-venv", "-o", "local-artifact", target,
                                f"{variable}=-a value", *event)  # fmt: skip
        assert result.returncode == 0, result.stderr
        argv = shlex.split(result.stdout.split("-m infra.local.invoke", 1)[1].replace("\\\n", " "))
        assert any(re.fullmatch(r"--[\w-]+=-a value", word) for word in argv) or argv[-2:] == [
            "--",
            "-a value",
        ]
        return
    result = make_elsewhere(tmp_path, target, f"{variable}=-a value")

    refusals = [refusal for refusal in ARGPARSE_REFUSALS if refusal in result.stderr]
    assert refusals == [], result.stderr
    assert "Traceback" not in result.stderr


def test_make_token_with_a_partner_id_and_a_kid_that_start_with_a_dash(
    rsa_pair: KeyPair, tmp_path: Path
) -> None:
    result = make_elsewhere(
        tmp_path, "token", "USER=-abc123", f"KEY={rsa_pair.private_path}", "KID=-abc", f"ISS={ISSUER}",
        "EXISTING_USER=yes",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    [token] = [line for line in result.stdout.splitlines() if line.count(".") == 2 and " " not in line]
    assert jwt.get_unverified_header(token)["kid"] == "-abc"
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == "-abc123"


def test_make_keys_into_a_directory_whose_name_starts_with_a_dash(tmp_path: Path) -> None:
    result = make_elsewhere(tmp_path, "keys", "OUT=-keys")

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "-keys" / "jwks.json").is_file()


def test_make_partner_add_without_file_says_what_is_missing(tmp_path: Path) -> None:
    result = make_elsewhere(tmp_path, "partner-add", "TABLE=bi-sso-sandbox-partners")

    assert result.returncode != 0
    assert "give FILE=" in result.stderr and "Is a directory" not in result.stderr


def test_the_shell_quoting_keeps_quotes_and_spaces(tmp_path: Path) -> None:
    printed = make_elsewhere(tmp_path, "-n", "check-link", "URL=it's -x", "ISS=a 'b'")

    assert printed.returncode == 0, printed.stderr
    argv = shlex.split(printed.stdout.replace("\\\n", " "))
    assert "--iss=a 'b'" in argv
    assert argv[-2:] == ["--", "it's -x"]
