"""Fixtures for the local stack's tests: each server on a free loopback port."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from infra.local.api_gateway import LocalApiGateway
from infra.local.dev_identity_provider import DevIdentityProvider
from infra.local.lambda_runtime import LambdaContext
from infra.local.moto_secrets import new_api_key
from infra.local.sam_template import FunctionSpec, read_function_spec
from infra.local.sandbox_big_interview import SandboxBigInterview
from infra.local.stack import LocalStack, Ports

# A template shaped like the project's: three HttpApi routes, short tags, a 10 s timeout.
MINIMAL_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  LogLevel:
    Type: String
    Default: DEBUG
Globals:
  Function:
    MemorySize: 512
Resources:
  HttpApi:
    Type: AWS::Serverless::HttpApi
  SsoFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: handler.entry_point.lambda_handler
      CodeUri: .
      Runtime: python3.13
      Architectures: [!Ref AWS::NoValue]
      MemorySize: 256
      Timeout: 10
      Environment:
        Variables:
          POWERTOOLS_SERVICE_NAME: sso-redirector
          POWERTOOLS_LOG_LEVEL: !Ref LogLevel
          BI_ORG: !Ref BiOrg
      Events:
        SsoGet:
          Type: HttpApi
          Properties: {ApiId: !Ref HttpApi, Method: GET, Path: /sso}
        SsoPost:
          Type: HttpApi
          Properties: {ApiId: !Ref HttpApi, Method: post, Path: /sso}
        Health:
          Type: HttpApi
          Properties: {ApiId: !Ref HttpApi, Method: GET, Path: /health}
        UserPage:
          Type: HttpApi
          Properties: {ApiId: !Ref HttpApi, Method: ANY, Path: "/users/{id}"}
Outputs:
  Url:
    Value: !Sub https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/sso
"""


@dataclass
class MutableClock:
    """A clock tests can move forward (token expiry without waiting 48 hours)."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Answer:
    """An HTTP answer, whatever its status."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    follow_redirects: bool = False,
) -> Answer:
    """One request; redirects are returned, not followed, unless asked."""
    handlers = [] if follow_redirects else [_NoRedirect()]
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with opener.open(request, timeout=15) as response:
            return Answer(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers.items()), error.read())


def post_form(url: str, fields: dict[str, str]) -> Answer:
    """POST ``fields`` as an HTML form would."""
    return fetch(
        "POST",
        url,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=urlencode(fields).encode(),
    )


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture
def sandbox_api_key() -> str:
    return new_api_key()


@pytest.fixture
def sandbox_big_interview(sandbox_api_key: str, clock: MutableClock) -> Iterator[SandboxBigInterview]:
    """A running sandbox Big Interview whose clock the test controls."""
    with SandboxBigInterview(api_key=sandbox_api_key, clock=clock) as server:
        yield server


@pytest.fixture(scope="session")
def dev_identity_provider() -> Iterator[DevIdentityProvider]:
    """A running development IdP (one key pair per session: RSA generation is not free)."""
    with DevIdentityProvider(api_url="http://127.0.0.1:9") as idp:
        yield idp


@pytest.fixture
def template_path(tmp_path: Path) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(MINIMAL_TEMPLATE)
    return path


@pytest.fixture
def function_spec(template_path: Path) -> FunctionSpec:
    return read_function_spec(template_path)


@dataclass
class Recorder:
    """A stand-in Lambda handler that records what it was given."""

    events: list[dict[str, Any]] = field(default_factory=list)
    contexts: list[LambdaContext] = field(default_factory=list)
    response: Any = field(
        default_factory=lambda: {"statusCode": 200, "headers": {"content-type": "text/plain"}, "body": "ok"}
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> Any:
        with self.lock:
            self.events.append(event)
            self.contexts.append(context)
        return self.response


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def recording_gateway(recorder: Recorder, function_spec: FunctionSpec) -> Iterator[LocalApiGateway]:
    """The local API Gateway in front of the recording handler."""
    with LocalApiGateway(recorder, function_spec) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def local_stack() -> Iterator[LocalStack]:
    """The whole stack with the real handler, every piece a sandbox, on free ports."""
    with LocalStack(ports=Ports.ephemeral(), environ={}) as stack:
        yield stack
