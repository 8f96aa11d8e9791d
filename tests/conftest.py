"""Shared fixtures: real HTTPS servers on loopback (Partner API, JWKS), moto, the handler.

Also the suite-wide leak check: everything the tests print or log is collected,
and the session fails if a registered secret appears in it (see ``leakcheck``).
"""

from __future__ import annotations

import functools
import importlib
import json
import re
import ssl
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trustme
from pytest_httpserver import HTTPServer

from tests import leakcheck
from tests.servers import Handle, RawServer
from tests.support import (
    API_KEY,
    AUDIENCE,
    ISSUER,
    FakePartnerApi,
    SigningKey,
    create_pk_table,
    fake_aws_environment,
    isolation,
    lambda_context,
)
from tests.support.clock import FakeClock

if TYPE_CHECKING:
    from handler.config import Config
    from handler.container import Container
    from handler.routes import LambdaHandler

# boto3, moto and the handler are imported by the fixtures that use them, not here: a run of
# one unit test file that needs none of them then starts without them (about half a second).

SECRET_ID = "bi-sso/test/api-key"
REPLAY_TABLE = "bi-sso-test-replay"
# (test id, section name, text): everything each test printed or logged.
_suite_output: list[tuple[str, str, str]] = []


# ---- schemathesis, for the runs that hold tests/api only --------------------------------------------
# Its pytest plugin imports schemathesis and hypothesis (about half a second): pyproject.toml's
# addopts keep it from loading with every run (-p no:schemathesis), and it is registered here
# when the run's paths include tests/api, in the xdist controller and workers alike.
API_TESTS = Path(__file__).resolve().parent / "api"


def pytest_configure(config: pytest.Config) -> None:
    invoked_in = Path(config.invocation_params.dir)
    for arg in config.args:
        path = (invoked_in / arg.split("::", 1)[0]).resolve()
        if path == API_TESTS or path in API_TESTS.parents or API_TESTS in path.parents:
            config.pluginmanager.register(
                importlib.import_module("schemathesis.pytest.plugin"), "schemathesis-api"
            )
            return


# ---- pytest-xdist (make test runs -n 2 --dist loadgroup) -------------------------------------
@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep a module on one worker, in order, when some of its tests share a module-scoped fixture.

    That fixture (a local stack, a ``sam build``, a browser) is then set up once, not
    once per worker, and tests that read what the module's earlier tests left (a
    tally) still run after them. Every other test is handed out on its own. Session
    fixtures are per worker process under xdist: each binds its own free ports.
    """

    def module_of(item: pytest.Item) -> str:
        return item.nodeid.split("::", 1)[0]

    def shares_a_module_fixture(item: pytest.Item) -> bool:
        info = getattr(item, "_fixtureinfo", None)
        definitions = info.name2fixturedefs.values() if info is not None else ()
        return any(d.scope in ("module", "package", "class") for defs in definitions for d in defs)

    grouped = {module_of(item) for item in items if shares_a_module_fixture(item)}
    for item in items:
        if module_of(item) in grouped:
            item.add_marker(pytest.mark.xdist_group(module_of(item)))


# ---- process-wide state, put back after every test (tests/support/isolation.py) ---------------
@pytest.fixture(autouse=True)
def _isolated_environment() -> Iterator[None]:
    with isolation.isolated_environment():
        yield


@pytest.fixture(autouse=True)
def _isolated_logging() -> Iterator[None]:
    with isolation.isolated_logging():
        yield


@pytest.fixture(autouse=True)
def _isolated_powertools() -> Iterator[None]:
    with isolation.isolated_powertools():
        yield


@pytest.fixture(autouse=True)
def _isolated_aws_sessions() -> Iterator[None]:
    _share_botocore_loader()
    with isolation.isolated_aws_sessions():
        yield


def _share_botocore_loader() -> None:
    """One botocore loader for the whole run, once botocore is imported (a test that imports it
    first runs without: the cache saves time and changes nothing else).

    moto's mock_aws starts every test with a new default boto3 session, and a new session
    parses botocore's JSON service models again: about 0.1 s for each client a test
    creates, the largest share of most tests' set-up. One loader keeps the parsed models
    (botocore shares one loader between a session's clients anyway).
    """
    session: Any = sys.modules.get("botocore.session")
    if session is not None and not hasattr(session.create_loader, "cache_info"):
        import botocore.loaders

        session.create_loader = functools.cache(botocore.loaders.create_loader)


@pytest.fixture(autouse=True)
def _isolated_modules() -> Iterator[None]:
    with isolation.isolated_modules():
        yield


# ---- the leak check over the whole suite's output -------------------------------------------
# Each process checks the output of the tests it ran against the secrets they registered
# (under xdist a worker's secrets exist only in that worker); workers hand their findings
# to the controller, which reports them all and fails the session.
_worker_findings: list[dict[str, Any]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if getattr(report, "node", None) is not None:
        return  # a worker's report, seen by the controller: the worker checks it
    for name, content in report.sections:
        _suite_output.append((report.nodeid, name, content))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """Controller: collect a finished worker's leak check."""
    result = getattr(node, "workeroutput", {}).get("leakcheck")
    if result:
        _worker_findings.append(json.loads(result))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _skip_hypothesis_summary_when_it_has_nothing_to_say(session.config)
    findings = [
        [nodeid, section, found]
        for nodeid, section, text in _suite_output
        if (found := leakcheck.leaks(text))
    ]
    result = {
        "secrets": leakcheck.registered_count(),
        "characters": sum(len(text) for _, _, text in _suite_output),
        "findings": findings,
    }
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports
        workeroutput["leakcheck"] = json.dumps(result)
        return
    results = [result, *_worker_findings]
    findings = [finding for r in results for finding in r["findings"]]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"leak check: {sum(r['secrets'] for r in results)} secrets looked for in "
            f"{sum(r['characters'] for r in results)} characters of test output "
            f"({len(results)} process{'es' if len(results) > 1 else ''}); {len(findings)} leaking sections"
        )
        for nodeid, section, shown in findings:
            reporter.write_line(f"SECRET IN LOGS: {nodeid} [{section}]: {shown}", red=True)
    if findings:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _skip_hypothesis_summary_when_it_has_nothing_to_say(config: pytest.Config) -> None:
    """hypothesis's pytest plugin imports hypothesis at the end of every run (about half a second,
    most of a one-file run's start-up cost) to ask whether it wrote observations, which only a
    process that imported hypothesis can have done. In a run that did not, and has no statistics
    or failing examples (from xdist's workers either) to show, its summary is left out."""
    plugin = "hypothesispytest"
    if "hypothesis" in sys.modules or not config.pluginmanager.has_plugin(plugin):
        return
    if config.getoption("--hypothesis-show-statistics", default=False):
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    reports = [report for each in getattr(reporter, "stats", {}).values() for report in each]
    if any("_hypothesis_failing_examples" in getattr(report, "__dict__", {}) for report in reports):
        return
    config.pluginmanager.unregister(name=plugin)


# ---- TLS and servers ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def server_ssl_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def raw_server(server_ssl_context: ssl.SSLContext) -> Iterator[Callable[..., RawServer]]:
    """Starts a misbehaving server (TLS unless ``tls=False``) running ``handle`` per connection."""
    started: list[RawServer] = []

    def start(handle: Handle, tls: bool = True) -> RawServer:
        server = RawServer(handle, server_ssl_context if tls else None, timeout=10)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


def _https_server(context: ssl.SSLContext) -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture(scope="session")
def _partner_server(server_ssl_context: ssl.SSLContext) -> Iterator[HTTPServer]:
    yield from _https_server(server_ssl_context)


@pytest.fixture(scope="session")
def _jwks_server(server_ssl_context: ssl.SSLContext) -> Iterator[HTTPServer]:
    yield from _https_server(server_ssl_context)


@pytest.fixture
def partner_server(_partner_server: HTTPServer) -> Iterator[HTTPServer]:
    """The Partner API's HTTPS server; tests add expectations, cleared afterwards."""
    yield _partner_server
    _partner_server.clear()


@pytest.fixture
def jwks_server(_jwks_server: HTTPServer) -> Iterator[HTTPServer]:
    """The partner's JWKS HTTPS server; cleared afterwards."""
    yield _jwks_server
    _jwks_server.clear()


@pytest.fixture
def partner_api(partner_server: HTTPServer) -> FakePartnerApi:
    """The documented Partner API behaviour on ``partner_server``."""
    fake = FakePartnerApi()
    partner_server.expect_request(re.compile(r"^/api/users/[^/]+$"), method="POST").respond_with_handler(fake)
    return fake


# ---- time ---------------------------------------------------------------------------------------
@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the test says (or its ``sleep`` is called)."""
    return FakeClock()


# ---- keys -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def rsa_key() -> SigningKey:
    return SigningKey.rsa()


@pytest.fixture(scope="session")
def ec_key() -> SigningKey:
    return SigningKey.ec()


@pytest.fixture
def jwks(jwks_server: HTTPServer, rsa_key: SigningKey, ec_key: SigningKey) -> dict[str, Any]:
    """The partner's JWKS with an RSA and an EC key, served at ``/jwks.json``."""
    document = {"keys": [rsa_key.jwk, ec_key.jwk]}
    jwks_server.expect_request("/jwks.json").respond_with_json(document)
    return document


# ---- AWS (moto) -------------------------------------------------------------------------------
@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A region and made-up credentials for moto, nothing from the developer's AWS set-up."""
    fake_aws_environment(monkeypatch)


@pytest.fixture
def aws(aws_env: None) -> Iterator[Any]:
    """Secrets Manager in moto, holding the org's API key as JSON."""
    import boto3
    from moto import mock_aws

    _share_botocore_loader()
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(Name=SECRET_ID, SecretString=f'{{"api_key": "{API_KEY}"}}')
        yield client


@pytest.fixture
def replay_table(aws: Any) -> Any:
    """The one-time-link table in moto, shaped as template.yaml creates it; returns a client."""
    import boto3

    return create_pk_table(boto3.client("dynamodb", region_name="us-east-1"), REPLAY_TABLE)


# ---- the handler --------------------------------------------------------------------------------
@dataclass
class Sso:
    """A handler wired to the test servers, and a way to call it."""

    config: Config
    handler: LambdaHandler
    container: Container

    def __call__(self, event: dict[str, Any], remaining_ms: int = 9_000) -> dict[str, Any]:
        return self.handler(event, lambda_context(remaining_ms))  # type: ignore[arg-type]


@pytest.fixture
def base_env(partner_server: HTTPServer, jwks_server: HTTPServer) -> dict[str, str]:
    return {
        "BI_ORG": "xyz",
        "BI_BASE_URL": partner_server.url_for("").rstrip("/"),
        "BI_API_KEY_SECRET_ID": SECRET_ID,
        "JWT_ISSUER": ISSUER,
        "JWT_AUDIENCE": AUDIENCE,
        "JWT_JWKS_URL": jwks_server.url_for("/jwks.json"),
    }


@pytest.fixture
def make_sso(base_env: dict[str, str], ca_file: Path, aws: Any) -> Callable[..., Sso]:
    """Build a handler from ``base_env`` plus overrides (``None`` removes a variable)."""
    from handler.config import load_config
    from handler.container import Container
    from handler.http_pool import new_http_pool
    from handler.telemetry import new_telemetry

    def build(**overrides: str | None) -> Sso:
        env = {**base_env, **overrides}
        config = load_config({k: v for k, v in env.items() if v is not None})
        telemetry = new_telemetry()
        container = Container.build(config, new_http_pool(ca_certs=str(ca_file)), telemetry)
        return Sso(config, container.handler(), container)

    return build


@pytest.fixture
def sso(make_sso: Callable[..., Sso], partner_api: FakePartnerApi, jwks: dict[str, Any]) -> Sso:
    """The handler with the documented Partner API, the JWKS and moto all up."""
    return make_sso()


# ---- Lambda without Docker (infra/local/environments.py) --------------------------------------
@pytest.fixture(scope="session")
def lambda_runtime_ready() -> None:
    """The built artifact and the runtime venv, made once for the session (see lambda_runtime_support)."""
    from tests import lambda_runtime_support

    lambda_runtime_support.prepare()
