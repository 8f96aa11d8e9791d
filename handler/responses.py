"""Every HTTP answer: the redirect, errors as HTML or JSON, and the headers.

Errors become responses here and nowhere else. A page never echoes the token or a stack trace
and always carries the request id; it speaks to the user (a sentence to act on) and to the
destination's reader (the error's safe ``detail``, and the troubleshooting row: a link where
the operator published the guide, its name otherwise).
``ERROR_REDIRECT_URL`` gets only the code and request id, not the detail.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response

from handler.config import ErrorPages
from handler.errors import SsoError

__all__ = ["error_response", "redirect", "redirect_as_json", "with_security_headers"]

_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}
_HTML_HEADERS = {
    # The page has one inline <style> block and nothing else.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Frame-Options": "DENY",
}
_FRAMED_PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *; base-uri 'none'; form-action 'none'"
)
_HTML_TYPE = "text/html; charset=utf-8"
_JSON_TYPE = "application/json"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;
color:#1a1a1a;line-height:1.5}}
h1{{font-size:1.5rem}} .ref{{color:#555;font-size:.875rem}}
.dev{{margin-top:2.5rem;padding:.75rem 1rem;border-left:3px solid #bbb;background:#f6f6f6;font-size:.875rem}}
.dev h2{{font-size:1rem;margin:0 0 .5rem}}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p>{message}</p>
<p class="ref">Error code: <code>{code}</code><br>Reference: <code>{request_id}</code></p>
<section class="dev" aria-labelledby="for-developers">
<h2 id="for-developers">For {reader}</h2>
{detail}{help}
</section>
</main>
</body>
</html>
"""
_TITLES = {
    400: "We could not read this sign-in request",
    401: "This sign-in link does not work",
    403: "This account cannot be signed in",
    404: "Page not found",
    422: "Big Interview needs a few details",
}
_HELP_LINK = '<p><a href="{url}" rel="noreferrer">What <code>{code}</code> means and how to fix it</a></p>\n'
_HELP_NAMED = "<p>What <code>{code}</code> means and how to fix it: its row in the troubleshooting table of {guide}.</p>\n"  # noqa: E501
PARTNER_GUIDE = ErrorPages().guide


def redirect(location: str) -> Response[str]:
    """The 302 to Big Interview."""
    return Response(status_code=302, body="", headers={"Location": location})


def redirect_as_json(location: str) -> Response[str]:
    """For single-page apps: the URL to navigate to, as JSON."""
    return Response(status_code=200, content_type=_JSON_TYPE, body=json.dumps({"redirect_url": location}))


def error_response(
    error: SsoError,
    request_id: str,
    wants_json: bool,
    pages: ErrorPages | None = None,
    *,
    link_spent: bool = False,
) -> Response[str]:
    """The one place an ``SsoError`` becomes an HTTP answer; ``link_spent``: the one-time link is used up."""
    pages = pages or ErrorPages()
    if wants_json:
        body = {
            "error": {
                "code": error.code,
                "message": error.user_message(link_spent),
                "detail": error.detail,
                "request_id": request_id,
            }
        }
        return Response(status_code=error.status, content_type=_JSON_TYPE, body=json.dumps(body))
    if pages.error_redirect_url:
        separator = "&" if "?" in pages.error_redirect_url else "?"
        query = urlencode({"error": error.code, "request_id": request_id})
        return Response(
            status_code=302, body="", headers={"Location": pages.error_redirect_url + separator + query}
        )
    title = _TITLES.get(error.status, "Sign-in is not available right now")
    page = _PAGE.format(
        title=html.escape(title),
        message=html.escape(error.user_message(link_spent)),
        code=html.escape(error.code),
        request_id=html.escape(request_id),
        detail=f"<p>{html.escape(error.detail)}</p>\n" if error.detail else "",
        help=(
            _HELP_LINK.format(
                url=html.escape(f"{pages.troubleshooting_url}#{error.code}"), code=html.escape(error.code)
            )
            if pages.troubleshooting_url
            else _HELP_NAMED.format(code=html.escape(error.code), guide=html.escape(pages.guide, quote=False))
        ),
        reader=html.escape(pages.reader, quote=False),  # element text: an apostrophe stays one
    )
    # A page that may show inside a learning platform's frame: a refusal the student cannot see
    # helps no one, and the page has no form, script or button to trick anyone into.
    headers = {"Content-Security-Policy": _FRAMED_PAGE_POLICY} if pages.framed else None
    return Response(status_code=error.status, content_type=_HTML_TYPE, body=page, headers=headers)


def with_security_headers(result: dict[str, Any]) -> dict[str, Any]:
    """Add the headers every answer carries (applied to the final Lambda result)."""
    headers = result.setdefault("headers", {}) or {}
    result["headers"] = headers
    headers.update(_SECURITY_HEADERS)
    content_type = headers.get("Content-Type", "") or ""
    # A route that set its own policy keeps it (the LTI pages: they show inside an LMS's frame).
    if content_type.startswith("text/html") and "Content-Security-Policy" not in headers:
        headers.update(_HTML_HEADERS)
    return result
