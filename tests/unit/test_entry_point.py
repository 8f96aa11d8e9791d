"""handler.entry_point: Lambda's INIT (a fresh interpreter, or a fresh import of the module)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.isolation import fresh_import
from tests.support.observed import metric_names

ROOT = Path(__file__).resolve().parents[2]


def import_app_in_subprocess(extra_env: dict[str, str]) -> str:
    env = {
        **os.environ,
        "BI_ORG": "xyz",
        "BI_API_KEY_SECRET_ID": "s",
        "JWT_ISSUER": "https://idp.test",
        "JWT_AUDIENCE": "bi",
        "AWS_DEFAULT_REGION": "us-east-1",
        **extra_env,
    }
    probe = (
        "import sys, handler.entry_point; "
        "print(sorted(m for m in sys.modules if m.startswith('aws_xray_sdk'))[:1])"
    )
    return subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_first_invocation_of_a_container_emits_the_cold_start_metric() -> None:
    probe = (
        "import json, handler.entry_point as app; from tests.support import http_event, lambda_context; "
        "app.lambda_handler(http_event(path='/health'), lambda_context()); "
        "app.lambda_handler(http_event(path='/health'), lambda_context())"
    )
    env = {
        **os.environ,
        "BI_ORG": "xyz",
        "BI_API_KEY_SECRET_ID": "s",
        "JWT_ISSUER": "https://idp.test",
        "JWT_AUDIENCE": "bi",
    }
    output = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout

    assert len(metric_names(output)["ColdStart"]) == 1


def test_with_tracing_off_the_xray_sdk_is_never_imported() -> None:
    assert import_app_in_subprocess({"POWERTOOLS_TRACE_DISABLED": "true"}) == "[]"


def test_with_tracing_on_the_xray_sdk_is_loaded() -> None:
    assert import_app_in_subprocess({"POWERTOOLS_TRACE_DISABLED": "false"}) == "['aws_xray_sdk']"


def test_importing_the_app_registers_the_snapstart_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    import snapshot_restore_py

    for name, value in {
        "BI_ORG": "xyz",
        "BI_API_KEY_SECRET_ID": "s",
        "JWT_ISSUER": "https://idp.test",
        "JWT_AUDIENCE": "bi",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(snapshot_restore_py, "_before_snapshot_registry", [])
    monkeypatch.setattr(snapshot_restore_py, "_after_restore_registry", [])
    app = fresh_import("handler.entry_point")

    [(before, _, _)] = snapshot_restore_py._before_snapshot_registry
    [(after, _, _)] = snapshot_restore_py._after_restore_registry
    assert before == app.container.before_snapshot
    # Tracing off: the restore also refreshes the secret, key set and connection side by side.
    assert after.func == app.container.after_restore
    assert after.keywords == {"refresh": True}
