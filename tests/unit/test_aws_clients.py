"""One AWS client per service per execution environment, whichever thread asks first."""

from __future__ import annotations

import threading
import time
from typing import Any

from handler.aws_clients import AwsClients


class Made:
    """A stand-in client; ``make`` is slow, so threads asking together overlap."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.meta = self  # AwsClients registers the GetSecretValue counter on meta.events
        self.events = self

    def register(self, *_: Any) -> None:
        pass


def test_threads_asking_together_get_one_client_per_service() -> None:
    made: list[str] = []

    def make(service: str) -> Made:
        made.append(service)
        time.sleep(0.01)
        return Made(service)

    clients = AwsClients(make=make)
    got: list[Any] = []
    threads = [
        threading.Thread(target=lambda service=service: got.append(clients.client(service)))
        for service in ["secretsmanager", "dynamodb"] * 8
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(made) == ["dynamodb", "secretsmanager"]
    assert len({id(client) for client in got}) == 2
    assert clients.created("secretsmanager") and not clients.created("kms")


def test_the_uncached_client_is_a_new_one_each_time_and_not_the_shared_one() -> None:
    clients = AwsClients(make=Made)
    shared = clients.client("secretsmanager")

    assert clients.uncached("secretsmanager", 0.5) is not shared
    assert clients.uncached("secretsmanager", 0.5) is not clients.uncached("secretsmanager", 0.5)
    assert clients.client("secretsmanager") is shared


def test_a_client_that_cannot_be_made_is_left_to_the_request_when_warming() -> None:
    def no_region(service: str) -> Any:
        raise RuntimeError("no region")

    clients = AwsClients(make=no_region)
    clients.warm("secretsmanager", "dynamodb")  # INIT goes on

    assert not clients.created("secretsmanager")
