"""``python -m infra.local`` (``make dev``): run the local stack until Ctrl-C.

Ports: ``--api-port``/``LOCAL_API_PORT`` (3000), ``--idp-port``/``LOCAL_IDP_PORT``
(3001), ``--bi-port``/``LOCAL_BI_PORT`` (3002), ``--secrets-port``/``LOCAL_SECRETS_PORT``
(3003), ``--lms-port``/``LOCAL_LMS_PORT`` (3004, with ``--lti``); flags win over variables,
0 picks a free port; a port already taken stops the start with its owner and variable.
``--lti`` (``LTI=1``) adds a sandbox learning platform whose course page launches the
tool over LTI 1.3. See ``stack.py`` for the variables that point the stack at a real
Big Interview, Secrets Manager or IdP.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from types import FrameType

from infra.local.api_gateway import DEFAULT_TEXT_CONTENT_TYPES
from infra.local.environments import ProcessExecution
from infra.local.ports import port_is_free, taken_port_message
from infra.local.stack import DEFAULT_TEMPLATE, DEMO_USER, LocalStack, Ports, StackConfigurationError


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m infra.local",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--api-port", type=int, help="local API Gateway (default 3000)")
    parser.add_argument("--idp-port", type=int, help="development identity provider (default 3001)")
    parser.add_argument("--bi-port", type=int, help="sandbox Big Interview (default 3002)")
    parser.add_argument("--secrets-port", type=int, help="moto Secrets Manager (default 3003)")
    parser.add_argument("--lms-port", type=int, help="sandbox learning platform, with --lti (default 3004)")
    parser.add_argument(
        "--lti",
        action="store_true",
        default=_flag("LTI"),
        help="LTI 1.3 launches: a sandbox learning platform (lti1p3platform) with a course page whose "
        "'Big Interview' links launch the tool (LTI=1 does the same)",
    )
    parser.add_argument(
        "--template", type=Path, default=DEFAULT_TEMPLATE, help="SAM template to read routes from"
    )
    parser.add_argument("--quiet", action="store_true", help="no per-request access log on stderr")
    parser.add_argument(
        "--verbose",
        action="store_true",
        default=os.environ.get("VERBOSE", "") not in ("", "0"),
        help="also print the handler's JSON logs and metrics (VERBOSE=1 does the same)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        default=_flag("IN_PROCESS"),
        help="import the source tree's handler into this process instead of running the built "
        "artifact in Lambda execution environments (IN_PROCESS=1 does the same)",
    )
    parser.add_argument(
        "--snap-start",
        action="store_true",
        default=_flag("SNAPSTART"),
        help="SnapStart: INIT runs the before_snapshot hooks, each environment's first invocation "
        "after_restore first (SNAPSTART=1 does the same)",
    )
    parser.add_argument(
        "--partners",
        type=int,
        default=_partners(),
        help="also start this many demo partners in a partner registry (moto): each with its own "
        "issuer (a development IdP on port 3005, 3007, ...) and Big Interview org (a sandbox on "
        "3006, 3008, ...) (PARTNERS=2 does the same)",
    )
    parser.add_argument(
        "--base64-forms",
        action="store_true",
        help="deliver form-urlencoded bodies base64-encoded (isBase64Encoded: true) to the handler",
    )
    return parser.parse_args(argv)


def _partners() -> int:
    raw = os.environ.get("PARTNERS", "").strip() or "0"
    if not raw.isdigit() or int(raw) > 8:
        raise SystemExit(f"error: PARTNERS must be a number from 0 to 8, got {raw!r}")
    return int(raw)


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def banner(stack: LocalStack) -> str:
    """What the user needs after start: where everything is and a link to click."""
    assert stack.function is not None
    routes = ", ".join(route.route_key for route in stack.function.routes)
    bi = "sandbox" if stack.big_interview else "configured"
    runtime = (
        f"the built artifact in Lambda execution environments ({stack.environments[0].runtime.task_root})"
        if stack.environments
        else "the source tree's handler, imported in this process"
    )
    secrets = "moto" if stack.secrets_manager else "configured"
    lines = [
        "Local stack ready (Ctrl-C to stop)",
        f"  API (local API Gateway):       {stack.api_url}   routes: {routes}",
        f"  Function:                      {runtime}",
        f"  Big Interview ({bi}):    {stack.big_interview_url}",
        f"  Secrets Manager ({secrets}):      {stack.secrets_manager_url or 'AWS'}"
        f"   secret: {stack.handler_environment.get('BI_API_KEY_SECRET_ID')}",
    ]
    idp = stack.identity_provider
    if idp is None:
        lines.append(f"  Identity provider: {stack.handler_environment.get('JWT_ISSUER')} (yours)")
    else:
        profile = {k: v for k, v in DEMO_USER.items() if k != "sub"}
        lines += [
            f"  Identity provider (dev):       {idp.url}   (JWKS: {idp.jwks_url})",
            "",
            f"Demo partner page:  {idp.url}/",
            f"Sign-in link:       {idp.sign_in_link(DEMO_USER['sub'], **profile)}",
            f"  (mints a fresh token on each visit; direct API link, valid {idp.token_lifetime_seconds} s:",
            f"   {stack.sign_in_url()} )",
        ]
    if stack.lms is not None:
        lms, api = stack.lms, stack.api_url
        lines += [
            "",
            f"Sandbox learning platform (LTI 1.3):  {lms.url}   (JWKS: {lms.jwks_url})",
            f"Course page:  {lms.url}/   (each 'Big Interview' link launches the tool as a student)",
            f"Add content:  {lms.url}/deep-link?placement=activity   (an instructor's deep-linking launch)",
            f"Tool's LTI URLs:  login {api}/lti/login   redirect/target {api}/lti/launch"
            f"   JWKS {api}/lti/jwks",
            f"Gradebook:    {lms.url}/gradebook   (after `make grade-sync` runs grade passback once)",
        ]
    if stack.demo_partners:
        lines += ["", f"Partner registry (moto): {stack.handler_environment.get('PARTNER_REGISTRY_TABLE')}"]
    for demo in stack.demo_partners:
        lines.append(
            f"  {demo.partner}: partner page {demo.identity_provider.url}/   "
            f"Big Interview org (sandbox) {demo.big_interview.url}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Start the stack, print the banner, wait for SIGINT/SIGTERM, stop; the exit status."""
    arguments = parse_arguments(argv)
    try:
        ports = Ports.from_environ(os.environ)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    overrides = {
        "api": arguments.api_port,
        "identity_provider": arguments.idp_port,
        "big_interview": arguments.bi_port,
        "secrets_manager": arguments.secrets_port,
        "lms": arguments.lms_port,
    }
    ports = replace(ports, **{name: port for name, port in overrides.items() if port is not None})
    taken = [
        use
        for use in ports.plan(lti=arguments.lti, demo_partners=arguments.partners)
        if not port_is_free(use.port)
    ]
    for use in taken:
        print(f"error: {taken_port_message(use)}", file=sys.stderr)
    if taken:
        return 1

    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        # Only set a flag: shutting down inside a signal handler could deadlock,
        # and a second Ctrl-C (or make's follow-up SIGTERM) must not raise.
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    text_types = DEFAULT_TEXT_CONTENT_TYPES
    if arguments.base64_forms:
        text_types = tuple(kind for kind in text_types if kind != "application/x-www-form-urlencoded")
    stack = LocalStack(
        ports=ports,
        template_path=arguments.template,
        access_log=not arguments.quiet,
        verbose=arguments.verbose,
        text_content_types=text_types,
        processes=None if arguments.in_process else ProcessExecution(snap_start=arguments.snap_start),
        lti=arguments.lti,
        demo_partners=arguments.partners,
    )
    try:
        stack.start()
    except (OSError, StackConfigurationError, ValueError) as error:
        print(f"error: could not start the local stack: {error}", file=sys.stderr)
        return 1
    if stack.lms is not None:
        stack.leave_grade_sync_environment()  # for `make grade-sync`
    print(banner(stack), flush=True)
    try:
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stopping.wait(0.5):
            pass
    finally:
        print("Stopping the local stack...", flush=True)
        stack.stop()
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
