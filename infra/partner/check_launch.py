"""``make check-launch``: what the service would say about a captured LTI launch's ``id_token``.

    python -m infra.partner.check_launch TOKEN_OR_- --iss ISS --client-id ID --deployment-ids LIST
                                         --jwks FILE_OR_URL [--tool https://sso.example.com]

The id_token (``-``, the default, reads it from standard input and keeps it out
of the shell history) is run through the service's own ``LaunchVerifier`` with
the registration given on the command line: the verdict is the service's, this
module only puts it into words from the refusal's fields. The ``state`` and
``nonce`` cannot be checked here: they are single-use records of one browser's
login. The token is never printed; names and email are masked.

Exit code: 0 the launch would sign the student in, 1 the service would refuse
it, 2 usage error (bad arguments, unreadable JWKS).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

import urllib3

from handler.errors import SsoError
from handler.keys import HttpFetcher, JwksKeySource
from handler.lti.claims import LaunchVerifier, VerifiedLaunch
from handler.lti.registrations import LtiRegistration
from handler.lti.service import LAUNCH_PATH, our_origin
from handler.redirects import check_redirect_to
from handler.tokens import parse_token
from infra.partner.text import escaped, mask_email, mask_name

# Which check each refusal code belongs to, in the order the service checks.
STEPS = {
    "token_too_large": "structure",
    "malformed_token": "structure",
    "unsupported_algorithm": "header",
    "invalid_issuer": "issuer",
    "unknown_key": "key",
    "keys_unavailable": "key",
    "invalid_signature": "signature",
    "token_expired": "times",
    "token_not_yet_valid": "times",
    "token_lifetime_too_long": "times",
    "invalid_audience": "aud",
    "missing_claim": "claims",
    "invalid_claim": "claims",
    "lti_claim_invalid": "LTI claims",
    "lti_unknown_deployment": "deployment",
    "invalid_user": "user",
}


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make check-launch", description=__doc__.split("\n\n")[0])
    parser.add_argument("token", nargs="?", default="-", help="the id_token, or - to read it from stdin")
    parser.add_argument("--iss", required=True, help="the platform's iss (Platform ID, Issuer)")
    parser.add_argument("--client-id", required=True, help="the client_id the platform gave the tool")
    parser.add_argument("--deployment-ids", required=True, help="the allowed deployment ids, comma-separated")
    parser.add_argument("--jwks", required=True, help="the platform's JWKS: a file, or its https URL")
    parser.add_argument(
        "--tool", help="the service's base URL, to check target_link_uri (e.g. https://sso.example.com)"
    )
    return parser.parse_args(argv)


def key_source(jwks: str, issuer: str) -> JwksKeySource:
    if urlsplit(jwks).scheme in ("https", "http"):
        return JwksKeySource(HttpFetcher(urllib3.PoolManager(retries=False)), (issuer,), jwks)
    return JwksKeySource.from_document(json.loads(Path(jwks).read_text()), (issuer,))


def check(
    token: str, registration: LtiRegistration, keys: JwksKeySource, tool: str | None, out: TextIO
) -> int:
    def say(mark: str, step: str, text: str) -> None:
        # Every line holds untrusted text (claims, the platform's values): escaped for the terminal.
        print(escaped(f"{mark} {step:<12} {text}"), file=out)

    try:
        parsed = parse_token(token.strip())
        say("✓", "structure", f"a compact JWS, header alg={parsed.alg!r} kid={parsed.kid!r}")
        verified = LaunchVerifier(registration, keys).verify(parsed)
    except SsoError as error:
        step = STEPS.get(error.code, error.code)
        say("✗", step, f"{error.code}: {error.detail}")
        if error.expected is not None or error.found is not None:
            say(" ", "", f"expected {error.expected!r}, found {error.found!r}")
        say(" ", "", "the service would refuse this launch (docs/lti.md#troubleshooting)")
        return 1
    assert isinstance(verified, VerifiedLaunch)
    for step, text in (
        ("header", "alg RS256, kid in the platform's JWKS"),
        ("signature", "verifies with the platform's key"),
        ("issuer", f"iss {registration.issuer!r}"),
        ("times", "exp, iat (and nbf) within the allowed clock skew and lifetime"),
        ("aud", f"aud names only client_id {registration.client_id!r}; azp, if any, is it"),
        ("LTI claims", "version 1.3.0, LtiResourceLinkRequest with a resource_link, nonce and sub present"),
        ("deployment", f"deployment_id {verified.deployment_id!r} is allowed"),
    ):
        say("✓", step, text)
    refused = 0
    if tool is not None:
        origin = our_origin(urlsplit(tool).netloc)
        target = urlsplit(verified.target_link_uri)
        if origin is None or f"{target.scheme}://{target.netloc}".lower() != origin:
            say("✗", "target", f"target_link_uri {verified.target_link_uri[:200]!r} is not on {tool}")
            refused = 1
        else:
            say("✓", "target", f"target_link_uri is on {origin} (set it to {origin}{LAUNCH_PATH})")
    say("✓", "user", f"the student's Big Interview partner_id is {verified.partner_id}")
    profile = verified.profile
    shown = {
        "first_name": mask_name(profile["first_name"]) if "first_name" in profile else None,
        "last_name": mask_name(profile["last_name"]) if "last_name" in profile else None,
        "email": mask_email(profile["email"]) if "email" in profile else None,
    }
    missing = [name for name, value in shown.items() if value is None]
    if missing:
        say(
            "!",
            "profile",
            f"not released: {', '.join(missing)}; a new student would get lti_profile_not_released",
        )
    else:
        say("✓", "profile", ", ".join(f"{name} {value}" for name, value in shown.items()))
    if verified.redirect_to is not None:
        try:
            check_redirect_to(verified.redirect_to)
            say("✓", "deep link", f"redirect_to {verified.redirect_to!r}")
        except SsoError as error:
            say("✗", "deep link", f"{error.code}: {error.detail}")
            refused = 1
    say(" ", "", "not checked here: state and nonce (single-use records of one browser's login)")
    return refused


def _read(value: str, stdin: TextIO) -> str:
    """The argument, or standard input for ``-`` (keeps a login out of the shell history)."""
    return stdin.read() if value == "-" else value


def main(argv: Sequence[str] | None = None, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    arguments = parse_arguments(argv)
    token = _read(arguments.token, stdin)
    deployment_ids = tuple(item.strip() for item in arguments.deployment_ids.split(",") if item.strip())
    registration = LtiRegistration(
        issuer=arguments.iss,
        client_id=arguments.client_id,
        deployment_ids=deployment_ids,
        auth_url="",
        jwks_url=arguments.jwks,
        bi_org="",
        bi_base_url="",
        api_key_secret_id="",
    )
    try:
        keys = key_source(arguments.jwks, arguments.iss)
    except (OSError, ValueError) as error:
        print(f"error: cannot read the JWKS {arguments.jwks!r}: {error}", file=sys.stderr)
        return 2
    return check(token, registration, keys, arguments.tool, out)


if __name__ == "__main__":
    sys.exit(main())
