"""``make invoke``: every ``events/`` file through the built artifact, as ``sam local invoke`` would.

The services are the local stack's sandboxes (moto, the sandbox Big Interview,
the development IdP); ``make invoke`` reaches them through an env.json like
``events/env.json.example``. Its answer must match, in status, header names and
body shape, what the in-process handler answers for the same event (each with a
token of its own: one-time links are on), and stderr must end with Lambda's
``START``/``END``/``REPORT`` lines.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from infra.local.lambda_runtime import new_context
from infra.local.moto_secrets import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY
from infra.local.stack import MANAGED_VARIABLES, REPOSITORY_ROOT, LocalStack, Ports
from tests import leakcheck

pytestmark = pytest.mark.usefixtures("lambda_runtime_ready")

EVENTS = REPOSITORY_ROOT / "events"
PLACEHOLDER = "REPLACE_WITH_A_JWT"
REPORT = re.compile(
    r"^REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: (?P<duration>[\d.]+) ms\t"
    r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: 256 MB\tMax Memory Used: (?P<used>\d+) MB"
    r"(?P<rest>.*)$"
)


@pytest.fixture(scope="module")
def services() -> Iterator[LocalStack]:
    """The sandboxes, and the handler imported in-process for the reference answers."""
    with LocalStack(ports=Ports.ephemeral(), environ={}) as stack:
        yield stack


@pytest.fixture(scope="module")
def env_json(services: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a developer puts in events/env.json to point ``make invoke`` at ``make dev``'s services."""
    assert services.function is not None and services.secrets_manager_url
    variables = {
        name: services.handler_environment.get(name, "") for name in services.function.environment_names
    }
    variables["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = services.secrets_manager_url
    variables["AWS_ENDPOINT_URL_DYNAMODB"] = services.secrets_manager_url
    path = tmp_path_factory.mktemp("invoke") / "env.json"
    path.write_text(json.dumps({"SsoFunction": variables, "OtherFunction": {"BI_ORG": "ignored"}}))
    return path


def event_file(name: str, token: str, directory: Path) -> Path:
    """``events/<name>`` with the placeholder replaced by ``token`` (in a base64 body too)."""
    event = json.loads((EVENTS / name).read_text().replace(PLACEHOLDER, token))
    if event.get("isBase64Encoded") and event.get("body"):
        body = base64.b64decode(event["body"]).decode().replace(PLACEHOLDER, token)
        event["body"] = base64.b64encode(body.encode()).decode()
    path = directory / name
    path.write_text(json.dumps(event))
    return path


def make_invoke(*arguments: str, aws_settings: bool = True) -> subprocess.CompletedProcess[str]:
    """``make invoke``; ``aws_settings=False``: from a shell with no AWS region or credentials."""
    shell = {name: value for name, value in os.environ.items() if name not in MANAGED_VARIABLES}
    if aws_settings:
        shell.update(
            AWS_ACCESS_KEY_ID=FAKE_ACCESS_KEY_ID,
            AWS_SECRET_ACCESS_KEY=FAKE_SECRET_ACCESS_KEY,
            AWS_REGION="us-east-1",
        )
    else:
        shell = {name: value for name, value in shell.items() if not name.startswith("AWS_")}
    return subprocess.run(
        ["make", "--no-print-directory", "invoke", *arguments],
        cwd=REPOSITORY_ROOT,
        env=shell,
        capture_output=True,
        text=True,
        timeout=120,
    )


def shape(answer: dict[str, Any]) -> dict[str, Any]:
    """What must match between two answers to the same event: all but tokens, ids and times."""
    headers = {name.lower(): value for name, value in (answer.get("headers") or {}).items()}
    body = answer.get("body") or ""
    if "json" in headers.get("content-type", ""):
        document = json.loads(body)
        body_shape: Any = sorted(document) if isinstance(document, dict) else type(document).__name__
        if isinstance(document, dict) and "redirect_url" in document:
            body_shape.append(urlsplit(document["redirect_url"])._replace(query="").geturl())
    else:
        # An HTML page: its title (the error or the page kind), not its reference id.
        found = re.search(r"<title>(.*?)</title>", body)
        body_shape = found.group(1) if found else body[:20]
    location = headers.get("location")
    return {
        "statusCode": answer["statusCode"],
        "header names": sorted(headers),
        "isBase64Encoded": answer.get("isBase64Encoded", False),
        "cookies": len(answer.get("cookies") or []),
        "location": urlsplit(location)._replace(query="").geturl() if location else None,
        "body": body_shape,
    }


@pytest.mark.parametrize("name", sorted(path.name for path in EVENTS.glob("*.json")))
def test_make_invoke_answers_every_event_as_the_in_process_handler(
    name: str, services: LocalStack, env_json: Path, tmp_path: Path
) -> None:
    assert services.identity_provider is not None and services.gateway is not None
    tokens = [
        services.identity_provider.mint_token(
            f"invoke-{n}", given_name="In", family_name="Voke", email="in.voke@example.edu"
        )
        for n in range(2)
    ]
    leakcheck.register(*tokens)
    (tmp_path / "artifact").mkdir()
    (tmp_path / "reference").mkdir()

    done = make_invoke(f"EVENT={event_file(name, tokens[0], tmp_path / 'artifact')}", f"ENV={env_json}")
    reference_event = json.loads(event_file(name, tokens[1], tmp_path / "reference").read_text())
    reference = services.gateway.lambda_handler(
        reference_event, new_context("SsoFunction", 256, 10, "us-east-1")
    )

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert shape(answer) == shape(reference)
    if name.startswith("sso"):  # a real sign-in, through the sandbox: the token was accepted
        assert answer["statusCode"] in (200, 302)
    report = done.stderr.splitlines()[-1]
    found = REPORT.match(report)
    assert found, done.stderr
    assert found["rest"].startswith("\tInit Duration: ")  # a cold start, billed with its INIT
    init_ms = float(found["rest"].split(": ")[1].split(" ")[0])
    assert int(found["billed"]) >= init_ms + float(found["duration"])
    assert int(found["used"]) > 20  # the 3.13 process with the artifact loaded
    assert f"START RequestId: {found['id']} Version: $LATEST" in done.stderr
    assert f"END RequestId: {found['id']}" in done.stderr
    assert "not declared by the template" not in done.stderr  # OtherFunction's values are not ours


def test_make_invoke_in_snapstart_mode_reports_the_restore(env_json: Path) -> None:
    done = make_invoke(f"EVENT={EVENTS / 'health.json'}", f"ENV={env_json}", "SNAPSTART=1")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["statusCode"] == 200
    found = REPORT.match(done.stderr.splitlines()[-1])
    assert found, done.stderr
    assert re.fullmatch(r"\tRestore Duration: [\d.]+ ms\tBilled Restore Duration: \d+ ms", found["rest"])


def test_make_invoke_reports_an_unusable_event_in_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    done = make_invoke(f"EVENT={broken}")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "make invoke: Expecting property name enclosed in double quotes" in done.stderr
    assert "Traceback" not in done.stderr


def test_make_invoke_without_an_event_says_how_to_call_it() -> None:
    done = make_invoke()
    assert done.returncode != 0
    assert "usage: make invoke EVENT=events/sso-get.json [ENV=events/env.json] [TOKEN=<jwt>]" in done.stderr


def test_make_invoke_of_the_health_event_needs_no_preparation() -> None:
    # As a fresh clone runs it: no env.json, no AWS settings, make dev not running.
    done = make_invoke("EVENT=events/health.json", aws_settings=False)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["statusCode"] == 200


@pytest.mark.parametrize("name", ["sso-get.json", "sso-post-form.json", "sso-bearer-json.json"])
def test_make_invoke_of_a_sign_in_event_mints_its_own_token_with_a_profile(name: str, env_json: Path) -> None:
    # env_json points at this module's stack as events/env.json.example points at make dev's.
    done = make_invoke(f"EVENT=events/{name}", f"ENV={env_json}", aws_settings=False)

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["statusCode"] in (200, 302), answer  # a new user, created: the profile was there
    assert "REPLACE_WITH_A_JWT" not in done.stdout + done.stderr


def test_make_invoke_uses_the_token_it_is_given(env_json: Path) -> None:
    done = make_invoke("EVENT=events/sso-get.json", f"ENV={env_json}", "TOKEN=not-a-token")

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["statusCode"] == 401 and "malformed_token" in answer["body"]


def test_make_invoke_of_a_sign_in_event_without_make_dev_says_what_to_start(tmp_path: Path) -> None:
    env = tmp_path / "env.json"
    env.write_text(json.dumps({"SsoFunction": {"JWT_ISSUER": "http://127.0.0.1:9"}}))

    done = make_invoke("EVENT=events/sso-get.json", f"ENV={env}")

    assert done.returncode == 2
    assert "make dev" in done.stderr and "TOKEN=" in done.stderr
    assert "Traceback" not in done.stderr
