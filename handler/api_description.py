"""What each route means, for the OpenAPI description (``docs/openapi.json``, ``make openapi``).

Plain data passed to the route decorators in ``handler.routes``. Powertools keeps it
with the route and reads it only when a schema is generated: request validation
stays off, so none of this runs, and nothing is imported for it, on a request.
The request parameters are declared here (through ``openapi_extensions``) rather
than as annotated function arguments, which would need pydantic to describe.
"""

from __future__ import annotations

from typing import Any

# The components ``infra.tools.openapi`` adds to the document; the routes refer to them.
ERROR_SCHEMA_REF = "#/components/schemas/Error"
JWT_SECURITY_SCHEME = "partnerJwt"

_HTML_PAGE = {
    "schema": {
        "type": "string",
        "description": "A small HTML page: title, message, code, reference, and a section for the"
        " portal's developers (the detail and a link to the troubleshooting table).",
    }
}
_ERROR_JSON = {"schema": {"$ref": ERROR_SCHEMA_REF}}
_SECURITY_HEADERS = {
    "Cache-Control": {"description": "Always `no-store`.", "schema": {"type": "string"}},
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description
        + " Browsers get an HTML page; `Accept: application/json` or a Bearer token gets JSON."
        + " With `ERROR_REDIRECT_URL` set, browsers are redirected there instead (302).",
        "headers": _SECURITY_HEADERS,
        "content": {"text/html": _HTML_PAGE, "application/json": _ERROR_JSON},
    }


_SSO_RESPONSES: dict[int, Any] = {
    302: {
        "description": "Signed in: `Location` is Big Interview's `/sso/login?token=...` (with `redirect_to`"
        " and `return_url` when given). Also the answer to errors when `ERROR_REDIRECT_URL` is set:"
        " `Location` is that URL with `?error=<code>&request_id=<id>`.",
        "headers": {
            "Location": {"description": "Where the browser goes next.", "schema": {"type": "string"}},
            **_SECURITY_HEADERS,
        },
        "content": {},
    },
    200: {
        "description": "Signed in, for a single-page app that sent `Accept: application/json`:"
        " the URL to navigate to.",
        "headers": _SECURITY_HEADERS,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["redirect_url"],
                    "properties": {"redirect_url": {"type": "string", "format": "uri"}},
                    "additionalProperties": False,
                }
            }
        },
    },
    400: _error(
        "The request is unusable: `missing_token`, `token_too_large`, `conflicting_tokens`,"
        " `invalid_redirect` or `invalid_request`."
    ),
    401: _error(
        "The JWT fails a check: `malformed_token`, `unsupported_algorithm`, `unknown_key`,"
        " `invalid_signature`, `token_expired`, `token_not_yet_valid`, `token_lifetime_too_long`,"
        " `invalid_issuer`, `invalid_audience`, `missing_claim`, `invalid_claim`, `link_already_used`."
    ),
    403: _error("A valid JWT for a user Big Interview cannot accept: `invalid_user`."),
    422: _error(
        "Big Interview cannot create this new user: the JWT lacks `given_name`, `family_name` or"
        " `email`: `profile_required`."
    ),
    500: _error("An unexpected error on our side: `internal_error`."),
    502: _error("Big Interview refused or answered nonsense: `partner_api_error`."),
    503: _error(
        "A dependency is unreachable with nothing cached: `secret_unavailable`, `keys_unavailable`,"
        " `replay_store_unavailable`, `partner_unavailable` (registry mode: the partner's record is invalid"
        " or the registry unreachable)."
    ),
    504: _error("Big Interview did not answer in time: `partner_api_timeout`."),
}

_OPTIONAL_PARAMETERS = [
    {
        "name": "redirect_to",
        "in": "query",
        "required": False,
        "description": "A relative Big Interview path to land on, e.g. `/members/curriculum?chapter=6`."
        " The JWT's `redirect_to` claim wins over it.",
        "schema": {"type": "string"},
    },
    {
        "name": "return_url",
        "in": "query",
        "required": False,
        "description": "Where Big Interview's log-out leads; its origin must be allowed"
        " (`RETURN_URL_ALLOWED_ORIGINS` or `SSO_RETURN_URL`'s).",
        "schema": {"type": "string"},
    },
]
_SECURITY: list[dict[str, list[str]]] = [{}, {JWT_SECURITY_SCHEME: []}]
_SSO_DESCRIPTION = (
    "Verifies the partner's JWT (signature by the partner's JWKS, `iss`, `aud`, `exp`/`iat`/`nbf`,"
    " lifetime, the user claim), asks Big Interview's Partner API for an SSO token, and redirects."
    " The JWT comes in exactly one of: the `jwt` query parameter, the `jwt` form field (POST), or"
    " `Authorization: Bearer <JWT>`; several different ones are refused. Errors carry a stable `code`,"
    " the user's `message`, the developer's `detail` and the request id."
)

HEALTH: dict[str, Any] = {
    "summary": "Liveness",
    "description": "Answers without calling any dependency.",
    "operation_id": "health",
    "tags": ["operations"],
    "responses": {
        200: {
            "description": "The function is up.",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["status", "service", "version"],
                        "properties": {
                            "status": {"const": "ok"},
                            "service": {"type": "string"},
                            "version": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
}

SSO_GET: dict[str, Any] = {
    "summary": "Sign a user in with a link (or a Bearer token)",
    "description": _SSO_DESCRIPTION + " A plain link puts the JWT in the URL; prefer the form POST.",
    "operation_id": "signInGet",
    "tags": ["sign-in"],
    "security": _SECURITY,
    "responses": _SSO_RESPONSES,
    "openapi_extensions": {
        "parameters": [
            {
                "name": "jwt",
                "in": "query",
                "required": False,
                "description": "The partner's signed JWT (compact serialization). Required unless the"
                " token comes as `Authorization: Bearer`.",
                "schema": {"type": "string"},
            },
            *_OPTIONAL_PARAMETERS,
        ]
    },
}

SSO_POST: dict[str, Any] = {
    "summary": "Sign a user in with an auto-submitting form (recommended)",
    "description": _SSO_DESCRIPTION + " The form keeps the JWT out of URLs, history and access logs.",
    "operation_id": "signInPost",
    "tags": ["sign-in"],
    "security": _SECURITY,
    "responses": _SSO_RESPONSES,
    "openapi_extensions": {
        "requestBody": {
            "required": False,
            "description": "An HTML form. Empty when the token comes as `Authorization: Bearer`.",
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "jwt": {"type": "string", "description": "The partner's signed JWT."},
                            "redirect_to": {"type": "string"},
                            "return_url": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
}
