"""Secrets from AWS Secrets Manager: a boto3 client with a TTL cache.

``SecretsManagerFetcher`` is the slice of Powertools' ``SecretsProvider`` we
used (a TTL cache and ``force_fetch``) written out, because importing
``aws_lambda_powertools.utilities.parameters`` also imports its AppConfig, SSM
and DynamoDB providers: about 60 ms of cold start for nothing (``make bench``).
``SecretSource`` adds what a sign-in path needs: keep serving the last good
value when Secrets Manager fails (an outage must not become a sign-in outage
while we hold a key), and parse each secret value once rather than on every
request.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Protocol

from handler.errors import SecretUnavailable
from handler.telemetry import Telemetry


class SecretFetcher(Protocol):
    """What ``SecretSource`` needs: ``get(name, max_age=..., force_fetch=...)``."""

    def get(self, name: str, **options: Any) -> object: ...


class SecretsManagerFetcher:
    """``GetSecretValue`` through ``client``, each value cached for ``max_age`` seconds."""

    def __init__(self, client: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self._clock = clock
        self._cache: dict[str, tuple[float, str | bytes]] = {}
        self._lock = threading.Lock()

    def get(self, name: str, *, max_age: float = 5, force_fetch: bool = False, **_: Any) -> str | bytes:
        """The secret's current string (or binary) value, from the cache while it is fresh."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(name)
        if cached is not None and not force_fetch and now < cached[0]:
            return cached[1]
        response = self.client.get_secret_value(SecretId=name)
        value: str | bytes = (
            response["SecretString"] if "SecretString" in response else response["SecretBinary"]
        )
        with self._lock:
            self._cache[name] = (now + max_age, value)
        return value


def secrets_manager_fetcher(telemetry: Telemetry | None = None) -> SecretsManagerFetcher:
    """A fetcher with short timeouts; ``AWS_ENDPOINT_URL`` points it at moto locally.

    Each real ``GetSecretValue`` call (not a cache hit) is counted through botocore's
    event hooks; with tracing on, the X-Ray botocore patch gives it a subsegment.
    """
    # Imported here: boto3 costs ~100 ms of cold start, and is only needed on
    # the first request that reaches Secrets Manager (or in SnapStart's before_snapshot).
    import boto3
    from botocore.config import Config as BotoConfig

    boto_config = BotoConfig(
        connect_timeout=2, read_timeout=3, retries={"mode": "standard", "max_attempts": 2}
    )
    client = boto3.client("secretsmanager", config=boto_config)
    if telemetry is not None:
        client.meta.events.register(
            "after-call.secrets-manager.GetSecretValue",
            lambda **_: telemetry.secret_fetched(),
        )
    return SecretsManagerFetcher(client)


@lru_cache(maxsize=8)
def parse_secret_value(raw: str) -> str:
    """The key inside a secret: the bare string, or the ``api_key`` of a JSON object.

    Cached on the raw text, so a value is parsed once however often it is read.
    """
    text = raw.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            raise ValueError("the secret looks like JSON but does not parse") from None
        value = document.get("api_key") if isinstance(document, dict) else None
        if not isinstance(value, str) or not value.strip():
            raise ValueError('the secret\'s JSON has no "api_key" string')
        return value.strip()
    if not text:
        raise ValueError("the secret is empty")
    return text


class SecretSource:
    """Reads one secret, cached for ``max_age`` seconds, falling back to the last good value."""

    def __init__(
        self,
        secret_id: str,
        fetcher_factory: Callable[[], SecretFetcher],
        max_age: int,
    ) -> None:
        self._secret_id = secret_id
        self._fetcher_factory = fetcher_factory
        self._fetcher: SecretFetcher | None = None
        self._max_age = max_age
        self._last_good: str | None = None
        self._refetch = False  # set after a SnapStart restore: the next read goes to Secrets Manager
        self._lock = threading.Lock()

    def get(self, *, force_fetch: bool = False) -> str:
        """The secret's value; ``force_fetch`` bypasses the cache (after a key rotation)."""
        try:
            raw = self._fetcher_instance().get(
                self._secret_id, max_age=self._max_age, force_fetch=force_fetch or self._refetch
            )
            if isinstance(raw, bytes):
                raw = raw.decode("utf-8")
            if not isinstance(raw, str):
                raise TypeError("the secret is not a string")
            value = parse_secret_value(raw)
        except Exception as error:  # noqa: BLE001 - any failure falls back the same way
            if self._last_good is not None:
                return self._last_good
            # Nothing to fall back on: the next read goes to Secrets Manager again, so a
            # fixed secret works at once rather than when the cached copy expires.
            self._refetch = True
            # Our own and botocore's messages name the failure, never the value.
            # The answer says only which kind of failure: the secret's name and endpoint are the operator's.
            raise SecretUnavailable(
                f"the service could not read its secret from Secrets Manager ({type(error).__name__})",
                log_detail=f"secret {self._secret_id!r}: {type(error).__name__}: {str(error)[:200]}",
            ) from None
        self._last_good = value
        self._refetch = False
        return value

    def forget_value(self) -> None:
        """Make the next read go to Secrets Manager, with no fallback to the old value."""
        with self._lock:
            self._last_good = None
            self._refetch = True

    def warm_client(self) -> None:
        """Create the client now (before a SnapStart snapshot), without reading the secret."""
        self._fetcher_instance()

    def _fetcher_instance(self) -> SecretFetcher:
        # Created on first use, once per container (boto3 client creation is slow).
        with self._lock:
            if self._fetcher is None:
                self._fetcher = self._fetcher_factory()
            return self._fetcher
