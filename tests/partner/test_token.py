"""``make token``: a minted token the service's verifier accepts, a ready link and curl, clear refusals."""

from __future__ import annotations

import io
import re
import shlex
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
import urllib3

from handler.config import load_token_policy
from handler.keys import HttpFetcher, JwksKeySource
from handler.tokens import TokenVerifier, VerifiedToken
from infra.local.dev_identity_provider import DevIdentityProvider
from infra.partner import check_link, token
from tests.partner.conftest import AUDIENCE, EMAIL, FIRST, ISSUER, LAST, ROOT, KeyPair, run_make


def mint(*argv: str) -> tuple[int, str]:
    """``token.main`` with its output kept out of pytest's capture (the leak check scans that)."""
    out = io.StringIO()
    return token.main(list(argv), out=out), out.getvalue()


def printed_token(output: str) -> str:
    """The token line: the only line that is a bare three-segment JWT."""
    [line] = [
        line for line in output.splitlines() if line.count(".") == 2 and " " not in line and "/" not in line
    ]
    return line


def verify(pair: KeyPair, jwks_url: str, value: str, issuer: str = ISSUER) -> VerifiedToken:
    """The service's own verifier, over the JWKS ``make keys`` wrote, served on loopback."""
    policy = load_token_policy({"JWT_ISSUER": issuer, "JWT_AUDIENCE": AUDIENCE, "JWT_JWKS_URL": jwks_url})
    keys = JwksKeySource(HttpFetcher(urllib3.PoolManager(retries=False)), policy.issuers, policy.jwks_url)
    return TokenVerifier(policy, keys).verify(value)


@pytest.fixture
def jwks_url(rsa_pair: KeyPair, serve_json: Callable[[dict[str, Any]], str]) -> str:
    return serve_json({"/jwks.json": rsa_pair.jwks}) + "/jwks.json"


def test_signed_with_a_key_from_make_keys_it_verifies(rsa_pair: KeyPair, jwks_url: str) -> None:
    status, output = mint(
        "--user", "abc123", "--key", str(rsa_pair.private_path), "--iss", ISSUER,
        "--email", EMAIL, "--first", FIRST, "--last", LAST, "--redirect-to", "/members/curriculum?chapter=6",
    )  # fmt: skip

    assert status == 0
    value = printed_token(output)
    verified = verify(rsa_pair, jwks_url, value)
    assert verified.partner_id == "abc123"
    assert verified.kid == rsa_pair.kid  # the kid defaults to the key's thumbprint
    assert verified.profile == {"first_name": FIRST, "last_name": LAST, "email": EMAIL}
    assert verified.redirect_to == "/members/curriculum?chapter=6"
    claims = jwt.decode(value, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 120
    assert len(claims["jti"]) >= 16
    assert jwt.get_unverified_header(value)["typ"] == "JWT"


def test_es256_key(ec_pair: KeyPair, serve_json: Callable[[dict[str, Any]], str]) -> None:
    url = serve_json({"/jwks.json": ec_pair.jwks}) + "/jwks.json"

    status, output = mint(
        "--user", "abc123", "--key", str(ec_pair.private_path), "--iss", ISSUER, "--existing-user", "yes"
    )  # fmt: skip

    assert status == 0
    assert jwt.get_unverified_header(printed_token(output))["alg"] == "ES256"
    assert verify(ec_pair, url, printed_token(output)).partner_id == "abc123"


def test_prints_a_link_and_a_curl_command(rsa_pair: KeyPair) -> None:
    status, output = mint(
        "--user", "abc123", "--key", str(rsa_pair.private_path), "--iss", ISSUER, "--api", "https://sso.example.com/",
        "--email", EMAIL, "--first", FIRST, "--last", LAST,
    )  # fmt: skip

    value = printed_token(output)
    lines = output.splitlines()
    assert status == 0
    assert f"https://sso.example.com/sso?jwt={value}" in lines
    [curl] = [line for line in lines if line.startswith("curl ")]
    assert shlex.split(curl) == [
        "curl", "-i", "-X", "POST", "--data-urlencode", f"jwt={value}", "https://sso.example.com/sso",
    ]  # fmt: skip


def test_profile_claims_are_masked_in_the_output(rsa_pair: KeyPair) -> None:
    _, output = mint(
        "--user", "abc123", "--key", str(rsa_pair.private_path), "--iss", ISSUER,
        "--email", EMAIL, "--first", FIRST, "--last", LAST,
    )  # fmt: skip

    assert "a***@example.edu" in output
    for secret in (EMAIL, FIRST, LAST):
        assert secret not in output


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        ("abc/123", "contains '/'"),
        ("dana@example.edu", "contains '.', '@'"),
        ("a" * 65, "65 characters long; the limit is 64"),
        ("dana demo", "contains ' '"),
    ],
)
def test_an_invalid_user_is_refused_in_plain_words(
    user: str, reason: str, rsa_pair: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    status, output = mint("--user", user, "--key", str(rsa_pair.private_path), "--iss", ISSUER)

    error = capsys.readouterr().err
    assert status == 2
    assert output == ""
    assert "is not a valid Big Interview partner_id" in error
    assert reason in error
    assert "1 to 64 characters" in error


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "USER is required"),
        (["--user", "abc123", "--key", "{key}"], "ISS is required with KEY"),
        (["--user", "abc123", "--key", "/nonexistent/key.pem", "--iss", ISSUER], "cannot read KEY"),
        (["--user", "abc123", "--key", "{jwks}", "--iss", ISSUER], "is not an unencrypted RSA or P-256"),
        (["--user", "abc123", "--iss", ISSUER], "ISS applies only with KEY"),
        (["--user", "abc123", "--redirect-to", "https://evil.example/"], "must start with exactly one '/'"),
        (["--user", "abc123", "--first", "x" * 257], "given_name is 257 characters"),
    ],
)
def test_usage_errors(
    argv: list[str], message: str, rsa_pair: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.format(key=rsa_pair.private_path, jwks=rsa_pair.jwks_path) for a in argv]

    status, output = mint(*argv)

    assert status == 2
    assert output == ""
    assert message in capsys.readouterr().err


@pytest.fixture
def dev_idp() -> Iterator[DevIdentityProvider]:
    with DevIdentityProvider(api_url="http://127.0.0.1:3000") as idp:
        yield idp


def test_without_a_key_the_dev_identity_provider_mints_it(dev_idp: DevIdentityProvider) -> None:
    status, output = mint(
        "--user", "abc123", "--idp", dev_idp.url, "--email", EMAIL, "--first", FIRST, "--last", LAST
    )  # fmt: skip

    value = printed_token(output)
    claims = jwt.decode(value, options={"verify_signature": False})
    assert status == 0
    assert jwt.get_unverified_header(value)["kid"] == dev_idp.kid
    assert (claims["iss"], claims["sub"], claims["email"]) == (dev_idp.issuer, "abc123", EMAIL)
    # And check-link, discovering the IdP's keys from its issuer, agrees.
    report = io.StringIO()
    assert check_link.main([value, "--iss", dev_idp.issuer], out=report) == 0
    assert "OK: this link would sign abc123 in" in report.getvalue()


def test_without_a_key_and_no_dev_stack_it_says_to_start_make_dev(capsys: pytest.CaptureFixture[str]) -> None:
    status, output = mint("--user", "abc123", "--idp", "http://127.0.0.1:9")

    assert status == 1
    assert output == ""
    assert "make dev" in capsys.readouterr().err


def test_make_token(rsa_pair: KeyPair, jwks_url: str) -> None:
    result = run_make(
        "token", "USER=abc123", f"KEY={rsa_pair.private_path}", f"KID={rsa_pair.kid}", f"ISS={ISSUER}",
        "REDIRECT_TO=/members/curriculum?chapter=6", "LAST=O'Neil", "EXISTING_USER=yes",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "warning: FIRST, EMAIL not given" in result.stderr
    verified = verify(rsa_pair, jwks_url, printed_token(result.stdout))
    assert verified.redirect_to == "/members/curriculum?chapter=6"
    assert verified.profile == {"last_name": "O'Neil"}  # quoting survives make and the shell
    assert "http://127.0.0.1:3000/sso?jwt=" in result.stdout


def test_make_token_ignores_the_login_user_and_reports_a_bad_user() -> None:
    # USER is also the login name in make's environment: only USER= on the command line counts.
    missing = run_make("token")
    bad = run_make("token", "USER=not valid")

    assert "USER is required" in missing.stderr
    assert "is not a valid Big Interview partner_id" in bad.stderr
    assert missing.returncode != 0 and bad.returncode != 0


def test_a_token_a_new_user_could_not_sign_in_with_is_refused_with_the_override_named(
    rsa_pair: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    status, output = mint(
        "--user", "abc123", "--key", str(rsa_pair.private_path), "--iss", ISSUER, "--first", FIRST
    )  # fmt: skip

    assert (status, output) == (2, "")
    error = capsys.readouterr().err
    assert "LAST, EMAIL not given" in error
    assert "422 profile_required" in error
    assert "EXISTING_USER=yes" in error


def test_for_an_existing_user_a_missing_profile_is_a_warning(
    rsa_pair: KeyPair, jwks_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, output = mint(
        "--user", "abc123", "--key", str(rsa_pair.private_path), "--iss", ISSUER, "--existing-user", "yes"
    )  # fmt: skip

    assert status == 0
    assert verify(rsa_pair, jwks_url, printed_token(output)).profile == {}
    assert "make token: warning: FIRST, LAST, EMAIL not given" in capsys.readouterr().err


def test_the_guides_local_stack_command_works_as_written(dev_idp: DevIdentityProvider) -> None:
    guide = (ROOT / "docs" / "partner-guide.md").read_text()
    promise = r"so `(make token [^`]+)` gives a\s+link that works against the local stack at once"
    [command] = re.findall(promise, guide)
    variables = dict(item.split("=", 1) for item in command.split()[2:])
    argv = [flag for name, value in variables.items() for flag in (f"--{name.lower()}", value)]

    status, output = mint(*argv, "--idp", dev_idp.url)

    assert status == 0
    # check-link needs no ISS or JWKS for a local-stack token, and finds nothing to warn about.
    report = io.StringIO()
    assert check_link.main([printed_token(output)], out=report) == 0
    assert "OK: this link would sign abc123 in" in report.getvalue()
    assert "warning" not in report.getvalue()
