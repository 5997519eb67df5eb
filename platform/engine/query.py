"""Listing records: filters, text search, sort and pagination in one SQL statement.

Only the columns asked for are selected; many-valued columns are fetched with one extra
query per field for the whole page, never per row. Filters on many-valued fields use
EXISTS over the indexed link table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import clock
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.fieldtypes import FIELD_TYPES, is_many, orderable
from flowdeck.engine.filters import Condition, Context, FilterError, normalize_condition, resolve_value
from flowdeck.engine.messages import M
from flowdeck.engine.paging import Paged
from flowdeck.engine.permissions import Actor, hidden_states, require
from flowdeck.engine.records import Errors, load_links, no_field
from flowdeck.engine.schema.loader import SYSTEM_FIELD_TYPES
from flowdeck.engine.schema.model import Entity
from flowdeck.engine.sla.status import fill_running
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.engine.textinput import search_text

MAX_PAGE_SIZE = 500
Hidden = Mapping[str, frozenset[str]]
"""Where fields are hidden from the reader: field key -> the states it is hidden in
(`permissions.hidden_states`)."""
SYSTEM_SORTABLE = ("id", "state", "created_at", "updated_at", "created_by", "updated_by")


@dataclass
class Page(Paged):
    rows: list[dict[str, Any]]
    total: int
    page: int
    per_page: int
    capped: bool = False
    """The count stopped at `Query.count_limit`: there are more than `total` records."""


@dataclass(frozen=True)
class Query:
    """What to list; `filter` uses the view filter language (see engine.filters)."""

    filter: Mapping[str, Any] = field(default_factory=dict)
    search: str | None = None
    sort: Sequence[str] = ()
    page: int = 1
    per_page: int = 50
    columns: Sequence[str] | None = None
    count_limit: int | None = None
    """Count at most this many records (`Page.capped` says there are more): counting a
    million matches costs more than the whole page, and nobody pages through them."""


def lookup_query(entity: Entity, text: str, limit: int) -> Query | None:
    """What a reference picker typing `text` finds, newest first: the entity's search
    fields, else its title, else ids; None if nothing can match."""
    title = entity.title_field()
    common: dict[str, Any] = {"sort": ["-updated_at"], "per_page": limit, "columns": [title.key]}
    if not text:
        return Query(**common)
    if entity.search:
        return Query(search=text, **common)
    if "contains" in FIELD_TYPES[title.type].operators:
        return Query(filter={title.key: {"contains": text}}, **common)
    return Query(filter={"id": int(text)}, **common) if text.isdigit() else None


def parse_filter(et: EntityTables, spec: Mapping[str, Any]) -> list[Condition]:
    """Check a filter against the entity; raises RecordInvalid naming each bad field."""
    entity = et.entity
    errors: Errors = {}
    conditions: list[Condition] = []
    for key, condition in spec.items():
        fld = entity.field(key)
        known_system = key in SYSTEM_FIELD_TYPES and (key != "state" or entity.workflow is not None)
        if fld is None and not known_system and not (key == "state_category" and entity.workflow is not None):
            errors.setdefault(key, []).append(no_field(entity, key))
            continue
        try:
            conditions += normalize_condition(key, condition, fld, entity.workflow)
        except FilterError as exc:
            errors.setdefault(key, []).append(exc.message)
    if errors:
        raise RecordInvalid(errors)
    return conditions


def _value_type(et: EntityTables, key: str) -> str:
    fld = et.entity.field(key)
    if fld is not None:
        return fld.value_type
    return SYSTEM_FIELD_TYPES.get(key, "text")


def _clause(et: EntityTables, condition: Condition, context: Context) -> sa.ColumnElement[bool]:
    table = et.table
    key, op = condition.key, condition.op
    value = resolve_value(condition.value, _value_type(et, key), context)
    if key == "state_category":
        assert et.entity.workflow is not None
        categories = value if isinstance(value, list) else [value]
        states = et.entity.workflow.states_in(set(categories))
        inside = table.c.state.in_(states)
        return sa.not_(inside) if op in ("ne", "not_in") else inside
    fld = et.entity.field(key)
    if fld is not None and is_many(fld):
        link = et.links[key]
        exists = sa.exists().where(link.c.record_id == table.c.id)
        if op == "empty":
            return ~exists if value else exists
        values = value if isinstance(value, list) else [value]
        return exists.where(link.c.value.in_(values))
    special = et.clauses.get(key)
    if special is not None:
        return special(op, value)
    column = et.column(key)
    if op == "empty":
        blank = column.is_(None)
        if fld is not None and FIELD_TYPES[fld.value_type].searchable:
            blank = blank | (column == "")
        return blank if value else ~blank
    if op == "eq":
        return column == value
    if op == "ne":
        return (column != value) | column.is_(None)
    if op == "in":
        return column.in_(value)
    if op == "not_in":
        return column.not_in(value) | column.is_(None)
    if op == "contains":
        return _like(column, str(value))
    comparisons = {"gt": column > value, "gte": column >= value, "lt": column < value, "lte": column <= value}
    return comparisons[op]


def _like(column: sa.ColumnElement[Any], text: str) -> sa.ColumnElement[bool]:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")


def hidden_everywhere_in(et: EntityTables, key: str, hidden: Hidden) -> bool:
    """Is `key` hidden from the reader in every state?"""
    states = hidden.get(key)
    return bool(states) and et.entity.workflow is not None and set(et.entity.workflow.state_keys()) <= states


def unless_hidden(et: EntityTables, key: str, clause: sa.ColumnElement[bool], hidden: Hidden) -> sa.ColumnElement[bool] | None:
    """A filter's clause that does not apply where `key` is hidden from the reader: those
    records pass whatever their value (None: hidden everywhere, the filter is left out)."""
    states = hidden.get(key)
    if not states:
        return clause
    if hidden_everywhere_in(et, key, hidden):
        return None
    return sa.or_(et.table.c.state.in_(sorted(states)), clause)


def where_visible(et: EntityTables, key: str, clause: sa.ColumnElement[bool], hidden: Hidden) -> sa.ColumnElement[bool]:
    """A match on `key` that counts only where the reader may see it (text search, "mine"):
    a hidden value never makes a record match."""
    states = hidden.get(key)
    if not states:
        return clause
    if hidden_everywhere_in(et, key, hidden):
        return sa.false()
    return sa.and_(et.table.c.state.not_in(sorted(states)), clause)


def where_clause(
    et: EntityTables, conditions: Sequence[Condition], search: str | None, context: Context, hidden: Hidden | None = None
) -> sa.ColumnElement[bool]:
    """The WHERE of a list: `hidden` (for the reader) keeps conditions and the search from
    reading a field where it is hidden from them."""
    hidden = hidden or {}
    clauses = [clause for c in conditions if (clause := unless_hidden(et, c.key, _clause(et, c, context), hidden)) is not None]
    text = search_text(search)
    if text:
        for word in text.split()[:5]:
            matches = [where_visible(et, key, _like(et.table.c[key], word), hidden) for key in et.entity.search if key in et.table.c]
            if word.isdecimal() and len(word) <= 15:  # longer cannot be an id (and overflows BIGINT)
                matches.append(et.table.c.id == int(word))
            clauses.append(sa.or_(*matches) if matches else sa.false())
    return sa.and_(sa.true(), *clauses)


def _order(et: EntityTables, sort: Sequence[str], hidden: Hidden) -> list[sa.ColumnElement[Any]]:
    order: list[sa.ColumnElement[Any]] = []
    errors: Errors = {}
    for item in sort:
        descending = item.startswith("-")
        key = item.lstrip("-")
        fld = et.entity.field(key)
        if (fld is not None and not orderable(fld)) or (fld is None and key not in SYSTEM_SORTABLE) or not et.has_column(key):
            errors.setdefault("sort", []).append(M("cannot sort by “%(key)s”", key=key))
            continue
        if hidden_everywhere_in(et, key, hidden):
            continue
        for part in et.orders.get(key) or (_sort_key(et, key),):
            column = sort_visible(et, key, part, hidden)
            order.append(column.desc().nulls_last() if descending else column.asc().nulls_last())
    if errors:
        raise RecordInvalid(errors)
    order.append(et.table.c.id.desc() if sort and sort[0].startswith("-") else et.table.c.id.asc())
    return order


def sort_visible(et: EntityTables, key: str, column: sa.ColumnElement[Any], hidden: Hidden) -> sa.ColumnElement[Any]:
    """What a column sorts by for the reader: records where it is hidden from them sort
    as if it were empty (last), so the order tells nothing of the hidden values."""
    states = hidden.get(key)
    if not states:
        return column
    return sa.case((et.table.c.state.in_(sorted(states)), sa.null()), else_=column)


def _sort_key(et: EntityTables, key: str) -> sa.ColumnElement[Any]:
    """What a column sorts by: states in workflow order and options in the order the
    document lists them (priority low < normal < high), not alphabetically."""
    column = et.column(key)
    if key == "state" and et.entity.workflow is not None:
        order = et.entity.workflow.state_keys()
    else:
        fld = et.entity.field(key)
        if fld is None or fld.value_type != "select":  # a select (or a lookup of one) sorts in its options' order
            return column
        order = fld.option_keys()
    return sa.case({value: position for position, value in enumerate(order)}, value=column, else_=len(order))


def _select_columns(et: EntityTables, columns: Sequence[str] | None) -> tuple[list[sa.ColumnElement[Any]], list[str]]:
    table = et.table
    base = ["id", "version"] + (["state"] if "state" in table.c else [])
    if columns is None:
        wanted = [c.name for c in table.columns]
        many = list(et.links)
    else:
        wanted = list(dict.fromkeys([*base, et.entity.title, *[c for c in columns if et.has_column(c)]]))
        many = [c for c in columns if c in et.links]
    if columns is None:
        wanted += list(et.lookups)
    return [selected_column(et, name) for name in dict.fromkeys([*base, *wanted])], many


def page_select(
    et: EntityTables,
    columns: Sequence[sa.ColumnElement[Any]],
    where: sa.ColumnElement[bool],
    order: Sequence[sa.ColumnElement[Any]],
    limit: int,
    offset: int,
) -> sa.Select[Any]:
    """One page of rows as one statement. With live lookups among the columns, the page's
    ids are found first (a subquery) and the lookups are read for those rows only: SQLite
    computes a sorted query's columns for every matching row before its LIMIT, so a lookup
    in the same SELECT would be read for every record, not for the page."""
    if not any(column.name in et.lookups for column in columns if isinstance(column, sa.Label)):
        return sa.select(*columns).where(where).order_by(*order).limit(limit).offset(offset)
    ids = sa.select(et.table.c.id).where(where).order_by(*order).limit(limit).offset(offset).subquery("page_ids")
    return sa.select(*columns).join_from(et.table, ids, et.table.c.id == ids.c.id).order_by(*order)


def selected_column(et: EntityTables, key: str) -> sa.ColumnElement[Any]:
    """A column of the list's SELECT; a live lookup is its subquery named by its key."""
    found = et.lookups.get(key)
    return found.label(key) if found is not None else et.table.c[key]


def query_records(conn: Connection, et: EntityTables, query: Query, *, actor: Actor, today: dt.date | None = None) -> Page:
    """One page of records the actor may read, with the total count."""
    require(actor, et.entity, "read")
    per_page = max(1, min(query.per_page, MAX_PAGE_SIZE))
    page = max(1, query.page)
    context = Context(user_id=actor.user_id, today=today)
    hidden = hidden_states(et.entity, actor)
    where = where_clause(et, parse_filter(et, query.filter), query.search, context, hidden)
    order = _order(et, query.sort, hidden)
    columns, many = _select_columns(et, query.columns)
    total, capped = count_records(conn, et, where, query.count_limit)
    statement = page_select(et, columns, where, order, per_page, (page - 1) * per_page)
    rows = [dict(r) for r in conn.execute(statement).mappings()]
    fill_running(conn, et.entity, {r["id"]: r for r in rows}, clock.now())
    if many and rows:
        ids = [r["id"] for r in rows]
        for key, per_record in load_links(conn, et, ids, many).items():
            for row in rows:
                row[key] = per_record[row["id"]]
    return Page(rows=rows, total=total, page=page, per_page=per_page, capped=capped)


def query_up_to(
    conn: Connection, et: EntityTables, query: Query, limit: int, *, actor: Actor, today: dt.date | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Every record `query` matches, page after page, up to `limit` of them (an export),
    and how many match in all."""
    rows: list[dict[str, Any]] = []
    total = 0
    number = 1
    while len(rows) < limit:
        page = query_records(conn, et, replace(query, page=number, per_page=MAX_PAGE_SIZE), actor=actor, today=today)
        total = page.total
        rows += page.rows
        if len(page.rows) < MAX_PAGE_SIZE:
            break
        number += 1
    return rows[:limit], total


def capped_count(table: sa.Table, where: sa.ColumnElement[bool], limit: int) -> sa.ScalarSelect[int]:
    """`count(*)` of the rows matching `where`, stopping after `limit` + 1 of them (an
    index range read of at most that many entries, whatever the table's size)."""
    matching = sa.select(table.c.id).where(where).limit(limit + 1).subquery()
    return sa.select(sa.func.count()).select_from(matching).scalar_subquery()


def count_records(conn: Connection, et: EntityTables, where: sa.ColumnElement[bool], limit: int | None = None) -> tuple[int, bool]:
    """(the number of matching records, capped): with a `limit`, at most that many are
    counted and `capped` says there are more."""
    if limit is None:
        return int(conn.execute(sa.select(sa.func.count()).select_from(et.table).where(where)).scalar() or 0), False
    found = int(conn.execute(sa.select(capped_count(et.table, where, limit))).scalar() or 0)
    return min(found, limit), found > limit


def count_by(conn: Connection, et: EntityTables, column: str, where: sa.ColumnElement[bool]) -> dict[Any, int]:
    """Record counts per value of `column` (board column totals)."""
    col = et.table.c[column]
    return {value: int(count) for value, count in conn.execute(sa.select(col, sa.func.count()).where(where).group_by(col))}
