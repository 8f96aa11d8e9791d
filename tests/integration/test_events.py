"""The ``events/`` files, as ``sam local invoke`` would send them, through the entry point.

The entry point is ``handler.entry_point.lambda_handler``.

``handler.entry_point`` builds itself from the environment at import, exactly as in
Lambda; the test sets that environment (pointing at the loopback HTTPS servers
and moto) and imports it fresh.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest

from handler.errors import ConfigError
from tests.support import SigningKey, lambda_context, mint
from tests.support.isolation import fresh_import

EVENTS = Path(__file__).resolve().parents[2] / "events"
PLACEHOLDER = "REPLACE_WITH_A_JWT"


def load_event(name: str, token: str) -> dict[str, Any]:
    """An event file with the placeholder replaced by ``token`` (in the body too, if base64)."""
    event: dict[str, Any] = json.loads((EVENTS / name).read_text().replace(PLACEHOLDER, token))
    if event.get("isBase64Encoded") and event.get("body"):
        body = base64.b64decode(event["body"]).decode().replace(PLACEHOLDER, token)
        event["body"] = base64.b64encode(body.encode()).decode()
    return event


@pytest.fixture
def app_module(
    monkeypatch: pytest.MonkeyPatch,
    base_env: dict[str, str],
    ca_file: Path,
    aws: Any,
    partner_api: Any,
    jwks: Any,
) -> Callable[[], ModuleType]:
    """Import ``handler.entry_point`` afresh, in the environment Lambda would give it."""

    def load() -> ModuleType:
        for name, value in base_env.items():
            monkeypatch.setenv(name, value)
        # The function's pool trusts the system CAs; here, the test CA is the system.
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        return fresh_import("handler.entry_point")

    return load


@pytest.mark.parametrize("name", ["sso-get.json", "sso-post-form.json"])
def test_browser_event_files_redirect_to_big_interview(
    app_module: Callable[[], ModuleType], rsa_key: SigningKey, name: str
) -> None:
    app = app_module()

    result = app.lambda_handler(load_event(name, mint(rsa_key)), lambda_context())

    assert result["statusCode"] == 302
    location = urlsplit(result["headers"]["Location"])
    assert location.path == "/sso/login"


def test_bearer_event_file_answers_json(app_module: Callable[[], ModuleType], rsa_key: SigningKey) -> None:
    app = app_module()

    result = app.lambda_handler(load_event("sso-bearer-json.json", mint(rsa_key)), lambda_context())

    assert result["statusCode"] == 200
    assert "/sso/login?token=" in json.loads(result["body"])["redirect_url"]


def test_health_event_file_answers_200(app_module: Callable[[], ModuleType]) -> None:
    app = app_module()

    result = app.lambda_handler(json.loads((EVENTS / "health.json").read_text()), lambda_context())

    assert result["statusCode"] == 200


def test_every_event_file_is_a_v2_event_for_a_template_route() -> None:
    names = sorted(p.name for p in EVENTS.glob("*.json"))

    assert names == ["health.json", "sso-bearer-json.json", "sso-get.json", "sso-post-form.json"]
    for name in names:
        event = json.loads((EVENTS / name).read_text())
        assert event["version"] == "2.0"
        assert event["routeKey"] in {"GET /sso", "POST /sso", "GET /health"}
        assert event["routeKey"] == f"{event['requestContext']['http']['method']} {event['rawPath']}"


def test_import_with_a_bad_environment_fails_listing_every_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BI_ORG", "BI_API_KEY_SECRET_ID", "JWT_ISSUER", "JWT_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)

    with pytest.raises(ConfigError) as caught:
        fresh_import("handler.entry_point")

    assert len(caught.value.problems) == 4


# What an HTTP API event may leave out: AWS omits these when the request has none.
OPTIONAL_EVENT_KEYS = {"cookies", "queryStringParameters", "body", "pathParameters", "stageVariables"}
OPTIONAL_CONTEXT_KEYS = {"authentication", "authorizer"}


@pytest.fixture(scope="module")
def sam_generated_event() -> dict[str, Any]:
    """``sam local generate-event apigateway http-api-proxy``: the shape AWS documents (no Docker needed)."""
    sam = Path(sys.executable).parent / "sam"
    generated = subprocess.run(
        [str(sam), "local", "generate-event", "apigateway", "http-api-proxy"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
    )
    event: dict[str, Any] = json.loads(generated.stdout)
    return event


def shape_problems(ours: Any, reference: Any, optional: set[str], where: str) -> list[str]:
    """How ``ours`` differs in keys and JSON types from ``reference`` (values may differ)."""
    if type(ours) is not type(reference) and not (isinstance(ours, int) and isinstance(reference, int)):
        return [f"{where}: {type(ours).__name__} where SAM has {type(reference).__name__}"]
    if not isinstance(ours, dict):
        return []
    problems = [f"{where}.{key}: not in SAM's event" for key in ours.keys() - reference.keys()]
    problems += [f"{where}.{key}: missing" for key in reference.keys() - ours.keys() - optional]
    for key in ours.keys() & reference.keys():
        if key in ("headers", "queryStringParameters"):  # free-form maps of strings
            problems += [
                f"{where}.{key}.{k}: not a string" for k, v in ours[key].items() if not isinstance(v, str)
            ]
            continue
        nested_optional = OPTIONAL_CONTEXT_KEYS if key == "requestContext" else set()
        problems += shape_problems(ours[key], reference[key], nested_optional, f"{where}.{key}")
    return problems


@pytest.mark.parametrize(
    "name", sorted(p.name for p in EVENTS.glob("*.json") if p.name != "env.json.example")
)
def test_event_file_has_the_shape_sam_local_generate_event_produces(
    sam_generated_event: dict[str, Any], name: str
) -> None:
    ours = json.loads((EVENTS / name).read_text())

    assert shape_problems(ours, sam_generated_event, OPTIONAL_EVENT_KEYS, name) == []


def test_shape_check_reports_unknown_keys_missing_keys_and_wrong_types(
    sam_generated_event: dict[str, Any],
) -> None:
    broken = json.loads((EVENTS / "sso-get.json").read_text())
    broken["extra"] = 1
    broken["isBase64Encoded"] = "false"
    del broken["requestContext"]["http"]

    problems = shape_problems(broken, sam_generated_event, OPTIONAL_EVENT_KEYS, "e")

    assert sorted(problems) == [
        "e.extra: not in SAM's event",
        "e.isBase64Encoded: str where SAM has bool",
        "e.requestContext.http: missing",
    ]


@pytest.mark.parametrize("path", sorted(EVENTS.glob("sso-*.json")), ids=lambda path: path.name)
def test_the_placeholder_of_every_sign_in_event_is_in_plain_sight(path: Path) -> None:
    # A sam local invoke user replaces it by hand (or with sed): never inside a base64 body.
    assert PLACEHOLDER in path.read_text()
