"""Commands on an entity's views: boards (add; set grouping, card fields, swimlanes and
work-in-progress limits) and lists (add; set label, columns and sort).

Card fields and list columns keep the order they have; the ones newly ticked come last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flowdeck.engine.messages import M
from flowdeck.engine.schema.authoring.common import (
    ENFORCE,
    SYSTEM_COLUMNS,
    Document,
    EditRefused,
    checked_key,
    copied,
    entity_spec,
    kept_order,
    known_keys,
    label_of,
    same_label,
    views_of,
    with_members,
)
from flowdeck.engine.viewtypes import BOARD, LIST, ViewType


def typed_view(entity: dict[str, Any], key: str, kind: ViewType) -> dict[str, Any]:
    """The view `key`, which must be of type `kind`."""
    view = views_of(entity).get(key)
    if not isinstance(view, dict) or view.get("type") != kind.name:
        raise EditRefused(kind.missing(key))
    return view


def _add_view(document: Document, entity: str, key: str, kind: ViewType, label_en: str, label_zh: str, **members: Any) -> Document:
    """`document` with a new view of type `kind` under a new key; `members` as `with_members` takes them."""
    doc = copied(document)
    target = entity_spec(doc, entity)
    key = checked_key(key, M("view"))
    if key in views_of(target):
        raise EditRefused(M('The entity already has a view "%(key)s".', key=key))
    views_of(target)[key] = with_members({"type": kind.name}, label=label_of(label_en, label_zh), **members)
    return doc


def _group_by(value: str) -> str:
    if not value:
        raise EditRefused(M("Choose what the board groups its cards by."))
    return value


def add_board(document: Document, *, entity: str, key: str, label_en: str = "", label_zh: str = "", group_by: str = "") -> Document:
    return _add_view(document, entity, key, BOARD, label_en, label_zh, group_by=_group_by(group_by))


def set_board(
    document: Document,
    *,
    entity: str,
    view: str,
    group_by: str = "",
    card: Iterable[str] = (),
    wip: Mapping[str, tuple[str, str]] | None = None,
    swimlanes: str = "",
) -> Document:
    """A board's grouping, card fields (kept in their order, new ones last), swimlanes and
    WIP limits (`wip`: column -> (max as typed, "warn"|"block"); an empty max removes the
    limit). A new grouping clears the limits and collapsed columns of the old columns."""
    doc = copied(document)
    target = entity_spec(doc, entity)
    spec = typed_view(target, view, BOARD)
    _group_by(group_by)
    regrouped = group_by != spec.get("group_by")
    cards = kept_order(spec.get("card"), [c for c in card if c])
    limits: dict[str, Any] = {}
    for column, (maximum, enforce) in (wip or {}).items():
        text = (maximum or "").strip()
        if not text:
            continue
        if not text.isdigit() or int(text) < 1:
            raise EditRefused(M('The WIP limit of "%(column)s" must be a whole number above 0.', column=column))
        limit: dict[str, Any] = {"max": int(text)}
        if enforce not in ENFORCE:
            raise EditRefused(M("A WIP limit warns or blocks."))
        if enforce == "block":
            limit["enforce"] = "block"
        limits[column] = limit
    if regrouped:
        limits = {}  # the limits shown were those of the old columns
    members: dict[str, Any] = {"group_by": group_by, "card": cards or None, "wip": limits or None, "swimlanes": swimlanes or None}
    if regrouped:
        members["collapsed"] = None
    target["views"][view] = with_members(spec, **members)
    return doc


def add_list(document: Document, *, entity: str, key: str, label_en: str = "", label_zh: str = "", columns: Iterable[str] = ()) -> Document:
    """A new list view showing `columns` (none ticked: every field)."""
    known = known_keys(entity_spec(document, entity), columns, SYSTEM_COLUMNS) or None
    return _add_view(document, entity, key, LIST, label_en, label_zh, columns=known)


def set_list(
    document: Document,
    *,
    entity: str,
    view: str,
    label_en: str | None = None,
    label_zh: str | None = None,
    columns: Iterable[str] = (),
    sort_by: str = "",
    descending: bool = False,
) -> Document:
    """A list view's label, columns (kept in their order, new ones last; none: every field)
    and first sort key (the keys after it are kept while the first one stays)."""
    doc = copied(document)
    target = entity_spec(doc, entity)
    spec = typed_view(target, view, LIST)
    ordered = kept_order(spec.get("columns"), known_keys(target, columns, SYSTEM_COLUMNS))
    sort_key = sort_by.strip()
    sort: list[str] | None = None
    if sort_key:
        known_keys(target, [sort_key], SYSTEM_COLUMNS)
        old = [k for k in spec.get("sort") or [] if isinstance(k, str)]
        tail = old[1:] if old and old[0].lstrip("-") == sort_key else []
        sort = [f"-{sort_key}" if descending else sort_key, *(k for k in tail if k.lstrip("-") != sort_key)]
    label = same_label(spec.get("label"), label_en, label_zh)
    views_of(target)[view] = with_members(spec, label=label, columns=ordered or None, sort=sort)
    return doc
