"""Every answer the docs promise is reachable through the template's routes, and CORS
behaves as API Gateway applies the template's CorsConfiguration.

On AWS, a request no route of the HTTP API takes never reaches the function: API Gateway
answers ``404 {"message":"Not Found"}`` itself. So a documented answer is only real if a
route in template.yaml leads to it. The requests go through the local API Gateway, which
reads the routes and the CORS configuration from template.yaml as API Gateway would, in
front of the real handler; the promises are read from the answer table (docs/sign-in.md) and
docs/openapi.json. A check run against a template without the catch-all routes shows the
rule failing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.local.api_gateway import LocalApiGateway
from infra.local.sam_template import read_cors_configuration, read_function_spec
from infra.local.stack import LocalStack, Ports
from tests.local.conftest import Answer, Recorder, fetch

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
APP_ORIGIN = "https://app.partner.test"
GATEWAY_NOT_FOUND = b'{"message":"Not Found"}'
# Paths no document names: a mistyped link, an old one, the bare domain.
UNKNOWN_PATHS = ("/", "/sso/", "/login", "/sso/extra/segments", "/favicon.ico")


def readme_answers() -> list[tuple[int, list[str]]]:
    """(status, codes) of every row of the answer table (docs/sign-in.md, linked from the README)."""
    text = (ROOT / "docs" / "sign-in.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d{3}) \| ([^|]*) \|", text, re.MULTILINE)
    assert rows, "the answer table is gone"
    return [(int(status), re.findall(r"`([a-z_]+)`", codes)) for status, codes in rows]


def documented_operations() -> dict[tuple[str, str], set[int]]:
    """(METHOD, path) -> the statuses docs/openapi.json promises for it."""
    document = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    return {
        (method.upper(), path): {int(status) for status in operation["responses"]}
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }


def answered_by_api_gateway(answer: Answer) -> bool:
    """API Gateway's own 404: no route took the request, the function never saw it."""
    return answer.status == 404 and answer.body == GATEWAY_NOT_FOUND


def error_code(answer: Answer) -> str | None:
    """The function's error code in a JSON answer (API Gateway's own answers have none)."""
    document = answer.json()
    return document.get("error", {}).get("code") if isinstance(document, dict) else None


def unreachable_promises(base_url: str) -> list[str]:
    """Documented answers no template route leads to (an empty list when all are reachable)."""
    operations = documented_operations()
    problems = []
    for method, path in operations:
        answer = fetch(method, f"{base_url}{path}", headers={"Accept": "application/json"})
        if answered_by_api_gateway(answer):
            problems.append(f"{method} {path} (docs/openapi.json) never reaches the function")
    for status, codes in readme_answers():
        # not_found is promised for any page no document names, even where an operation
        # documents a 404 of its own (GET /lti/jwks without a tool key).
        if "not_found" not in codes and any(status in statuses for statuses in operations.values()):
            continue  # answered on a documented operation, reached above
        # An answer for no documented path, e.g. not_found: promised for any other page.
        for method in ("GET", "POST"):
            for path in UNKNOWN_PATHS:
                answer = fetch(method, f"{base_url}{path}", headers={"Accept": "application/json"})
                code = error_code(answer) if answer.status == status else None
                if code not in codes:
                    problems.append(
                        f"{method} {path}: docs/sign-in.md promises {status} {codes}, got {answer.status}"
                    )
    return problems


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    """The local stack with the real handler; CorsAllowedOrigins set as a partner's SPA needs."""
    with LocalStack(ports=Ports.ephemeral(), environ={"CORS_ALLOWED_ORIGINS": APP_ORIGIN}) as running:
        yield running


def test_every_documented_answer_is_reachable_through_the_template_routes(stack: LocalStack) -> None:
    assert unreachable_promises(stack.api_url) == []


def test_an_unknown_page_gets_the_functions_not_found_page(stack: LocalStack) -> None:
    page = fetch("GET", f"{stack.api_url}/old-sso-link?jwt=x")

    assert page.status == 404
    assert page.headers["Content-Type"].startswith("text/html")
    assert "not_found" in page.text
    assert "go back to your portal and open Big Interview from there" in page.text  # what to do next
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    # Methods no route takes stay API Gateway's (and so do CORS preflights).
    assert answered_by_api_gateway(fetch("DELETE", f"{stack.api_url}/sso"))


def test_a_single_page_apps_preflight_is_answered_from_the_templates_cors_configuration(
    stack: LocalStack,
) -> None:
    preflight = fetch(
        "OPTIONS",
        f"{stack.api_url}/sso",
        headers={
            "Origin": APP_ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    token = stack.sign_in_url().split("jwt=", 1)[1]
    call = fetch(
        "GET",
        f"{stack.api_url}/sso",
        headers={"Origin": APP_ORIGIN, "Authorization": f"Bearer {token}", "Accept": "application/json"},
    )

    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower().split(",")
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"].split(",")
    assert preflight.headers["Access-Control-Max-Age"] == "600"
    assert call.status == 200 and "redirect_url" in call.json()
    assert call.headers["Access-Control-Allow-Origin"] == APP_ORIGIN


def test_another_origin_gets_no_cors_headers(stack: LocalStack) -> None:
    preflight = fetch(
        "OPTIONS",
        f"{stack.api_url}/sso",
        headers={"Origin": "https://evil.test", "Access-Control-Request-Method": "GET"},
    )
    health = fetch("GET", f"{stack.api_url}/health", headers={"Origin": "https://evil.test"})

    assert preflight.status == 204
    assert not [h for h in preflight.headers if h.lower().startswith("access-control-")]
    assert not [h for h in health.headers if h.lower().startswith("access-control-")]


# ---- the rule can fail ---------------------------------------------------------------------------
def template_without(tmp_path: Path, events: set[str]) -> Path:
    """A copy of template.yaml whose function lacks ``events`` (as it was before issue 10)."""
    text = TEMPLATE.read_text(encoding="utf-8")
    for name in events:
        # Each event is a block "        Name:\n" + deeper-indented lines.
        text, count = re.subn(rf"^        {name}:\n(?:^          .*\n)+", "", text, flags=re.MULTILINE)
        assert count == 1, name
    path = tmp_path / "template.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def function_like(event: dict[str, Any], _: Any) -> dict[str, Any]:
    """Stands in for the handler: 404 not_found for any path but the documented ones."""
    path = event["rawPath"]
    if path in ("/sso", "/health"):
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{}"}
    body = {"error": {"code": "not_found", "message": "no such page", "request_id": "r"}}
    return {"statusCode": 404, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def test_the_rule_finds_not_found_unreachable_without_the_catch_all_routes(tmp_path: Path) -> None:
    before = template_without(
        tmp_path,
        {
            "OtherPathGet",
            "OtherPathPost",
            "RootGet",
            "RootPost",
            "LtiLoginGet",
            "LtiLoginPost",
            "LtiLaunchPost",
            "LtiJwksGet",
        },
    )
    assert {r.path for r in read_function_spec(before).routes} == {"/sso", "/health"}

    with LocalApiGateway(function_like, read_function_spec(before)) as old:
        problems = unreachable_promises(old.url)
    with LocalApiGateway(function_like, read_function_spec(TEMPLATE)) as today:
        assert unreachable_promises(today.url) == []

    # The LTI operations docs/openapi.json describes have no route in that template either.
    lti_operations = sorted(
        f"{method} {path}" for method, path in documented_operations() if path.startswith("/lti/")
    )
    assert lti_operations == ["GET /lti/jwks", "GET /lti/login", "POST /lti/launch", "POST /lti/login"]
    unreachable = [
        f"{operation} (docs/openapi.json) never reaches the function" for operation in lti_operations
    ]
    assert sorted(p for p in problems if "never reaches the function" in p) == unreachable
    not_found = [p for p in problems if "never reaches the function" not in p]
    assert len(not_found) == 2 * len(UNKNOWN_PATHS)
    assert all("docs/sign-in.md promises 404 ['not_found'], got 404" in p for p in not_found)


def test_without_cors_origins_a_preflight_is_api_gateways_404(tmp_path: Path) -> None:
    # CorsAllowedOrigins empty (the default): no CorsConfiguration, and no route takes OPTIONS.
    assert read_cors_configuration(TEMPLATE, {"CorsAllowedOrigins": ""}) is None
    recorder = Recorder()
    with LocalApiGateway(recorder, read_function_spec(TEMPLATE), cors=None) as gateway:
        answer = fetch(
            "OPTIONS",
            f"{gateway.url}/sso",
            headers={"Origin": APP_ORIGIN, "Access-Control-Request-Method": "GET"},
        )
    assert answered_by_api_gateway(answer)
    assert recorder.events == []


def test_the_gateway_replaces_the_functions_own_cors_headers() -> None:
    cors = read_cors_configuration(TEMPLATE, {"CorsAllowedOrigins": APP_ORIGIN})
    assert cors is not None
    recorder = Recorder()
    recorder.response = {
        "statusCode": 200,
        "headers": {"access-control-allow-origin": "*", "access-control-allow-headers": "x-anything"},
        "body": "ok",
    }
    with LocalApiGateway(recorder, read_function_spec(TEMPLATE), cors=cors) as gateway:
        preflight = fetch(
            "OPTIONS",
            f"{gateway.url}/sso",
            headers={"Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST"},
        )
        answer = fetch("GET", f"{gateway.url}/health", headers={"Origin": APP_ORIGIN})

    assert recorder.events and all(
        event["requestContext"]["http"]["method"] == "GET" for event in recorder.events
    )
    assert preflight.headers["Access-Control-Allow-Methods"] == "GET,POST,OPTIONS"
    assert preflight.headers["Access-Control-Allow-Headers"] == "authorization,content-type"
    assert answer.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "Access-Control-Allow-Headers" not in answer.headers
