"""The development IdP publishes discovery and JWKS documents and mints verifiable tokens."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest

from infra.local.dev_identity_provider import DevIdentityProvider
from infra.partner.keys import jwk_thumbprint
from tests.local.conftest import fetch, post_form


def verify(idp: DevIdentityProvider, token: str) -> dict[str, object]:
    """Verify ``token`` the way a relying party would: discovery, then the served JWKS."""
    discovery = fetch("GET", f"{idp.url}/.well-known/openid-configuration").json()
    client = jwt.PyJWKClient(discovery["jwks_uri"])
    key = client.get_signing_key_from_jwt(token)
    return dict(
        jwt.decode(token, key.key, algorithms=["RS256"], audience=idp.audience, issuer=discovery["issuer"])
    )


def test_discovery_names_the_issuer_and_the_jwks(dev_identity_provider: DevIdentityProvider) -> None:
    answer = fetch("GET", f"{dev_identity_provider.url}/.well-known/openid-configuration")
    assert answer.status == 200
    document = answer.json()
    assert document["issuer"] == dev_identity_provider.url
    assert document["jwks_uri"] == f"{dev_identity_provider.url}/.well-known/jwks.json"


def test_the_jwks_holds_one_rs256_key_whose_kid_is_its_rfc7638_thumbprint(
    dev_identity_provider: DevIdentityProvider,
) -> None:
    keys = fetch("GET", dev_identity_provider.jwks_url).json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert key["kid"] == jwk_thumbprint(key)
    assert "d" not in key  # never the private part


def test_thumbprint_matches_the_rfc7638_example() -> None:
    # RFC 7638 section 3.1.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
        "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
        "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    assert (
        jwk_thumbprint({"kty": "RSA", "n": n, "e": "AQAB"}) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    )


def test_a_minted_token_verifies_against_the_served_jwks_with_the_expected_claims(
    dev_identity_provider: DevIdentityProvider,
) -> None:
    token = dev_identity_provider.mint_token(
        "user-1", given_name="Ada", family_name="Lovelace", email="ada@example.com", redirect_to="/members/x"
    )
    assert jwt.get_unverified_header(token)["kid"] == dev_identity_provider.kid
    claims = verify(dev_identity_provider, token)
    assert claims["iss"] == dev_identity_provider.url
    assert claims["aud"] == "big-interview-sso"
    assert claims["sub"] == "user-1"
    assert claims["exp"] == claims["iat"] + 120  # type: ignore[operator]
    assert abs(int(claims["iat"]) - time.time()) < 5  # type: ignore[call-overload]
    assert claims["jti"]
    assert (claims["given_name"], claims["family_name"], claims["email"], claims["redirect_to"]) == (
        "Ada",
        "Lovelace",
        "ada@example.com",
        "/members/x",
    )


def test_each_token_has_its_own_jti(dev_identity_provider: DevIdentityProvider) -> None:
    first = jwt.decode(dev_identity_provider.mint_token("u"), options={"verify_signature": False})
    second = jwt.decode(dev_identity_provider.mint_token("u"), options={"verify_signature": False})
    assert first["jti"] != second["jti"]


def test_the_token_endpoint_mints_a_token_and_its_sso_link(
    dev_identity_provider: DevIdentityProvider,
) -> None:
    answer = fetch(
        "GET", f"{dev_identity_provider.url}/token?{urlencode({'sub': 'user-2', 'email': 'b@example.com'})}"
    )
    assert answer.status == 200
    assert answer.headers["Cache-Control"] == "no-store"
    document = answer.json()
    claims = verify(dev_identity_provider, document["jwt"])
    assert (claims["sub"], claims["email"]) == ("user-2", "b@example.com")
    assert "given_name" not in claims
    assert document["sso_url"] == f"{dev_identity_provider.api_url}/sso?{urlencode({'jwt': document['jwt']})}"


def test_the_token_endpoint_needs_a_sub(dev_identity_provider: DevIdentityProvider) -> None:
    assert fetch("GET", f"{dev_identity_provider.url}/token").status == 400


def test_the_demo_page_is_a_labelled_form_posting_to_sign_in(
    dev_identity_provider: DevIdentityProvider,
) -> None:
    answer = fetch("GET", f"{dev_identity_provider.url}/")
    assert answer.status == 200
    page = answer.text
    assert '<html lang="en">' in page
    assert '<form method="post" action="/sign-in">' in page
    for name in ("sub", "given_name", "family_name", "email", "redirect_to"):
        assert f'<label for="{name}">' in page
        assert f'id="{name}" name="{name}"' in page
    assert "Sign in to Big Interview</button>" in page


def test_sign_in_by_form_post_answers_an_auto_submitting_form_allowed_by_a_nonce(
    dev_identity_provider: DevIdentityProvider,
) -> None:
    form = {"sub": "user-3", "given_name": "Ada", "redirect_to": "/members/y", "style": "post"}
    answer = post_form(f"{dev_identity_provider.url}/sign-in", form)
    assert answer.status == 200
    page = answer.text
    assert f'<form method="post" action="{dev_identity_provider.api_url}/sso">' in page
    token = re.search(r'name="jwt" value="([^"]+)"', page)
    assert token is not None
    claims = verify(dev_identity_provider, token.group(1))
    assert (claims["sub"], claims["redirect_to"]) == ("user-3", "/members/y")
    nonce = re.search(r'<script nonce="([^"]+)">', page)
    assert nonce is not None
    csp = answer.headers["Content-Security-Policy"]
    assert f"script-src 'nonce-{nonce.group(1)}'" in csp
    assert f"form-action {dev_identity_provider.api_url}" in csp
    assert "frame-ancestors 'none'" in csp


def test_sign_in_by_link_redirects_to_the_api_with_a_fresh_token(
    dev_identity_provider: DevIdentityProvider,
) -> None:
    link = f"{dev_identity_provider.url}/sign-in?{urlencode({'sub': 'user-4', 'style': 'link'})}"
    answer = fetch("GET", link)
    assert answer.status == 303
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{dev_identity_provider.api_url}/sso"
    assert verify(dev_identity_provider, parse_qs(location.query)["jwt"][0])["sub"] == "user-4"


@pytest.mark.parametrize("path", ["/nope", "/.well-known/other"])
def test_unknown_paths_are_404(dev_identity_provider: DevIdentityProvider, path: str) -> None:
    assert fetch("GET", f"{dev_identity_provider.url}{path}").status == 404
