"""Field values as HTML for lists, cards and record pages: always escaped, built in Python.

Lists and boards show hundreds of values per page, so this avoids a template include per
cell. Names of users, titles of referenced records and file names are looked up once per
page by the engine (`engine.lookups`, kept in a `DisplayContext`), never per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy.engine import Connection

from flowdeck.engine import lookups
from flowdeck.engine.fieldtypes import types_in
from flowdeck.engine.schema.model import Entity, Field, Label
from flowdeck.engine.sla.measures import DURATIONS
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.views.field_widgets import show_option, widget
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import lang, time_zone
from flowdeck.views.lifecycle import registry
from flowdeck.views.sla_badges import signed_time
from flowdeck.views.values import CURRENCY_SIGNS, badge, number

__all__ = ["CURRENCY_SIGNS", "DisplayContext", "badge", "build_context", "empty_group", "number", "show", "show_one"]


@dataclass
class DisplayContext:
    """What values need from elsewhere: user names, referenced titles, file names."""

    app: str
    users: dict[int, str] = field(default_factory=dict)
    refs: dict[tuple[str, int], str] = field(default_factory=dict)
    files: dict[int, str] = field(default_factory=dict)
    slas: Mapping[int, tuple[Any, ...]] = field(default_factory=dict)
    """The SLA statuses of the page's records (`views.sla_badges`), when it shows `sla` fields."""


def build_context(
    conn: Connection, et: EntityTables, rows: Sequence[Mapping[str, Any]], keys: Iterable[str] | None = None
) -> DisplayContext:
    """Every name the given rows' fields refer to, looked up by the engine in one statement
    per kind (`engine.lookups`)."""
    names = lookups.names_for(conn, et, rows, registry(), keys)
    return DisplayContext(app=et.entity.app, users=names.users, refs=names.refs, files=names.files)


def show(fld: Field, value: Any, ctx: DisplayContext, *, entity: Entity | None = None) -> Markup:
    """One field value as escaped HTML (empty string for no value)."""
    if value is None or value == [] or value == "":
        return Markup("")
    kind = fld.value_type
    if fld.is_many and kind in types_in("choice"):
        return Markup(" ").join(show_option(fld, v) for v in value)
    if isinstance(value, list) and not fld.is_table:
        return Markup(", ").join(show_one(fld, v, ctx) for v in value)
    return show_one(fld, value, ctx)


@lru_cache(maxsize=8192)
def _formatted(kind: str, scale: int | None, currency: str | None, bound: Any, code: str, tz: str, value: Any) -> Markup:
    """A value whose look depends only on its type, its settings, the language and the time
    zone (dates, numbers), formatted once per process: Babel's formatting is the costliest
    part of a value. `code` and `tz` are part of the key; the formatting reads them from the
    request."""
    stand_in = Field(key="value", type=kind, label=Label.of(None, "value"), scale=scale, currency=currency, max=bound)
    return widget(kind).display(stand_in, value, None)


def show_one(fld: Field, value: Any, ctx: DisplayContext) -> Markup:
    """One value (not a list) of `fld` as escaped HTML, by its type's entry in `field_widgets`."""
    kind = fld.value_type
    if fld.sla is not None and fld.measure in DURATIONS:  # an SLA's time left or used, as its badges say it
        return escape(signed_time(int(value)))
    entry = widget(kind)
    if entry.cached:
        try:
            return _formatted(kind, fld.scale, fld.currency, fld.max, lang(), time_zone(), value)
        except TypeError:  # an unhashable value: format it here
            pass
    if fld.options and kind not in types_in("choice"):  # a computed field's codes, shown as their labels
        return show_option(fld, value)
    return entry.display(fld, value, ctx)


def empty_group(fld: Field | None) -> Markup:
    """The name of the group of records without a value of `fld`, the same wherever records
    are grouped (a board's swimlanes, the SLA report): "Unassigned" for a person field, by its
    type's entry in `field_widgets`, "No value" otherwise."""
    named = widget(fld.value_type).empty_group if fld is not None else None
    return escape(str(named) if named is not None else _("No value"))
