"""Every HTTP answer the redirector gives: the redirect, errors as HTML or JSON, headers.

Errors are mapped to responses here and nowhere else. An error page never
echoes the token or shows a stack trace; it always carries the request id.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response

from handler.errors import SsoError

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}
HTML_HEADERS = {
    # The page has one inline <style> block and nothing else.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Frame-Options": "DENY",
}
HTML_TYPE = "text/html; charset=utf-8"
JSON_TYPE = "application/json"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;
color:#1a1a1a;line-height:1.5}}
h1{{font-size:1.5rem}} .ref{{color:#555;font-size:.875rem}}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p>{message}</p>
<p class="ref">Error code: <code>{code}</code><br>Reference: <code>{request_id}</code></p>
</main>
</body>
</html>
"""
TITLES = {
    400: "We could not read this sign-in request",
    401: "This sign-in link does not work",
    403: "This account cannot be signed in",
    404: "Page not found",
}


def redirect(location: str) -> Response[str]:
    """The 302 to Big Interview."""
    return Response(status_code=302, body="", headers={"Location": location})


def redirect_as_json(location: str) -> Response[str]:
    """For single-page apps: the URL to navigate to, as JSON."""
    return Response(status_code=200, content_type=JSON_TYPE, body=json.dumps({"redirect_url": location}))


def error_response(
    error: SsoError, request_id: str, wants_json: bool, error_redirect_url: str | None
) -> Response[str]:
    """The one place an ``SsoError`` becomes an HTTP answer."""
    if wants_json:
        body = {"error": {"code": error.code, "message": error.message, "request_id": request_id}}
        return Response(status_code=error.status, content_type=JSON_TYPE, body=json.dumps(body))
    if error_redirect_url:
        separator = "&" if "?" in error_redirect_url else "?"
        query = urlencode({"error": error.code, "request_id": request_id})
        return Response(
            status_code=302, body="", headers={"Location": error_redirect_url + separator + query}
        )
    title = TITLES.get(error.status, "Sign-in is not available right now")
    page = PAGE.format(
        title=html.escape(title),
        message=html.escape(error.message),
        code=html.escape(error.code),
        request_id=html.escape(request_id),
    )
    return Response(status_code=error.status, content_type=HTML_TYPE, body=page)


def with_security_headers(result: dict[str, Any]) -> dict[str, Any]:
    """Add the headers every answer carries (applied to the final Lambda result)."""
    headers = result.setdefault("headers", {}) or {}
    result["headers"] = headers
    headers.update(SECURITY_HEADERS)
    content_type = headers.get("Content-Type", "") or ""
    if content_type.startswith("text/html"):
        headers.update(HTML_HEADERS)
    return result
