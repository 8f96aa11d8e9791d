"""The whole local stack, started and stopped as one: what ``make dev`` runs.

Each sandbox piece stands in for one external dependency, and is skipped when
the environment already points the handler at the real thing, through the
same variables the deployed function reads:

=====================  ========================================================
set in the environment  effect
=====================  ========================================================
``BI_BASE_URL`` or     no sandbox Big Interview; the handler calls that Big
``BI_ORG``             Interview (``BI_API_KEY_SECRET_ID`` is then required)
``BI_API_KEY_SECRET_ID`` no secret is seeded; the handler reads that secret. If
                       the sandbox Big Interview runs, it accepts that key
``AWS_ENDPOINT_URL``   moto is not started; that endpoint is used (without it,
or ``BI_API_KEY_``     boto3's usual credential chain reaches real AWS)
``SECRET_ID``
``JWT_ISSUER``         no development identity provider; tokens come from yours.
                       ``JWT_AUDIENCE`` is then required; ``JWT_JWKS_URL``
                       unless the issuer publishes OIDC discovery
``JWT_AUDIENCE``       used instead of ``big-interview-sso``
``REPLAY_TABLE_NAME``  that table for one-time links (empty: links are reusable);
                       unset, with moto, a sandbox table is created in moto
=====================  ========================================================

``lti=True`` (``make dev LTI=1``) adds LTI 1.3 launches: a sandbox learning
platform (``sandbox_lms.py``, PyPI's ``lti1p3platform``) whose course page
launches the tool, registered through the ``LTI_*`` variables, with the launch
table and the tool's KMS key in moto (so it needs the moto sandbox).

Every other variable of the configuration contract (``JWT_ALGORITHMS``,
``SSO_RETURN_URL``, ...) passes through unchanged. ``JWT_JWKS_URL`` is left
unset with the development IdP, so the handler exercises OIDC discovery.

The handler reads its configuration at import, so the stack sets the
environment first and then imports ``handler.entry_point`` fresh (a new "container");
``stop()`` restores the environment and the previously loaded modules.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from infra.local.api_gateway import DEFAULT_TEXT_CONTENT_TYPES, LocalApiGateway
from infra.local.dev_identity_provider import DEFAULT_AUDIENCE, DevIdentityProvider
from infra.local.environments import (
    FunctionRuntime,
    InitError,
    ProcessEnvironment,
    ProcessExecution,
    profile_credentials,
    write_to_stderr,
)
from infra.local.http_server import Service
from infra.local.lambda_runtime import ColdImport, EnvironmentPool, LambdaHandler
from infra.local.moto_secrets import (
    FAKE_ACCESS_KEY_ID,
    FAKE_SECRET_ACCESS_KEY,
    MotoSecretsManager,
    api_key_secret_value,
    create_registry_table,
    create_replay_table,
    create_tool_key,
    new_api_key,
    parse_api_key,
    put_secret,
    read_secret,
    secrets_client,
)
from infra.local.ports import Ports as Ports  # re-exported: the stack's callers import it from here
from infra.local.sam_template import (
    CorsConfiguration,
    FunctionSpec,
    read_cors_configuration,
    read_function_spec,
)
from infra.local.sandbox_big_interview import SandboxBigInterview
from infra.local.sandbox_lms import CLIENT_ID as LMS_CLIENT_ID
from infra.local.sandbox_lms import DEPLOYMENT_ID as LMS_DEPLOYMENT_ID
from infra.local.sandbox_lms import SandboxLms
from infra.local.terminal import Terminal

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPOSITORY_ROOT / "template.yaml"
DEFAULT_HANDLER = "handler.entry_point.lambda_handler"
SANDBOX_ORG = "sandbox"
SANDBOX_SECRET_NAME = "bi-sso/sandbox/api-key"  # noqa: S105 - a name, not a secret
SANDBOX_REPLAY_TABLE = "bi-sso-sandbox-replay"
SANDBOX_REGISTRY_TABLE = "bi-sso-sandbox-partners"
DEFAULT_REGION = "us-east-1"
T = TypeVar("T")
DEMO_USER = {
    "sub": "demo-user",
    "given_name": "Dana",
    "family_name": "Demo",
    "email": "dana.demo@example.com",
}

# The function's configuration contract (issue 2) plus the AWS variables the
# stack may set: while the stack runs, the handler sees exactly the stack's
# choice for each of these, whatever the surrounding process had.
MANAGED_VARIABLES = (
    "BI_ORG",
    "BI_BASE_URL",
    "BI_API_KEY_SECRET_ID",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_JWKS_URL",
    "JWT_ALGORITHMS",
    "JWT_HS256_SECRET_ID",
    "JWT_USER_CLAIM",
    "JWT_MAX_AGE_SECONDS",
    "JWT_LEEWAY_SECONDS",
    "JWKS_MAX_AGE_SECONDS",
    "JWKS_STALE_SECONDS",
    "PARTNER_API_TIMEOUT_SECONDS",
    "SSO_RETURN_URL",
    "ERROR_REDIRECT_URL",
    "RETURN_URL_ALLOWED_ORIGINS",
    "SECRET_CACHE_SECONDS",
    "REPLAY_TABLE_NAME",
    "PARTNER_REGISTRY_TABLE",
    "PARTNER_REGISTRY_CACHE_SECONDS",
    "PARTNER_REGISTRY_STALE_SECONDS",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "LTI_STATE_TABLE_NAME",
    "LTI_STATE_SECONDS",
    "LTI_LEEWAY_SECONDS",
    "LTI_ISSUER",
    "LTI_CLIENT_ID",
    "LTI_DEPLOYMENT_IDS",
    "LTI_AUTH_URL",
    "LTI_JWKS_URL",
    "LTI_RETURN_URL",
    "LTI_TOOL_KEY_ID",
    "LTI_DEEP_LINKING",
    "LTI_DEEP_LINKING_CATALOGUE",
    "LTI_GRADE_TABLE_NAME",
    "LTI_TOKEN_URL",
)
SANDBOX_LTI_STATE_TABLE = "bi-sso-sandbox-lti-states"
SANDBOX_LTI_GRADE_TABLE = "bi-sso-sandbox-lti-grades"
# Where a running LTI=1 stack leaves the grade sync's environment for `make grade-sync`
# (infra/local/grade_sync.py): table names, moto's endpoint and fake credentials, no secret.
GRADE_SYNC_ENVIRONMENT = Path(__file__).resolve().parents[2] / "build" / "local" / "grade-sync.json"


@dataclass
class DemoPartner:
    """A registry partner of the local stack: its own issuer (a development IdP) and org (a sandbox)."""

    partner: str
    identity_provider: DevIdentityProvider
    big_interview: SandboxBigInterview

    def sign_in_url(self, sub: str = DEMO_USER["sub"], **claims: Any) -> str:
        profile = {k: v for k, v in DEMO_USER.items() if k != "sub"}
        idp = self.identity_provider
        return idp.sso_link(idp.mint_token(sub, **{**profile, **claims}))


class StackConfigurationError(Exception):
    """The environment asks for a combination the stack cannot serve."""


class LocalStack(Service):
    """moto + sandbox Big Interview + development IdP + the handler behind a local API Gateway.

    ``environ`` is the configuration to honour (default: this process's
    environment); pass ``{}`` for an all-sandbox stack whatever the shell has.
    ``lambda_handler`` replaces the cold import of ``handler_path`` (e.g. a
    recording function in tests). ``text_content_types`` is passed to the gateway
    (drop form-urlencoded from it to receive form bodies base64-encoded).
    Imported into this process, the handler serves one invocation at a time: Powertools'
    resolver keeps the current event on a class attribute (``BaseRouter.current_event``)
    shared by every resolver in a process, so even separate imports of the handler race
    when run in parallel threads. ``processes`` runs the function as Lambda does: the
    built artifact in execution environments that are processes
    (``environments.ProcessEnvironment``), a pool that grows with concurrent requests;
    nothing is imported into this process. Parallel invocations need it.
    """

    def __init__(
        self,
        *,
        ports: Ports | None = None,
        template_path: Path = DEFAULT_TEMPLATE,
        environ: Mapping[str, str] | None = None,
        handler_path: str = DEFAULT_HANDLER,
        lambda_handler: LambdaHandler | None = None,
        access_log: bool = False,
        text_content_types: Sequence[str] = DEFAULT_TEXT_CONTENT_TYPES,
        processes: ProcessExecution | None = None,
        verbose: bool = False,
        lti: bool = False,
        demo_partners: int = 0,
    ) -> None:
        self.ports = ports or Ports()
        self.template_path = template_path
        self._environ = dict(os.environ if environ is None else environ)
        self._handler_path = handler_path
        self._given_handler = lambda_handler
        self._access_log = access_log
        self._text_content_types = tuple(text_content_types)
        self._processes = processes
        self.environments: list[ProcessEnvironment] = []  # every process environment started
        self._verbose = verbose
        self._demo_partner_count = demo_partners
        self.demo_partners: list[DemoPartner] = []
        self.region = (
            self._environ.get("AWS_REGION") or self._environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        )

        self.secrets_manager: MotoSecretsManager | None = None
        self.big_interview: SandboxBigInterview | None = None
        self.identity_provider: DevIdentityProvider | None = None
        self._lti = lti
        self.lms: SandboxLms | None = None
        self.gateway: LocalApiGateway | None = None
        self.function: FunctionSpec | None = None
        self.handler_environment: dict[str, str] = {}
        self._saved_environ: dict[str, str | None] = {}

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> None:
        """Start every piece in dependency order; on failure, stop what started and re-raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        environ = self._environ
        # Read the template first: a broken template should fail before any server starts.
        self.function = read_function_spec(self.template_path)
        # CORS is API Gateway's (the template's CorsConfiguration), not the function's:
        # CORS_ALLOWED_ORIGINS gives the stack parameter CorsAllowedOrigins its value here.
        cors = read_cors_configuration(
            self.template_path, {"CorsAllowedOrigins": environ.get("CORS_ALLOWED_ORIGINS", "")}
        )
        stack_values: dict[str, str] = {"AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region}

        user_secret_id = environ.get("BI_API_KEY_SECRET_ID")
        endpoint = environ.get("AWS_ENDPOINT_URL")
        fake_credentials = False
        if not user_secret_id and not endpoint:
            self.secrets_manager = MotoSecretsManager(self.ports.secrets_manager, self.region)
            self.secrets_manager.start()
            endpoint = self.secrets_manager.url
            fake_credentials = True
            stack_values.update(
                AWS_ENDPOINT_URL=endpoint,
                AWS_ACCESS_KEY_ID=FAKE_ACCESS_KEY_ID,
                AWS_SECRET_ACCESS_KEY=FAKE_SECRET_ACCESS_KEY,
            )
            if "REPLAY_TABLE_NAME" not in environ:  # set it empty to turn one-time links off
                create_replay_table(self.region, endpoint, SANDBOX_REPLAY_TABLE)
                stack_values["REPLAY_TABLE_NAME"] = SANDBOX_REPLAY_TABLE
        elif endpoint and "AWS_ACCESS_KEY_ID" not in environ and "AWS_PROFILE" not in environ:
            # A user-run emulator (moto, LocalStack) with no credentials configured.
            fake_credentials = True
            stack_values.update(
                AWS_ACCESS_KEY_ID=FAKE_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=FAKE_SECRET_ACCESS_KEY
            )

        wants_sandbox = not environ.get("BI_BASE_URL") and not environ.get("BI_ORG")
        if not wants_sandbox and not user_secret_id:
            raise StackConfigurationError(
                "BI_BASE_URL/BI_ORG point at a real Big Interview: set BI_API_KEY_SECRET_ID "
                "to the Secrets Manager secret that holds its API key"
            )
        client = secrets_client(self.region, endpoint, fake_credentials)
        if wants_sandbox:
            if user_secret_id:
                api_key = parse_api_key(read_secret(client, user_secret_id))
            else:
                api_key = new_api_key()
                put_secret(client, SANDBOX_SECRET_NAME, api_key_secret_value(api_key))
                stack_values["BI_API_KEY_SECRET_ID"] = SANDBOX_SECRET_NAME
            self.big_interview = SandboxBigInterview(api_key, self.ports.big_interview)
            self.big_interview.start()
            stack_values.update(BI_ORG=SANDBOX_ORG, BI_BASE_URL=self.big_interview.url)

        if environ.get("JWT_ISSUER") and not environ.get("JWT_AUDIENCE"):
            raise StackConfigurationError(
                "JWT_ISSUER points the stack at your identity provider: set JWT_AUDIENCE too (the aud "
                "your tokens carry), and JWT_JWKS_URL unless the issuer publishes OIDC discovery"
            )
        if not environ.get("JWT_ISSUER"):
            audience = environ.get("JWT_AUDIENCE") or DEFAULT_AUDIENCE
            self.identity_provider = DevIdentityProvider(audience=audience, port=self.ports.identity_provider)
            self.identity_provider.start()
            stack_values.update(JWT_ISSUER=self.identity_provider.issuer, JWT_AUDIENCE=audience)
            if not environ.get("SSO_RETURN_URL"):
                # "Log out" on the sandbox leads back to the demo partner page.
                stack_values["SSO_RETURN_URL"] = f"{self.identity_provider.url}/"

        if self._lti:
            stack_values.update(self._start_lms(endpoint))
        if self._demo_partner_count:
            if self.secrets_manager is None or endpoint is None:
                raise StackConfigurationError(
                    "PARTNERS= keeps its demo partners in the stack's own moto: unset AWS_ENDPOINT_URL "
                    "and BI_API_KEY_SECRET_ID"
                )
            self._start_demo_partners(client, endpoint)
            stack_values["PARTNER_REGISTRY_TABLE"] = SANDBOX_REGISTRY_TABLE
            # The demo records' Partner APIs are sandbox servers on loopback: the local stack's setting.
            from handler.config import LOOPBACK_BASE_URLS

            stack_values[LOOPBACK_BASE_URLS] = "true"
            if self.lms is not None and self.big_interview is not None:
                self._register_lms_in_registry(client, endpoint, stack_values)

        self.handler_environment = self._handler_environment(stack_values)
        if self._processes is not None:
            self._start_gateway_with_processes(self._processes, cors)
            return
        self._apply_environment(self.handler_environment)
        if self._given_handler is not None:
            lambda_handler = self._given_handler
        else:
            lambda_handler = self._load_handler(ColdImport(self._handler_path))
        request_code = None
        if self._access_log:
            terminal = Terminal(self.handler_environment["POWERTOOLS_SERVICE_NAME"], self._verbose)
            lambda_handler = terminal.wrap(lambda_handler)
            request_code = terminal.code

        self.gateway = LocalApiGateway(
            lambda_handler,
            self.function,
            cors=cors,
            port=self.ports.api,
            region=self.region,
            text_content_types=self._text_content_types,
            access_log=self._access_log,
            request_code=request_code,
        )
        self._start_gateway()

    def _start_lms(self, endpoint: str | None) -> dict[str, str]:
        """The sandbox learning platform, the launch table and the tool key; the ``LTI_*`` variables."""
        if self.secrets_manager is None or endpoint is None:
            raise StackConfigurationError(
                "LTI=1 needs the moto sandbox (its launch table and KMS key): unset AWS_ENDPOINT_URL "
                "and BI_API_KEY_SECRET_ID"
            )
        create_replay_table(self.region, endpoint, SANDBOX_LTI_STATE_TABLE)  # the same shape: pk, TTL
        create_replay_table(self.region, endpoint, SANDBOX_LTI_GRADE_TABLE)  # grade passback's links
        key_id = create_tool_key(self.region, endpoint)
        self.lms = SandboxLms(port=self.ports.lms)
        self.lms.start()
        return {
            "LTI_STATE_TABLE_NAME": SANDBOX_LTI_STATE_TABLE,
            "LTI_ISSUER": self.lms.issuer,
            "LTI_CLIENT_ID": LMS_CLIENT_ID,
            "LTI_DEPLOYMENT_IDS": LMS_DEPLOYMENT_ID,
            "LTI_AUTH_URL": self.lms.auth_url,
            "LTI_JWKS_URL": self.lms.jwks_url,
            "LTI_TOOL_KEY_ID": key_id,
            # The sandbox's instructor adds Big Interview content (Deep Linking 2.0).
            "LTI_DEEP_LINKING": "Enabled",
            "LTI_GRADE_TABLE_NAME": SANDBOX_LTI_GRADE_TABLE,
            "LTI_TOKEN_URL": self.lms.token_url,
        }

    def leave_grade_sync_environment(self, path: Path = GRADE_SYNC_ENVIRONMENT) -> None:
        """The function's environment, for ``make grade-sync`` to run grade passback against this stack."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.handler_environment, indent=1, sort_keys=True))

    def _register_lms_in_registry(self, secrets: Any, endpoint: str, stack_values: dict[str, str]) -> None:
        """With demo partners, the sandbox platform is an ``lti_platform`` record in the registry.

        Its ``LTI_*`` registration leaves the environment, so a launch is found through the
        registry, as in a multi-platform deployment; its students go to the stack's sandbox
        org, with its API key in a secret under the registry's prefix (docs/lti.md).
        """
        from handler.lti.registrations import RECORD_KIND, registry_key, registry_registration
        from handler.partner_record import SECRET_PREFIX

        assert self.big_interview is not None
        secret_id = f"{SECRET_PREFIX}{SANDBOX_ORG}/lms-api-key"  # under its org's folder
        put_secret(secrets, secret_id, api_key_secret_value(self.big_interview.api_key))
        issuer, client_id = stack_values.pop("LTI_ISSUER"), stack_values.pop("LTI_CLIENT_ID")
        record: dict[str, Any] = {
            "kind": RECORD_KIND,
            "iss": issuer,
            "client_id": client_id,
            "deployment_ids": stack_values.pop("LTI_DEPLOYMENT_IDS").split(","),
            "auth_url": stack_values.pop("LTI_AUTH_URL"),
            "jwks_url": stack_values.pop("LTI_JWKS_URL"),
            "token_url": stack_values.pop("LTI_TOKEN_URL"),
            "bi_org": SANDBOX_ORG,
            "bi_base_url": self.big_interview.url,
            "api_key_secret_id": secret_id,
            "enabled": True,
        }
        key = registry_key(issuer, client_id)
        # As make partner-add does: validated before it is written (by the local stack's rules).
        registry_registration(key, record, loopback_base_urls=True)
        registry = create_registry_table(self.region, endpoint, SANDBOX_REGISTRY_TABLE)
        registry.put_item(
            TableName=SANDBOX_REGISTRY_TABLE, Item={"issuer": {"S": key}, "value": {"S": json.dumps(record)}}
        )

    def _start_demo_partners(self, secrets: Any, endpoint: str) -> None:
        """Demo partners ``demo-1`` .. ``demo-n`` in the registry, each with its IdP and sandbox org."""
        from handler.partner_record import SECRET_PREFIX

        registry = create_registry_table(self.region, endpoint, SANDBOX_REGISTRY_TABLE)
        # The fixed demo ports go with the stack's default ports; otherwise (tests, a second
        # stack) free ports, which the banner shows.
        for number in range(1, self._demo_partner_count + 1):
            name = f"demo-{number}"
            idp_port, big_interview_port = self.ports.demo_partner_ports(number)
            api_key = new_api_key()
            secret_id = f"{SECRET_PREFIX}{name}/api-key"
            put_secret(secrets, secret_id, api_key_secret_value(api_key))
            big_interview = SandboxBigInterview(api_key, big_interview_port)
            big_interview.start()
            idp = DevIdentityProvider(audience=f"{name}-sso", port=idp_port)
            idp.start()
            self.demo_partners.append(DemoPartner(name, idp, big_interview))
            record = {
                "kind": "partner",
                "partner": name,
                "issuer": idp.issuer,
                "audience": idp.audience,
                "bi_org": name,
                "bi_base_url": big_interview.url,
                "api_key_secret_id": secret_id,
                "sso_return_url": f"{idp.url}/",
                "enabled": True,
            }
            registry.put_item(
                TableName=SANDBOX_REGISTRY_TABLE,
                Item={"issuer": {"S": idp.issuer}, "value": {"S": json.dumps(record)}},
            )

    def _start_gateway(self) -> None:
        assert self.gateway is not None
        self.gateway.start()
        if self.lms is not None:
            self.lms.tool_url = self.gateway.url
            self.lms.redirect_origins = (_origin(self.big_interview_url),)
        if self.identity_provider is not None:
            self.identity_provider.api_url = self.gateway.url
            # Where the API sends browsers next: the sign-in forms' CSP must allow it.
            redirect_targets = (self.big_interview_url, self.handler_environment.get("ERROR_REDIRECT_URL"))
            self.identity_provider.redirect_origins = tuple(_origin(url) for url in redirect_targets if url)
        for demo in self.demo_partners:
            demo.identity_provider.api_url = self.gateway.url
            demo.identity_provider.redirect_origins = (_origin(demo.big_interview.url),)

    def _start_gateway_with_processes(
        self, processes: ProcessExecution, cors: CorsConfiguration | None
    ) -> None:
        """The gateway in front of a pool of process environments; the first one is started now.

        INIT failing here (the handler refuses the configuration) stops the stack with its
        error; an environment started later that fails INIT is a 500, as API Gateway answers.
        """
        assert self.function is not None
        variables = dict(self.handler_environment)
        if variables.get("AWS_PROFILE") and "AWS_ACCESS_KEY_ID" not in variables:
            variables.update(profile_credentials(variables["AWS_PROFILE"]))
        variables.pop("AWS_PROFILE", None)
        runtime = FunctionRuntime.for_function(
            self.function,
            variables,
            region=self.region,
            task_root=processes.task_root,
            python=processes.python,
            snap_start=processes.snap_start,
        )
        # Never attached to this process's loggers: the handler is not imported here.
        terminal = Terminal(variables.get("POWERTOOLS_SERVICE_NAME", ""), self._verbose, in_process=False)
        log_sink = terminal.log_sink if self._access_log else None

        def new_environment() -> ProcessEnvironment:
            environment = ProcessEnvironment(runtime, log_sink)
            self.environments.append(environment)
            environment.start()
            return environment

        # The first INIT's output is held back: if the function refuses the configuration,
        # the one-line error below already names every problem.
        init_output: list[str] = []
        first = ProcessEnvironment(runtime, init_output.extend)
        self.environments.append(first)
        try:
            first.start()
        except InitError as error:
            raise StackConfigurationError(
                f"the function failed INIT: {error.document.get('errorType')}: "
                f"{error.document.get('errorMessage')}"
            ) from None
        first.log_sink = log_sink or write_to_stderr
        first.log_sink(init_output)
        self.gateway = LocalApiGateway(
            first,
            self.function,
            cors=cors,
            port=self.ports.api,
            region=self.region,
            text_content_types=self._text_content_types,
            environments=EnvironmentPool(first, new_environment, processes.limit),
            access_log=self._access_log,
            request_code=terminal.code if self._access_log else None,
        )
        self._start_gateway()

    @staticmethod
    def _load_handler(cold_import: ColdImport) -> LambdaHandler:
        """Import the handler; an environment it refuses is one line per problem, not a traceback."""
        try:
            return cold_import.load()
        except Exception as error:
            # handler.errors.ConfigError of the freshly imported package (a class this module
            # cannot import beforehand: the cold import replaces the package's modules).
            problems = getattr(error, "problems", None)
            if not isinstance(problems, list):
                raise
            refused = "; ".join(problems)
            raise StackConfigurationError(f"the handler refuses this environment: {refused}") from None

    def _handler_environment(self, stack_values: Mapping[str, str]) -> dict[str, str]:
        """Template literals < local defaults < the user's environment < the stack's own choices."""
        assert self.function is not None
        environment = dict(self.function.environment)
        environment.setdefault("POWERTOOLS_SERVICE_NAME", "sso-redirector")
        environment.setdefault("POWERTOOLS_METRICS_NAMESPACE", "sso-redirector-local")
        environment.update(
            {name: self._environ[name] for name in MANAGED_VARIABLES if self._environ.get(name)}
        )
        environment.update(stack_values)
        return environment

    def _apply_environment(self, environment: Mapping[str, str]) -> None:
        """Set ``environment`` in ``os.environ`` (saving what was there); unset other managed names."""
        for name in {*MANAGED_VARIABLES, *environment}:
            self._saved_environ.setdefault(name, os.environ.get(name))
            if name in environment:
                os.environ[name] = environment[name]
            else:
                os.environ.pop(name, None)

    def stop(self) -> None:
        """Stop everything that runs, restore the environment and modules; safe to call twice."""
        for demo in self.demo_partners:
            demo.identity_provider.stop()
            demo.big_interview.stop()
        for server in (
            self.gateway,
            self.lms,
            self.identity_provider,
            self.big_interview,
            self.secrets_manager,
        ):
            if server is not None:
                server.stop()
        for environment in self.environments:
            environment.stop()
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ = {}

    # -- what callers use ---------------------------------------------------
    @property
    def api_url(self) -> str:
        """The local API Gateway's base URL (``{api_url}/sso``, ``{api_url}/health``)."""
        return self._require(self.gateway, "API gateway").url

    @property
    def idp_url(self) -> str | None:
        """The development IdP's base URL, or None when ``JWT_ISSUER`` names another IdP."""
        return self.identity_provider.url if self.identity_provider else None

    @property
    def big_interview_url(self) -> str:
        """The Big Interview the handler calls (the sandbox, or the configured one)."""
        return (
            self.handler_environment.get("BI_BASE_URL")
            or f"https://{self.handler_environment['BI_ORG']}.biginterview.com"
        )

    @property
    def secrets_manager_url(self) -> str | None:
        """The Secrets Manager endpoint in use, or None for real AWS."""
        return self.handler_environment.get("AWS_ENDPOINT_URL")

    @property
    def api_calls(self) -> int:
        """Partner API calls received by the sandbox Big Interview."""
        return self._require(self.big_interview, "sandbox Big Interview").api_calls

    def sign_in_url(self, sub: str = DEMO_USER["sub"], **claims: Any) -> str:
        """``{api}/sso?jwt=...`` with a token freshly minted by the development IdP.

        The demo user's names and email are the defaults (a new user needs them);
        ``claims`` (``given_name``, ``redirect_to``, ...) override them.
        """
        idp = self._require(self.identity_provider, "development identity provider")
        profile = {k: v for k, v in DEMO_USER.items() if k != "sub"}
        return idp.sso_link(idp.mint_token(sub, **{**profile, **claims}))

    @staticmethod
    def _require(server: T | None, what: str) -> T:
        if server is None:
            raise RuntimeError(f"the {what} is not running in this stack")
        return server


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
