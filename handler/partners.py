"""Which partner a token belongs to, and that partner's own wired services.

``PartnerDirectory.find(issuer)`` answers with a ``PartnerServices``: one partner's
configuration and the services wired from it (``PartnerWiring``): its verifier, key
source, API key and Partner API client. Its verifier checks its own issuers and audience,
so a key source or secret shared with another partner (same JWKS URL and issuers, same
secret id) never serves another partner's token. An LTI registration is wired the same way.

- ``SinglePartner``: the environment's partner, for every token;
- ``PartnerRegistry``: records in a DynamoDB table, each kept ``max_age`` seconds
  (``RegistryReader``). A changed, disabled or deleted record takes effect within that age;
  an unknown issuer is remembered briefly (``negative_seconds``), so a flood of made-up
  issuers is not a flood of ``GetItem``. LTI registrations share the table and its
  reader (``record_text``) under keys of their own.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import urllib3

from handler.aws_clients import AwsClients
from handler.config import Partner, Runtime, TokenPolicy
from handler.errors import ConfigError, InvalidIssuer, MissingClaim, PartnerUnavailable, SsoError
from handler.keys import HttpFetcher, JwksKeySource, KeySource
from handler.partner_api import PartnerApiClient
from handler.partner_record import (
    PARTNER_KIND,
    RECORD_LIMITS,
    PartnerRecord,
    parse_partner_record,
    record_kind,
    record_partner_id,
)
from handler.secret_source import SecretSource
from handler.telemetry import Telemetry
from handler.tokens import TokenVerifier

__all__ = [
    "ENVIRONMENT_PARTNER",
    "UNKNOWN_PARTNER",
    "InvalidRecord",
    "PartnerDirectory",
    "PartnerRegistry",
    "PartnerServices",
    "PartnerWiring",
    "RegistryReader",
    "SinglePartner",
    "registry_provider",
]

# The partner label (logs, metrics) of the environment's partner in registry mode, and of a
# token whose partner is not known: with the registry's ids, the only values it takes.
ENVIRONMENT_PARTNER = "environment"
UNKNOWN_PARTNER = "unknown"
# An issuer longer than a record's may be is no registry key: refused without a lookup.
_MAX_ISSUER_LENGTH = RECORD_LIMITS["issuer"]


@dataclass(frozen=True)
class PartnerServices:
    """One partner's configuration and the services wired from it alone."""

    partner_id: str
    partner: Partner
    verifier: TokenVerifier
    keys: JwksKeySource
    partner_api: PartnerApiClient
    secrets: tuple[SecretSource, ...]


# How a kind of sign-in verifies its tokens, from the partner's policy, key source and HS256 secret.
MakeVerifier = Callable[[TokenPolicy, KeySource, SecretSource | None], TokenVerifier]


class PartnerDirectory(Protocol):
    """Finds the partner a token's (unverified) ``iss`` names."""

    @property
    def labelled(self) -> bool:
        """True when sign-ins are labelled by partner in logs and metrics (registry mode)."""
        ...

    def find(self, issuer: str | None) -> PartnerServices:
        """That partner's services, or an ``SsoError`` (unknown or disabled: 401; broken: 503)."""
        ...

    def after_restore(self) -> None:
        """A SnapStart restore: forget what a snapshot must not share (see ``Container``)."""
        ...


class PartnerWiring:
    """Builds partners' services on the deployment's pool, AWS clients and clocks.

    One ``SecretSource`` per secret id and one key cache per (JWKS URL, issuers), whichever
    partner or kind of sign-in asks: an org's API key is read once for all of them. ``clock``
    is the key caches' (wall: key ages hold across a SnapStart restore), ``monotonic`` the
    secrets' (a restore forgets them).
    """

    def __init__(
        self,
        runtime: Runtime,
        http: urllib3.PoolManager,
        clients: AwsClients,
        telemetry: Telemetry,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._runtime = runtime
        self._http = http
        self._clients = clients
        self._telemetry = telemetry
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.secrets: dict[str, SecretSource] = {}
        self.keys: dict[tuple[str | None, tuple[str, ...]], JwksKeySource] = {}

    def wire(
        self, partner_id: str, partner: Partner, verifier: MakeVerifier = TokenVerifier
    ) -> PartnerServices:
        tokens, destination = partner.tokens, partner.destination
        keys = self._key_source(tokens.jwks_url, tokens.issuers)
        api_key = self._secret(destination.api_key_secret_id)
        hmac_secret = self._secret(tokens.hs256_secret_id) if tokens.hs256_secret_id else None
        partner_api = PartnerApiClient(
            destination.bi_base_url,
            api_key,
            self._http,
            self._runtime.partner_api_timeout_seconds,
            telemetry=self._telemetry,
            pages=destination.pages,
        )
        secrets = (api_key,) if hmac_secret is None else (api_key, hmac_secret)
        return PartnerServices(
            partner_id, partner, verifier(tokens, keys, hmac_secret), keys, partner_api, secrets
        )

    def after_restore(self) -> None:
        """A snapshot's secrets and key sets are not trusted: read them again on first use."""
        with self._lock:
            for secret in self.secrets.values():
                secret.forget_value()
            for keys in self.keys.values():
                keys.after_restore()

    def _secret(self, secret_id: str) -> SecretSource:
        with self._lock:
            if secret_id not in self.secrets:
                self.secrets[secret_id] = SecretSource(
                    secret_id,
                    self._clients.factory("secretsmanager"),
                    self._runtime.secret_cache_seconds,
                    self._monotonic,
                )
            return self.secrets[secret_id]

    def _key_source(self, jwks_url: str | None, issuers: tuple[str, ...]) -> JwksKeySource:
        with self._lock:
            if (jwks_url, issuers) not in self.keys:
                self.keys[jwks_url, issuers] = JwksKeySource(
                    HttpFetcher(self._http),
                    issuers,
                    jwks_url,
                    max_age_seconds=self._runtime.jwks_max_age_seconds,
                    stale_seconds=self._runtime.jwks_stale_seconds,
                    clock=self._clock,
                    telemetry=self._telemetry,
                )
            return self.keys[jwks_url, issuers]


class SinglePartner:
    """The environment's one partner answers for every token (its verifier refuses other issuers)."""

    labelled = False

    def __init__(self, services: PartnerServices) -> None:
        self.services = services

    def find(self, issuer: str | None) -> PartnerServices:
        return self.services

    def after_restore(self) -> None:
        """Nothing of its own: ``Container`` renews the environment partner's caches."""


class RegistryReader:
    """The registry table's records: one ``GetItem`` each, on the shared DynamoDB client, kept a while.

    The items have Powertools ``DynamoDBProvider``'s layout (hash key ``issuer``, the record's JSON
    in ``value``), but neither it nor Powertools Parameters' ``BaseProvider`` reads them: importing
    Powertools Parameters imports boto3 and every provider, on a registry partner's first request
    (docs/decisions/registry-provider.md). A missing item is None and is not kept: the registry
    tells "no such partner" (kept negatively, briefly) from "DynamoDB failed" (raised).
    """

    key_attr = "issuer"
    value_attr = "value"

    def __init__(
        self, table_name: str, client: Callable[[], Any], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.table_name = table_name
        self._client = client
        self._clock = clock
        self._records: dict[str, tuple[str, float]] = {}  # key -> (value, fresh until)

    def get(self, name: str, max_age: float) -> str | None:
        """The ``value`` under ``name``: kept from a read less than ``max_age`` seconds ago, else read now."""
        now = self._clock()
        kept = self._records.get(name)
        if kept is not None and now < kept[1]:
            return kept[0]
        key = {self.key_attr: {"S": name}}
        item = self._client().get_item(TableName=self.table_name, Key=key).get("Item")
        if item is None:
            self._records.pop(name, None)
            return None
        value = item.get(self.value_attr, {}).get("S")
        if not isinstance(value, str):
            raise TypeError(f"the item's {self.value_attr!r} attribute is not a string")
        self._records[name] = (value, now + max_age)
        return value

    def clear_cache(self) -> None:
        self._records.clear()


def registry_provider(
    table_name: str, client: Callable[[], Any], clock: Callable[[], float] = time.monotonic
) -> RegistryReader:
    """The registry's reader on ``table_name`` (``PartnerRegistry``'s default ``provider_factory``)."""
    return RegistryReader(table_name, client, clock)


@dataclass
class _Wired:
    text: str  # the record as read: the same text means the same services
    services: PartnerServices | None  # None: the record refuses (disabled or invalid)
    refusal: SsoError | None
    # After a failed read, the record is used without asking DynamoDB until then: in an
    # outage, every request would otherwise wait out the client's timeouts.
    held_until: float = -math.inf
    read_at: float = -math.inf  # the last successful read: stale use is bounded from it
    fetched_ahead: bool = False  # its key set, secrets and connection were fetched side by side
    fetching: threading.Lock = field(default_factory=threading.Lock)


class PartnerRegistry:
    """Partners from the registry table, and the environment's partner (if any) beside them.

    ``provider_factory`` makes the reader (``registry_provider``) on first use; ``cache_seconds``
    is its ``max_age``. ``fetch_ahead(services)`` runs once per
    newly wired partner before its first token is verified (``prefetch.fetch_side_by_side``:
    its key set, secrets and Partner API connection side by side, not one after another).
    """

    labelled = True

    def __init__(
        self,
        provider_factory: Callable[[], Any],
        wiring: PartnerWiring,
        *,
        cache_seconds: int,
        environment_partner: PartnerServices | None = None,
        negative_seconds: float = 30.0,
        negative_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
        loopback_base_urls: bool = False,
        stale_seconds: float = 900.0,
        fetch_ahead: Callable[[PartnerServices], None] | None = None,
    ) -> None:
        self._provider_factory = provider_factory
        self._fetch_ahead = fetch_ahead
        # The local stack's setting (partner_record): records may name a loopback Partner API.
        self.loopback_base_urls = loopback_base_urls
        self._stale_seconds = stale_seconds  # PARTNER_REGISTRY_STALE_SECONDS
        self._provider: Any = None
        self._wiring = wiring
        self._cache_seconds = cache_seconds
        self._environment_partner = environment_partner
        self._negative_seconds = negative_seconds
        self._negative_entries = negative_entries
        self._clock = clock
        # Reentrant: a lookup holds it while it reads the record (record_text takes it too).
        self._lock = threading.RLock()
        self._unknown: OrderedDict[str, float] = OrderedDict()  # key -> unknown until
        self._wired: dict[str, _Wired] = {}

    def find(self, issuer: str | None) -> PartnerServices:
        environment = self._environment_partner
        if environment is not None and issuer in environment.partner.tokens.issuers:
            return environment
        if issuer is None:
            raise MissingClaim("iss", expected="iss")
        if not issuer or len(issuer) > _MAX_ISSUER_LENGTH:
            raise _unknown_issuer(issuer, "not a registry key")
        with self._lock:  # one lookup per issuer at a time, not one per waiting request
            wired = self._lookup(issuer)
        if wired.refusal is not None:
            # Kept for every token naming the record: raised as it was kept, not with the earlier
            # requests' frames (and their tokens) chained onto its traceback.
            raise wired.refusal.with_traceback(None)
        assert wired.services is not None
        if self._fetch_ahead is not None and not wired.fetched_ahead:
            # Outside the registry's lock: other partners' lookups do not wait on these fetches.
            with wired.fetching:  # requests for the same new partner wait for one set of fetches
                if not wired.fetched_ahead:
                    self._fetch_ahead(wired.services)
                    wired.fetched_ahead = True
        return wired.services

    def after_restore(self) -> None:
        """Registry partners are read and wired again: their secrets and keys must not be the snapshot's."""
        with self._lock:
            self._wired.clear()
            self._unknown.clear()
            if self._provider is not None:
                self._provider.clear_cache()

    def record_text(self, key: str) -> str | None:
        """The ``value`` under ``key``, through the provider's cache; None if there is none.

        Every kind of record is read here. A key with no record is remembered for ``negative_seconds``
        (a bounded number of them). Raises ``PartnerUnavailable`` when DynamoDB cannot answer.
        """
        with self._lock:
            now = self._clock()
            until = self._unknown.get(key)
            if until is not None and now < until:
                return None
            try:
                text = self._provider_instance().get(key, max_age=self._cache_seconds)
            except Exception as error:  # noqa: BLE001 - botocore's, or a malformed item's
                raise PartnerUnavailable(
                    "the partner registry cannot be read",
                    log_detail=(
                        f"partner registry GetItem {key[:200]!r}: {type(error).__name__}: {str(error)[:200]}"
                    ),
                ) from None
            if not isinstance(text, str):
                self._unknown[key] = now + self._negative_seconds
                self._unknown.move_to_end(key)
                while len(self._unknown) > self._negative_entries:
                    self._unknown.popitem(last=False)
                return None
            self._unknown.pop(key, None)
            return text

    def _lookup(self, issuer: str) -> _Wired:
        now = self._clock()
        previous = self._wired.get(issuer)
        if previous is not None and now < previous.held_until:
            return previous
        try:
            text = self.record_text(issuer)
        except PartnerUnavailable:
            if previous is not None and now - previous.read_at <= self._stale_seconds:
                # DynamoDB failed: the record we had still holds, for another cache period, but
                # never beyond the stale bound (a partner disabled just before a lasting outage).
                previous.held_until = min(now + self._cache_seconds, previous.read_at + self._stale_seconds)
                return previous
            raise
        if text is None:
            self._wired.pop(issuer, None)  # a deleted partner stops here
            raise _unknown_issuer(issuer, "not in the partner registry")
        if previous is not None and previous.text == text:
            previous.read_at = now
            return previous
        wired = self._wire(issuer, text)
        wired.read_at = now
        self._wired[issuer] = wired
        return wired

    def _wire(self, issuer: str, text: str) -> _Wired:
        if record_kind(text) not in (PARTNER_KIND, None):
            # Another kind of record shares the table (LTI registrations, under keys of their
            # own): a token naming that key as its iss is from no partner.
            return _Wired(text, None, _unknown_issuer(issuer, "the key of a record that is not a partner's"))
        try:
            record = parse_partner_record(issuer, text, loopback_base_urls=self.loopback_base_urls)
        except ConfigError as error:
            refusal = InvalidRecord(
                "this partner's sign-in is not configured correctly",
                log_detail=f"partner registry record {issuer[:200]!r} is invalid: "
                + "; ".join(error.problems),
            )
            refusal.partner_id = record_partner_id(text) or UNKNOWN_PARTNER
            return _Wired(text, None, refusal)
        if not record.enabled:
            return _Wired(text, None, _disabled(record))
        return _Wired(text, self._wiring.wire(record.partner_id, record.partner), None)

    def _provider_instance(self) -> Any:
        if self._provider is None:
            self._provider = self._provider_factory()
        return self._provider


class InvalidRecord(PartnerUnavailable):
    """A registry record the function cannot use (503 ``partner_unavailable``), labelled in logs
    and metrics by the record's own partner id, so the per-partner alarm names the broken partner."""

    partner_id: str = UNKNOWN_PARTNER


def _unknown_issuer(issuer: str | None, why: str) -> InvalidIssuer:
    shown = (issuer or "")[:200]
    return InvalidIssuer(
        f"iss {shown!r} is not an accepted issuer",
        log_detail=f"iss {shown!r} is {why}",
        found=shown,
    )


def _disabled(record: PartnerRecord) -> InvalidIssuer:
    return InvalidIssuer(
        "this issuer is not accepted",
        log_detail=f"partner {record.partner_id!r} is disabled in the partner registry",
    )
