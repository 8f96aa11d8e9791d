"""The local stack on free ports, for the API description's tests (as in tests/local)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.local.stack import LocalStack, Ports


@pytest.fixture(scope="module")
def local_stack() -> Iterator[LocalStack]:
    """The whole stack with the real handler, every piece a sandbox (one-time links and LTI on)."""
    with LocalStack(ports=Ports.ephemeral(), environ={}, lti=True) as stack:
        yield stack
