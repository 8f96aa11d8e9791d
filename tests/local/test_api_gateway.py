"""The local API Gateway sends the handler exactly the HTTP API v2 event AWS would."""

from __future__ import annotations

import base64
import http.client
import re
import threading
from collections.abc import Callable
from typing import Any

from infra.local.api_gateway import LocalApiGateway, build_event, is_text_content_type, response_parts
from infra.local.lambda_runtime import EnvironmentPool
from tests.local.conftest import Recorder, fetch


def raw_request(
    gateway: LocalApiGateway, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b""
) -> http.client.HTTPResponse:
    """Send a request with exactly these header lines (repeats included)."""
    connection = http.client.HTTPConnection("127.0.0.1", int(gateway.url.rsplit(":", 1)[1]), timeout=10)
    connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
    for name, value in headers:
        connection.putheader(name, value)
    if body:
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body or None)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def without_random_fields(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its per-request random values checked for format and blanked."""
    context = event["requestContext"]
    assert re.fullmatch(r"[A-Za-z0-9+/]{15}=", context["requestId"])
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["time"])
    assert isinstance(context["timeEpoch"], int)
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", event["headers"]["x-amzn-trace-id"])
    context.update(requestId="*", time="*", timeEpoch=0)
    event["headers"]["x-amzn-trace-id"] = "*"
    return event


def test_a_get_with_query_repeated_headers_and_cookies_becomes_the_exact_v2_event(
    recording_gateway: LocalApiGateway, recorder: Recorder
) -> None:
    port = recording_gateway.url.rsplit(":", 1)[1]
    raw_request(
        recording_gateway,
        "GET",
        "/sso?jwt=a.b.c&tag=x&tag=y&redirect_to=%2Fmembers%3Fchapter%3D6&empty=",
        [
            ("Host", f"127.0.0.1:{port}"),
            ("User-Agent", "pytest-agent/1.0"),
            ("Accept", "text/html"),
            ("X-Custom", "one"),
            ("x-custom", "two"),
            ("Cookie", "a=1; b=2"),
            ("Cookie", "c=3"),
            ("Connection", "keep-alive"),
        ],
    )
    assert len(recorder.events) == 1
    assert without_random_fields(recorder.events[0]) == {
        "version": "2.0",
        "routeKey": "GET /sso",
        "rawPath": "/sso",
        "rawQueryString": "jwt=a.b.c&tag=x&tag=y&redirect_to=%2Fmembers%3Fchapter%3D6&empty=",
        "cookies": ["a=1", "b=2", "c=3"],
        "headers": {
            "host": f"127.0.0.1:{port}",
            "user-agent": "pytest-agent/1.0",
            "accept": "text/html",
            "x-custom": "one,two",
            "x-forwarded-for": "127.0.0.1",
            "x-forwarded-port": port,
            "x-forwarded-proto": "http",
            "x-amzn-trace-id": "*",
        },
        "queryStringParameters": {
            "jwt": "a.b.c",
            "tag": "x,y",
            "redirect_to": "/members?chapter=6",
            "empty": "",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "localapi01",
            "domainName": "127.0.0.1",
            "domainPrefix": "127",
            "http": {
                "method": "GET",
                "path": "/sso",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "pytest-agent/1.0",
            },
            "requestId": "*",
            "routeKey": "GET /sso",
            "stage": "$default",
            "time": "*",
            "timeEpoch": 0,
        },
        "isBase64Encoded": False,
    }


def test_a_form_post_carries_its_body_as_text(recording_gateway: LocalApiGateway, recorder: Recorder) -> None:
    body = b"jwt=a.b.c&redirect_to=%2Fx"
    raw_request(
        recording_gateway,
        "POST",
        "/sso",
        [("Host", "localhost"), ("Content-Type", "application/x-www-form-urlencoded")],
        body,
    )
    event = without_random_fields(recorder.events[0])
    assert event["routeKey"] == "POST /sso"
    assert event["rawQueryString"] == ""
    assert "queryStringParameters" not in event
    assert "cookies" not in event
    assert event["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert event["headers"]["content-length"] == str(len(body))
    assert event["headers"]["x-forwarded-port"] == "80"
    assert event["requestContext"]["domainName"] == "localhost"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert (event["body"], event["isBase64Encoded"]) == (body.decode(), False)


def test_a_binary_body_is_base64_encoded(recording_gateway: LocalApiGateway, recorder: Recorder) -> None:
    body = bytes(range(256))
    raw_request(
        recording_gateway, "POST", "/sso", [("Host", "h"), ("Content-Type", "application/octet-stream")], body
    )
    event = recorder.events[0]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_text_content_types_follow_api_gateway() -> None:
    for kind in (
        "text/plain",
        "application/json; charset=utf-8",
        "application/vnd.api+json",
        "application/xml",
    ):
        assert is_text_content_type(kind, ("text/", "application/json", "application/xml", "+json")), kind
    for kind in ("application/octet-stream", "image/png", "", "multipart/form-data; boundary=x"):
        assert not is_text_content_type(kind, ("text/", "application/json", "+json")), kind


def test_form_bodies_can_be_delivered_base64_encoded_when_configured() -> None:
    event = build_event(
        method="POST",
        target="/sso",
        headers=[("Content-Type", "application/x-www-form-urlencoded")],
        body=b"jwt=x",
        source_ip="127.0.0.1",
        route_key="POST /sso",
        text_content_types=("application/json",),
    )
    assert (event["body"], event["isBase64Encoded"]) == ("and0PXg=", True)


def test_the_context_counts_down_from_the_template_timeout(
    recording_gateway: LocalApiGateway, recorder: Recorder
) -> None:
    assert fetch("GET", f"{recording_gateway.url}/health").status == 200
    context = recorder.contexts[0]
    assert context.function_name == "SsoFunction"
    assert context.memory_limit_in_mb == 256
    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:SsoFunction"
    assert re.fullmatch(r"[0-9a-f-]{36}", context.aws_request_id)
    assert 9000 < context.get_remaining_time_in_millis() <= 10000


def test_unmatched_routes_are_404_like_api_gateway(
    recording_gateway: LocalApiGateway, recorder: Recorder
) -> None:
    for method, path in (("GET", "/nope"), ("DELETE", "/sso"), ("GET", "/sso/"), ("GET", "/health/x")):
        answer = fetch(method, f"{recording_gateway.url}{path}")
        assert (answer.status, answer.body) == (404, b'{"message":"Not Found"}'), (method, path)
        assert answer.headers["apigw-requestid"]
    assert recorder.events == []


def test_path_parameters_are_passed_for_parameterised_routes(
    recording_gateway: LocalApiGateway, recorder: Recorder
) -> None:
    assert fetch("PUT", f"{recording_gateway.url}/users/u-1").status == 200
    event = recorder.events[0]
    assert event["routeKey"] == "ANY /users/{id}"
    assert event["pathParameters"] == {"id": "u-1"}


def test_the_handler_response_becomes_the_http_response(
    recording_gateway: LocalApiGateway, recorder: Recorder
) -> None:
    recorder.response = {
        "statusCode": 302,
        "headers": {"Location": "https://bi.example/sso/login?token=t", "Cache-Control": "no-store"},
        "multiValueHeaders": {"X-Multi": ["1", "2"]},
        "cookies": ["a=1; Path=/", "b=2"],
        "body": "",
        "isBase64Encoded": False,
    }
    connection = http.client.HTTPConnection("127.0.0.1", int(recording_gateway.url.rsplit(":", 1)[1]))
    connection.request("GET", "/sso?jwt=x")
    response = connection.getresponse()
    assert response.status == 302
    assert response.getheader("Location") == "https://bi.example/sso/login?token=t"
    assert response.getheader("Cache-Control") == "no-store"
    assert response.headers.get_all("Set-Cookie") == ["a=1; Path=/", "b=2"]
    assert response.headers.get_all("X-Multi") == ["1", "2"]
    connection.close()


def test_base64_and_bare_responses_are_decoded() -> None:
    assert (
        response_parts(
            {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}
        )[2]
        == b"\x00\x01"
    )
    assert response_parts({"ok": True}) == (200, [("Content-Type", "application/json")], b'{"ok": true}')


def test_a_failing_handler_is_a_500_like_api_gateway(recording_gateway: LocalApiGateway) -> None:
    def broken(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("boom")

    recording_gateway.lambda_handler = broken
    answer = fetch("GET", f"{recording_gateway.url}/sso")
    assert (answer.status, answer.body) == (500, b'{"message":"Internal Server Error"}')


def test_an_environment_never_runs_two_invocations_at_once() -> None:
    """The pool gives each concurrent invocation an environment of its own, and reuses idle ones."""
    busy: set[int] = set()
    overlaps: list[int] = []
    guard = threading.Lock()
    gate = threading.Barrier(4)

    def environment(number: int) -> Callable[[dict[str, Any], Any], Any]:
        def handler(event: dict[str, Any], context: Any) -> int:
            with guard:
                if number in busy:
                    overlaps.append(number)
                busy.add(number)
            try:
                if event.get("wait"):
                    gate.wait(timeout=5)  # four invocations in flight at once
                return number
            finally:
                with guard:
                    busy.discard(number)

        return handler

    created = iter(range(1, 100))
    pool = EnvironmentPool(environment(0), lambda: environment(next(created)), limit=8)
    threads = [threading.Thread(target=pool.invoke, args=({"wait": True}, None)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert overlaps == []
    assert pool.size == 4  # four at once needed four environments
    assert pool.invoke({}, None) in range(4)  # then an idle one is reused: no fifth
    assert pool.size == 4
