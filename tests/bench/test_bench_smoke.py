"""The `make bench` machinery with tiny sample counts: it works, and the calls are counted right.

No timing is asserted: this machine is shared, and timings belong to `make bench`,
which reports ratios of interleaved samples. What is asserted is what does not
depend on load: every section is produced, and one fresh process serving many
requests makes exactly one GetSecretValue, one JWKS fetch and one Partner API
connection, as counted by the servers themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.bench.report import SECTIONS, chart, table, write_json
from infra.bench.run import Options, run


@pytest.fixture(scope="module")
def smoke(
    lambda_runtime_ready: None, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path]:
    out_dir = tmp_path_factory.mktemp("bench")
    report = run(Options.smoke(out_dir))
    write_json(report, out_dir / "bench.json")
    chart(report, out_dir / "bench.png")
    return report, out_dir


def test_one_secret_read_one_jwks_fetch_one_connection(smoke: tuple[dict[str, Any], Path]) -> None:
    report, _ = smoke
    calls = report["calls"]
    assert calls["requests"] == Options.smoke(Path()).calls_requests
    counts = calls["counts"]
    assert counts["get_secret_value"] == 1
    assert counts["jwks_fetches"] == 1
    assert counts["partner_api_connections"] == 1
    assert counts["partner_api_calls"] == calls["requests"]
    assert report["goals"]["calls_1_1_1"]["met"]


def test_every_section_is_measured(smoke: tuple[dict[str, Any], Path]) -> None:
    report, _ = smoke
    for section in SECTIONS:
        assert section in report
    cold = report["cold"]["variants"]
    assert set(cold) == {"reference", "ours", "ours_tracing", "ours_snapstart", "ours_environment"}
    # Through a Lambda execution environment: INIT plus the first invocation, a 302 (checked).
    environment = cold["ours_environment"]
    assert environment["total_ms"]["n"] == 1 and environment["import_ms"]["p50"] > 0
    assert all(variant["total_ms"]["n"] >= 1 for variant in cold.values())
    # Tracing off never loads the X-Ray SDK; on, it does and segments reach the daemon address.
    assert not cold["ours"]["xray_loaded"] and cold["ours_tracing"]["xray_loaded"]
    assert report["cold"]["xray_datagrams"] > 0
    assert not any(variant["pydantic_loaded"] for variant in cold.values())
    assert report["importtime"]["top_packages_self_ms"]
    for key in ("warm", "warm_replay"):
        stats = report[key]["stats"]
        assert {name: stats[name]["n"] for name in stats} == {
            "ours": report["warm"]["requests"],
            "reference": report["warm"]["requests"],
            "floor": report["warm"]["requests"],
        }
    # With one-time links on, ours and the reference each wrote one item per request (warm-up included).
    warmup_and_requests = report["options"]["warmup"] + report["warm"]["requests"]
    assert report["warm_replay"]["put_items"] == 2 * warmup_and_requests
    assert report["warm"]["put_items"] == 0
    assert report["memory"]["requests"] == Options.smoke(Path()).memory_requests
    assert report["memory"]["peak_rss_mb_after_n"] > 0
    assert report["artifact"]["source"] == "skipped"


def test_cold_under_latency_opens_one_connection_per_host_and_always_redirects(
    smoke: tuple[dict[str, Any], Path],
) -> None:
    """Section 1b: every child checked its 302 (or the run would have failed); the proxies counted."""
    report, _ = smoke
    section = report["cold_latency"]
    assert section["python"].startswith("3.")
    assert set(section["profile"]) == {"secrets_manager", "dynamodb", "identity_provider", "partner_api"}
    for links, dynamodb in (("off", 0), ("on", 1)):
        part = section[f"links_{links}"]
        assert set(part["variants"]) == {
            "reference",
            "ours_sequential",
            "ours",
            "reference_registry",
            "ours_registry",
            "reference_lti",
            "lti_launch",
        }
        expected = {
            "secrets_manager": 1,
            "identity_provider": 1,
            "partner_api": 1,
            "dynamodb": dynamodb,
            "learning_platform": 0,
            "environment_identity_provider": 0,
            "environment_partner_api": 0,
        }
        for name in ("reference", "ours_sequential", "ours"):
            assert part["expected_connections"][name] == expected, name
        # Ours with the prefetch too: the connection INIT opened is the one the request used.
        for name, rows in part["samples"].items():
            assert [row["connections"] for row in rows] == [part["expected_connections"][name]] * len(rows), (
                name
            )
        assert part["unexpected_connections"] == []
        assert report["goals"][f"cold_latency_one_connection_per_host_links_{links}"]["met"]


def test_cold_under_latency_measures_a_registry_partner_and_an_lti_launch(
    smoke: tuple[dict[str, Any], Path],
) -> None:
    """The registry row's sign-in went through the registry (GetItem, and its partner's own hosts
    only through the prefetch); the LTI row's launch reached the platform's JWKS and DynamoDB.
    Each is judged against the bare reference of its own flow, which made the same round trips."""
    report, _ = smoke
    for links in ("off", "on"):
        part = report["cold_latency"][f"links_{links}"]
        registry = part["samples"]["ours_registry"] + part["samples"]["reference_registry"]
        launch = part["samples"]["lti_launch"] + part["samples"]["reference_lti"]
        assert len(registry) == len(launch) == 2 * Options.smoke(Path()).latency_flow_samples
        for row in part["samples"]["ours_registry"]:
            # The environment partner's hosts see INIT's prefetch only.
            assert row["connections"]["environment_identity_provider"] == 1
            assert row["connections"]["environment_partner_api"] == 1
        for row in registry:
            # The registry's GetItem and the partner's secret: one DynamoDB, one Secrets Manager connection.
            assert row["connections"]["dynamodb"] == row["connections"]["secrets_manager"] == 1
            assert row["connections"]["identity_provider"] == row["connections"]["partner_api"] == 1
        for row in part["samples"]["reference_registry"]:
            assert row["connections"]["environment_identity_provider"] == 0
            assert row["connections"]["environment_partner_api"] == 0
        for name, reference in (
            ("reference", "reference"),
            ("ours", "reference"),
            ("ours_registry", "reference_registry"),
            ("reference_registry", "reference_registry"),
            ("lti_launch", "reference_lti"),
        ):
            row = part["variants"][name]
            assert row["ratio_to"] == reference
            ratio = row["total_ms"]["p50"] / part["variants"][reference]["total_ms"]["p50"]
            assert row["ratio"]["p50"] == pytest.approx(ratio)
        for goal in (
            "cold_latency_ratio_p50",
            "cold_latency_registry_ratio_p50",
            "cold_latency_lti_ratio_p50",
        ):
            assert f"{goal}_links_{links}" in report["goals"]
        for row in launch:
            # The platform's key set, the state's write and use, one Partner API connection.
            assert row["connections"]["learning_platform"] == 1
            assert row["connections"]["dynamodb"] == 1
            assert row["connections"]["partner_api"] == 1
            # A launch-only deployment: no partner JWKS (nor discovery) fetched, not even by INIT.
            assert row["connections"]["identity_provider"] == 0
            assert row["login_ms"] > 0 and row["launch_ms"] > 0
            assert row["total_ms"] == pytest.approx(row["import_ms"] + row["login_ms"] + row["launch_ms"])
        differences = part["differences"]
        ours = part["variants"]["ours"]["total_ms"]["p50"]
        assert differences["registry_cost_ms_p50"] == pytest.approx(
            part["variants"]["ours_registry"]["total_ms"]["p50"] - ours
        )
        assert differences["lti_launch_to_partner_ratio_p50"] == pytest.approx(
            part["variants"]["lti_launch"]["total_ms"]["p50"] / ours
        )
    text = table(report)
    assert "the registry's cost on a cold sign-in" in text
    assert "LTI launch to the 302:" in text
    assert "registry partner <= 0.85x:" in text and "LTI launch <= 0.85x:" in text


def test_outputs_are_written(smoke: tuple[dict[str, Any], Path]) -> None:
    report, out_dir = smoke
    written = json.loads((out_dir / "bench.json").read_text())
    assert set(SECTIONS) <= set(written)
    assert (out_dir / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = table(report)
    for heading in (
        "1. Cold start",
        "1b. Cold start under latency",
        "2. Warm requests, replay protection off",
        "replay protection on",
        "3. Calls counted at the servers",
        "4. Memory",
        "5. Artifact",
    ):
        assert heading in text


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ("internet=100/100", "unknown host 'internet'; hosts: secrets_manager, dynamodb"),
        ("partner_api=fast", "a delay is CONNECTION_MS/REQUEST_MS, e.g. 100/100, not 'fast'"),
    ],
)
def test_a_wrong_latency_profile_is_refused_before_anything_runs(
    change: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from infra.bench.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--latency", change, "--out-dir", "/nonexistent/never-written"])

    assert exit_info.value.code == 2
    assert says in capsys.readouterr().err
