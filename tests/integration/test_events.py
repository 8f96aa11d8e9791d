"""The ``events/`` files, as ``sam local invoke`` would send them, through ``handler.app.lambda_handler``.

``handler.app`` builds itself from the environment at import, exactly as in
Lambda; the test sets that environment (pointing at the loopback HTTPS servers
and moto) and imports it fresh.
"""

from __future__ import annotations

import base64
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest

from handler.errors import ConfigError
from tests.support import LambdaContext, SigningKey, mint

EVENTS = Path(__file__).resolve().parents[2] / "events"
PLACEHOLDER = "REPLACE_WITH_A_JWT"


def load_event(name: str, token: str) -> dict[str, Any]:
    """An event file with the placeholder replaced by ``token`` (in the body too, if base64)."""
    event = json.loads((EVENTS / name).read_text().replace(PLACEHOLDER, token))
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
    """Import ``handler.app`` afresh, in the environment Lambda would give it."""

    def load() -> ModuleType:
        for name, value in base_env.items():
            monkeypatch.setenv(name, value)
        # The function's pool trusts the system CAs; here, the test CA is the system.
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        sys.modules.pop("handler.app", None)
        return importlib.import_module("handler.app")

    yield load
    sys.modules.pop("handler.app", None)


@pytest.mark.parametrize("name", ["sso-get.json", "sso-post-form.json"])
def test_browser_event_files_redirect_to_big_interview(
    app_module: Callable[[], ModuleType], rsa_key: SigningKey, name: str
) -> None:
    app = app_module()

    result = app.lambda_handler(load_event(name, mint(rsa_key)), LambdaContext())

    assert result["statusCode"] == 302
    location = urlsplit(result["headers"]["Location"])
    assert location.path == "/sso/login"


def test_bearer_event_file_answers_json(app_module: Callable[[], ModuleType], rsa_key: SigningKey) -> None:
    app = app_module()

    result = app.lambda_handler(load_event("sso-bearer-json.json", mint(rsa_key)), LambdaContext())

    assert result["statusCode"] == 200
    assert "/sso/login?token=" in json.loads(result["body"])["redirect_url"]


def test_health_event_file_answers_200(app_module: Callable[[], ModuleType]) -> None:
    app = app_module()

    result = app.lambda_handler(json.loads((EVENTS / "health.json").read_text()), LambdaContext())

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
    sys.modules.pop("handler.app", None)

    with pytest.raises(ConfigError) as caught:
        importlib.import_module("handler.app")

    assert len(caught.value.problems) == 4
    sys.modules.pop("handler.app", None)
