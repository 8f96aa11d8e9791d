"""docs/openapi.json: generated from the handler's routes, kept in sync, and true of the running API.

schemathesis generates requests from the committed description and sends them
to the real handler behind the local API Gateway, LTI launches on (the sandbox
platform). Tokens it makes up never verify, so the answers are 4xx: the
description must document them, and no answer may be a server error or break
the description.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from infra.local.stack import LocalStack
from infra.tools.openapi import REPOSITORY_ROOT, SPEC_PATH, openapi_document, render

# The coverage phase also sends methods the description does not list. TRACE and QUERY are
# left out: the local gateway's HTTP server answers them 501 itself (real API Gateway
# never passes them to the function), which says nothing about the handler.
UNEXPECTED_METHODS = ["get", "put", "post", "delete", "options", "patch"]
CONFIG = {"phases": {"coverage": {"unexpected-methods": UNEXPECTED_METHODS}}}
schema = schemathesis.openapi.from_path(SPEC_PATH, config=SchemathesisConfig.from_dict(CONFIG))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 50
ARTIFACTS = REPOSITORY_ROOT / "build" / "api"
# (operation, status) -> how many answers, filled by the schemathesis test.
# The generated cases and the tally of their answers share one process (and one module's life).
pytestmark = pytest.mark.xdist_group("openapi")


def test_the_committed_description_is_current() -> None:
    """Fails when a route or its metadata changed without `make openapi`."""
    assert SPEC_PATH.read_text() == render(openapi_document()), "docs/openapi.json is stale: run make openapi"


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_the_running_api_keeps_to_its_description(
    case: schemathesis.Case[Any], local_stack: LocalStack, answers: defaultdict[str, Counter[int]]
) -> None:
    response = case.call_and_validate(base_url=local_stack.api_url, checks=CHECKS, timeout=15)
    answers[case.operation.label][response.status_code] += 1


@pytest.fixture(scope="module")
def answers() -> Iterator[defaultdict[str, Counter[int]]]:
    """The generated cases' answers by operation and status, checked once they all ran (in any
    order): every operation exercised, no server error. Also saved under build/api/."""
    tally: defaultdict[str, Counter[int]] = defaultdict(Counter)
    yield tally
    check_tally({operation: dict(sorted(statuses.items())) for operation, statuses in sorted(tally.items())})


def check_tally(tally: dict[str, dict[int, int]]) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "schemathesis.json").write_text(json.dumps(tally, indent=2) + "\n")
    print("schemathesis answers by operation and status:", json.dumps(tally))
    assert set(tally) == {
        "GET /health",
        "GET /sso",
        "POST /sso",
        "GET /lti/login",
        "POST /lti/login",
        "POST /lti/launch",
        "GET /lti/jwks",
    }
    statuses = {status for answers in tally.values() for status in answers}
    assert not any(status >= 500 for status in statuses)
    # Made-up tokens never verify: the sign-in answers are the documented 4xx.
    assert {400, 401} <= statuses
    # Made-up logins name no registration, made-up launches no state; the tool's key set is served.
    assert 400 in tally["GET /lti/login"] and 400 in tally["POST /lti/launch"]
    assert 200 in tally["GET /lti/jwks"]
