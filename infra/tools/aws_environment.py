"""Region and credentials for the tools that talk to AWS, or to the local stack's moto.

Pointed at a loopback endpoint (``AWS_ENDPOINT_URL=http://127.0.0.1:3003``, ``make dev``'s
moto), a tool needs a region and some credentials only to sign requests moto does not
check: it gets ``us-east-1`` and moto's test keys unless the shell already has its own.
Pointed at AWS, nothing is filled in: the user's region and credentials are the ones used.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from urllib.parse import urlsplit

__all__ = [
    "LOCAL_ACCESS_KEY",
    "LOCAL_REGION",
    "apply_for_local_endpoint",
    "for_local_endpoint",
    "local_endpoint",
    "missing_setup",
]

LOCAL_REGION = "us-east-1"
LOCAL_ACCESS_KEY = "testing"  # moto accepts any key; this is moto's own convention
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SECRETS_MANAGER")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def local_endpoint(environ: Mapping[str, str]) -> str | None:
    """The first AWS endpoint variable that points at this machine, or None."""
    for name in ENDPOINT_VARIABLES:
        value = environ.get(name, "")
        if value and urlsplit(value).hostname in LOOPBACK_HOSTS:
            return value
    return None


def for_local_endpoint(environ: Mapping[str, str]) -> dict[str, str]:
    """The region and credentials to add to ``environ`` for its loopback endpoint (none for AWS)."""
    if local_endpoint(environ) is None:
        return {}
    added: dict[str, str] = {}
    if not (environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")):
        added["AWS_DEFAULT_REGION"] = LOCAL_REGION
    if not environ.get("AWS_ACCESS_KEY_ID") and not environ.get("AWS_PROFILE"):
        added["AWS_ACCESS_KEY_ID"] = added["AWS_SECRET_ACCESS_KEY"] = LOCAL_ACCESS_KEY
    return added


def apply_for_local_endpoint(environ: MutableMapping[str, str]) -> None:
    """``for_local_endpoint``, written into ``environ`` (a tool's own ``os.environ``)."""
    environ.update(for_local_endpoint(environ))


def missing_setup(error: Exception) -> str | None:
    """What to set, in the user's terms, for botocore's missing-region or missing-credentials error."""
    from botocore.exceptions import NoCredentialsError, NoRegionError

    local = "or AWS_ENDPOINT_URL=http://127.0.0.1:3003 for make dev's moto"
    if isinstance(error, NoRegionError):
        return f"no AWS region: set AWS_REGION to the stack's region, {local}"
    if isinstance(error, NoCredentialsError):
        return f"no AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and its secret), {local}"
    return None
