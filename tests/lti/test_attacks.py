"""The attack suite for LTI launches: every attack ends without a Partner API call.

``assert_refused`` checks, for each: a 4xx answer, no ``Location`` header at
all, zero Partner API calls (counted at the Partner API's server), and no
request to the attacker's server (a URL an id_token names is never fetched).
Login attacks also leave no state in the table. The positive control shows the
same harness sees a success. Then the launch protocol's own attacks (replay,
nonce and state reuse, state swapped between browsers, wrong ``aud``, ``azp``
tricks, ``target_link_uri`` elsewhere, ``lti_message_hint`` tampering, unknown
registrations) and the partner flow's JWT catalogue, replayed against
``/lti/launch`` with a valid state and cookie, so only the id_token is wrong.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from pytest_httpserver import HTTPServer

from handler.lti.claims import CLAIM
from handler.lti.service import state_cookie_name
from tests.lti.conftest import (
    CLIENT_ID,
    LAUNCH_URL,
    PLATFORM,
    STATE_TABLE,
    TOOL_HOST,
    Login,
    Tool,
    launch_claims,
    platform_token,
)
from tests.security.tokens import b64, forge, hs256, rs256, segment, swap_signature
from tests.support import SigningKey

ATTACKER_JWKS = "/attacker/jwks.json"

Refused = Callable[..., None]


@pytest.fixture(scope="module")
def attacker_key() -> SigningKey:
    return SigningKey.rsa(kid="attacker-1")


@pytest.fixture
def attacker_jwks(jwks_server: HTTPServer, attacker_key: SigningKey) -> Iterator[str]:
    """The attacker's JWKS on the same loopback TLS as the platform's: a fetch would work, none may happen."""
    jwks_server.expect_request(ATTACKER_JWKS).respond_with_json({"keys": [attacker_key.jwk]})
    yield jwks_server.url_for(ATTACKER_JWKS)


@pytest.fixture
def assert_refused(tool: Tool, jwks_server: HTTPServer, attacker_jwks: str) -> Refused:
    def check(result: dict[str, Any], status: int | None = None, code: str | None = None) -> None:
        body = str(result.get("body") or "")
        assert 400 <= result["statusCode"] < 500, body[:300]
        if status is not None:
            assert result["statusCode"] == status, body[:300]
        if code is not None:
            assert f"<code>{code}</code>" in body, body[:600]
        assert "Location" not in (result.get("headers") or {})
        assert tool.partner_api.calls == []
        assert not [r for r, _ in jwks_server.log if r.path.startswith("/attacker/")]

    return check


def no_state_written() -> bool:
    return boto3.client("dynamodb", region_name="us-east-1").scan(TableName=STATE_TABLE)["Items"] == []


def signed_text(key: SigningKey, head: dict[str, Any], payload_text: str) -> str:
    """An RS256 token over any payload text, e.g. JSON with a duplicate member."""
    signature = key.private.sign(
        f"{segment(head)}.{segment(payload_text)}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    return forge(head, payload_text, b64(signature))


def header(key: SigningKey, **extra: Any) -> dict[str, Any]:
    return {"alg": "RS256", "typ": "JWT", "kid": key.kid, **extra}


# ---- positive control -------------------------------------------------------------------------------
def test_positive_control_a_valid_launch_redirects_with_one_partner_api_call(tool: Tool) -> None:
    result = tool.launch_from(tool.login())
    assert result["statusCode"] == 302 and len(tool.partner_api.calls) == 1


# ---- forged and replayed id_tokens ---------------------------------------------------------------------
def test_an_id_token_signed_by_another_key_under_the_platforms_kid_is_refused(
    tool: Tool, attacker_key: SigningKey, platform_key: SigningKey, assert_refused: Refused
) -> None:
    login = tool.login()
    token = rs256(header(platform_key), launch_claims(login.nonce), attacker_key)
    assert_refused(tool.launch(token, login.state, login.cookie), 401, "invalid_signature")


def test_an_id_token_with_the_attackers_own_kid_is_refused(
    tool: Tool, attacker_key: SigningKey, assert_refused: Refused
) -> None:
    login = tool.login()
    token = platform_token(attacker_key, login.nonce)
    assert_refused(tool.launch(token, login.state, login.cookie), 401, "unknown_key")


def test_a_replayed_id_token_is_refused_even_with_its_state_and_cookie(
    tool: Tool, assert_refused: Refused
) -> None:
    login = tool.login()
    token = tool.token(login.nonce)
    assert tool.launch(token, login.state, login.cookie)["statusCode"] == 302
    tool.partner_api.calls.clear()
    assert_refused(tool.launch(token, login.state, login.cookie), 401, "lti_state_invalid")


def test_a_replayed_id_token_with_a_fresh_login_is_refused_by_its_nonce(
    tool: Tool, assert_refused: Refused
) -> None:
    first = tool.login()
    token = tool.token(first.nonce)
    assert tool.launch(token, first.state, first.cookie)["statusCode"] == 302
    tool.partner_api.calls.clear()
    second = tool.login()
    assert_refused(tool.launch(token, second.state, second.cookie), 401, "lti_state_invalid")


# ---- nonce and state ------------------------------------------------------------------------------
def test_a_nonce_from_another_login_is_refused(tool: Tool, assert_refused: Refused) -> None:
    first, second = tool.login(), tool.login()
    # The platform signs second's nonce; the browser posts it with first's state.
    assert_refused(tool.launch(tool.token(second.nonce), first.state, first.cookie), 401, "lti_state_invalid")


def test_a_nonce_is_used_once_even_inside_a_new_token(tool: Tool, assert_refused: Refused) -> None:
    login = tool.login()
    assert tool.launch_from(login)["statusCode"] == 302
    tool.partner_api.calls.clear()
    # A second, freshly signed id_token with the same nonce and state: the platform was tricked into it.
    assert_refused(tool.launch(tool.token(login.nonce), login.state, login.cookie), 401, "lti_state_invalid")


def test_a_state_we_never_issued_is_refused(tool: Tool, assert_refused: Refused) -> None:
    login = tool.login()
    forged_state = "A" * 43
    cookie_name = state_cookie_name(forged_state)
    result = tool.launch(
        tool.token(login.nonce), forged_state, f"{cookie_name}={login.cookie.split('=', 1)[1]}"
    )
    assert_refused(result, 401, "lti_state_invalid")


def test_the_victims_state_posted_from_the_attackers_browser_is_refused(
    tool: Tool, assert_refused: Refused
) -> None:
    victim, attacker = tool.login(), tool.login()
    # The attacker's browser has only its own cookie: none for the victim's state.
    result = tool.launch(tool.token(victim.nonce), victim.state, attacker.cookie)
    assert_refused(result, 400, "lti_state_cookie_missing")


def test_a_cookie_renamed_to_the_victims_state_is_refused(tool: Tool, assert_refused: Refused) -> None:
    victim, attacker = tool.login(), tool.login()
    victim_name = victim.cookie.split("=", 1)[0]
    attacker_binding = attacker.cookie.split("=", 1)[1]
    result = tool.launch(tool.token(victim.nonce), victim.state, f"{victim_name}={attacker_binding}")
    assert_refused(result, 401, "lti_state_invalid")


def test_login_csrf_the_attackers_launch_posted_in_the_victims_browser_is_refused(
    tool: Tool, assert_refused: Refused
) -> None:
    attacker = tool.login()
    token = tool.token(attacker.nonce, sub="attacker-account")
    victim = tool.login()  # the victim's browser has a state cookie of its own, not the attacker's
    assert_refused(tool.launch(token, attacker.state, victim.cookie), 400, "lti_state_cookie_missing")


def test_a_state_whose_item_was_tampered_to_another_platform_is_refused(
    tool: Tool, assert_refused: Refused
) -> None:
    # The id_token's iss must be the platform the state was issued for.
    login = tool.login()
    result = tool.launch(
        tool.token(login.nonce, iss="https://other-lms.example.edu"), login.state, login.cookie
    )
    assert_refused(result, 401, "lti_state_invalid")


# ---- aud and azp ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("aud", "azp", "code"),
    [
        ("another-client", "another-client", "invalid_audience"),
        (["another-client"], None, "invalid_audience"),
        ([CLIENT_ID, "another-client"], CLIENT_ID, "lti_claim_invalid"),  # an audience we do not trust
        ([CLIENT_ID, "another-client"], None, "lti_claim_invalid"),
        (CLIENT_ID, "another-client", "lti_claim_invalid"),
        (CLIENT_ID, [CLIENT_ID], "lti_claim_invalid"),  # azp is a string, not a list
        (CLIENT_ID, "", "lti_claim_invalid"),
        ([], None, "missing_claim"),  # PyJWT: an empty aud is no aud
    ],
)
def test_wrong_aud_and_azp_tricks_are_refused(
    tool: Tool, assert_refused: Refused, aud: Any, azp: Any, code: str
) -> None:
    login = tool.login()
    result = tool.launch(tool.token(login.nonce, aud=aud, azp=azp), login.state, login.cookie)
    assert_refused(result, 401, code)


# ---- target_link_uri --------------------------------------------------------------------------------
ELSEWHERE = [
    "https://evil.example/lti/launch",
    f"https://{TOOL_HOST}.evil.example/lti/launch",
    f"https://{TOOL_HOST}@evil.example/lti/launch",
    f"https://evil.example/?{LAUNCH_URL}",
    f"http://{TOOL_HOST}/lti/launch",
    f"https://{TOOL_HOST}:8443/lti/launch",
    "//evil.example/lti/launch",
    "/lti/launch",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("target", ELSEWHERE)
def test_target_link_uri_elsewhere_is_refused_at_login(
    tool: Tool, assert_refused: Refused, target: str
) -> None:
    login = tool.login(target_link_uri=target)
    assert_refused(login.result, 400, "lti_target_link_uri")
    assert no_state_written() and not login.result.get("cookies")


@pytest.mark.parametrize("target", ELSEWHERE)
def test_target_link_uri_elsewhere_is_refused_in_the_id_token(
    tool: Tool, assert_refused: Refused, target: str
) -> None:
    login = tool.login()
    elsewhere: dict[str, Any] = {CLAIM["target_link_uri"]: target}
    result = tool.launch(tool.token(login.nonce, **elsewhere), login.state, login.cookie)
    assert_refused(result, 400, "lti_target_link_uri")


def test_a_host_header_that_is_not_ours_cannot_make_an_attackers_target_ours(
    tool: Tool, assert_refused: Refused
) -> None:
    # API Gateway routes by host: a request for another host never reaches this function. Even
    # so, the redirect_uri is built from the same host the target must be on.
    login = tool.login(host="evil.example", target_link_uri="https://evil.example/lti/launch")
    assert login.result["statusCode"] == 302
    assert login.request["redirect_uri"] == "https://evil.example/lti/launch"
    # ...and the platform only posts to a redirect_uri registered for the tool: evil.example is not.


# ---- lti_message_hint -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "hint",
    [
        "x&redirect_uri=https://evil.example/&state=attacker&nonce=attacker",
        "x#fragment?client_id=other",
        '{"resource_link":"1"}\r\nLocation: https://evil.example/',
    ],
)
def test_a_tampered_lti_message_hint_is_echoed_as_one_value_and_injects_nothing(
    tool: Tool, hint: str
) -> None:
    login = tool.login(lti_message_hint=hint)
    assert login.result["statusCode"] == 302
    query = parse_qs(urlsplit(login.location).query)
    assert query["lti_message_hint"] == [hint]
    assert query["redirect_uri"] == [LAUNCH_URL]
    assert query["state"] != ["attacker"] and query["nonce"] != ["attacker"]
    assert query["client_id"] == [CLIENT_ID]
    assert "\r" not in login.location and "\n" not in login.location
    assert set(query) == {
        "scope",
        "response_type",
        "response_mode",
        "prompt",
        "client_id",
        "redirect_uri",
        "login_hint",
        "state",
        "nonce",
        "lti_message_hint",
    }


def test_an_oversized_lti_message_hint_is_refused(tool: Tool, assert_refused: Refused) -> None:
    assert_refused(tool.login(lti_message_hint="x" * 4096).result, 400, "lti_invalid_request")
    assert no_state_written()


def test_a_tampered_hint_cannot_change_what_the_launch_accepts(tool: Tool, assert_refused: Refused) -> None:
    # Whatever the hint said, the launch is decided by the platform's signed id_token alone.
    login = tool.login(lti_message_hint="resource-link-of-another-course")
    other_deployment: dict[str, Any] = {CLAIM["deployment_id"]: "other"}
    result = tool.launch(tool.token(login.nonce, **other_deployment), login.state, login.cookie)
    assert_refused(result, 400, "lti_unknown_deployment")


# ---- unknown registrations ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "https://other-lms.example.edu"},
        {"iss": PLATFORM + "/"},
        {"iss": PLATFORM.upper()},
        {"client_id": "another-client"},
        {"client_id": CLIENT_ID + " "},
    ],
)
def test_a_login_for_an_unknown_registration_is_refused_and_stores_nothing(
    tool: Tool, assert_refused: Refused, overrides: dict[str, str]
) -> None:
    login = tool.login(**overrides)
    assert_refused(login.result, 400, "lti_unknown_registration")
    assert no_state_written() and not login.result.get("cookies")


# ---- the partner flow's JWT catalogue, as id_tokens ---------------------------------------------------
def _catalogue(platform_key: SigningKey, attacker_key: SigningKey, attacker_jwks: str) -> dict[str, Any]:
    """Name -> (builder of a bad id_token for a nonce, expected code or None)."""
    public = platform_key.private.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())

    def signed(**overrides: Any) -> Callable[[str], str]:
        return lambda nonce: platform_token(platform_key, nonce, **overrides)

    def claims_of(nonce: str) -> dict[str, Any]:
        return launch_claims(nonce)

    def tampered(nonce: str) -> str:
        head, _, signature = platform_token(platform_key, nonce).split(".")
        payload = b64(json.dumps({**launch_claims(nonce), "sub": "someone-else"}))
        return swap_signature(f"{head}.{payload}.x", signature)

    entries: dict[str, Any] = {}
    for spelling in ("none", "None", "NONE", "nOnE"):
        entries[f"alg-{spelling}"] = (
            lambda n, s=spelling: forge({"alg": s, "typ": "JWT"}, claims_of(n), ""),
            None,
        )
    entries.update(
        {
            "empty-signature": (
                lambda n: swap_signature(platform_token(platform_key, n), ""),
                "malformed_token",
            ),
            "signature-of-another-token": (
                lambda n: swap_signature(
                    platform_token(platform_key, n), platform_token(platform_key, "other").rsplit(".", 1)[1]
                ),
                "invalid_signature",
            ),
            "payload-tampered": (tampered, "invalid_signature"),
            "hs256-with-the-platforms-public-key": (
                lambda n: hs256({"alg": "HS256", "typ": "JWT", "kid": platform_key.kid}, claims_of(n), pem),
                "unsupported_algorithm",
            ),
            "hs256-empty-secret": (
                lambda n: hs256({"alg": "HS256"}, claims_of(n), b""),
                "unsupported_algorithm",
            ),
            "es256-not-allowed": (
                lambda n: forge({"alg": "ES256", "kid": platform_key.kid}, claims_of(n), b64(bytes(64))),
                "unsupported_algorithm",
            ),
            "ps256-not-allowed": (
                lambda n: forge({"alg": "PS256", "kid": platform_key.kid}, claims_of(n)),
                "unsupported_algorithm",
            ),
            "embedded-jwk": (
                lambda n: rs256(header(platform_key, jwk=attacker_key.jwk), claims_of(n), attacker_key),
                "invalid_signature",
            ),
            "jku-to-attacker": (
                lambda n: rs256(header(attacker_key, jku=attacker_jwks), claims_of(n), attacker_key),
                "unknown_key",
            ),
            "x5u-to-attacker": (
                lambda n: rs256(header(platform_key, x5u=attacker_jwks), claims_of(n), attacker_key),
                "invalid_signature",
            ),
            "x5c": (
                lambda n: rs256(
                    header(attacker_key, x5c=["MIIBIjANBgkqhkiG9w0BAQEFAAOC"]), claims_of(n), attacker_key
                ),
                "unknown_key",
            ),
            "kid-injection": (
                lambda n: rs256({"alg": "RS256", "kid": "../../../../dev/null"}, claims_of(n), attacker_key),
                "unknown_key",
            ),
            "crit-header": (
                lambda n: rs256(header(platform_key, crit=["exp"]), claims_of(n), platform_key),
                "malformed_token",
            ),
            "no-kid": (lambda n: rs256({"alg": "RS256"}, claims_of(n), platform_key), "unknown_key"),
            "expired": (signed(iat=now - 600, exp=now - 300), "token_expired"),
            "not-yet-valid": (signed(nbf=now + 600), "token_not_yet_valid"),
            "iat-in-the-future": (signed(iat=now + 600, exp=now + 900), "token_not_yet_valid"),
            "lifetime-too-long": (signed(iat=now, exp=now + 3601), "token_lifetime_too_long"),
            "exp-in-milliseconds": (signed(exp=(now + 300) * 1000), "invalid_claim"),
            "exp-a-string": (signed(exp=str(now + 300)), None),
            "exp-infinite": (
                lambda n: rs256(header(platform_key), {**claims_of(n), "exp": 1e999}, platform_key),
                None,
            ),
            "wrong-iss": (signed(iss="https://evil.example"), "lti_state_invalid"),
            "duplicate-members": (
                lambda n: signed_text(
                    platform_key,
                    header(platform_key),
                    json.dumps(claims_of(n))[:-1] + ', "sub": "someone-else"}',
                ),
                "malformed_token",
            ),
            "too-large": (signed(padding="x" * 9000), "token_too_large"),
            "two-segments": (lambda n: "a.b", "malformed_token"),
            "given-name-not-a-string": (signed(given_name=["a"]), "invalid_claim"),
        }
    )
    for claim in ("iss", "aud", "exp", "iat", "sub", "nonce"):
        entries[f"missing-{claim}"] = (signed(**{claim: None}), None)
    return entries


CATALOGUE_NAMES = sorted(
    _catalogue(
        SigningKey.rsa(kid="platform-1"), SigningKey.rsa(kid="attacker-1"), "https://127.0.0.1/x"
    ).keys()
)


@pytest.mark.parametrize("name", CATALOGUE_NAMES)
def test_the_partner_flows_jwt_catalogue_as_id_tokens_is_refused(
    tool: Tool,
    platform_key: SigningKey,
    attacker_key: SigningKey,
    attacker_jwks: str,
    assert_refused: Refused,
    name: str,
) -> None:
    build, code = _catalogue(platform_key, attacker_key, attacker_jwks)[name]
    login: Login = tool.login()
    assert_refused(tool.launch(build(login.nonce), login.state, login.cookie), code=code)


def test_no_refusal_leaves_a_token_or_state_in_the_answer(tool: Tool, platform_key: SigningKey) -> None:
    login = tool.login()
    token = tool.token(login.nonce, aud="another-client")
    result = tool.launch(token, login.state, login.cookie)
    body = json.dumps(result)
    assert result["statusCode"] == 401
    for secret in (token, login.state, login.nonce, login.cookie.split("=", 1)[1]):
        assert secret not in body
    decoded = jwt.decode(token, options={"verify_signature": False})
    assert decoded["email"] not in body and decoded["given_name"] not in body


@pytest.mark.parametrize("claim", ["sub", "nonce", "given_name"])
def test_a_signed_claim_holding_a_lone_surrogate_is_a_malformed_token_before_the_state_is_used(
    tool: Tool, platform_key: SigningKey, assert_refused: Refused, claim: str
) -> None:
    login = tool.login()
    claims = launch_claims(login.nonce)
    # json.dumps spells a lone surrogate as the escape \ud800: valid JSON, signed by the platform.
    payload_text = json.dumps({**claims, claim: claims[claim] + "\ud800"})
    token = signed_text(platform_key, header(platform_key), payload_text)
    assert_refused(tool.launch(token, login.state, login.cookie), 401, "malformed_token")
    # Refused at the parse, so the state was not spent: the honest id_token still launches.
    assert tool.launch_from(login)["statusCode"] == 302
