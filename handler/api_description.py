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


def _query(name: str, required: bool, description: str) -> dict[str, Any]:
    """A query string parameter."""
    return {"name": name, "in": "query", "required": required, "description": description, "schema": _TEXT}


def _form(body_required: bool, properties: dict[str, Any], **schema: Any) -> dict[str, Any]:
    """A form body (``application/x-www-form-urlencoded``) of these ``properties``."""
    content = {
        "application/x-www-form-urlencoded": {
            "schema": {"type": "object", **schema, "properties": properties}
        }
    }
    return {"requestBody": {"required": body_required, "content": content}}


_TEXT = {"type": "string"}
_OPTIONAL_PARAMETERS = [
    _query(
        "redirect_to",
        False,
        "A relative Big Interview path to land on, e.g. `/members/curriculum?chapter=6`."
        " The JWT's `redirect_to` claim wins over it.",
    ),
    _query(
        "return_url",
        False,
        "Where Big Interview's log-out leads; its origin must be allowed"
        " (`RETURN_URL_ALLOWED_ORIGINS` or `SSO_RETURN_URL`'s).",
    ),
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
            _query(
                "jwt",
                False,
                "The partner's signed JWT (compact serialization). Required unless the"
                " token comes as `Authorization: Bearer`.",
            ),
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
            **_form(
                False,
                {
                    "jwt": {**_TEXT, "description": "The partner's signed JWT."},
                    "redirect_to": _TEXT,
                    "return_url": _TEXT,
                },
            )["requestBody"],
            "description": "An HTML form. Empty when the token comes as `Authorization: Bearer`.",
        }
    },
}


# ---- LTI 1.3 (handler/lti/routes.py; registered when LTI_STATE_TABLE_NAME is set) ------------------

_LTI_TROUBLESHOOTING = " The codes are explained in docs/lti.md's troubleshooting table."


def _lti_error(description: str) -> dict[str, Any]:
    """An LTI refusal: for the learning platform's administrator, never redirected elsewhere."""
    return {
        "description": description
        + " Browsers get an HTML page (any page may frame it: platforms open tools in a frame);"
        + " `Accept: application/json` gets JSON."
        + _LTI_TROUBLESHOOTING,
        "headers": _SECURITY_HEADERS,
        "content": {"text/html": _HTML_PAGE, "application/json": _ERROR_JSON},
    }


_STATE_COOKIE = {
    "description": "The launch's state cookie, `__Host-lti-state-<16 hex>`: set by the login"
    " (`Secure; HttpOnly; SameSite=None; Partitioned`, path `/`, the state's lifetime),"
    " cleared by the launch.",
    "schema": {"type": "string"},
}
_LOGIN_FIELDS: dict[str, tuple[bool, str]] = {
    "iss": (True, "The platform's issuer: with `client_id`, it names the registration."),
    "login_hint": (True, "The platform's opaque hint for the user; passed back to it unchanged."),
    "target_link_uri": (True, "Where the launch is to land: must be on this service (`/lti/launch`)."),
    "lti_message_hint": (False, "The platform's opaque hint for the launch; passed back unchanged."),
    "client_id": (False, "The client id the platform gave this tool (needed for registry registrations)."),
    "lti_deployment_id": (False, "The deployment; when given, it must be one the registration allows."),
    "lti_storage_target": (
        False,
        "The platform's storage frame (1EdTech Platform Storage): `_parent` or a frame name; when given,"
        " the answer is the page that keeps the state's browser binding there.",
    ),
}
_STORAGE_TARGET = {
    **_TEXT,
    "description": "The platform's storage frame (1EdTech Platform Storage), in the form or in the"
    " registered redirect URI's query (Blackboard): without the state cookie, the answer is the page"
    " that reads the browser binding back from it.",
}
_STORAGE_PAGE = {
    "schema": {
        "type": "string",
        "description": "A small HTML page, one script allowed by its SHA-256 in the page's CSP, which"
        " exchanges `lti.put_data` / `lti.get_data` postMessages with the platform's storage frame.",
    }
}
_LOGIN_DESCRIPTION = (
    "LTI 1.3 third-party initiated login (1EdTech Security Framework 1.0, 5.1.1.1): the learning"
    " platform sends the browser here when a student opens the tool. The registration is looked up by"
    " `iss` (and `client_id`), a fresh single-use `state` and `nonce` are stored (DynamoDB, minutes),"
    " and the browser goes to the platform's authorization endpoint with `scope=openid`,"
    " `response_type=id_token`, `response_mode=form_post`, `prompt=none` and this service's"
    " `/lti/launch` as `redirect_uri`."
)
_LOGIN_RESPONSES: dict[int, Any] = {
    200: {
        "description": "The platform announced a storage frame: the page puts the state's browser"
        " binding there, then goes to the platform's authorization endpoint; the state cookie is set too.",
        "headers": {"Set-Cookie": _STATE_COOKIE, **_SECURITY_HEADERS},
        "content": {"text/html": _STORAGE_PAGE},
    },
    302: {
        "description": "To the platform's authorization endpoint, with the state cookie binding the"
        " state to this browser.",
        "headers": {
            "Location": {
                "description": "The platform's authorization endpoint and the authentication request.",
                "schema": {"type": "string"},
            },
            "Set-Cookie": _STATE_COOKIE,
            **_SECURITY_HEADERS,
        },
        "content": {},
    },
    400: _lti_error(
        "The login cannot go on: `lti_invalid_request` (a parameter missing or too long),"
        " `lti_unknown_registration`, `lti_unknown_deployment`, `lti_target_link_uri`."
    ),
    500: _lti_error("An unexpected error on our side: `internal_error`."),
    503: _lti_error(
        "A dependency is unreachable: `replay_store_unavailable` (the state cannot be stored),"
        " `lti_registration_unavailable` (the registry cannot be read, or the platform's record there"
        " is invalid)."
    ),
}

LTI_LOGIN_GET: dict[str, Any] = {
    "summary": "LTI 1.3 login initiation (query)",
    "description": _LOGIN_DESCRIPTION,
    "operation_id": "ltiLoginGet",
    "tags": ["lti"],
    "responses": _LOGIN_RESPONSES,
    "openapi_extensions": {
        "parameters": [
            _query(name, required, description) for name, (required, description) in _LOGIN_FIELDS.items()
        ]
    },
}

LTI_LOGIN_POST: dict[str, Any] = {
    "summary": "LTI 1.3 login initiation (form post)",
    "description": _LOGIN_DESCRIPTION + " The same parameters as a form; a query string is read too.",
    "operation_id": "ltiLoginPost",
    "tags": ["lti"],
    "responses": _LOGIN_RESPONSES,
    "openapi_extensions": _form(
        True,
        {name: {**_TEXT, "description": description} for name, (_, description) in _LOGIN_FIELDS.items()},
        required=[name for name, (required, _) in _LOGIN_FIELDS.items() if required],
    ),
}

LTI_LAUNCH: dict[str, Any] = {
    "summary": "LTI 1.3 resource link launch (the platform's form post)",
    "description": "The platform's authorization answer, form-posted by the browser: the `id_token` it"
    " signed and the `state` the login issued. Checked: the state is ours, unused, unexpired and bound"
    " to this browser (its cookie); the id_token's signature (the platform's JWKS), `iss`, `aud`/`azp`"
    " (the registration's `client_id`), `exp`/`iat`, `nonce` (the state's), `deployment_id`, `version`"
    " `1.3.0`, `message_type` `LtiResourceLinkRequest`, `roles` (an array), `target_link_uri` on this"
    " service. Then Big"
    " Interview's Partner API creates or refreshes the student's user (`lti-` and a hash of `iss` and"
    " `sub`), and the browser is redirected, signed in.",
    "operation_id": "ltiLaunch",
    "tags": ["lti"],
    "responses": {
        200: {
            "description": "No state cookie came back and the platform announced a storage frame (or the"
            " launch loads in a frame, `Sec-Fetch-Dest: iframe`: the page asks `lti.capabilities`): the"
            " page reads the browser binding back from it and posts it here (`lti_storage_binding`,"
            " accepted only with this service's `Origin`) with the `id_token` and `state`.",
            "headers": _SECURITY_HEADERS,
            "content": {"text/html": _STORAGE_PAGE},
        },
        302: {
            "description": "Signed in: `Location` is Big Interview's `/sso/login?token=...` (with the"
            " resource link's custom `redirect_to` when given); the state cookie is cleared.",
            "headers": {
                "Location": {"description": "Where the browser goes next.", "schema": {"type": "string"}},
                "Set-Cookie": _STATE_COOKIE,
                **_SECURITY_HEADERS,
            },
            "content": {},
        },
        400: _lti_error(
            "The launch is unusable: `lti_invalid_request` (a field missing, repeated or too long, or"
            " the platform answered with an `error`), `lti_state_cookie_missing` (the browser did not"
            " send the state cookie nor a stored binding: the page's button starts the same login again"
            " in a new window), `lti_unknown_registration`, `lti_unknown_deployment`,"
            " `lti_target_link_uri`, `invalid_redirect`."
        ),
        401: _lti_error(
            "The state or the id_token fails a check: `lti_state_invalid`, `lti_launch_expired`,"
            " `lti_claim_invalid`, or one of the partner flow's JWT checks (`malformed_token`,"
            " `unknown_key`, `invalid_signature`, `token_expired`, `invalid_issuer`, `invalid_audience`,"
            " ...)."
        ),
        403: _lti_error("A valid launch for a user Big Interview cannot accept: `invalid_user`."),
        422: _lti_error(
            "Big Interview cannot create this new user without name and email, which the platform did"
            " not release: `lti_profile_not_released`."
        ),
        500: _lti_error("An unexpected error on our side: `internal_error`."),
        502: _lti_error("Big Interview refused or answered nonsense: `partner_api_error`."),
        503: _lti_error(
            "A dependency is unreachable with nothing cached: `keys_unavailable`, `secret_unavailable`,"
            " `replay_store_unavailable` (the state cannot be checked: the launch is refused),"
            " `lti_registration_unavailable` (the registry cannot be read, or the platform's record there"
            " is invalid)."
        ),
        504: _lti_error("Big Interview did not answer in time: `partner_api_timeout`."),
    },
    "openapi_extensions": {
        "parameters": [_query("lti_storage_target", False, _STORAGE_TARGET["description"])],
        **_form(
            True,
            {
                "id_token": {**_TEXT, "description": "The platform's signed JWT."},
                "state": {**_TEXT, "description": "The state the login issued."},
                "error": {**_TEXT, "description": "The platform's refusal, if any."},
                "error_description": _TEXT,
                "lti_storage_target": _STORAGE_TARGET,
                "lti_storage_binding": {
                    **_TEXT,
                    "description": "The browser binding, read back from the platform's storage by this"
                    " service's own launch page.",
                },
                "lti_storage_read": {
                    **_TEXT,
                    "description": "Posted by that page whatever it found: without a binding, the answer"
                    " is the new-window page, never the page again.",
                },
            },
        ),
    },
}

LTI_JWKS: dict[str, Any] = {
    "summary": "The tool's public keys (JWKS)",
    "description": "The public half of the tool's AWS KMS key (RSA, RS256), which every platform's"
    " registration form asks for. The private key never leaves KMS.",
    "operation_id": "ltiJwks",
    "tags": ["lti"],
    "responses": {
        200: {
            "description": "The key set (RFC 7517); `kid` is the key's RFC 7638 thumbprint.",
            "headers": _SECURITY_HEADERS,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["keys"],
                        "properties": {
                            "keys": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["kty", "kid", "n", "e"],
                                    "properties": {
                                        "kty": {"const": "RSA"},
                                        "kid": {"type": "string"},
                                        "n": {"type": "string"},
                                        "e": {"type": "string"},
                                        "alg": {"const": "RS256"},
                                        "use": {"const": "sig"},
                                    },
                                },
                            }
                        },
                    }
                }
            },
        },
        404: {
            "description": "No tool key is configured (`LTI_TOOL_KEY_ID` unset): `not_found`.",
            "headers": _SECURITY_HEADERS,
            "content": {"text/html": _HTML_PAGE, "application/json": _ERROR_JSON},
        },
        500: _lti_error("An unexpected error on our side: `internal_error`."),
        503: {
            "description": "KMS could not give the public key: `tool_key_unavailable` (always JSON)."
            + _LTI_TROUBLESHOOTING,
            "headers": _SECURITY_HEADERS,
            "content": {"application/json": _ERROR_JSON},
        },
    },
}
