"""checkov on template.yaml and infra/deploy/monitoring.yaml: 0 failed checks, every skip explained.

checkov runs from its own venv (``.venv-checkov``, ``make checkov-venv``): it pins
boto3/botocore versions that aws-sam-cli does not accept. The venv is created
here when missing (CI creates it up front in ``.ci/run``).
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.deploy.templates import ROOT, load

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
SCANNED = ("template.yaml", "infra/deploy/monitoring.yaml")


def checkov_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BC_", "PRISMA_"))}
    env["PYTHONWARNINGS"] = "ignore"
    return env


@pytest.fixture(scope="module")
def checkov_report() -> list[dict[str, Any]]:
    if not CHECKOV.exists():
        made = subprocess.run(
            ["make", "checkov-venv"], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
        )
        assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    args = [str(CHECKOV), "--framework", "cloudformation", "--skip-download", "-o", "json"]
    for name in SCANNED:
        args += ["-f", name]
    result = subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=600, env=checkov_env(), check=False
    )
    assert result.stdout.strip(), result.stderr[-3000:]
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    print(json.dumps([r.get("summary") for r in reports]))
    return reports


def test_checkov_reports_no_failed_check(checkov_report: list[dict[str, Any]]) -> None:
    summaries = [r["summary"] for r in checkov_report]
    assert summaries, "checkov produced no report"
    assert all(s["parsing_errors"] == 0 for s in summaries), summaries
    assert sum(s["failed"] for s in summaries) == 0, summaries
    assert sum(s["passed"] for s in summaries) > 0, summaries


def test_checkov_scanned_both_templates(checkov_report: list[dict[str, Any]]) -> None:
    files = set()
    for report in checkov_report:
        results = report.get("results", {})
        for kind in ("passed_checks", "skipped_checks", "failed_checks"):
            files |= {check["file_path"].lstrip("/") for check in results.get(kind, [])}
    assert {"template.yaml", "infra/deploy/monitoring.yaml"} <= files, files


@pytest.mark.parametrize("name", SCANNED)
def test_every_checkov_skip_has_a_one_line_reason(name: str) -> None:
    template = load(ROOT / name)
    for logical_id, resource in template["Resources"].items():
        skips = resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
        for skip in skips:
            assert str(skip["id"]).startswith("CKV_"), (logical_id, skip)
            comment = str(skip.get("comment", ""))
            assert 20 <= len(comment) <= 160, (logical_id, skip["id"], comment)
            assert "\n" not in comment, (logical_id, skip["id"])
