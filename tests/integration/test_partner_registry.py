"""Registry mode: isolation between partners, on loopback.

Three registry partners, each with its own HTTPS key endpoint, Big Interview org
(a Partner API path of its own on the HTTPS server, with its own API key) and
secrets in moto: A signs RS256 with a configured JWKS URL, B signs ES256 and is
found by OIDC discovery, C signs HS256 with a shared secret. The environment's
partner stays beside them. The registry is a moto DynamoDB table shaped as
template.yaml creates it, read through Powertools' DynamoDBProvider; its
``GetItem`` calls are counted by botocore's event hooks on the real client.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import jwt
import pytest
from pytest_httpserver import HTTPServer

from handler.config import load_config
from handler.container import Container
from handler.errors import InvalidIssuer
from handler.http_pool import new_http_pool
from handler.partner_record import RECORD_LIMITS
from handler.partners import registry_provider
from handler.telemetry import new_telemetry
from tests import leakcheck
from tests.conftest import REPLAY_TABLE, Sso
from tests.registry_support import REGISTRY_TABLE, create_registry_table, partner_record, put_record
from tests.support import FakePartnerApi, SigningKey, claims, http_event, mint, sign_raw
from tests.support.clock import FakeClock
from tests.support.observed import metric_names, summaries

HMAC_SECRET = secrets.token_hex(32)
STALE_SECONDS = 600  # the fixture's PARTNER_REGISTRY_STALE_SECONDS
leakcheck.register(HMAC_SECRET)


@dataclass
class RegistryPartner:
    """One registry partner: its record, how it signs, and its own Partner API."""

    name: str
    issuer: str
    key: SigningKey | None  # None: HS256 with HMAC_SECRET
    api: FakePartnerApi
    record: dict[str, Any] = field(default_factory=dict)

    def token(self, **overrides: Any) -> str:
        values = {"iss": self.issuer, "aud": self.record["audience"], **overrides}
        if self.key is None:
            payload = claims(**values)
            token = jwt.encode(payload, HMAC_SECRET, algorithm="HS256")
            leakcheck.register(token, token.rsplit(".", 1)[1], payload["email"])
            return token
        return mint(self.key, **values)


@dataclass
class Registry:
    sso: Sso
    partners: dict[str, RegistryPartner]
    dynamodb: Any
    get_items: list[str]  # the key of every GetItem DynamoDB answered
    clock: FakeClock  # the registry's and the secrets' clock

    def put(self, partner: RegistryPartner, **changes: Any) -> None:
        partner.record = {**partner.record, **changes}
        put_record(self.dynamodb, partner.record)

    def pass_cache_age(self) -> None:
        """PARTNER_REGISTRY_CACHE_SECONDS pass: the next lookup reads its record again."""
        self.clock.advance(self.sso.config.runtime.partner_registry_cache_seconds)


def counting_provider(get_items: list[str]) -> Callable[[str, Callable[[], Any], Callable[[], float]], Any]:
    """The registry's provider, its GetItem calls counted on the real client (botocore's events)."""

    def factory(table: str, client_factory: Callable[[], Any], clock: Callable[[], float]) -> Any:
        def counted_client() -> Any:
            client = client_factory()
            client.meta.events.register(
                "provide-client-params.dynamodb.GetItem",
                lambda params, **_: get_items.append(params["Key"]["issuer"]["S"]),
                unique_id="count-get-item",  # the shared client: counted once, however often asked
            )
            return client

        return registry_provider(table, counted_client, clock)

    return factory


@pytest.fixture
def registry(
    aws: Any,
    base_env: dict[str, str],
    ca_file: Path,
    partner_server: HTTPServer,
    jwks_server: HTTPServer,
    partner_api: FakePartnerApi,
    jwks: dict[str, Any],
    clock: FakeClock,
) -> Iterator[Registry]:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    create_registry_table(dynamodb)
    dynamodb.create_table(
        TableName=REPLAY_TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    key_a, key_b = SigningKey.rsa(kid="a-1"), SigningKey.ec(kid="b-1")
    partners: dict[str, RegistryPartner] = {}
    for name, key in (("campus-a", key_a), ("campus-b", key_b), ("campus-c", None)):
        api = FakePartnerApi(api_key=secrets.token_hex(16))
        leakcheck.register(api.api_key)
        aws.create_secret(Name=f"big-interview-sso/{name}/api-key", SecretString=api.api_key)
        partner_server.expect_request(
            re.compile(rf"^/{name}/api/users/[^/]+$"), method="POST"
        ).respond_with_handler(api)
        partners[name] = RegistryPartner(name, "", key, api)
    aws.create_secret(Name="big-interview-sso/campus-c/hmac", SecretString=HMAC_SECRET)
    # A: a configured JWKS URL. B: OIDC discovery from its issuer (a path on the same host).
    jwks_server.expect_request("/campus-a/jwks.json").respond_with_json({"keys": [key_a.jwk]})
    issuer_b = jwks_server.url_for("/campus-b")
    jwks_server.expect_request("/campus-b/.well-known/openid-configuration").respond_with_json(
        {"issuer": issuer_b, "jwks_uri": jwks_server.url_for("/campus-b/jwks.json")}
    )
    jwks_server.expect_request("/campus-b/jwks.json").respond_with_json({"keys": [key_b.jwk]})
    fields: dict[str, dict[str, Any]] = {
        "campus-a": {
            "issuer": "https://idp.campus-a.test",
            "jwks_url": jwks_server.url_for("/campus-a/jwks.json"),
            "algorithms": ["RS256", "ES256"],
        },
        "campus-b": {"issuer": issuer_b, "algorithms": ["RS256", "ES256"]},
        "campus-c": {
            "issuer": "https://lms.campus-c.test",
            "algorithms": ["HS256"],
            "hs256_secret_id": "big-interview-sso/campus-c/hmac",
            "jwks_url": jwks_server.url_for("/campus-c/unused.json"),
        },
    }
    for name, partner in partners.items():
        partner.issuer = fields[name]["issuer"]
        partner.record = partner_record(
            name, bi_base_url=partner_server.url_for(f"/{name}").rstrip("/"), **fields[name]
        )
        put_record(dynamodb, partner.record)
    get_items: list[str] = []
    env = {
        **base_env,
        "PARTNER_REGISTRY_TABLE": REGISTRY_TABLE,
        "REPLAY_TABLE_NAME": REPLAY_TABLE,
        # The records' Partner APIs are on loopback: the local stack's setting (never the template's).
        "REGISTRY_LOOPBACK_BASE_URLS": "true",
        "PARTNER_REGISTRY_STALE_SECONDS": str(STALE_SECONDS),
    }
    config = load_config(env)
    telemetry = new_telemetry()
    container = Container.build(
        config,
        new_http_pool(ca_certs=str(ca_file)),
        telemetry,
        monotonic=clock,  # record ages, the unknown issuers' memory, the stale bound, secrets
        registry_provider_factory=counting_provider(get_items),
    )
    sso = Sso(config, container.handler(), container)
    yield Registry(sso, partners, dynamodb, get_items, clock)
    # A partner's first request opens its Partner API connection ahead of the call: one left
    # unused (its token was refused) would hold the one-connection-at-a-time test server.
    container.http.clear()


def sign_in(registry: Registry, token: str, **headers: str) -> dict[str, Any]:
    return registry.sso(http_event(query={"jwt": token}, headers=headers))


def error_code(response: dict[str, Any]) -> str:
    return str(json.loads(response["body"])["error"]["code"])


def json_sign_in(registry: Registry, token: str) -> dict[str, Any]:
    return sign_in(registry, token, accept="application/json")


# ---- each partner signs in with its own keys, org and API key --------------------------------------
def test_each_partner_signs_in_at_its_own_org_with_its_own_api_key(
    registry: Registry, partner_server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    for name, partner in registry.partners.items():
        response = sign_in(registry, partner.token(sub=f"user-{name}"))

        assert response["statusCode"] == 302, (name, response.get("body"))
        location = response["headers"]["Location"]
        assert location.startswith(partner_server.url_for(f"/{name}/sso/login?token="))
        [call] = partner.api.calls
        assert call["partner_id"] == f"user-{name}"
        assert call["headers"]["Authorization"] == partner.api.api_key
    assert [line["partner"] for line in summaries(caplog)] == ["campus-a", "campus-b", "campus-c"]


def test_the_environment_partner_still_signs_in_beside_the_registry(
    registry: Registry, rsa_key: SigningKey, partner_api: FakePartnerApi, caplog: pytest.LogCaptureFixture
) -> None:
    response = sign_in(registry, mint(rsa_key))

    assert response["statusCode"] == 302
    assert len(partner_api.calls) == 1
    assert registry.get_items == []  # its issuer is the environment's: no registry lookup
    assert summaries(caplog)[-1]["partner"] == "environment"


# ---- a token of one partner never signs in through another ---------------------------------------------
def test_a_token_of_a_with_bs_audience_is_refused(registry: Registry) -> None:
    a, b = registry.partners["campus-a"], registry.partners["campus-b"]

    response = json_sign_in(registry, a.token(aud=b.record["audience"]))

    assert (response["statusCode"], error_code(response)) == (401, "invalid_audience")
    assert a.api.calls == [] and b.api.calls == []


def test_as_kid_under_bs_issuer_is_an_unknown_key(registry: Registry) -> None:
    a, b = registry.partners["campus-a"], registry.partners["campus-b"]
    assert a.key is not None

    # Signed by A, with A's kid, claiming to be B (B accepts RS256 too): B's JWKS decides.
    response = json_sign_in(registry, mint(a.key, iss=b.issuer, aud=b.record["audience"]))

    assert (response["statusCode"], error_code(response)) == (401, "unknown_key")
    assert a.api.calls == [] and b.api.calls == []


def test_as_key_under_bs_kid_does_not_verify(registry: Registry) -> None:
    a, b = registry.partners["campus-a"], registry.partners["campus-b"]
    assert a.key is not None and b.key is not None
    forged = SigningKey(b.key.kid, "ES256", SigningKey.ec().private, {})

    response = json_sign_in(registry, mint(forged, iss=b.issuer, aud=b.record["audience"]))

    assert (response["statusCode"], error_code(response)) == (401, "invalid_signature")


def test_an_hs256_token_made_with_another_partners_secret_is_refused(registry: Registry) -> None:
    c, a = registry.partners["campus-c"], registry.partners["campus-a"]
    # C's shared secret signing a token that claims to be A: A accepts no HS256.
    token = jwt.encode(claims(iss=a.issuer, aud=a.record["audience"]), HMAC_SECRET, algorithm="HS256")
    leakcheck.register(token)

    response = json_sign_in(registry, token)

    assert (response["statusCode"], error_code(response)) == (401, "unsupported_algorithm")
    assert c.api.calls == [] and a.api.calls == []


def test_the_same_jti_in_two_partners_is_two_links(registry: Registry) -> None:
    a, b = registry.partners["campus-a"], registry.partners["campus-b"]
    jti = uuid.uuid4().hex

    assert sign_in(registry, a.token(jti=jti))["statusCode"] == 302
    assert sign_in(registry, b.token(jti=jti))["statusCode"] == 302
    again = json_sign_in(registry, a.token(jti=jti))

    assert (again["statusCode"], error_code(again)) == (401, "link_already_used")


# ---- disabled, unknown, invalid ----------------------------------------------------------------------
def test_a_disabled_partner_stops_within_the_cache_age_and_others_go_on(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = registry.partners["campus-a"], registry.partners["campus-b"]
    assert sign_in(registry, a.token())["statusCode"] == 302

    registry.put(a, enabled=False)
    within_age = sign_in(registry, a.token())  # the cached record still holds
    registry.pass_cache_age()
    refused = json_sign_in(registry, a.token())

    assert within_age["statusCode"] == 302
    assert (refused["statusCode"], error_code(refused)) == (401, "invalid_issuer")
    line = summaries(caplog)[-1]
    assert line["partner"] == "unknown"
    assert "'campus-a' is disabled" in line["detail"]
    assert sign_in(registry, b.token())["statusCode"] == 302
    registry.put(a, enabled=True)
    registry.pass_cache_age()
    assert sign_in(registry, a.token())["statusCode"] == 302


def test_a_deleted_partner_stops_within_the_cache_age(registry: Registry) -> None:
    a = registry.partners["campus-a"]
    assert sign_in(registry, a.token())["statusCode"] == 302

    registry.dynamodb.delete_item(TableName=REGISTRY_TABLE, Key={"issuer": {"S": a.issuer}})
    registry.pass_cache_age()
    refused = json_sign_in(registry, a.token())

    assert (refused["statusCode"], error_code(refused)) == (401, "invalid_issuer")


def test_an_unknown_issuer_is_looked_up_once_then_remembered(
    registry: Registry, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    a = registry.partners["campus-a"]
    unknown = "https://stranger.example"

    answers = [json_sign_in(registry, a.token(iss=unknown)) for _ in range(50)]

    assert {(r["statusCode"], error_code(r)) for r in answers} == {(401, "invalid_issuer")}
    assert registry.get_items.count(unknown) == 1
    assert {line["partner"] for line in summaries(caplog)} == {"unknown"}
    refused = metric_names(capsys.readouterr().out)["SsoRefusedByPartner"]
    assert {document["partner"] for document in refused} == {"unknown"}


def test_a_token_without_iss_is_not_looked_up(registry: Registry) -> None:
    a = registry.partners["campus-a"]

    response = json_sign_in(registry, a.token(iss=None))

    assert (response["statusCode"], error_code(response)) == (401, "missing_claim")
    assert registry.get_items == []


def test_a_token_whose_iss_is_not_a_string_is_an_invalid_claim_not_a_missing_one(registry: Registry) -> None:
    # As the environment's partner answers it (TokenVerifier): the claim is there, of the wrong type.
    a = registry.partners["campus-a"]
    assert a.key is not None
    response = json_sign_in(registry, sign_raw(a.key, claims(iss=12345, aud=a.record["audience"])))

    assert (response["statusCode"], error_code(response)) == (401, "invalid_claim")
    assert registry.get_items == []


def test_a_record_pointing_at_a_secret_outside_the_prefix_refuses_that_partner_only(
    registry: Registry, aws: Any, caplog: pytest.LogCaptureFixture
) -> None:
    aws.create_secret(Name="other-team/database-password", SecretString="not-for-us")
    c, b = registry.partners["campus-c"], registry.partners["campus-b"]
    registry.put(c, api_key_secret_id="other-team/database-password")

    refused = json_sign_in(registry, c.token())

    assert (refused["statusCode"], error_code(refused)) == (503, "partner_unavailable")
    detail = summaries(caplog)[-1]["detail"]
    assert "api_key_secret_id must name a secret under 'big-interview-sso/campus-c/'" in detail
    assert c.api.calls == []
    assert sign_in(registry, b.token())["statusCode"] == 302


def test_an_invalid_record_refuses_that_partner_only_naming_the_field(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    a, b, c = (registry.partners[name] for name in ("campus-a", "campus-b", "campus-c"))
    registry.put(a, bi_org="Not An Org", leeway_seconds="thirty")

    refused = json_sign_in(registry, a.token())

    assert (refused["statusCode"], error_code(refused)) == (503, "partner_unavailable")
    detail = summaries(caplog)[-1]["detail"]
    assert "leeway_seconds must be a whole number" in detail
    assert "bi_org must be a DNS label" in detail
    assert "BI_ORG" not in detail  # the record's field names, not the environment's
    assert sign_in(registry, b.token())["statusCode"] == 302
    assert sign_in(registry, c.token())["statusCode"] == 302


def test_a_registry_outage_keeps_known_partners_and_refuses_new_ones(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = registry.partners["campus-a"], registry.partners["campus-b"]
    assert sign_in(registry, a.token())["statusCode"] == 302

    registry.dynamodb.delete_table(TableName=REGISTRY_TABLE)  # every GetItem now fails
    registry.pass_cache_age()  # A's record is read again, and that read fails
    kept = sign_in(registry, a.token())
    refused = json_sign_in(registry, b.token())

    assert kept["statusCode"] == 302
    assert (refused["statusCode"], error_code(refused)) == (503, "partner_unavailable")


def test_during_a_registry_outage_a_known_record_is_held_for_a_cache_period(registry: Registry) -> None:
    a = registry.partners["campus-a"]
    assert sign_in(registry, a.token())["statusCode"] == 302
    registry.pass_cache_age()  # the next request reads the record again

    registry.dynamodb.delete_table(TableName=REGISTRY_TABLE)
    lookups = len(registry.get_items)
    answers = [sign_in(registry, a.token())["statusCode"] for _ in range(5)]

    assert answers == [302] * 5
    assert len(registry.get_items) == lookups + 1  # one failed read, then the record is held


# ---- one partner's outage is its own ---------------------------------------------------------------
def test_a_jwks_outage_at_a_does_not_stop_b(registry: Registry, jwks_server: HTTPServer) -> None:
    a, b = registry.partners["campus-a"], registry.partners["campus-b"]
    # pytest-httpserver answers the first matching handler: A's JWKS now fails.
    jwks_server.clear()
    jwks_server.expect_request("/campus-a/jwks.json").respond_with_data("down", status=503)
    issuer_b = b.issuer
    jwks_server.expect_request("/campus-b/.well-known/openid-configuration").respond_with_json(
        {"issuer": issuer_b, "jwks_uri": jwks_server.url_for("/campus-b/jwks.json")}
    )
    assert b.key is not None
    jwks_server.expect_request("/campus-b/jwks.json").respond_with_json({"keys": [b.key.jwk]})

    refused = json_sign_in(registry, a.token())
    signed_in = sign_in(registry, b.token())

    assert (refused["statusCode"], error_code(refused)) == (503, "keys_unavailable")
    assert signed_in["statusCode"] == 302
    assert a.api.calls == [] and len(b.api.calls) == 1


# ---- each partner's own error pages ------------------------------------------------------------------
def test_error_pages_are_the_token_partners_own(registry: Registry) -> None:
    a, b = registry.partners["campus-a"], registry.partners["campus-b"]
    registry.put(a, error_redirect_url="https://portal.campus-a.test/sso-error")
    registry.put(b, troubleshooting_url="https://help.campus-b.test/guide")

    to_a = sign_in(registry, a.token(exp=int(time.time()) - 3600, iat=int(time.time()) - 3700))
    page_b = sign_in(registry, b.token(aud="nobody"))

    assert to_a["statusCode"] == 302
    location = urlsplit(to_a["headers"]["Location"])
    assert (location.netloc, location.path) == ("portal.campus-a.test", "/sso-error")
    assert parse_qs(location.query)["error"] == ["token_expired"]
    assert page_b["statusCode"] == 401
    assert "https://help.campus-b.test/guide#invalid_audience" in page_b["body"]
    assert "portal.campus-a.test" not in page_b["body"]


def test_metrics_carry_the_partner_beside_the_unchanged_ones(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = registry.partners["campus-a"], registry.partners["campus-b"]

    sign_in(registry, a.token())
    json_sign_in(registry, b.token(aud="nobody"))

    metrics = metric_names(capsys.readouterr().out)
    [redirect] = metrics["SsoRedirectByPartner"]
    [refusal] = metrics["SsoRefusedByPartner"]
    assert redirect["partner"] == "campus-a"
    assert refusal["partner"] == "campus-b"
    assert redirect["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "partner"]]
    [plain_refusal] = metrics["SsoRefused"]
    assert plain_refusal["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "reason"]]
    assert "SsoRedirect" in metrics


def test_each_partner_has_its_own_key_cache(registry: Registry) -> None:
    a, b = registry.partners["campus-a"], registry.partners["campus-b"]
    sign_in(registry, a.token())
    sign_in(registry, b.token())
    directory = registry.sso.container.service.partners

    found_a, found_b = directory.find(a.issuer), directory.find(b.issuer)

    assert found_a.keys is not found_b.keys
    assert found_a.partner_api is not found_b.partner_api
    assert found_a.secrets[0] is not found_b.secrets[0]
    assert directory.find(a.issuer) is found_a  # wired once per record, kept while it is unchanged
    assert dataclasses.fields(found_a)  # a plain dataclass the LTI launch can read


def test_an_over_long_issuer_is_refused_without_a_lookup(registry: Registry) -> None:
    a = registry.partners["campus-a"]

    response = json_sign_in(registry, a.token(iss="https://x.test/" + "a" * 600))

    assert (response["statusCode"], error_code(response)) == (401, "invalid_issuer")
    assert registry.get_items == []


def test_unknown_issuers_are_remembered_for_a_while_and_in_bounded_number(registry: Registry) -> None:
    directory = registry.sso.container.service.partners
    directory._negative_entries = 3  # type: ignore[attr-defined]
    strangers = [f"https://stranger-{n}.test" for n in range(4)]

    for issuer in strangers:  # the fourth pushes the first out
        with pytest.raises(InvalidIssuer):
            directory.find(issuer)
    for issuer in [*strangers[1:], strangers[0]]:  # the last three remembered; the first asked again
        with pytest.raises(InvalidIssuer):
            directory.find(issuer)
    registry.clock.advance(31)  # past the 30 s a stranger is remembered
    with pytest.raises(InvalidIssuer):
        directory.find(strangers[3])

    assert registry.get_items == [*strangers, strangers[0], strangers[3]]


def test_a_partner_added_after_its_issuer_was_unknown_signs_in_once_the_memory_lapses(
    registry: Registry,
) -> None:
    a = registry.partners["campus-a"]
    registry.dynamodb.delete_item(TableName=REGISTRY_TABLE, Key={"issuer": {"S": a.issuer}})
    assert json_sign_in(registry, a.token())["statusCode"] == 401

    registry.put(a)
    remembered = json_sign_in(registry, a.token())
    registry.clock.advance(31)  # past the 30 s an unknown issuer is remembered
    signed_in = sign_in(registry, a.token())

    assert remembered["statusCode"] == 401
    assert signed_in["statusCode"] == 302


def test_a_snapstart_restore_reads_and_wires_registry_partners_again(
    registry: Registry, jwks_server: HTTPServer
) -> None:
    a = registry.partners["campus-a"]
    assert sign_in(registry, a.token())["statusCode"] == 302
    directory = registry.sso.container.service.partners
    before = directory.find(a.issuer)
    lookups = len(registry.get_items)

    registry.sso.container.after_restore()
    assert before.secrets[0]._value is None  # the snapshot's API key forgotten (its source is shared)
    signed_in = sign_in(registry, a.token())

    assert signed_in["statusCode"] == 302
    assert len(registry.get_items) == lookups + 1  # the record read again, not the snapshot's
    after = directory.find(a.issuer)
    assert after is not before  # wired again from the record read after the restore


def test_a_token_naming_the_key_of_another_kind_of_record_is_from_no_partner(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    a = registry.partners["campus-a"]
    key = f"lti|{a.issuer}|client-1"
    put_record(registry.dynamodb, {"kind": "lti", "client_id": "client-1"}, key=key)

    response = json_sign_in(registry, a.token(iss=key))

    assert (response["statusCode"], error_code(response)) == (401, "invalid_issuer")
    assert "not a partner's" in summaries(caplog)[-1]["detail"]
    assert a.api.calls == []


def test_an_issuer_at_the_records_limit_is_looked_up_and_signs_in(registry: Registry) -> None:
    # The tool and the function share one limit (handler.partner_record.RECORD_LIMITS): a record
    # the tool accepts is one the function finds, and one character more is refused by both.
    a = registry.partners["campus-a"]
    issuer = "https://idp.test/" + "i" * (RECORD_LIMITS["issuer"] - 17)
    a.issuer = issuer
    registry.put(a, issuer=issuer)

    assert sign_in(registry, a.token())["statusCode"] == 302
    too_long = json_sign_in(registry, a.token(iss=issuer + "i"))
    assert (too_long["statusCode"], error_code(too_long)) == (401, "invalid_issuer")


# ---- a record cannot send its org's API key to another host, nor use another org's key -----------------
@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (
            {"bi_base_url": "https://attacker.example"},
            "bi_base_url must be 'https://campus-a.biginterview.com'",
        ),
        (
            {"api_key_secret_id": "big-interview-sso/campus-b/api-key"},
            "api_key_secret_id must name a secret under 'big-interview-sso/campus-a/'",
        ),
    ],
    ids=["another-host", "another-orgs-secret"],
)
def test_a_record_naming_another_host_or_another_orgs_secret_refuses_and_sends_no_key(
    registry: Registry, caplog: pytest.LogCaptureFixture, changes: dict[str, str], problem: str
) -> None:
    a, b = registry.partners["campus-a"], registry.partners["campus-b"]
    registry.put(a, **changes)

    refused = json_sign_in(registry, a.token())

    assert (refused["statusCode"], error_code(refused)) == (503, "partner_unavailable")
    assert problem in summaries(caplog)[-1]["detail"]
    assert a.api.calls == [] and b.api.calls == []


def test_without_the_local_stacks_setting_a_loopback_base_url_is_refused(
    registry: Registry, base_env: dict[str, str], ca_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # As deployed (template.yaml never sets REGISTRY_LOOPBACK_BASE_URLS): the fixture's records
    # name loopback Partner APIs, so none may be used.
    config = load_config({**base_env, "PARTNER_REGISTRY_TABLE": REGISTRY_TABLE})
    container = Container.build(config, new_http_pool(ca_certs=str(ca_file)), new_telemetry())
    deployed = Sso(config, container.handler(), container)
    a = registry.partners["campus-a"]

    refused = deployed(http_event(query={"jwt": a.token()}, headers={"accept": "application/json"}))

    assert (refused["statusCode"], error_code(refused)) == (503, "partner_unavailable")
    assert "bi_base_url must be 'https://campus-a.biginterview.com'" in summaries(caplog)[-1]["detail"]
    assert a.api.calls == []


def test_in_a_lasting_registry_outage_a_known_record_is_used_for_the_stale_seconds_only(
    registry: Registry,
) -> None:
    # A partner disabled just before the outage must not stay accepted as long as the outage lasts.
    a = registry.partners["campus-a"]
    assert sign_in(registry, a.token())["statusCode"] == 302  # the record read now

    registry.dynamodb.delete_table(TableName=REGISTRY_TABLE)  # every GetItem now fails
    registry.clock.advance(STALE_SECONDS)  # past the cache age, at the stale bound
    held = sign_in(registry, a.token())
    registry.clock.advance(1)
    refused = json_sign_in(registry, a.token())

    assert held["statusCode"] == 302
    assert (refused["statusCode"], error_code(refused)) == (503, "partner_unavailable")


def test_an_invalid_records_refusals_are_labelled_by_its_partner_id(
    registry: Registry, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # So the per-partner refusal alarm names the broken partner, not "unknown".
    a = registry.partners["campus-a"]
    registry.put(a, leeway_seconds="thirty")

    refused = json_sign_in(registry, a.token())

    assert error_code(refused) == "partner_unavailable"
    assert summaries(caplog)[-1]["partner"] == "campus-a"
    [refusal] = metric_names(capsys.readouterr().out)["SsoRefusedByPartner"]
    assert refusal["partner"] == "campus-a"


def test_an_invalid_record_without_a_valid_partner_id_is_labelled_unknown(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    a = registry.partners["campus-a"]
    a.record = {**a.record, "partner": "Not An Id!"}
    registry.put(a, leeway_seconds="thirty")

    json_sign_in(registry, a.token())

    assert summaries(caplog)[-1]["partner"] == "unknown"
