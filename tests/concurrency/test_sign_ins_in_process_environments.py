"""Concurrent sign-ins through the stack as ``make dev`` runs it: process environments.

Smaller than the in-process proof beside it (each new environment is a cold
start of its own process): 4 clients with keep-alive connections, 8 users, 60
sign-ins. Every 302 must sign in the user who asked (the sandbox issued the SSO
token and says whom it is for), the pool must have grown past one environment,
and no environment may have run two invocations at once.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra.local.environments import ProcessExecution
from infra.local.stack import LocalStack, Ports
from tests import leakcheck
from tests.concurrency.test_concurrent_sign_ins import Job, run_client, user

USERS = 8
REQUESTS = 60
CLIENTS = 4


@pytest.fixture(scope="module")
def process_stack(lambda_runtime_ready: None) -> Iterator[LocalStack]:
    with LocalStack(ports=Ports.ephemeral(), environ={}, processes=ProcessExecution()) as stack:
        yield stack


def test_concurrent_sign_ins_in_process_environments_never_cross(process_stack: LocalStack) -> None:
    stack = process_stack
    assert stack.identity_provider is not None and stack.big_interview is not None
    users = [user(index) for index in range(USERS)]
    jobs: list[list[Job]] = [[] for _ in range(CLIENTS)]
    for number in range(REQUESTS):
        profile = users[number % USERS]
        token = stack.identity_provider.mint_token(
            profile["sub"],
            given_name=profile["given_name"],
            family_name=profile["family_name"],
            email=profile["email"],
        )
        leakcheck.register(token, token.rsplit(".", 1)[1])
        jobs[number % USERS % CLIENTS].append(Job(profile["sub"], token))

    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=CLIENTS) as clients:
        answers = [a for done in clients.map(lambda j: run_client(stack, j, stop), jobs) for a in done]

    assert len(answers) == REQUESTS
    assert [(a.sub, a.status, a.error) for a in answers if a.status != 302] == []
    assert [(a.sub, a.signed_in_as) for a in answers if a.signed_in_as != a.sub] == []
    assert 1 < len(stack.environments) <= CLIENTS
    for environment in stack.environments:
        spans = sorted((started, ended) for _, started, ended in environment.history)
        assert all(before[1] <= after[0] for before, after in itertools.pairwise(spans))
    assert sum(len(environment.history) for environment in stack.environments) == REQUESTS
