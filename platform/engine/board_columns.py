"""A board's columns, its quick filters and its counts: what `engine.boards` builds
cards pages and moves on.

A board groups the records of one entity by their workflow state or by a select field;
its view filter may narrow the columns. Counts are one statement per board: one capped
count per column, each an index range read, so a column of a million records costs what
one of ten thousand does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine.filters import Condition, Context, normalize_condition
from flowdeck.engine.permissions import Actor, hidden_states
from flowdeck.engine.query import capped_count, parse_filter, where_clause, where_visible
from flowdeck.engine.schema.model import Entity, Field, Label, View, WipLimit
from flowdeck.engine.storage.tables import EntityTables

NONE_TOKEN = "_none"  # noqa: S105 -- a column token, not a secret
"""The column (and lane) of records without a value; option keys never start with `_`."""

COUNT_LIMIT = 10_000
"""A column's count stops here ("10000+"): counting is an index range read of at most
this many entries per column (a few milliseconds for a million records on PostgreSQL,
where counting every record of four columns took 50-60 ms), and no one reads such a
column card by card. WIP limits above it raise the cap (`count_limit`)."""


# -- columns ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One board column: a state or an option (None: records without a value)."""

    value: str | None
    label: Label
    color: str | None = None
    collapsed: bool = False
    wip: WipLimit | None = None

    @property
    def token(self) -> str:
        """The column's value as it travels in URLs and forms."""
        return NONE_TOKEN if self.value is None else self.value


def group_key(view: View) -> str:
    """The column the board groups by: `state` or a select field."""
    assert view.group_by is not None, "a board view always has group_by (checked by the loader)"
    return view.group_by


def _allowed_values(et: EntityTables, view: View) -> set[str] | None:
    """The column values the view filter lets through, or None if it does not narrow them."""
    entity, key = et.entity, group_key(view)
    allowed: set[str] | None = None
    for condition in parse_filter(et, view.filter):
        values: set[str] | None = None
        if condition.key == key or (key == "state" and condition.key == "state_category"):
            raw = condition.value if isinstance(condition.value, list) else [condition.value]
            if condition.key == "state_category":
                assert entity.workflow is not None
                raw = list(entity.workflow.states_in(set(raw)))
            if condition.op in ("eq", "in"):
                values = set(raw)
            elif condition.op in ("ne", "not_in"):
                values = set(_all_values(entity, view)) - set(raw)
        if values is not None:
            allowed = values if allowed is None else allowed & values
    return allowed


def _all_values(entity: Entity, view: View) -> tuple[str, ...]:
    key = group_key(view)
    if key == "state":
        assert entity.workflow is not None
        return entity.workflow.state_keys()
    return entity.get_field(key).option_keys()


def board_columns(et: EntityTables, view: View, *, with_none: bool = False) -> tuple[Column, ...]:
    """The board's columns in schema order; `with_none` adds a last column for records
    without a value (select boards only: a state is never empty)."""
    entity, key = et.entity, group_key(view)
    allowed = _allowed_values(et, view)
    columns: list[Column] = []
    if key == "state":
        assert entity.workflow is not None
        for state in entity.workflow.states:
            if allowed is None or state.key in allowed:
                columns.append(Column(state.key, state.label, state.color, state.key in view.collapsed, view.wip.get(state.key)))
        return tuple(columns)
    fld = entity.get_field(key)
    for option in fld.options:
        if allowed is None or option.key in allowed:
            columns.append(Column(option.key, option.label, option.color, option.key in view.collapsed, view.wip.get(option.key)))
    if with_none and not fld.required:
        columns.append(Column(None, Label({"en": "No value", "zh": "未设置"})))
    return tuple(columns)


def find_column(et: EntityTables, view: View, token: str) -> Column | None:
    return next((c for c in board_columns(et, view, with_none=True) if c.token == token), None)


def wip_status(limit: WipLimit | None, count: int) -> str:
    """`none` (no limit), `ok`, `at` (soft limit reached), `full` (hard limit reached:
    drops are refused) or `over` (more cards than the limit)."""
    if limit is None:
        return "none"
    if count > limit.max:
        return "over"
    if count == limit.max:
        return "full" if limit.enforce == "block" else "at"
    return "ok"


# -- filters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CardFilter:
    """The quick filters a user adds on top of the view's own filter."""

    search: str | None = None
    mine: bool = False
    conditions: Mapping[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool((self.search or "").strip() or self.mine or self.conditions)


def user_fields(entity: Entity) -> list[Field]:
    """Fields that hold users: "my cards" are those where any of them is me."""
    return [f for f in entity.fields if f.value_type == "user" and not f.is_table]


def mine_clause(et: EntityTables, actor: Actor) -> sa.ColumnElement[bool]:
    """Records where any user field is the actor (the creator if the entity has none)."""
    context = Context(user_id=actor.user_id)
    fields = user_fields(et.entity)
    if actor.user_id is None:
        return sa.false()
    if not fields:
        return et.table.c.created_by == actor.user_id
    hidden = hidden_states(et.entity, actor)  # a user field hidden from me never makes a card mine
    clauses = [
        where_visible(et, f.key, where_clause(et, normalize_condition(f.key, "$me", f, et.entity.workflow), None, context), hidden)
        for f in fields
    ]
    return sa.or_(*clauses)


def scope_where(et: EntityTables, view: View, actor: Actor, today: dt.date | None = None) -> sa.ColumnElement[bool]:
    """The board's own scope: the view filter only (where the reader may see its fields).
    WIP limits count within it."""
    context = Context(user_id=actor.user_id, today=today)
    return where_clause(et, parse_filter(et, view.filter), None, context, hidden_states(et.entity, actor))


def board_where(et: EntityTables, view: View, actor: Actor, cards: CardFilter, today: dt.date | None = None) -> sa.ColumnElement[bool]:
    """The view filter, the quick filters and the text search together, none of them
    reading a field where it is hidden from the reader."""
    context = Context(user_id=actor.user_id, today=today)
    conditions: list[Condition] = parse_filter(et, view.filter) + parse_filter(et, cards.conditions)
    where = where_clause(et, conditions, cards.search, context, hidden_states(et.entity, actor))
    if cards.mine:
        where = sa.and_(where, mine_clause(et, actor))
    return where


# -- counts -----------------------------------------------------------------------------


def group_column(et: EntityTables, view: View) -> sa.ColumnElement[Any]:
    """The column a board groups its cards by."""
    return et.table.c[group_key(view)]


def count_by_column(conn: Connection, et: EntityTables, view: View, where: sa.ColumnElement[bool]) -> dict[str | None, int]:
    """Cards per column value, in one grouped COUNT."""
    col = group_column(et, view)
    return {value: int(n) for value, n in conn.execute(sa.select(col, sa.func.count()).where(where).group_by(col))}


def count_limit(view: View) -> int:
    """Where a column's count of this board stops: COUNT_LIMIT, or above its largest WIP
    limit (so a WIP status is always judged on an exact count)."""
    return max([COUNT_LIMIT, *(limit.max + 1 for limit in view.wip.values())])


def capped_counts(
    conn: Connection, et: EntityTables, view: View, where: sa.ColumnElement[bool], values: Sequence[str | None]
) -> tuple[dict[str | None, int], set[str | None]]:
    """Cards per column value for `values`, each count stopping at `count_limit(view)`, in
    one statement (one capped count per column, each an index range read); and the
    columns whose count stopped there (they hold more)."""
    if not values:
        return {}, set()
    col = group_column(et, view)
    limit = count_limit(view)
    counts = [capped_count(et.table, sa.and_(where, col.is_(None) if value is None else col == value), limit) for value in values]
    row = conn.execute(sa.select(*counts)).one()
    found = {value: int(n or 0) for value, n in zip(values, row, strict=True)}
    return {value: min(n, limit) for value, n in found.items()}, {value for value, n in found.items() if n > limit}


def count_in_column(conn: Connection, et: EntityTables, view: View, value: str | None, actor: Actor) -> int:
    """Cards in one column within the board's scope (what a WIP limit counts), exact up
    to `count_limit(view)`, which is above every WIP limit of the board."""
    return capped_counts(conn, et, view, scope_where(et, view, actor), [value])[0][value]


def count_by_lane(conn: Connection, et: EntityTables, view: View, where: sa.ColumnElement[bool]) -> dict[tuple[Any, str | None], int]:
    """Cards per (lane value, column value), in one grouped COUNT."""
    assert view.swimlanes is not None
    lane, col = et.table.c[view.swimlanes], group_column(et, view)
    rows = conn.execute(sa.select(lane, col, sa.func.count()).where(where).group_by(lane, col))
    return {(lane_value, value): int(n) for lane_value, value, n in rows}


def allocate(counts: Sequence[int], total: int) -> list[int]:
    """Split `total` card slots over columns holding `counts` cards: evenly, and what a
    short column does not need goes to the others (so a cap of 500 shows 500 cards when
    the board holds that many). Slots that do not divide evenly go to the first columns."""
    shares = [0] * len(counts)
    left = max(0, total)
    open_ = [i for i, n in enumerate(counts) if n > 0]
    while open_ and left > 0:
        share = left // len(open_)
        if share == 0:
            for i in open_[:left]:
                shares[i] += 1
            break
        for i in open_:
            give = min(share, counts[i] - shares[i])
            shares[i] += give
            left -= give
        open_ = [i for i in open_ if shares[i] < counts[i]]
    return shares
