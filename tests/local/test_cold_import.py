"""infra/local/lambda_runtime.ColdImport: a fresh handler package that stays private to the handler."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from infra.local.lambda_runtime import ColdImport


def test_a_cold_import_runs_fresh_modules_and_leaves_the_process_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lazy import elsewhere in the process (the OpenAPI tool building the LTI routes, say) must
    # never get a module of the handler's fresh copy while the local stack runs it: two copies
    # of one class then meet (isinstance fails).
    package = tmp_path / "coldpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text("import os\nORG = os.environ['COLD_ORG']\n")
    (package / "entry.py").write_text(
        "from coldpkg import settings\n\ndef handler(event, context):\n    return settings.ORG\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("COLD_ORG", "before")
    settings_before = importlib.import_module("coldpkg.settings")
    monkeypatch.setenv("COLD_ORG", "fresh")

    handler = ColdImport("coldpkg.entry.handler").load()

    assert handler({}, None) == "fresh"  # imported anew, under the environment of now
    assert sys.modules["coldpkg.settings"] is settings_before  # the process keeps its own
    assert "coldpkg.entry" not in sys.modules
    assert importlib.import_module("coldpkg.settings").ORG == "before"
    for name in ("coldpkg", "coldpkg.settings"):
        sys.modules.pop(name, None)
