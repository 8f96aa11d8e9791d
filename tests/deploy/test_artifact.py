"""The deployable artifact: `sam build` for x86_64, then checks on what it holds.

- only handler/ and the runtime dependencies (every other top-level entry is claimed
  by an installed distribution's RECORD); no boto3/botocore/s3transfer (the runtime
  provides them), no tests, no bytecode caches;
- every wheel and every native library matches the target architecture;
- its size, unzipped and zipped, is written to build/artifact.json (goal: at most
  10 MB unzipped) with the largest entries;
- an import smoke test: python3.13 (the runtime's version) imports handler.entry_point from
  the artifact alone plus what the Lambda runtime itself provides (boto3, botocore,
  snapshot_restore_py), with tracing off (the X-Ray SDK must then stay unimported) and on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from infra.local.sam_template import load_template
from tests.deploy.templates import ROOT

BIN = Path(sys.executable).parent
ARCHITECTURE = "x86_64"
REPORT = ROOT / "build" / "artifact.json"
GOAL_UNZIPPED_BYTES = 10_000_000
# A ceiling against regressions; the goal above is tracked in build/artifact.json.
MAX_UNZIPPED_BYTES = 30_000_000
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer", "dateutil", "six.py", "snapshot_restore_py")
ENV_FOR_IMPORT = {
    "BI_ORG": "xyz",
    "BI_API_KEY_SECRET_ID": "bi-sso/test/api-key",
    "JWT_ISSUER": "https://idp.partner.example.com",
    "JWT_AUDIENCE": "big-interview-sso",
    "POWERTOOLS_SERVICE_NAME": "sso-redirector",
    "POWERTOOLS_METRICS_NAMESPACE": "BigInterviewSso",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_LOGGER_SAMPLE_RATE": "0",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_LAMBDA_FUNCTION_NAME": "artifact-smoke-test",
    "LANG": "C.UTF-8",
}
SMOKE = r"""
import json, sys, time
artifact, runtime = sys.argv[1], sys.argv[2]
sys.path[:0] = [artifact]
sys.path.append(runtime)
started = time.perf_counter()
import handler.entry_point
elapsed = time.perf_counter() - started
assert callable(handler.entry_point.lambda_handler)
names = ("jwt", "cryptography", "aws_lambda_powertools", "urllib3", "handler")
origins = {n: getattr(sys.modules.get(n), "__file__", None) for n in names}
xray = any(m == "aws_xray_sdk" or m.startswith("aws_xray_sdk.") for m in sys.modules)
print(json.dumps({"python": sys.version.split()[0], "import_seconds": elapsed, "origins": origins,
                  "xray_imported": xray}))
"""


def python313() -> str:
    candidates = [
        str(Path.home() / ".pyenv" / "versions" / "3.13.0" / "bin" / "python3.13"),
        shutil.which("python3.13", path=os.environ.get("PATH")),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            probe = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2])"],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "PYENV_VERSION": "3.13.0"},
            )
            if probe.returncode == 0 and probe.stdout.strip() == "(3, 13)":
                return candidate
    pytest.fail("python3.13 (the function's runtime) is needed for the import smoke test")


def elf_machine(path: Path) -> str:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF file"
    return {0xB7: "arm64", 0x3E: "x86_64"}.get(int.from_bytes(header[18:20], "little"), "other")


def tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("sam-build-x86_64")
    env = {**os.environ, "ARCHITECTURE": ARCHITECTURE, "SAM_CLI_TELEMETRY": "0"}
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env.setdefault("PYENV_VERSION", "3.11.7:3.13.0")
    result = subprocess.run(
        [
            str(BIN / "sam"),
            "build",
            "--template-file",
            "template.yaml",
            "--build-dir",
            str(build),
            "--build-in-source",
            "--parameter-overrides",
            f"Architecture={ARCHITECTURE}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return build


@pytest.fixture(scope="module")
def artifact(build_dir: Path) -> Path:
    return build_dir / "SsoFunction"


@pytest.fixture(scope="module")
def report(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    archive = tmp_path_factory.mktemp("zip") / "function.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(artifact.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(artifact).as_posix())
    files = [p for p in artifact.rglob("*") if p.is_file()]
    top = sorted(((p.name, tree_bytes(p)) for p in artifact.iterdir()), key=lambda item: -item[1])
    largest_files = sorted(files, key=lambda p: -p.stat().st_size)[:8]
    data: dict[str, Any] = {
        "architecture": ARCHITECTURE,
        "unzipped_bytes": sum(p.stat().st_size for p in files),
        "zipped_bytes": archive.stat().st_size,
        "files": len(files),
        "goal_unzipped_bytes": GOAL_UNZIPPED_BYTES,
        "largest_top_level": [{"name": name, "bytes": size} for name, size in top[:10]],
        "largest_files": [
            {"path": p.relative_to(artifact).as_posix(), "bytes": p.stat().st_size} for p in largest_files
        ],
    }
    data["meets_goal"] = data["unzipped_bytes"] <= GOAL_UNZIPPED_BYTES
    return data


def write_report(data: dict[str, Any]) -> None:
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(
        f"artifact ({data['architecture']}): {data['unzipped_bytes'] / 1e6:.1f} MB unzipped, "
        f"{data['zipped_bytes'] / 1e6:.1f} MB zipped, {data['files']} files -> {REPORT.relative_to(ROOT)}"
    )


def test_artifact_holds_only_the_handler_and_runtime_dependencies(artifact: Path) -> None:
    top = {p.name for p in artifact.iterdir()}
    assert (artifact / "handler" / "entry_point.py").is_file()
    claimed: set[str] = set()
    for record in artifact.glob("*.dist-info/RECORD"):
        for line in record.read_text(encoding="utf-8").splitlines():
            if line.strip():
                claimed.add(line.split(",", 1)[0].split("/", 1)[0])
    assert top - {"handler"} <= claimed, f"not from requirements.txt: {sorted(top - {'handler'} - claimed)}"
    for provided in ("boto3", "botocore", "s3transfer"):
        assert provided not in top
        assert not list(artifact.glob(f"{provided}-*.dist-info")), provided
    for unwanted in ("tests", "test", "infra", "events", "docs", "bin", ".venv"):
        assert unwanted not in top, unwanted
    assert not list(artifact.rglob("__pycache__")), "no bytecode caches"
    assert not list(artifact.rglob("*.pyc"))
    assert not [p for p in artifact.rglob("*") if p.is_dir() and p.name in (".pytest_cache", ".mypy_cache")]
    assert not list(artifact.glob("handler/**/test_*.py"))


def test_wheels_and_native_libraries_match_the_architecture(artifact: Path) -> None:
    tags = []
    for wheel in artifact.glob("*.dist-info/WHEEL"):
        tags += [
            line.split(":", 1)[1].strip()
            for line in wheel.read_text().splitlines()
            if line.startswith("Tag:")
        ]
    assert tags
    for tag in tags:
        platform = tag.rsplit("-", 1)[1]
        assert platform == "any" or platform.endswith("_x86_64"), tag
    libraries = [p for p in artifact.rglob("*.so*") if p.is_file()]
    assert libraries, "cryptography ships a native library"
    assert {elf_machine(p) for p in libraries} == {"x86_64"}
    assert not [p for p in libraries if "aarch64" in p.name]


def test_artifact_size_is_written_down(report: dict[str, Any]) -> None:
    write_report(report)
    stored = json.loads(REPORT.read_text(encoding="utf-8"))
    assert stored["unzipped_bytes"] > stored["zipped_bytes"] > 0
    assert stored["unzipped_bytes"] < MAX_UNZIPPED_BYTES, stored["largest_top_level"]


def smoke(artifact: Path, runtime: Path, tracing: bool) -> dict[str, Any]:
    env = {**ENV_FOR_IMPORT, "POWERTOOLS_TRACE_DISABLED": "false" if tracing else "true"}
    env["PATH"] = os.environ.get("PATH", "")
    env["PYENV_VERSION"] = "3.13.0"  # in case python3.13 is a pyenv shim
    result = subprocess.run(
        # -B: Lambda's /var/task is read-only, so no bytecode is written there (and the artifact
        # checks, in any order, find none).
        [python313(), "-I", "-S", "-B", "-c", SMOKE, str(artifact), str(runtime)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
        cwd=artifact,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def runtime_provided(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What Lambda's python3.13 runtime puts on sys.path after the function's code."""
    import boto3

    site = Path(boto3.__file__).resolve().parents[1]
    shim = tmp_path_factory.mktemp("runtime")
    for name in PROVIDED_BY_RUNTIME:
        if (site / name).exists():
            (shim / name).symlink_to(site / name)
    return shim


def test_handler_imports_from_the_artifact_with_python313(
    artifact: Path, runtime_provided: Path, report: dict[str, Any]
) -> None:
    off = [smoke(artifact, runtime_provided, tracing=False) for _ in range(3)]
    assert off[0]["python"].startswith("3.13")
    for module, origin in off[0]["origins"].items():
        assert origin and origin.startswith(str(artifact)), (module, origin)
    on = [smoke(artifact, runtime_provided, tracing=True) for _ in range(3)]
    report["import_seconds_tracing_off"] = sorted(r["import_seconds"] for r in off)[1]
    report["import_seconds_tracing_on"] = sorted(r["import_seconds"] for r in on)[1]
    report["xray_imported_tracing_off"] = off[0]["xray_imported"]
    write_report(report)
    assert not off[0]["xray_imported"], "with tracing off the X-Ray SDK must not be imported"


def test_built_template_is_deployable(build_dir: Path) -> None:
    resources = load_template(build_dir / "template.yaml")["Resources"]
    assert resources["SsoFunction"]["Properties"]["CodeUri"] == "SsoFunction"
    assert resources["SsoFunction"]["Properties"]["AutoPublishAlias"] == "live"
    location = resources["Monitoring"]["Properties"]["Location"]
    assert (build_dir / location).is_file(), location
