"""SecretSource and parse_secret_value against Secrets Manager in moto.

GetSecretValue calls are counted where they leave boto3 (a botocore ``before-call``
hook on the real client), so the source's own cache is part of what is tested.
The last tests run moto as a real server on loopback and stop it, for outages.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from handler.aws_clients import AwsClients
from handler.errors import SecretUnavailable
from handler.secret_source import SecretSource, parse_secret_value
from tests import leakcheck
from tests.conftest import SECRET_ID
from tests.support import API_KEY, ROTATED_API_KEY
from tests.support.moto import start_moto, stop_moto
from tests.support.ports import free_port


class CountingProviders:
    """The production client factory (``AwsClients``), counting clients made, API calls sent,
    and calls that never got an answer (connection errors)."""

    def __init__(self) -> None:
        self.created = 0
        self.api_calls = 0
        self.unanswered = 0
        self._clients = AwsClients(make=self._make)

    def __call__(self) -> Any:
        return self._clients.client("secretsmanager")

    def _make(self, service: str) -> Any:
        self.created += 1
        provider = AwsClients().client(service)
        events = provider.meta.events
        events.register("before-call.secrets-manager.GetSecretValue", self._count_call)
        events.register("after-call-error.secrets-manager.GetSecretValue", self._count_unanswered)
        return provider

    def _count_call(self, **_: Any) -> None:
        self.api_calls += 1

    def _count_unanswered(self, **_: Any) -> None:
        self.unanswered += 1


@pytest.fixture
def providers() -> CountingProviders:
    return CountingProviders()


def put(aws: Any, value: str) -> None:
    aws.put_secret_value(SecretId=SECRET_ID, SecretString=value)


# ---- parse_secret_value -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (API_KEY, API_KEY),
        (f"  {API_KEY}\n", API_KEY),
        (json.dumps({"api_key": API_KEY}), API_KEY),
        (json.dumps({"api_key": f" {API_KEY} ", "note": "x"}), API_KEY),
    ],
    ids=["bare", "bare-with-whitespace", "json", "json-with-more-fields"],
)
def test_parse_secret_value_finds_the_key(raw: str, key: str) -> None:
    assert parse_secret_value(raw) == key


@pytest.mark.parametrize(
    "raw",
    ["", "   ", '{"api_key": ', '{"apikey": "x"}', '{"api_key": 12}', '{"api_key": " "}'],
    ids=["empty", "blank", "truncated-json", "no-api-key", "number", "blank-key"],
)
def test_parse_secret_value_refuses_unusable_values(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_secret_value(raw)


# ---- SecretSource ---------------------------------------------------------------------------------------
def test_bare_string_secret_is_the_key(aws: Any, providers: CountingProviders) -> None:
    put(aws, API_KEY)

    assert SecretSource(SECRET_ID, providers, max_age=300).get() == API_KEY


def test_json_secret_gives_its_api_key(aws: Any, providers: CountingProviders) -> None:
    assert SecretSource(SECRET_ID, providers, max_age=300).get() == API_KEY


def test_json_without_api_key_and_nothing_cached_is_secret_unavailable(
    aws: Any, providers: CountingProviders
) -> None:
    put(aws, json.dumps({"key": API_KEY}))

    with pytest.raises(SecretUnavailable) as raised:
        SecretSource(SECRET_ID, providers, max_age=300).get()

    assert raised.value.code == "secret_unavailable"


def test_malformed_json_secret_is_secret_unavailable(aws: Any, providers: CountingProviders) -> None:
    put(aws, '{"api_key": "' + API_KEY)

    with pytest.raises(SecretUnavailable, match="does not parse"):
        SecretSource(SECRET_ID, providers, max_age=300).get()


def test_missing_secret_is_secret_unavailable(aws: Any, providers: CountingProviders) -> None:
    with pytest.raises(SecretUnavailable, match="no-such-secret"):
        SecretSource("bi-sso/test/no-such-secret", providers, max_age=300).get()


def test_value_is_cached_for_max_age(aws: Any, providers: CountingProviders) -> None:
    source = SecretSource(SECRET_ID, providers, max_age=300)

    values = [source.get() for _ in range(5)]

    assert values == [API_KEY] * 5
    assert providers.api_calls == 1


def test_max_age_zero_reads_secrets_manager_every_time(aws: Any, providers: CountingProviders) -> None:
    source = SecretSource(SECRET_ID, providers, max_age=0)

    for _ in range(3):
        source.get()

    assert providers.api_calls == 3


def test_last_good_value_is_served_when_secrets_manager_fails(aws: Any, providers: CountingProviders) -> None:
    source = SecretSource(SECRET_ID, providers, max_age=0)  # max_age=0: no cache
    source.get()
    aws.delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)

    assert source.get() == API_KEY
    assert providers.api_calls == 2  # really asked, really failed


def test_after_a_failed_read_the_last_good_value_is_served_for_a_cache_period_without_asking(
    aws: Any, providers: CountingProviders
) -> None:
    """During an outage each request must not wait for Secrets Manager's timeout again:
    a failed read keeps the last good value for another cache period before the next try."""
    now = [0.0]
    source = SecretSource(SECRET_ID, providers, max_age=60, clock=lambda: now[0])
    source.get()
    aws.delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)
    now[0] = 61.0  # the cached value has expired

    assert [source.get() for _ in range(3)] == [API_KEY] * 3
    assert providers.api_calls == 2  # one failed read, then the fallback without asking
    now[0] = 61.0 + 60  # another cache period later, it asks again
    source.get()
    assert providers.api_calls == 3


def test_last_good_value_is_served_when_the_secret_turns_unusable(
    aws: Any, providers: CountingProviders
) -> None:
    source = SecretSource(SECRET_ID, providers, max_age=0)
    source.get()
    put(aws, '{"api_key": ')

    assert source.get() == API_KEY


def test_force_fetch_picks_up_a_rotated_value(aws: Any, providers: CountingProviders) -> None:
    source = SecretSource(SECRET_ID, providers, max_age=3600)
    source.get()
    put(aws, json.dumps({"api_key": ROTATED_API_KEY}))

    assert (source.get(), source.get(force_fetch=True)) == (API_KEY, ROTATED_API_KEY)


def test_force_fetched_value_is_then_served_from_the_cache(aws: Any, providers: CountingProviders) -> None:
    source = SecretSource(SECRET_ID, providers, max_age=3600)
    source.get()
    put(aws, json.dumps({"api_key": ROTATED_API_KEY}))
    source.get(force_fetch=True)

    assert source.get() == ROTATED_API_KEY
    assert providers.api_calls == 2


def test_provider_is_not_created_before_the_first_get(aws: Any, providers: CountingProviders) -> None:
    SecretSource(SECRET_ID, providers, max_age=300)

    assert providers.created == 0


def test_provider_is_created_once_over_many_gets(aws: Any, providers: CountingProviders) -> None:
    source = SecretSource(SECRET_ID, providers, max_age=0)

    for _ in range(3):
        source.get()
    source.get(force_fetch=True)

    assert providers.created == 1


def test_threads_that_miss_the_cache_together_make_one_call(aws: Any, providers: CountingProviders) -> None:
    source = SecretSource(SECRET_ID, providers, max_age=300)
    start = threading.Barrier(8)

    def read() -> str:
        start.wait()
        return source.get()

    with ThreadPoolExecutor(max_workers=8) as pool:
        values = list(pool.map(lambda _: read(), range(8)))

    assert values == [API_KEY] * 8
    assert (providers.created, providers.api_calls) == (1, 1)


def test_forget_value_leaves_no_fallback(aws: Any, providers: CountingProviders) -> None:
    source = SecretSource(SECRET_ID, providers, max_age=3600)
    source.get()
    source.forget_value()
    aws.delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)

    with pytest.raises(SecretUnavailable):
        source.get()


def test_forget_value_reads_secrets_manager_once_more_with_the_same_provider(
    aws: Any, providers: CountingProviders
) -> None:
    source = SecretSource(SECRET_ID, providers, max_age=3600)
    source.get()
    source.forget_value()

    source.get()
    source.get()

    assert (providers.created, providers.api_calls) == (1, 2)


@pytest.mark.parametrize(
    "raw",
    [
        '{"api_key": "sk-live-7f3a9c1e5b2d4f60',
        '{"apikey": "sk-live-7f3a9c1e5b2d4f60"}',
        '{"api_key": ["sk-live-7f3a9c1e5b2d4f60"]}',
        '{"api_key": "sk-live-7f3a9c1e5b2d4f60", }',
    ],
    ids=["truncated-json", "misnamed-field", "list-value", "trailing-comma"],
)
def test_error_message_never_contains_the_secret_value(
    aws: Any, providers: CountingProviders, raw: str
) -> None:
    secret = "sk-live-7f3a9c1e5b2d4f60"
    leakcheck.register(secret)
    put(aws, raw)

    with pytest.raises(SecretUnavailable) as raised:
        SecretSource(SECRET_ID, providers, max_age=300).get()

    assert secret not in str(raised.value)
    assert secret not in raised.value.detail


# ---- moto as a real server, stopped for outages ---------------------------------------------------------
@pytest.fixture
def moto_server(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedMotoServer]:
    """moto in server mode on loopback, holding the key; ``AWS_ENDPOINT_URL`` points botocore at it."""
    server, endpoint = start_moto()
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    yield server
    stop_moto(server)


def test_server_mode_secrets_manager_serves_the_key(
    moto_server: ThreadedMotoServer, providers: CountingProviders
) -> None:
    assert SecretSource(SECRET_ID, providers, max_age=0).get() == API_KEY


def test_secrets_manager_down_later_serves_the_cached_value(
    moto_server: ThreadedMotoServer, providers: CountingProviders
) -> None:
    source = SecretSource(SECRET_ID, providers, max_age=0)
    source.get()
    stop_moto(moto_server)

    assert source.get() == API_KEY
    assert providers.unanswered >= 1  # it really asked, and the stopped server did not answer


def test_secrets_manager_down_at_cold_start_is_secret_unavailable(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, providers: CountingProviders
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")

    with pytest.raises(SecretUnavailable, match="Could not connect"):
        SecretSource(SECRET_ID, providers, max_age=0).get()
