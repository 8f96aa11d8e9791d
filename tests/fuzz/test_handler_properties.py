"""Properties of the whole handler over random API Gateway events and random or mutated tokens.

For every input the handler:
- never raises;
- never answers 5xx: the dependencies are healthy, so even the documented
  dependency statuses (502/503/504) are not expected;
- never signs in (302 to Big Interview, or 200 with ``redirect_url``) unless the
  request carries a token this test minted and did not alter;
- always sends the security headers, and the CSP on HTML.
"""

from __future__ import annotations

import base64
import json
import string
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from hypothesis import assume, event, given, note, settings
from hypothesis import strategies as st

from tests import leakcheck
from tests.conftest import Sso
from tests.support import SigningKey, http_event, mint

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
B64URL = string.ascii_letters + string.digits + "-_"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def check(sso: Sso, ev: dict[str, Any], valid_tokens: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Run one event and check every property; returns the result."""
    result = sso(ev)  # never raises: an exception fails the example
    status = result["statusCode"]
    headers = result.get("headers") or {}
    body = result.get("body") or ""
    event(f"status {status}")
    assert 100 <= status < 500 or (valid_tokens and status in (502, 503, 504)), (status, body[:300])
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name
    assert headers.get("Strict-Transport-Security", "").startswith("max-age=")
    if headers.get("Content-Type", "").startswith("text/html"):
        assert "default-src 'none'" in headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    signed_in = headers.get("Location", "").startswith(sso.config.bi_base_url) or (
        status == 200 and "redirect_url" in body
    )
    if signed_in:
        assert carried_tokens(ev) & valid_tokens, "signed in without a valid token"
    if status == 302:
        location = urlsplit(headers["Location"])
        assert f"{location.scheme}://{location.netloc}" == sso.config.bi_base_url
    return result


def carried_tokens(ev: dict[str, Any]) -> set[str]:
    """Every string in the event that could be the token (query, body, Authorization)."""
    found = set((ev.get("queryStringParameters") or {}).values())
    bearer = (ev.get("headers") or {}).get("authorization", "").partition(" ")[2]
    found.update({bearer, bearer.strip()})
    body = ev.get("body") or ""
    if ev.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body).decode("utf-8", "replace")
        except ValueError:
            body = ""
    found.update(value for _, value in parse_qsl(body))
    return found


# ---- random API Gateway events ------------------------------------------------------------------
printable = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
header_names = st.sampled_from(
    ["accept", "authorization", "content-type", "cookie", "origin", "x-forwarded-for", "host", "referer"]
) | st.text(alphabet=string.ascii_lowercase + "-", min_size=1, max_size=20)
header_values = st.sampled_from(
    [
        "application/json",
        "text/html",
        "application/json, text/html",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "Bearer ",
        "Bearer a.b.c",
        "Basic dXNlcjpwYXNz",
        "bearer x",
    ]
) | printable
random_tokens = (
    printable
    | st.builds(
        ".".join,
        st.lists(st.text(alphabet=B64URL + "=+/. ", max_size=60), min_size=1, max_size=5),
    )
    | st.builds(
        lambda h, p, s: f"{b64url(json.dumps(h).encode())}.{b64url(json.dumps(p).encode())}.{s}",
        st.dictionaries(
            st.sampled_from(["alg", "kid", "typ", "crit", "jku", "x5u"]), printable | st.integers()
        ),
        st.dictionaries(
            st.sampled_from(["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "email"]),
            printable | st.integers() | st.floats(allow_nan=True),
        ),
        st.text(alphabet=B64URL, max_size=400),
    )
)
# Sizes up to ~64 KiB without asking hypothesis for 64 KiB of choices: a short piece, repeated.
big_text = st.builds(lambda piece, times: piece * times, printable, st.integers(0, 65536 // 4)).filter(
    lambda text: len(text.encode()) <= 70_000
)
form_fields = st.dictionaries(
    st.sampled_from(["jwt", "redirect_to", "return_url", "x"]), random_tokens, max_size=4
)
bodies = st.none() | printable | big_text | form_fields.map(urlencode)
# Mostly the routes that exist, so most examples reach the sign-in code rather than the 404.
methods = st.sampled_from(["GET"] * 4 + ["POST"] * 4 + ["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
paths = st.sampled_from(["/sso"] * 8 + ["/health", "/", "/sso/", "/SSO"])


@st.composite
def api_gateway_events(draw: st.DrawFn) -> dict[str, Any]:
    # Mostly a real route and a jwt parameter, sometimes anything at all.
    method = draw(methods if draw(st.integers(0, 9)) else printable)
    path = draw(paths if draw(st.integers(0, 9)) else printable.map(lambda p: "/" + p))
    headers = draw(st.dictionaries(header_names, header_values, max_size=6))
    query_names = st.sampled_from(["jwt", "redirect_to", "return_url"]) | printable
    query = draw(st.dictionaries(query_names, random_tokens, max_size=4))
    if draw(st.integers(0, 9)) < 6:
        query["jwt"] = draw(random_tokens)
    body = draw(bodies)
    as_base64 = draw(st.booleans())
    ev = http_event(method if method else "GET", path, query=query or None, headers=headers)
    ev["requestContext"]["http"]["method"] = method
    if body is not None:
        if as_base64 and draw(st.booleans()):
            ev["body"] = base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
        else:
            ev["body"] = body  # flagged base64 or not, whether or not it is
        ev["isBase64Encoded"] = as_base64
    return ev


@settings(max_examples=settings().max_examples)  # ci: 600
@given(ev=api_gateway_events())
def test_random_events_never_sign_in_and_always_answer_safely(fuzz_sso: Sso, ev: dict[str, Any]) -> None:
    note(json.dumps(ev)[:2000])
    check(fuzz_sso, ev)


# ---- random tokens in every place a token can be ---------------------------------------------------
def token_event(token: str, place: str, accept_json: bool) -> dict[str, Any]:
    headers = {"Accept": "application/json"} if accept_json else {}
    if place == "query":
        return http_event(query={"jwt": token}, headers=headers)
    if place == "bearer":
        return http_event(headers={**headers, "Authorization": f"Bearer {token}"})
    body = urlencode({"jwt": token})
    return http_event(
        "POST",
        headers={**headers, "content-type": "application/x-www-form-urlencoded"},
        body=body,
        base64_body=place == "form64",
    )


places = st.sampled_from(["query", "bearer", "form", "form64"])


@settings(max_examples=max(1, settings().max_examples // 2))  # ci: 300
@given(token=random_tokens, place=places, accept_json=st.booleans())
def test_random_tokens_are_refused(fuzz_sso: Sso, token: str, place: str, accept_json: bool) -> None:
    assume(token.strip())
    check(fuzz_sso, token_event(token, place, accept_json))


# ---- tokens mutated from a valid one ------------------------------------------------------------------
def flip_bit(token: str, index: int, bit: int) -> str:
    raw = bytearray(token.encode())
    raw[index % len(raw)] ^= 1 << bit
    return raw.decode("utf-8", "replace")


def reencode(segment: str, edit: Any) -> str:
    document = json.loads(b64url_decode(segment))
    edit(document)
    return b64url(json.dumps(document).encode())


CLAIM_EDITS = {
    "sub": lambda d: d.update(sub="someone-else"),
    "exp+": lambda d: d.update(exp=d["exp"] + 3600),
    "iss": lambda d: d.update(iss="https://evil.example"),
    "aud": lambda d: d.update(aud=[d["aud"], "other"]),
    "email": lambda d: d.update(email="attacker@example.com"),
    "drop-jti": lambda d: d.pop("jti", None),
    "noop-spacing": lambda d: None,  # same claims, different JSON spelling (json.dumps spaces)
}
HEADER_EDITS = {
    "alg-none": lambda d: d.update(alg="none"),
    "alg-HS256": lambda d: d.update(alg="HS256"),
    "alg-RS512": lambda d: d.update(alg="RS512"),
    "kid-other": lambda d: d.update(kid="fuzz-ec" if d.get("kid") == "fuzz-rsa" else "fuzz-rsa"),
    "jku": lambda d: d.update(jku="https://evil.example/jwks.json"),
    "crit": lambda d: d.update(crit=["exp"]),
    "noop-spacing": lambda d: None,
}


@st.composite
def mutations(draw: st.DrawFn, token: str) -> tuple[str, str]:
    header, payload, signature = token.split(".")
    kind = draw(
        st.sampled_from(
            ["flip", "swap", "truncate", "pad", "alphabet", "header", "payload", "append", "none"]
        )
    )
    if kind == "flip":
        return kind, flip_bit(token, draw(st.integers(0, 10_000)), draw(st.integers(0, 7)))
    if kind == "swap":
        parts = [header, payload, signature]
        order = draw(st.permutations([0, 1, 2]))
        return kind, ".".join(parts[i] for i in order)
    if kind == "truncate":
        return kind, token[: draw(st.integers(0, len(token) - 1))]
    if kind == "pad":
        which = draw(st.integers(0, 2))
        parts = [header, payload, signature]
        parts[which] += "=" * draw(st.integers(1, 3))
        return kind, ".".join(parts)
    if kind == "alphabet":  # standard base64 instead of base64url, or stray characters
        tables = [str.maketrans("-_", "+/"), str.maketrans("A", "a"), str.maketrans(".", "~")]
        table = draw(st.sampled_from(tables))
        return kind, token.translate(table)
    if kind == "header":
        name = draw(st.sampled_from(sorted(HEADER_EDITS)))
        return f"header:{name}", ".".join([reencode(header, HEADER_EDITS[name]), payload, signature])
    if kind == "payload":
        name = draw(st.sampled_from(sorted(CLAIM_EDITS)))
        return f"payload:{name}", ".".join([header, reencode(payload, CLAIM_EDITS[name]), signature])
    if kind == "append":
        return kind, token + draw(st.sampled_from([".", ".x", " ", "\n", "\x00", "%00", "=", "..a"]))
    return kind, token  # unchanged: must still sign in


def same_signed_token(original: str, candidate: str) -> bool:
    """True when ``candidate`` is ``original`` or the same signed bytes spelt differently.

    Only the signature's last character has spare bits; a flip there decodes to the
    same signature over the same signing input, so it is the same valid token.
    """
    if candidate == original:
        return True
    head, _, sig = original.rpartition(".")
    c_head, _, c_sig = candidate.rpartition(".")
    if c_head != head or not c_sig or any(c not in B64URL for c in c_sig) or len(c_sig) % 4 == 1:
        return False
    return b64url_decode(c_sig) == b64url_decode(sig)


@settings(max_examples=settings().max_examples)  # ci: 600
@given(data=st.data(), key_name=st.sampled_from(["rsa", "ec"]), place=places, accept_json=st.booleans())
def test_mutated_tokens_never_sign_in(
    fuzz_sso: Sso, fuzz_keys: dict[str, SigningKey], data: st.DataObject, key_name: str, place: str,
    accept_json: bool,
) -> None:
    original = mint(fuzz_keys[key_name])
    kind, mutated = data.draw(mutations(original), label="mutation")
    leakcheck.register(mutated)
    event(f"mutation {kind.split(':')[0]}")
    # A Bearer credential is trimmed (as any HTTP header value is): trailing space is no change.
    carried = mutated.strip() if place == "bearer" else mutated
    valid = frozenset({mutated}) if same_signed_token(original, carried) else frozenset()
    result = check(fuzz_sso, token_event(mutated, place, accept_json), valid)
    if valid:  # and an unaltered token still signs in
        assert result["statusCode"] in ((200,) if accept_json else (302,)), result.get("body")
