"""Concurrency proof: the local stack as make dev runs it (process environments), under bounded load.

64 users, 2,000 sign-ins, 16 clients with keep-alive connections. Every link is
freshly minted by the development IdP (one-time links are on: the stack keeps
them in moto's DynamoDB). Client ``c`` signs in the users ``i % 16 == c``, so one
user's sign-ins never overlap each other, while 16 users sign in at once. For
every 302, the sandbox Big Interview says whom the SSO token signs in (it issued
the token); that must be the user who asked.
"""

from __future__ import annotations

import http.client
import re
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from infra.local.environments import ProcessExecution
from infra.local.stack import LocalStack, Ports
from tests import leakcheck

USERS = 64
REQUESTS = 2000
CLIENTS = 16
TIMEOUT_SECONDS = 240  # the whole run; each request also has a 15 s socket timeout
TOKEN_LIFETIME_SECONDS = 300  # JWT_MAX_AGE_SECONDS' default: every token outlives the run


@dataclass(frozen=True)
class Job:
    sub: str
    token: str


@dataclass
class Answer:
    sub: str
    status: int
    location: str
    latency_ms: float
    error: str | None = None
    signed_in_as: str | None = None


@pytest.fixture(scope="module")
def parallel_stack(lambda_runtime_ready: None) -> Iterator[LocalStack]:
    """The whole local stack, invocations in parallel on execution environments that are
    processes (the built artifact under awslambdaric), one invocation at a time each."""
    # At most 8 environments (as a reserved concurrency would cap them): 16 cold starts at
    # once on a 2-core machine would make the first requests wait longer than their timeout.
    with LocalStack(ports=Ports.ephemeral(), environ={}, processes=ProcessExecution(limit=8)) as stack:
        assert stack.gateway is not None and stack.gateway.environments is not None
        yield stack


def user(index: int) -> dict[str, str]:
    profile = {
        "sub": f"load-user-{index:02d}",
        "given_name": f"Loadgiven{index:02d}",
        "family_name": f"Loadfamily{index:02d}",
        "email": f"load.user.{index:02d}@example.edu",
    }
    leakcheck.register(profile["given_name"], profile["family_name"], profile["email"])
    return profile


def run_client(stack: LocalStack, jobs: list[Job], stop: threading.Event) -> list[Answer]:
    """One client: its jobs in order, on one keep-alive connection; checks each SSO token."""
    assert stack.big_interview is not None
    api = urlsplit(stack.api_url)
    connection = http.client.HTTPConnection(api.hostname or "127.0.0.1", api.port, timeout=15)
    answers: list[Answer] = []
    try:
        for job in jobs:
            if stop.is_set():
                break
            started = time.perf_counter()
            try:
                connection.request("GET", "/sso?" + urlencode({"jwt": job.token}))
                response = connection.getresponse()
                body = response.read().decode("utf-8", "replace")
                answer = Answer(
                    job.sub,
                    response.status,
                    response.getheader("Location") or "",
                    (time.perf_counter() - started) * 1000,
                )
                if response.status != 302:  # the error page's code, for the report
                    found = re.search(r"Error code: <code>([a-z_]+)</code>", body)
                    answer.error = found.group(1) if found else body[:100]
            except (OSError, http.client.HTTPException) as error:
                connection.close()  # reconnects on the next request
                answers.append(Answer(job.sub, 0, "", 0.0, f"{type(error).__name__}"))
                continue
            if answer.status == 302:
                [sso_token] = parse_qs(urlsplit(answer.location).query).get("token", [""])
                leakcheck.register(sso_token)
                # The sandbox issued the token: whom does it sign in? (Checked at once:
                # this client is the only one signing this user in, so it is still current.)
                signed_in = stack.big_interview.sign_in(sso_token, None)
                answer.signed_in_as = signed_in[1].partner_id if signed_in else None
            answers.append(answer)
    finally:
        connection.close()
    return answers


def test_2000_concurrent_sign_ins_from_64_users_never_cross(parallel_stack: LocalStack) -> None:
    stack = parallel_stack
    assert stack.identity_provider is not None and stack.big_interview is not None
    users = [user(index) for index in range(USERS)]
    # Every link freshly minted (one-time links), before the clock starts.
    jobs: list[list[Job]] = [[] for _ in range(CLIENTS)]
    for number in range(REQUESTS):
        index = number % USERS
        profile = users[index]
        token = stack.identity_provider.mint_token(
            profile["sub"],
            given_name=profile["given_name"],
            family_name=profile["family_name"],
            email=profile["email"],
            lifetime_seconds=TOKEN_LIFETIME_SECONDS,
        )
        leakcheck.register(token, token.rsplit(".", 1)[1])
        jobs[index % CLIENTS].append(Job(profile["sub"], token))
    assert len({job.token for client in jobs for job in client}) == REQUESTS
    stack.big_interview.reset_api_calls()

    stop = threading.Event()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS, thread_name_prefix="load") as pool:
        futures = [pool.submit(run_client, stack, client_jobs, stop) for client_jobs in jobs]
        done, not_done = wait(futures, timeout=TIMEOUT_SECONDS)
        stop.set()  # unfinished clients stop after their current request
    elapsed = time.perf_counter() - started
    assert not not_done, f"{len(not_done)} clients did not finish within {TIMEOUT_SECONDS} s"
    answers = [answer for future in done for answer in future.result()]

    latencies = sorted(answer.latency_ms for answer in answers if answer.status)
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    errors = [a for a in answers if a.error is not None or a.status != 302]
    crossed = [a for a in answers if a.status == 302 and a.signed_in_as != a.sub]
    sso_tokens = [parse_qs(urlsplit(a.location).query)["token"][0] for a in answers if a.status == 302]
    environments = stack.gateway.environments.size if stack.gateway and stack.gateway.environments else 1
    print(
        f"\nconcurrency: {len(answers)} requests, {USERS} users, {CLIENTS} clients, "
        f"{elapsed:.1f} s ({len(answers) / elapsed:.0f} req/s); latency p50 {p50:.1f} ms, "
        f"p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms; errors {len(errors)}, cross-talk {len(crossed)}; "
        f"{environments} environments"
    )
    assert len(answers) == REQUESTS
    assert errors == [], [(a.sub, a.status, a.error) for a in errors[:5]]
    assert crossed == [], [(a.sub, a.signed_in_as) for a in crossed[:5]]
    assert len({a.sub for a in answers}) == USERS
    assert len(set(sso_tokens)) == REQUESTS  # a fresh SSO token for every sign-in
    assert stack.big_interview.api_calls == REQUESTS  # one Partner API call each, no retries
    # Parallel requests ran on execution environments of their own (one invocation each at a time).
    assert stack.gateway is not None and stack.gateway.environments is not None
    assert 1 < stack.gateway.environments.size <= 8
    for profile in users:
        stored = stack.big_interview.user(profile["sub"])
        assert stored is not None and stored.email == profile["email"]
