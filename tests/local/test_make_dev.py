"""``make dev`` starts the whole stack from one command and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.stack import MANAGED_VARIABLES, REPOSITORY_ROOT, Ports
from tests.support.ports import free_port

# make dev builds the artifact when stale: the session's build comes first (it holds a lock
# the other xdist worker waits on), so make dev finds it up to date.
pytestmark = pytest.mark.usefixtures("lambda_runtime_ready")
STARTUP_TIMEOUT_SECONDS = 120  # includes `make venv` when the venv is stale


class RunningMakeDev:
    """``make dev`` in its own process group, its output collected line by line."""

    def __init__(self, **variables: str) -> None:
        environment = {k: v for k, v in os.environ.items() if k not in MANAGED_VARIABLES}
        environment.update({name: str(free_port()) for name in Ports.ENV_NAMES.values()})
        environment.update(variables)
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "dev"],
            cwd=REPOSITORY_ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # like a terminal job: Ctrl-C reaches the whole group
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if found := re.search(pattern, line):
                return found
        raise AssertionError(f"{pattern!r} not seen; output so far:\n{self.output}")

    def finish(self, timeout: float = 30) -> int:
        code = self.process.wait(timeout=timeout)
        while (line := self._queue.get(timeout=5)) is not None:
            self.lines.append(line)
        return code

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stack_pid(self) -> int:
        """The ``python -m infra.local`` process under make."""
        pending = [self.process.pid]
        while pending:
            pid = pending.pop()
            if "infra.local" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                return pid
            for task in Path(f"/proc/{pid}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        raise AssertionError("no infra.local process under make")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def make_dev() -> Iterator[RunningMakeDev]:
    running = RunningMakeDev()
    try:
        yield running
    finally:
        running.kill()


def test_make_dev_prints_a_working_sign_in_link_and_stops_with_0_on_sigint(make_dev: RunningMakeDev) -> None:
    link = make_dev.wait_for(r"Sign-in link:\s+(\S+)", STARTUP_TIMEOUT_SECONDS).group(1)
    assert "Demo partner page:" in make_dev.output

    with urllib.request.urlopen(link, timeout=30) as response:  # noqa: S310 - loopback
        page = response.read().decode()
    assert "Signed in to Big Interview (sandbox) as Dana Demo (demo-user)" in page

    os.kill(make_dev.stack_pid(), signal.SIGINT)
    assert make_dev.finish() == 0
    assert "Stopped." in make_dev.output
    assert "Traceback" not in make_dev.output


def test_ctrl_c_on_the_terminal_stops_the_stack_cleanly(make_dev: RunningMakeDev) -> None:
    make_dev.wait_for(r"Sign-in link:", STARTUP_TIMEOUT_SECONDS)
    # A terminal's Ctrl-C signals the whole foreground group: make and the stack.
    os.killpg(make_dev.process.pid, signal.SIGINT)
    code = make_dev.finish()
    assert "Stopped." in make_dev.output
    assert "Traceback" not in make_dev.output
    # GNU make itself always reports an interrupt by dying of the signal it got.
    assert code in (0, -signal.SIGINT)


def run_stack_module(*arguments: str, **variables: str) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if k not in MANAGED_VARIABLES and k != "VERBOSE"}
    environment.update(variables)
    return subprocess.Popen(
        [sys.executable, "-m", "infra.local", *arguments],
        cwd=REPOSITORY_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sigterm_stops_the_stack_with_0() -> None:
    process = run_stack_module("--api-port", "0", "--idp-port", "0", "--bi-port", "0", "--secrets-port", "0")
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("Sign-in link:"):
                break
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "Stopped." in output
    assert "Traceback" not in output


def test_a_busy_port_is_a_clear_error_not_a_traceback() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = run_stack_module(
            "--api-port", "0", "--idp-port", "0", "--bi-port", str(port), "--secrets-port", "0"
        )
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert f"port {port} (the sandbox Big Interview) is already in use" in output
    assert "LOCAL_BI_PORT=<another port>" in output
    assert "Traceback" not in output and "Errno" not in output


def test_the_fixed_ports_never_clash_whatever_runs_together() -> None:
    planned = Ports().plan(lti=True, demo_partners=8)

    assert len({use.port for use in planned}) == len(planned) == 5 + 2 * 8
    assert Ports(identity_provider=0).demo_partner_ports(1) == (0, 0)  # moved: demo partners take free ports


EPHEMERAL_PORTS = ("--api-port", "0", "--idp-port", "0", "--bi-port", "0", "--secrets-port", "0")


def terminal_output(**variables: str) -> str:
    """Start the stack, send /health, a bad token and a good link, stop; everything it printed."""
    process = run_stack_module(*EPHEMERAL_PORTS, **variables)
    try:
        assert process.stdout is not None
        banner = []
        for line in process.stdout:
            banner.append(line)
            if line.startswith("Sign-in link:"):
                break
        api = re.search(r"API \(local API Gateway\):\s+(\S+)", "".join(banner))
        banner += [process.stdout.readline(), process.stdout.readline()]  # the direct API link
        link = re.search(r"^\s+(http://\S+/sso\?jwt=\S+) \)$", "".join(banner), re.M)
        assert api and link, "".join(banner)
        # Each request's line (and, verbose, its handler output) is printed before its answer is
        # sent: once the last answer is in, SIGTERM loses nothing.
        for url in (f"{api.group(1)}/health", f"{api.group(1)}/sso?jwt=a.b.c", link.group(1)):
            try:
                urllib.request.urlopen(url, timeout=30).close()  # noqa: S310 - loopback
            except urllib.error.HTTPError as refused:
                refused.close()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    return "".join(banner) + output


def test_each_request_is_one_short_line_with_its_code_and_no_warnings() -> None:
    output = terminal_output()

    assert re.search(r"^GET /health 200 - \d+ ms$", output, re.M), output
    assert re.search(r"^GET /sso 401 malformed_token \d+ ms$", output, re.M), output
    assert re.search(r"^GET /sso 302 ok \d+ ms$", output, re.M), output
    assert "Warning" not in output
    assert '"level"' not in output and "CloudWatchMetrics" not in output


def test_verbose_adds_the_handlers_json_logs_and_metrics() -> None:
    output = terminal_output(VERBOSE="1")

    assert re.search(r"^GET /sso 401 malformed_token \d+ ms$", output, re.M), output
    assert '"message":"sign-in refused"' in output
    assert '"reason":"malformed_token"' in output
    assert "CloudWatchMetrics" in output
    assert "Warning" not in output


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"JWT_ISSUER": "https://idp.example.edu"}, "set JWT_AUDIENCE too"),
        ({"BI_ORG": "xyz"}, "set BI_API_KEY_SECRET_ID"),
        ({"JWT_MAX_AGE_SECONDS": "5"}, "JWT_MAX_AGE_SECONDS must be between 10 and 3600, got 5"),
    ],
)
def test_a_missing_or_bad_variable_is_one_line_naming_it(variables: dict[str, str], named: str) -> None:
    process = run_stack_module(*EPHEMERAL_PORTS, **variables)
    output, _ = process.communicate(timeout=60)

    assert process.returncode == 1
    [line] = output.strip().splitlines()
    assert line.startswith("error: could not start the local stack: ")
    assert named in line


def test_make_dev_partners_2_starts_two_demo_partners_each_signing_in_at_its_own_org() -> None:
    make_dev = RunningMakeDev(PARTNERS="2")
    try:
        make_dev.wait_for(r"Sign-in link:", STARTUP_TIMEOUT_SECONDS)
        demos = [
            make_dev.wait_for(
                rf"{name}: partner page (\S+)/\s+Big Interview org \(sandbox\) (\S+)", STARTUP_TIMEOUT_SECONDS
            )
            for name in ("demo-1", "demo-2")
        ]
        for number, demo in enumerate(demos, start=1):
            page_url, org_url = demo.group(1), demo.group(2)
            query = urllib.parse.urlencode(
                {
                    "sub": "dev-user",
                    "given_name": f"Dev{number}",
                    "family_name": "User",
                    "email": f"dev@demo-{number}.example.edu",
                    "style": "link",
                }
            )
            with urllib.request.urlopen(f"{page_url}/sign-in?{query}", timeout=30) as response:  # noqa: S310
                page, final_url = response.read().decode(), response.geturl()
            assert final_url.startswith(f"{org_url}/"), (final_url, org_url)
            assert f"Signed in to Big Interview (sandbox) as Dev{number} User (dev-user)" in page
        assert len({demo.group(2) for demo in demos}) == 2

        os.kill(make_dev.stack_pid(), signal.SIGINT)
        assert make_dev.finish() == 0
        assert "Traceback" not in make_dev.output
    finally:
        make_dev.kill()
