"""Properties of ``/lti/login`` and ``/lti/launch`` over hostile parameters and hostile signed claims,
and of the operator tools' record validation over hostile records.

The inputs are ``test_handler_properties``' hostile strategies (lone surrogates, control
characters, look-alikes, unparseable URLs, deeply nested or huge JSON, odd numbers), in
every login parameter and, signed by the platform's own key, in every claim of an
id_token posted with a valid state and cookie. With healthy dependencies, for every input:
- the handler never raises and never answers 5xx;
- every answer carries the security headers;
- a login that is refused sets no cookie; a launch that signs in asked the Partner API
  for an ``lti-`` user.
The records: the tools' reading of any stored record (``infra.tools.partners.stored``)
never raises, and what ``make partner-list`` prints of it is one line per row of
printable text (no control character reaches the operator's terminal).
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any
from urllib.parse import urlencode

from hypothesis import event, given, note, settings
from hypothesis import strategies as st

from handler.lti.claims import CLAIM
from infra.tools.partners import list_records, stored
from tests.fuzz.test_handler_properties import (
    SECURITY_HEADERS,
    hostile_json_values,
    hostile_text,
    hostile_urls,
    printable,
    signed_over,
)
from tests.lti.conftest import CLIENT_ID, LAUNCH_URL, PLATFORM, TOOL_HOST, Tool, launch_claims
from tests.support import http_event

LOGIN_PARAMETERS = {
    "iss": PLATFORM,
    "login_hint": "student-hint-1",
    "target_link_uri": LAUNCH_URL,
    "client_id": CLIENT_ID,
    "lti_deployment_id": "1:8865aa05b4b79b64a91a86042e43af5ea8ae79eb",
    "lti_message_hint": "resource-link-77",
}


def answered_safely(result: dict[str, Any]) -> None:
    status = result["statusCode"]
    event(f"status {status}")
    assert 100 <= status < 500, (status, str(result.get("body"))[:300])
    headers = result.get("headers") or {}
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name


@st.composite
def login_events(draw: st.DrawFn) -> dict[str, Any]:
    params: dict[str, str] = {}
    for name, good in LOGIN_PARAMETERS.items():
        choice = draw(st.integers(0, 5))
        if choice == 0:
            continue
        params[name] = (
            good
            if choice < 3
            else draw(hostile_text | hostile_urls | printable if choice < 5 else st.just(""))
        )
    pairs = list(params.items())
    headers = {"host": draw(st.sampled_from([TOOL_HOST, TOOL_HOST, "127.0.0.1:3000", ""]) | printable)}
    if draw(st.booleans()):
        ev = http_event("GET", "/lti/login", headers=headers)
        ev["rawQueryString"] = urlencode(pairs, errors="surrogatepass")
        ev["queryStringParameters"] = dict(pairs)
        return ev
    headers["content-type"] = "application/x-www-form-urlencoded"
    ev = http_event("POST", "/lti/login", headers=headers, body="")
    ev["body"] = base64.b64encode(urlencode(pairs, errors="surrogatepass").encode("ascii")).decode()
    ev["isBase64Encoded"] = True
    return ev


@settings(max_examples=max(1, settings().max_examples // 3))  # ci: 200
@given(ev=login_events())
def test_hostile_logins_never_answer_5xx_and_a_refusal_sets_no_cookie(
    fuzz_lti: Tool, ev: dict[str, Any]
) -> None:
    note(json.dumps(ev, ensure_ascii=True)[:2000])
    result = fuzz_lti(ev)
    answered_safely(result)
    if result["statusCode"] != 302:
        assert not result.get("cookies")


# Claims a platform signs; a hostile value in each, lone surrogates included, reaches every check.
LAUNCH_CLAIMS = ["sub", "nonce", "iss", "aud", "azp", "exp", "iat", "email", "given_name", "x"] + [
    CLAIM[name] for name in ("deployment_id", "target_link_uri", "custom", "message_type", "version")
]


@settings(max_examples=max(1, settings().max_examples // 3))  # ci: 200
@given(data=st.data())
def test_launches_with_hostile_signed_claims_never_answer_5xx(fuzz_lti: Tool, data: st.DataObject) -> None:
    login = fuzz_lti.login()
    assert login.result["statusCode"] == 302
    edited = data.draw(st.lists(st.sampled_from(LAUNCH_CLAIMS), max_size=2, unique=True), label="edited")
    members = {name: data.draw(hostile_json_values, label=name) for name in edited}
    kept = json.dumps({k: v for k, v in launch_claims(login.nonce).items() if k not in members})
    payload = kept[:-1] + "".join(f", {json.dumps(name)}: {raw}" for name, raw in members.items()) + "}"
    token = signed_over(fuzz_lti.platform_key, payload)
    calls = len(fuzz_lti.partner_api.calls)
    event(f"edited {','.join(sorted(n.rsplit('/', 1)[-1] for n in edited)) or 'nothing'}")
    result = fuzz_lti.launch(token, login.state, login.cookie)
    answered_safely(result)
    if result["statusCode"] == 302:
        asked = fuzz_lti.partner_api.calls[calls:]
        assert len(asked) == 1 and asked[0]["partner_id"].startswith("lti-")


# ---- the operator tools' record validation -------------------------------------------------------------
RECORD_FIELDS = [
    "kind", "partner", "issuer", "audience", "jwks_url", "bi_org", "bi_base_url", "api_key_secret_id",
    "enabled", "iss", "client_id", "deployment_ids", "auth_url", "return_url", "algorithms",
]  # fmt: skip


@st.composite
def stored_records(draw: st.DrawFn) -> tuple[str, str]:
    kind = draw(st.sampled_from(['"partner"', '"lti_platform"']) | hostile_json_values)
    fields = draw(st.lists(st.sampled_from(RECORD_FIELDS[1:]) | hostile_text, max_size=6, unique=True))
    members = [f'"kind": {kind}'] + [
        f"{json.dumps(name)}: {draw(hostile_json_values | hostile_text.map(json.dumps))}" for name in fields
    ]
    key = draw(hostile_text | st.sampled_from(["https://idp.example", f"lti|{PLATFORM}|{CLIENT_ID}"]))
    return key, "{" + ", ".join(members) + "}"


@settings(max_examples=max(1, settings().max_examples // 2))  # ci: 300
@given(record=stored_records())
def test_any_stored_record_is_read_and_listed_as_printable_lines(record: tuple[str, str]) -> None:
    key, text = record
    note(repr(record)[:2000])
    row = stored(key, text)

    class OneRecord:
        table = "fuzz"

        def records(self) -> list[Any]:
            return [row]

    out = io.StringIO()
    list_records(OneRecord(), out)  # type: ignore[arg-type]
    for line in out.getvalue().splitlines():
        assert line.isprintable(), repr(line)
