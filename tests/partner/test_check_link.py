"""``make check-link``: the service's verdict on a link, in plain words, never the token itself."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from infra.partner import check_link
from tests import leakcheck
from tests.partner.conftest import EMAIL, FIRST, ISSUER, LAST, KeyPair, run_make, sign


def check(value: str, *argv: str, stdin: str = "") -> tuple[int, str]:
    """``check_link.main``; its report goes to a buffer, not pytest's capture."""
    out = io.StringIO()
    status = check_link.main([value, *argv], stdin=io.StringIO(stdin), out=out)
    return status, out.getvalue()


def b64(document: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()


def assert_nothing_secret(output: str, value: str) -> None:
    """Neither the token, nor its signature, nor its signed part, nor profile claims in clear."""
    parts = value.split(".")
    assert value not in output
    for part in parts:
        if len(part) >= 8:
            assert part not in output
    for secret in (EMAIL, FIRST, LAST):
        assert secret not in output


@pytest.fixture
def jwks_file(rsa_pair: KeyPair) -> list[str]:
    return ["--jwks", str(rsa_pair.jwks_path), "--iss", ISSUER]


def test_a_valid_token(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    value = sign(rsa_pair)

    status, output = check(value, *jwks_file)

    assert status == 0
    assert "OK: this link would sign abc123 in" in output
    for step in ("structure", "header", "issuer", "key", "signature", "claims", "partner_id", "redirect_to"):
        assert f"ok    {step}" in output
    assert f"kid '{rsa_pair.kid}' is in the JWKS" in output
    assert "lifetime     120 s (exp - iat; limit 300 s)" in output
    assert " UTC (" in output
    assert "a***@example.edu" in output
    assert "A*** (8 characters)" in output
    assert_nothing_secret(output, value)


def test_a_link_with_the_token_in_the_query(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    value = sign(rsa_pair)
    link = f"https://sso.example.com/sso?jwt={value}&redirect_to=%2Fmembers%2Fcurriculum"

    status, output = check(link, *jwks_file)

    assert status == 0
    assert "a link to 'https://sso.example.com/sso' (token in ?jwt=" in output
    assert "OK: this link would sign abc123 in, landing on /members/curriculum" in output
    assert_nothing_secret(output, value)


def test_the_signed_redirect_to_wins_over_the_link_parameter(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    value = sign(rsa_pair, redirect_to="/members/questions")

    status, output = check(f"https://sso.example.com/sso?jwt={value}&redirect_to=%2Fother", *jwks_file)

    assert status == 0
    assert "landing on /members/questions" in output
    assert "wins over the link's redirect_to '/other'" in output


def test_an_es256_token(ec_pair: KeyPair) -> None:
    value = sign(ec_pair)

    status, output = check(value, "--jwks", str(ec_pair.jwks_path), "--iss", ISSUER)

    assert status == 0, output
    assert "key type EC, usable for ES256" in output


def refusal(
    pair: KeyPair, jwks_file: list[str], value: str, token: str | None = None
) -> tuple[str, str]:  # (the failing step's line, the verdict line)
    status, output = check(value, *jwks_file)
    assert status == 1, output
    assert_nothing_secret(output, token or value)
    [failed] = [line for line in output.splitlines() if line.lstrip().startswith("FAIL")]
    [verdict] = [line for line in output.splitlines() if line.startswith("REFUSED")]
    return failed, verdict


def test_expired(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    now = int(time.time())
    value = sign(rsa_pair, iat=now - 300, exp=now - 180)

    failed, verdict = refusal(rsa_pair, jwks_file, value)

    assert verdict.startswith("REFUSED (401 token_expired): exp was 3 minutes ago")
    assert "30 s of clock skew" in verdict
    assert "FAIL  claims" in failed


def test_lifetime_too_long_with_the_figures(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    now = int(time.time())
    value = sign(rsa_pair, iat=now, exp=now + 7200)

    _, verdict = refusal(rsa_pair, jwks_file, value)

    assert verdict == "REFUSED (401 token_lifetime_too_long): exp is 2 hours after iat; the limit is 300 s"


def test_lifetime_limit_follows_max_age(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    now = int(time.time())

    status, _ = check(sign(rsa_pair, iat=now, exp=now + 600), *jwks_file, "--max-age", "900")

    assert status == 0


def test_not_yet_valid(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    now = int(time.time())
    value = sign(rsa_pair, iat=now + 600, exp=now + 700)

    _, verdict = refusal(rsa_pair, jwks_file, value)

    assert verdict.startswith("REFUSED (401 token_not_yet_valid): iat is 10 minutes in the future")


def test_wrong_issuer(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    failed, verdict = refusal(rsa_pair, jwks_file, sign(rsa_pair, iss="https://idp.elsewhere.test"))

    assert "FAIL  issuer" in failed
    assert verdict == (
        "REFUSED (401 invalid_issuer): iss is 'https://idp.elsewhere.test'; "
        f"the service accepts only ['{ISSUER}']"
    )


def test_wrong_audience(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    _, verdict = refusal(rsa_pair, jwks_file, sign(rsa_pair, aud="someone-else"))

    assert verdict.startswith(
        "REFUSED (401 invalid_audience): aud is 'someone-else'; it must be 'big-interview-sso'"
    )


def test_bad_signature(rsa_pair: KeyPair, other_rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    # Signed with another private key, under the published kid.
    value = sign(other_rsa_pair, headers={"kid": rsa_pair.kid})

    failed, verdict = refusal(rsa_pair, jwks_file, value)

    assert "FAIL  signature" in failed
    assert verdict.startswith("REFUSED (401 invalid_signature): the signature does not verify")


def test_tampered_payload(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    header, _, signature = sign(rsa_pair).split(".")
    forged = f"{header}.{b64({'iss': ISSUER, 'aud': 'big-interview-sso', 'sub': 'admin'})}.{signature}"
    leakcheck.register(forged)

    _, verdict = refusal(rsa_pair, jwks_file, forged)

    assert "invalid_signature" in verdict


def test_unknown_kid(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    failed, verdict = refusal(rsa_pair, jwks_file, sign(rsa_pair, headers={"kid": "retired-2023"}))

    assert "FAIL  key" in failed
    assert verdict.startswith("REFUSED (401 unknown_key): kid 'retired-2023' is not in the JWKS")
    assert f"the JWKS offers ['{rsa_pair.kid}']" in verdict


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none(alg: str, rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "big-interview-sso", "sub": "abc123", "iat": now, "exp": now + 60}
    value = f"{b64({'alg': alg, 'kid': rsa_pair.kid})}.{b64(claims)}.c2lnbmF0dXJl"

    failed, verdict = refusal(rsa_pair, jwks_file, value)

    assert "FAIL  header" in failed
    assert verdict == (
        f"REFUSED (401 unsupported_algorithm): alg is '{alg}'; the service accepts only RS256, ES256 "
        "(an unsigned token is never accepted)"
    )


def test_alg_none_with_an_empty_signature_is_malformed(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    value = f"{b64({'alg': 'none'})}.{b64({'sub': 'abc123'})}."

    _, verdict = refusal(rsa_pair, jwks_file, value)

    assert verdict == "REFUSED (401 malformed_token): the signature is empty or not unpadded base64url"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("not-a-token", "1 segments; a JWT has exactly 3"),
        ("a.b.c.d", "4 segments; a JWT has exactly 3"),
        ("e30.bm90IGpzb24.c2ln", "the payload is not base64url-encoded UTF-8 JSON"),
        ("WzFd.e30.c2ln", "the header is not a JSON object"),
    ],
)
def test_malformed(value: str, words: str, rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    status, output = check(value, *jwks_file)

    assert status == 1
    assert "FAIL  structure" in output
    assert f"REFUSED (401 malformed_token): {words}" in output


def test_too_large(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    status, output = check("a" * 9000 + ".b.c", *jwks_file)

    assert status == 1
    assert "REFUSED (400 token_too_large)" in output


def test_invalid_user(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    failed, verdict = refusal(rsa_pair, jwks_file, sign(rsa_pair, sub="dana@example.edu"))

    assert "FAIL  partner_id" in failed
    # The user claim is an email address: masked like the email claim, never printed in full.
    assert verdict.startswith(
        "REFUSED (403 invalid_user): sub 'd***@example.edu' is not a valid partner_id: it contains '.', '@'"
    )
    assert "dana@example.edu" not in failed + verdict


def test_missing_claim(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    _, verdict = refusal(rsa_pair, jwks_file, sign(rsa_pair, iat=None))

    assert verdict == "REFUSED (401 missing_claim): the token has no 'iat' claim"


def test_an_unsafe_redirect_in_the_link(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    value = sign(rsa_pair)

    failed, verdict = refusal(
        rsa_pair, jwks_file, f"https://sso.example.com/sso?jwt={value}&redirect_to=//evil.example/", value
    )

    assert "FAIL  redirect_to" in failed
    assert verdict == "REFUSED (400 invalid_redirect): redirect_to must start with exactly one '/'"


def test_a_link_without_a_token(jwks_file: list[str]) -> None:
    status, output = check("https://sso.example.com/sso?redirect_to=%2F", *jwks_file)

    assert status == 1
    assert "REFUSED (400 missing_token)" in output


def test_reads_the_link_from_stdin(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    status, output = check("-", *jwks_file, stdin=f"https://sso.example.com/sso?jwt={sign(rsa_pair)}\n")

    assert status == 0
    assert "OK: this link would sign abc123 in" in output


def test_missing_profile_claims_are_pointed_out(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    status, output = check(sign(rsa_pair, given_name=None, email=None), *jwks_file)

    assert status == 0
    assert (
        "warning: no given_name, email: Big Interview needs them to create a user who has never signed "
        "in; for a new user it answers 422, and the service 422 profile_required"
    ) in output


def test_without_iss_the_token_issuer_is_used_and_said_so(rsa_pair: KeyPair) -> None:
    status, output = check(sign(rsa_pair), "--jwks", str(rsa_pair.jwks_path))

    assert status == 0
    assert "iss was not checked against your configuration" in output


def test_jwks_by_url(rsa_pair: KeyPair, serve_json: Callable[[dict[str, Any]], str]) -> None:
    url = serve_json({"/.well-known/jwks.json": rsa_pair.jwks}) + "/.well-known/jwks.json"

    status, output = check(sign(rsa_pair), "--jwks", url, "--iss", ISSUER)

    assert status == 0
    assert f"keys from {url}" in output


def test_an_unreachable_jwks_url_is_the_services_503(rsa_pair: KeyPair) -> None:
    status, output = check(sign(rsa_pair), "--jwks", "http://127.0.0.1:9/jwks.json", "--iss", ISSUER)

    assert status == 1
    assert "REFUSED (503 keys_unavailable)" in output


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the token's iss is '(unknown)': give ISS= (your issuer"),
        (["--jwks", "/nonexistent/jwks.json"], "cannot read the JWKS file"),
        (["--jwks", "{jwks}", "--iss", ISSUER, "--max-age", "5"], "MAX_AGE must be between 10 and 3600"),
        (["--jwks", "{jwks}", "--iss", ISSUER, "--algorithms", "RS256,HS256"], "HS256"),
        (["--jwks", "http://jwks.example.com/jwks.json", "--iss", ISSUER], "JWKS must use https://"),
    ],
)
def test_usage_errors(
    argv: list[str], message: str, rsa_pair: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.format(jwks=rsa_pair.jwks_path) for a in argv]

    status, output = check("e30.e30.c2ln", *argv)

    assert status == 2
    assert output == ""
    assert message in capsys.readouterr().err


def test_a_jwks_file_that_is_not_json(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "jwks.json").write_text("<html>")

    assert check("e30.e30.c2ln", "--jwks", str(tmp_path / "jwks.json"))[0] == 2
    assert "is not JSON" in capsys.readouterr().err


def test_untrusted_values_cannot_drive_the_terminal(rsa_pair: KeyPair, jwks_file: list[str]) -> None:
    status, output = check(sign(rsa_pair, iss="\x1b[2J\x1b]0;pwned\x07"), *jwks_file)

    assert status == 1
    assert "\x1b" not in output
    assert "\\x1b[2J" in output


def test_make_check_link(rsa_pair: KeyPair) -> None:
    now = int(time.time())
    good, expired = sign(rsa_pair), sign(rsa_pair, iat=now - 400, exp=now - 280)
    settings = [f"JWKS={rsa_pair.jwks_path}", f"ISS={ISSUER}"]

    ok = run_make("check-link", f"URL=http://127.0.0.1:3000/sso?jwt={good}&x='y'", *settings)
    refused = run_make("check-link", f"URL={expired}", *settings)

    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK: this link would sign abc123 in" in ok.stdout
    assert refused.returncode != 0
    assert "REFUSED (401 token_expired): exp was 5 minutes ago" in refused.stdout
    for result, value in ((ok, good), (refused, expired)):
        assert_nothing_secret(result.stdout + result.stderr, value)  # make echoes no command line


def test_without_iss_or_jwks_it_names_the_tokens_issuer_to_give(
    rsa_pair: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    status, output = check(sign(rsa_pair))

    assert (status, output) == (2, "")
    assert f"the token's iss is '{ISSUER}': give ISS= (your issuer" in capsys.readouterr().err


def test_a_local_stack_token_needs_neither_iss_nor_jwks(
    rsa_pair: KeyPair, serve_json: Callable[[dict[str, Any]], str]
) -> None:
    # A loopback http issuer is the make dev identity provider: its keys come by OIDC discovery.
    documents: dict[str, Any] = {}
    issuer = serve_json(documents)
    documents["/.well-known/openid-configuration"] = {"issuer": issuer, "jwks_uri": f"{issuer}/jwks.json"}
    documents["/jwks.json"] = rsa_pair.jwks
    status, output = check(sign(rsa_pair, iss=issuer))

    assert status == 0, output
    assert f"(the token's iss {issuer} is the local stack's" in output
    assert "OK: this link would sign abc123 in" in output
    assert "iss was not checked" not in output


def test_with_one_time_links_on_by_default_a_token_without_jti_is_refused(
    rsa_pair: KeyPair, jwks_file: list[str]
) -> None:
    value = sign(rsa_pair, jti=None)

    refused_status, refused = check(value, *jwks_file)
    allowed_status, allowed = check(value, *jwks_file, "--one-time-links", "off")

    assert refused_status == 1
    assert "FAIL  jti" in refused
    assert "REFUSED (401 missing_claim): the token has no jti, and one-time links are on" in refused
    assert allowed_status == 0
    assert "OK: this link would sign abc123 in" in allowed


def test_a_truncated_link_without_iss_is_called_malformed_not_asked_for_iss(rsa_pair: KeyPair) -> None:
    value = sign(rsa_pair)
    cut = value[: value.index(".") + 12]  # a link cut short when pasted: no ISS= could make it pass

    status, output = check(f"http://127.0.0.1:3000/sso?jwt={cut}")

    assert status == 1
    assert "FAIL  structure" in output
    assert "REFUSED (401 malformed_token)" in output
    assert "ISS=" not in output
