"""Hypothesis profiles and one long-lived handler for the property tests.

Profiles (``HYPOTHESIS_PROFILE``): ``ci`` (the default, what ``make test`` runs:
2,500 examples over the seven properties, ``/sso``'s four and
``test_lti_properties``' three; 15 to 24 s on two cores with the machine at a
load of 7, ``/sso``'s 8 s and LTI's 4.5 s in one process each; it must stay
under 30 s) and
``long`` (``make fuzz``: 50,000 examples per property, no deadline). Neither
writes to ``.hypothesis/`` in the working tree: ``ci`` keeps no database, and
``long`` keeps its failing examples under ``build/hypothesis``.

The handler is built once per module, against healthy dependencies: the
documented Partner API and the JWKS on loopback HTTPS, the API key in moto. So
a 502/503/504 can only come from a test's valid token, never from fuzz input.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase
from pytest_httpserver import HTTPServer

from handler.config import load_config
from handler.container import Container
from handler.http_pool import new_http_pool
from tests.conftest import SECRET_ID, Sso
from tests.lti.conftest import PLATFORM_JWKS_PATH, STATE_TABLE, Tool, lti_env
from tests.support import API_KEY, AUDIENCE, ISSUER, FakePartnerApi, SigningKey, fake_aws_environment

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
# Per-property example counts: the ci profile's figure times each property's weight.
CI_EXAMPLES = 600
SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]

settings.register_profile(
    "ci",
    max_examples=CI_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=SLOW_IS_FINE,
    print_blob=True,
)
settings.register_profile(
    "long",
    max_examples=50_000,
    deadline=None,
    database=DirectoryBasedExampleDatabase(str(REPOSITORY_ROOT / "build" / "hypothesis")),
    suppress_health_check=SLOW_IS_FINE,
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def fuzz_keys() -> dict[str, SigningKey]:
    return {"rsa": SigningKey.rsa(kid="fuzz-rsa"), "ec": SigningKey.ec(kid="fuzz-ec")}


@pytest.fixture(scope="module")
def fuzz_partner_api() -> FakePartnerApi:
    """The documented Partner API behind ``fuzz_sso``; its ``calls`` show what reached it."""
    return FakePartnerApi()


@pytest.fixture(scope="module")
def fuzz_sso(
    _partner_server: HTTPServer,
    _jwks_server: HTTPServer,
    ca_file: Path,
    fuzz_keys: dict[str, SigningKey],
    fuzz_partner_api: FakePartnerApi,
) -> Iterator[Sso]:
    """One handler for every example (a warm container), with healthy dependencies."""
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as patch:
        fake_aws_environment(patch)
        with mock_aws():
            import boto3

            boto3.client("secretsmanager", region_name="us-east-1").create_secret(
                Name=SECRET_ID, SecretString=f'{{"api_key": "{API_KEY}"}}'
            )
            _jwks_server.expect_request("/jwks.json").respond_with_json(
                {"keys": [key.jwk for key in fuzz_keys.values()]}
            )
            _partner_server.expect_request(
                re.compile(r"^/api/users/[^/]+$"), method="POST"
            ).respond_with_handler(fuzz_partner_api)
            env = {
                "BI_ORG": "xyz",
                "BI_BASE_URL": _partner_server.url_for("").rstrip("/"),
                "BI_API_KEY_SECRET_ID": SECRET_ID,
                "JWT_ISSUER": ISSUER,
                "JWT_AUDIENCE": AUDIENCE,
                "JWT_JWKS_URL": _jwks_server.url_for("/jwks.json"),
                "SSO_RETURN_URL": "https://portal.example.edu/",
            }
            config = load_config(env)
            container = Container.build(config, new_http_pool(ca_certs=str(ca_file)))
            yield Sso(config, container.handler(), container)
            _partner_server.clear()
            _jwks_server.clear()


@pytest.fixture(scope="module")
def fuzz_lti(
    _partner_server: HTTPServer,
    _jwks_server: HTTPServer,
    ca_file: Path,
    fuzz_partner_api: FakePartnerApi,
) -> Iterator[Tool]:
    """One handler with LTI launches on (as ``tests/lti``'s ``tool``), for every example of a module."""
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as patch:
        fake_aws_environment(patch)
        with mock_aws():
            import boto3

            boto3.client("secretsmanager", region_name="us-east-1").create_secret(
                Name=SECRET_ID, SecretString=f'{{"api_key": "{API_KEY}"}}'
            )
            boto3.client("dynamodb", region_name="us-east-1").create_table(
                TableName=STATE_TABLE,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            kms = boto3.client("kms", region_name="us-east-1")
            key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
            platform_key = SigningKey.rsa(kid="fuzz-platform")
            _jwks_server.expect_request(PLATFORM_JWKS_PATH).respond_with_json({"keys": [platform_key.jwk]})
            _jwks_server.expect_request("/jwks.json").respond_with_json({"keys": []})
            _partner_server.expect_request(
                re.compile(r"^/api/users/[^/]+$"), method="POST"
            ).respond_with_handler(fuzz_partner_api)
            env = lti_env(_partner_server, _jwks_server, key_id)
            config = load_config(env)
            container = Container.build(config, new_http_pool(ca_certs=str(ca_file)))
            assert container.lti is not None
            yield Tool(container.handler(), container.lti, fuzz_partner_api, platform_key, container)
            _partner_server.clear()
            _jwks_server.clear()
