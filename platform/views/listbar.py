"""The list page's controls around the table: sort and page links, the pager, the filter
bar's widgets, the active-filter chips and the column chooser.

Every link is built from the list's canonical arguments (`views.listquery`), so each one is
the shortest URL for that state and can be shared, saved or pushed to the address bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from flask import g

from flowdeck.engine.fieldtypes import FIELD_TYPES, operators_for, types_in
from flowdeck.engine.moments import relative_parts
from flowdeck.engine.query import Page
from flowdeck.engine.schema.model import Entity, Field
from flowdeck.views import listquery
from flowdeck.views.field_widgets import widget
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import tr
from flowdeck.views.listquery import FieldFilter, ListSpec
from flowdeck.views.sla_badges import working_time

PAGER_RADIUS = 2
NUMERIC = types_in("number")
TEXTUAL = types_in("text", "serial")


def query_suffix(pairs: Sequence[tuple[str, str]]) -> str:
    """`?a=1&b=2` (commas left readable), or nothing for no pairs."""
    return "?" + listquery.encode_pairs(pairs) if pairs else ""


class Links:
    """URLs of this list with some settings changed, always in canonical form."""

    def __init__(self, base: str, spec: ListSpec) -> None:
        self.base = base
        self.spec = spec

    def url(self, **changes: Any) -> str:
        args = replace(self.spec.canonical, **changes)
        if args.sort == self.spec.view.sort:
            args = replace(args, sort=())
        return self.base + query_suffix(listquery.to_pairs(args))

    def page(self, number: int) -> str:
        return self.url(page=number)

    def sorted_by(self, key: str) -> str:
        current = self.spec.sort[0] if self.spec.sort else ""
        return self.url(sort=("-" + key if current == key else key,), page=1)

    def without(self, key: str) -> str:
        """This list with `key`'s filter removed (the view's own condition too)."""
        filters = dict(self.spec.canonical.filters)
        group = listquery.STATE_GROUP if key in listquery.STATE_GROUP else (key,)
        for member in group:
            filters.pop(member, None)
        if any(member in self.spec.view.filter for member in group):
            filters[key] = FieldFilter()
        return self.url(filters=filters, page=1)


def _system_labels() -> dict[str, str]:
    return {
        "id": "#",
        "state": _("State"),
        "created_at": _("Created"),
        "updated_at": _("Updated"),
        "created_by": _("Created by"),
        "updated_by": _("Updated by"),
    }


def column_label(entity: Entity, key: str) -> str:
    """A column's label in the current language (looked up once per request)."""
    labels = g.setdefault("_list_labels", {})
    if (entity.app, entity.key, key) not in labels:
        fld = entity.field(key)
        labels[entity.app, entity.key, key] = tr(fld.label) if fld is not None else _system_labels().get(key, key)
    return labels[entity.app, entity.key, key]


@dataclass(frozen=True)
class PageLink:
    number: int | None
    url: str | None
    current: bool = False


@dataclass(frozen=True)
class Pager:
    links: list[PageLink]
    prev_url: str | None
    next_url: str | None
    first: int
    last: int


def pager(page: Page, links: Links) -> Pager:
    """Page numbers around the current one, with the first and last always reachable."""
    wanted = sorted({1, page.pages, *range(max(1, page.page - PAGER_RADIUS), min(page.pages, page.page + PAGER_RADIUS) + 1)})
    items: list[PageLink] = []
    for number in wanted:
        if items and items[-1].number is not None and number > items[-1].number + 1:
            items.append(PageLink(None, None))
        items.append(PageLink(number, links.page(number), number == page.page))
    first = (page.page - 1) * page.per_page + 1 if page.rows else 0
    return Pager(
        links=items if page.pages > 1 else [],
        prev_url=links.page(page.page - 1) if page.page > 1 else None,
        next_url=links.page(page.page + 1) if page.page < page.pages else None,
        first=first,
        last=first + len(page.rows) - 1 if page.rows else 0,
    )


@dataclass(frozen=True)
class Widget:
    """One field's control in the filter bar."""

    key: str
    label: str
    kind: str
    param: str
    value: FieldFilter
    options: tuple[tuple[str, str], ...] = ()
    can_empty: bool = False
    step: str = "any"
    kept: tuple[tuple[str, str], ...] = ()


def _filter_keys(entity: Entity, spec: ListSpec, hidden: frozenset[str]) -> list[str]:
    keys = ["state"] if entity.workflow is not None else []
    keys += [f.key for f in entity.fields if not f.is_table and f.key not in hidden]
    keys += ["created_by", "created_at", "updated_at"]
    fixed_groups = {m for k in spec.fixed for m in (listquery.STATE_GROUP if k in listquery.STATE_GROUP else (k,))}
    return [k for k in keys if k not in fixed_groups]


def widgets(entity: Entity, spec: ListSpec, people: Sequence[tuple[int, str]], hidden: frozenset[str]) -> list[Widget]:
    """One control per filterable field, filled with the list's current filter; fields
    held by a view condition the bar cannot show are left out (their chip removes them)."""
    out = []
    for key in _filter_keys(entity, spec, hidden):
        fld = listquery.column_field(entity, key)
        assert fld is not None
        value = spec.form.get(key, FieldFilter())
        param = f"{key}__in" if key in listquery.CONTROL_PARAMS else key
        can_empty = entity.field(key) is not None and "empty" in operators_for(fld)
        kind, options = _widget_kind(entity, key, fld, value, people)
        whole = fld.value_type in FIELD_TYPES and FIELD_TYPES[fld.value_type].whole
        step = "1" if whole else "any"
        kept = _kept(key, param, kind, can_empty, value)
        out.append(Widget(key, column_label(entity, key), kind, param, value, options, can_empty, step, kept))
    return out


_SHOWN = {
    "choice": ("values",),
    "user": ("values",),
    "boolean": ("values",),
    "text": ("contains",),
    "number": ("gte", "lte"),
    "date": ("gte", "lte"),
}


def _kept(key: str, param: str, kind: str, can_empty: bool, value: FieldFilter) -> tuple[tuple[str, str], ...]:
    """Hidden inputs for the parts of a field's filter its control cannot show (say, a
    view's `title = "x"` beside a "contains" box), so sending the bar keeps them."""
    shown = set(_SHOWN.get(kind, ())) | ({"empty"} if can_empty else set())
    kept = [] if "values" in shown else [(param, v) for v in value.values]
    kept += [(f"{key}__{op}", getattr(value, op)) for op in ("gte", "lte", "contains", "empty") if op not in shown and getattr(value, op)]
    return tuple(kept)


def _widget_kind(
    entity: Entity, key: str, fld: Field, value: FieldFilter, people: Sequence[tuple[int, str]]
) -> tuple[str, tuple[tuple[str, str], ...]]:
    vtype = fld.value_type
    if key == "state" and entity.workflow is not None:
        return "choice", tuple((s.key, tr(s.label)) for s in entity.workflow.states)
    kind = "choice" if fld.options else widget(vtype).filter
    if kind in _SHOWN and "gte" in _SHOWN[kind] and "gte" not in operators_for(fld):
        kind = "empty"  # no range it can answer exactly (an SLA's time used): only "empty"
    if kind == "choice":
        return kind, tuple((o.key, tr(o.label)) for o in fld.options)
    if kind == "user":
        known = {str(i) for i, _name in people}
        extra = tuple((v, f"#{v}") for v in value.values if v != "me" and v not in known)
        return kind, (("me", _("Me")), *((str(i), name) for i, name in people), *extra)
    if kind == "boolean":
        return kind, (("1", _("Yes")), ("0", _("No")))
    return kind, ()


@dataclass(frozen=True)
class Chip:
    label: str
    text: str
    remove_url: str


_OPERATOR_WORDS = {"eq": "=", "ne": "≠", "in": "∈", "not_in": "∉", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}


def chips(entity: Entity, spec: ListSpec, links: Links, people: Mapping[int, str]) -> list[Chip]:
    """The active filters in words, each with a link that removes it."""
    out = []
    for key, ff in spec.form.items():
        if not ff.blank:
            out.append(Chip(column_label(entity, key), _describe(entity, key, ff, people), links.without(key)))
    for key, cond in spec.fixed.items():
        label = _("State group") if key == "state_category" else column_label(entity, key)
        out.append(Chip(label, _describe_condition(cond), links.without(key)))
    return out


def _describe(entity: Entity, key: str, ff: FieldFilter, people: Mapping[int, str]) -> str:
    parts = []
    if ff.values:
        parts.append(", ".join(_value_label(entity, key, v, people) for v in ff.values))
    low, high = _moment_words(ff.gte) if ff.gte else "", _moment_words(ff.lte) if ff.lte else ""
    if low and high:
        parts.append(f"{low} – {high}")
    elif low or high:
        parts.append(f"≥ {low}" if low else f"≤ {high}")
    if ff.contains:
        parts.append(_("contains “%(text)s”", text=ff.contains))
    if ff.empty:
        parts.append(_("is empty") if ff.empty == "1" else _("has a value"))
    return " · ".join(parts)


def _value_label(entity: Entity, key: str, value: str, people: Mapping[int, str]) -> str:
    fld = listquery.column_field(entity, key)
    if key == "state" and entity.workflow is not None:
        state = entity.workflow.state(value)
        return tr(state.label) if state is not None else value
    if fld is None:
        return value
    if fld.value_type in types_in("choice") or fld.options:
        option = fld.option(value)
        return tr(option.label) if option is not None else value
    if fld.value_type == "user":
        return _("me") if value == "me" else people.get(int(value), f"#{value}") if value.isascii() and value.isdigit() else value
    if fld.value_type == "boolean":
        return _("Yes") if value in ("1", "true", "yes") else _("No")
    return value


def _describe_condition(cond: Any) -> str:
    if isinstance(cond, Mapping):
        return " · ".join(
            (_("is empty") if value else _("has a value")) if op == "empty" else f"{_OPERATOR_WORDS.get(op, op)} {_plain(value)}"
            for op, value in cond.items()
        )
    return _plain(cond)


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    if value in ("$me", "me"):
        return _("me")
    return _moment_words(str(value)).removeprefix("$")


def _moment_words(text: str) -> str:
    """A relative moment (`$now+1h`, `$today-7`) in the reader's words; other text as it is."""
    parts = relative_parts(text)
    if parts is None:
        return text
    base, amount, unit = parts
    if base == "today":
        if not amount:
            return _("today")
        return _("today + %(days)s d", days=amount) if amount > 0 else _("today − %(days)s d", days=-amount)
    if not amount:
        return _("now")
    span = working_time(abs(amount) * {"m": 60, "h": 3600, "d": 86400}[unit])
    return _("%(time)s from now", time=span) if amount > 0 else _("%(time)s ago", time=span)


def column_choices(entity: Entity, spec: ListSpec, hidden: frozenset[str]) -> list[tuple[str, str, bool]]:
    """Every column the user may show: the shown ones first, in their order."""
    every = ["id", *(["state"] if entity.workflow is not None else []), *(f.key for f in entity.fields if not f.is_table)]
    every += ["created_at", "created_by", "updated_at", "updated_by"]
    rest = [k for k in every if k not in spec.columns and k not in hidden]
    return [(k, column_label(entity, k), True) for k in spec.columns] + [(k, column_label(entity, k), False) for k in rest]
