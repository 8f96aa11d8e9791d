"""The sandbox LMS (``lti1p3platform``, a development dependency only: not in the runtime's test venv)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.local.sandbox_lms import SandboxLms
from tests.lti.conftest import CLIENT_ID


@pytest.fixture
def lms() -> Iterator[SandboxLms]:
    """The sandbox LMS (lti1p3platform) on loopback, registering the tool under ``CLIENT_ID``."""
    platform = SandboxLms()
    platform.client_id = CLIENT_ID
    platform.start()
    yield platform
    platform.gradebook.faults.release()
    platform.stop()
