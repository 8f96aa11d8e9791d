"""Concurrency proof in registry mode: three partners at once, never crossing.

The local stack as ``make dev PARTNERS=3`` runs it: three registry partners, each with
its own issuer (a development IdP), Big Interview org (a sandbox with its own API key)
and secret, beside the environment's partner, on process environments. The same 16
user ids exist at every partner, with different profiles, so a sign-in that reached the
wrong org, or the wrong user, shows. Every 302 goes to the token partner's own sandbox,
and that sandbox (which issued the SSO token) says whom it signs in: the user who asked,
with the profile of that partner's user; no other partner's sandbox accepts the token.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from infra.local.environments import ProcessExecution
from infra.local.stack import DemoPartner, LocalStack, Ports
from tests import leakcheck

PARTNERS = 3
USERS_PER_PARTNER = 16
REQUESTS = 1200  # 400 per partner
CLIENTS = 12
TIMEOUT_SECONDS = 240
TOKEN_LIFETIME_SECONDS = 300


@dataclass(frozen=True)
class Job:
    partner: int
    sub: str
    token: str


@dataclass
class Answer:
    job: Job
    status: int
    location: str
    error: str | None = None
    signed_in_as: str | None = None
    signed_in_email: str | None = None
    accepted_elsewhere: int = 0


@pytest.fixture(scope="module")
def stack(lambda_runtime_ready: None) -> Iterator[LocalStack]:
    with LocalStack(
        ports=Ports.ephemeral(),
        environ={},
        processes=ProcessExecution(limit=8),
        demo_partners=PARTNERS,
    ) as stack:
        yield stack


def email(partner: int, index: int) -> str:
    return f"user.{index:02d}@campus-{partner}.example.edu"


def run_client(stack: LocalStack, jobs: list[Job], stop: threading.Event) -> list[Answer]:
    api = urlsplit(stack.api_url)
    connection = http.client.HTTPConnection(api.hostname or "127.0.0.1", api.port, timeout=15)
    partners = stack.demo_partners
    answers: list[Answer] = []
    try:
        for job in jobs:
            if stop.is_set():
                break
            try:
                connection.request("GET", "/sso?" + urlencode({"jwt": job.token}))
                response = connection.getresponse()
                body = response.read().decode("utf-8", "replace")
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                answers.append(Answer(job, 0, "", type(error).__name__))
                continue
            answer = Answer(job, response.status, response.getheader("Location") or "")
            if response.status != 302:
                answer.error = body[:120]
            else:
                [sso_token] = parse_qs(urlsplit(answer.location).query).get("token", [""])
                leakcheck.register(sso_token)
                own = partners[job.partner]
                if answer.location.startswith(own.big_interview.url + "/sso/login?"):
                    signed_in = own.big_interview.sign_in(sso_token, None)
                    if signed_in is not None:
                        answer.signed_in_as = signed_in[1].partner_id
                        answer.signed_in_email = signed_in[1].email
                answer.accepted_elsewhere = sum(
                    other.big_interview.sign_in(sso_token, None) is not None
                    for number, other in enumerate(partners)
                    if number != job.partner
                )
            answers.append(answer)
    finally:
        connection.close()
    return answers


def test_three_partners_signing_in_at_once_never_cross(stack: LocalStack) -> None:
    partners: list[DemoPartner] = stack.demo_partners
    assert [p.partner for p in partners] == ["demo-1", "demo-2", "demo-3"]
    assert len({p.identity_provider.issuer for p in partners}) == PARTNERS
    assert len({p.big_interview.api_key for p in partners}) == PARTNERS
    jobs: list[list[Job]] = [[] for _ in range(CLIENTS)]
    for number in range(REQUESTS):
        which, index = number % PARTNERS, (number // PARTNERS) % USERS_PER_PARTNER
        sub = f"user-{index:02d}"  # the same ids at every partner
        given, family = f"Given{which}x{index}", f"Family{which}x{index}"
        leakcheck.register(given, family, email(which, index))
        token = partners[which].identity_provider.mint_token(
            sub,
            given_name=given,
            family_name=family,
            email=email(which, index),
            lifetime_seconds=TOKEN_LIFETIME_SECONDS,
        )
        leakcheck.register(token, token.rsplit(".", 1)[1])
        # One (partner, user) is always on the same client: its sign-ins never overlap.
        jobs[(which * USERS_PER_PARTNER + index) % CLIENTS].append(Job(which, sub, token))
    for demo in partners:
        demo.big_interview.reset_api_calls()

    stop = threading.Event()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS, thread_name_prefix="partners") as pool:
        futures = [pool.submit(run_client, stack, client_jobs, stop) for client_jobs in jobs]
        done, not_done = wait(futures, timeout=TIMEOUT_SECONDS)
        stop.set()
    elapsed = time.perf_counter() - started
    assert not not_done, f"{len(not_done)} clients did not finish within {TIMEOUT_SECONDS} s"
    answers = [answer for future in done for answer in future.result()]

    errors = [a for a in answers if a.status != 302]
    crossed = [
        a
        for a in answers
        if a.status == 302
        and (
            a.signed_in_as != a.job.sub
            or a.signed_in_email != email(a.job.partner, int(a.job.sub.split("-")[1]))
            or a.accepted_elsewhere
        )
    ]
    per_partner = [sum(1 for a in answers if a.job.partner == p and a.status == 302) for p in range(PARTNERS)]
    environments = stack.gateway.environments.size if stack.gateway and stack.gateway.environments else 1
    print(
        f"\nthree partners: {len(answers)} sign-ins ({per_partner} per partner), {CLIENTS} clients, "
        f"{elapsed:.1f} s; errors {len(errors)}, cross-talk {len(crossed)}; {environments} environments"
    )
    assert len(answers) == REQUESTS
    assert errors == [], [(a.job.partner, a.job.sub, a.status, a.error) for a in errors[:5]]
    assert crossed == [], [
        (a.job.partner, a.job.sub, a.signed_in_as, a.accepted_elsewhere) for a in crossed[:5]
    ]
    assert per_partner == [REQUESTS // PARTNERS] * PARTNERS
    # Each org's Partner API was called for its own sign-ins only, with its own key, no retries.
    assert [p.big_interview.api_calls for p in partners] == per_partner
    for number, demo in enumerate(partners):
        for index in range(USERS_PER_PARTNER):
            user = demo.big_interview.user(f"user-{index:02d}")
            assert user is not None and user.email == email(number, index)
    assert stack.big_interview is not None and stack.big_interview.api_calls == 0
