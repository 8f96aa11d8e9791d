"""handler.api_description: what docs/openapi.json, generated from it, says of each route and answer.

The committed description is held to the handler's routes by tests/api/test_openapi.py, which
also runs schemathesis from it against the local stack.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from infra.tools.openapi import REPOSITORY_ROOT, SPEC_PATH, resolver_with_routes


def test_the_description_covers_every_route_the_handler_registers() -> None:
    resolver = resolver_with_routes()
    routes = {(route.method.lower(), route.openapi_path) for route in resolver._static_routes}
    routes |= {(route.method.lower(), route.openapi_path) for route in resolver._dynamic_routes}
    described = {
        (method, path) for path, item in json.loads(SPEC_PATH.read_text())["paths"].items() for method in item
    }
    assert (
        described
        == routes
        == {
            ("get", "/health"),
            ("get", "/sso"),
            ("post", "/sso"),
            ("get", "/lti/login"),
            ("post", "/lti/login"),
            ("post", "/lti/launch"),
            ("get", "/lti/jwks"),
        }
    )


def test_the_error_answers_and_the_jwt_inputs_are_described() -> None:
    paths = json.loads(SPEC_PATH.read_text())["paths"]
    get, post = paths["/sso"]["get"], paths["/sso"]["post"]
    for operation in (get, post):
        statuses = {"200", "302", "400", "401", "403", "422", "500", "502", "503", "504"}
        assert set(operation["responses"]) == statuses
        assert "Location" in operation["responses"]["302"]["headers"]
        error = operation["responses"]["401"]["content"]
        assert error["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        assert "text/html" in error
    assert [p["name"] for p in get["parameters"]] == ["jwt", "redirect_to", "return_url"]
    form = post["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert set(form["properties"]) == {"jwt", "redirect_to", "return_url"}


def test_the_lti_routes_and_their_answers_are_described() -> None:
    paths = json.loads(SPEC_PATH.read_text())["paths"]
    login_get, login_post = paths["/lti/login"]["get"], paths["/lti/login"]["post"]
    for login in (login_get, login_post):
        assert set(login["responses"]) == {"200", "302", "400", "500", "503"}
        assert set(login["responses"]["200"]["content"]) == {"text/html"}  # the Platform Storage page
        assert {"Location", "Set-Cookie"} <= set(login["responses"]["302"]["headers"])
        assert login["tags"] == ["lti"]
    required = ["iss", "login_hint", "target_link_uri"]
    optional = ["lti_message_hint", "client_id", "lti_deployment_id", "lti_storage_target"]
    assert [(p["name"], p["required"]) for p in login_get["parameters"]] == [
        *((name, True) for name in required),
        *((name, False) for name in optional),
    ]
    form = login_post["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["required"] == required and set(form["properties"]) == {*required, *optional}
    launch = paths["/lti/launch"]["post"]
    assert set(launch["responses"]) == {"200", "302", "400", "401", "403", "422", "500", "502", "503", "504"}
    assert [p["name"] for p in launch["parameters"]] == ["lti_storage_target"]  # Blackboard's redirect URI
    assert {"Location", "Set-Cookie"} <= set(launch["responses"]["302"]["headers"])
    launch_form = launch["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert {"id_token", "state", "lti_storage_target", "lti_storage_binding"} <= set(
        launch_form["properties"]
    )
    for status in ("400", "401", "422"):
        refusal = launch["responses"][status]["content"]
        assert refusal["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        assert "text/html" in refusal
    assert "lti_profile_not_released" in launch["responses"]["422"]["description"]
    jwks = paths["/lti/jwks"]["get"]
    assert set(jwks["responses"]) == {"200", "404", "500", "503"}
    key_set = jwks["responses"]["200"]["content"]["application/json"]["schema"]
    assert key_set["required"] == ["keys"]
    assert set(jwks["responses"]["503"]["content"]) == {"application/json"}


# The refusal codes each LTI step can answer, by status (handler/lti/service.py, docs/lti.md's table).
LTI_REFUSALS = {
    "/lti/login": {
        "400": [
            "lti_invalid_request",
            "lti_unknown_registration",
            "lti_unknown_deployment",
            "lti_target_link_uri",
        ],
        "503": ["lti_registration_unavailable", "replay_store_unavailable"],
    },
    "/lti/launch": {
        "400": [
            "lti_invalid_request",
            "lti_state_cookie_missing",
            "lti_unknown_registration",
            "lti_unknown_deployment",
            "lti_target_link_uri",
            "invalid_redirect",
        ],
        "503": ["lti_registration_unavailable", "keys_unavailable", "secret_unavailable"],
    },
}


@pytest.mark.parametrize("path", sorted(LTI_REFUSALS))
def test_each_lti_refusal_is_described_under_its_status(path: str) -> None:
    operations = json.loads(SPEC_PATH.read_text())["paths"][path]
    for operation in operations.values():
        for status, codes in LTI_REFUSALS[path].items():
            description = operation["responses"][status]["description"]
            assert [code for code in codes if f"`{code}`" not in description] == [], (path, status)
    if path == "/lti/login":  # it reads no key set: an unreadable registry is lti_registration_unavailable
        assert "keys_unavailable" not in operations["get"]["responses"]["503"]["description"]


def test_describing_the_routes_turns_no_validation_on_and_imports_nothing_at_run_time() -> None:
    """The metadata is inert: the Lambda's resolver does not validate and never imports pydantic."""
    assert resolver_with_routes()._enable_validation is False
    program = """
import json, sys
from handler.routes import create_handler
from handler.config import load_config
from tests.support import lambda_context
environ = {"BI_ORG": "x", "BI_API_KEY_SECRET_ID": "s", "JWT_ISSUER": "https://i", "JWT_AUDIENCE": "a"}
config = load_config(environ)
handler = create_handler(config, None)
answer = handler(json.load(open("events/health.json")), lambda_context())
assert answer["statusCode"] == 200, answer
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "pydantic")))
"""
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
