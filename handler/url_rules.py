"""Which URLs the configuration accepts, and what an origin is.

A service URL (Partner API, JWKS, error and return pages) is https, or http on a loopback
host only (the local stack), and never carries credentials.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from handler.untrusted import split_url

__all__ = ["is_loopback_host", "origin_of", "url_problem"]


def is_loopback_host(host: str | None) -> bool:
    """True for localhost and 127.0.0.0/8 / ::1: the only hosts allowed plain http."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    # An IPv4-mapped IPv6 address (::ffff:127.0.0.1) is loopback for Python 3.13's ipaddress
    # and not for 3.11's: it is refused, so the runtime and an operator's tools agree.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return False
    return address.is_loopback


def url_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable service URL (https, or http on loopback)."""
    try:
        parts = split_url(value)
    except ValueError:
        return "must be an absolute https:// URL (this one cannot be parsed)"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an absolute https:// URL"
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        return "must use https:// (http:// is allowed only for 127.0.0.1 or localhost)"
    if parts.username or parts.password:
        return "must not contain credentials"
    return None


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL, lower-cased."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
