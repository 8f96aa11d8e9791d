"""A launch's cold time-to-302 beside the partner flow's: ``python -m infra.bench.lti_launch [--samples N]``.

Each sample is a fresh Python process (a cold start) against the ``make dev
LTI=1`` stack's servers (sandbox Big Interview, moto, the sandbox learning
platform, the development IdP): it imports ``handler.entry_point`` and answers
its first request(s). The partner flow is one request (``GET /sso``); a launch
is two (``/lti/login``, then ``/lti/launch`` with the id_token the platform
signed), and the platform's own round trip between them is not counted. The
two kinds alternate, so machine load hits both alike. Figures are medians and
90th percentiles in milliseconds, with the launch's ratio to the partner flow.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urlsplit

CLOCK = time.perf_counter


class _Context:
    function_name = "bench"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 9000


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("name"):
            self.fields[str(values["name"])] = values.get("value") or ""


def _event(
    method: str, target: str, host: str, body: str = "", cookies: list[str] | None = None
) -> dict[str, Any]:
    from infra.local.api_gateway import build_event

    headers = [("host", host)]
    if body:
        headers.append(("content-type", "application/x-www-form-urlencoded"))
    if cookies:
        headers.append(("cookie", "; ".join(cookies)))
    return build_event(
        method=method,
        target=target,
        headers=headers,
        body=body.encode(),
        source_ip="127.0.0.1",
        route_key=f"{method} {target.split('?')[0]}",
    )


def child(kind: str) -> dict[str, float]:
    """One cold start: import the handler, answer the first request(s); milliseconds."""
    spec = json.loads(os.environ["BENCH_LTI_SPEC"])
    host = urlsplit(spec["api"]).netloc
    if kind == "partner":
        profile = {
            "sub": "bench-user",
            "given_name": "Bench",
            "family_name": "User",
            "email": "b@example.com",
        }
        token_url = spec["idp"] + "/token?" + urlencode(profile)
        with urllib.request.urlopen(token_url) as answer:  # noqa: S310 - the loopback IdP
            token = json.load(answer)["jwt"]
    started = CLOCK()
    from handler.entry_point import lambda_handler

    imported = CLOCK()
    if kind == "partner":
        response = lambda_handler(_event("GET", "/sso?" + urlencode({"jwt": token}), host), _Context())  # type: ignore[arg-type]
        assert response["statusCode"] == 302, response
        return {"import_ms": (imported - started) * 1000, "to_302_ms": (CLOCK() - started) * 1000}
    login_query = urlencode(
        {
            "iss": spec["lms"],
            "login_hint": spec["student"],
            "target_link_uri": spec["api"] + "/lti/launch",
            "lti_message_hint": "big-interview",
            "client_id": spec["client_id"],
            "lti_deployment_id": spec["deployment_id"],
        }
    )
    login = lambda_handler(_event("GET", "/lti/login?" + login_query, host), _Context())  # type: ignore[arg-type]
    logged_in = CLOCK()
    assert login["statusCode"] == 302, login
    with urllib.request.urlopen(login["headers"]["Location"]) as answer:  # noqa: S310 - the loopback platform
        form = _Form()
        form.feed(answer.read().decode())
    cookie = login["cookies"][0].split(";", 1)[0]
    launch_started = CLOCK()
    launch = lambda_handler(_event("POST", "/lti/launch", host, urlencode(form.fields), [cookie]), _Context())  # type: ignore[arg-type]
    finished = CLOCK()
    assert launch["statusCode"] == 302, launch
    return {
        "import_ms": (imported - started) * 1000,
        "login_ms": (logged_in - imported) * 1000,
        "launch_ms": (finished - launch_started) * 1000,
        "to_302_ms": (logged_in - started + finished - launch_started) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.bench.lti_launch", description=__doc__)
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--child", choices=["partner", "lti"], help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        print(json.dumps(child(arguments.child)))
        return 0

    from infra.local.sandbox_lms import CLIENT_ID, DEPLOYMENT_ID, STUDENTS
    from infra.local.stack import LocalStack, Ports

    def summary(values: list[float]) -> str:
        ordered = sorted(values)
        return f"p50 {statistics.median(ordered):6.1f}  p90 {ordered[int(0.9 * (len(ordered) - 1))]:6.1f}"

    with LocalStack(ports=Ports.ephemeral(), environ={}, lti=True) as stack:
        assert stack.lms is not None and stack.identity_provider is not None
        spec = {
            "api": stack.api_url,
            "idp": stack.identity_provider.url,
            "lms": stack.lms.issuer,
            "client_id": CLIENT_ID,
            "deployment_id": DEPLOYMENT_ID,
            "student": next(iter(STUDENTS)),
        }
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("LTI_", "JWT_", "BI_"))},
            **stack.handler_environment,
            "BENCH_LTI_SPEC": json.dumps(spec),
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
        results: dict[str, list[dict[str, float]]] = {"partner": [], "lti": []}
        for index in range(arguments.samples + 1):  # the first round compiles .pyc files: discarded
            for kind in ("partner", "lti"):
                done = subprocess.run(
                    [sys.executable, "-m", "infra.bench.lti_launch", "--child", kind],
                    env=environment,
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                )
                if done.returncode != 0:
                    raise SystemExit(f"{kind} sample failed:\n{done.stderr[-3000:]}")
                if index:
                    results[kind].append(json.loads(done.stdout.strip().splitlines()[-1]))
    partner = [row["to_302_ms"] for row in results["partner"]]
    lti = [row["to_302_ms"] for row in results["lti"]]
    print(f"cold time-to-302, {arguments.samples} fresh processes each, ms (Python {sys.version.split()[0]})")
    print(f"  partner flow  GET /sso                       {summary(partner)}")
    print(f"  LTI launch    /lti/login + /lti/launch       {summary(lti)}")
    print(f"    of which import {summary([r['import_ms'] for r in results['lti']])}")
    print(f"    login          {summary([r['login_ms'] for r in results['lti']])}")
    print(f"    launch         {summary([r['launch_ms'] for r in results['lti']])}")
    print(f"  ratio launch / partner at p50: {statistics.median(lti) / statistics.median(partner):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
