"""A local API Gateway (HTTP API, payload format 2.0) in front of a Lambda handler.

Each real HTTP request becomes the event AWS would send - same keys, same
encodings - and the handler's answer becomes the HTTP response:

- headers lower-cased, repeated ones joined with commas; ``cookie`` headers
  moved to ``cookies``; the ``x-forwarded-*`` headers API Gateway adds;
- ``queryStringParameters`` decoded and comma-joined for repeated keys,
  ``rawQueryString`` as sent; keys that would be empty are left out, as AWS does;
- text bodies (``text/*``, JSON, XML, JavaScript, form-urlencoded) passed as text,
  anything else base64 with ``isBase64Encoded: true`` (the handler must accept
  both for forms anyway: set ``text_content_types`` to test the other path);
- routes from ``template.yaml``; no match is ``404 {"message":"Not Found"}`` and a
  handler exception is ``500 {"message":"Internal Server Error"}``;
- CORS from the HTTP API's ``CorsConfiguration`` (``cors``), as API Gateway applies it:
  a preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) that
  no route takes is answered here, 204 with the configured headers for an allowed
  origin, without invoking the function; other answers lose the function's own
  ``Access-Control-*`` headers (API Gateway ignores them) and get the configured ones.

The handler is a parameter, so tests can pass a recording function.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from infra.local.http_server import BackgroundHTTPServer, LoopbackService, QuietHandler
from infra.local.lambda_runtime import LOCAL_ACCOUNT_ID, EnvironmentPool, LambdaHandler, new_context
from infra.local.sam_template import CorsConfiguration, FunctionSpec, Route
from infra.local.terminal import access_line

# Content types API Gateway hands over as text; everything else is base64 (see module docstring).
DEFAULT_TEXT_CONTENT_TYPES: tuple[str, ...] = (
    "text/",
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
    "+json",
    "+xml",
)
LOCAL_API_ID = "localapi01"
# Hop-by-hop and framing headers are the local server's business, not the handler's.
RESPONSE_HEADERS_MANAGED_HERE = frozenset({"content-length", "connection", "transfer-encoding"})
# Hop-by-hop request headers end at the gateway; API Gateway does not forward them.
HOP_BY_HOP_REQUEST_HEADERS = frozenset({"connection", "keep-alive", "proxy-connection", "te", "upgrade"})


def is_text_content_type(content_type: str, text_content_types: Sequence[str]) -> bool:
    """Whether a body of ``content_type`` is passed to the handler as text."""
    media_type = content_type.split(";")[0].strip().lower()
    if not media_type:
        return False
    return any(
        media_type.startswith(kind)
        if kind.endswith("/")
        else media_type.endswith(kind)
        if kind.startswith("+")
        else media_type == kind
        for kind in text_content_types
    )


def build_event(
    *,
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    source_ip: str,
    route_key: str,
    path_parameters: dict[str, str] | None = None,
    request_id: str | None = None,
    now: datetime | None = None,
    api_id: str = LOCAL_API_ID,
    protocol: str = "HTTP/1.1",
    text_content_types: Sequence[str] = DEFAULT_TEXT_CONTENT_TYPES,
) -> dict[str, Any]:
    """The HTTP API payload 2.0 event for one request (``target`` is the request line's path?query)."""
    now = now or datetime.now(UTC)
    request_id = request_id or new_request_id()
    raw_path, _, raw_query = target.partition("?")

    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key in HOP_BY_HOP_REQUEST_HEADERS:
            continue
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
        else:
            joined[key] = f"{joined[key]},{value}" if key in joined else value
    host = joined.get("host", "")
    domain_name = host.rsplit(":", 1)[0] if host and not host.endswith("]") else host
    # What API Gateway adds in front of the integration.
    joined.setdefault("x-forwarded-for", source_ip)
    joined.setdefault("x-forwarded-port", host.rsplit(":", 1)[1] if ":" in host else "80")
    joined.setdefault("x-forwarded-proto", "http")
    joined.setdefault("x-amzn-trace-id", f"Root=1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}")
    if body:
        joined.setdefault("content-length", str(len(body)))

    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = joined
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": api_id,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".")[0],
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": joined.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        if is_text_content_type(joined.get("content-type", ""), text_content_types):
            event["body"] = body.decode("utf-8", "replace")
            event["isBase64Encoded"] = False
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


def new_request_id() -> str:
    """A request id in API Gateway's style (16 base64 characters, e.g. ``JKJaXmPLvHcESHA=``)."""
    return base64.b64encode(os.urandom(11)).decode()


def preflight_headers(cors: CorsConfiguration, origin: str) -> list[tuple[str, str]]:
    """API Gateway's answer headers to a preflight from ``origin`` (none for another origin)."""
    if not cors.allows_origin(origin):
        return []
    headers = [("Access-Control-Allow-Origin", "*" if "*" in cors.allow_origins else origin)]
    if cors.allow_methods:
        headers.append(("Access-Control-Allow-Methods", ",".join(cors.allow_methods)))
    if cors.allow_headers:
        headers.append(("Access-Control-Allow-Headers", ",".join(cors.allow_headers)))
    if cors.max_age is not None:
        headers.append(("Access-Control-Max-Age", str(cors.max_age)))
    if cors.allow_credentials:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    return headers


def cors_response_headers(
    cors: CorsConfiguration, origin: str | None, headers: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The integration's headers without its own CORS ones, plus the configured ones."""
    kept = [(name, value) for name, value in headers if not name.lower().startswith("access-control-")]
    if origin is None or not cors.allows_origin(origin):
        return kept
    kept.append(("Access-Control-Allow-Origin", "*" if "*" in cors.allow_origins else origin))
    if cors.expose_headers:
        kept.append(("Access-Control-Expose-Headers", ",".join(cors.expose_headers)))
    if cors.allow_credentials:
        kept.append(("Access-Control-Allow-Credentials", "true"))
    return kept


def response_parts(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Turn a handler's return value into ``(status, headers, body)`` as API Gateway does.

    A dict with ``statusCode`` is a full response; anything else is a JSON body with 200.
    """
    if not isinstance(result, dict) or "statusCode" not in result:
        text = result if isinstance(result, str) else json.dumps(result)
        return 200, [("Content-Type", "application/json")], text.encode()
    headers: list[tuple[str, str]] = [
        (name, str(value)) for name, value in (result.get("headers") or {}).items()
    ]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((name, str(value)) for value in values)
    headers.extend(("Set-Cookie", str(cookie)) for cookie in result.get("cookies") or [])
    headers = [(n, v) for n, v in headers if n.lower() not in RESPONSE_HEADERS_MANAGED_HERE]
    raw_body = result.get("body") or ""
    body = base64.b64decode(raw_body) if result.get("isBase64Encoded") else str(raw_body).encode()
    return int(result["statusCode"]), headers, body


class LocalApiGateway(LoopbackService):
    """Serves ``function``'s routes on 127.0.0.1, invoking ``lambda_handler`` per request.

    Invocations are serialized by default: one Lambda execution environment handles
    one request at a time, and the handler's module-level state assumes it. With
    ``environments`` (a pool of ``ProcessEnvironment``), concurrent requests each get an
    environment of their own, as Lambda scales out.

    A failed invocation (the function raised, timed out, or its environment failed
    INIT) is ``500 {"message":"Internal Server Error"}``: what an HTTP API answers when
    Lambda reports a function error. (Its 30 s integration timeout is not emulated: the
    function's own timeout, 10 s in the template, always ends an invocation first.)
    """

    def __init__(
        self,
        lambda_handler: LambdaHandler,
        function: FunctionSpec,
        port: int = 0,
        region: str = "us-east-1",
        text_content_types: Sequence[str] = DEFAULT_TEXT_CONTENT_TYPES,
        environments: EnvironmentPool | None = None,
        access_log: bool = False,
        request_code: Callable[[], str] | None = None,
        cors: CorsConfiguration | None = None,
    ) -> None:
        self.lambda_handler = lambda_handler
        self.function = function
        self.cors = cors
        self.region = region
        self.text_content_types = tuple(text_content_types)
        # One stderr line per request (method, path, status, code, latency): never the query or body.
        self.access_log = access_log
        self.request_code = request_code  # the handler's code for the request just served
        self._invoke_lock = threading.Lock()
        self.environments = environments
        self._http = BackgroundHTTPServer(_handler_class_for(self), port)

    def find_route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The first route serving ``method path`` and its path parameters."""
        for route in self.function.routes:
            parameters = route.match(method, path)
            if parameters is not None:
                return route, parameters
        return None

    def invoke(self, event: dict[str, Any]) -> Any:
        """Call the handler with a fresh context, as one Lambda invocation."""
        context = new_context(
            self.function.logical_id, self.function.memory_mb, self.function.timeout_seconds, self.region
        )
        if self.environments is not None:
            return self.environments.invoke(event, context)
        with self._invoke_lock:
            return self.lambda_handler(event, context)


def _handler_class_for(gateway: LocalApiGateway) -> type[QuietHandler]:
    """A request handler class bound to ``gateway``."""

    class ApiGatewayRequestHandler(QuietHandler):
        server_version = "local-api-gateway"

        def do_GET(self) -> None:
            self._proxy()

        do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

        def _proxy(self) -> None:
            request_id = new_request_id()
            request_id_header = ("apigw-requestid", request_id)
            body = self.read_body()
            raw_path = urlsplit(self.path).path
            found = gateway.find_route(self.command, raw_path)
            origin = self.headers.get("Origin")
            cors = gateway.cors
            if (
                found is None
                and cors is not None
                and self.command == "OPTIONS"
                and origin
                and self.headers.get("Access-Control-Request-Method")
            ):
                self.send(204, b"", [*preflight_headers(cors, origin), request_id_header])
                return
            if found is None:
                self.send_json(404, {"message": "Not Found"}, [request_id_header])
                return
            route, path_parameters = found
            event = build_event(
                method=self.command,
                target=self.path,
                headers=self.headers.items(),
                body=body,
                source_ip=self.client_address[0],
                route_key=route.route_key,
                path_parameters=path_parameters,
                request_id=request_id,
                protocol=self.request_version,
                text_content_types=gateway.text_content_types,
            )
            started = time.monotonic()
            try:
                status, headers, response_body = response_parts(gateway.invoke(event))
            except Exception as error:  # noqa: BLE001 - API Gateway turns any failure into a 500
                document = getattr(error, "document", None)
                if isinstance(document, dict):  # a process environment's error: its logs tell the rest
                    error_type = str(document.get("errorType"))
                    # The runtime's own failures (exit, timeout) say why in their message; a
                    # function's exception message is its own, and its log has it already.
                    why = (
                        document.get("errorMessage")
                        if error_type.startswith(("Runtime.", "Sandbox."))
                        else None
                    )
                    print(
                        f"Lambda invocation failed: {error_type}" + (f": {why}" if why else ""),
                        file=sys.stderr,
                    )
                else:
                    traceback.print_exc(file=sys.stderr)
                self.send_json(500, {"message": "Internal Server Error"}, [request_id_header])
                return
            if gateway.access_log:
                elapsed_ms = (time.monotonic() - started) * 1000
                line = access_line(self.command, raw_path, status, gateway.request_code, elapsed_ms)
                print(line, file=sys.stderr, flush=True)
            if cors is not None:
                headers = cors_response_headers(cors, origin, headers)
            self.send(status, response_body, [*headers, request_id_header])

    return ApiGatewayRequestHandler
