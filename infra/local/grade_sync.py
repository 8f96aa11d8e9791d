"""``python -m infra.local.grade_sync`` (``make grade-sync``): one grade passback run against the local stack.

The running stack leaves its function's environment in ``build/local/grade-sync.json``
(``LocalStack.leave_grade_sync_environment``); this runs the scheduled function's handler
(``handler.lti.grade_sync.lambda_handler``, the source tree's) once in that environment, as
the schedule would, and prints its report. The scores then show on the sandbox LMS's
``/gradebook``. An argument names another environment file (the tests' stacks).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from infra.local.lambda_runtime import new_context
from infra.local.stack import GRADE_SYNC_ENVIRONMENT

# The template's GradeSyncFunction Timeout.
TIMEOUT_SECONDS = 300.0


def main(path: Path = GRADE_SYNC_ENVIRONMENT) -> int:
    if not path.is_file():
        print(
            f"error: no running LTI stack's environment at {path}: start `make dev LTI=1` first",
            file=sys.stderr,
        )
        return 1
    os.environ.update(json.loads(path.read_text()))
    # Imported after the environment is set: the function reads it when built, as Lambda's INIT does.
    from handler.lti.grade_sync import lambda_handler

    context = new_context("grade-sync-local", 256, TIMEOUT_SECONDS, os.environ.get("AWS_REGION", "us-east-1"))
    report = lambda_handler({"source": "make grade-sync"}, context)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else GRADE_SYNC_ENVIRONMENT))
