"""Field values as HTML for lists, cards and record pages: always escaped, built in Python.

Lists and boards show hundreds of values per page, so this avoids a template include per
cell. Names of users, titles of referenced records and file names are looked up once per
page by the engine (`engine.lookups`, kept in a `DisplayContext`), never per row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from flask import url_for
from flask_babel import format_date, format_datetime, format_decimal, ngettext
from markupsafe import Markup, escape
from sqlalchemy.engine import Connection

from flowdeck.engine import lookups
from flowdeck.engine.schema.model import Entity, Field
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.views.assets import badge_class
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import lang, time_zone
from flowdeck.views.lifecycle import registry

CURRENCY_SIGNS = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "HKD": "HK$"}


@dataclass
class DisplayContext:
    """What values need from elsewhere: user names, referenced titles, file names."""

    app: str
    users: dict[int, str] = field(default_factory=dict)
    refs: dict[tuple[str, int], str] = field(default_factory=dict)
    files: dict[int, str] = field(default_factory=dict)


def build_context(
    conn: Connection, et: EntityTables, rows: Sequence[Mapping[str, Any]], keys: Iterable[str] | None = None
) -> DisplayContext:
    """Every name the given rows' fields refer to, looked up by the engine in one statement
    per kind (`engine.lookups`)."""
    names = lookups.names_for(conn, et, rows, registry(), keys)
    return DisplayContext(app=et.entity.app, users=names.users, refs=names.refs, files=names.files)


def badge(text: str, color: str | None) -> Markup:
    """A badge in a schema colour (a class of the colours' stylesheet, `assets.badge_class`).
    Plain-text labels are kept per process (a list page shows the same few hundreds of
    times); only `str` is cached, so a label given as Markup is never confused with the
    same characters given as text."""
    if type(text) is str:
        return _text_badge(text, color)
    return Markup('<span class="badge{}">{}</span>').format(badge_class(color), text)


@lru_cache(maxsize=4096)
def _text_badge(text: str, color: str | None) -> Markup:
    return Markup(f'<span class="badge{badge_class(color)}">{escape(text)}</span>')  # noqa: S704 -- text escaped here


def number(value: Any, scale: int | None = None) -> str:
    if isinstance(value, Decimal) and scale is not None:
        pattern = "#,##0" + ("." + "0" * scale if scale else "")
        return format_decimal(value, format=pattern)
    return format_decimal(value)


def show(fld: Field, value: Any, ctx: DisplayContext, *, entity: Entity | None = None) -> Markup:
    """One field value as escaped HTML (empty string for no value)."""
    if value is None or value == [] or value == "":
        return Markup("")
    kind = fld.value_type
    if fld.is_many and kind in ("select", "multiselect"):
        return Markup(" ").join(_option(fld, v) for v in value)
    if isinstance(value, list) and not fld.is_table:
        return Markup(", ").join(show_one(fld, v, ctx) for v in value)
    if fld.is_table:
        return escape(ngettext("%(num)d row", "%(num)d rows", len(value)))
    return show_one(fld, value, ctx)


def _option(fld: Field, key: str) -> Markup:
    """An option's label in its colour; a key that is not an option (a formula's code the
    document does not list) stays as written, in a neutral badge."""
    option = fld.option(key)
    if option is None:
        return badge(key, None)
    return badge(option.label.get(lang()), option.color)


_CONTEXT_FREE = frozenset({"date", "datetime", "integer", "decimal", "money", "percent"})


@lru_cache(maxsize=8192)
def _formatted(kind: str, scale: int | None, currency: str | None, code: str, tz: str, value: Any) -> Markup:
    """A value whose look depends only on its type, the language and the time zone (dates,
    numbers), formatted once per process: Babel's formatting is the costliest part of a
    value. `code` and `tz` are part of the key; the formatting reads them from the request."""
    if kind == "date":
        return escape(format_date(value, "medium"))
    if kind == "datetime":
        return escape(format_datetime(value, "short"))
    if kind == "money":
        sign = CURRENCY_SIGNS.get(currency or "", (currency or "") + " ")
        return Markup('<span class="num">{}{}</span>').format(sign, number(value, 2))
    if kind == "percent":
        return Markup('<span class="num">{}%</span>').format(number(value.normalize() if isinstance(value, Decimal) else value))
    return Markup('<span class="num">{}</span>').format(number(value, scale if kind == "decimal" else None))


def show_one(fld: Field, value: Any, ctx: DisplayContext) -> Markup:
    kind = fld.value_type
    if kind in _CONTEXT_FREE and (kind != "date" or isinstance(value, dt.date)) and (kind != "datetime" or isinstance(value, dt.datetime)):
        try:
            return _formatted(kind, fld.scale, fld.currency, lang(), time_zone(), value)
        except TypeError:  # an unhashable value: format it here
            pass
    if kind in ("select", "multiselect") or fld.options:
        return _option(fld, value)
    if kind == "user":
        return Markup(f'<span class="user">{escape(ctx.users.get(value, f"#{value}"))}</span>')  # noqa: S704 -- escaped here
    if kind == "reference" and fld.to:
        title = ctx.refs.get((fld.to, value), f"#{value}")
        href = url_for("records.show", app=ctx.app, entity=fld.to, record_id=value)
        return Markup('<a href="{}">{}</a>').format(href, title or f"#{value}")
    if kind == "attachment":
        href = url_for("records.download", file_id=value)
        return Markup('<a href="{}">{}</a>').format(href, ctx.files.get(value, f"#{value}"))
    if kind == "boolean":
        return Markup('<span class="bool">{}</span>').format(_("Yes") if value else _("No"))
    if kind == "date" and isinstance(value, dt.date):
        return escape(format_date(value, "medium"))
    if kind == "datetime" and isinstance(value, dt.datetime):
        return escape(format_datetime(value, "short"))
    if kind == "money":
        sign = CURRENCY_SIGNS.get(fld.currency or "", (fld.currency or "") + " ")
        return Markup('<span class="num">{}{}</span>').format(sign, number(value, 2))
    if kind == "percent":
        return Markup('<span class="num">{}%</span>').format(number(value.normalize() if isinstance(value, Decimal) else value))
    if kind in ("decimal", "integer"):
        return Markup('<span class="num">{}</span>').format(number(value, fld.scale if kind == "decimal" else None))
    if kind == "url":
        return Markup('<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>').format(value, value)
    if kind == "email":
        return Markup('<a href="mailto:{}">{}</a>').format(value, value)
    if kind == "markdown":
        first = str(value).strip().splitlines()[0] if str(value).strip() else ""
        return escape(first[:140])
    return escape(str(value))
