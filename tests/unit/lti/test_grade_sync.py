"""handler.lti.grade_sync: what the scheduled function needs, and nothing loaded without grade passback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from handler.config import load_config
from handler.container import Container
from handler.errors import ConfigError
from handler.lti.grade_sync import PowertoolsGradeMetrics, build_sync

ROOT = Path(__file__).resolve().parents[3]
GRADE_MODULES = {"handler.lti.grade_links", "handler.lti.grades", "handler.lti.grade_sync"}
BASE = {
    "BI_ORG": "xyz",
    "BI_API_KEY_SECRET_ID": "bi/xyz/api-key",
    "JWT_ISSUER": "https://idp.example.edu",
    "JWT_AUDIENCE": "big-interview",
    "JWT_JWKS_URL": "https://idp.example.edu/jwks.json",
}
LTI = {
    "LTI_STATE_TABLE_NAME": "states",
    "LTI_ISSUER": "https://lms.example.edu",
    "LTI_CLIENT_ID": "client-1",
    "LTI_DEPLOYMENT_IDS": "dep-1",
    "LTI_AUTH_URL": "https://lms.example.edu/auth",
    "LTI_JWKS_URL": "https://lms.example.edu/jwks",
}


def modules_after_a_cold_start(environ: dict[str, str]) -> set[str]:
    """The handler modules a new process has loaded once the API function's handler is built."""
    script = (
        "import json, sys\n"
        "from handler.config import load_config\n"
        "from handler.container import Container\n"
        "import os\n"
        "Container.build(load_config(os.environ)).handler()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('handler'))))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LTI_", "BI_", "JWT_"))}
    answer = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, **environ},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(answer.stdout.splitlines()[-1]))


@pytest.mark.parametrize("environ", [BASE, {**BASE, **LTI}], ids=["partner-only", "lti-without-grades"])
def test_a_deployment_without_grade_passback_loads_none_of_its_modules(environ: dict[str, str]) -> None:
    assert modules_after_a_cold_start(environ) & GRADE_MODULES == set()


def test_with_grade_passback_the_launch_loads_only_the_links_module() -> None:
    loaded = modules_after_a_cold_start({**BASE, **LTI, "LTI_GRADE_TABLE_NAME": "grades"})
    assert loaded & GRADE_MODULES == {"handler.lti.grade_links"}


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({}, "LTI_GRADE_TABLE_NAME is not set"),
        ({"LTI_GRADE_TABLE_NAME": "grades"}, "LTI_TOOL_KEY_ID is not set"),
        (
            {"LTI_GRADE_TABLE_NAME": "grades", "LTI_TOOL_KEY_ID": "k", "LTI_GRADE_ITEMS_PER_RUN": "x"},
            "LTI_GRADE_ITEMS_PER_RUN",
        ),
    ],
)
def test_a_scheduled_function_missing_a_setting_names_it(extra: dict[str, str], problem: str) -> None:
    environ = {**BASE, **LTI, **extra}
    with pytest.raises(ConfigError) as raised:
        build_sync(environ, Container.build(load_config(environ)))
    assert any(problem in p for p in raised.value.problems), raised.value.problems


def test_without_lti_the_scheduled_function_says_so() -> None:
    with pytest.raises(ConfigError, match="LTI_STATE_TABLE_NAME"):
        build_sync(BASE, Container.build(load_config(BASE)))


def test_metrics_name_the_platform_and_failures_also_count_for_every_platform(
    capsys: pytest.CaptureFixture[str],
) -> None:
    PowertoolsGradeMetrics("BigInterviewSso").count("GradePlatformFailed", "canvas.instructure.com")
    PowertoolsGradeMetrics("BigInterviewSso").count("GradeScorePosted", "moodle.example.edu")

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    emitted = {
        (metric["Name"], tuple(sorted(k for k in line if k in ("service", "platform"))), line.get("platform"))
        for line in lines
        for directive in line["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    assert emitted == {
        ("GradePlatformFailed", ("platform", "service"), "canvas.instructure.com"),
        ("GradePlatformFailed", ("service",), None),  # the alarm on every platform
        ("GradeScorePosted", ("platform", "service"), "moodle.example.edu"),
    }
    assert all(line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "BigInterviewSso" for line in lines)
