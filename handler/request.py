"""Reading a sign-in request out of an API Gateway HTTP API (v2) event."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from handler.errors import BadRequest, ConflictingTokens, MissingToken, TokenTooLarge
from handler.sign_in import SignInRequest

__all__ = ["form_fields", "remaining_seconds", "request_id", "sign_in_request", "single_values", "wants_json"]

_MAX_BODY_BYTES = 16 * 1024
_FORM_TYPE = "application/x-www-form-urlencoded"


def request_id(app: APIGatewayHttpResolver) -> str:
    """API Gateway's id of the request being answered: the reference every answer carries."""
    return app.current_event.request_context.request_id or "-"


def remaining_seconds(app: APIGatewayHttpResolver) -> float:
    """Seconds left before Lambda's deadline for the invocation being answered."""
    return float(app.lambda_context.get_remaining_time_in_millis()) / 1000


def _header(event: APIGatewayProxyEventV2, name: str) -> str:
    """A request header by lower-case name ('' when absent); API Gateway v2 lower-cases names."""
    return (event.headers or {}).get(name, "") or ""


def wants_json(event: APIGatewayProxyEventV2) -> bool:
    """True when the client prefers JSON to HTML (``Accept: application/json``)."""
    accept = _header(event, "accept").lower()
    return "application/json" in accept and "text/html" not in accept


def form_fields(event: APIGatewayProxyEventV2) -> dict[str, list[str]]:
    """The form body's fields; API Gateway may base64-encode the body."""
    body = event.body or ""
    content_type = _header(event, "content-type").split(";", 1)[0].strip().lower()
    if not body:
        return {}
    if content_type != _FORM_TYPE:
        raise BadRequest(f"POST body must be {_FORM_TYPE}, got {content_type[:60]!r}")
    if len(body) > _MAX_BODY_BYTES * 4 // 3 + 4:
        raise TokenTooLarge("the request body is too large")
    if event.is_base64_encoded:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("the body is flagged base64 but is not") from None
    else:
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > _MAX_BODY_BYTES:
        raise TokenTooLarge("the request body is too large")
    try:
        text = raw.decode("utf-8")
        return parse_qs(text, keep_blank_values=False, strict_parsing=False, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the form body is not valid UTF-8 form data") from None


def single_values(fields: dict[str, list[str]], refusal: type[BadRequest] = BadRequest) -> dict[str, str]:
    """One value per form field; a field given twice with different values is refused."""
    single = {}
    for name, values in fields.items():
        if len(set(values)) > 1:
            if name == "jwt":
                raise ConflictingTokens("the form carries several different jwt values")
            raise refusal(f"{name[:40]} is given more than once")
        single[name] = values[0]
    return single


def sign_in_request(event: APIGatewayProxyEventV2) -> SignInRequest:
    """The token (from the query, the form or ``Authorization: Bearer``) and the parameters."""
    query = event.query_string_parameters or {}
    form = single_values(form_fields(event)) if event.request_context.http.method == "POST" else {}
    authorization = _header(event, "authorization")
    bearer = None
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise BadRequest("Authorization must be 'Bearer <JWT>'")
        bearer = credentials.strip()
    candidates = {value for value in (query.get("jwt"), form.get("jwt"), bearer) if value}
    if not candidates:
        raise MissingToken("no jwt in the query, the form or an Authorization header")
    if len(candidates) > 1:
        raise ConflictingTokens("the request carries different tokens")
    return SignInRequest(
        token=candidates.pop(),
        redirect_to=form.get("redirect_to") or query.get("redirect_to"),
        return_url=form.get("return_url") or query.get("return_url"),
    )
