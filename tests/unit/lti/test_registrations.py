"""Registrations: validated in one place, from the environment (one platform) or the registry table (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import urllib3

from handler.aws_clients import AwsClients
from handler.config import LTI_FIELDS, Runtime, load_config
from handler.errors import ConfigError
from handler.lti.registrations import (
    EnvironmentRegistrations,
    LtiRegistration,
    RegistrationUnavailable,
    RegistryRegistrations,
    parse_registration,
    registry_key,
    registry_registration,
)
from handler.partner_record import LTI_MAX_DEPLOYMENT_IDS
from handler.partners import PartnerRegistry, PartnerWiring, registry_provider
from handler.telemetry import Telemetry
from tests.registry_support import create_registry_table

ISS = "https://canvas.instructure.com"
CLIENT = "10000000000042"
RECORD: dict[str, Any] = {
    "kind": "lti_platform",
    "iss": "https://canvas.instructure.com",
    "client_id": "10000000000042",
    "deployment_ids": ["1:abc", "2:def"],
    "auth_url": "https://sso.canvaslms.com/api/lti/authorize_redirect",
    "jwks_url": "https://sso.canvaslms.com/api/lti/security/jwks",
    "bi_org": "state-university",
    "api_key_secret_id": "big-interview-sso/state-university/api-key",
}
ENVIRONMENT: dict[str, str] = {
    "LTI_ISSUER": ISS,
    "LTI_CLIENT_ID": CLIENT,
    "LTI_DEPLOYMENT_IDS": "1:abc, 2:def",
    "LTI_AUTH_URL": RECORD["auth_url"],
    "LTI_JWKS_URL": RECORD["jwks_url"],
    "BI_ORG": "State-University",
    "BI_API_KEY_SECRET_ID": RECORD["api_key_secret_id"],
}
REGISTRY_TABLE = "bi-sso-test-registry"
KEY = f"lti|{ISS}|{CLIENT}"


def test_a_record_becomes_a_registration_with_the_default_base_url() -> None:
    registration = parse_registration(RECORD)
    assert registration == LtiRegistration(
        issuer="https://canvas.instructure.com",
        client_id="10000000000042",
        deployment_ids=("1:abc", "2:def"),
        auth_url=RECORD["auth_url"],
        jwks_url=RECORD["jwks_url"],
        bi_org="state-university",
        bi_base_url="https://state-university.biginterview.com",
        api_key_secret_id="big-interview-sso/state-university/api-key",
    )


def test_the_environment_gives_the_same_registration() -> None:
    assert EnvironmentRegistrations(ENVIRONMENT).registration == parse_registration(RECORD)


def test_every_problem_is_reported_together_by_variable_name() -> None:
    with pytest.raises(ConfigError) as raised:
        EnvironmentRegistrations(
            {
                "LTI_ISSUER": "https://lms.example.edu",
                "LTI_AUTH_URL": "http://lms.example.edu/auth",
                "BI_ORG": "a b",
            }
        )
    problems = raised.value.problems
    assert "LTI_CLIENT_ID is required" in problems
    assert any(p.startswith("LTI_DEPLOYMENT_IDS is required") for p in problems)
    assert any(p.startswith("LTI_AUTH_URL must use https://") for p in problems)
    assert "LTI_JWKS_URL is required" in problems
    assert any(p.startswith("BI_ORG must be a DNS label") for p in problems)
    assert "BI_API_KEY_SECRET_ID is required" in problems


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("deployment_ids", []),
        ("deployment_ids", ["has space"]),
        ("deployment_ids", "x" * 256),
        ("client_id", " padded"),
        ("client_id", 42),
        ("jwks_url", "ftp://lms.example.edu/jwks"),
        ("api_key_secret_id", "*"),
        ("bi_base_url", "http://biginterview.example"),
    ],
)
def test_a_record_with_a_bad_field_is_refused(field: str, value: Any) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_registration({**RECORD, field: value})
    assert any(problem.startswith(field) for problem in raised.value.problems), raised.value.problems


def test_the_environment_source_matches_iss_and_client_id_exactly() -> None:
    source = EnvironmentRegistrations(ENVIRONMENT)
    assert source.find(ISS, CLIENT) is not None
    assert source.find(ISS, None) is not None  # a login may leave client_id out
    assert source.find(ISS + "/", CLIENT) is None
    assert source.find(ISS, "other") is None


def test_lti_is_off_without_a_state_table_and_needs_a_registration_source_with_one() -> None:
    partner = {"BI_ORG": "x", "BI_API_KEY_SECRET_ID": "s", "JWT_ISSUER": "https://i", "JWT_AUDIENCE": "a"}
    assert load_config(partner).lti is None
    with pytest.raises(ConfigError) as raised:  # reported with the rest of the configuration
        load_config({**partner, "LTI_STATE_TABLE_NAME": "t", "LTI_STATE_SECONDS": "5"})
    assert raised.value.problems == [
        "LTI_STATE_TABLE_NAME is set, which needs LTI_ISSUER (one platform) or PARTNER_REGISTRY_TABLE",
        "LTI_STATE_SECONDS must be a whole number of seconds from 60 to 3600, got '5'",
    ]


# ---- the registry table (the partner registry's layout), in moto, through the registry's reader --------
@pytest.fixture
def registry(aws: Any) -> Iterator[Any]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_registry_table(client, REGISTRY_TABLE)
    yield client


def put(client: Any, key: str, record: Any) -> None:
    value = record if isinstance(record, str) else json.dumps(record)
    client.put_item(TableName=REGISTRY_TABLE, Item={"issuer": {"S": key}, "value": {"S": value}})


@dataclass
class Reader:
    """The partner registry (its reader only) on a moto client whose GetItem calls are counted."""

    registry: PartnerRegistry
    get_items: list[str] = field(default_factory=list)

    def source(self) -> RegistryRegistrations:
        return RegistryRegistrations(self.registry.record_text)


def reader(cache_seconds: int = 300) -> Reader:
    get_items: list[str] = []

    def client() -> Any:
        made = boto3.client("dynamodb", region_name="us-east-1")
        made.meta.events.register(
            "provide-client-params.dynamodb.GetItem",
            lambda params, **_: get_items.append(params["Key"]["issuer"]["S"]),
        )
        return made

    wiring = PartnerWiring(Runtime(), urllib3.PoolManager(), AwsClients(), Telemetry())
    registry = PartnerRegistry(
        lambda: registry_provider(REGISTRY_TABLE, client), wiring, cache_seconds=cache_seconds
    )
    return Reader(registry, get_items)


def source() -> RegistryRegistrations:
    return reader().source()


def test_a_registry_record_is_found_by_iss_and_client_id(registry: Any) -> None:
    put(registry, registry_key(ISS, CLIENT), RECORD)
    assert source().find(ISS, CLIENT) == parse_registration(RECORD)
    assert registry_key(ISS, CLIENT) == "lti|https://canvas.instructure.com|10000000000042"


def test_two_schools_on_instructure_hosted_canvas_share_iss_and_differ_by_client_id(registry: Any) -> None:
    # Every Instructure-hosted Canvas signs as https://canvas.instructure.com.
    other = {
        **RECORD,
        "client_id": "20000000000077",
        "bi_org": "other-school",
        "api_key_secret_id": "big-interview-sso/other-school/api-key",
    }
    put(registry, registry_key(ISS, CLIENT), RECORD)
    put(registry, registry_key(ISS, "20000000000077"), other)
    registrations = source()
    found = registrations.find(ISS, CLIENT), registrations.find(ISS, "20000000000077")
    assert [(r.client_id, r.bi_org) for r in found if r] == [
        (CLIENT, RECORD["bi_org"]),
        ("20000000000077", "other-school"),
    ]


def test_a_found_record_is_cached_for_the_registrys_cache_age(registry: Any) -> None:
    put(registry, registry_key(ISS, CLIENT), RECORD)
    shared = reader()
    registrations = shared.source()
    assert registrations.find(ISS, CLIENT) is not None
    registry.delete_item(TableName=REGISTRY_TABLE, Key={"issuer": {"S": registry_key(ISS, CLIENT)}})
    assert registrations.find(ISS, CLIENT) is not None
    assert shared.get_items == [registry_key(ISS, CLIENT)]  # one GetItem: the cache answered the second


def test_an_unknown_client_id_is_looked_up_once_then_remembered(registry: Any) -> None:
    shared = reader()
    registrations = shared.source()

    answers = [registrations.find(ISS, "made-up-client") for _ in range(20)]

    assert answers == [None] * 20
    assert shared.get_items == [registry_key(ISS, "made-up-client")]


def test_no_record_another_kind_or_no_client_id_is_no_registration(registry: Any) -> None:
    put(
        registry,
        registry_key(ISS, "partner"),
        {**RECORD, "client_id": "partner", "kind": "partner"},
    )
    registrations = source()
    assert registrations.find(ISS, CLIENT) is None
    assert registrations.find(ISS, "partner") is None
    assert registrations.find(ISS, None) is None


@pytest.mark.parametrize(
    ("record", "named"),
    [
        ("not json", "value is not a JSON object"),
        ({**RECORD, "jwks_url": "http://lms.example.edu/jwks"}, "jwks_url must use https://"),
        ({**RECORD, "client_id": "someone-else"}, "must be the record's key"),
    ],
    ids=["not-json", "invalid", "key-mismatch"],
)
def test_an_unusable_record_is_an_outage_not_an_unknown_platform(
    registry: Any, record: Any, named: str
) -> None:
    put(registry, registry_key(ISS, CLIENT), record)
    with pytest.raises(RegistrationUnavailable) as raised:
        source().find(ISS, CLIENT)
    assert named in str(raised.value)


def test_an_unreachable_registry_is_an_outage(aws: Any) -> None:
    with pytest.raises(RegistrationUnavailable) as raised:
        source().find(ISS, CLIENT)  # no such table
    assert "partner registry GetItem" in str(raised.value)


def test_a_registry_record_must_name_a_secret_under_the_prefix_the_environment_need_not(
    registry: Any,
) -> None:
    outside = {**RECORD, "api_key_secret_id": "other-team/database-password"}
    arn = (
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
        "big-interview-sso/state-university/api-key-Ab12Cd"
    )
    put(registry, registry_key(ISS, CLIENT), outside)
    put(
        registry,
        registry_key(ISS, "arn-client"),
        {**RECORD, "client_id": "arn-client", "api_key_secret_id": arn},
    )
    registrations = source()

    with pytest.raises(RegistrationUnavailable) as raised:
        registrations.find(ISS, CLIENT)

    # The partner records' rule, word for word (handler.partner_record), naming the field.
    assert "api_key_secret_id must name a secret under 'big-interview-sso/state-university/'" in str(
        raised.value
    )
    assert registrations.find(ISS, "arn-client") is not None  # an ARN of a secret under the prefix
    # A single-platform deployment's role reads the one secret it names: no prefix there.
    environment = {**ENVIRONMENT, "BI_API_KEY_SECRET_ID": "other-team/database-password"}
    assert (
        EnvironmentRegistrations(environment).registration.api_key_secret_id == "other-team/database-password"
    )


def test_registry_record_validation_reports_every_problem_by_field() -> None:
    with pytest.raises(ConfigError) as raised:
        registry_registration(
            registry_key(ISS, CLIENT),
            {**RECORD, "kind": "lti", "deployment_id": "1:abc", "api_key_secret_id": "prod/db"},
        )
    problems = raised.value.problems
    assert any(p.startswith("kind must be 'lti_platform'") for p in problems), problems
    assert any(p.startswith("unknown fields ['deployment_id']") for p in problems), problems
    assert any(p.startswith("api_key_secret_id must name a secret under") for p in problems), problems


@pytest.mark.parametrize(
    ("issuer", "client_id"),
    [("https://lms.example.edu/" + "i" * 2000, CLIENT), (ISS, "c" * 2000), (ISS, "c" * 256)],
    ids=["long-iss", "long-client-id", "client-id-one-over"],
)
def test_an_iss_or_client_id_no_registration_can_have_is_unknown_without_a_lookup(
    registry: Any, issuer: str, client_id: str
) -> None:
    # Real DynamoDB refuses a partition key over 2048 bytes (moto does not): such a GetItem would be a 503.
    shared = reader()
    assert shared.source().find(issuer, client_id) is None
    assert shared.get_items == []


def test_the_longest_iss_and_client_id_a_registration_may_have_make_a_key_dynamodb_accepts(
    registry: Any,
) -> None:
    # DynamoDB's limit on a partition key: 2048 bytes of UTF-8. 255 four-byte characters each fit.
    issuer, client_id = "https://lms.example.edu/" + "\U0001f600" * 231, "\U0001f600" * 255
    shared = reader()
    assert shared.source().find(issuer, client_id) is None
    assert shared.get_items == [registry_key(issuer, client_id)]
    assert len(shared.get_items[0].encode("utf-8")) <= 2048


def test_a_client_id_with_a_bar_is_refused_in_a_registry_record_so_each_key_has_one_pair() -> None:
    key = registry_key(ISS, "tenant|42")
    with pytest.raises(ConfigError) as raised:
        registry_registration(key, {**RECORD, "client_id": "tenant|42"})
    assert raised.value.problems == [
        "client_id must not contain '|' in a registry record (its key is lti|<iss>|<client_id>)"
    ]
    # An environment registration has no key: any client_id the platform gave is fine there.
    assert EnvironmentRegistrations({**ENVIRONMENT, "LTI_CLIENT_ID": "tenant|42"}).find(ISS, "tenant|42")


def test_the_exact_pair_is_checked_even_for_a_record_the_validator_accepts() -> None:
    # iss may hold '|': ("https://lms.example.edu/a|b", "42") is a valid record. Looked up as
    # ("https://lms.example.edu/a", "b|42") its key is the same: that pair has no registration.
    record = {**RECORD, "iss": "https://lms.example.edu/a|b", "client_id": "42"}
    text = json.dumps(record)
    stored = registry_key("https://lms.example.edu/a|b", "42")
    registrations = RegistryRegistrations(lambda key: text if key == stored else None)
    assert registrations.find("https://lms.example.edu/a|b", "42") == parse_registration(record)
    assert registrations.find("https://lms.example.edu/a", "b|42") is None


@pytest.mark.parametrize(
    "issuer",
    [
        "https://lms.example.edu\n",
        "https://lms.example.edu/\nforged row",
        "https://lms.example.edu/\x1b]0;owned\x07",
        "https://lms.example.edu/?tenant=1",
        "https://lms.example.edu/#top",
        "http://lms.example.edu",
        "lms.example.edu",
    ],
    ids=["newline", "newline-inside", "osc", "query", "fragment", "http", "no-scheme"],
)
def test_an_iss_must_be_an_https_url_without_query_or_fragment(issuer: str) -> None:
    # LTI 1.3 Core §5.1.2 (OIDC's iss): https, scheme, host, optional port and path, nothing more.
    with pytest.raises(ConfigError) as raised:
        parse_registration({**RECORD, "iss": issuer})
    assert any(problem.startswith("iss must") for problem in raised.value.problems), raised.value.problems


@pytest.mark.parametrize("client_id", ["abc\x1b[2Jdef", "abc\ndef", "caf\u00e9", "abc\x7f"])
def test_a_client_id_must_be_printable_ascii(client_id: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_registration({**RECORD, "client_id": client_id})
    assert any("client_id must be printable ASCII" in problem for problem in raised.value.problems)


def test_an_iss_with_a_port_and_path_is_a_registration() -> None:
    issuer = "https://lms.example.edu:8443/tenants/a"
    assert parse_registration({**RECORD, "iss": issuer}).issuer == issuer


def test_a_registration_with_more_deployment_ids_than_the_limit_is_refused_by_field() -> None:
    too_many = [f"{n}:deployment" for n in range(LTI_MAX_DEPLOYMENT_IDS + 1)]
    with pytest.raises(ConfigError) as raised:
        parse_registration({**RECORD, "deployment_ids": too_many})
    assert any(
        problem.startswith(f"deployment_ids must be at most {LTI_MAX_DEPLOYMENT_IDS}")
        for problem in raised.value.problems
    ), raised.value.problems


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        *(
            ("bi_base_url", url, "bi_base_url must be 'https://state-university.biginterview.com'")
            for url in (
                "https://attacker.example",
                "https://other-org.biginterview.com",
                "http://127.0.0.1:8443",
            )
        ),
        *(
            (
                "api_key_secret_id",
                secret,
                "api_key_secret_id must name a secret under 'big-interview-sso/state-university/'",
            )
            for secret in (
                "big-interview-sso/other-org/api-key",
                "big-interview-sso/state-university-lms/api-key",
            )
        ),
    ],
)
def test_a_registry_registration_sends_only_its_orgs_key_only_to_its_orgs_host(
    field: str, value: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        registry_registration(KEY, {**RECORD, field: value})
    assert any(found.startswith(problem) for found in raised.value.problems), raised.value.problems


def test_a_loopback_base_url_is_a_registry_registration_only_with_the_local_stacks_setting() -> None:
    record = {**RECORD, "bi_base_url": "http://127.0.0.1:8443"}
    assert registry_registration(KEY, record, loopback_base_urls=True).bi_base_url == "http://127.0.0.1:8443"


def test_a_platforms_token_endpoint_is_optional_and_must_be_https() -> None:
    token_url = "https://sso.canvaslms.com/login/oauth2/token"
    assert parse_registration(RECORD).token_url is None
    assert registry_registration(KEY, {**RECORD, "token_url": token_url}).token_url == token_url
    environment = EnvironmentRegistrations({**ENVIRONMENT, "LTI_TOKEN_URL": token_url})
    assert environment.registration.token_url == token_url
    with pytest.raises(ConfigError) as raised:
        parse_registration({**RECORD, "token_url": "http://lms.example.edu/token"}, LTI_FIELDS)
    assert [p for p in raised.value.problems if p.startswith("LTI_TOKEN_URL must use https://")]
