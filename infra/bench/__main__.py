"""``python -m infra.bench`` (``make bench``): run every measurement, print the table, write the files."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from infra.bench.latency import DEFAULT_PROFILE, Delay
from infra.bench.report import chart, table, write_json
from infra.bench.run import BUILD_DIR, Options, run


def main(argv: list[str] | None = None) -> int:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m infra.bench", description=__doc__)
    parser.add_argument("--cold-samples", type=int, default=defaults.cold_samples)
    parser.add_argument("--tracing-samples", type=int, default=defaults.tracing_samples)
    parser.add_argument("--snapstart-samples", type=int, default=defaults.snapstart_samples)
    parser.add_argument("--warm-requests", type=int, default=defaults.warm_requests)
    parser.add_argument("--calls-requests", type=int, default=defaults.calls_requests)
    parser.add_argument("--memory-requests", type=int, default=defaults.memory_requests)
    parser.add_argument(
        "--artifact",
        choices=("build", "file", "skip"),
        default=defaults.artifact,
        help="build: package the function (infra/deploy/build-function.sh); file: read build/artifact.json",
    )
    parser.add_argument("--python", default=defaults.python, help="interpreter for the child processes")
    parser.add_argument(
        "--latency-samples",
        type=int,
        default=defaults.latency_samples,
        help="cold under latency: samples per variant and one-time link setting (0: skip the section)",
    )
    parser.add_argument(
        "--latency-flow-samples",
        type=int,
        default=defaults.latency_flow_samples,
        help="cold under latency: samples of the registry-partner and LTI-launch rows, and of their "
        "own references, per one-time link setting (0: leave those rows out)",
    )
    parser.add_argument(
        "--latency-python",
        default=defaults.latency_python,
        help="interpreter of the cold-under-latency children (default: .venv-3.13, Lambda's Python)",
    )
    parser.add_argument(
        "--latency",
        action="append",
        default=[],
        metavar="HOST=CONNECTION_MS/REQUEST_MS",
        help=f"change one host's delays; hosts: {', '.join(DEFAULT_PROFILE)} "
        f"(default {', '.join(f'{host} {delay}' for host, delay in DEFAULT_PROFILE.items())})",
    )
    parser.add_argument(
        "--storage-samples",
        type=int,
        default=defaults.storage_samples,
        help="LTI Platform Storage's pages in Chromium beside the cookie path (0: skip the section)",
    )
    parser.add_argument("--out-dir", type=Path, default=BUILD_DIR)
    parser.add_argument("--smoke", action="store_true", help="tiny sample counts (what make test runs)")
    args = parser.parse_args(argv)
    profile = dict(DEFAULT_PROFILE)
    for change in args.latency:
        host, _, delay = change.partition("=")
        if host not in profile:
            parser.error(f"--latency: unknown host {host!r}; hosts: {', '.join(profile)}")
        try:
            profile[host] = Delay.parse(delay)
        except ValueError as error:
            parser.error(f"--latency {change}: {error}")
    if args.smoke:
        options = dataclasses.replace(
            Options.smoke(args.out_dir),
            python=args.python,
            latency_python=args.latency_python,
            latency_profile=tuple(profile.items()),
        )
    else:
        options = Options(
            cold_samples=args.cold_samples,
            tracing_samples=args.tracing_samples,
            snapstart_samples=args.snapstart_samples,
            warm_requests=args.warm_requests,
            calls_requests=args.calls_requests,
            memory_requests=args.memory_requests,
            artifact=args.artifact,
            python=args.python,
            out_dir=args.out_dir,
            latency_samples=args.latency_samples,
            latency_flow_samples=args.latency_flow_samples,
            latency_python=args.latency_python,
            latency_profile=tuple(profile.items()),
            storage_samples=args.storage_samples,
        )
    report = run(options)
    write_json(report, options.out_dir / "bench.json")
    if options.chart:
        chart(report, options.out_dir / "bench.png")
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
