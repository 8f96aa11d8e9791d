"""Big Interview's Partner API: ``POST /api/users/{partner_id}`` for an SSO token.

One module-level urllib3 pool (passed in) keeps the TLS connection open across
warm invocations. urllib3's ``Retry`` does the retrying: the call is idempotent
(it creates or refreshes the user), so connection errors, 429 and 502/503/504
are retried at most twice, honouring ``Retry-After`` up to 2 s.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import urllib3
from urllib3.util import Retry

from handler import __version__
from handler.errors import PartnerApiError, PartnerApiTimeout
from handler.secrets import SecretSource

USER_AGENT = f"big-interview-sso-redirector/{__version__}"
MAX_RESPONSE_BYTES = 1024 * 1024
CONNECT_TIMEOUT = 2.0
# Time kept back from Lambda's deadline to log and answer 504 before Lambda kills us.
DEADLINE_MARGIN_SECONDS = 0.5
# Below this, starting a call is pointless: it could not finish.
MIN_CALL_SECONDS = 0.25
RETRY = Retry(
    total=2,
    connect=2,
    read=0,  # a read timeout already spent the time budget; do not double it
    status=2,
    other=0,
    allowed_methods=None,  # POST is safe to retry: the call is idempotent
    status_forcelist=(429, 502, 503, 504),
    backoff_factor=0.1,
    backoff_max=1.0,
    retry_after_max=2,
    raise_on_status=False,  # hand the last answer back, so we can report its status
    redirect=False,
)


class PartnerApiClient:
    """Gets SSO tokens from the Partner API with the org's API key."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretSource,
        http: urllib3.PoolManager,
        read_timeout: float,
    ) -> None:
        self._base_url = base_url
        self._api_key = api_key
        self._http = http
        self._read_timeout = read_timeout

    def sso_token(
        self, partner_id: str, profile: dict[str, str], remaining_seconds: Callable[[], float]
    ) -> tuple[str, int]:
        """The SSO token for ``partner_id`` and the Partner API's status.

        ``partner_id`` must already match ``^[A-Za-z0-9_-]{1,64}$`` (it goes in the path).
        On 401/403 the key is read again from Secrets Manager and the call made once more,
        so a rotated key needs no redeploy.
        """
        body = json.dumps(profile).encode("utf-8")
        status, document = self._post(partner_id, body, self._api_key.get(), remaining_seconds)
        if status in (401, 403):
            status, document = self._post(
                partner_id, body, self._api_key.get(force_fetch=True), remaining_seconds
            )
        if status not in (200, 201):
            raise PartnerApiError(f"Partner API answered {status}")
        token = _token_in(document)
        if token is None:
            raise PartnerApiError(f"Partner API answered {status} without user.token.token")
        return token, status

    def _post(
        self, partner_id: str, body: bytes, api_key: str, remaining_seconds: Callable[[], float]
    ) -> tuple[int, Any]:
        budget = remaining_seconds() - DEADLINE_MARGIN_SECONDS
        if budget < MIN_CALL_SECONDS:
            raise PartnerApiTimeout(f"only {budget:.2f} s left before the Lambda deadline")
        timeout = urllib3.Timeout(connect=min(CONNECT_TIMEOUT, budget), read=min(self._read_timeout, budget))
        try:
            response = self._http.request(
                "POST",
                f"{self._base_url}/api/users/{partner_id}",
                body=body,
                headers={
                    "Authorization": api_key,
                    "Accept": "application/json",
                    "Content-Type": "application/json",
                    "User-Agent": USER_AGENT,
                },
                timeout=timeout,
                retries=RETRY,
                preload_content=False,
            )
        except (urllib3.exceptions.TimeoutError, urllib3.exceptions.MaxRetryError) as error:
            reason = getattr(error, "reason", error)
            if isinstance(error, urllib3.exceptions.TimeoutError) or isinstance(
                reason, urllib3.exceptions.TimeoutError
            ):
                raise PartnerApiTimeout(f"Partner API timed out: {type(reason).__name__}") from None
            raise PartnerApiError(f"Partner API unreachable: {type(reason).__name__}") from None
        except urllib3.exceptions.HTTPError as error:
            raise PartnerApiError(f"Partner API call failed: {type(error).__name__}") from None
        try:
            raw = response.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
            if len(raw) > MAX_RESPONSE_BYTES:
                response.close()  # do not read (or pool) the rest of an oversized answer
                raise PartnerApiError(f"Partner API answer is larger than {MAX_RESPONSE_BYTES} bytes")
        except urllib3.exceptions.ReadTimeoutError:
            raise PartnerApiTimeout("Partner API timed out while sending its answer") from None
        except urllib3.exceptions.HTTPError as error:
            raise PartnerApiError(f"Partner API answer broke off: {type(error).__name__}") from None
        finally:
            response.release_conn()
        try:
            document = json.loads(raw) if raw else None
        except ValueError:
            document = None
        return response.status, document


def _token_in(document: Any) -> str | None:
    """``user.token.token`` if it is a non-empty string."""
    try:
        token = document["user"]["token"]["token"]
    except (KeyError, TypeError):
        return None
    return token if isinstance(token, str) and token else None
