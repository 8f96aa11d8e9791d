"""The built artifact and the Lambda runtime venv, made once per test session (and machine).

``make local-artifact`` (``sam build`` for this machine's architecture into
``.aws-sam/build``, skipped when it is up to date) and ``make lambda-venv``
(awslambdaric on Python 3.13): under pytest-xdist both workers ask, so a file lock
makes the second wait for the first instead of building the same directory twice.
"""

from __future__ import annotations

import fcntl
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "build" / ".lambda-runtime.lock"


def prepare() -> None:
    """Build (or find up to date) the artifact and the runtime venv; fail with make's output."""
    LOCK.parent.mkdir(exist_ok=True)
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(
            ["make", "--no-print-directory", "lambda-venv", "local-artifact"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert done.returncode == 0, f"make lambda-venv local-artifact failed:\n{done.stdout}\n{done.stderr}"
