"""The Big Interview SSO login URL, and the rules for what may ride along in it.

The host always comes from configuration. ``redirect_to`` may only be a relative
path inside Big Interview, and ``return_url`` only an allow-listed origin, so
the redirector can never be turned into an open redirect.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

from handler.errors import InvalidRedirect, InvalidReturnUrl
from handler.untrusted import split_url
from handler.url_rules import origin_of, url_problem

__all__ = ["MAX_REDIRECT_TO_BYTES", "check_redirect_to", "check_return_url", "sso_login_url"]

MAX_REDIRECT_TO_BYTES = 2048
# C0 and C1 controls, DEL, and the Unicode line/paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def check_redirect_to(value: str) -> str:
    """``value`` if it is a safe relative Big Interview path, else ``InvalidRedirect``."""
    if len(value.encode("utf-8", "surrogatepass")) > MAX_REDIRECT_TO_BYTES:
        raise InvalidRedirect(f"redirect_to is longer than {MAX_REDIRECT_TO_BYTES} bytes")
    if _CONTROL.search(value):
        raise InvalidRedirect("redirect_to contains control characters")
    if not value.isascii():
        # Big Interview's paths are ASCII; refusing the rest rules out look-alikes
        # such as U+FF0F (fullwidth solidus) that a normaliser could turn into '/'.
        raise InvalidRedirect("redirect_to must be ASCII (percent-encode anything else)")
    if "\\" in value:
        raise InvalidRedirect("redirect_to contains a backslash")
    if not value.startswith("/") or value.startswith("//"):
        raise InvalidRedirect("redirect_to must start with exactly one '/'")
    try:
        parts = split_url(value)
    except ValueError:
        raise InvalidRedirect("redirect_to cannot be parsed as a path") from None
    if parts.scheme or parts.netloc:
        raise InvalidRedirect("redirect_to must be a path, not a URL")
    # Encoded (or double-encoded: %25) slashes, backslashes and controls could be
    # decoded by a server on the way into '//' or '\'.
    path = value.split("?", 1)[0].lower()
    if any(marker in path for marker in ("%2f", "%5c", "%25", "%00", "%09", "%0a", "%0d")):
        raise InvalidRedirect("redirect_to's path contains an encoded slash or control character")
    if "//" in path:
        # '/.//evil' or '/a/..//evil' become '//evil' once dot segments are removed.
        raise InvalidRedirect("redirect_to's path contains '//'")
    return value


def check_return_url(value: str, allowed_origins: tuple[str, ...]) -> str:
    """``value`` if its origin is allow-listed (``RETURN_URL_ALLOWED_ORIGINS``, ``SSO_RETURN_URL``)."""
    if len(value.encode("utf-8", "surrogatepass")) > MAX_REDIRECT_TO_BYTES:
        raise InvalidReturnUrl(f"return_url is longer than {MAX_REDIRECT_TO_BYTES} bytes")
    if not value.isascii():
        # As for redirect_to: no look-alikes (U+FF0F for '/'), and nothing that cannot be
        # encoded into the Location header (a lone surrogate). Browsers send IDNs as punycode.
        raise InvalidReturnUrl("return_url must be ASCII (percent-encode anything else)")
    if _CONTROL.search(value) or "\\" in value or url_problem(value):
        raise InvalidReturnUrl("return_url must be an absolute https URL")
    if origin_of(value) not in allowed_origins:
        raise InvalidReturnUrl(
            f"return_url's origin {origin_of(value)[:200]!r} is not in RETURN_URL_ALLOWED_ORIGINS"
        )
    return value


def sso_login_url(base_url: str, token: str, redirect_to: str | None, return_url: str | None) -> str:
    """``{base}/sso/login?token=…[&redirect_to=…][&return_url=…]``, every value URL-encoded."""
    params = {"token": token}
    if redirect_to:
        params["redirect_to"] = redirect_to
    if return_url:
        params["return_url"] = return_url
    # quote with safe="" encodes '/' too, as the Partner docs show (%2Fmembers%2F…).
    return f"{base_url}/sso/login?{urlencode(params, quote_via=quote, safe='')}"
