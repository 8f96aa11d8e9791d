"""``make doctor``: what this machine has and lacks for each command, and the one command that fixes each gap.

    python3 -m infra.tools.doctor               every check, one line each (exit 0: a report)
    python3 -m infra.tools.doctor --for dev     only what stops make dev; exit 1 if something does
    python3 -m infra.tools.doctor --for test    only what stops make test; exit 1 if something does

Standard library only, and run with the system's python3: it must work before any
virtual environment exists, which is when it is most needed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from infra.local.ports import Ports, port_is_free, taken_port_message

APT_CHROMIUM = (
    "sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium chromium-driver"
)
MINIMUM_PYTHON = (3, 11)
RUNTIME_VERSION = (3, 13)


@dataclass(frozen=True)
class Finding:
    """One line of the report: what was checked, whether it is there, which commands need it, the fix."""

    what: str
    ok: bool
    needed_by: tuple[str, ...]
    fix: str = ""

    def line(self) -> str:
        status = "ok  " if self.ok else "MISS"
        text = f"  {status}  {self.what:<44} {', '.join(self.needed_by)}"
        return text if self.ok else f"{text}\n        fix: {self.fix}"


def run(argv: Sequence[str], timeout: float = 20.0) -> subprocess.CompletedProcess[str] | None:
    """``argv``'s result, or None when it cannot run at all (missing, or hanging)."""
    try:
        return subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def check_python() -> Finding:
    version = ".".join(map(str, sys.version_info[:3]))
    has_venv = (
        importlib.util.find_spec("ensurepip") is not None and importlib.util.find_spec("venv") is not None
    )
    ok = sys.version_info[:2] >= MINIMUM_PYTHON and has_venv
    what = f"Python {version}" + (" with venv" if has_venv else " without venv")
    fix = "sudo apt-get install -y python3 python3-venv (3.11 or later)"
    return Finding(what, ok, ("make dev", "make test", "the tools"), fix)


def check_runtime_python(runtime: str) -> Finding:
    done = run([runtime, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"])
    version = done.stdout.strip() if done is not None and done.returncode == 0 else ""
    ok = tuple(int(part) for part in version.split(".")[:2]) == RUNTIME_VERSION if version else False
    what = f"{runtime} {version}" if ok else f"{runtime} (Lambda's Python, 3.13)"
    fix = "pyenv install 3.13 (or RUNTIME_PYTHON=/path/to/python3.13)"
    return Finding(what, ok, ("make dev", "make test"), fix)


def check_chromium() -> Finding:
    missing = [name for name, command in (("chromium", "chromium"), ("chromium-driver", "chromedriver"))
               if shutil.which(command) is None]  # fmt: skip
    what = "Chromium and chromedriver" if not missing else f"Chromium ({', '.join(missing)} missing)"
    return Finding(what, not missing, ("make test (browser tests)",), APT_CHROMIUM)


def check_ports(environ: dict[str, str] | None = None) -> list[Finding]:
    """make dev's ports as ``environ`` moves them (none: the defaults, which the docs' commands use).

    The widest the docs start: make dev LTI=1 PARTNERS=2 (docs/lti.md).
    """
    planned = Ports.from_environ(environ or {}).plan(lti=True, demo_partners=2)
    taken = [use for use in planned if not port_is_free(use.port)]
    moved = any(name in (environ or {}) for name in Ports.ENV_NAMES.values())
    needed_by = ("make dev",) if moved else ("make dev", "make test (the docs' commands)")
    if environ is None:
        needed_by = ("make test (the docs' commands use the defaults)",)
    if not taken:
        ports = sorted(use.port for use in planned)
        contiguous = ports[-1] - ports[0] + 1 == len(ports)
        shown = f"{ports[0]}-{ports[-1]}" if contiguous else ", ".join(map(str, ports))
        return [Finding(f"ports {shown} free", True, needed_by)]
    # The docs' commands use the default ports: for make test, only freeing them helps.
    fixes = [
        taken_port_message(use).split(": ", 1)[1].replace(", or move it with", "; for make dev alone,")
        for use in taken
    ]
    if len(taken) == 1:
        return [Finding(f"port {taken[0].port} ({taken[0].what})", False, needed_by, fixes[0])]
    # Several (often a make dev still running): one finding, so the report stays one screen.
    moves = ", ".join(fix.rpartition("for make dev alone, ")[2] for fix in fixes)
    return [
        Finding(
            f"ports {', '.join(str(use.port) for use in taken)} (make dev's)",
            False,
            needed_by,
            f"stop what uses them (a make dev still running?); for make dev alone, {moves}",
        )
    ]


def check_pip() -> Finding:
    done = run([sys.executable, "-m", "pip", "index", "versions", "pip"], timeout=30)
    ok = done is not None and done.returncode == 0 and "pip (" in done.stdout
    fix = "check the network or pip's index (pip config list; PIP_INDEX_URL)"
    return Finding("pip's package index reachable", ok, ("first make dev / make test (venvs)",), fix)


def check_docker() -> Finding:
    done = run(["docker", "info"]) if shutil.which("docker") else None
    ok = done is not None and done.returncode == 0
    what = "Docker engine" + ("" if ok else " (absent or not running)")
    fix = "install Docker Engine (docs.docker.com/engine/install) and start it; only sam local needs it"
    return Finding(what, ok, ("sam local invoke / start-api (optional)",), fix)


def findings(runtime: str) -> dict[str, Callable[[], list[Finding]]]:
    """Each check, by name; called lazily so ``--for`` runs only its own."""
    return {
        "python": lambda: [check_python()],
        "runtime": lambda: [check_runtime_python(runtime)],
        "chromium": lambda: [check_chromium()],
        "ports": lambda: check_ports(dict(os.environ)),
        "default ports": check_ports,
        "pip": lambda: [check_pip()],
        "docker": lambda: [check_docker()],
    }


# What stops each command. make dev checks its own ports (LTI= and PARTNERS= decide which);
# pip's index matters only while a virtual environment is still to be made.
STOPPERS = {"dev": ("python", "runtime", "pip"), "test": ("python", "runtime", "default ports", "pip")}
VENV_STAMPS = (".venv/.installed", ".venv-lambda/.installed")


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="make doctor", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--for", dest="command", choices=sorted(STOPPERS), help="only what stops this command"
    )
    parser.add_argument("--runtime-python", default=os.environ.get("RUNTIME_PYTHON") or "python3.13")
    args = parser.parse_args(argv)
    checks = findings(args.runtime_python)
    if args.command:
        made = all(os.path.exists(stamp) for stamp in VENV_STAMPS)
        names = [name for name in STOPPERS[args.command] if not (name == "pip" and made)]
        stoppers = [finding for name in names for finding in checks[name]() if not finding.ok]
        for finding in stoppers:
            print(f"make {args.command} cannot run: {finding.what}; fix: {finding.fix}", file=sys.stderr)
        return 1 if stoppers else 0
    print("make doctor: what this machine has, and what needs it", file=out)
    for name, check in checks.items():
        if name == "default ports" and not any(
            variable in os.environ for variable in Ports.ENV_NAMES.values()
        ):
            continue  # the same ports as "ports"
        for finding in check():
            print(finding.line(), file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
