"""The web side of the field type registry: for each field type, the template that edits it
(`fields/edit/<edit>.html`), the function that shows a value as escaped HTML, the filter
bar's control and the builder's name for the type.

The engine side is `engine.fieldtypes.FIELD_TYPES` (column, parsing, checks, operators,
family). A new field type is one entry there and one here; tests/web/test_type_registries.py
fails when either side lacks a type or this side names a type the engine does not know.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import url_for
from flask_babel import format_date, format_datetime, lazy_gettext, ngettext
from markupsafe import Markup, escape

from flowdeck.engine import clock
from flowdeck.engine.fieldkinds import rating_max
from flowdeck.engine.schema.model import Field
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import lang
from flowdeck.views.values import CURRENCY_SIGNS, badge, number

if TYPE_CHECKING:
    from flowdeck.views.display import DisplayContext

Display = Callable[[Field, Any, "DisplayContext | None"], Markup]


@dataclass(frozen=True)
class FieldWidget:
    """How the web shows one field type.

    `display` gets one value (never None, never a list) and the page's names; `filter` is
    the filter bar's control (`choice`, `user`, `text`, `number`, `date`, `boolean`,
    `empty`); `cached` says the display depends only on the value, the field's settings,
    the language and the time zone, so lists and `display.show` keep it per process;
    `grouped` draws the widget in a fieldset with a legend (radio and checkbox groups);
    `native_required` lets the browser check a required value (`required` on the input);
    `self_explaining` shows the value on a card without its field's label (badges, names,
    titles); `links` says the display is a link itself, so a list's title cell is not wrapped
    in the record's link; `suffix` follows the number input (the unit); `sample` makes a
    plausible value for the builder's preview cards (None: the preview leaves it out);
    `input_type` and `autocomplete` are the `<input>`'s attributes, `wide` spans the form's
    width; `empty_group` names the group of records without a value wherever records are
    grouped by such a field (None: "No value"; a person field's says "Unassigned")."""

    edit: str
    display: Display
    filter: str
    label: Any
    cached: bool = False
    grouped: bool = False
    native_required: bool = False
    self_explaining: bool = False
    links: bool = False
    suffix: str = ""
    sample: Callable[[], Any] | None = None
    input_type: str | None = None
    autocomplete: str | None = None
    wide: bool = False
    empty_group: Any = None


def show_option(fld: Field, key: str, ctx: DisplayContext | None = None) -> Markup:
    option = fld.option(key)
    if option is None:
        return badge(key, None)
    return badge(option.label.get(lang()), option.color)


def _show_text(fld: Field, value: Any, ctx: DisplayContext | None) -> Markup:
    return escape(str(value))


def _show_markdown(fld: Field, value: Any, ctx: DisplayContext | None) -> Markup:
    first = str(value).strip().splitlines()[0] if str(value).strip() else ""
    return escape(first[:140])


def _show_url(fld: Field, value: Any, ctx: DisplayContext | None) -> Markup:
    return Markup('<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>').format(value, value)


def _show_email(fld: Field, value: Any, ctx: DisplayContext | None) -> Markup:
    return Markup('<a href="mailto:{}">{}</a>').format(value, value)


def _show_number(fld: Field, value: Any, ctx: DisplayContext | None) -> Markup:
    return Markup('<span class="num">{}</span>').format(number(value, fld.scale if fld.value_type == "decimal" else None))


def _show_money(fld: Field, value: Any, ctx: DisplayContext | None) -> Markup:
    sign = CURRENCY_SIGNS.get(fld.currency or "", (fld.currency or "") + " ")
    return Markup('<span class="num">{}{}</span>').format(sign, number(value, 2))


def _show_percent(fld: Field, value: Any, ctx: DisplayContext | None) -> Markup:
    """The number with a small bar (a <meter>, clamped to 0..100 by the browser); the bar is
    decoration, the number is what is read out."""
    plain = value.normalize() if isinstance(value, Decimal) else value
    # Written normalised: 40 and 40.00 are equal, so caches keyed on the value share one look.
    return _PERCENT.format(value=format(plain, "f") if isinstance(plain, Decimal) else plain, shown=number(plain))


_PERCENT = Markup(
    '<span class="pct"><meter min="0" max="100" value="{value}" aria-hidden="true"></meter><span class="num">{shown}%</span></span>'
)


_STARS = Markup(
    '<span class="stars" title="{n}/{top}"><span aria-hidden="true">{shown}</span><span class="visually-hidden"> {n}/{top}</span></span>'
)


def _show_rating(fld: Field, value: Any, ctx: DisplayContext | None) -> Markup:
    top = rating_max(fld)
    try:
        stars = int(value)
    except (TypeError, ValueError):
        return escape(str(value))
    shown = "★" * max(min(stars, top), 0) + "☆" * max(top - stars, 0)
    return _STARS.format(n=stars, top=top, shown=shown)


def _show_date(fld: Field, value: Any, ctx: DisplayContext | None) -> Markup:
    if isinstance(value, dt.date):
        return escape(format_date(value, "medium"))
    return escape(str(value))


def _show_datetime(fld: Field, value: Any, ctx: DisplayContext | None) -> Markup:
    if isinstance(value, dt.datetime):
        return escape(format_datetime(value, "short"))
    return escape(str(value))


def _show_boolean(fld: Field, value: Any, ctx: DisplayContext | None) -> Markup:
    return Markup('<span class="bool">{}</span>').format(_("Yes") if value else _("No"))


def _show_user(fld: Field, value: Any, ctx: DisplayContext | None) -> Markup:
    name = ctx.users.get(value, f"#{value}") if ctx is not None else f"#{value}"
    return Markup(f'<span class="user">{escape(name)}</span>')  # noqa: S704 -- escaped here


def _show_reference(fld: Field, value: Any, ctx: DisplayContext | None) -> Markup:
    if not fld.to or ctx is None:
        return escape(str(value))
    title = ctx.refs.get((fld.to, value), f"#{value}")
    href = url_for("records.show", app=ctx.app, entity=fld.to, record_id=value)
    return Markup('<a href="{}">{}</a>').format(href, title or f"#{value}")


def _show_attachment(fld: Field, value: Any, ctx: DisplayContext | None) -> Markup:
    href = url_for("records.download", file_id=value)
    name = ctx.files.get(value, f"#{value}") if ctx is not None else f"#{value}"
    return Markup('<a href="{}">{}</a>').format(href, name)


def _show_rows(fld: Field, value: Any, ctx: DisplayContext | None) -> Markup:
    return escape(ngettext("%(num)d row", "%(num)d rows", len(value)))


def _show_lookup(fld: Field, value: Any, ctx: DisplayContext | None) -> Markup:
    """A lookup shows its value like the field it looks up (the loader copied that field's
    options, currency, scale and target entity onto it)."""
    return widget(fld.value_type).display(fld, value, ctx)


FIELD_WIDGETS: dict[str, FieldWidget] = {
    "text": FieldWidget(
        "text", _show_text, "text", lazy_gettext("Text"), native_required=True, sample=lambda: _("sample"), input_type="text"
    ),
    "markdown": FieldWidget("markdown", _show_markdown, "text", lazy_gettext("Long text (Markdown)"), native_required=True, wide=True),
    "integer": FieldWidget(
        "number", _show_number, "number", lazy_gettext("Whole number"), cached=True, native_required=True, sample=lambda: 3
    ),
    "decimal": FieldWidget(
        "number",
        _show_number,
        "number",
        lazy_gettext("Decimal number"),
        cached=True,
        native_required=True,
        sample=lambda: Decimal("1200.00"),
    ),
    "money": FieldWidget(
        "number", _show_money, "number", lazy_gettext("Money"), cached=True, native_required=True, sample=lambda: Decimal("1200.00")
    ),
    "percent": FieldWidget(
        "number",
        _show_percent,
        "number",
        lazy_gettext("Percentage"),
        cached=True,
        native_required=True,
        suffix="%",
        sample=lambda: Decimal("40"),
    ),
    "rating": FieldWidget("rating", _show_rating, "number", lazy_gettext("Rating (stars)"), cached=True, grouped=True, sample=lambda: 3),
    "date": FieldWidget(
        "date",
        _show_date,
        "date",
        lazy_gettext("Date"),
        cached=True,
        native_required=True,
        sample=lambda: clock.today() + dt.timedelta(days=7),
        input_type="date",
    ),
    "datetime": FieldWidget(
        "datetime",
        _show_datetime,
        "date",
        lazy_gettext("Date and time"),
        cached=True,
        native_required=True,
        sample=clock.now,
        input_type="datetime-local",
    ),
    "boolean": FieldWidget("boolean", _show_boolean, "boolean", lazy_gettext("Yes / no"), cached=True, sample=lambda: True),
    "select": FieldWidget("select", show_option, "choice", lazy_gettext("Choice (one option)"), native_required=True, self_explaining=True),
    "multiselect": FieldWidget(
        "multiselect", show_option, "choice", lazy_gettext("Choice (several options)"), grouped=True, self_explaining=True
    ),
    "user": FieldWidget(
        "user",
        _show_user,
        "user",
        lazy_gettext("Person"),
        native_required=True,
        self_explaining=True,
        empty_group=lazy_gettext("Unassigned"),
    ),
    "reference": FieldWidget("reference", _show_reference, "empty", lazy_gettext("Link to a record"), self_explaining=True, links=True),
    "email": FieldWidget(
        "text",
        _show_email,
        "text",
        lazy_gettext("Email"),
        native_required=True,
        links=True,
        sample=lambda: "name@example.com",
        input_type="email",
        autocomplete="email",
    ),
    "url": FieldWidget(
        "text",
        _show_url,
        "text",
        lazy_gettext("Web address"),
        native_required=True,
        links=True,
        sample=lambda: "https://example.com",
        input_type="url",
        autocomplete="url",
    ),
    "phone": FieldWidget(
        "text",
        _show_text,
        "text",
        lazy_gettext("Phone"),
        native_required=True,
        sample=lambda: "+86 10 5555 0100",
        input_type="tel",
        autocomplete="tel",
    ),
    "attachment": FieldWidget("attachment", _show_attachment, "empty", lazy_gettext("File"), links=True),
    "autonumber": FieldWidget("readonly", _show_text, "text", lazy_gettext("Auto number")),
    "table": FieldWidget("table", _show_rows, "empty", lazy_gettext("Table (line items)"), grouped=True, wide=True),
    "computed": FieldWidget("readonly", _show_number, "number", lazy_gettext("Computed")),
    "lookup": FieldWidget("readonly", _show_lookup, "empty", lazy_gettext("Lookup (a field of a linked record)")),
    "sla": FieldWidget("readonly", _show_datetime, "date", lazy_gettext("SLA due time")),
    "rollup": FieldWidget("readonly", _show_number, "number", lazy_gettext("Roll-up")),
}


def widget(value_type: str) -> FieldWidget:
    """The entry of a value type; an unknown one (a stored type no longer defined) shows as text."""
    return FIELD_WIDGETS.get(value_type, _UNKNOWN)


_UNKNOWN = FieldWidget("readonly", _show_text, "empty", "")


def unit_suffix(fld: Field) -> str:
    """The unit after a number input (`%`), from the entry of the field's value type."""
    return widget(fld.value_type).suffix


def builder_labels() -> dict[str, str]:
    """The builder's name of every field type, in the reader's language."""
    return {name: str(entry.label) for name, entry in FIELD_WIDGETS.items()}
