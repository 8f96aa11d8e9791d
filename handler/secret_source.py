"""Secrets from AWS Secrets Manager: one secret, one small class, one lock.

``SecretSource`` reads a secret with ``GetSecretValue``, parses it once (the
bare key, or the ``api_key`` of a JSON object), keeps the parsed value for
``max_age`` seconds, and, when Secrets Manager fails or the secret turns
unusable, keeps serving the last good value (asking again a cache period later):
an outage must not become a sign-in outage, nor a timeout on every request,
while we hold a key. The value, its expiry and the client sit
behind one lock, so a SnapStart restore's ``forget_value`` and a request never
see half an update; a fetch holds the lock too, so threads that miss the cache
together make one call, not one each.

Why not Powertools' ``parameters.get_secret`` (wrapped for the last-good
fallback)? Not cold start: the two cost the same. Measured on Python 3.13 in
fresh processes, interleaved, 50 samples each, against moto on 127.0.0.1 (load
average 0.9), after importing what the handler imports anyway (Powertools'
logger, metrics and event handler, PyJWT, urllib3, this package's errors and
telemetry): importing the secret path, creating the client and the first
``GetSecretValue`` took 237.6 ms at the median with this class and 237.6 ms
with ``SecretsProvider`` (CPU 232.0 vs 230.9 ms; p10 194 vs 177, p90 278 vs
285). Earlier runs (24 to 50 samples, load average 1 to 5) put the median
difference anywhere from -36 to +56 ms, either way round: noise. boto3 is the bulk of
both (about 80 ms to import, 110 ms to create the client). So the design
decides: the fallback needs the last good value and the parsed value anyway,
and with Powertools they would sit in a second cache beside its TTL cache,
outside its lock (threads that miss together would each fetch). Here it is
one cache behind one lock, about as much code as the wrapper would be.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from handler.aws_clients import aws_client
from handler.errors import SecretUnavailable
from handler.telemetry import Telemetry

__all__ = ["SecretSource", "parse_secret_value", "secrets_manager_client"]


def secrets_manager_client(
    telemetry: Telemetry | None = None,
    *,
    connect_timeout: float = 2,
    read_timeout: float = 3,
    retries: bool = True,
) -> Any:
    """A Secrets Manager client with short timeouts; ``AWS_ENDPOINT_URL`` points it at moto locally.

    Each real ``GetSecretValue`` call is counted through botocore's event hooks;
    with tracing on, the X-Ray botocore patch gives it a subsegment. ``retries=False``
    makes one attempt only (the INIT prefetch, whose timeouts end by its bound).
    """
    # Imported here: botocore costs ~100 ms of cold start, and is only needed on
    # the first request that reaches Secrets Manager (or during INIT's prefetch).
    from botocore.config import Config as BotoConfig

    boto_config = BotoConfig(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "max_attempts": 2} if retries else {"total_max_attempts": 1},
    )
    client = aws_client("secretsmanager", boto_config)
    if telemetry is not None:
        client.meta.events.register(
            "after-call.secrets-manager.GetSecretValue",
            lambda **_: telemetry.secret_fetched(),
        )
    return client


def parse_secret_value(raw: str) -> str:
    """The key inside a secret: the bare string, or the ``api_key`` of a JSON object."""
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
    """One secret's value: cached for ``max_age`` seconds, falling back to the last good value.

    ``client_factory`` makes the Secrets Manager client (anything with boto3's
    ``get_secret_value``) on first use, once: creating a boto3 client is slow. ``prefetch``
    calls it again with ``secrets_manager_client``'s timeout keywords.
    """

    def __init__(
        self,
        secret_id: str,
        client_factory: Callable[..., Any],
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secret_id = secret_id
        self._client_factory = client_factory
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        # Guarded by _lock:
        self._client: Any = None
        self._value: str | None = None  # the last good value; None: none, or forgotten
        self._fresh_until = -math.inf  # served without asking Secrets Manager until then

    def get(self, *, force_fetch: bool = False) -> str:
        """The secret's value; ``force_fetch`` asks Secrets Manager even while it is fresh (a rotation)."""
        with self._lock:
            now = self._clock()
            if self._value is not None and not force_fetch and now < self._fresh_until:
                return self._value
            try:
                value = parse_secret_value(self._read())
            except Exception as error:  # noqa: BLE001 - any failure falls back the same way
                if self._value is not None:
                    # Keep it for another cache period before asking again: in an outage,
                    # every request would otherwise wait out Secrets Manager's timeouts.
                    self._fresh_until = now + self._max_age
                    return self._value
                # Our own and botocore's messages name the failure, never the value. The answer
                # says only which kind of failure: the secret's name and endpoint are the operator's.
                raise SecretUnavailable(
                    f"the service could not read its secret from Secrets Manager ({type(error).__name__})",
                    log_detail=f"secret {self._secret_id!r}: {type(error).__name__}: {str(error)[:200]}",
                ) from None
            self._value, self._fresh_until = value, now + self._max_age
            return value

    def forget_value(self) -> None:
        """Make the next read go to Secrets Manager, with no fallback to the old value."""
        with self._lock:
            self._value, self._fresh_until = None, -math.inf

    def warm_client(self) -> None:
        """Create the client now (before a SnapStart snapshot), without reading the secret."""
        with self._lock:
            self._client_instance()

    def prefetch(self, deadline: float) -> None:
        """Read the secret now, ahead of the first request (handler/prefetch.py); raises if it cannot.

        The read goes through a client of its own, made by the factory with connect and
        read timeouts that end by ``deadline`` (``time.monotonic``) and one attempt, so it
        cannot hold INIT past its bound; the cached client keeps its usual timeouts and
        retries. A failure keeps nothing (no value, no fallback period): the first request
        reads the secret as it always did.
        """
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no time left before the prefetch's bound")
        client = self._client_factory(connect_timeout=left / 2, read_timeout=left / 2, retries=False)
        value = parse_secret_value(self._read(client))
        with self._lock:
            if self._value is None:  # a request that got there first keeps its own
                self._value, self._fresh_until = value, self._clock() + self._max_age

    def _read(self, client: Any = None) -> str:
        """One ``GetSecretValue`` (on ``client``, or the cached one under the lock): the secret's text."""
        client = client if client is not None else self._client_instance()
        response = client.get_secret_value(SecretId=self._secret_id)
        raw = response["SecretString"] if "SecretString" in response else response["SecretBinary"]
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        if not isinstance(raw, str):
            raise TypeError("the secret is not a string")
        return raw

    def _client_instance(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client
