"""``make check-link``: what the service would say about a sign-in link, in plain words.

    python -m infra.partner.check_link URL_OR_TOKEN [--jwks FILE_OR_URL] [--iss ISSUER] [--aud AUDIENCE]
                                      [--max-age S] [--leeway S] [--user-claim NAME] [--algorithms LIST]
                                      [--return-origins LIST] [--one-time-links on|off]

The link (or a bare token, or ``-`` to read either from stdin and keep it out of
the shell history) is decoded WITHOUT trusting it, then run through the
service's own ``TokenVerifier`` (see ``verifier.py``): the verdict is the
service's, and this module only puts it into words, from the refusal's own
fields (what was expected, what was found), never by parsing its sentence. Each step is printed; the
first failing one says why, with the figures. The signature and the token are
never printed, and profile claims are masked.

Without ``--iss`` and ``--jwks``, a token from the local stack (``make dev``; its
issuer is a loopback URL) is checked against its own issuer by OIDC discovery;
any other token needs one of them, and the tool says which to give.

Exit code: 0 the link would sign the user in, 1 the service would refuse it,
2 usage error (bad arguments, unreadable JWKS file, invalid settings).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from handler.config import TokenPolicy
from handler.errors import (
    BadRequest,
    ConfigError,
    ConflictingTokens,
    InvalidIssuer,
    InvalidSignature,
    InvalidToken,
    InvalidUser,
    KeysUnavailable,
    MissingClaim,
    MissingToken,
    PartnerUnavailable,
    SsoError,
    UnknownKey,
)
from handler.redirects import check_redirect_to, check_return_url
from handler.tokens import PROFILE_CLAIMS, parse_token
from handler.url_rules import is_loopback_host
from infra.partner.text import duration, mask_email, mask_name, partner_id_problem, relative, utc
from infra.partner.verifier import DEFAULT_AUDIENCE, Settings, Verifier, build

SHOWN_CHARACTERS = 120
# Claims whose values are shown; any other claim is listed by name only.
SHOWN_CLAIMS = ("iss", "aud", "sub", "iat", "nbf", "exp", "jti", "redirect_to", *PROFILE_CLAIMS)
# The order in which the service's verifier checks; a refusal stops at the first failure.
STEPS = ("structure", "header", "issuer", "key", "signature", "claims", "partner_id", "redirect_to")
# Make variable for each check-link flag, so settings problems name what the user typed.
MAKE_NAMES = {
    "JWT_ISSUER": "ISS",
    "JWT_AUDIENCE": "AUD",
    "JWT_JWKS_URL": "JWKS",
    "JWT_ALGORITHMS": "ALGORITHMS",
    "JWT_USER_CLAIM": "USER_CLAIM",
    "JWT_MAX_AGE_SECONDS": "MAX_AGE",
    "JWT_LEEWAY_SECONDS": "LEEWAY",
    "RETURN_URL_ALLOWED_ORIGINS": "RETURN_ORIGINS",
}
# The service's answer when a new user's token lacks a profile claim (Partner API 422).
PROFILE_REQUIRED = "422 profile_required"


class UsageError(Exception):
    """Bad input to the tool itself (exit code 2)."""


@dataclass(frozen=True)
class Link:
    """What the browser would send: the token, and the unsigned parameters of a link."""

    token: str
    described: str
    redirect_to: str | None = None
    return_url: str | None = None


def shown(value: Any) -> str:
    """An untrusted value, safe for a terminal: repr escapes control characters; long ones are cut."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS] + "…"


def shown_claim(value: Any) -> str:
    """A claim for the terminal; one that holds an email address (a user claim often does) is masked."""
    return shown(mask_email(value)) if isinstance(value, str) and "@" in value else shown(value)


def parse_link(raw: str) -> Link:
    """The token from a link (``?jwt=``), an ``Authorization: Bearer`` value, or a bare token.

    A link without a token, or with two different ones, is refused as the service
    would refuse it (``MissingToken``/``ConflictingTokens``).
    """
    text = raw.strip()
    if not text:
        raise UsageError("give a link or a token (URL=... or a bare token; '-' reads it from stdin)")
    if text.lower().startswith("bearer "):
        text = text[7:].strip()
    if "://" not in text and not text.startswith("/") and "?" not in text:
        return Link(text, f"a bare token ({len(text)} characters)")
    parts = urlsplit(text)
    query = parse_qs(parts.query, keep_blank_values=True)
    where = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else parts.path
    tokens = {value for value in query.get("jwt", []) if value}
    if not tokens:
        raise MissingToken(f"the link {shown(where)} has no jwt parameter")
    if len(tokens) > 1:
        raise ConflictingTokens("the link has several different jwt parameters")
    token = tokens.pop()

    def one(name: str) -> str | None:
        values = query.get(name)
        if values and len(set(values)) > 1:
            raise BadRequest(f"{name} is given more than once")
        return values[0] if values else None

    return Link(
        token,
        f"a link to {shown(where)} (token in ?jwt=, {len(token)} characters)",
        redirect_to=one("redirect_to"),
        return_url=one("return_url"),
    )


def number(value: Any) -> float | None:
    """A time claim to show, if it is a finite number (not a bool), else None."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return float(value) if math.isfinite(value) else None
    except OverflowError:  # an integer too large for a float
        return None


class Report:
    """Prints the steps and the verdict."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def line(self, text: str = "") -> None:
        print(text, file=self.out)

    def step(self, name: str, ok: bool, text: str) -> None:
        self.line(f"  {'ok  ' if ok else 'FAIL'}  {name:<12} {text}")

    def refused(self, error: SsoError, words: str) -> int:
        """The verdict line for a refusal (exit code 1), and the page the user would get."""
        self.line()
        self.line(f"REFUSED ({error.status} {error.code}): {words}")
        self.line(f"  the user would see: {error.message}")
        return 1


class Checker:
    """Runs one link through the verifier and explains the outcome."""

    def __init__(
        self,
        verifier: Verifier,
        settings: Settings,
        report: Report,
        issuer_given: bool,
        one_time_links: bool = True,
    ) -> None:
        self.verifier = verifier
        # As in the template (ReplayProtection): on unless the operator turned it off.
        self.one_time_links = one_time_links
        # Without ISS the token's own iss is accepted, which the verdict must say.
        self.issuer_given = issuer_given
        self.policy: TokenPolicy = verifier.policy
        self.settings = settings
        self.report = report
        self.header: dict[str, Any] = {}
        self.payload: dict[str, Any] = {}

    # -- the run ------------------------------------------------------------------------------
    def run(self, link: Link) -> int:
        report = self.report
        report.line(f"Checking {link.described}")
        report.line(self.settings_line())
        try:
            token = parse_token(link.token)
        except SsoError as error:
            report.line()
            report.step("structure", False, error.detail)
            return report.refused(error, error.detail)
        self.header, self.payload = token.header, token.payload
        self.describe_token()
        report.line()
        report.line("Checks, in the order the service runs them:")
        report.step("structure", True, "three base64url segments; header and payload are JSON objects")
        self.verifier.keys.found = None
        try:
            verified = self.verifier.verifier.verify(token)
        except SsoError as error:
            failed = self.stage_of(error)
            self.passed_until(failed)
            words = self.explain(error)
            report.step(failed, False, words)
            return report.refused(error, words)
        self.passed_until("redirect_to")
        redirect_to = verified.redirect_to or link.redirect_to
        source = "the signed claim" if verified.redirect_to else "the link's parameter"
        if verified.redirect_to and link.redirect_to and link.redirect_to != verified.redirect_to:
            source += f" (it wins over the link's redirect_to {shown(link.redirect_to)})"
        try:
            if redirect_to is not None:
                check_redirect_to(redirect_to)
        except SsoError as error:
            report.step("redirect_to", False, f"{shown(redirect_to)} from {source}: {error.detail}")
            return report.refused(error, error.detail)
        report.step(
            "redirect_to",
            True,
            f"{shown(redirect_to)} from {source}" if redirect_to else "none: Big Interview's home page",
        )
        notes = self.notes(verified.profile)
        if link.return_url is not None:
            if self.verifier.return_url_origins:
                try:
                    check_return_url(link.return_url, self.verifier.return_url_origins)
                except SsoError as error:
                    report.step("return_url", False, error.detail)
                    return report.refused(error, error.detail)
                report.step("return_url", True, f"{shown(link.return_url)} is on an allowed origin")
            else:
                notes.append(
                    "the link has a return_url; pass RETURN_ORIGINS= (the service's "
                    "RETURN_URL_ALLOWED_ORIGINS) to check it"
                )
        if self.one_time_links:
            if verified.jti is None:
                # The service's own refusal (handler.sign_in), before it would call Big Interview.
                missing = MissingClaim("one-time links need a jti claim", expected="jti")
                words = (
                    "the token has no jti, and one-time links are on (the default): put a unique jti "
                    "in every token (if the operator turned one-time links off, pass ONE_TIME_LINKS=off)"
                )
                report.step("jti", False, words)
                return report.refused(missing, words)
            report.step("jti", True, "present: the service accepts this link once")
        report.line()
        landing = f", landing on {redirect_to}" if redirect_to else ""
        report.line(f"OK: this link would sign {verified.partner_id} in{landing}")
        for note in notes:
            report.line(f"  {'warning' if PROFILE_REQUIRED in note else 'note'}: {note}")
        return 0

    # -- what was checked against what ---------------------------------------------------------
    def settings_line(self) -> str:
        config = self.policy
        if self.settings.jwks is None:
            keys = "keys from the issuer's OIDC discovery"
        elif self.settings.jwks_is_url:
            keys = f"keys from {self.settings.jwks}"
        else:
            keys = f"keys from the file {self.settings.jwks}"
        return (
            f"Against: iss one of {list(config.issuers)}; aud {config.audience!r}; {keys}; "
            f"algorithms {', '.join(config.algorithms)}; lifetime limit {config.max_age_seconds} s; "
            f"leeway {config.leeway_seconds} s; user claim {config.user_claim!r}"
        )

    def describe_token(self) -> None:
        """The header and claims as the token states them (not yet trusted)."""
        header, payload, line = self.header, self.payload, self.report.line
        line()
        line("The token says (decoded, NOT yet trusted):")
        line(
            f"  header       alg {shown(header.get('alg'))}, kid {shown(header.get('kid'))}, "
            f"typ {shown(header.get('typ'))}"
        )
        ignored = sorted(set(header) & {"jku", "x5u", "jwk", "x5c"})
        if ignored:
            line(f"               {', '.join(ignored)} present: the service never fetches or trusts them")
        for name in ("iss", "aud", self.policy.user_claim):
            line(f"  {name:<12} {shown_claim(payload[name]) if name in payload else '(absent)'}")
        for name in ("iat", "nbf", "exp"):
            moment = number(payload.get(name))
            if name not in payload:
                line(f"  {name:<12} (absent)")
            elif moment is not None:
                line(f"  {name:<12} {utc(moment)} ({relative(moment)})")
            else:
                line(f"  {name:<12} {shown(payload[name])} (not a number)")
        iat, exp = number(payload.get("iat")), number(payload.get("exp"))
        if iat is not None and exp is not None:
            line(f"  {'lifetime':<12} {exp - iat:.0f} s (exp - iat; limit {self.policy.max_age_seconds} s)")
        jti = payload.get("jti")
        if jti is None:
            line(f"  {'jti':<12} (absent)")
        else:
            line(f"  {'jti':<12} " + (f"{len(jti)} characters" if isinstance(jti, str) else shown(jti)))
        profile = []
        for name in PROFILE_CLAIMS:
            value = payload.get(name)
            if isinstance(value, str):
                profile.append(f"{name} {mask_email(value) if name == 'email' else mask_name(value)}")
            elif value is not None:
                profile.append(f"{name} (a {type(value).__name__}, not a string)")
        line(f"  {'profile':<12} {', '.join(profile) or '(none)'}")
        if "redirect_to" in payload:
            line(f"  {'redirect_to':<12} {shown(payload['redirect_to'])}")
        others = sorted(set(payload) - set(SHOWN_CLAIMS) - {self.policy.user_claim})
        if others:
            line(f"  {'other':<12} {', '.join(shown(name) for name in others)} (values not shown)")

    def stage_of(self, error: SsoError) -> str:
        """Which step refused: the verifier looks up the key, then checks the signature, then claims."""
        if self.verifier.keys.found is None:
            if isinstance(error, UnknownKey | KeysUnavailable):
                return "key"
            if self.header.get("alg") not in self.policy.algorithms or not isinstance(error, InvalidToken):
                return "header"
            code = error.code
            return "issuer" if code in ("invalid_issuer", "missing_claim", "invalid_claim") else "header"
        if isinstance(error, InvalidSignature):
            return "signature"
        if isinstance(error, InvalidUser):
            return "partner_id"
        return "claims"

    def passed_until(self, failed: str) -> None:
        """Print every step before ``failed`` as passed, with what it established."""
        found = self.verifier.keys.found
        done = {
            "header": f"alg {self.header.get('alg')} is allowed; no crit; kid is a short string",
            "issuer": f"iss {shown(self.payload.get('iss'))} is allowed",
            "key": (
                f"kid {shown(found[0])} is in the JWKS: key type {found[2].key_type}, usable for {found[1]}"
                if found
                else "no key was needed"
            ),
            "signature": "the signature verifies with that key",
            "claims": "aud, exp, iat (and nbf) valid; lifetime, jti and profile claims within limits",
            "partner_id": f"{self.policy.user_claim} {shown(self.payload.get(self.policy.user_claim))} "
            "is a valid partner_id",
        }
        for name in STEPS[1 : STEPS.index(failed)]:
            self.report.step(name, True, done[name])

    # -- refusals in plain words ---------------------------------------------------------------
    def explain(self, error: SsoError) -> str:
        """The refusal in plain words, from its ``expected`` and ``found`` (set by the verifier)."""
        policy, header, payload = self.policy, self.header, self.payload
        code, expected, found = error.code, error.expected, error.found
        skew = f"the service allows {policy.leeway_seconds} s of clock skew"
        now = time.time()
        if code == "token_expired" and (exp := number(found)) is not None:
            return f"exp was {duration(now - exp)} ago ({utc(exp)}); {skew}. Mint the token just before use"
        if code == "token_not_yet_valid" and isinstance(found, dict):
            ((name, value),) = found.items()
            return (
                f"{name} is {duration(value - now)} in the future ({utc(value)}); {skew}. "
                "Check the clock of the server that mints the tokens"
            )
        if code == "token_lifetime_too_long" and found is not None:
            return f"exp is {duration(found)} after iat; the limit is {expected} s"
        if code == "invalid_issuer":
            return f"iss is {shown(found)}; the service accepts only {expected}"
        if code == "invalid_audience":
            return f"aud is {shown(found)}; it must be {expected!r} (or a list that contains it)"
        if code == "unsupported_algorithm":
            words = f"alg is {shown(found)}; the service accepts only {', '.join(expected)}"
            if isinstance(found, str) and found.lower() == "none":
                words += " (an unsigned token is never accepted)"
            return words
        if code == "unknown_key":
            if header.get("kid") is None:
                return "the header has no kid: put the kid of your JWKS key in the header"
            offered = f"; the JWKS offers {list(expected)}" if isinstance(expected, tuple) else ""
            return f"{error.detail}{offered}. Sign with a key whose kid is in the JWKS (or publish the key)"
        if code == "invalid_signature":
            return (
                f"the signature does not verify with the JWKS key {shown(header.get('kid'))}: "
                "the token was signed with a different private key, or changed after signing"
            )
        if code == "invalid_user":
            value = payload.get(policy.user_claim)  # the refusal never holds it: it may be an email
            return (
                f"{policy.user_claim} {shown_claim(value)} is not a valid partner_id: "
                f"{partner_id_problem(value)} (use 1 to 64 of A-Z a-z 0-9 _ -)"
            )
        # check-link runs on the partner's machine, about the partner's own keys: the
        # log's version of the detail (e.g. why a key is too weak) is theirs to see.
        return error.log_detail or error.message

    def notes(self, profile: dict[str, str]) -> list[str]:
        notes = []
        missing = [claim for claim, (field, _) in PROFILE_CLAIMS.items() if field not in profile]
        if missing:
            notes.append(
                f"no {', '.join(missing)}: Big Interview needs them to create a user who has never "
                f"signed in; for a new user it answers 422, and the service {PROFILE_REQUIRED}"
            )
        if not self.issuer_given:
            notes.append("iss was not checked against your configuration: pass ISS= (the JWT_ISSUER value)")
        notes.append(
            "check-link neither calls Big Interview nor uses up the link"
            + (": with one-time links on, the service accepts it once" if self.one_time_links else "")
        )
        return notes


def read_input(value: str, stdin: TextIO) -> str:
    return stdin.read() if value == "-" else value


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(
        prog="make check-link",
        description="Say what the SSO service would do with a sign-in link or token, without trusting it.",
    )
    parser.add_argument("link", help="the link (…/sso?jwt=…), a bare token, or '-' to read it from stdin")
    parser.add_argument("--jwks", help="your JWKS: a file path or an https URL (default: OIDC discovery)")
    parser.add_argument("--iss", help="accepted issuers, comma-separated (JWT_ISSUER)")
    parser.add_argument("--aud", default=DEFAULT_AUDIENCE, help=f"audience (default {DEFAULT_AUDIENCE})")
    parser.add_argument("--max-age", type=int, help="JWT_MAX_AGE_SECONDS (default 300)")
    parser.add_argument("--leeway", type=int, help="JWT_LEEWAY_SECONDS (default 30)")
    parser.add_argument("--user-claim", help="JWT_USER_CLAIM (default sub)")
    parser.add_argument("--algorithms", help="JWT_ALGORITHMS (default RS256,ES256)")
    parser.add_argument("--return-origins", help="RETURN_URL_ALLOWED_ORIGINS, to check a return_url")
    parser.add_argument(
        "--partner",
        help="check against this partner's record in the partner registry (the token's iss is its key)",
    )
    parser.add_argument("--table", help="the registry table (default: PARTNER_REGISTRY_TABLE)")
    parser.add_argument(
        "--one-time-links",
        choices=("on", "off"),
        default="on",
        help="whether the service has one-time links (REPLAY_TABLE_NAME; default on, as in the template)",
    )
    args = parser.parse_args(argv)
    report = Report(out)
    try:
        raw = read_input(args.link, stdin or sys.stdin)
        try:
            link = parse_link(raw)
        except SsoError as error:
            report.line(f"Checking {shown(raw.strip()[:60])}…")
            report.step("request", False, error.detail)
            return report.refused(error, error.detail)
        try:
            parse_token(link.token)
        except SsoError as error:  # a truncated or mangled token: no setting could make it pass
            report.line(f"Checking {link.described}")
            report.step("structure", False, error.detail)
            return report.refused(error, error.detail)
        if args.partner is not None:
            registry_settings = settings_from_registry(args.partner, args.table, link.token, report)
            if registry_settings is None:
                return 1
            args.iss = ",".join(registry_settings.issuers)
            args.aud, args.jwks = registry_settings.audience, registry_settings.jwks
            args.algorithms, args.user_claim = registry_settings.algorithms, registry_settings.user_claim
            args.max_age, args.leeway = registry_settings.max_age_seconds, registry_settings.leeway_seconds
            args.return_origins = registry_settings.return_url_allowed_origins
        issuers = tuple(i.strip() for i in (args.iss or "").split(",") if i.strip())
        given_issuer = bool(issuers)
        if not issuers:
            token_issuer = unverified_issuer(link.token)
            if args.jwks is None and not is_local_stack_issuer(token_issuer):
                raise UsageError(
                    f"the token's iss is {shown(token_issuer)}: give ISS= (your issuer as the service is "
                    "configured with it; its JWKS is found by OIDC discovery) or JWKS= (your jwks.json "
                    "file or URL)"
                )
            issuers = (token_issuer,)
        settings = Settings(
            issuers=issuers,
            audience=args.aud,
            jwks=args.jwks,
            algorithms=args.algorithms,
            user_claim=args.user_claim,
            max_age_seconds=args.max_age,
            leeway_seconds=args.leeway,
            return_url_allowed_origins=args.return_origins,
        )
        if settings.algorithms and "HS256" in settings.algorithms.upper():
            raise UsageError(
                "check-link checks RS/ES/PS/EdDSA tokens; an HS256 secret stays in Secrets Manager"
            )
        try:
            verifier = build(settings)
        except ConfigError as error:
            problems = "; ".join(error.problems)
            for env_name, make_name in MAKE_NAMES.items():
                problems = problems.replace(env_name, make_name)
            raise UsageError(f"invalid settings: {problems}") from None
        except OSError as error:
            raise UsageError(f"cannot read the JWKS file {args.jwks}: {error.strerror}") from None
        except ValueError:
            raise UsageError(f"the JWKS file {args.jwks} is not JSON") from None
    except UsageError as error:
        print(f"check-link: {error}", file=sys.stderr)
        return 2
    local = not given_issuer and args.jwks is None
    if local:
        report.line(f"(the token's iss {issuers[0]} is the local stack's: its JWKS is discovered from it)")
    return Checker(verifier, settings, report, given_issuer or local, args.one_time_links == "on").run(link)


def settings_from_registry(partner: str, table: str | None, token: str, report: Report) -> Settings | None:
    """The settings of ``partner``'s registry record, found under the token's ``iss``.

    ``None`` (after saying why) when the service would refuse the token for its
    record alone: no record, another partner's, disabled, or invalid.
    """
    # Imported here: boto3 is only needed with PARTNER=.
    from botocore.exceptions import BotoCoreError, ClientError

    from infra.tools.aws_environment import missing_setup
    from infra.tools.partners import Registry, local_stack

    table = table or os.environ.get("PARTNER_REGISTRY_TABLE")
    if not table:
        raise UsageError("PARTNER= needs TABLE= (the stack's output PartnerRegistryTableName)")
    issuer = unverified_issuer(token)
    try:
        found = Registry(table, loopback_base_urls=local_stack(os.environ)).get(issuer)
    except (BotoCoreError, ClientError) as error:
        raise UsageError(f"cannot read the registry table {table}: {missing_setup(error) or error}") from None
    report.line(f"Partner registry {table}: the token's iss {shown(issuer)}")
    if found is None:
        report.step(
            "partner", False, f"no record has the key {shown(issuer)}: the service does not know this issuer"
        )
        report.refused(InvalidIssuer("iss is not an accepted issuer"), "no registry record for this iss")
        return None
    if found.partner != partner:
        report.step(
            "partner", False, f"the record of this iss is partner {shown(found.partner)}, not {partner!r}"
        )
        report.refused(InvalidIssuer("iss is not this partner's"), f"this iss is not {partner!r}'s")
        return None
    if found.record is None:
        report.step("partner", False, "the record is invalid: " + "; ".join(found.problems))
        report.refused(PartnerUnavailable("invalid record"), "the partner's record is invalid")
        return None
    if not found.record.enabled:
        report.step("partner", False, f"partner {partner!r} is disabled")
        report.refused(InvalidIssuer("partner disabled"), f"partner {partner!r} is disabled")
        return None
    report.step(
        "partner",
        True,
        f"{partner!r}, enabled, Big Interview org {found.record.partner.destination.bi_org!r}",
    )
    tokens, destination = found.record.partner.tokens, found.record.partner.destination
    return Settings(
        issuers=tokens.issuers,
        audience=tokens.audience,
        jwks=tokens.jwks_url,
        algorithms=",".join(tokens.algorithms),
        user_claim=tokens.user_claim,
        max_age_seconds=tokens.max_age_seconds,
        leeway_seconds=tokens.leeway_seconds,
        return_url_allowed_origins=",".join(destination.return_url_allowed_origins) or None,
    )


def is_local_stack_issuer(issuer: str) -> bool:
    """The development identity provider of ``make dev`` issues as ``http://127.0.0.1:<port>``."""
    parts = urlsplit(issuer)
    return parts.scheme == "http" and is_loopback_host(parts.hostname)


def unverified_issuer(token: str) -> str:
    """The token's own ``iss``, when no ISS is given: checked against itself, which the output says."""
    try:
        issuer = parse_token(token).payload.get("iss")
    except SsoError:
        return "(unknown)"
    return issuer if isinstance(issuer, str) and issuer.strip() else "(unknown)"


if __name__ == "__main__":
    raise SystemExit(main())
