"""Big Interview's Partner API: ``POST /api/users/{partner_id}`` for an SSO token, and
``GET /api/users/{partner_id}/tracks`` for a user's progress (grade passback).

Both calls are idempotent (it creates or refreshes the user), so connection errors, 429 and
502/503/504 are retried at most twice, honouring ``Retry-After`` up to 2 s. The loop is ours,
not urllib3's ``Retry``, which cannot see Lambda's deadline: every attempt's timeouts are cut
to the time left, and no attempt starts that could not finish.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable
from typing import Any

import urllib3
from urllib3.util import Retry

from handler import __version__
from handler.config import ErrorPages
from handler.errors import PartnerApiError, PartnerApiTimeout, ProfileRequired
from handler.secret_source import SecretSource
from handler.telemetry import Telemetry
from handler.untrusted import parse_json

__all__ = [
    "PartnerApiClient",
]

USER_AGENT = f"big-interview-sso-redirector/{__version__}"
MAX_RESPONSE_BYTES = 1024 * 1024
CONNECT_TIMEOUT = 2.0
# Time kept back from Lambda's deadline to log and answer 504 before Lambda kills us.
DEADLINE_MARGIN_SECONDS = 0.5
# Below this, starting a call is pointless: it could not finish.
MIN_CALL_SECONDS = 0.25
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
BACKOFF_SECONDS = (0.1, 0.2)  # before the first and the second retry
RETRY_AFTER = Retry(retry_after_max=2)  # parses Retry-After (seconds or HTTP date), capped at 2 s
# The documented tokens are 8 to 64 hex characters; 4096 keeps the Location header well
# inside the 8 KiB that proxies and browsers commonly accept.
MAX_TOKEN_LENGTH = 4096
# The token's claim for each profile field Big Interview needs to create a user.
PROFILE_FIELDS = {"first_name": "given_name", "last_name": "family_name", "email": "email"}


class PartnerApiClient:
    """Gets SSO tokens from the Partner API with the org's API key."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretSource,
        http: urllib3.PoolManager,
        read_timeout: float,
        sleep: Callable[[float], None] = time.sleep,
        telemetry: Telemetry | None = None,
        pages: ErrorPages | None = None,
    ) -> None:
        self._pages = pages or ErrorPages()
        self._base_url = base_url
        self._api_key = api_key
        self._http = http
        self._read_timeout = read_timeout
        self._sleep = sleep
        self._telemetry = telemetry or Telemetry()

    def sso_token(
        self, partner_id: str, profile: dict[str, str], remaining_seconds: Callable[[], float]
    ) -> tuple[str, int]:
        """The SSO token for ``partner_id`` and the Partner API's status.

        ``partner_id`` must already match ``^[A-Za-z0-9_-]{1,64}$`` (it goes in the path).
        On 401/403 the key is read again from Secrets Manager and the call made once more,
        so a rotated key needs no redeploy.
        """
        url = f"{self._base_url}/api/users/{partner_id}"
        body = json.dumps(profile).encode("utf-8")
        status, document = self._with_key(url, body, remaining_seconds, _token_in)
        if status == 422:
            raise profile_required(profile, self._pages)
        if status not in (200, 201):
            raise PartnerApiError(f"Partner API answered {status}", partner_status=status)
        token = _token_in(document)
        if token is None:
            raise PartnerApiError(
                f"Partner API answered {status} without user.token.token", partner_status=status
            )
        return token, status

    def user_tracks(self, partner_id: str, remaining_seconds: Callable[[], float]) -> list[Any] | None:
        """The user's guided tracks (``tracks``: each with its ``progress``); None: no such user (404).

        ``partner_id`` must already match ``^[A-Za-z0-9_-]{1,64}$``. Other answers raise
        ``PartnerApiError`` (``PartnerApiTimeout`` when out of time), as ``sso_token``'s do.
        """
        url = f"{self._base_url}/api/users/{partner_id}/tracks"
        status, document = self._with_key(url, None, remaining_seconds, _tracks_in)
        if status == 404:
            return None
        tracks = _tracks_in(document)
        if status != 200 or tracks is None:
            raise PartnerApiError(f"Partner API answered {status} to the tracks", partner_status=status)
        return tracks

    def _with_key(
        self,
        url: str,
        body: bytes | None,
        remaining_seconds: Callable[[], float],
        answer: Callable[[Any], Any],
    ) -> tuple[int, Any]:
        """The call with the org's API key; on 401/403 the key is read again and the call made once more."""
        status, document = self._observed_call(url, body, self._api_key.get(), remaining_seconds, answer)
        if status in (401, 403):
            api_key = self._api_key.get(force_fetch=True)
            status, document = self._observed_call(url, body, api_key, remaining_seconds, answer)
        return status, document

    def _observed_call(
        self,
        url: str,
        body: bytes | None,
        api_key: str,
        remaining_seconds: Callable[[], float],
        answer: Callable[[Any], Any],
    ) -> tuple[int, Any]:
        """``_call``, traced, with its latency and failure class reported (``answer``: None if unusable)."""
        started = time.perf_counter()
        status_class: str | None = None
        try:
            with self._telemetry.span("partner_api"):
                status, document = self._call(url, body, api_key, remaining_seconds)
            if status not in (200, 201):
                status_class = f"{status // 100}xx"
            elif answer(document) is None:
                status_class = "bad_answer"
            return status, document
        except PartnerApiTimeout:
            status_class = "timeout"
            raise
        except PartnerApiError:
            status_class = "network"
            raise
        finally:
            self._telemetry.partner_api_call((time.perf_counter() - started) * 1000, status_class)

    def _call(
        self, url: str, body: bytes | None, api_key: str, remaining_seconds: Callable[[], float]
    ) -> tuple[int, Any]:
        """One call (a POST of ``body``, or a GET if None) with its retries, each fitting the time left."""
        headers = {"Authorization": api_key, "Accept": "application/json", "User-Agent": USER_AGENT}
        if body is not None:
            headers["Content-Type"] = "application/json"
        backoffs = iter(BACKOFF_SECONDS)
        while True:
            budget = remaining_seconds() - DEADLINE_MARGIN_SECONDS
            if budget < MIN_CALL_SECONDS:
                raise PartnerApiTimeout(f"only {budget:.2f} s left before the Lambda deadline")
            timeout = urllib3.Timeout(
                connect=min(CONNECT_TIMEOUT, budget), read=min(self._read_timeout, budget)
            )
            deadline = time.monotonic() + budget
            try:
                status, document, retry_after = self._attempt(url, body, headers, timeout, deadline)
            except _Unreachable as error:
                backoff = next(backoffs, None)
                if backoff is None or not self._pause(backoff, remaining_seconds):
                    raise PartnerApiError(f"Partner API unreachable: {error}") from None
                continue
            if status not in RETRYABLE_STATUSES:
                return status, document
            backoff = next(backoffs, None)
            if backoff is None or not self._pause(
                backoff if retry_after is None else retry_after, remaining_seconds
            ):
                return status, document

    def _pause(self, seconds: float, remaining_seconds: Callable[[], float]) -> bool:
        """Sleep before a retry, if a retry can still start afterwards."""
        if remaining_seconds() - DEADLINE_MARGIN_SECONDS - seconds < MIN_CALL_SECONDS:
            return False
        self._sleep(seconds)
        return True

    def _attempt(
        self, url: str, body: bytes | None, headers: dict[str, str], timeout: urllib3.Timeout, deadline: float
    ) -> tuple[int, Any, float | None]:
        """One request: status, parsed JSON (or None) and the Retry-After pause, if any."""
        try:
            response = self._http.request(
                "GET" if body is None else "POST",
                url,
                body=body,
                headers=headers,
                timeout=timeout,
                retries=False,
                redirect=False,
                preload_content=False,
            )
        except urllib3.exceptions.NewConnectionError as error:
            # Checked first: urllib3 makes NewConnectionError (refused, unreachable) a
            # subclass of ConnectTimeoutError, but the API is down, not slow.
            raise _Unreachable(type(error).__name__) from None
        except urllib3.exceptions.TimeoutError as error:
            raise PartnerApiTimeout(f"Partner API timed out: {type(error).__name__}") from None
        except urllib3.exceptions.ProtocolError as error:  # reset or dropped before an answer
            raise _Unreachable(type(error).__name__) from None
        except urllib3.exceptions.SSLError as error:
            if _dropped_under_tls(error):  # the TLS spelling of "dropped before an answer"
                raise _Unreachable("SSLEOFError") from None
            raise PartnerApiError(f"Partner API call failed: {type(error).__name__}") from None
        except urllib3.exceptions.HTTPError as error:
            raise PartnerApiError(f"Partner API call failed: {type(error).__name__}") from None
        try:
            raw = self._read_body(response, deadline)
        except urllib3.exceptions.ReadTimeoutError:
            raise PartnerApiTimeout("Partner API timed out while sending its answer") from None
        except urllib3.exceptions.HTTPError as error:
            raise PartnerApiError(f"Partner API answer broke off: {type(error).__name__}") from None
        finally:
            response.release_conn()
        try:
            document = parse_json(raw) if raw else None
        except ValueError:
            document = None
        retry_after = None
        if response.status in RETRYABLE_STATUSES and response.headers.get("Retry-After"):
            try:
                retry_after = RETRY_AFTER.get_retry_after(response)
            except urllib3.exceptions.InvalidHeader:
                retry_after = None
        return response.status, document, retry_after

    def _read_body(self, response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
        """The body, at most ``MAX_RESPONSE_BYTES``, read before ``deadline``.

        The read timeout bounds each wait, not the answer: a server trickling bytes would keep us past
        Lambda's deadline, so each wait is cut to the time left.
        """
        chunks: list[bytes] = []
        size = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                response.close()
                raise PartnerApiTimeout("Partner API answer still arriving at the deadline")
            sock = getattr(response.connection, "sock", None)
            if sock is not None:
                sock.settimeout(min(self._read_timeout, left))
            chunk = response.read1(64 * 1024, decode_content=True)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                response.close()  # do not read (or pool) the rest of an oversized answer
                raise PartnerApiError(f"Partner API answer is larger than {MAX_RESPONSE_BYTES} bytes")
            chunks.append(chunk)


class _Unreachable(Exception):
    """The request got no answer (refused, reset): worth retrying."""


def _dropped_under_tls(error: urllib3.exceptions.SSLError) -> bool:
    """Whether urllib3's ``SSLError`` is the peer hanging up mid-connection (``ssl.SSLEOFError``).

    A pooled connection whose peer went away (an idle timeout, a middlebox that forgot
    it) answers the next request with an EOF where the answer should be: over plain TCP
    urllib3 calls that a ``ProtocolError``, over TLS it is ``SSLEOFError``. Either way
    the request got no answer and is worth another attempt on a new connection.
    A certificate that fails verification is a different ``SSLError`` and is not retried.
    """
    return any(isinstance(arg, ssl.SSLEOFError) for arg in error.args) or isinstance(
        error.__context__, ssl.SSLEOFError
    )


def _token_in(document: Any) -> str | None:
    """``user.token.token`` if it can go into the login URL as it is, else None (502).

    Any text is percent-encoded into the URL, but not text UTF-8 cannot encode (a lone
    surrogate, which JSON can carry as an escaped \\ud800), nor so much of it that the
    ``Location`` header would outgrow what API Gateway and browsers accept; either is an
    answer we cannot turn into a safe redirect, so it is refused here, before any URL is built.
    """
    try:
        token = document["user"]["token"]["token"]
    except (KeyError, TypeError):
        return None
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
        return None
    try:
        token.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return token


def _tracks_in(document: Any) -> list[Any] | None:
    """``tracks``, a list, or None: an answer that is not the documented shape."""
    tracks = document.get("tracks") if isinstance(document, dict) else None
    return tracks if isinstance(tracks, list) else None


def profile_required(profile: dict[str, str], pages: ErrorPages) -> ProfileRequired:
    """Big Interview's 422: a new user without a complete profile. Names the claims, never their values."""
    missing = [claim for field, claim in PROFILE_FIELDS.items() if not profile.get(field)]
    if missing:
        advice = pages.profile_advice.format(missing=", ".join(missing))
        detail = f"Big Interview answered 422: the user is new and {advice}"
    else:
        detail = (
            "Big Interview answered 422 to given_name, family_name and email: "
            "check that email is a valid address and the names are not blank"
        )
    return pages.profile_refusal(detail, partner_status=422)
