"""One AWS client per service per execution environment, whichever thread asks first."""

from __future__ import annotations

import threading
from typing import Any

from handler.aws_clients import AwsClients


class Made:
    """A stand-in client."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.meta = self  # AwsClients registers the GetSecretValue counter on meta.events
        self.events = self

    def register(self, *_: Any) -> None:
        pass


def test_threads_asking_together_get_one_client_per_service() -> None:
    services = ["secretsmanager", "dynamodb"] * 8
    made: list[str] = []
    got: list[Any] = []
    asked = 0
    everyone_asked = threading.Condition()

    def make(service: str) -> Made:
        made.append(service)
        # The first client is still being made when every thread asks.
        with everyone_asked:
            everyone_asked.wait_for(lambda: asked == len(services), timeout=10)
        return Made(service)

    clients = AwsClients(make=make)

    def ask(service: str) -> None:
        nonlocal asked
        with everyone_asked:
            asked += 1
            everyone_asked.notify_all()
        got.append(clients.client(service))

    threads = [threading.Thread(target=ask, args=(service,)) for service in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(made) == ["dynamodb", "secretsmanager"]
    assert len(got) == len(services)
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
