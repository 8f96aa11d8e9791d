"""``make token``: a correctly formed short-lived sign-in token, a ready link and a curl command.

    python -m infra.partner.token --user abc123 [--email … --first … --last … --redirect-to …]
                                  [--key keys/private-key.pem --iss ISSUER [--kid KID] [--aud AUD]]
                                  [--api http://127.0.0.1:3000] [--idp http://127.0.0.1:3001]
                                  [--existing-user yes]

Without ``--key`` the development identity provider of ``make dev`` mints the
token with its own key (its ``/token`` endpoint), so the link works against the
local stack at once. With ``--key`` the token is signed here, with the key
``make keys`` wrote; ``kid`` defaults to the key's RFC 7638 thumbprint, which is
what ``make keys`` put in the JWKS.

A user Big Interview has never seen is created from ``given_name``,
``family_name`` and ``email``; without them it answers 422 and the service
``profile_required``. So a token without all three is refused unless
``--existing-user yes`` says the user has signed in before (then it is a warning).

Exit code: 0 printed, 1 the identity provider could not be reached, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

import jwt
import urllib3

from handler.errors import InvalidRedirect
from handler.redirects import check_redirect_to
from handler.tokens import PARTNER_ID, PROFILE_CLAIMS
from infra.partner.keys import algorithm_for, load_private_key, public_jwk
from infra.partner.text import mask_email, mask_name, partner_id_problem, utc

LIFETIME_SECONDS = 120  # well inside the service's default 300 s limit, with room for clock skew
DEFAULT_API = "http://127.0.0.1:3000"
DEFAULT_IDP = "http://127.0.0.1:3001"
DEFAULT_AUDIENCE = "big-interview-sso"
IDP_TIMEOUT = urllib3.Timeout(connect=2.0, read=5.0)
# The make variable for each profile claim a new user needs.
PROFILE_OPTIONS = {"FIRST": "given_name", "LAST": "family_name", "EMAIL": "email"}


class UsageError(Exception):
    """Bad input (exit code 2)."""


class MintError(Exception):
    """The token could not be minted (exit code 1)."""


def profile_claims(args: argparse.Namespace) -> dict[str, str]:
    """The optional claims, checked against the service's limits before anything is signed."""
    values = {"given_name": args.first, "family_name": args.last, "email": args.email}
    claims: dict[str, str] = {}
    for claim, value in values.items():
        if not value:
            continue
        limit = PROFILE_CLAIMS[claim][1]
        if len(value) > limit:
            raise UsageError(f"{claim} is {len(value)} characters; the service accepts at most {limit}")
        claims[claim] = value
    if args.redirect_to:
        try:
            claims["redirect_to"] = check_redirect_to(args.redirect_to)
        except InvalidRedirect as error:
            raise UsageError(f"REDIRECT_TO {args.redirect_to!r}: {error.detail}") from None
    return claims


def check_profile(args: argparse.Namespace, extra: dict[str, str]) -> None:
    """Refuse (or, for a known user, warn about) a token a new user could not sign in with."""
    missing = [name for name, claim in PROFILE_OPTIONS.items() if claim not in extra]
    if missing:
        consequence = (
            f"{', '.join(missing)} not given: a user new to Big Interview needs a first name, last name and "
            "email, so for a new user the service answers 422 profile_required"
        )
        if args.existing_user != "yes":
            raise UsageError(
                f"{consequence}. Give {', '.join(missing)}, or EXISTING_USER=yes if this user has "
                "signed in to Big Interview before"
            )
        print(f"make token: warning: {consequence}", file=sys.stderr)


def check_user(user: str | None) -> str:
    if not user:
        raise UsageError("USER is required: the user's partner_id, e.g. make token USER=abc123")
    if not PARTNER_ID.fullmatch(user):
        raise UsageError(
            f"USER {user!r} is not a valid Big Interview partner_id: {partner_id_problem(user)}. "
            "A partner_id is 1 to 64 characters, each a letter (A-Z, a-z), a digit, '_' or '-'; "
            "use your system's stable user id, not an email address"
        )
    return user


def mint_locally(args: argparse.Namespace, user: str, extra: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Sign with ``--key``; returns the token and a description of it."""
    if not args.iss:
        raise UsageError("ISS is required with KEY: the issuer your service is configured with (JWT_ISSUER)")
    try:
        private_key = load_private_key(Path(args.key))
    except OSError as error:
        raise UsageError(f"cannot read KEY {args.key}: {error.strerror}") from None
    except (ValueError, TypeError) as error:
        raise UsageError(
            f"KEY {args.key} is not an unencrypted RSA or P-256 private key PEM: {error}"
        ) from None
    alg = algorithm_for(private_key)
    kid = args.kid or str(public_jwk(private_key)["kid"])
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": args.iss,
        "aud": args.aud or DEFAULT_AUDIENCE,
        "sub": user,
        "iat": now,
        "exp": now + LIFETIME_SECONDS,
        "jti": secrets.token_urlsafe(16),  # unique per link: what one-time links are keyed on
        **extra,
    }
    token = jwt.encode(claims, private_key, algorithm=alg, headers={"kid": kid, "typ": "JWT"})
    return token, {"alg": alg, "kid": kid, "iss": claims["iss"], "aud": claims["aud"], "exp": claims["exp"]}


def mint_from_dev_idp(idp: str, user: str, claims: dict[str, str]) -> str:
    """A fresh token from the ``make dev`` identity provider at ``idp`` (``GET /token``)."""
    url = f"{idp.rstrip('/')}/token?{urlencode({'sub': user, **claims})}"
    http = urllib3.PoolManager(retries=False)
    try:
        response = http.request("GET", url, timeout=IDP_TIMEOUT, retries=False)
    except urllib3.exceptions.HTTPError:
        raise MintError(
            f"the development identity provider at {idp} is not answering. Start the local "
            "stack with `make dev` (in another terminal), or sign with your own key: KEY=... ISS=..."
        ) from None
    if response.status != 200:
        raise MintError(f"the development identity provider answered HTTP {response.status}")
    try:
        return str(json.loads(response.data)["jwt"])
    except (ValueError, KeyError, TypeError):
        raise MintError("the development identity provider's answer has no usable jwt") from None


def mint_with_idp(args: argparse.Namespace, user: str, extra: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Ask the ``make dev`` identity provider (``GET /token``) to mint with the development key."""
    for name in ("iss", "aud", "kid"):
        if getattr(args, name):
            raise UsageError(
                f"{name.upper()} applies only with KEY=...: the development identity provider "
                "signs with its own key, issuer and audience"
            )
    token = mint_from_dev_idp(args.idp, user, extra)
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except (ValueError, KeyError, TypeError, jwt.PyJWTError):
        raise MintError("the development identity provider's answer has no usable jwt") from None
    described = {name: claims.get(name) for name in ("iss", "aud", "exp")}
    return str(token), {"alg": header.get("alg"), "kid": header.get("kid"), **described}


def print_result(
    out: TextIO, token: str, user: str, about: dict[str, Any], extra: dict[str, str], api: str
) -> None:
    profile = [
        f"{name} {mask_email(value) if name == 'email' else mask_name(value)}"
        for name, value in extra.items()
        if name in PROFILE_CLAIMS
    ]
    sso = f"{api.rstrip('/')}/sso"
    print(f"Token for {user}: {about['alg']}, kid {about['kid']}", file=out)
    print(f"  iss {about['iss']}, aud {about['aud']}", file=out)
    print(f"  expires {utc(float(about['exp']))} ({LIFETIME_SECONDS} s after it was minted)", file=out)
    if profile:
        print(f"  profile: {', '.join(profile)}", file=out)
    if "redirect_to" in extra:
        print(f"  redirect_to {extra['redirect_to']}", file=out)
    print(file=out)
    print(token, file=out)
    print(file=out)
    print("Link (GET; the token travels in the URL, so prefer the form POST on real pages):", file=out)
    print(f"{sso}?{urlencode({'jwt': token})}", file=out)
    print(file=out)
    print("Form POST with curl (-i shows the 302 and its Location):", file=out)
    print(shlex.join(["curl", "-i", "-X", "POST", "--data-urlencode", f"jwt={token}", sso]), file=out)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="make token", description="Mint a short-lived sign-in token.")
    parser.add_argument("--user", help="the user's Big Interview partner_id (the sub claim)")
    parser.add_argument("--email", help="email claim (needed when the user may be new)")
    parser.add_argument("--first", help="given_name claim")
    parser.add_argument("--last", help="family_name claim")
    parser.add_argument("--redirect-to", help="a relative Big Interview path, e.g. /members/curriculum")
    parser.add_argument(
        "--key", help="sign with this private key PEM (from make keys) instead of the dev key"
    )
    parser.add_argument("--kid", help="the key's kid (default: its RFC 7638 thumbprint, as make keys sets)")
    parser.add_argument("--iss", help="issuer (required with --key)")
    parser.add_argument("--aud", help=f"audience (with --key; default {DEFAULT_AUDIENCE})")
    parser.add_argument(
        "--api", default=DEFAULT_API, help=f"the SSO service's base URL (default {DEFAULT_API})"
    )
    parser.add_argument("--idp", default=DEFAULT_IDP, help=f"the make dev identity provider ({DEFAULT_IDP})")
    parser.add_argument(
        "--existing-user",
        choices=("yes", "no"),
        default="no",
        help="yes: the user has signed in before, so EMAIL, FIRST and LAST may be left out",
    )
    args = parser.parse_args(argv)
    try:
        user = check_user(args.user)
        extra = profile_claims(args)
        token, about = (mint_locally if args.key else mint_with_idp)(args, user, extra)
        check_profile(args, extra)
    except UsageError as error:
        print(f"make token: {error}", file=sys.stderr)
        return 2
    except MintError as error:
        print(f"make token: {error}", file=sys.stderr)
        return 1
    print_result(out, token, user, about, extra, args.api)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
