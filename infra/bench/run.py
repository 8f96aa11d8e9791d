"""The bench's measurements: each one runs child processes against a ``BenchStack``.

Every comparison is made in the same run, interleaved, and reported as a ratio
of medians (or of 90th/99th percentiles), so the noise of a shared machine
cancels out as far as it can. Absolute times are reported too, for context.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import urllib3

from handler.partner_record import LOOPBACK_BASE_URLS, PARTNER_KIND, SECRET_PREFIX, parse_partner_record
from infra.bench.child import HOST as CHILD_HOST
from infra.bench.child import check, event_for
from infra.bench.latency import DEFAULT_PROFILE, Delay, LatencyNetwork, ProxiedIdentityProvider
from infra.bench.servers import AUDIENCE, REGION, REPOSITORY_ROOT, TOKEN_LIFETIME_SECONDS, BenchStack
from infra.bench.storage import measure_platform_storage
from infra.local.environments import FunctionRuntime, ProcessEnvironment
from infra.local.moto_secrets import (
    api_key_secret_value,
    create_registry_table,
    create_replay_table,
    put_secret,
)
from infra.local.sam_template import read_function_spec
from infra.local.sandbox_lms import CLIENT_ID, DEPLOYMENT_ID, STUDENTS, SandboxLms

CHILD = REPOSITORY_ROOT / "infra" / "bench" / "child.py"
RUNTIME_PYTHON = REPOSITORY_ROOT / ".venv-3.13" / "bin" / "python"  # make runtime-venv
BUILD_DIR = REPOSITORY_ROOT / "build"

GOALS = {
    "cold_ratio_p50": 1.15,
    # Each flow against the bare sequential reference doing its own round trips (reference.py).
    "cold_latency_ratio_p50": 0.75,
    "cold_latency_registry_ratio_p50": 0.85,
    "cold_latency_lti_ratio_p50": 0.85,
    "warm_ratio_p99": 1.5,
    "peak_rss_mb": 100.0,
    "rss_growth_percent": 5.0,
}


@dataclass(frozen=True)
class Options:
    """Sample counts (``full`` for ``make bench``, ``smoke`` for the test) and where to write."""

    cold_samples: int = 15
    cold_warmup: bool = True  # one discarded cold run per variant (compiles .pyc, warms the page cache)
    tracing_samples: int = 15
    snapstart_samples: int = 10
    # Lambda's own path without Docker: the built artifact in a new execution environment
    # (awslambdaric on Python 3.13, infra/local/environments.py); 0 leaves the row out.
    environment_samples: int = 10
    warm_requests: int = 2000
    warmup: int = 100
    block: int = 100
    calls_requests: int = 1000
    memory_requests: int = 5000
    importtime: bool = True
    artifact: str = "build"  # build: run the packaging script; file: read build/artifact.json; skip
    python: str = sys.executable
    out_dir: Path = BUILD_DIR
    chart: bool = True
    # Cold under latency (LatencyNetwork): fresh processes of ``latency_python`` (Lambda's
    # Python, 3.13) per variant and one-time link setting; 0 leaves the section out.
    latency_samples: int = 10
    latency_python: str = str(RUNTIME_PYTHON) if RUNTIME_PYTHON.exists() else sys.executable
    latency_profile: tuple[tuple[str, Delay], ...] = tuple(DEFAULT_PROFILE.items())
    # Its registry-partner and LTI-launch rows (LATENCY_VARIANTS), per one-time link setting; 0: left out.
    latency_flow_samples: int = 10
    # Platform Storage's pages in Chromium beside the cookie path (infra/bench/storage.py); 0: left out.
    storage_samples: int = 20

    @classmethod
    def smoke(cls, out_dir: Path) -> Options:
        return cls(
            cold_samples=2,
            cold_warmup=False,
            tracing_samples=1,
            snapstart_samples=1,
            environment_samples=1,
            warm_requests=50,
            warmup=5,
            block=10,
            calls_requests=50,
            memory_requests=50,
            importtime=True,
            artifact="skip",
            out_dir=out_dir,
            chart=True,
            latency_samples=1,
            latency_flow_samples=1,
            storage_samples=1,
        )


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "min": min(values) if values else float("nan"),
    }


class Runner:
    """Runs child processes against the stack; keeps the scratch directory."""

    def __init__(self, stack: BenchStack, options: Options, scratch: Path) -> None:
        self.stack = stack
        self.options = options
        self.scratch = scratch
        self._number = 0

    def child(
        self,
        spec: dict[str, Any],
        environment: dict[str, str],
        python_flags: tuple[str, ...] = (),
        python: str | None = None,
    ) -> tuple[dict[str, Any], float, str]:
        """Run one child; its result, its wall time (ms) and its stderr.

        ``spec["base_url"]`` is where its 302 must point (default: the sandbox Big Interview).
        """
        self._number += 1
        spec_path = self.scratch / f"spec-{self._number}.json"
        out = self.scratch / f"out-{self._number}.json"
        spec_path.write_text(json.dumps({"base_url": self.stack.big_interview.url, **spec, "out": str(out)}))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(self.scratch)),
            "PYTHONPATH": str(REPOSITORY_ROOT),
            "LANG": "C.UTF-8",
            **environment,
        }
        log = self.scratch / f"stdout-{self._number}.log"
        started = time.perf_counter()
        with log.open("w") as stdout:  # the handler's log lines and EMF metrics
            process = subprocess.run(
                [python or self.options.python, *python_flags, str(CHILD), str(spec_path)],
                env=env,
                stdout=stdout,
                stderr=subprocess.PIPE,
                text=True,
                timeout=300,
                check=False,
            )
        wall_ms = (time.perf_counter() - started) * 1000
        if process.returncode != 0 or not out.exists():
            raise RuntimeError(
                f"bench child {spec['mode']} failed ({process.returncode}):\n{process.stderr[-3000:]}\n"
                f"its last log lines:\n{log.read_text()[-3000:]}"
            )
        return json.loads(out.read_text()), wall_ms, process.stderr

    def python_version(self, python: str) -> str:
        return subprocess.run(
            [python, "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()


def write_tokens(path: Path, tokens: list[str]) -> Path:
    path.write_text("\n".join(tokens) + "\n")
    return path


def measure_cold(runner: Runner, tokens: list[str]) -> dict[str, Any]:
    """Fresh processes, interleaved: reference, ours, ours with tracing on, reference, ..."""
    options, stack = runner.options, runner.stack
    variants: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        ("reference", {"target": "reference"}, stack.child_environment()),
        ("ours", {"target": "ours"}, stack.child_environment()),
    ]
    if options.tracing_samples:
        variants.append(("ours_tracing", {"target": "ours"}, stack.child_environment(tracing=True)))
    if options.snapstart_samples:
        variants.append(("ours_snapstart", {"target": "ours", "snapstart": True}, stack.child_environment()))
    if options.environment_samples:
        variants.append(("ours_environment", {"target": "environment"}, stack.child_environment()))
    wanted = {
        "reference": options.cold_samples,
        "ours": options.cold_samples,
        "ours_tracing": options.tracing_samples,
        "ours_snapstart": options.snapstart_samples,
        "ours_environment": options.environment_samples,
    }
    samples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    token_iter = iter(tokens)
    # One discarded run each: compiles the project's .pyc files and warms the OS page cache.
    for _, spec, environment in variants if options.cold_warmup else ():
        if spec["target"] == "environment":
            cold_in_environment(stack, next(token_iter), environment)
        else:
            runner.child({"mode": "cold", **spec, "token": next(token_iter)}, environment)
    datagrams_before = stack.counts()["xray_datagrams"]
    for round_number in range(max(wanted.values())):
        for name, spec, environment in variants:
            if round_number >= wanted[name]:
                continue
            if spec["target"] == "environment":
                samples[name].append(cold_in_environment(stack, next(token_iter), environment))
                continue
            result, wall_ms, _ = runner.child(
                {"mode": "cold", **spec, "token": next(token_iter)}, environment
            )
            samples[name].append({**result, "process_ms": wall_ms})
    report: dict[str, Any] = {"samples": dict(samples), "variants": {}}
    for name, rows in samples.items():
        report["variants"][name] = {
            field: summary([row[field] for row in rows])
            for field in ("import_ms", "first_request_ms", "total_ms", "process_ms")
        } | {
            "peak_rss_mb": summary([row["VmHWM"] / 1024 for row in rows]),
            "pydantic_loaded": any(row["pydantic_loaded"] for row in rows),
            "xray_loaded": any(row["xray_loaded"] for row in rows),
        }
    reference = report["variants"]["reference"]["total_ms"]
    for name in report["variants"]:
        total = report["variants"][name]["total_ms"]
        report["variants"][name]["ratio"] = {
            "p50": total["p50"] / reference["p50"],
            "p90": total["p90"] / reference["p90"],
        }
    report["xray_datagrams"] = stack.counts()["xray_datagrams"] - datagrams_before
    return report


@dataclass(frozen=True)
class LatencyVariant:
    """One row of the cold-under-latency section: which target, how Lambda starts it, which sign-in."""

    name: str
    target: str  # "reference" or "ours"
    initialization_type: str | None  # Lambda's AWS_LAMBDA_INITIALIZATION_TYPE
    flow: str = "sso"  # "sso": the environment's partner; "registry": a registry partner; "lti": a launch


LATENCY_VARIANTS: tuple[LatencyVariant, ...] = (
    LatencyVariant("reference", "reference", None),  # the bare redirector: every step in turn
    # The bare redirector's registry partner (its GetItem first) and LTI launch (the state's
    # write and use): each flow's own floor, which its row's ratio is taken against.
    LatencyVariant("reference_registry", "reference", None, "registry"),
    LatencyVariant("reference_lti", "reference", None, "lti"),
    LatencyVariant("ours_sequential", "ours", None),  # ours without the INIT prefetch (the gate closed)
    LatencyVariant("ours", "ours", "on-demand"),  # ours as Lambda starts it on demand: the prefetch overlaps
    # The same sign-in by a partner found in the registry table, not the environment's: the
    # difference to "ours" is the registry's cost on a cold sign-in (lookup, validation, wiring;
    # its key set, secret and Partner API handshake then start side by side).
    LatencyVariant("ours_registry", "ours", "on-demand", "registry"),
    # An LTI launch, from a real platform (infra.local.sandbox_lms): /lti/login, then /lti/launch.
    LatencyVariant("lti_launch", "ours", "on-demand", "lti"),
)
# Each proxy ("host") of the section, and the profile's delay it takes.
LATENCY_HOSTS = {
    "secrets_manager": "secrets_manager",
    "dynamodb": "dynamodb",
    "identity_provider": "identity_provider",
    "partner_api": "partner_api",
    # The learning platform's JWKS (its identity provider's role in a launch).
    "learning_platform": "identity_provider",
    # Registry rows: the environment's own partner, elsewhere (its own IdP and org); the INIT
    # prefetch goes there, while the registry partner's sign-in uses the four hosts above.
    "environment_identity_provider": "identity_provider",
    "environment_partner_api": "partner_api",
}
REGISTRY_TABLE = "bi-sso-bench-partners"
REGISTRY_PARTNER = "bench-registry"
LTI_STATE_TABLE = "bi-sso-bench-lti-states"
ENVIRONMENT_PARTNER_ISSUER = "https://environment-partner.example"


def expected_connections(flow: str, links: str, target: str = "ours") -> dict[str, int]:
    """New connections a cold start of ``flow`` opens per host: one per host it needs, plus known extras.

    Every flow reads the API key and calls the Partner API; the partner flows fetch
    discovery and the JWKS from the identity provider, a launch the platform's JWKS.
    DynamoDB: the one-time links (links on), the registry's GetItem, the launch's state
    (written at login, used at launch: one client, one connection).

    Ours only, from the on-demand INIT prefetch, which knows what the environment wires
    (its partner, and its LTI platform): in the registry rows it opens one connection to each
    of the environment partner's own hosts (its Secrets Manager and DynamoDB connections are
    the shared clients' own, which the registry partner's reads then use). The LTI rows are a
    launch-only deployment: nothing of the partner flow is fetched.
    """
    needs = {"secrets_manager", "partner_api"}
    needs.add("learning_platform" if flow == "lti" else "identity_provider")
    if links == "on" or flow in ("registry", "lti"):
        needs.add("dynamodb")
    if target == "ours" and flow == "registry":
        needs |= {"environment_identity_provider", "environment_partner_api"}
    return {host: int(host in needs) for host in LATENCY_HOSTS}


# Each flow's own floor: the reference row its rows' ratios are taken against.
REFERENCE_OF_FLOW = {"sso": "reference", "registry": "reference_registry", "lti": "reference_lti"}


def measure_cold_latency(runner: Runner) -> dict[str, Any]:
    """Fresh processes, interleaved, with latency on every hop; one-time links off, then on.

    Each dependency sits behind its own ``LatencyProxy`` (HTTPS, the profile's delays), the
    identity provider is reached by OIDC discovery, and each sample's connections are
    counted at the proxies: a cold start should open exactly one per host it needs.
    """
    options, stack = runner.options, runner.stack
    profile = dict(options.latency_profile)
    network = LatencyNetwork(runner.scratch)
    identity_provider = ProxiedIdentityProvider(
        audience=AUDIENCE, port=0, token_lifetime_seconds=TOKEN_LIFETIME_SECONDS
    )
    identity_provider.start()
    lms = SandboxLms(tool_url=f"https://{CHILD_HOST}")
    lms.start()
    try:
        upstreams = {
            "secrets_manager": stack.moto.url,
            "dynamodb": stack.moto.url,
            "identity_provider": identity_provider.url,
            "partner_api": stack.big_interview.url,
            "learning_platform": lms.url,
            "environment_identity_provider": identity_provider.url,
            "environment_partner_api": stack.big_interview.url,
        }
        proxies = {
            host: network.add(host, upstreams[host], profile[delay]) for host, delay in LATENCY_HOSTS.items()
        }
        identity_provider.public_url = proxies["identity_provider"].url
        partner_api = proxies["partner_api"]
        # The registry partner: the identity provider above (by discovery), the same org, its
        # API key under the prefix the function's role may read in registry mode.
        registry_secret = f"{SECRET_PREFIX}sandbox/{REGISTRY_PARTNER}-api-key"  # its org's folder
        put_secret(stack.secrets_client(), registry_secret, api_key_secret_value(stack.api_key))
        record = {
            "kind": PARTNER_KIND,
            "partner": REGISTRY_PARTNER,
            "issuer": identity_provider.issuer,
            "audience": AUDIENCE,
            "bi_org": "sandbox",
            "bi_base_url": partner_api.url,
            "api_key_secret_id": registry_secret,
            "max_age_seconds": 3600,  # as the environment's JWT_MAX_AGE_SECONDS: the bench's tokens
            "enabled": True,
        }
        # A bad record fails here (by the local stack's rules: its Partner API is on loopback).
        parse_partner_record(identity_provider.issuer, json.dumps(record), loopback_base_urls=True)
        create_registry_table(REGION, stack.moto.url, REGISTRY_TABLE).put_item(
            TableName=REGISTRY_TABLE,
            Item={"issuer": {"S": identity_provider.issuer}, "value": {"S": json.dumps(record)}},
        )
        create_replay_table(REGION, stack.moto.url, LTI_STATE_TABLE)  # the state table's shape
        student = next(iter(STUDENTS))
        report: dict[str, Any] = {
            "profile": {
                name: {"connection_ms": d.connection_ms, "request_ms": d.request_ms}
                for name, d in profile.items()
            },
            "python": runner.python_version(options.latency_python),
        }
        for links in ("off", "on"):
            environment = stack.child_environment(replay=links == "on")
            del environment["AWS_ENDPOINT_URL"], environment["JWT_JWKS_URL"]  # discovery, as partners do
            environment |= network.environment() | {
                "AWS_ENDPOINT_URL_SECRETS_MANAGER": proxies["secrets_manager"].url,
                "AWS_ENDPOINT_URL_DYNAMODB": proxies["dynamodb"].url,
                "BI_BASE_URL": partner_api.url,
                "JWT_ISSUER": identity_provider.issuer,
            }
            environments = {
                "sso": environment,
                "registry": environment
                | {
                    "PARTNER_REGISTRY_TABLE": REGISTRY_TABLE,
                    LOOPBACK_BASE_URLS: "true",
                    "JWT_ISSUER": ENVIRONMENT_PARTNER_ISSUER,
                    "JWT_JWKS_URL": f"{proxies['environment_identity_provider'].url}/.well-known/jwks.json",
                    "BI_BASE_URL": proxies["environment_partner_api"].url,
                },
                # A launch-only deployment: no environment partner (JWT_ISSUER empty).
                "lti": environment
                | {
                    "JWT_ISSUER": "",
                    "JWT_AUDIENCE": "",
                    "LTI_STATE_TABLE_NAME": LTI_STATE_TABLE,
                    "LTI_ISSUER": lms.issuer,
                    "LTI_CLIENT_ID": CLIENT_ID,
                    "LTI_DEPLOYMENT_IDS": DEPLOYMENT_ID,
                    "LTI_AUTH_URL": lms.auth_url,
                    "LTI_JWKS_URL": f"{proxies['learning_platform'].url}/jwks",
                },
            }
            report[f"links_{links}"] = _cold_latency_samples(
                runner,
                identity_provider,
                network,
                environments,
                partner_api.url,
                links,
                lambda: platform_login(lms, student),
                lms.auth_url,
            )
        return report
    finally:
        network.stop()
        lms.stop()
        identity_provider.stop()


def platform_login(lms: SandboxLms, student: str) -> dict[str, str]:
    """The platform's login initiation for ``student`` (its course page's link): the query it sends."""
    answer = urllib3.request(
        "GET", f"{lms.url}/launch?{urlencode({'user': student, 'link': 'big-interview'})}", redirect=False
    )
    location = answer.headers.get("Location", "")
    if answer.status != 302 or not location.startswith(f"https://{CHILD_HOST}/lti/login?"):
        raise RuntimeError(f"the sandbox platform's login initiation failed: {answer.status} {location!r}")
    return dict(parse_qsl(urlsplit(location).query))


def _cold_latency_samples(
    runner: Runner,
    identity_provider: ProxiedIdentityProvider,
    network: LatencyNetwork,
    environments: dict[str, dict[str, str]],
    base_url: str,
    links: str,
    login_initiation: Callable[[], dict[str, str]],
    auth_url: str,
) -> dict[str, Any]:
    options = runner.options
    wanted = {
        variant.name: options.latency_samples if variant.flow == "sso" else options.latency_flow_samples
        for variant in LATENCY_VARIANTS
    }
    variants_run = [variant for variant in LATENCY_VARIANTS if wanted[variant.name]]
    tokens = iter(
        identity_provider.mint_token(
            f"bench-user-{i}", given_name="Bench", family_name="Cold", email="c@example.com"
        )
        for i in range(len(LATENCY_VARIANTS) * (max(wanted.values()) + 1))
    )

    def sample(variant: LatencyVariant) -> tuple[dict[str, Any], dict[str, int]]:
        variables = dict(environments[variant.flow])
        if variant.initialization_type is not None:
            variables["AWS_LAMBDA_INITIALIZATION_TYPE"] = variant.initialization_type
        spec: dict[str, Any] = {"mode": "cold", "target": variant.target, "base_url": base_url}
        if variant.flow == "lti":
            spec["lti"] = {"login": login_initiation(), "auth_url": auth_url}
        else:
            spec["token"] = next(tokens)
        before = network.connections()
        result, wall_ms, _ = runner.child(spec, variables, python=options.latency_python)
        after = network.connections()  # the child checked its 302 to base_url
        return {**result, "process_ms": wall_ms}, {host: after[host] - before[host] for host in after}

    if options.cold_warmup:  # one discarded run each: .pyc files, the page cache
        for variant in variants_run:
            sample(variant)
    samples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    unexpected: list[dict[str, Any]] = []
    expected = {
        variant.name: expected_connections(variant.flow, links, variant.target) for variant in variants_run
    }
    for round_number in range(max(wanted.values())):
        for variant in variants_run:
            if round_number >= wanted[variant.name]:
                continue
            result, connections = sample(variant)
            samples[variant.name].append({**result, "connections": connections})
            if connections != expected[variant.name]:
                unexpected.append({"variant": variant.name, "connections": connections})
    variants: dict[str, Any] = {
        name: {
            field: summary([row[field] for row in rows])
            for field in ("import_ms", "first_request_ms", "total_ms", "process_ms")
            + (("login_ms", "launch_ms", "platform_ms") if name in ("lti_launch", "reference_lti") else ())
        }
        for name, rows in samples.items()
    }
    flows = {variant.name: variant.flow for variant in variants_run}
    for name, row in variants.items():
        # Against the reference of its own flow when it was measured, else the partner flow's.
        reference_name = REFERENCE_OF_FLOW[flows[name]]
        reference_name = reference_name if reference_name in variants else "reference"
        reference = variants[reference_name]["total_ms"]
        row["ratio_to"] = reference_name
        row["ratio"] = {
            "p50": row["total_ms"]["p50"] / reference["p50"],
            "p90": row["total_ms"]["p90"] / reference["p90"],
        }
    # What the issues ask for, in milliseconds at the median, against ours on an on-demand INIT.
    ours = variants["ours"]["total_ms"]["p50"]
    differences: dict[str, float] = {}
    if "ours_registry" in variants:
        differences["registry_cost_ms_p50"] = variants["ours_registry"]["total_ms"]["p50"] - ours
    if "lti_launch" in variants:
        differences["lti_launch_minus_partner_ms_p50"] = variants["lti_launch"]["total_ms"]["p50"] - ours
        differences["lti_launch_to_partner_ratio_p50"] = variants["lti_launch"]["total_ms"]["p50"] / ours
    return {
        "variants": variants,
        "samples": dict(samples),
        "expected_connections": expected,
        "unexpected_connections": unexpected,
        "differences": differences,
    }


def cold_in_environment(stack: BenchStack, token: str, variables: dict[str, str]) -> dict[str, Any]:
    """One cold start the way Lambda runs the function: process start to the first invocation's 302.

    A new execution environment (the built artifact under awslambdaric, its own
    process): ``import_ms`` is its INIT (the runtime's start and the handler's import,
    until it asks for the first event), ``first_request_ms`` the invocation through the
    Runtime API, ``total_ms`` both; the peak RSS is the process's (REPORT's Max Memory Used).
    """
    function = read_function_spec(REPOSITORY_ROOT / "template.yaml")
    runtime = FunctionRuntime.for_function(function, variables, region=variables["AWS_REGION"])
    environment = ProcessEnvironment(runtime, log_sink=lambda lines: None)
    started = time.perf_counter()
    try:
        environment.start()
        initialised = time.perf_counter()
        result = environment.invoke(json.dumps(event_for(token, 0)).encode())
        finished = time.perf_counter()
    finally:
        environment.stop()
    check(result.json(), stack.big_interview.url)
    total_ms = (finished - started) * 1000
    return {
        "import_ms": (initialised - started) * 1000,
        "first_request_ms": (finished - initialised) * 1000,
        "total_ms": total_ms,
        "process_ms": total_ms,
        "VmHWM": result.report.max_memory_used_mb * 1024,
        "pydantic_loaded": False,  # not observable from outside; the in-process rows tell
        "xray_loaded": False,
    }


def measure_importtime(runner: Runner, token: str, top: int = 10) -> dict[str, Any]:
    """``-X importtime`` of our import and first request: self time summed per top-level package."""
    _, _, stderr = runner.child(
        {"mode": "cold", "target": "ours", "token": token},
        runner.stack.child_environment(),
        python_flags=("-X", "importtime"),
    )
    per_package: dict[str, float] = defaultdict(float)
    cumulative: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, self_us, cumulative_us, name = (
            part.strip() for part in line.replace("import time:", "|").split("|")
        )
        module = name.strip()
        per_package[module.split(".")[0]] += int(self_us) / 1000
        cumulative[module] = max(cumulative.get(module, 0.0), int(cumulative_us) / 1000)
    ranked = sorted(per_package.items(), key=lambda item: item[1], reverse=True)
    return {
        "top_packages_self_ms": [{"package": name, "ms": round(ms, 1)} for name, ms in ranked[:top]],
        "total_ms": round(sum(per_package.values()), 1),
        "top_modules_cumulative_ms": [
            {"module": name, "ms": round(ms, 1)}
            for name, ms in sorted(cumulative.items(), key=lambda item: item[1], reverse=True)[:top]
        ],
    }


def measure_warm(runner: Runner, tokens_file: Path, *, replay: bool) -> dict[str, Any]:
    options = runner.options
    counts_before = runner.stack.counts()
    result, _, _ = runner.child(
        {
            "mode": "warm",
            "tokens": str(tokens_file),
            "requests": options.warm_requests,
            "warmup": options.warmup,
            "block": options.block,
            "api_key": runner.stack.api_key,
        },
        runner.stack.child_environment(replay=replay),
    )
    counts_after = runner.stack.counts()
    latencies = result["latencies_ms"]
    stats = {name: summary(values) for name, values in latencies.items()}
    ours, reference, floor = stats["ours"], stats["reference"], stats["floor"]
    return {
        "replay": replay,
        "requests": options.warm_requests,
        "stats": stats,
        "ratio_to_reference": {"p50": ours["p50"] / reference["p50"], "p99": ours["p99"] / reference["p99"]},
        "ratio_to_floor": {"p50": ours["p50"] / floor["p50"], "p99": ours["p99"] / floor["p99"]},
        "reference_to_floor": {
            "p50": reference["p50"] / floor["p50"],
            "p99": reference["p99"] / floor["p99"],
        },
        "put_items": counts_after["put_item"] - counts_before["put_item"],
        "latencies_ms": latencies,
    }


def measure_calls(runner: Runner, tokens_file: Path) -> dict[str, Any]:
    """Server-side counts for one fresh process serving ``calls_requests`` requests."""
    before = runner.stack.counts()
    result, _, _ = runner.child(
        {"mode": "calls", "tokens": str(tokens_file), "requests": runner.options.calls_requests},
        runner.stack.child_environment(),
    )
    after = runner.stack.counts()
    delta = {name: after[name] - before[name] for name in after}
    requests = result["requests"]
    return {
        "requests": requests,
        "counts": delta,
        "per_1000": {name: round(value * 1000 / requests, 2) for name, value in delta.items()},
    }


def measure_memory(runner: Runner, tokens_file: Path) -> dict[str, Any]:
    result, _, _ = runner.child(
        {"mode": "memory", "tokens": str(tokens_file), "requests": runner.options.memory_requests},
        runner.stack.child_environment(),
    )
    after_one = result["after_1"]["VmHWM"] / 1024
    after_n = result["after_n"]["VmHWM"] / 1024
    return {
        "requests": result["requests"],
        "peak_rss_mb_after_1": after_one,
        "peak_rss_mb_after_n": after_n,
        "rss_mb_after_n": result["after_n"]["VmRSS"] / 1024,
        "growth_percent": (after_n - after_one) / after_one * 100,
    }


def directory_sizes(root: Path) -> dict[str, Any]:
    files = [path for path in root.rglob("*") if path.is_file()]
    unzipped = sum(path.stat().st_size for path in files)
    with tempfile.TemporaryFile() as archive:
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for path in sorted(files):
                bundle.write(path, path.relative_to(root))
        zipped = archive.tell()
    return {"files": len(files), "unzipped_bytes": unzipped, "zipped_bytes": zipped}


def measure_artifact(mode: str, out_dir: Path) -> dict[str, Any]:
    """``build``: run the script ``sam build`` runs for the function; ``file``: read artifact.json."""
    if mode == "skip":
        return {"source": "skipped"}
    if mode == "build":
        target = out_dir / "bench-sam"
        started = time.perf_counter()
        process = subprocess.run(
            [str(REPOSITORY_ROOT / "infra" / "deploy" / "build-function.sh"), str(target)],
            env={**os.environ, "ARCHITECTURE": os.environ.get("ARCHITECTURE", "arm64")},
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        if process.returncode == 0:
            built = target.resolve()  # --out-dir may be relative, or outside the repository
            shown = built.relative_to(REPOSITORY_ROOT) if built.is_relative_to(REPOSITORY_ROOT) else built
            return {
                "source": f"infra/deploy/build-function.sh {shown} (what `sam build` runs for SsoFunction)",
                "architecture": os.environ.get("ARCHITECTURE", "arm64"),
                "seconds": round(time.perf_counter() - started, 1),
                **directory_sizes(target),
            }
        failure = process.stderr.strip().splitlines()[-1:] or ["?"]
        fallback = measure_artifact("file", out_dir)
        return {**fallback, "build_failed": failure[0]}
    artifact_json = out_dir / "artifact.json"
    if artifact_json.exists():
        return {
            "source": str(artifact_json.relative_to(REPOSITORY_ROOT)),
            **json.loads(artifact_json.read_text()),
        }
    return {"source": "unavailable (no build, no build/artifact.json)"}


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
        "platform": platform.platform(),
    }


def run(options: Options) -> dict[str, Any]:
    """Every measurement, in order; the report as a dict (also written as JSON)."""
    started = time.perf_counter()
    options.out_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"machine": machine(), "options": {}}
    report["machine"]["python"] = subprocess.run(
        [options.python, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    report["options"] = {
        name: getattr(options, name)
        for name in (
            "cold_samples",
            "tracing_samples",
            "snapstart_samples",
            "environment_samples",
            "warm_requests",
            "warmup",
            "block",
            "calls_requests",
            "memory_requests",
            "artifact",
            "latency_samples",
            "latency_flow_samples",
            "storage_samples",
        )
    }
    # The artifact first: packaging is CPU-heavy and must not overlap a timing.
    report["artifact"] = measure_artifact(options.artifact, options.out_dir)
    stack = BenchStack()
    scratch = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        stack.start()
        per_side = options.warm_requests + options.warmup
        tokens = stack.mint(2 * per_side)
        tokens_file = write_tokens(scratch / "tokens.txt", tokens)
        runner = Runner(stack, options, scratch)
        cold_tokens = stack.mint(
            5
            + options.cold_samples * 2
            + options.tracing_samples
            + options.snapstart_samples
            + options.environment_samples
            + 1
        )
        report["cold"] = measure_cold(runner, cold_tokens)
        if options.latency_samples:
            report["cold_latency"] = measure_cold_latency(runner)
        if options.importtime:
            report["importtime"] = measure_importtime(runner, cold_tokens[-1])
        report["warm"] = measure_warm(runner, tokens_file, replay=False)
        report["warm_replay"] = measure_warm(runner, tokens_file, replay=True)
        report["calls"] = measure_calls(runner, tokens_file)
        report["memory"] = measure_memory(runner, tokens_file)
        if options.storage_samples:
            report["platform_storage"] = measure_platform_storage(options.storage_samples)
    finally:
        stack.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["goals"] = goals(report)
    return report


def goals(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    cold = report["cold"]["variants"]["ours"]["ratio"]["p50"]
    warm = report["warm"]
    memory = report["memory"]
    calls = report["calls"]["counts"]
    checks = {
        "cold_ratio_p50": (cold, cold <= GOALS["cold_ratio_p50"]),
        # Warm p50 is no longer a goal (issue 13): its gap, about 1 ms of structured logging, EMF
        # and routing, is under 1 % of a real sign-in. It is still printed beside the p99 goal.
        "warm_ratio_p99": (
            warm["ratio_to_reference"]["p99"],
            warm["ratio_to_reference"]["p99"] <= GOALS["warm_ratio_p99"],
        ),
        "peak_rss_mb": (memory["peak_rss_mb_after_n"], memory["peak_rss_mb_after_n"] < 100),
        "rss_growth_percent": (memory["growth_percent"], memory["growth_percent"] < 5),
        "calls_1_1_1": (
            (calls["get_secret_value"], calls["jwks_fetches"], calls["partner_api_connections"]),
            (calls["get_secret_value"], calls["jwks_fetches"], calls["partner_api_connections"]) == (1, 1, 1),
        ),
    }
    if "cold_latency" in report:
        for links in ("off", "on"):
            section = report["cold_latency"][f"links_{links}"]
            for variant, goal in (
                ("ours", "cold_latency_ratio_p50"),
                ("ours_registry", "cold_latency_registry_ratio_p50"),
                ("lti_launch", "cold_latency_lti_ratio_p50"),
            ):
                row = section["variants"].get(variant)
                if row is not None and row["ratio_to"] == REFERENCE_OF_FLOW[_flow_of(variant)]:
                    ratio = row["ratio"]["p50"]
                    checks[f"{goal}_links_{links}"] = (ratio, ratio <= GOALS[goal])
            checks[f"cold_latency_one_connection_per_host_links_{links}"] = (
                len(section["unexpected_connections"]),
                not section["unexpected_connections"],
            )
    result: dict[str, dict[str, Any]] = {
        name: {"value": value, "met": met} for name, (value, met) in checks.items()
    }
    for name, entry in result.items():
        if name.startswith("cold_latency_") and "_ratio_p50_links_" in name:
            entry["limit"] = GOALS[name.rsplit("_links_", 1)[0]]
    return result


def _flow_of(name: str) -> str:
    return next(variant.flow for variant in LATENCY_VARIANTS if variant.name == name)
