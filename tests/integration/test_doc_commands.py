"""Every shell command the docs show works as written (the markers: ``tests/doc_blocks.py``).

The local blocks of README.md and docs/*.md run in reading order, as written, in a fresh
copy of the repository (every tracked and new file; the prepared virtual environments and
built artifact of this checkout are linked in, as a second run on the same machine would
find them), from a shell with no AWS settings, a new HOME and a PATH without Chromium:
nothing is added by hand between two blocks. The blocks that need AWS or Docker, the
synopses and the suite's own commands are checked for their syntax and for the make
targets and variables they name.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.ports import Ports, port_is_free
from infra.local.stack import MANAGED_VARIABLES
from tests.doc_blocks import (
    CHECK_KINDS,
    ROOT,
    RUN_KINDS,
    Block,
    make_invocations,
    path_without,
    shell_blocks,
    with_placeholders_filled,
)

MAKEFILE = (ROOT / "Makefile").read_text()
PREPARED = (".venv", ".venv-lambda", ".venv-3.13", ".aws-sam")
BLOCK_TIMEOUT_SECONDS = 300
READY_TIMEOUT_SECONDS = 900  # a real clone's first make dev builds its venvs
# Variables of the user's shell that would change what the commands do.
SHELL_SETTINGS = (
    "LTI",
    "PARTNERS",
    "VERBOSE",
    "SNAPSTART",
    "IN_PROCESS",
    "PYTHONPATH",
    "MAKEFLAGS",
    "MAKELEVEL",
)


def make_targets() -> set[str]:
    """Every target the Makefile defines."""
    return {
        target
        for line in re.findall(r"^([\w .$()/-]+):(?!=)", MAKEFILE, flags=re.M)
        for target in line.split()
        if not target.startswith(("$", "."))
    }


def known_variable(name: str) -> bool:
    """A variable the Makefile or a tool of infra/ reads."""
    if re.search(rf"\b{name}\b", MAKEFILE):
        return True
    return any(f'"{name}"' in path.read_text(encoding="utf-8") for path in (ROOT / "infra").rglob("*.py"))


def test_every_shell_block_says_how_the_suite_proves_it() -> None:
    unmarked = [block.where for block in shell_blocks() if block.kind not in RUN_KINDS | CHECK_KINDS]

    assert unmarked == [], "add <!-- doc-test: local|background; ready: …|aws|docker|synopsis|suite -->"
    assert {"README.md", "docs/partner-guide.md", "docs/operations.md", "docs/lti.md"} <= {
        block.document for block in shell_blocks() if block.kind == "local"
    }
    assert all(block.ready for block in shell_blocks() if block.kind == "background")
    # Each block runs in a shell of its own here, but in one terminal for a reader: a block
    # that exports a variable would change the blocks after it (make dev with AWS_ENDPOINT_URL
    # set, for one, uses that endpoint instead of starting its own moto).
    exporting = [block.where for block in shell_blocks() if re.search(r"^\s*export\b", block.text, re.M)]
    assert exporting == [], "set a variable for its one command (NAME=value make ...), not with export"


@pytest.mark.parametrize("block", shell_blocks(), ids=lambda block: block.where)
def test_every_documented_command_is_valid_shell_naming_real_targets_and_variables(block: Block) -> None:
    syntax = subprocess.run(
        ["bash", "-n"],
        input=with_placeholders_filled(block.text),
        capture_output=True,
        text=True,
        check=False,
    )
    assert syntax.returncode == 0, f"{block.where}: {syntax.stderr}"
    targets = make_targets()
    for target, variables in make_invocations(block.text):
        assert target in targets, f"{block.where}: make {target}: no such target"
        unknown = [name for name in variables if not known_variable(name)]
        assert unknown == [], f"{block.where}: make {target}: nothing reads {unknown}"


def test_the_invocation_parser_finds_targets_and_variables() -> None:
    script = "make keys [ALG=ES256] [OUT=keys/]\nAWS_ENDPOINT_URL=http://x make partner-list TABLE=t  # c\n"
    assert make_invocations(script) == [("keys", ["ALG", "OUT"]), ("partner-list", ["TABLE"])]
    assert make_invocations("X=$(make -s token)\nmake build\n.venv/bin/sam build") == [("build", [])]
    assert "no-such-target" not in make_targets() and {"dev", "doctor", "invoke"} <= make_targets()


# ---- the local run --------------------------------------------------------------------------------


def fresh_copy(destination: Path) -> Path:
    """The repository's tracked and new files (mtimes kept), with this checkout's environments linked.

    ``DOC_TEST_CLONE=1``: a real ``git clone`` of the committed HEAD instead, nothing linked (its
    first ``make dev`` builds every environment: minutes, which is why it is not the default).
    """
    if os.environ.get("DOC_TEST_CLONE", "") not in ("", "0"):
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(destination)], check=True)
        return destination
    destination.mkdir()
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    for name in PREPARED:
        if (ROOT / name).exists():
            (destination / name).symlink_to(ROOT / name)
    return destination


def newcomer_shell(home: Path, path: str) -> dict[str, str]:
    """This machine's environment as a newcomer's shell has it: no AWS, no stack settings."""
    managed = {*MANAGED_VARIABLES, *Ports.ENV_NAMES.values(), *SHELL_SETTINGS}
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "COV_", "PYTEST_")) and name not in managed
    }
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    return {**environment, "HOME": str(home), "PATH": path, "PYENV_ROOT": pyenv_root}


class Background:
    """A long-running block (``make dev``) in its own process group, its output kept."""

    def __init__(self, block: Block, cwd: Path, environment: dict[str, str]) -> None:
        self.block = block
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            ["bash", "-c", block.text],
            cwd=cwd,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self._ready = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if self.block.ready and self.block.ready in line:
                self._ready.set()

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not self._ready.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"{self.block.where}: never printed {self.block.ready!r}:\n{''.join(self.lines)}")

    def stop(self) -> None:
        """Ctrl-C, as the user stops it; then make sure."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@pytest.fixture
def workspace(tmp_path: Path, lambda_runtime_ready: None) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh copy, and the newcomer's shell to run it from."""
    (tmp_path / "home").mkdir()
    copy = fresh_copy(tmp_path / "repository")
    yield copy, newcomer_shell(tmp_path / "home", path_without(tmp_path, ("chromium", "chromedriver")))


def test_every_local_block_runs_as_written_in_reading_order_on_a_fresh_copy(
    workspace: tuple[Path, dict[str, str]],
) -> None:
    copy, shell = workspace
    planned = Ports().plan(lti=True, demo_partners=2)
    taken = [use.port for use in planned if not port_is_free(use.port)]
    assert taken == [], f"the docs' commands use the default ports; in use here: {taken} (make doctor)"
    assert shutil.which("chromium", path=shell["PATH"]) is None  # a machine without Chromium

    ran: list[str] = []
    running: Background | None = None
    try:
        for block in shell_blocks():
            if block.kind == "background":
                if running is not None:
                    running.stop()
                running = Background(block, copy, shell)
                running.wait_until_ready()
            elif block.kind == "local":
                done = subprocess.run(
                    ["bash", "-e", "-o", "pipefail", "-c", block.text],
                    cwd=copy,
                    env=shell,
                    capture_output=True,
                    text=True,
                    timeout=BLOCK_TIMEOUT_SECONDS,
                    stdin=subprocess.DEVNULL,
                    check=False,
                )
                assert done.returncode == 0, (
                    f"{block.where} failed:\n{block.text}\n{done.stdout}\n{done.stderr}"
                )
            else:
                continue
            ran.append(block.where)
            print(f"{block.where:<34} {block.kind:<10} ok: {block.text.strip().splitlines()[0]}")
    finally:
        if running is not None:
            running.stop()

    assert [where.split(":")[0] for where in ran][:1] == ["README.md"]
    assert {"docs/partner-guide.md", "docs/operations.md", "docs/lti.md"} <= {
        where.split(":")[0] for where in ran
    }
