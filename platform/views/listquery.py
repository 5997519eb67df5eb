"""List pages' query strings: parsed into an engine `Query` and written back, canonically.

The URL is the list's whole state, so a list can be bookmarked, shared, saved as a personal
view and exported exactly as shown. The format is short, flat and stable:

    ?state=new&state=triaged&priority=high&due_date__gte=2026-01-01&title__contains=disk
     &q=printer&sort=-due_date,id&cols=id,title,state,priority&per_page=50&page=3

Filters (one group of parameters per field key; `state`, `state_category`, `id`,
`created_at`, `updated_at`, `created_by` and `updated_by` work like fields):

    key=v             the field equals v; repeated (`key=a&key=b`) means any of them.
                      Many-valued fields match when they hold any of the values.
                      `me` is the signed-in user for user fields; booleans take 1/0 (yes/no).
    key__in=v         the same as `key=v`; needed only when the key is a control name below.
    key__gte=v        at least v (numbers, dates; a date on a date-time field starts that day)
    key__lte=v        at most v (a date on a date-time field includes that whole day)
    key__contains=t   text contains t (case-insensitive)
    key__empty=1      the field has no value; `key__empty=0`: it has one.

Dates are ISO (`2026-03-01`) or relative (`today`, `today+7`, `today-30`); date-time
bounds given as dates are days in the instance's time zone.

Control parameters: `q` (text search), `sort` (comma-separated keys, `-` for descending),
`cols` (comma-separated columns in order; repeated `cols=a&cols=b` is accepted too),
`per_page` (1-500), `page` (from 1), and `view` (only on the CSV export, which has no view
in its path).

Merging with the schema view: the view's own filter applies to every field the URL does
not mention. Any parameter naming a field overrides the view's condition on that field,
and an empty one (`priority=`) clears it ("any priority"). `state` and `state_category`
count as one field here (the last one named applies). Empty values are otherwise
ignored, which is why filter forms can send every input and still mean only what the
user filled in.

`canonical` arguments hold only what differs from the view (in a fixed order), so the URL
pushed to the address bar, the saved view and the export link stay short and comparable.
Problems in the URL never fail the page: each one becomes a message and that part is left
out (an invalid value is kept in the form so the user can correct it).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus

from flowdeck.engine.errors import ValueRefused
from flowdeck.engine.fieldtypes import FIELD_TYPES, InvalidValue, orderable, resolve_date, types_in
from flowdeck.engine.filters import CATEGORIES, normalize_condition
from flowdeck.engine.messages import M
from flowdeck.engine.moments import relative_now
from flowdeck.engine.query import MAX_PAGE_SIZE, SYSTEM_SORTABLE, Query
from flowdeck.engine.schema.loader import SYSTEM_FIELD_TYPES
from flowdeck.engine.schema.model import Entity, Field, Label, View, humanize
from flowdeck.engine.viewtypes import LIST
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import say, tr

CONTROL_PARAMS = ("q", "sort", "cols", "per_page", "page", "view")
OPERATORS = ("in", "gte", "lte", "contains", "empty")
MAX_SEARCH = 200
MAX_VALUES = 100
MAX_NUMBER = 1_000_000
GENERATED_EXTRA_FIELDS = 4
STATE_GROUP = ("state", "state_category")
SYSTEM_COLUMNS = tuple(SYSTEM_FIELD_TYPES)
_KEY = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")  # never meant, and PostgreSQL refuses NUL in text
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RELATIVE_DATE = re.compile(r"^\$?today")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


# -- the syntax: query string <-> ListArgs ----------------------------------------------


@dataclass(frozen=True)
class FieldFilter:
    """One field's conditions as the URL states them (raw text; blank means "any")."""

    values: tuple[str, ...] = ()
    gte: str = ""
    lte: str = ""
    contains: str = ""
    empty: str = ""

    @property
    def blank(self) -> bool:
        return not (self.values or self.gte or self.lte or self.contains or self.empty)

    def same_as(self, other: FieldFilter | None) -> bool:
        """Equal in meaning: the order of the values does not matter."""
        if other is None:
            return self.blank
        return set(self.values) == set(other.values) and replace(self, values=()) == replace(other, values=())


@dataclass(frozen=True)
class ListArgs:
    """A list's state as given in its URL, before it is checked against the entity."""

    filters: Mapping[str, FieldFilter] = field(default_factory=dict)
    q: str = ""
    sort: tuple[str, ...] = ()
    cols: tuple[str, ...] = ()
    per_page: int | None = None
    page: int = 1


def _split_list(raw: Iterable[str]) -> tuple[str, ...]:
    items = (part.strip() for text in raw for part in text.split(","))
    return tuple(dict.fromkeys(item for item in items if item))


def parse_args(pairs: Iterable[tuple[str, str]]) -> tuple[ListArgs, list[str]]:
    """Read query-string pairs (e.g. `request.args.items(multi=True)`); never raises.

    Returns the arguments and messages about parameters that could not be read. Unknown
    field keys are only syntax-checked here; `resolve` checks them against the entity.
    """
    problems: list[str] = []
    raw: dict[str, dict[str, list[str]]] = {}
    control: dict[str, list[str]] = {}
    for key, value in pairs:
        value = _CONTROL_CHARS.sub(" ", value).strip()
        if key in CONTROL_PARAMS:
            control.setdefault(key, []).append(value)
            continue
        name, _sep, op = key.partition("__")
        op = op or "in"
        if not _KEY.match(name) or op not in OPERATORS:
            problems.append(_("“%(param)s” is not a filter this list understands.", param=key[:60]))
            continue
        raw.setdefault(name, {}).setdefault(op, []).append(value)
    filters: dict[str, FieldFilter] = {}
    for name, ops in raw.items():
        values = tuple(dict.fromkeys(v for v in ops.get("in", ()) if v))[:MAX_VALUES]
        empty = (ops.get("empty") or [""])[-1].lower()
        if empty and empty not in _TRUE + _FALSE:
            problems.append(_("“%(param)s” takes 1 (is empty) or 0 (has a value).", param=name + "__empty"))
            empty = ""
        filters[name] = FieldFilter(
            values=values,
            gte=(ops.get("gte") or [""])[-1],
            lte=(ops.get("lte") or [""])[-1],
            contains=(ops.get("contains") or [""])[-1][:MAX_SEARCH],
            empty="" if not empty else ("1" if empty in _TRUE else "0"),
        )
    per_page = _number(control.get("per_page"), "per_page", problems)
    page = _number(control.get("page"), "page", problems) or 1
    args = ListArgs(
        filters=filters,
        q=" ".join((control.get("q") or [""])[-1].split())[:MAX_SEARCH],
        sort=_split_list(control.get("sort", ())),
        cols=_split_list(control.get("cols", ())),
        per_page=per_page,
        page=max(1, page),
    )
    return args, problems


def _number(raw: Sequence[str] | None, name: str, problems: list[str]) -> int | None:
    text = (raw or [""])[-1]
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_NUMBER:
        problems.append(_("“%(param)s” must be a whole number from 1 to %(max)d.", param=name, max=MAX_NUMBER))
        return None
    return int(text)


def to_pairs(args: ListArgs) -> list[tuple[str, str]]:
    """The query-string pairs of `args`: filters in their order, then the control parameters."""
    pairs: list[tuple[str, str]] = []
    for key, ff in args.filters.items():
        plain = f"{key}__in" if key in CONTROL_PARAMS else key
        if ff.blank:
            pairs.append((plain, ""))
            continue
        pairs += [(plain, v) for v in ff.values]
        pairs += [(f"{key}__{op}", getattr(ff, op)) for op in ("gte", "lte", "contains", "empty") if getattr(ff, op)]
    if args.q:
        pairs.append(("q", args.q))
    if args.sort:
        pairs.append(("sort", ",".join(args.sort)))
    if args.cols:
        pairs.append(("cols", ",".join(args.cols)))
    if args.per_page is not None:
        pairs.append(("per_page", str(args.per_page)))
    if args.page > 1:
        pairs.append(("page", str(args.page)))
    return pairs


def to_query(args: ListArgs) -> str:
    """`args` as a query string (without "?"); commas stay readable."""
    return encode_pairs(to_pairs(args))


@lru_cache(maxsize=4096)
def _quoted(text: str) -> str:
    return quote_plus(text, safe=",")


def encode_pairs(pairs: Sequence[tuple[str, str]]) -> str:
    """`urlencode(pairs, safe=",")`, each distinct text quoted once per process: a list page
    links its columns, pages and settings with the same few keys and values (20 query
    strings a page)."""
    return "&".join([f"{_quoted(str(key))}={_quoted(str(value))}" for key, value in pairs])


# -- columns and the generated view -----------------------------------------------------


def column_field(entity: Entity, key: str) -> Field | None:
    """The field behind a column, with stand-ins for the system columns; None if unknown."""
    fld = entity.field(key)
    if fld is not None:
        return None if fld.is_table else fld
    if key == "state" and entity.workflow is None:
        return None
    if key in SYSTEM_FIELD_TYPES:
        return Field(key=key, type=SYSTEM_FIELD_TYPES[key], label=Label.of(None, humanize(key)))
    return None


def sortable(entity: Entity, key: str) -> bool:
    fld = entity.field(key)
    if fld is None:
        return key in SYSTEM_SORTABLE and (key != "state" or entity.workflow is not None)
    return fld.type != "table" and orderable(fld)  # a lookup sorts like its field


def default_view(entity: Entity) -> View:
    """The list shown for an entity without views: title, state and the first few fields."""
    extra = [f.key for f in entity.fields if f.key != entity.title and not f.is_table and f.type != "markdown"]
    columns = [entity.title, *(["state"] if entity.workflow is not None else []), *extra[:GENERATED_EXTRA_FIELDS]]
    return View(key="", type=LIST.name, label=entity.plural, sort=("-id",), columns=tuple(columns))


def view_columns(entity: Entity, view: View) -> tuple[str, ...]:
    return view.columns or default_view(entity).columns


def _with_link_column(entity: Entity, columns: Sequence[str]) -> tuple[str, ...]:
    """Every row needs a link to its record: the title column, else the id column."""
    if entity.title in columns or "id" in columns:
        return tuple(columns)
    return ("id", *columns)


# -- the meaning: ListArgs + entity + view -> engine Query --------------------------------


@dataclass(frozen=True)
class ListSpec:
    """A list resolved against its entity and view: what to query and what to show."""

    view: View
    query: Query
    columns: tuple[str, ...]
    canonical: ListArgs
    form: Mapping[str, FieldFilter]
    fixed: Mapping[str, Any]
    messages: tuple[str, ...]

    @property
    def sort(self) -> tuple[str, ...]:
        return tuple(self.query.sort)


@dataclass
class _Resolver:
    entity: Entity
    view: View
    hidden: frozenset[str]
    tz: dt.tzinfo | None
    messages: list[str] = field(default_factory=list)

    def label(self, key: str) -> str:
        from flowdeck.views.listbar import _system_labels  # imported here: listbar imports this module

        fld = self.entity.field(key)
        if fld is not None:
            return tr(fld.label)
        if key == "state_category":
            return _("State group")
        return _system_labels().get(key, humanize(key))

    def problem(self, key: str, text: str) -> None:
        self.messages.append(_("%(field)s: %(problem)s", field=self.label(key), problem=text))

    def filterable(self, key: str) -> bool:
        if key in self.hidden:
            return False
        if key == "state_category":
            return self.entity.workflow is not None
        fld = column_field(self.entity, key)
        return fld is not None and not fld.is_table

    # one value of the URL -> the value the engine filter takes
    def typed(self, key: str, fld: Field, raw: str, bound: str = "") -> Any:
        vtype = fld.value_type
        if key == "state":
            assert self.entity.workflow is not None
            if raw not in self.entity.workflow.state_keys():
                raise InvalidValue(M('unknown state "%(value)s" (states: %(states)s)', value=raw, states=self.entity.workflow.state_keys()))
            return raw
        if key == "state_category":
            if raw not in CATEGORIES:
                raise InvalidValue(M('unknown category "%(value)s" (categories: %(categories)s)', value=raw, categories=CATEGORIES))
            return raw
        if vtype == "user" and raw.lower() in ("me", "$me"):
            return "$me"
        if vtype == "date":
            resolve_date(raw)
            return raw
        if vtype == "datetime":
            return self.moment(raw, bound)
        if vtype in types_in("text", "serial"):
            return raw
        target = replace(fld, type=vtype, lookup=None) if fld.derived else fld  # a formula's or roll-up's result, a lookup's field
        return FIELD_TYPES[target.type].coerce(target, raw)

    def moment(self, raw: str, bound: str) -> dt.datetime | str:
        """A date-time bound; a bare date is the start (gte) or the whole day (lte) there;
        `$now+1h` stays as written, read when the query runs (a saved view stays relative)."""
        if relative_now(raw) is not None:
            return raw
        if _ISO_DATE.match(raw) or _RELATIVE_DATE.match(raw):
            day = resolve_date(raw) + dt.timedelta(days=1 if bound == "lte" else 0)
            naive = dt.datetime.combine(day, dt.time())
        else:
            naive = dt.datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith("Z") else raw)
        if naive.tzinfo is not None:
            return naive.astimezone(dt.UTC)
        tz = self.tz or dt.UTC
        local = tz.localize(naive) if hasattr(tz, "localize") else naive.replace(tzinfo=tz)
        return local.astimezone(dt.UTC)

    def condition(self, key: str, ff: FieldFilter) -> dict[str, Any] | None:
        """The engine condition for one field, or None (with a message) if it does not fit."""
        fld = column_field(self.entity, key) if key != "state_category" else Field(key=key, type="select", label=Label.of(key))
        assert fld is not None
        cond: dict[str, Any] = {}
        try:
            if ff.values:
                if fld.value_type == "datetime":
                    raise InvalidValue(M("pick a range (from / to) for a date and time"))
                typed = [self.typed(key, fld, v) for v in ff.values]
                cond["in" if len(typed) > 1 else "eq"] = typed if len(typed) > 1 else typed[0]
            if ff.gte:
                cond["gte"] = self.typed(key, fld, ff.gte, "gte")
            if ff.lte:
                cond["lt" if fld.value_type == "datetime" and _is_day(ff.lte) else "lte"] = self.typed(key, fld, ff.lte, "lte")
            if ff.contains:
                cond["contains"] = ff.contains
            if ff.empty:
                cond["empty"] = ff.empty == "1"
            workflow = self.entity.workflow
            normalize_condition(key, cond, self.entity.field(key), workflow)
        except (ValueRefused, ValueError, TypeError, ArithmeticError) as exc:
            said = say(exc.message) if isinstance(exc, ValueRefused) else say(str(exc))
            self.problem(key, said or _("does not fit this field"))
            return None
        return cond

    def defaults(self) -> tuple[dict[str, FieldFilter], set[str]]:
        """The view's filter as form values where the filter bar can show it, and the keys
        of conditions it cannot show (kept as they are and listed beside the bar)."""
        form: dict[str, FieldFilter] = {}
        fixed: set[str] = set()
        spec = dict(self.view.filter)
        workflow = self.entity.workflow
        if workflow is not None and "state_category" in spec and "state" not in spec:
            categories = _values_of(spec["state_category"], ("eq", "in"))
            if categories is not None:
                form["state"] = FieldFilter(values=workflow.states_in(set(map(str, categories))))
                spec.pop("state_category")
        for key, cond in spec.items():
            converted = self.form_value(key, cond)
            if converted is None:
                fixed.add(key)
            else:
                form[key] = converted
        return form, fixed

    def form_value(self, key: str, cond: Any) -> FieldFilter | None:
        fld = column_field(self.entity, key)
        if fld is None:
            return None
        vtype = fld.value_type
        parts = list(cond.items()) if isinstance(cond, Mapping) else [("in" if isinstance(cond, list) else "eq", cond)]
        out: dict[str, Any] = {}
        for op, value in parts:
            if op in ("eq", "in"):
                texts = [_form_text(v, vtype) for v in (value if isinstance(value, list) else [value])]
                if any(t is None for t in texts):
                    return None
                out["values"] = tuple(t for t in texts if t)
            elif op == "not_in" and key == "state" and self.entity.workflow is not None and isinstance(value, list):
                out["values"] = tuple(s for s in self.entity.workflow.state_keys() if s not in value)
            elif op in ("gte", "lte", "contains"):
                text = _form_text(value, vtype)
                if text is None or (vtype == "datetime" and op != "contains"):
                    return None
                out[op] = text
            elif op == "empty":
                out["empty"] = "1" if value else "0"
            else:
                return None
        return FieldFilter(**out)


def _is_day(raw: str) -> bool:
    return bool(_ISO_DATE.match(raw) or _RELATIVE_DATE.match(raw))


def _values_of(cond: Any, ops: Sequence[str]) -> list[Any] | None:
    if isinstance(cond, list):
        return cond
    if isinstance(cond, Mapping):
        if len(cond) != 1:
            return None
        op, value = next(iter(cond.items()))
        if op not in ops:
            return None
        return value if isinstance(value, list) else [value]
    return [cond]


def _form_text(value: Any, vtype: str) -> str | None:
    """A default filter value as the filter bar's input text; None if the bar cannot hold it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if vtype == "user" and value in ("$me", "me"):
        return "me"
    text = str(value)
    if vtype == "date" and not _ISO_DATE.match(text):
        return None
    return text


def without_hidden(entity: Entity, view: View, hidden: frozenset[str]) -> tuple[View, list[str]]:
    """The view without the conditions and sort keys that read fields hidden from the
    reader (they would tell the hidden values by what they keep or how they order it),
    and the notice saying so; the rest of the view applies as defined."""
    keys = [k for k in view.filter if k in hidden] + [s.removeprefix("-") for s in view.sort if s.removeprefix("-") in hidden]
    if not keys:
        return view, []
    kept = replace(
        view,
        filter={k: c for k, c in view.filter.items() if k not in hidden},
        sort=tuple(s for s in view.sort if s.removeprefix("-") not in hidden),
    )
    labels = [tr(entity.get_field(k).label) for k in dict.fromkeys(keys)]  # rules hide fields only
    notice = _("This view is shown without its filter or sort on fields you cannot see: %(fields)s.", fields=", ".join(labels))
    return kept, [notice]


def _group(key: str) -> tuple[str, ...]:
    return STATE_GROUP if key in STATE_GROUP else (key,)


def resolve(entity: Entity, view: View, args: ListArgs, *, hidden: frozenset[str] = frozenset(), tz: dt.tzinfo | None = None) -> ListSpec:
    """Check `args` against the entity and merge them with the view (see the module docs).

    `hidden` holds fields the viewer may never see (they cannot be shown, filtered or
    sorted); `tz` is the zone in which date bounds on date-time fields are days.
    """
    view, notices = without_hidden(entity, view, hidden)
    r = _Resolver(entity, view, hidden, tz, notices)
    default_form, default_fixed = r.defaults()
    form = dict(default_form)
    overridden: set[str] = set()
    canonical_filters: dict[str, FieldFilter] = {}
    filter_spec: dict[str, Any] = {}
    for key, ff in args.filters.items():
        if not r.filterable(key):
            r.messages.append(_("This list has no field “%(key)s” to filter by.", key=key))
            continue
        group = _group(key)
        overridden.update(group)
        for member in group:  # of `state` and `state_category`, the last one named applies
            if member != key:
                form.pop(member, None)
                filter_spec.pop(member, None)
                canonical_filters.pop(member, None)
        form[key] = ff
        others_have_defaults = any(m != key and (m in default_form or m in default_fixed) for m in group)
        if key in default_fixed or others_have_defaults or not ff.same_as(default_form.get(key)):
            canonical_filters[key] = ff
        if not ff.blank:
            cond = r.condition(key, ff)
            if cond is not None:
                filter_spec[key] = cond
    fixed = {k: c for k, c in view.filter.items() if k not in overridden and k in default_fixed}
    kept_defaults = {k: c for k, c in view.filter.items() if k not in overridden}
    order = {key: i for i, key in enumerate(_filter_order(entity))}
    canonical_filters = dict(sorted(canonical_filters.items(), key=lambda item: order.get(item[0], len(order))))

    sort = view.sort
    canonical_sort: tuple[str, ...] = ()
    if args.sort:
        bad = [s for s in args.sort if not sortable(entity, s.removeprefix("-")) or s.removeprefix("-") in hidden]
        if bad:
            r.messages.append(_("This list cannot be sorted by “%(keys)s”.", keys=", ".join(bad)))
        else:
            sort = args.sort
            canonical_sort = () if args.sort == view.sort else args.sort

    default_cols = _with_link_column(entity, view_columns(entity, view))
    columns = default_cols
    if args.cols:
        unknown = [c for c in args.cols if column_field(entity, c) is None or c in hidden]
        if unknown:
            r.messages.append(_("This list has no column “%(keys)s”.", keys=", ".join(unknown)))
        known = [c for c in args.cols if c not in unknown]
        if known:
            columns = _with_link_column(entity, known)
    columns = tuple(c for c in columns if c not in hidden) or ("id",)

    per_page = args.per_page or view.page_size
    if per_page > MAX_PAGE_SIZE:
        r.messages.append(_("At most %(max)d records fit on a page.", max=MAX_PAGE_SIZE))
        per_page = MAX_PAGE_SIZE
    query = Query(
        filter={**kept_defaults, **filter_spec},
        search=args.q or None,
        sort=sort,
        page=args.page,
        per_page=per_page,
        columns=columns,
    )
    canonical = ListArgs(
        filters=canonical_filters,
        q=args.q,
        sort=canonical_sort,
        cols=() if columns == default_cols else columns,
        per_page=None if per_page == view.page_size else per_page,
        page=args.page,
    )
    return ListSpec(view=view, query=query, columns=columns, canonical=canonical, form=form, fixed=fixed, messages=tuple(r.messages))


def _filter_order(entity: Entity) -> list[str]:
    return ["state", "state_category", *(f.key for f in entity.fields), *SYSTEM_COLUMNS]
