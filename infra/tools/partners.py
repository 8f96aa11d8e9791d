"""``make partner-add / partner-list / partner-disable / partner-enable``: the partner registry.

    python -m infra.tools.partners add FILE [--replace] [--table NAME]
    python -m infra.tools.partners list [--table NAME]
    python -m infra.tools.partners disable PARTNER [--table NAME]
    python -m infra.tools.partners enable PARTNER [--table NAME]

The table is ``--table``, else ``PARTNER_REGISTRY_TABLE`` (the stack's output
``PartnerRegistryTableName``). AWS credentials and region are boto3's usual ones;
``AWS_ENDPOINT_URL`` points the tool at moto (``make dev PARTNERS=2`` runs one on
127.0.0.1:3003). A record is validated by the function's own validator
(``handler.partner_record``) before anything is written; an invalid one is refused
with every problem by field name, and the table is left as it was.

Exit code: 0 done, 1 refused (invalid record, unknown partner, duplicate), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from handler.errors import ConfigError
from handler.partner_record import PARTNER_KIND, PartnerRecord, validate_partner_record

__all__ = ["Registry", "StoredRecord", "main"]

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

    @property
    def kind(self) -> str:
        kind = self.document.get("kind", PARTNER_KIND) if isinstance(self.document, dict) else None
        return kind if isinstance(kind, str) else "?"

    @property
    def partner(self) -> str | None:
        value = self.document.get("partner") if isinstance(self.document, dict) else None
        return value if isinstance(value, str) else None


def stored(key: str, text: str) -> StoredRecord:
    try:
        document = json.loads(text)
    except ValueError:
        return StoredRecord(key, None, None, ("value is not JSON",))
    if isinstance(document, dict) and document.get("kind", PARTNER_KIND) != PARTNER_KIND:
        return StoredRecord(key, document, None, ())  # another kind (LTI registrations): not ours to judge
    try:
        return StoredRecord(key, document, validate_partner_record(key, document), ())
    except ConfigError as error:
        return StoredRecord(key, document, None, tuple(error.problems))


class Registry:
    """The registry table, through boto3's DynamoDB client (the layout of template.yaml)."""

    def __init__(self, table: str, client: Any = None) -> None:
        import boto3

        self.table = table
        self._client = client or boto3.client("dynamodb")

    def records(self) -> Iterator[StoredRecord]:
        for page in self._client.get_paginator("scan").paginate(TableName=self.table):
            for item in page["Items"]:
                yield stored(item["issuer"]["S"], item.get("value", {}).get("S", ""))

    def get(self, issuer: str) -> StoredRecord | None:
        item = self._client.get_item(TableName=self.table, Key={"issuer": {"S": issuer}}).get("Item")
        return None if item is None else stored(issuer, item.get("value", {}).get("S", ""))

    def put(self, document: dict[str, Any], *, replace: bool) -> PartnerRecord:
        """Validate ``document`` and store it under its issuer; ``Refused`` changes nothing."""
        issuer = document.get("issuer")
        if not isinstance(issuer, str) or not issuer:
            raise Refused("the record has no issuer (the table's key)")
        try:
            record = validate_partner_record(issuer, document)
        except ConfigError as error:
            raise Refused("the record is invalid:\n  " + "\n  ".join(error.problems)) from None
        for other in self.records():
            if other.partner == record.partner_id and other.key != issuer and other.kind == PARTNER_KIND:
                raise Refused(
                    f"partner {record.partner_id!r} already has the record of issuer {other.key!r}; "
                    "a partner id names one record (it labels that partner's metrics)"
                )
        item = {"issuer": {"S": issuer}, "value": {"S": json.dumps(document, sort_keys=True)}}
        if replace:
            self._client.put_item(TableName=self.table, Item=item)
            return record
        try:
            self._client.put_item(
                TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(issuer)"
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            raise Refused(f"issuer {issuer!r} already has a record; give REPLACE=yes to replace it") from None
        return record

    def set_enabled(self, partner: str, enabled: bool) -> list[str]:
        """Enable or disable every record of ``partner``; the issuers changed."""
        changed = []
        for found in self.records():
            if found.kind != PARTNER_KIND or found.partner != partner:
                continue
            if found.record is None:
                raise Refused(
                    f"the record of issuer {found.key!r} is invalid and is refused anyway: "
                    + "; ".join(found.problems)
                )
            self.put({**found.document, "enabled": enabled}, replace=True)
            changed.append(found.key)
        if not changed:
            raise Refused(f"no record has partner {partner!r} (make partner-list shows them)")
        return changed


def list_records(registry: Registry, out: TextIO) -> None:
    rows = sorted(registry.records(), key=lambda r: (r.kind, r.partner or "", r.key))
    if not rows:
        print(f"{registry.table}: no records", file=out)
        return
    print(f"{'partner':<20} {'enabled':<8} {'org':<20} issuer", file=out)
    for row in rows:
        if row.kind != PARTNER_KIND:
            print(f"{'(' + row.kind + ')':<20} {'':<8} {'':<20} {row.key}", file=out)
        elif row.record is None:
            print(f"{row.partner or '?':<20} {'INVALID':<8} {'':<20} {row.key}", file=out)
            for problem in row.problems:
                print(f"    {problem}", file=out)
        else:
            enabled = "yes" if row.record.enabled else "no"
            org = row.record.partner.destination.bi_org
            print(f"{row.record.partner_id:<20} {enabled:<8} {org:<20} {row.key}", file=out)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, client: Any = None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="make partner-…", description="Manage the partner registry.")
    parser.add_argument("--table", default=os.environ.get("PARTNER_REGISTRY_TABLE"))
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="validate a record (a JSON file) and store it")
    add.add_argument("file")
    add.add_argument("--replace", action="store_true", help="replace the issuer's record if there is one")
    commands.add_parser("list", help="every record, and what is wrong with invalid ones")
    for verb in ("disable", "enable"):
        command = commands.add_parser(verb, help=f"{verb} a partner's sign-ins")
        command.add_argument("partner")
    args = parser.parse_args(argv)
    if not args.table:
        print("partners: give TABLE= (the stack's output PartnerRegistryTableName)", file=sys.stderr)
        return 2
    registry = Registry(args.table, client)
    try:
        if args.command == "add":
            try:
                document = json.loads(Path(args.file).read_text(encoding="utf-8"))
            except OSError as error:
                print(f"partners: cannot read {args.file}: {error.strerror}", file=sys.stderr)
                return 2
            except ValueError:
                print(f"partners: {args.file} is not JSON", file=sys.stderr)
                return 2
            if not isinstance(document, dict):
                raise Refused(f"{args.file} must hold one JSON object (a record)")
            record = registry.put(document, replace=args.replace)
            state = "enabled" if record.enabled else "disabled"
            print(
                f"stored partner {record.partner_id!r} ({state}) under issuer {document['issuer']!r}; "
                f"warm functions read it within {DEFAULT_CACHE_SECONDS} s",
                file=out,
            )
        elif args.command == "list":
            list_records(registry, out)
        else:
            changed = registry.set_enabled(args.partner, args.command == "enable")
            print(
                f"{args.command}d partner {args.partner!r} (issuer {', '.join(map(repr, changed))}); "
                f"every function follows within {DEFAULT_CACHE_SECONDS} s (PARTNER_REGISTRY_CACHE_SECONDS)",
                file=out,
            )
    except Refused as error:
        print(f"partners: {error}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:  # no table, no credentials, no network
        print(f"partners: {registry.table}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
