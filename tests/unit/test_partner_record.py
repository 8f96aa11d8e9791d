"""Registry records: validated by the environment's own rules, plus what only a record has."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from handler.config import load_config
from handler.errors import ConfigError
from handler.partner_record import FIELDS, RECORD_LIMITS, parse_partner_record, validate_partner_record
from tests.registry_support import partner_record

ISSUER = "https://idp.campus-a.test"


def problems(record: Any, issuer: str = ISSUER) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate_partner_record(issuer, record)
    return caught.value.problems


def test_a_minimal_record_gets_the_environments_defaults() -> None:
    record = validate_partner_record(ISSUER, partner_record("campus-a", ISSUER))
    environment = load_config(
        {
            "BI_ORG": "campus-a",
            "BI_API_KEY_SECRET_ID": "big-interview-sso/campus-a/api-key",
            "JWT_ISSUER": ISSUER,
            "JWT_AUDIENCE": "campus-a-sso",
        }
    )

    assert record.partner_id == "campus-a"
    assert record.enabled is True
    assert record.partner == environment.partner


@pytest.mark.parametrize(
    ("field", "value", "variable", "text"),
    [
        ("bi_org", "Not A Label", "BI_ORG", "Not A Label"),
        # (bi_base_url: a record's is its org's host, a rule the environment has not: tested below)
        ("sso_return_url", "http://evil.example", "SSO_RETURN_URL", "http://evil.example"),
        ("jwks_url", "http://idp.example/jwks", "JWT_JWKS_URL", "http://idp.example/jwks"),
        ("algorithms", ["RS256", "none"], "JWT_ALGORITHMS", "RS256,none"),
        ("algorithms", ["HS256"], "JWT_ALGORITHMS", "HS256"),
        ("user_claim", "a b", "JWT_USER_CLAIM", "a b"),
        ("max_age_seconds", 5, "JWT_MAX_AGE_SECONDS", "5"),
        ("leeway_seconds", 301, "JWT_LEEWAY_SECONDS", "301"),
        ("sso_return_url", "javascript:alert(1)", "SSO_RETURN_URL", "javascript:alert(1)"),
        (
            "return_url_allowed_origins",
            ["https://a.test/x"],
            "RETURN_URL_ALLOWED_ORIGINS",
            "https://a.test/x",
        ),
        ("error_redirect_url", "ftp://x", "ERROR_REDIRECT_URL", "ftp://x"),
    ],
)
def test_a_record_is_refused_for_exactly_what_the_environment_is_refused_for(
    field: str, value: Any, variable: str, text: str
) -> None:
    environment = {
        "BI_ORG": "campus-a",
        "BI_API_KEY_SECRET_ID": "big-interview-sso/campus-a/api-key",
        "JWT_ISSUER": ISSUER,
        "JWT_AUDIENCE": "campus-a-sso",
        variable: text,
    }
    with pytest.raises(ConfigError) as caught:
        load_config(environment)
    expected = caught.value.problems
    for name, var in FIELDS.items():
        expected = [problem.replace(var, name) for problem in expected]

    found = problems(partner_record("campus-a", ISSUER, **{field: value}))

    assert found == expected
    assert all(not any(var in problem for var in FIELDS.values()) for problem in found)


def test_every_problem_of_a_record_is_reported_together_by_field() -> None:
    record = partner_record(
        "Campus A!",
        "https://elsewhere.test",
        kind="lti",
        enabled="yes",
        audience=None,
        api_key_secret_id="prod/database",
        max_age_seconds="300",
        colour="blue",
    )

    found = problems(record)

    for start in (
        "kind must be 'partner'",
        "partner must be a short id",
        "enabled must be true or false",
        "unknown fields ['colour']",
        "issuer must be the record's key",
        "max_age_seconds must be a whole number",
        "api_key_secret_id must name a secret under 'big-interview-sso/'",
        "audience is required",
    ):
        assert any(problem.startswith(start) for problem in found), (start, found)


@pytest.mark.parametrize(
    ("secret_id", "allowed"),
    [
        ("big-interview-sso/campus-a/api-key", True),
        (
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:big-interview-sso/campus-a/api-key-AbC123",
            True,
        ),
        ("big-interview-sso/", False),
        ("big-interview-sso-other/key", False),
        ("other/big-interview-sso/key", False),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbC123", False),
    ],
)
def test_secrets_must_be_under_the_prefix(secret_id: str, allowed: bool) -> None:
    for name in ("api_key_secret_id", "hs256_secret_id"):
        record = partner_record("campus-a", ISSUER, **{name: secret_id}, algorithms=["HS256", "RS256"])
        if name == "api_key_secret_id":
            record["hs256_secret_id"] = "big-interview-sso/campus-a/hmac"
        if allowed:
            validate_partner_record(ISSUER, record)
        else:
            assert any(p.startswith(f"{name} must name a secret under") for p in problems(record))


def test_a_missing_kind_is_a_partner_and_enabled_defaults_to_true() -> None:
    record = partner_record("campus-a", ISSUER)
    del record["kind"], record["enabled"]

    parsed = validate_partner_record(ISSUER, record)

    assert parsed.enabled is True


def test_the_stored_text_must_be_a_json_object() -> None:
    with pytest.raises(ConfigError) as not_json:
        parse_partner_record(ISSUER, "{not json")
    with pytest.raises(ConfigError) as not_object:
        parse_partner_record(ISSUER, json.dumps(["a"]))

    assert not_json.value.problems == ["value is not JSON"]
    assert not_object.value.problems == ["value must be a JSON object"]


def test_lists_must_be_lists_of_strings_without_commas() -> None:
    found = problems(partner_record("campus-a", ISSUER, algorithms="RS256,ES256"))
    found_commas = problems(partner_record("campus-a", ISSUER, algorithms=["RS256,ES256"]))

    assert any(p.startswith("algorithms must be a list of strings") for p in found)
    assert any(p.startswith("algorithms must be a list of strings") for p in found_commas)


def test_the_documented_example_record_is_valid() -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "partner-registry.md"
    section = page.read_text(encoding="utf-8")
    example = json.loads(section.split("```json\n", 1)[1].split("```", 1)[0])

    record = validate_partner_record(example["issuer"], example)

    assert (record.partner_id, record.enabled) == ("campus-a", True)
    assert record.partner.destination.api_key_secret_id.startswith("big-interview-sso/")


# ---- one set of limits, for the tool and the function ------------------------------------------------
def _over(field: str, limit: int) -> Any:
    """A value of ``field`` one character over ``limit`` (a list's entries joined with commas)."""
    if field == "algorithms":
        return ["RS256"] * (limit // 6 + 1)
    if field == "return_url_allowed_origins":
        return ["https://portal.example.edu"] * (limit // 27 + 1)
    if field.endswith("_url"):
        return "https://x.test/" + "a" * (limit - 14)
    return "a" * (limit + 1)


@pytest.mark.parametrize("field", sorted(name for name in FIELDS if name in RECORD_LIMITS))
def test_every_text_field_over_its_limit_is_refused_by_its_name(field: str) -> None:
    limit = RECORD_LIMITS[field]
    record = {**partner_record("campus-a", ISSUER), field: _over(field, limit)}
    if field == "bi_base_url":  # only the local stack's loopback base URLs can be long
        record[field] = "http://127.0.0.1/" + "a" * limit
    with pytest.raises(ConfigError) as caught:
        validate_partner_record(record["issuer"], record, loopback_base_urls=True)
    found = caught.value.problems

    assert f"{field} must be at most {limit} characters" in "\n".join(found), found


def test_every_field_but_the_numbers_and_flags_has_a_limit() -> None:
    assert set(RECORD_LIMITS) == set(FIELDS) - {"max_age_seconds", "leeway_seconds"}


def test_an_issuer_and_an_audience_at_their_limit_are_valid() -> None:
    issuer = "https://idp.test/" + "i" * (RECORD_LIMITS["issuer"] - 17)
    audience = "a" * RECORD_LIMITS["audience"]
    assert len(issuer) == RECORD_LIMITS["issuer"]

    record = validate_partner_record(issuer, partner_record("campus-a", issuer, audience=audience))

    assert record.partner.tokens.issuers == (issuer,) and record.partner.tokens.audience == audience


# ---- a record cannot send an API key to another host, nor use another org's secret --------------------
@pytest.mark.parametrize(
    "base_url",
    [
        "https://attacker.example",
        "https://campus-b.biginterview.com",  # another org's host
        "https://campus-a.biginterview.com.attacker.example",
        "http://127.0.0.1:8443",  # loopback: only in the local stack, by its explicit setting
    ],
)
def test_a_records_base_url_must_be_its_orgs_big_interview_host(base_url: str) -> None:
    found = problems(partner_record("campus-a", ISSUER, bi_base_url=base_url))

    assert any(p.startswith("bi_base_url must be 'https://campus-a.biginterview.com'") for p in found), found


def test_a_records_base_url_may_be_given_as_its_orgs_own_host() -> None:
    record = validate_partner_record(
        ISSUER, partner_record("campus-a", ISSUER, bi_base_url="https://campus-a.biginterview.com/")
    )
    assert record.partner.destination.bi_base_url == "https://campus-a.biginterview.com"


def test_a_loopback_base_url_is_a_record_only_with_the_local_stacks_setting() -> None:
    record = partner_record("campus-a", ISSUER, bi_base_url="http://127.0.0.1:8443")

    allowed = validate_partner_record(ISSUER, record, loopback_base_urls=True)

    assert allowed.partner.destination.bi_base_url == "http://127.0.0.1:8443"
    with pytest.raises(ConfigError):  # still never another real host
        validate_partner_record(
            ISSUER, {**record, "bi_base_url": "https://attacker.example"}, loopback_base_urls=True
        )


@pytest.mark.parametrize("field", ["api_key_secret_id", "hs256_secret_id"])
@pytest.mark.parametrize(
    "secret_id",
    [
        "big-interview-sso/campus-b/api-key",
        "big-interview-sso/campus-a-evil/api-key",
        "big-interview-sso/campus-a",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:big-interview-sso/campus-b/api-key-AbCdEf",
    ],
)
def test_a_records_secrets_must_belong_to_its_org(field: str, secret_id: str) -> None:
    extra = {"algorithms": ["HS256"]} if field == "hs256_secret_id" else {}
    found = problems(partner_record("campus-a", ISSUER, **{field: secret_id, **extra}))

    assert any(p.startswith(f"{field} must name a secret under 'big-interview-sso/campus-a/'") for p in found)


def test_a_secret_of_its_own_org_by_name_or_arn_is_accepted() -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:big-interview-sso/campus-a/api-key-AbCdEf"
    record = validate_partner_record(ISSUER, partner_record("campus-a", ISSUER, api_key_secret_id=arn))
    assert record.partner.destination.api_key_secret_id == arn
