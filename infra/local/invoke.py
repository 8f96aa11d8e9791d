"""``make invoke EVENT=… [ENV=…] [TOKEN=…] [SNAPSTART=1]``: ``sam local invoke`` without Docker.

Runs one invocation of the template's function in a fresh execution
environment (``environments.ProcessEnvironment``: the built artifact under
awslambdaric on Python 3.13) and prints, as ``sam local invoke`` does, the
function's answer on standard output and its logs, ``START``/``END`` and the
``REPORT`` line on standard error.

Environment, as ``sam local invoke --env-vars``: the template's variables
(literals and parameter defaults), overridden by the env.json file's
``Parameters`` then its ``<LogicalId>`` object, for the variables the template
declares only (others are ignored, and named on stderr); plus the AWS
credentials and region of this shell, and the variables Lambda reserves.
Without ``--env-vars``, ``events/env.json.example``: ``make dev``'s services. When the
function's AWS endpoints are on loopback (moto) and this shell has no credentials,
it gets moto's test keys (``infra.tools.aws_environment``).

An event holding the placeholder ``REPLACE_WITH_A_JWT`` gets a fresh token in its
place: ``--token``'s, else one minted by ``make dev``'s identity provider (the
function's ``JWT_ISSUER``) for a user with a full profile, so a new user can be created.
The exit status is 1 when the function failed (its error document is then on
standard output, as Lambda's Invoke API returns it), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from infra.local.environments import (
    DEFAULT_BUILD_DIR,
    DEFAULT_RUNTIME_PYTHON,
    FunctionError,
    FunctionRuntime,
    InitError,
    ProcessEnvironment,
    profile_credentials,
)
from infra.local.sam_template import FunctionSpec, read_function_spec
from infra.partner.token import MintError, mint_from_dev_idp
from infra.tools.aws_environment import for_local_endpoint

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ENV_VARS = REPOSITORY_ROOT / "events" / "env.json.example"
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
PLACEHOLDER = b"REPLACE_WITH_A_JWT"
# Whom the minted token signs in: a full profile, so Big Interview can create the user.
INVOKE_USER = {"given_name": "Ina", "family_name": "Invoke", "email": "ina.invoke@example.com"}
INVOKE_USER_ID = "invoke-user"


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make invoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("event", help="an event JSON file (events/*.json), or - for standard input")
    parser.add_argument(
        "--env-vars", type=Path, default=DEFAULT_ENV_VARS, help="a SAM env.json file (default: make dev's)"
    )
    parser.add_argument(
        "--token", help="the token to put in place of REPLACE_WITH_A_JWT (default: a fresh one)"
    )
    parser.add_argument("--template", type=Path, default=REPOSITORY_ROOT / "template.yaml")
    parser.add_argument("--artifact", type=Path, help="the built function (default .aws-sam/build/<id>)")
    parser.add_argument("--python", type=Path, default=DEFAULT_RUNTIME_PYTHON, help="the Lambda runtime")
    parser.add_argument("--snap-start", action="store_true", help="INIT with before_snapshot, then restore")
    return parser.parse_args(argv)


def function_variables(
    function: FunctionSpec, env_vars: Mapping[str, object] | None, shell: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The function's environment, as ``sam local invoke`` builds it; and the names it ignored."""
    variables = dict(function.environment)
    ignored: list[str] = []
    if env_vars:
        for section in ("Parameters", function.logical_id):
            overrides = env_vars.get(section) or {}
            if not isinstance(overrides, dict):
                raise ValueError(f"env.json: {section} must be an object of variable names to values")
            for name, value in overrides.items():
                if name in function.environment_names:
                    variables[name] = "" if value is None else str(value)
                elif section == function.logical_id:
                    ignored.append(name)
    # The execution role's credentials on Lambda; this shell's here (never a profile name:
    # Lambda has none, so a profile is resolved to its keys, as sam local invoke does).
    variables.update({name: shell[name] for name in CREDENTIAL_VARIABLES if shell.get(name)})
    if shell.get("AWS_PROFILE") and "AWS_ACCESS_KEY_ID" not in variables:
        variables.update(profile_credentials(shell["AWS_PROFILE"]))
    local = for_local_endpoint(variables)
    variables.update({name: value for name, value in local.items() if name in CREDENTIAL_VARIABLES})
    return variables, ignored


def with_token(payload: bytes, token: str | None, variables: Mapping[str, str]) -> bytes:
    """``payload`` with its placeholder replaced by ``token``, or by a fresh one from the dev IdP."""
    if PLACEHOLDER not in payload:
        return payload
    if token is None:
        token = mint_from_dev_idp(variables.get("JWT_ISSUER", ""), INVOKE_USER_ID, INVOKE_USER)
    return payload.replace(PLACEHOLDER, token.encode())


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        payload = sys.stdin.buffer.read() if arguments.event == "-" else Path(arguments.event).read_bytes()
        json.loads(payload)
        env_vars = json.loads(arguments.env_vars.read_text())
        if not isinstance(env_vars, dict):
            raise ValueError(f"{arguments.env_vars}: expected an object like events/env.json.example")
        function = read_function_spec(arguments.template)
        variables, ignored = function_variables(function, env_vars, os.environ)
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        runtime = FunctionRuntime.for_function(
            function,
            variables,
            region=region,
            task_root=arguments.artifact or DEFAULT_BUILD_DIR / function.logical_id,
            python=arguments.python,
            snap_start=arguments.snap_start,
        )
        payload = with_token(payload, arguments.token, variables)
    except (OSError, ValueError) as error:  # json.JSONDecodeError is a ValueError
        print(f"make invoke: {error}", file=sys.stderr)
        return 2
    except MintError as error:
        print(f"make invoke: the event needs a token, and {error}; or give TOKEN=<a jwt>", file=sys.stderr)
        return 2
    if ignored:
        print(f"make invoke: not declared by the template, ignored: {', '.join(ignored)}", file=sys.stderr)

    environment = ProcessEnvironment(runtime)
    try:
        environment.start()
    except InitError as error:
        print(
            f"INIT_REPORT Init Duration: {error.init_ms:.2f} ms\tPhase: init\tStatus: error\t"
            f"Error Type: {error.document.get('errorType')}",
            file=sys.stderr,
        )
        print(json.dumps(error.document))
        return 1
    try:
        result = environment.invoke(payload)
    except FunctionError as error:
        print(json.dumps(error.document))
        return 1
    finally:
        environment.stop()
    print(result.payload.decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
