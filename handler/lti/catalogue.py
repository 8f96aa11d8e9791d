"""What an instructor may place in a course: Big Interview's destinations, as relative in-app paths.

The Partner API lists no catalogue (docs/lti.md, "The catalogue"), so the default is this
module's: the dashboard, the guided tracks and the curriculum's chapters. An operator adds
an org's own destinations, or renames or re-points a default one (same ``id``), with
``LTI_DEEP_LINKING_CATALOGUE``: a JSON object from an org (or ``"*"``, every org) to a list
of ``{"id", "title", "path"[, "group"]}``. Every path obeys the redirect rules a launch's
``redirect_to`` obeys (``handler.redirects.check_redirect_to``): the chosen destination
travels as that custom parameter.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from handler.errors import InvalidRedirect
from handler.redirects import check_redirect_to

__all__ = ["DEFAULT_ITEMS", "Catalogue", "Item", "parse_catalogue"]

_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_MAX_TITLE = 120
_MAX_ITEMS = 100  # per org: the picker is one page


@dataclass(frozen=True)
class Item:
    """One destination: its stable id (the picker's value), title, path, and the group it is listed under."""

    id: str
    title: str
    path: str
    group: str


DASHBOARD, TRACKS, CURRICULUM = "Dashboard", "Guided tracks", "Curriculum"
# The chapters' numbers only: Big Interview publishes neither their titles nor how many there
# are, so an operator names them (or adds more) per org in LTI_DEEP_LINKING_CATALOGUE.
_CHAPTERS = 10
DEFAULT_ITEMS: tuple[Item, ...] = (
    Item("dashboard", "Big Interview dashboard", "/members/dashboard", DASHBOARD),
    Item("fast-track", "Fast Track", "/members/tracks/fast-track", TRACKS),
    Item("mastery-track", "Mastery Track", "/members/tracks/mastery-track", TRACKS),
    *(
        Item(f"chapter-{n}", f"Curriculum, chapter {n}", f"/members/curriculum?chapter={n}", CURRICULUM)
        for n in range(1, _CHAPTERS + 1)
    ),
)


class Catalogue:
    """The default items and each org's additions (an addition with a default's id replaces it)."""

    def __init__(self, additions: dict[str, tuple[Item, ...]] | None = None) -> None:
        self._additions = additions or {}

    def items(self, org: str) -> tuple[Item, ...]:
        merged = {item.id: item for item in DEFAULT_ITEMS}
        for key in ("*", org):
            merged.update((item.id, item) for item in self._additions.get(key, ()))
        return tuple(merged.values())

    def find(self, org: str, item_id: str) -> Item | None:
        return next((item for item in self.items(org) if item.id == item_id), None)


def parse_catalogue(text: str | None, name: str = "LTI_DEEP_LINKING_CATALOGUE") -> Catalogue:
    """The operator's additions, or ``ValueError`` naming every problem (by ``name``)."""
    if not text:
        return Catalogue()
    try:
        document = json.loads(text)
    except ValueError:
        raise ValueError(f"{name} must be a JSON object, and this one cannot be parsed") from None
    if not isinstance(document, dict):
        raise ValueError(f'{name} must be a JSON object from an org (or "*") to a list of items')
    problems: list[str] = []
    additions: dict[str, tuple[Item, ...]] = {}
    for org, entries in document.items():
        where = f"{name}[{org[:63]!r}]"
        if org != "*" and not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", org):
            problems.append(f'{where}: the key must be an org (a DNS label such as "xyz") or "*"')
            continue
        if not isinstance(entries, list) or len(entries) > _MAX_ITEMS:
            problems.append(f"{where} must be a list of at most {_MAX_ITEMS} items")
            continue
        items = [_item(entry, f"{where}[{index}]", problems) for index, entry in enumerate(entries)]
        additions[org] = tuple(item for item in items if item is not None)
    if problems:
        raise ValueError("; ".join(problems))
    return Catalogue(additions)


def _item(entry: object, where: str, problems: list[str]) -> Item | None:
    if not isinstance(entry, dict) or set(entry) - {"id", "title", "path", "group"}:
        problems.append(f'{where} must be an object with "id", "title", "path" and optionally "group"')
        return None
    item_id, title, path, group = (entry.get(key) for key in ("id", "title", "path", "group"))
    found = len(problems)
    if not isinstance(item_id, str) or not _ID.fullmatch(item_id):
        problems.append(f"{where}.id must be 1 to 63 lower-case letters, digits or '-'")
    for label, value in (("title", title), ("group", group if group is not None else "Other")):
        if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TITLE:
            problems.append(f"{where}.{label} must be text of 1 to {_MAX_TITLE} characters")
    try:
        check_redirect_to(path if isinstance(path, str) else "")
    except InvalidRedirect as error:
        problems.append(f"{where}.path: {error.detail}")
    if len(problems) > found:
        return None
    assert isinstance(item_id, str) and isinstance(title, str) and isinstance(path, str)
    return Item(item_id, title.strip(), path, group.strip() if isinstance(group, str) else "Other")
