"""load_config: the configuration contract, validated once, every problem reported together."""

from __future__ import annotations

import pytest

from handler.config import load_config
from handler.errors import ConfigError

MINIMAL = {
    "BI_ORG": "xyz",
    "BI_API_KEY_SECRET_ID": "bi-sso/prod/api-key",
    "JWT_ISSUER": "https://idp.partner.edu",
    "JWT_AUDIENCE": "big-interview-sso",
}


def problems(**env: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    return caught.value.problems


def test_minimal_configuration_gets_documented_defaults() -> None:
    config = load_config(MINIMAL)

    assert config.partner.destination.bi_base_url == "https://xyz.biginterview.com"
    assert config.partner.tokens.algorithms == ("RS256", "ES256")
    assert config.partner.tokens.user_claim == "sub"
    assert config.partner.tokens.max_age_seconds == 300
    assert config.partner.tokens.leeway_seconds == 30
    assert config.runtime.partner_api_timeout_seconds == 5
    assert config.runtime.secret_cache_seconds == 300
    assert config.partner.tokens.jwks_url is None
    assert not config.partner.tokens.hs256_enabled


def test_every_missing_required_variable_is_reported_together() -> None:
    found = problems()

    for name in ("BI_ORG", "BI_API_KEY_SECRET_ID", "JWT_ISSUER", "JWT_AUDIENCE"):
        assert any(p.startswith(name) for p in found), name


def test_several_bad_values_are_reported_by_variable_name() -> None:
    found = problems(
        **{
            **MINIMAL,
            "BI_ORG": "Not A Label",
            "JWT_MAX_AGE_SECONDS": "five",
            "JWT_LEEWAY_SECONDS": "9999",
            "JWT_ALGORITHMS": "RS256,none",
            "BI_BASE_URL": "http://evil.example",
        }
    )

    assert [p.split(" ", 1)[0] for p in found] == [
        "BI_ORG",
        "BI_BASE_URL",
        "JWT_ALGORITHMS",
        "JWT_MAX_AGE_SECONDS",
        "JWT_LEEWAY_SECONDS",
    ]


def test_message_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({})

    assert "BI_ORG is required" in str(caught.value)
    assert "JWT_AUDIENCE is required" in str(caught.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:3002", "http://localhost:3002", "https://sandbox.test"])
def test_base_url_may_be_https_or_loopback_http(url: str) -> None:
    assert load_config({**MINIMAL, "BI_BASE_URL": url + "/"}).partner.destination.bi_base_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1",
        "ftp://x.test",
        "https://user:pw@x.test",
        "not a url",
        # An IPv4-mapped IPv6 address is loopback for Python 3.13's ipaddress and not for
        # 3.11's: refused on both, so the Lambda runtime and an operator's tools agree.
        "http://[::ffff:127.0.0.1]:9001",
    ],
)
def test_base_url_that_is_not_https_or_loopback_is_refused(url: str) -> None:
    assert any(p.startswith("BI_BASE_URL") for p in problems(**MINIMAL, BI_BASE_URL=url))


def test_issuer_list_is_split_on_commas() -> None:
    config = load_config({**MINIMAL, "JWT_ISSUER": "https://a.test, https://b.test"})

    assert config.partner.tokens.issuers == ("https://a.test", "https://b.test")


def test_issuer_must_be_a_url_when_the_jwks_is_discovered() -> None:
    found = problems(**{**MINIMAL, "JWT_ISSUER": "partner-idp"})

    assert any("discovered" in p for p in found)


def test_issuer_may_be_any_string_with_a_configured_jwks_url() -> None:
    env = {**MINIMAL, "JWT_ISSUER": "partner-idp", "JWT_JWKS_URL": "https://idp.test/jwks.json"}

    assert load_config(env).partner.tokens.issuers == ("partner-idp",)


def test_hs256_needs_its_secret() -> None:
    assert any("JWT_HS256_SECRET_ID" in p for p in problems(**MINIMAL, JWT_ALGORITHMS="HS256"))


def test_hs256_is_enabled_only_when_listed_and_configured() -> None:
    listed = load_config({**MINIMAL, "JWT_ALGORITHMS": "RS256,HS256", "JWT_HS256_SECRET_ID": "hs"})
    unlisted = load_config({**MINIMAL, "JWT_HS256_SECRET_ID": "hs"})

    assert listed.partner.tokens.hs256_enabled
    assert not unlisted.partner.tokens.hs256_enabled


def test_sso_return_url_origin_is_allowed_for_return_urls() -> None:
    config = load_config(
        {
            **MINIMAL,
            "SSO_RETURN_URL": "https://portal.example.edu/home",
            "RETURN_URL_ALLOWED_ORIGINS": "https://careers.example.edu",
        }
    )

    assert config.partner.destination.return_url_allowed_origins == (
        "https://careers.example.edu",
        "https://portal.example.edu",
    )


def test_return_url_allow_list_takes_origins_only() -> None:
    found = problems(**MINIMAL, RETURN_URL_ALLOWED_ORIGINS="https://portal.example.edu/path")

    assert any(p.startswith("RETURN_URL_ALLOWED_ORIGINS") for p in found)


def test_empty_values_count_as_unset() -> None:
    config = load_config({**MINIMAL, "JWT_JWKS_URL": "", "SSO_RETURN_URL": " ", "JWT_ALGORITHMS": ""})

    assert config.partner.tokens.jwks_url is None
    assert config.partner.destination.sso_return_url is None
    assert config.partner.tokens.algorithms == ("RS256", "ES256")


def test_partner_api_timeout_is_bounded() -> None:
    assert any(
        p.startswith("PARTNER_API_TIMEOUT_SECONDS")
        for p in problems(**MINIMAL, PARTNER_API_TIMEOUT_SECONDS="60")
    )


def test_user_claim_must_look_like_a_claim_name() -> None:
    assert any(p.startswith("JWT_USER_CLAIM") for p in problems(**MINIMAL, JWT_USER_CLAIM="a b"))


def test_jwks_key_expiry_defaults_to_600_s_and_a_stale_window_of_a_day() -> None:
    config = load_config(MINIMAL)

    assert (config.runtime.jwks_max_age_seconds, config.runtime.jwks_stale_seconds) == (600, 86400)


def test_a_registry_record_is_used_through_an_outage_for_15_minutes_by_default() -> None:
    assert load_config(MINIMAL).runtime.partner_registry_stale_seconds == 900


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JWKS_MAX_AGE_SECONDS", "59"),  # below the 60 s floor a partner's Cache-Control also has
        ("JWKS_MAX_AGE_SECONDS", "86401"),
        ("JWKS_MAX_AGE_SECONDS", "ten"),
        ("JWKS_STALE_SECONDS", "-1"),
        ("JWKS_STALE_SECONDS", "604801"),
        ("PARTNER_REGISTRY_STALE_SECONDS", "-1"),
        ("PARTNER_REGISTRY_STALE_SECONDS", "86401"),
    ],
)
def test_jwks_key_expiry_out_of_range_is_refused_by_name(name: str, value: str) -> None:
    assert [p.split(" ", 1)[0] for p in problems(**{**MINIMAL, name: value})] == [name]


@pytest.mark.parametrize(
    "url",
    ["https://[idp.example", "https://idp.example]/", "https://idp.example\uff0f@evil/", "https://idp:x/"],
)
def test_an_unparseable_url_is_reported_not_raised(url: str) -> None:
    assert [p.split(" ", 1)[0] for p in problems(**{**MINIMAL, "BI_BASE_URL": url})] == ["BI_BASE_URL"]


LTI_PLATFORM = {
    "LTI_STATE_TABLE_NAME": "states",
    "LTI_ISSUER": "https://lms.example.edu",
    "LTI_CLIENT_ID": "client-1",
    "LTI_DEPLOYMENT_IDS": "1:abc",
    "LTI_AUTH_URL": "https://lms.example.edu/auth",
    "LTI_JWKS_URL": "https://lms.example.edu/jwks",
}


def test_with_lti_on_and_no_jwt_issuer_the_deployment_is_launch_only() -> None:
    env = {"BI_ORG": "xyz", "BI_API_KEY_SECRET_ID": "bi-sso/key", **LTI_PLATFORM}

    config = load_config({**env, "JWT_AUDIENCE": "unused"})

    assert config.partner.tokens.issuers == ()  # no partner token is accepted
    assert config.partner.tokens.jwks_url is None  # nothing of the partner flow to fetch
    assert config.partner.destination.bi_org == "xyz"  # the org the platform's students go to
    assert config.lti is not None and config.lti.registration is not None


def test_without_lti_the_partners_jwt_settings_stay_required() -> None:
    found = problems(BI_ORG="xyz", BI_API_KEY_SECRET_ID="bi-sso/key")

    assert "JWT_ISSUER is required" in found
    assert "JWT_AUDIENCE is required" in found
