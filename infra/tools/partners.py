"""``make partner-add / partner-list / partner-disable / partner-enable``: the partner registry.

    python -m infra.tools.partners add FILE [--replace] [--table NAME]
    python -m infra.tools.partners list [--table NAME]
    python -m infra.tools.partners disable PARTNER|KEY [--table NAME]
    python -m infra.tools.partners enable PARTNER|KEY [--table NAME]

Two kinds of record share the table: partners (``"kind": "partner"``, the default),
stored under their issuer, and LTI platform registrations (``"kind": "lti_platform"``,
docs/lti.md), stored under ``lti|<iss>|<client_id>`` and validated by the LTI launch's
own validator (``handler.lti.registrations.registry_registration``). ``disable`` and
``enable`` take a partner id or a record's key (as ``list`` shows it: an LTI
registration has no partner id).

The table is ``--table``, else ``PARTNER_REGISTRY_TABLE`` (the stack's output
``PartnerRegistryTableName``). AWS credentials and region are boto3's usual ones;
``AWS_ENDPOINT_URL`` points the tool at moto (``make dev PARTNERS=2`` runs one on
127.0.0.1:3003), which needs neither (``infra.tools.aws_environment``). A record is
validated by the function's own validator (``handler.partner_record``) before anything
is written; an invalid one is refused with every problem by field name, and the table
is left as it was.

A partner's record is stored together with its id's claim (an item under
``partner-id|<id>`` naming the record's issuer) in one DynamoDB transaction, under a
condition: "a partner id names one record" holds at the write, not only at a scan
before it. An LTI registration likewise, with the claim ``lti-signer|<org>|<iss>``
naming its JWKS URL: every registration of one platform's iss in one org trusts the
same signer, since a student's Big Interview user is made from iss and sub alone.

``disable`` and ``enable`` change a record's ``enabled`` flag and nothing else (a
conditional write on the text they read), for every matching record, valid or not:
disabling is an incident action and never waits on a record being fixed.

Exit code: 0 done, 1 refused (invalid record, unknown partner, duplicate), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from handler.config import loopback_base_urls_allowed
from handler.errors import ConfigError
from handler.lti.registrations import RECORD_KIND as LTI_KIND
from handler.lti.registrations import LtiRegistration, registry_key, registry_registration
from handler.partner_record import PARTNER_KIND, PartnerRecord, validate_partner_record
from handler.untrusted import parse_json, split_url
from handler.url_rules import is_loopback_host
from infra.partner.text import escaped
from infra.tools.aws_environment import apply_for_local_endpoint, missing_setup

__all__ = ["Registry", "StoredRecord", "local_stack", "main"]

# A claim (claim_key, signer_key): written with the record it belongs to, in one transaction.
CLAIM_KIND = "registry_claim"
# What the function uses by default (handler.config: PARTNER_REGISTRY_CACHE_SECONDS).
DEFAULT_CACHE_SECONDS = 60


class Refused(Exception):
    """The registry was not changed, for a reason the operator can fix (exit code 1)."""


@dataclass(frozen=True)
class StoredRecord:
    """One item of the table: its key, its JSON document, and what validation made of it."""

    key: str
    document: Any
    record: PartnerRecord | None
    problems: tuple[str, ...]
    registration: LtiRegistration | None = None  # a valid LTI platform registration

    @property
    def enabled(self) -> bool | None:
        """The record's flag when it is valid; None when it is invalid or of another kind."""
        if self.record is not None:
            return self.record.enabled
        return self.registration.enabled if self.registration is not None else None

    @property
    def kind(self) -> str:
        kind = self.document.get("kind", PARTNER_KIND) if isinstance(self.document, dict) else None
        return kind if isinstance(kind, str) else "?"

    @property
    def partner(self) -> str | None:
        value = self.document.get("partner") if isinstance(self.document, dict) else None
        return value if isinstance(value, str) else None


def stored(key: str, text: str, *, loopback_base_urls: bool = False) -> StoredRecord:
    try:
        document = parse_json(text)
    except ValueError:
        return StoredRecord(key, None, None, ("value is not JSON",))
    kind = document.get("kind", PARTNER_KIND) if isinstance(document, dict) else PARTNER_KIND
    if kind == LTI_KIND:
        try:
            registration = registry_registration(key, document, loopback_base_urls=loopback_base_urls)
            return StoredRecord(key, document, None, (), registration)
        except ConfigError as error:
            return StoredRecord(key, document, None, tuple(error.problems))
    if kind != PARTNER_KIND:
        return StoredRecord(key, document, None, ())  # a kind this tool does not know: not ours to judge
    try:
        record = validate_partner_record(key, document, loopback_base_urls=loopback_base_urls)
        return StoredRecord(key, document, record, ())
    except ConfigError as error:
        return StoredRecord(key, document, None, tuple(error.problems))


class Registry:
    """The registry table, through boto3's DynamoDB client (the layout of template.yaml)."""

    def __init__(self, table: str, client: Any = None, *, loopback_base_urls: bool = False) -> None:
        import boto3

        self.table = table
        if client is None:
            apply_for_local_endpoint(os.environ)
        self._client = client or boto3.client("dynamodb")
        # The local stack's setting (LOOPBACK_BASE_URLS), as the function reads it: records
        # are judged by the rules of the function that will read them.
        self._loopback_base_urls = loopback_base_urls

    def records(self) -> Iterator[StoredRecord]:
        for page in self._client.get_paginator("scan").paginate(TableName=self.table):
            for item in page["Items"]:
                text = item.get("value", {}).get("S", "")
                yield stored(item["issuer"]["S"], text, loopback_base_urls=self._loopback_base_urls)

    def get(self, issuer: str) -> StoredRecord | None:
        item = self._client.get_item(TableName=self.table, Key={"issuer": {"S": issuer}}).get("Item")
        text = None if item is None else item.get("value", {}).get("S", "")
        return None if text is None else stored(issuer, text, loopback_base_urls=self._loopback_base_urls)

    def put(self, document: dict[str, Any], *, replace: bool) -> StoredRecord:
        """Validate ``document`` and store it under its key; ``Refused`` changes nothing."""
        if document.get("kind") == LTI_KIND:
            return self._put_registration(document, replace=replace)
        key = document.get("issuer")
        if not isinstance(key, str) or not key:
            raise Refused("the record has no issuer (the table's key)")
        try:
            record = validate_partner_record(key, document, loopback_base_urls=self._loopback_base_urls)
        except ConfigError as error:
            raise Refused("the record is invalid:\n  " + "\n  ".join(error.problems)) from None
        partner_id = record.partner_id
        for other in self.records():  # records stored before partner id claims existed
            if other.partner == partner_id and other.key != key and other.kind == PARTNER_KIND:
                raise _id_taken(partner_id, other.key)
        previous = self.get(key) if replace else None
        renamed = previous is not None and previous.partner not in (None, partner_id)
        self._put_claimed(
            key,
            document,
            _Claim(claim_key(partner_id), key, lambda owner: _id_taken(partner_id, owner)),
            replace=replace,
            # A renamed record frees its old id's claim, if it holds it.
            release=(claim_key(str(previous.partner)), key) if renamed and previous is not None else None,
        )
        return StoredRecord(key, document, record, ())

    def _put_registration(self, document: dict[str, Any], *, replace: bool) -> StoredRecord:
        """An LTI registration, and the claim of its (org, iss) by its JWKS URL: the students of
        one platform are one set of users in an org (their partner_id hashes iss and sub only),
        so every registration of that iss in that org must trust the same signer."""
        key = self._lti_key(document)
        try:
            registration = registry_registration(key, document, loopback_base_urls=self._loopback_base_urls)
        except ConfigError as error:
            raise Refused("the LTI registration is invalid:\n  " + "\n  ".join(error.problems)) from None
        issuer, org, jwks_url = registration.issuer, registration.bi_org, registration.jwks_url
        siblings = [
            other.registration
            for other in self.records()
            if other.registration is not None
            and other.key != key
            and (other.registration.issuer, other.registration.bi_org) == (issuer, org)
        ]
        for sibling in siblings:  # also registrations stored before these claims existed
            if sibling.jwks_url != jwks_url:
                raise _other_signer(issuer, org, sibling.jwks_url)
        previous = self.get(key) if replace else None
        before = previous.registration if previous is not None else None
        moved = before is not None and (before.bi_org, before.jwks_url) != (org, jwks_url)
        self._put_claimed(
            key,
            document,
            _Claim(
                signer_key(org, issuer),
                jwks_url,
                lambda owner: _other_signer(issuer, org, owner),
                # The only registration of this iss in this org may move to a new JWKS URL.
                replaces=before.jwks_url if moved and before is not None and not siblings else None,
            ),
            replace=replace,
            release=(
                (signer_key(before.bi_org, issuer), before.jwks_url)
                if moved and before is not None and before.bi_org != org
                else None
            ),
        )
        return StoredRecord(key, document, None, (), registration)

    def _put_claimed(
        self,
        key: str,
        document: dict[str, Any],
        claim: _Claim,
        *,
        replace: bool,
        release: tuple[str, str] | None = None,
    ) -> None:
        """The record and its claim in one transaction, the claim under the condition that it is
        new or already this owner's: a rule such as "a partner id names one record" holds at the
        write, so two adds that raced cannot both succeed. ``release``: a claim (key, owner) the
        record no longer needs, deleted if that owner still holds it."""
        record_put: dict[str, Any] = {
            "TableName": self.table,
            "Item": {"issuer": {"S": key}, "value": {"S": json.dumps(document, sort_keys=True)}},
        }
        if not replace:
            record_put["ConditionExpression"] = "attribute_not_exists(issuer)"
        owners = {":owner": {"S": claim.owner}}
        condition = "attribute_not_exists(issuer) OR #owner = :owner"
        if claim.replaces is not None:
            owners[":replaced"] = {"S": claim.replaces}
            condition += " OR #owner = :replaced"
        value = {"kind": CLAIM_KIND, "owner": claim.owner, "record": key}
        writes: list[Any] = [
            {"Put": record_put},
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        "issuer": {"S": claim.key},
                        "owner": {"S": claim.owner},
                        "value": {"S": json.dumps(value, sort_keys=True)},
                    },
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#owner": "owner"},
                    "ExpressionAttributeValues": owners,
                }
            },
        ]
        if release is not None:
            writes.append(
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": {"issuer": {"S": release[0]}},
                        "ConditionExpression": "attribute_not_exists(issuer) OR #owner = :owner",
                        "ExpressionAttributeNames": {"#owner": "owner"},
                        "ExpressionAttributeValues": {":owner": {"S": release[1]}},
                    }
                }
            )
        try:
            self._client.transact_write_items(TransactItems=writes)
        except self._client.exceptions.TransactionCanceledException as error:
            reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                raise _exists(key) from None
            owner = self._claim_owner(claim.key)
            if owner is not None and owner != claim.owner:
                raise claim.taken(owner) from None
            raise Refused(f"the registry changed while {key!r} was stored; run the command again") from None

    def _claim_owner(self, key: str) -> str | None:
        item = self._client.get_item(
            TableName=self.table, Key={"issuer": {"S": key}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else item.get("owner", {}).get("S")

    @staticmethod
    def _lti_key(document: dict[str, Any]) -> str:
        issuer, client_id = document.get("iss"), document.get("client_id")
        if not isinstance(issuer, str) or not issuer or not isinstance(client_id, str) or not client_id:
            raise Refused("an LTI registration needs iss and client_id (its key is lti|<iss>|<client_id>)")
        return registry_key(issuer, client_id)

    def set_enabled(self, name: str, enabled: bool) -> list[str]:
        """Enable or disable every record of partner ``name``, or the record whose key is ``name``.

        Answers the keys changed. Only the flag changes, whatever else the record holds (an
        invalid record, or one of two records that share a partner id): disabling is an
        incident action and never waits on a record being fixed first.
        """
        matching = []
        for found in self.records():
            if found.key != name and (found.kind != PARTNER_KIND or found.partner != name):
                continue
            if found.kind not in (PARTNER_KIND, LTI_KIND):
                raise Refused(f"the record of {found.key!r} is of kind {found.kind!r}, which has no flag")
            matching.append(found.key)
        if not matching:
            raise Refused(
                f"no record has partner {name!r}, nor is it a record's key (make partner-list shows them)"
            )
        for key in matching:
            self._set_flag(key, enabled)
        return matching

    def _set_flag(self, key: str, enabled: bool) -> None:
        """Set the record's ``enabled`` and nothing else, by a conditional write on the text read,
        so a change made meanwhile (a REPLACE=yes) is kept, not overwritten with what was read."""
        for _ in range(5):
            item = self._client.get_item(
                TableName=self.table, Key={"issuer": {"S": key}}, ConsistentRead=True
            ).get("Item")
            if item is None:
                raise Refused(f"the record of {key!r} was deleted meanwhile")
            text = item.get("value", {}).get("S", "")
            try:
                document = parse_json(text)
            except ValueError:
                document = None
            if not isinstance(document, dict):
                raise Refused(f"the record of {key!r} is not a JSON object: the function refuses it already")
            try:
                self._client.update_item(
                    TableName=self.table,
                    Key={"issuer": {"S": key}},
                    UpdateExpression="SET #value = :new",
                    ConditionExpression="#value = :old",
                    ExpressionAttributeNames={"#value": "value"},
                    ExpressionAttributeValues={
                        ":new": {"S": json.dumps({**document, "enabled": enabled}, sort_keys=True)},
                        ":old": {"S": text},
                    },
                )
                return
            except self._client.exceptions.ConditionalCheckFailedException:
                continue  # changed since it was read: read it again
        raise Refused(f"the record of {key!r} kept changing; run the command again")


@dataclass(frozen=True)
class _Claim:
    """An item by which one value has one owner: a partner id one record (its issuer), a
    platform's iss in an org one signer (its JWKS URL)."""

    key: str
    owner: str
    taken: Callable[[str], Refused]  # the refusal, given the owner found
    replaces: str | None = None  # an owner this write may take the claim from


def claim_key(partner_id: str) -> str:
    """The key of a partner id's claim: the item naming the one record that has that id."""
    return f"partner-id|{partner_id}"


def signer_key(bi_org: str, issuer: str) -> str:
    """The key of the claim naming the one JWKS URL that signs for ``issuer``'s students in ``bi_org``."""
    return f"lti-signer|{bi_org}|{issuer}"


def _other_signer(issuer: str, org: str, jwks_url: str) -> Refused:
    return Refused(
        f"org {org!r} already has a registration of iss {issuer!r} with jwks_url {jwks_url!r}: "
        "registrations of one iss in one org must use the same jwks_url (a student's Big Interview "
        "user is made from iss and sub alone, so another signer could sign in as them)"
    )


def _exists(key: str) -> Refused:
    return Refused(f"{key!r} already has a record; give REPLACE=yes to replace it")


def _id_taken(partner_id: str, issuer: str) -> Refused:
    return Refused(
        f"partner {partner_id!r} already has the record of issuer {issuer!r}; "
        "a partner id names one record (it labels that partner's metrics)"
    )


def list_records(registry: Registry, out: TextIO) -> None:
    """One line per record (and one per problem of an invalid one); keys and fields are
    untrusted text, so each line is printed escaped: a record cannot forge a row or send
    escape sequences to the operator's terminal."""
    rows = sorted(
        (row for row in registry.records() if row.kind != CLAIM_KIND),
        key=lambda r: (r.kind, r.partner or "", r.key),
    )
    if not rows:
        print(escaped(f"{registry.table}: no records"), file=out)
        return

    def emit(line: str) -> None:
        print(escaped(line), file=out)

    emit(f"{'partner':<20} {'enabled':<8} {'org':<20} issuer")
    for row in rows:
        # An LTI registration has no partner id: its kind stands in the column, its key says which.
        name = (row.partner or "?") if row.kind == PARTNER_KIND else f"({row.kind})"
        if row.kind not in (PARTNER_KIND, LTI_KIND):
            emit(f"{name:<20} {'':<8} {'':<20} {row.key}")
        elif row.enabled is None:
            emit(f"{name:<20} {'INVALID':<8} {'':<20} {row.key}")
            for problem in row.problems:
                emit(f"    {problem}")
        else:
            enabled = "yes" if row.enabled else "no"
            if row.record is not None:
                name, org = row.record.partner_id, row.record.partner.destination.bi_org
            else:
                assert row.registration is not None
                org = row.registration.bi_org
            emit(f"{name:<20} {enabled:<8} {org:<20} {row.key}")


def local_stack(environ: Mapping[str, str]) -> bool:
    """The registry is the local stack's (its setting is given, or the table is on a loopback
    endpoint such as make dev's moto): records are judged by the rules of its function."""
    endpoint = environ.get("AWS_ENDPOINT_URL_DYNAMODB") or environ.get("AWS_ENDPOINT_URL") or ""
    try:
        on_loopback = is_loopback_host(split_url(endpoint).hostname)
    except ValueError:
        on_loopback = False
    return loopback_base_urls_allowed(environ) or on_loopback


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, client: Any = None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="make partner-…", description="Manage the partner registry.")
    parser.add_argument("--table", default=os.environ.get("PARTNER_REGISTRY_TABLE"))
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="validate a record (a JSON file) and store it")
    add.add_argument("file", nargs="?", help="the record, a JSON file (FILE=)")
    add.add_argument("--replace", action="store_true", help="replace the issuer's record if there is one")
    commands.add_parser("list", help="every record, and what is wrong with invalid ones")
    for verb in ("disable", "enable"):
        command = commands.add_parser(
            verb, help=f"{verb} a partner's sign-ins or an LTI registration's launches"
        )
        command.add_argument("partner", nargs="?", help="a partner id, or a record's key as list shows it")
    args = parser.parse_args(argv)
    if not args.table:
        print("partners: give TABLE= (the stack's output PartnerRegistryTableName)", file=sys.stderr)
        return 2
    if args.command == "add" and not args.file:
        print(
            "partners: give FILE= (the record to add, a JSON file: make partner-add FILE=record.json)",
            file=sys.stderr,
        )
        return 2
    if args.command in ("disable", "enable") and not args.partner:
        print(f"partners: give PARTNER= (make partner-{args.command} PARTNER=<id>)", file=sys.stderr)
        return 2
    try:
        registry = Registry(args.table, client, loopback_base_urls=local_stack(os.environ))
        if args.command == "add":
            try:
                document = parse_json(Path(args.file).read_text(encoding="utf-8"))
            except OSError as error:
                print(f"partners: cannot read {args.file}: {error.strerror}", file=sys.stderr)
                return 2
            except ValueError:
                print(f"partners: {args.file} is not JSON", file=sys.stderr)
                return 2
            if not isinstance(document, dict):
                raise Refused(f"{args.file} must hold one JSON object (a record)")
            stored_record = registry.put(document, replace=args.replace)
            state = "enabled" if stored_record.enabled else "disabled"
            what = (
                f"partner {stored_record.record.partner_id!r} ({state}) under issuer"
                if stored_record.record is not None
                else f"LTI platform registration ({state}) under key"
            )
            print(
                f"stored {what} {stored_record.key!r}; "
                f"warm functions read it within {DEFAULT_CACHE_SECONDS} s",
                file=out,
            )
        elif args.command == "list":
            list_records(registry, out)
        else:
            changed = registry.set_enabled(args.partner, args.command == "enable")
            print(
                f"{args.command}d {args.partner!r} (record {', '.join(map(repr, changed))}); "
                f"every function follows within {DEFAULT_CACHE_SECONDS} s (PARTNER_REGISTRY_CACHE_SECONDS)",
                file=out,
            )
    except Refused as error:
        print(escaped(f"partners: {error}"), file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:  # no table, no credentials, no network
        print(escaped(f"partners: {args.table}: {missing_setup(error) or error}"), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
