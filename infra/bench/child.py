"""One bench measurement in a fresh Python process: ``python infra/bench/child.py SPEC.json``.

Run by path (not ``-m``), with the repository on ``PYTHONPATH``, so that before
the clock starts only the standard library modules Lambda's own runtime
bootstrap also loads (``json``, ``os``, ``time``) are imported. The spec names a
mode and a target; the result is written as JSON to ``spec["out"]``.

Modes:

- ``cold``: import the target, then serve one request; import and first-request times.
  With ``spec["lti"]``, the request is an LTI launch instead: ``/lti/login`` (the platform's
  login initiation), the platform's authorization answer (the browser's hop, not timed),
  then ``/lti/launch`` with the form the platform posts and the state cookie.
- ``warm``: ours, the reference and the floor, interleaved in blocks; one latency per request.
- ``calls``: ``n`` requests through our handler (the parent counts at the servers).
- ``memory``: peak RSS (``VmHWM``) after 1 request and after ``n``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

CLOCK = time.perf_counter


class _Absent:
    """A meta-path finder that makes the modules named in ``BENCH_ABSENT_MODULES`` unimportable.

    The Lambda runtime's boto3 comes without ``awscrt`` and pyOpenSSL; a
    development venv may have them (aws-sam-cli brings them), and botocore
    imports them when present (``awscrt`` alone costs about 0.2 s). Hiding them
    makes the children import what Lambda would.
    """

    def __init__(self, names: set[str]) -> None:
        self._names = names

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".")[0] in self._names:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the bench)", name=name)


if os.environ.get("BENCH_ABSENT_MODULES"):
    sys.meta_path.insert(0, _Absent(set(os.environ["BENCH_ABSENT_MODULES"].split(","))))


class Context:
    """The attributes of Lambda's context object that Powertools reads.

    Not ``infra.local.lambda_runtime.LambdaContext`` (the one the tests and the local
    stack share): importing it loads ``uuid``, ``platform``, ``threading`` and
    ``dataclasses`` (about 6 ms), which would either run before the clock and speed up
    the measured import, or inside it and add to both sides. Lambda's own runtime loads
    none of them before the handler.
    """

    function_name = "bench-sso"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-sso"
    log_group_name = "/aws/lambda/bench-sso"
    log_stream_name = "bench"

    def __init__(self, request_number: int) -> None:
        self.aws_request_id = f"00000000-0000-4000-8000-{request_number:012d}"
        self._deadline = time.monotonic() + 10.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


HOST = "sso.example.com"  # the API's host as the browser reached it (the LTI platform's tool URL)


def event_for(token: str, number: int) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event for ``GET /sso?jwt=<token>``."""
    # Tokens are URL-safe: no urllib.parse before the clock (it would speed up the measured import).
    return http_event("GET", "/sso", {"jwt": token}, number, raw_query=f"jwt={token}")


def http_event(
    method: str,
    path: str,
    query: dict[str, str],
    number: int,
    *,
    form: str = "",
    cookies: list[str] | None = None,
    raw_query: str | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event; ``form`` is a url-encoded POST body.

    Written out by hand rather than with ``infra.local.api_gateway``: importing that
    would load modules Lambda's runtime does not, inside or before the measured import.
    """
    if raw_query is None:
        from urllib.parse import urlencode

        raw_query = urlencode(query)
    headers = {
        "host": HOST,
        "accept": "text/html,application/xhtml+xml",
        "user-agent": "bench",
        "x-forwarded-for": "127.0.0.1",
        "x-forwarded-proto": "https",
    }
    if form:
        headers["content-type"] = "application/x-www-form-urlencoded"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": HOST,
            "domainPrefix": "sso",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "bench",
            },
            "requestId": f"bench{number:011d}=",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000,
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    if form:
        event["body"] = form
    if cookies:
        event["cookies"] = cookies
    return event


def load_target(target: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Import the handler under test (ours or the reference) and return its entry point."""
    if target == "ours":
        import handler.entry_point

        return handler.entry_point.lambda_handler
    if target == "reference":
        import infra.bench.reference

        return infra.bench.reference.lambda_handler
    raise ValueError(f"unknown target {target!r}")


def check(response: dict[str, Any], base_url: str) -> None:
    status = response.get("statusCode")
    location = (response.get("headers") or {}).get("Location", "")
    if status != 302 or not location.startswith(f"{base_url}/sso/login?token="):
        raise SystemExit(f"bench child: expected a 302 to Big Interview, got {status}: {response}")


def memory_kib() -> dict[str, int]:
    """VmHWM (peak RSS) and VmRSS from /proc/self/status, in KiB."""
    values: dict[str, int] = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                values[name] = int(rest.split()[0])
    return values


def token_lines(path: str) -> Iterator[str]:
    with open(path) as lines:
        for line in lines:
            if line.strip():
                yield line.strip()


def cold(spec: dict[str, Any]) -> dict[str, Any]:
    if "lti" in spec:
        return cold_lti_launch(spec)
    token = spec["token"]
    event = event_for(token, 0)
    started = CLOCK()
    lambda_handler = load_target(spec["target"])
    imported = CLOCK()
    if spec.get("snapstart"):
        # What SnapStart does around the snapshot, minus the snapshot itself: the
        # first request below is the first request of a restored copy.
        import handler.entry_point

        handler.entry_point.container.before_snapshot()
        # As the entry point registers it (tracing off): the restore refreshes side by side.
        handler.entry_point.container.after_restore(refresh=True)
        imported = CLOCK()
    response = lambda_handler(event, Context(0))
    finished = CLOCK()
    check(response, spec["base_url"])
    return {
        "import_ms": (imported - started) * 1000,
        "first_request_ms": (finished - imported) * 1000,
        "total_ms": (finished - started) * 1000,
        "modules": len(sys.modules),
        "pydantic_loaded": "pydantic" in sys.modules,
        "xray_loaded": "aws_xray_sdk" in sys.modules,
        **memory_kib(),
    }


def cold_lti_launch(spec: dict[str, Any]) -> dict[str, Any]:
    """A launch's cold time-to-302: import, ``/lti/login``, the platform's hop, ``/lti/launch``.

    ``spec["lti"]["login"]`` is the login initiation's query as the platform sent it. The
    hop between the two requests (the browser to the platform's authorization endpoint
    and its form post back) is the platform's time, not the function's: it is measured
    apart (``platform_ms``) and left out of ``total_ms``, so the state written by the
    login is consumed by the launch, with the login's cookie, as in a browser.
    """
    login_query: dict[str, str] = spec["lti"]["login"]
    started = CLOCK()
    lambda_handler = load_target(spec["target"])
    imported = CLOCK()
    login = lambda_handler(http_event("GET", "/lti/login", login_query, 0), Context(0))
    logged_in = CLOCK()
    location = (login.get("headers") or {}).get("Location", "")
    if login.get("statusCode") != 302 or not location.startswith(spec["lti"]["auth_url"] + "?"):
        raise SystemExit(f"bench child: /lti/login did not redirect to the platform: {login}")
    form = platform_form_post(location)
    cookies = [cookie.split(";", 1)[0] for cookie in login.get("cookies") or []]
    launch_started = CLOCK()
    launch = lambda_handler(http_event("POST", "/lti/launch", {}, 1, form=form, cookies=cookies), Context(1))
    finished = CLOCK()
    check(launch, spec["base_url"])
    login_ms = (logged_in - imported) * 1000
    launch_ms = (finished - launch_started) * 1000
    return {
        "import_ms": (imported - started) * 1000,
        "first_request_ms": login_ms + launch_ms,
        "total_ms": (imported - started) * 1000 + login_ms + launch_ms,
        "login_ms": login_ms,
        "launch_ms": launch_ms,
        "platform_ms": (launch_started - logged_in) * 1000,
        "modules": len(sys.modules),
        "pydantic_loaded": "pydantic" in sys.modules,
        "xray_loaded": "aws_xray_sdk" in sys.modules,
        **memory_kib(),
    }


def platform_form_post(authorization_url: str) -> str:
    """What the browser does between login and launch: the platform's auto-submitting form, encoded."""
    from html.parser import HTMLParser
    from urllib.parse import urlencode

    import urllib3

    class Form(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.fields: dict[str, str] = {}

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            values = dict(attrs)
            if tag == "input" and values.get("name"):
                self.fields[str(values["name"])] = values.get("value") or ""

    answer = urllib3.request("GET", authorization_url, redirect=False, timeout=10.0)
    if answer.status != 200:
        raise SystemExit(f"bench child: the platform refused the authorization request ({answer.status})")
    form = Form()
    form.feed(answer.data.decode())
    if set(form.fields) != {"id_token", "state"}:
        raise SystemExit(f"bench child: the platform's form has {sorted(form.fields)}")
    return urlencode(form.fields)


def warm(spec: dict[str, Any]) -> dict[str, Any]:
    import urllib3

    ours = load_target("ours")
    reference = load_target("reference")
    base_url = spec["base_url"]
    api_key = spec["api_key"]
    pool = urllib3.PoolManager(num_pools=4, maxsize=4, retries=False)
    profile = json.dumps({"first_name": "Bench", "last_name": "Floor", "email": "floor@example.com"}).encode()
    headers = {"Authorization": api_key, "Content-Type": "application/json"}

    def floor(_: dict[str, Any], __: Any) -> dict[str, Any]:
        # A bare POST over the already-open pool, plus the login URL: what any redirector pays.
        response = pool.request(
            "POST", f"{base_url}/api/users/bench-floor", body=profile, headers=headers, timeout=5.0
        )
        token = json.loads(response.data)["user"]["token"]["token"]
        return {"statusCode": 302, "headers": {"Location": f"{base_url}/sso/login?token={token}"}}

    requests, warmup, block = spec["requests"], spec["warmup"], spec["block"]
    tokens = list(token_lines(spec["tokens"]))
    needed = 2 * (requests + warmup)
    if len(tokens) < needed:
        raise SystemExit(f"bench child: {len(tokens)} tokens, {needed} needed")
    events = {
        "ours": iter([event_for(t, i) for i, t in enumerate(tokens[: requests + warmup])]),
        "reference": iter([event_for(t, i) for i, t in enumerate(tokens[requests + warmup : needed])]),
        "floor": iter([{}] * (requests + warmup)),
    }
    functions = {"ours": ours, "reference": reference, "floor": floor}
    latencies: dict[str, list[float]] = {name: [] for name in functions}
    number = 0

    def run(name: str, count: int, record: bool) -> None:
        nonlocal number
        function, source = functions[name], events[name]
        for _ in range(count):
            number += 1
            event, context = next(source), Context(number)
            started = CLOCK()
            response = function(event, context)
            elapsed = CLOCK() - started
            check(response, base_url)
            if record:
                latencies[name].append(elapsed * 1000)

    names = list(functions)
    for name in names:  # warm-up: first connections, key objects, secret, JIT-free caches
        run(name, warmup, record=False)
    for index in range(0, requests, block):
        order = names[index // block % 3 :] + names[: index // block % 3]  # rotate who goes first
        for name in order:
            run(name, min(block, requests - index), record=True)
    return {"latencies_ms": latencies, **memory_kib()}


def calls(spec: dict[str, Any]) -> dict[str, Any]:
    lambda_handler = load_target("ours")
    count = 0
    for number, token in enumerate(token_lines(spec["tokens"])):
        if number >= spec["requests"]:
            break
        check(lambda_handler(event_for(token, number), Context(number)), spec["base_url"])
        count += 1
    return {"requests": count}


def memory(spec: dict[str, Any]) -> dict[str, Any]:
    lambda_handler = load_target(spec.get("target", "ours"))
    tokens = list(token_lines(spec["tokens"]))  # loaded before the first reading: both include it
    requests = spec["requests"]
    check(lambda_handler(event_for(tokens[0], 0), Context(0)), spec["base_url"])
    after_one = memory_kib()
    for number in range(1, requests):
        token = tokens[number % len(tokens)]
        check(lambda_handler(event_for(token, number), Context(number)), spec["base_url"])
    after_all = memory_kib()
    return {"requests": requests, "after_1": after_one, "after_n": after_all}


def main() -> None:
    with open(sys.argv[1]) as file:
        spec = json.load(file)
    result = {"cold": cold, "warm": warm, "calls": calls, "memory": memory}[spec["mode"]](spec)
    with open(spec["out"], "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    main()
