"""Inputs outside the known attack catalogues (issue 9): each gets its documented 4xx, never a 500.

Every case runs through the whole handler (real HTTPS Partner API and JWKS on
loopback, the API key in moto) and checks the answer's code and the one
summary log line with the same ``reason``. The 4xx cases run on the attack
harness (one-time links on) and end in its five-part ``assert_refused``: the
refusal changed nothing (no Partner API call, no one-time-link item written).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from handler import tokens
from handler.telemetry import SERVICE
from tests import leakcheck
from tests.conftest import Sso
from tests.support import FakePartnerApi, SigningKey, claims, http_event, mint, sign_raw, sign_text

ALLOWED_RETURN = "https://portal.example.edu/"
MALFORMED = (401, "malformed_token", "malformed_token")


def summary(caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    """The one summary line of the request, as the Powertools formatter writes it."""
    formatter = logging.getLogger(SERVICE).handlers[0].formatter
    assert formatter is not None
    lines = [json.loads(formatter.format(record)) for record in caplog.records]
    [line] = [line for line in lines if line["message"].startswith("sign-in ")]
    summary: dict[str, Any] = line
    return summary


def answered(sso: Sso, caplog: pytest.LogCaptureFixture, event: dict[str, Any]) -> dict[str, Any]:
    """The answer to one request asking for JSON."""
    event["headers"]["accept"] = "application/json"
    return sso(event)


def refused(sso: Sso, caplog: pytest.LogCaptureFixture, event: dict[str, Any]) -> tuple[int, str, str]:
    """(status, JSON error code, the log line's reason) of one request; never a redirect."""
    result = answered(sso, caplog, event)
    assert "Location" not in (result.get("headers") or {})
    return result["statusCode"], json.loads(result["body"])["error"]["code"], summary(caplog)["reason"]


Refuses = Callable[[Sso, dict[str, Any]], tuple[int, str, str]]


@pytest.fixture
def refuses(assert_refused: Callable[..., None], caplog: pytest.LogCaptureFixture) -> Refuses:
    """``refused`` for a 4xx, ending in the attack harness's five-part ``assert_refused``."""

    def run(sso: Sso, event: dict[str, Any]) -> tuple[int, str, str]:
        result = answered(sso, caplog, event)
        code = json.loads(result["body"])["error"]["code"]
        assert_refused(result, code=code)
        return result["statusCode"], code, summary(caplog)["reason"]

    return run


# ---- 2. patterns that guard input match the whole string ---------------------------------------------
def test_partner_id_with_a_trailing_newline_is_refused_and_the_partner_api_is_not_called(
    secured: Sso, partner_api: FakePartnerApi, rsa_key: SigningKey, refuses: Refuses
) -> None:
    event = http_event(query={"jwt": mint(rsa_key, sub="abc123\n")})

    assert refuses(secured, event) == (403, "invalid_user", "invalid_user")
    assert partner_api.calls == []


@pytest.mark.parametrize("segment", [0, 1, 2], ids=["header", "payload", "signature"])
def test_a_token_segment_with_a_trailing_newline_is_malformed(
    secured: Sso,
    partner_api: FakePartnerApi,
    rsa_key: SigningKey,
    refuses: Refuses,
    segment: int,
) -> None:
    parts = mint(rsa_key).split(".")
    parts[segment] += "\n"
    token = ".".join(parts)
    leakcheck.register(token)

    assert refuses(secured, http_event(query={"jwt": token})) == MALFORMED
    assert partner_api.calls == []


def test_no_guard_pattern_in_the_handler_is_anchored_with_a_dollar() -> None:
    """``$`` also matches before a final newline; the handler's patterns use fullmatch instead."""
    from pathlib import Path

    sources = Path(tokens.__file__).parent.glob("*.py")
    offenders = [
        f"{path.name}: {line.strip()}"
        for path in sources
        for line in path.read_text().splitlines()
        if re.search(r"re\.compile\(r?[\"'].*\$[\"']\)", line) or ".match(" in line
    ]
    assert offenders == []


# ---- 3. inputs the standard library cannot parse ---------------------------------------------------------
UNPARSEABLE_RETURN_URLS = {
    "unmatched-bracket": "https://[portal.example.edu/",
    "bracket-in-host": "https://portal.example.edu]/",
    "fullwidth-solidus-in-host": "https://portal.example.edu\uff0f@evil.example/",
    "fullwidth-at-in-host": "https://evil.example\uff20portal.example.edu/",
    "fullwidth-colon": "https://portal.example.edu\uff1a443/",
    "port-not-a-number": "https://portal.example.edu:x/",
    "port-too-large": "https://portal.example.edu:99999999/",
    "lone-surrogate-in-path": ALLOWED_RETURN + "\ud800",
    "fullwidth-in-path": ALLOWED_RETURN + "\uff0fevil",
}


@pytest.mark.parametrize("value", list(UNPARSEABLE_RETURN_URLS.values()), ids=list(UNPARSEABLE_RETURN_URLS))
def test_a_return_url_that_cannot_be_parsed_is_invalid_redirect(
    make_secured: Callable[..., Sso],
    partner_api: FakePartnerApi,
    rsa_key: SigningKey,
    refuses: Refuses,
    value: str,
) -> None:
    secured = make_secured(SSO_RETURN_URL=ALLOWED_RETURN)
    event = http_event(query={"jwt": mint(rsa_key)})
    # As API Gateway hands it over: decoded (a lone surrogate arrives as JSON's \ud800).
    event["queryStringParameters"]["return_url"] = value

    assert refuses(secured, event) == (400, "invalid_redirect", "invalid_redirect")
    assert partner_api.calls == []


@pytest.mark.parametrize("segment", ["header", "payload"])
def test_deeply_nested_json_in_a_token_is_malformed(
    secured: Sso,
    partner_api: FakePartnerApi,
    rsa_key: SigningKey,
    refuses: Refuses,
    segment: str,
) -> None:
    nested = tokens_b64("[" * 2500 + "]" * 2500)
    header, payload, signature = mint(rsa_key).split(".")
    token = f"{nested}.{payload}.{signature}" if segment == "header" else f"{header}.{nested}.{signature}"
    leakcheck.register(token)

    assert refuses(secured, http_event(query={"jwt": token})) == MALFORMED


def tokens_b64(text: str) -> str:
    import base64

    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("claim", "sign"),
    # A huge past exp takes PyJWT's "expired" path; a huge future iat or nbf its "not yet" path.
    [("exp", 1), ("exp", -1), ("iat", -1), ("iat", 1), ("nbf", -1), ("nbf", 1)],
)
def test_a_signed_huge_integer_time_claim_is_invalid_claim(
    secured: Sso,
    partner_api: FakePartnerApi,
    rsa_key: SigningKey,
    refuses: Refuses,
    claim: str,
    sign: int,
) -> None:
    values = claims()
    values[claim] = sign * 10**400
    token = sign_raw(rsa_key, values)

    assert refuses(secured, http_event(query={"jwt": token})) == (401, "invalid_claim", "invalid_claim")
    assert partner_api.calls == []


@pytest.mark.parametrize("number", ["1e999", "-1e999", "1E400"])
def test_a_signed_time_claim_that_overflows_a_float_is_malformed(
    secured: Sso,
    partner_api: FakePartnerApi,
    rsa_key: SigningKey,
    refuses: Refuses,
    number: str,
) -> None:
    text = json.dumps(claims(exp=0)).replace('"exp": 0', f'"exp": {number}')
    token = sign_text(rsa_key, text)

    assert refuses(secured, http_event(query={"jwt": token})) == MALFORMED
    assert partner_api.calls == []


# ---- 4. a Partner API answer that cannot become a Location ------------------------------------------------
NONSENSE_TOKENS = {
    "lone-surrogate": '"\\ud800"',
    "surrogate-pair-reversed": '"\\udc00\\ud800"',
    "too-long": json.dumps("a" * 5000),
}


@pytest.mark.parametrize("raw", list(NONSENSE_TOKENS.values()), ids=list(NONSENSE_TOKENS))
def test_a_partner_api_token_that_cannot_go_into_the_login_url_is_502(
    make_sso: Callable[..., Sso],
    partner_server: HTTPServer,
    jwks: Any,
    rsa_key: SigningKey,
    caplog: pytest.LogCaptureFixture,
    raw: str,
) -> None:
    body = '{"user": {"partner_id": "abc123", "token": {"token": ' + raw + "}}}"
    partner_server.expect_request("/api/users/abc123", method="POST").respond_with_data(
        body, status=201, content_type="application/json"
    )
    sso = make_sso()
    event = http_event(query={"jwt": mint(rsa_key)})

    assert refused(sso, caplog, event) == (502, "partner_api_error", "partner_api_error")


# ---- the same for what the dependencies answer: nesting beyond any Python's recursion limit -------------
def test_a_deeply_nested_partner_api_answer_is_502(
    make_sso: Callable[..., Sso],
    partner_server: HTTPServer,
    jwks: Any,
    rsa_key: SigningKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    depth = 100_000  # 200 KB, under the 1 MB answer cap; past the limit on 3.13 too
    partner_server.expect_request("/api/users/abc123", method="POST").respond_with_data(
        "[" * depth + "]" * depth, status=201, content_type="application/json"
    )
    event = http_event(query={"jwt": mint(rsa_key)})

    assert refused(make_sso(), caplog, event) == (502, "partner_api_error", "partner_api_error")


def test_a_deeply_nested_jwks_is_keys_unavailable(
    make_sso: Callable[..., Sso],
    jwks_server: HTTPServer,
    partner_api: FakePartnerApi,
    rsa_key: SigningKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    depth = 32_000  # 64,000 bytes, under the 64 KiB JWKS cap
    jwks_server.expect_request("/jwks.json").respond_with_data(
        '{"keys": ' + "[" * depth + "]" * depth + "}", content_type="application/json"
    )
    event = http_event(query={"jwt": mint(rsa_key)})

    assert refused(make_sso(), caplog, event) == (503, "keys_unavailable", "keys_unavailable")
    assert partner_api.calls == []
