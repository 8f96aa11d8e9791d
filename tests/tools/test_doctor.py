"""``make doctor``: one screen of what the machine has and lacks, each gap with the command that fixes it.

Run as a user runs it (``make doctor``, the system's python3), with the machine changed
where a test needs a gap: a PATH without Chromium or Docker, a port taken, no python3.13.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from infra.local.ports import Ports
from infra.tools.doctor import APT_CHROMIUM
from tests.deploy.templates import ROOT
from tests.doc_blocks import path_without
from tests.support.ports import free_port


def make(*arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAKEFLAGS": "", **environment}
    return subprocess.run(
        ["make", "--no-print-directory", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_the_report_fits_one_screen_and_names_each_gap_with_its_fix(tmp_path: Path) -> None:
    result = make("doctor", PATH=path_without(tmp_path, ("chromium", "chromedriver", "docker")))

    assert result.returncode == 0, result.stderr  # a report, whatever it finds
    lines = result.stdout.splitlines()
    assert len(lines) <= 24
    assert any(line.startswith("  ok    Python 3.") for line in lines)
    assert any(line.startswith("  ok    python3.13 3.13.") for line in lines)
    chromium = next(i for i, line in enumerate(lines) if "Chromium" in line)
    assert lines[chromium].startswith("  MISS") and lines[chromium + 1].strip() == f"fix: {APT_CHROMIUM}"
    docker = next(i for i, line in enumerate(lines) if "Docker" in line)
    assert lines[docker].startswith("  MISS") and "sam local" in lines[docker]
    assert any("pip's package index" in line for line in lines)


def only_these_ports_taken(**taken: int) -> dict[str, str]:
    """Every port variable of make dev: the given ones at the test's taken ports, the rest at free
    ports, so the report does not depend on what else this machine runs on the defaults (a make
    dev running beside the suite took 3002-3004 and joined the test's finding)."""
    return {name: str(taken.get(name) or free_port()) for name in Ports.ENV_NAMES.values()}


def test_a_taken_port_is_named_with_the_variable_that_moves_it() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = make("doctor", **only_these_ports_taken(LOCAL_API_PORT=port))

    assert f"  MISS  port {port} (the local API Gateway)" in result.stdout
    assert "LOCAL_API_PORT=<another port>" in result.stdout


def with_stub_chromium(tmp_path: Path) -> str:
    """A PATH on which Chromium and its driver seem installed, so make test's system check passes."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in ("chromium", "chromedriver"):
        (stubs / name).write_text("#!/bin/sh\nexit 0\n")
        (stubs / name).chmod(0o755)
    return f"{stubs}{os.pathsep}{os.environ['PATH']}"


@pytest.mark.parametrize("command", ["dev", "test"])
def test_what_stops_make_dev_or_make_test_is_its_doctor_line(command: str, tmp_path: Path) -> None:
    # make test's first step is system-requirements (Chromium, then the doctor's checks).
    target = "doctor-dev" if command == "dev" else "system-requirements"
    result = make(target, RUNTIME_PYTHON="/nonexistent/python3.13", PATH=with_stub_chromium(tmp_path))

    assert result.returncode != 0
    assert f"make {command} cannot run: /nonexistent/python3.13 (Lambda's Python, 3.13)" in result.stderr
    assert "fix: pyenv install 3.13" in result.stderr


def test_make_dev_stops_at_the_doctors_line_before_building_anything() -> None:
    result = make("dev", RUNTIME_PYTHON="/nonexistent/python3.13")

    assert result.returncode != 0
    assert "make dev cannot run: /nonexistent/python3.13" in result.stderr
    assert "sam build" not in result.stderr + result.stdout


def test_a_complete_machine_has_nothing_stopping_make_dev() -> None:
    result = make("doctor-dev")

    assert (result.returncode, result.stderr) == (0, "")


def test_an_unreachable_package_index_is_a_gap_with_what_to_check() -> None:
    unreachable = {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_EXTRA_INDEX_URL": "",
        "PIP_FIND_LINKS": "",
        "PIP_RETRIES": "0",
        "PIP_DEFAULT_TIMEOUT": "2",
    }
    result = make("doctor", **unreachable)

    lines = result.stdout.splitlines()
    pip = next(i for i, line in enumerate(lines) if "pip's package index" in line)
    assert lines[pip].startswith("  MISS") and "PIP_INDEX_URL" in lines[pip + 1]


def test_several_taken_ports_are_one_finding_so_the_report_stays_one_screen() -> None:
    with socket.socket() as first, socket.socket() as second:
        for busy in (first, second):
            busy.bind(("127.0.0.1", 0))
            busy.listen()
        ports = [busy.getsockname()[1] for busy in (first, second)]
        result = make("doctor", **only_these_ports_taken(LOCAL_API_PORT=ports[0], LOCAL_IDP_PORT=ports[1]))

    lines = result.stdout.splitlines()
    taken = [line for line in lines if str(ports[0]) in line or str(ports[1]) in line]
    assert len(taken) == 1
    assert taken[0].startswith(f"  MISS  ports {ports[0]}, {ports[1]} ")
    fix = lines[lines.index(taken[0]) + 1]
    assert "LOCAL_API_PORT=<another port>" in fix and "LOCAL_IDP_PORT=<another port>" in fix
    assert len(lines) <= 24
