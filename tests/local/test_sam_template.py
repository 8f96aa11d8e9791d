"""Routes and limits are read from the SAM template, CloudFormation short tags and all."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.local.sam_template import Route, read_function_spec
from infra.local.stack import DEFAULT_TEMPLATE


def test_http_api_events_become_routes(template_path: Path) -> None:
    spec = read_function_spec(template_path)
    assert spec.logical_id == "SsoFunction"
    assert spec.handler == "handler.entry_point.lambda_handler"
    assert [route.route_key for route in spec.routes] == [
        "GET /sso",
        "POST /sso",
        "GET /health",
        "ANY /users/{id}",
    ]


def test_timeout_memory_and_environment_come_from_the_function_then_globals(template_path: Path) -> None:
    spec = read_function_spec(template_path)
    assert (spec.timeout_seconds, spec.memory_mb) == (10, 256)
    # Literals and !Ref to a parameter with a Default; !Ref without a default is left out.
    assert spec.environment == {"POWERTOOLS_SERVICE_NAME": "sso-redirector", "POWERTOOLS_LOG_LEVEL": "DEBUG"}


def test_sam_defaults_apply_when_the_template_is_silent(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      Timeout: !Ref T\n      Events:\n        All:\n          Type: HttpApi\n"
    )
    spec = read_function_spec(path)
    assert (spec.timeout_seconds, spec.memory_mb) == (3, 128)
    # No Path and Method: the $default route, which takes every method and path, "/" too.
    assert spec.routes == (Route("ANY", "$default"),)
    assert spec.routes[0].route_key == "$default"
    assert spec.routes[0].match("DELETE", "/") == {}
    assert Route("ANY", "/{proxy+}").match("GET", "/a/b") == {"proxy": "a/b"}


def test_default_route_comes_after_every_other(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n"
        "        All:\n          Type: HttpApi\n"
        '        Any:\n          Type: HttpApi\n          Properties: {Method: GET, Path: "/{proxy+}"}\n'
        "        Sso:\n          Type: HttpApi\n          Properties: {Method: GET, Path: /sso}\n"
    )
    assert [route.route_key for route in read_function_spec(path).routes] == [
        "GET /sso",
        "GET /{proxy+}",
        "$default",
    ]


def test_a_template_with_several_functions_needs_a_name(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    function = "    Type: AWS::Serverless::Function\n"
    path.write_text(f"Resources:\n  A:\n{function}  B:\n{function}")
    with pytest.raises(ValueError, match="expected one"):
        read_function_spec(path)
    assert read_function_spec(path, "B").logical_id == "B"


def test_the_function_serving_http_routes_is_read_beside_a_scheduled_one(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n"
        "  Api:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n"
        "        Get:\n          Type: HttpApi\n          Properties: {Method: GET, Path: /sso}\n"
        "  Sync:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n"
        "        Schedule:\n          Type: Schedule\n          Properties: {Schedule: rate(1 hour)}\n"
    )
    assert read_function_spec(path).logical_id == "Api"


@pytest.mark.parametrize(
    ("route", "method", "path", "expected"),
    [
        (Route("GET", "/sso"), "GET", "/sso", {}),
        (Route("GET", "/sso"), "POST", "/sso", None),
        (Route("GET", "/sso"), "GET", "/sso/", None),
        (Route("POST", "/users/{id}"), "POST", "/users/42", {"id": "42"}),
        (Route("POST", "/users/{id}"), "POST", "/users/42/x", None),
        (Route("ANY", "/"), "DELETE", "/", {}),
    ],
)
def test_route_matching(route: Route, method: str, path: str, expected: dict[str, str] | None) -> None:
    assert route.match(method, path) == expected


def test_the_project_template_declares_the_documented_routes() -> None:
    spec = read_function_spec(DEFAULT_TEMPLATE)
    assert {route.route_key for route in spec.routes} == {
        "GET /sso",
        "POST /sso",
        "GET /health",
        "GET /{proxy+}",
        "POST /{proxy+}",
        "GET /",
        "POST /",
        "GET /lti/login",
        "POST /lti/login",
        "POST /lti/launch",
        "GET /lti/jwks",
    }
    assert spec.timeout_seconds == 10
