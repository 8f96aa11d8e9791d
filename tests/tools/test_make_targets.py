"""The Makefile's promises to a new user: `make test` brings the system packages it needs
(or stops at once with the command to run), the coverage gate holds for the full run
only, and `make check` is the quick inner loop."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

from tests.deploy.templates import ROOT

SCRIPT = ROOT / "infra" / "tools" / "system-requirements.sh"
BASH = "/bin/bash"


def dry_run(target: str, *variables: str) -> list[str]:
    """The commands ``make -n target [NAME=value ...]`` would run, in order."""
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", target, *variables],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "MAKEFLAGS": ""},
    )
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def test_a_partial_run_measures_no_coverage_and_is_not_gated() -> None:
    # One small unit file covers far less than 90 % of the handler, and all its tests pass.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit/test_redirects.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "TOTAL" not in result.stdout  # coverage belongs to make test's full run
    assert "Required test coverage" not in result.stdout


def test_make_test_checks_system_packages_first_and_gates_coverage_on_the_full_run() -> None:
    commands = dry_run("test")
    assert commands[0] == "infra/tools/system-requirements.sh"
    pytest_runs = [c for c in commands if "-m pytest" in c]
    # First the runtime's Python (make test-runtime: a named subset, no gate), then the full run.
    runtime, full = pytest_runs
    assert runtime.startswith(".venv-3.13/bin/python -m pytest")
    assert "--cov-fail-under" not in runtime
    assert {"tests/unit", "tests/security", "tests/fuzz"} <= set(runtime.split())
    assert "--cov=handler" in full and "--cov-fail-under=90" in full
    # One random order, its seed printed, for both runs: SEED=... reruns it.
    seeds = {word for c in (runtime, full) for word in c.split() if word.startswith("--randomly-seed=")}
    assert len(seeds) == 1 and any(c.startswith('echo "random order: SEED=') for c in commands)
    assert " -n " in full  # pytest-xdist
    pytest_words = full.split(";")[0].split()
    assert not any(word.startswith("tests") for word in pytest_words), "the full run names no subset"
    assert commands.index(next(c for c in commands if "ruff check" in c)) < commands.index(full)


def test_make_check_runs_lint_types_and_unit_tests_without_the_gate() -> None:
    commands = dry_run("check")
    assert any("ruff check" in c for c in commands)
    assert any("mypy --strict" in c for c in commands)
    (unit,) = [c for c in commands if "-m pytest" in c]
    assert "tests/unit" in unit and "--cov" not in unit
    assert "--randomly-seed=" in unit


def test_a_seed_given_reruns_that_order() -> None:
    commands = dry_run("check", "SEED=1234")
    assert "--randomly-seed=1234" in next(c for c in commands if "-m pytest" in c)


# ---- infra/tools/system-requirements.sh, with stand-ins for the system's commands -------------------
def stand_in(directory: Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text(f"#!{BASH}\n{script}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def run_script(path_dir: Path) -> subprocess.CompletedProcess[str]:
    """The script with PATH holding only ``path_dir``: the stand-ins are all it can find."""
    return subprocess.run(
        [BASH, str(SCRIPT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env={"PATH": str(path_dir), "HOME": str(path_dir)},
    )


def test_with_chromium_present_nothing_is_installed(tmp_path: Path) -> None:
    log = tmp_path / "apt.log"
    for name in ("chromium", "chromedriver"):
        stand_in(tmp_path, name, "exit 0")
    stand_in(tmp_path, "apt-get", f'printf "%s\\n" "$*" >> {log}')
    stand_in(tmp_path, "id", "echo 0")

    result = run_script(tmp_path)

    assert result.returncode == 0, result.stderr
    assert not log.exists()


def test_root_without_chromium_installs_it_with_apt_get(tmp_path: Path) -> None:
    log = tmp_path / "apt.log"
    stand_in(tmp_path, "apt-get", f'printf "%s\\n" "$*" >> {log}')
    stand_in(tmp_path, "id", "echo 0")

    result = run_script(tmp_path)

    assert result.returncode == 0, result.stderr
    calls = log.read_text(encoding="utf-8").splitlines()
    assert calls == ["update -qq", "install -y -qq --no-install-recommends chromium chromium-driver"]


def test_a_user_with_passwordless_sudo_installs_through_sudo(tmp_path: Path) -> None:
    log = tmp_path / "sudo.log"
    stand_in(tmp_path, "apt-get", "exit 0")
    stand_in(tmp_path, "id", "echo 1000")
    stand_in(tmp_path, "sudo", f'printf "%s\\n" "$*" >> {log}')
    stand_in(tmp_path, "chromium", "exit 0")

    result = run_script(tmp_path)

    assert result.returncode == 0, result.stderr
    assert log.read_text(encoding="utf-8").splitlines() == [
        "-n true",
        "apt-get update -qq",
        "apt-get install -y -qq --no-install-recommends chromium-driver",
    ]


def test_a_user_who_cannot_install_is_stopped_at_once_with_the_command(tmp_path: Path) -> None:
    log = tmp_path / "apt.log"
    stand_in(tmp_path, "apt-get", f'printf "%s\\n" "$*" >> {log}')
    stand_in(tmp_path, "id", "echo 1000")
    stand_in(tmp_path, "sudo", "exit 1")  # asks for a password

    result = run_script(tmp_path)

    assert result.returncode != 0
    assert (
        "sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium chromium-driver"
        in (result.stderr)
    )
    assert not log.exists()


# ---- the suite's leak check still fails a parallel run -----------------------------------------
LEAKING_TESTS = """
from tests import leakcheck


def test_quiet() -> None:
    leakcheck.register("quiet-secret-value")


def test_leaky() -> None:
    secret = "leaky-secret-value-0123"
    leakcheck.register(secret)
    print(secret)
"""


def test_a_secret_printed_on_an_xdist_worker_fails_the_run(tmp_path: Path) -> None:
    tests = tmp_path / "test_leaks.py"
    tests.write_text(LEAKING_TESTS, encoding="utf-8")
    command = [sys.executable, "-m", "pytest", "-p", "tests.conftest", "--no-cov", "-p", "no:cacheprovider"]

    parallel = subprocess.run(
        [*command, "-n", "2", "--dist", "loadgroup", str(tests)],  # as make test runs
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert parallel.returncode == 1, parallel.stdout[-3000:]
    assert "2 passed" in parallel.stdout
    assert "SECRET IN LOGS: " in parallel.stdout and "test_leaky" in parallel.stdout
    # The controller and both workers took part; the leak is counted (once per report phase).
    assert re.search(r"\(3 processes\); [1-9]\d* leaking sections", parallel.stdout), parallel.stdout[-2000:]


def _artifact_workspace(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of what the local artifact is built from, its stamp newer than every input."""
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt", "template.yaml"):
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    (tmp_path / "infra" / "deploy").mkdir(parents=True)
    build_script = ROOT / "infra" / "deploy" / "build-function.sh"
    (tmp_path / "infra" / "deploy" / "build-function.sh").write_bytes(build_script.read_bytes())
    for source in (ROOT / "handler").rglob("*.py"):
        copy = tmp_path / source.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(source.read_bytes())
    architecture = "arm64" if os.uname().machine in ("aarch64", "arm64") else "x86_64"
    stamp = tmp_path / ".aws-sam" / "build" / "SsoFunction" / f".built-for-{architecture}"
    venv = tmp_path / ".venv" / ".installed"
    for made in (stamp, venv):
        made.parent.mkdir(parents=True, exist_ok=True)
        made.touch()
        os.utime(made, (BUILT, BUILT))
    inputs = [path for path in tmp_path.rglob("*") if path.is_file() and path not in (stamp, venv)]
    for path in inputs:
        os.utime(path, (WRITTEN, WRITTEN))
    return tmp_path, tmp_path / "handler"


# Explicit times, never "now": a file's mtime has the kernel's coarse clock (a few ms), so an
# edit "now" right after a build "now" could carry the build's very timestamp, which make calls
# up to date (seen once in a full run).
WRITTEN, BUILT, EDITED = 1_000_000_000, 1_500_000_000, 1_600_000_000


def _artifact_is_up_to_date(workspace: Path) -> bool:
    result = subprocess.run(
        ["make", "-q", "--no-print-directory", "local-artifact"],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MAKEFLAGS": ""},
    )
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 0


def test_an_edit_under_handler_lti_rebuilds_the_local_artifact(tmp_path: Path) -> None:
    workspace, handler = _artifact_workspace(tmp_path)
    assert _artifact_is_up_to_date(workspace)

    os.utime(handler / "lti" / "state.py", (EDITED, EDITED))  # edited after the artifact was built

    assert not _artifact_is_up_to_date(workspace)


def test_every_input_of_the_local_artifact_rebuilds_it(tmp_path: Path) -> None:
    workspace, handler = _artifact_workspace(tmp_path)
    inputs = [handler / "routes.py", workspace / "requirements.txt", workspace / "template.yaml"]
    for edited in inputs:
        os.utime(edited, (EDITED, EDITED))
        assert not _artifact_is_up_to_date(workspace), edited
        os.utime(edited, (WRITTEN, WRITTEN))
        assert _artifact_is_up_to_date(workspace)
