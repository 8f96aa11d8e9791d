"""Secrets Manager faults, through the whole handler: moto in server mode behind a proxy.

The proxy (``SwitchableProxy``) makes "down" exact: live keep-alive connections
are cut and new ones reset, and it counts the connections it refused, so a test
knows the handler really went to Secrets Manager and fell back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.conftest import SECRET_ID
from tests.faults.conftest import Harness, Moto
from tests.support import API_KEY, FakePartnerApi, SigningKey, mint
from tests.support.clock import FakeClock

Build = Callable[..., Any]


def test_down_at_cold_start_is_503_then_works_once_it_is_back(
    build_sso: Build,
    harness: Callable[..., Harness],
    moto: Moto,
    partner_api: FakePartnerApi,
    jwks: Any,
    rsa_key: SigningKey,
) -> None:
    moto.proxy.set_down()
    h = harness(build_sso())

    down = h.call(mint(rsa_key))

    h.assert_refused(down, 503, "secret_unavailable")
    assert moto.proxy.refused >= 1
    assert partner_api.calls == []
    moto.proxy.set_up()
    h.sign_in(rsa_key)
    assert [call["headers"]["Authorization"] for call in partner_api.calls] == [API_KEY]


def test_down_later_serves_the_last_good_value_after_the_cache_expired(
    build_sso: Build,
    harness: Callable[..., Harness],
    moto: Moto,
    partner_api: FakePartnerApi,
    jwks: Any,
    rsa_key: SigningKey,
    clock: FakeClock,
) -> None:
    h = harness(build_sso())  # SECRET_CACHE_SECONDS: the default 300 s, on the fake clock
    h.sign_in(rsa_key)
    moto.proxy.set_down()
    h.sign_in(rsa_key)  # within the cache age: the cached value, Secrets Manager not asked
    assert moto.proxy.refused == 0
    clock.advance(h.sso.config.runtime.secret_cache_seconds)  # the cached value has expired

    h.sign_in(rsa_key)

    assert moto.proxy.refused >= 1  # it asked, got no answer, and used the last good value
    assert [call["headers"]["Authorization"] for call in partner_api.calls] == [API_KEY] * 3
    moto.proxy.set_up()
    h.sign_in(rsa_key)


def test_deleted_secret_with_nothing_cached_is_503(
    build_sso: Build,
    harness: Callable[..., Harness],
    moto: Moto,
    partner_api: FakePartnerApi,
    jwks: Any,
    rsa_key: SigningKey,
) -> None:
    moto.client().delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)
    h = harness(build_sso())

    deleted = h.call(mint(rsa_key))

    h.assert_refused(deleted, 503, "secret_unavailable")
    assert "ResourceNotFoundException" in deleted.log
    assert partner_api.calls == []
    moto.client().create_secret(Name=SECRET_ID, SecretString=json.dumps({"api_key": API_KEY}))
    h.sign_in(rsa_key)


def test_secret_holding_malformed_json_recovers_as_soon_as_it_is_fixed(
    build_sso: Build,
    harness: Callable[..., Harness],
    moto: Moto,
    partner_api: FakePartnerApi,
    jwks: Any,
    rsa_key: SigningKey,
) -> None:
    malformed = '{"api_key": "' + API_KEY + '",'  # cut short: not JSON
    moto.client().put_secret_value(SecretId=SECRET_ID, SecretString=malformed)
    h = harness(build_sso())  # SECRET_CACHE_SECONDS: the default 300 s
    broken = h.call(mint(rsa_key))
    h.assert_refused(broken, 503, "secret_unavailable")
    assert "does not parse" in broken.log
    assert partner_api.calls == []

    moto.client().put_secret_value(SecretId=SECRET_ID, SecretString=json.dumps({"api_key": API_KEY}))

    h.sign_in(rsa_key)  # a failed read keeps nothing: no cache age to wait out
