"""Secrets from AWS Secrets Manager: one secret, one small class, one lock.

``SecretSource`` reads a secret with ``GetSecretValue``, parses it once (the bare key, or
the ``api_key`` of a JSON object), keeps it for ``max_age`` seconds and, when Secrets
Manager fails or the secret turns unusable, keeps serving the last good value (asking
again a cache period later): an outage must not become a sign-in outage while we hold a
key. Value and expiry sit behind one lock, so threads that miss together make one call.
Why not Powertools' ``get_secret``: docs/decisions/secret-source.md.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from handler.errors import SecretUnavailable

__all__ = ["SecretSource", "parse_secret_value"]


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

    ``client`` gives the Secrets Manager client (anything with boto3's ``get_secret_value``).
    """

    def __init__(
        self,
        secret_id: str,
        client: Callable[[], Any],
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secret_id = secret_id
        self._client = client
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        # Guarded by _lock:
        self._value: str | None = None  # the last good value; None: none, or forgotten
        self._fresh_until = -math.inf  # served without asking Secrets Manager until then

    def get(self, *, force_fetch: bool = False) -> str:
        """The secret's value; ``force_fetch`` asks Secrets Manager even while it is fresh (a rotation)."""
        with self._lock:
            now = self._clock()
            if self._value is not None and not force_fetch and now < self._fresh_until:
                return self._value
            try:
                value = parse_secret_value(self._read(self._client()))
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
                    log_detail=f"secret {self.secret_id!r}: {type(error).__name__}: {str(error)[:200]}",
                ) from None
            self._value, self._fresh_until = value, now + self._max_age
            return value

    def forget_value(self) -> None:
        """Make the next read go to Secrets Manager, with no fallback to the old value."""
        with self._lock:
            self._value, self._fresh_until = None, -math.inf

    def prefetch(self, client_until: Callable[[float], Any], deadline: float) -> None:
        """Read the secret now, on a client whose waits end by ``deadline``; raises if it cannot.

        ``client_until(seconds)`` makes that client (``AwsClients.uncached``): one attempt, so it
        cannot hold INIT past its bound. A failure keeps nothing: the first request reads as always.
        """
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no time left before the prefetch's bound")
        value = parse_secret_value(self._read(client_until(left / 2)))
        with self._lock:
            if self._value is None:  # a request that got there first keeps its own
                self._value, self._fresh_until = value, self._clock() + self._max_age

    def _read(self, client: Any) -> str:
        """One ``GetSecretValue``: the secret's text."""
        response = client.get_secret_value(SecretId=self.secret_id)
        raw = response["SecretString"] if "SecretString" in response else response["SecretBinary"]
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        if not isinstance(raw, str):
            raise TypeError("the secret is not a string")
        return raw
