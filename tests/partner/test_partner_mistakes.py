"""Thirteen mistakes partners make, each answered for both audiences, and named by ``check-link``.

For every mistake: the service's status and code, the user's sentence and the
developer's detail, in the JSON answer and on the HTML page (with the link to
the code's troubleshooting row), and ``make check-link``'s verdict on the same
token. The detail must never carry the token, its signature or a profile claim.
"""

from __future__ import annotations

import html
import io
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest

from handler import errors
from handler.config import DEFAULT_TROUBLESHOOTING_URL
from handler.responses import PARTNER_GUIDE
from infra.partner import check_link
from tests import leakcheck
from tests.conftest import Sso
from tests.support import AUDIENCE, ISSUER, SigningKey, claims, http_event

HS256_SECRET = "a-shared-secret-the-service-does-not-accept-0123456789"
# A key the partner made but has not published yet (created once: RSA generation is slow).
UNPUBLISHED = SigningKey.rsa(kid="next-2026")


@dataclass(frozen=True)
class Mistake:
    """A token made wrong one way, and what each audience must be told."""

    name: str
    status: int
    code: str
    detail: str  # a regular expression the developer's detail must match
    verdict: str  # the start of check-link's verdict line
    claims: dict[str, Any] = field(default_factory=dict)
    # Time claims, from the moment the token is made (the suite may run long before this test).
    times: Callable[[int], dict[str, int]] = lambda now: {}
    headers: dict[str, Any] = field(default_factory=dict)
    signing: str = "rsa"  # rsa, rs512, hs256, unpublished
    sentence: str = ""  # the user's sentence; by default the error class's

    def user_sentence(self) -> str:
        if self.sentence:
            return self.sentence
        [cls] = [c for c in error_classes() if c.code == self.code]
        return cls.message


def error_classes() -> list[type[errors.SsoError]]:
    found, pending = [], [errors.SsoError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


MISTAKES = [
    Mistake(
        "lifetime too long", 401, "token_lifetime_too_long",
        r"^exp is 3600 s after iat; the limit is 300 s$",
        "REFUSED (401 token_lifetime_too_long): exp is 60 minutes after iat; the limit is 300 s",
        times=lambda now: {"iat": now, "exp": now + 3600},
    ),
    Mistake(
        "iat in the future", 401, "token_not_yet_valid",
        r"^iat is \d+ s in the future; the service allows 30 s of clock skew: "
        r"check the minting server's clock$",
        "REFUSED (401 token_not_yet_valid): iat is 10 minutes in the future",
        times=lambda now: {"iat": now + 600, "exp": now + 700},
    ),
    Mistake(
        "no kid", 401, "unknown_key", r"^the token header has no kid$",
        "REFUSED (401 unknown_key): the header has no kid: put the kid of your JWKS key in the header",
        headers={"kid": None},
    ),
    Mistake(
        "wrong kid", 401, "unknown_key", r"^kid 'abc' is not in the JWKS",
        "REFUSED (401 unknown_key): kid 'abc' is not in the JWKS",
        headers={"kid": "abc"},
    ),
    Mistake(
        "wrong aud", 401, "invalid_audience",
        r"^aud is 'https://sso\.example\.com'; expected 'big-interview-sso'$",
        "REFUSED (401 invalid_audience): aud is 'https://sso.example.com'; it must be 'big-interview-sso'",
        claims={"aud": "https://sso.example.com"},
    ),
    Mistake(
        "iss with a trailing slash", 401, "invalid_issuer",
        r"^iss 'https://idp\.partner\.test/' is not an accepted issuer; issuers are matched exactly, "
        r"so the trailing '/' matters$",
        "REFUSED (401 invalid_issuer): iss is 'https://idp.partner.test/'",
        claims={"iss": ISSUER + "/"},
    ),
    Mistake(
        "HS256 when it is off", 401, "unsupported_algorithm",
        r"^alg 'HS256' is not accepted; this service accepts ES256, RS256$",
        "REFUSED (401 unsupported_algorithm): alg is 'HS256'; the service accepts only RS256, ES256",
        signing="hs256",
    ),
    Mistake(
        "RS512", 401, "unsupported_algorithm",
        r"^alg 'RS512' is not accepted; this service accepts ES256, RS256$",
        "REFUSED (401 unsupported_algorithm): alg is 'RS512'; the service accepts only RS256, ES256",
        signing="rs512",
    ),
    Mistake(
        "exp in milliseconds", 401, "invalid_claim",
        r"^exp is \d{13}, which looks like milliseconds: JWT times are whole seconds since 1970 "
        r"\(divide by 1000\)$",
        "REFUSED (401 invalid_claim): exp is ",
        times=lambda now: {"exp": (now + 120) * 1000},
    ),
    Mistake(
        "iat and exp in milliseconds", 401, "invalid_claim",
        r"^exp is \d{13}, which looks like milliseconds",
        "REFUSED (401 invalid_claim): exp is ",
        times=lambda now: {"iat": now * 1000, "exp": (now + 120) * 1000},
    ),
    Mistake(
        "sub is an email", 403, "invalid_user",
        r"^sub is not a valid partner_id \(1 to 64 of A-Z a-z 0-9 _ -\): it looks like an email address; "
        r"send your stable internal user id instead$",
        "REFUSED (403 invalid_user): sub 'a***@example.edu' is not a valid partner_id",
        claims={"sub": "adelheid.q@example.edu"},
    ),
    Mistake(
        "new user without a profile", 422, "profile_required",
        r"^Big Interview answered 422: the user is new and the token has no given_name, family_name, email; "
        r"send given_name, family_name and email in every token$",
        "OK: this link would sign newuser in",
        claims={"sub": "newuser", "given_name": None, "family_name": None, "email": None},
    ),
    Mistake(
        "key not yet published", 401, "unknown_key", r"^kid 'next-2026' is not in the JWKS",
        "REFUSED (401 unknown_key): kid 'next-2026' is not in the JWKS",
        signing="unpublished",
    ),
]  # fmt: skip


def token_for(mistake: Mistake, rsa_key: SigningKey) -> str:
    payload = claims(**mistake.claims, **mistake.times(int(time.time())))
    headers = {"kid": rsa_key.kid, "typ": "JWT", **mistake.headers}
    headers = {name: value for name, value in headers.items() if value is not None}
    if mistake.signing == "hs256":
        token = jwt.encode(payload, HS256_SECRET, algorithm="HS256", headers=headers)
    elif mistake.signing == "unpublished":
        headers["kid"] = UNPUBLISHED.kid
        token = jwt.encode(payload, UNPUBLISHED.private, algorithm="RS256", headers=headers)
    else:
        algorithm = "RS512" if mistake.signing == "rs512" else "RS256"
        token = jwt.encode(payload, rsa_key.private, algorithm=algorithm, headers=headers)
    leakcheck.register(token, token.rsplit(".", 1)[1])
    return token


def developer_section(page: str) -> str:
    [section] = re.findall(r'<section class="dev".*?</section>', page, flags=re.S)
    return str(section)


def verdict_of(report: str) -> str:
    [line] = [line for line in report.splitlines() if line.startswith(("OK: ", "REFUSED ("))]
    return line


@pytest.fixture
def jwks_file(tmp_path: Path, jwks: dict[str, Any]) -> Path:
    """The same JWKS the service fetches, as the file a partner passes to check-link."""
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks))
    return path


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.name for m in MISTAKES])
def test_each_mistake_is_explained_to_the_user_and_to_the_developer(
    mistake: Mistake, sso: Sso, rsa_key: SigningKey, jwks_file: Path
) -> None:
    token = token_for(mistake, rsa_key)
    secrets = (token, token.rsplit(".", 1)[1], "adelheid.q@example.edu", "Adelheid", "Quixotte")

    answer = sso(http_event(query={"jwt": token}, headers={"accept": "application/json"}))
    body = json.loads(answer["body"])["error"]
    page = sso(http_event(query={"jwt": token}))

    # JSON: the user's sentence and the developer's detail, side by side.
    assert answer["statusCode"] == mistake.status
    assert (body["code"], body["message"]) == (mistake.code, mistake.user_sentence())
    assert re.search(mistake.detail, body["detail"]), body["detail"]
    assert body["request_id"]
    # HTML: the same sentence for the user, the detail under "For the portal's developers".
    assert page["statusCode"] == mistake.status
    assert page["headers"]["Content-Type"].startswith("text/html")
    assert f"<p>{html.escape(mistake.user_sentence())}</p>" in page["body"]
    section = developer_section(page["body"])
    assert '<h2 id="for-developers">For the portal\'s developers</h2>' in section
    page_detail = html.unescape(re.findall(r"</h2>\n<p>(.*?)</p>", section)[0])
    assert re.search(mistake.detail, page_detail), page_detail
    # No published guide configured: the page names it, and links nowhere it could not know.
    assert DEFAULT_TROUBLESHOOTING_URL == "" and "href" not in section
    assert f"its row in the troubleshooting table of {html.escape(PARTNER_GUIDE, quote=False)}" in section
    # Never the token, its signature or a profile claim, in either answer.
    for secret in secrets:
        assert secret not in answer["body"] and secret not in page["body"]
    # The user's sentence says "again" only where trying again can help.
    if mistake.status in (401, 403, 422):
        assert "click the link again" not in body["message"] and "try again in" not in body["message"]

    report = io.StringIO()
    settings = ["--jwks", str(jwks_file), "--iss", ISSUER, "--aud", AUDIENCE]
    status = check_link.main([token, *settings], out=report)
    for secret in secrets:
        assert secret not in report.getvalue()
    verdict = verdict_of(report.getvalue())
    assert verdict.startswith(mistake.verdict), report.getvalue()
    if mistake.code == "profile_required":
        # The service cannot know whether the user is new; check-link warns with the consequence.
        assert status == 0
        assert "warning: no given_name, family_name, email" in report.getvalue()
        assert "422 profile_required" in report.getvalue()
    else:
        assert status == 1
        assert f"the user would see: {mistake.user_sentence()}" in report.getvalue()


def test_the_thirteen_cover_the_issue_list() -> None:
    assert len(MISTAKES) == 13
    assert len({m.name for m in MISTAKES}) == 13
