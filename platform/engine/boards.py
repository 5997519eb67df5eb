"""Boards: columns, counts, WIP limits, card pages and what dropping a card means.

A board view groups the records of one entity by their workflow state or by a select
field. Everything here is plain SQL through SQLAlchemy Core and knows nothing of HTTP:

- `board_columns` turns the view into columns (the view filter may narrow them);
- `load_board` reads one page of cards per column in a few statements whatever the
  number of cards: one grouped COUNT, one lean SELECT per column (only the columns a
  card shows) and one query per many-valued card field for all cards together;
- `move_card` performs a drop: the matching transition (state boards) or a field update
  (select boards), refused with a reason a person can read, and a hard WIP limit checked
  in the same transaction as the write, under a lock, so two concurrent drops cannot
  both take the last slot of a column.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine.errors import Conflict, Forbidden, RecordInvalid, TransitionRefused
from flowdeck.engine.fieldtypes import is_many
from flowdeck.engine.filters import Condition, Context, normalize_condition
from flowdeck.engine.messages import M, Message
from flowdeck.engine.permissions import Actor, can, can_transition, mid_sentence, require
from flowdeck.engine.query import capped_count, parse_filter, where_clause
from flowdeck.engine.records import Record, fetch_record, load_links, update_record
from flowdeck.engine.schema.model import Entity, Field, Label, Transition, View, WipLimit
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.engine.workflow import field_problems, guard_holds, guard_message, refuse_if_pending, state_label, transition_record

NONE_TOKEN = "_none"  # noqa: S105 -- a column token, not a secret
"""The column (and lane) of records without a value; option keys never start with `_`."""

MAX_CARDS = 2000
"""The most cards one board request reads, whatever `limit` asks for."""

COUNT_LIMIT = 10_000
"""A column's count stops here ("10000+"): counting is an index range read of at most
this many entries per column (a few milliseconds for a million records on PostgreSQL,
where counting every record of four columns took 50-60 ms), and no one reads such a
column card by card. WIP limits above it raise the cap (`count_limit`)."""


class MoveRefused(TransitionRefused):
    """A drop the board will not perform. `message` says why; `reason` and `details`
    (labels, numbers) let a caller word it for the board ("no_transition", "wip", "guard",
    "needs_input", "other")."""

    def __init__(
        self, message: Message | str, missing: Iterable[str] = (), *, reason: str = "other", details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message, missing)
        self.reason = reason
        self.details = dict(details or {})


class MoveNeedsInput(MoveRefused):
    """The transition for this drop needs fields or a comment: ask for them in a dialog."""

    def __init__(self, message: Message | str, transition: str, missing: Iterable[str]) -> None:
        super().__init__(message, missing, reason="needs_input", details={"transition": transition})
        self.transition = transition


class MoveForbidden(Forbidden):
    """The actor's roles allow no transition between the two columns."""

    def __init__(self, message: Message | str, *, details: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.reason = "forbidden"
        self.details = dict(details)


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
    clauses = [where_clause(et, normalize_condition(f.key, "$me", f, et.entity.workflow), None, context) for f in fields]
    return sa.or_(*clauses)


def scope_where(et: EntityTables, view: View, actor: Actor, today: dt.date | None = None) -> sa.ColumnElement[bool]:
    """The board's own scope: the view filter only. WIP limits count within it."""
    return where_clause(et, parse_filter(et, view.filter), None, Context(user_id=actor.user_id, today=today))


def board_where(et: EntityTables, view: View, actor: Actor, cards: CardFilter, today: dt.date | None = None) -> sa.ColumnElement[bool]:
    """The view filter, the quick filters and the text search together."""
    context = Context(user_id=actor.user_id, today=today)
    conditions: list[Condition] = parse_filter(et, view.filter) + parse_filter(et, cards.conditions)
    where = where_clause(et, conditions, cards.search, context)
    if cards.mine:
        where = sa.and_(where, mine_clause(et, actor))
    return where


# -- counts -----------------------------------------------------------------------------


def _group_column(et: EntityTables, view: View) -> sa.ColumnElement[Any]:
    return et.table.c[group_key(view)]


def count_by_column(conn: Connection, et: EntityTables, view: View, where: sa.ColumnElement[bool]) -> dict[str | None, int]:
    """Cards per column value, in one grouped COUNT."""
    col = _group_column(et, view)
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
    col = _group_column(et, view)
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
    lane, col = et.table.c[view.swimlanes], _group_column(et, view)
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


# -- cards ------------------------------------------------------------------------------


def card_keys(et: EntityTables, view: View) -> list[str]:
    """The values a card shows: its title, the view's card fields and the lane field."""
    keys = [et.entity.title, *view.card]
    if view.swimlanes:
        keys.append(view.swimlanes)
    return list(dict.fromkeys(keys))


def _card_select(et: EntityTables, view: View) -> tuple[list[sa.ColumnElement[Any]], list[str]]:
    table = et.table
    base = ["id", "version", group_key(view)]
    stored = [k for k in card_keys(et, view) if k in table.c]
    many = [k for k in card_keys(et, view) if k in et.links]
    return [table.c[k] for k in dict.fromkeys([*base, *stored])], many


def _order(et: EntityTables, view: View) -> list[sa.ColumnElement[Any]]:
    """The view's sort (checked by the loader), then id so pages never overlap."""
    order: list[sa.ColumnElement[Any]] = []
    for item in view.sort:
        key = item.lstrip("-")
        fld = et.entity.field(key)
        if key not in et.table.c or (fld is not None and is_many(fld)):
            continue
        column = et.table.c[key]
        order.append(column.desc().nulls_last() if item.startswith("-") else column.asc().nulls_last())
    order.append(et.table.c.id.asc())
    return order


def load_cards(
    conn: Connection,
    et: EntityTables,
    view: View,
    value: str | None,
    where: sa.ColumnElement[bool],
    *,
    offset: int = 0,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """One page of a column's cards, only the columns a card shows (many-valued fields
    are not loaded here: see `attach_links`)."""
    if limit <= 0:
        return []
    columns, _ = _card_select(et, view)
    col = _group_column(et, view)
    in_column = col.is_(None) if value is None else col == value
    statement = sa.select(*columns).where(where, in_column).order_by(*_order(et, view)).limit(limit).offset(max(0, offset))
    result = conn.execute(statement)
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


def attach_links(conn: Connection, et: EntityTables, view: View, cards: Sequence[dict[str, Any]]) -> None:
    """Fill the many-valued card fields of all given cards: one query per field."""
    _, many = _card_select(et, view)
    if not many or not cards:
        return
    ids = [c["id"] for c in cards]
    for key, per_record in load_links(conn, et, ids, many).items():
        for card in cards:
            card[key] = per_record.get(card["id"], [])


@dataclass
class ColumnData:
    """A column as shown: its cards page, the filtered count and the WIP status."""

    column: Column
    count: int
    scope_count: int
    cards: list[dict[str, Any]]
    offset: int = 0
    capped: bool = False
    """`count` stopped at the board's count limit: the column holds more cards."""

    @property
    def wip(self) -> str:
        return wip_status(self.column.wip, self.scope_count)

    @property
    def shown(self) -> int:
        return self.offset + len(self.cards)

    @property
    def more(self) -> bool:
        return self.shown < self.count


@dataclass
class Lane:
    """A swimlane: one value of the lane field (None: no value) and its counts."""

    value: Any
    count: int
    cells: dict[str | None, int]

    @property
    def token(self) -> str:
        if self.value is None:
            return NONE_TOKEN
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        return str(self.value)


@dataclass
class Board:
    columns: list[ColumnData]
    lanes: list[Lane] | None = None
    filtered: bool = False

    @property
    def cards(self) -> list[dict[str, Any]]:
        return [card for column in self.columns for card in column.cards]

    @property
    def total(self) -> int:
        return sum(c.count for c in self.columns)

    @property
    def capped(self) -> bool:
        """Some column holds more cards than its count says."""
        return any(c.capped for c in self.columns)


def _lanes(et: EntityTables, view: View, per_cell: Mapping[tuple[Any, str | None], int]) -> list[Lane]:
    assert view.swimlanes is not None
    fld = et.entity.get_field(view.swimlanes)
    lanes: dict[Any, Lane] = {}
    for (lane_value, value), n in per_cell.items():
        lane = lanes.setdefault(lane_value, Lane(lane_value, 0, {}))
        lane.count += n
        lane.cells[value] = lane.cells.get(value, 0) + n
    if fld.value_type == "select":
        rank = {key: i for i, key in enumerate(fld.option_keys())}

        def order(lane: Lane) -> tuple[int, Any]:
            return (lane.value is None, rank.get(lane.value, len(rank)))
    elif fld.value_type == "boolean":

        def order(lane: Lane) -> tuple[int, Any]:
            return (lane.value is None, not lane.value)
    else:

        def order(lane: Lane) -> tuple[int, Any]:
            return (lane.value is None, lane.value or 0)

    return sorted(lanes.values(), key=order)


def load_board(
    conn: Connection,
    et: EntityTables,
    view: View,
    *,
    actor: Actor,
    cards: CardFilter | None = None,
    limit: int | None = None,
    today: dt.date | None = None,
) -> Board:
    """The first page of every column. `limit` None: each column shows up to the view's
    page size; a number: at most that many cards on the whole board, split over the
    open (not collapsed) columns by `allocate`."""
    require(actor, et.entity, "read")
    cards = cards or CardFilter()
    columns = board_columns(et, view, with_none=True)
    where = board_where(et, view, actor, cards, today)
    values = [c.value for c in columns]
    counts, capped = capped_counts(conn, et, view, where, values)
    if cards.active:
        scope_counts, _ = capped_counts(conn, et, view, scope_where(et, view, actor, today), values)
    else:
        scope_counts = counts
    columns = tuple(c for c in columns if c.value is not None or counts.get(None, 0) > 0)
    open_counts = [0 if c.collapsed else counts.get(c.value, 0) for c in columns]
    per_column = [min(n, view.page_size) for n in open_counts]
    shares = per_column if limit is None else allocate(open_counts, min(max(0, limit), MAX_CARDS))
    data = [
        ColumnData(
            c,
            counts.get(c.value, 0),
            scope_counts.get(c.value, 0),
            load_cards(conn, et, view, c.value, where, limit=share),
            capped=c.value in capped,
        )
        for c, share in zip(columns, shares, strict=True)
    ]
    board = Board(columns=data, filtered=cards.active)
    attach_links(conn, et, view, board.cards)
    if view.swimlanes:
        board.lanes = _lanes(et, view, count_by_lane(conn, et, view, where))
    return board


def load_column(
    conn: Connection,
    et: EntityTables,
    view: View,
    column: Column,
    *,
    actor: Actor,
    cards: CardFilter | None = None,
    offset: int = 0,
    limit: int = 50,
    today: dt.date | None = None,
) -> tuple[ColumnData, list[Lane] | None]:
    """One more page of one column (lazy loading), with fresh counts."""
    require(actor, et.entity, "read")
    cards = cards or CardFilter()
    where = board_where(et, view, actor, cards, today)
    col = _group_column(et, view)
    in_column = col.is_(None) if column.value is None else col == column.value
    counts, capped = capped_counts(conn, et, view, where, [column.value])
    count = counts[column.value]
    scope = (
        count if not cards.active else capped_counts(conn, et, view, scope_where(et, view, actor, today), [column.value])[0][column.value]
    )
    page = load_cards(conn, et, view, column.value, where, offset=offset, limit=min(max(0, limit), MAX_CARDS))
    data = ColumnData(column, count, scope, page, offset=offset, capped=column.value in capped)
    attach_links(conn, et, view, page)
    lanes = _lanes(et, view, count_by_lane(conn, et, view, sa.and_(where, in_column))) if view.swimlanes else None
    return data, lanes


# -- who may move what ------------------------------------------------------------------


def can_move(actor: Actor, et: EntityTables, view: View) -> bool:
    """May the actor move any card on this board at all (drag handles, move buttons)?"""
    entity = et.entity
    if not can(actor, entity, "update"):
        return False
    if group_key(view) != "state":
        fld = entity.get_field(group_key(view))
        return fld.editable
    assert entity.workflow is not None
    return any(can_transition(actor, entity, t) for t in entity.workflow.transitions)


def move_targets(actor: Actor, et: EntityTables, view: View) -> dict[str | None, tuple[str | None, ...]]:
    """For each column value, the columns a card there may be dropped on by this actor,
    judged by roles only (guards and WIP limits are checked when the card is dropped)."""
    entity = et.entity
    columns = [c.value for c in board_columns(et, view, with_none=True)]
    if not can_move(actor, et, view):
        return {value: () for value in columns}
    if group_key(view) != "state":
        return {value: tuple(v for v in columns if v != value) for value in columns}
    assert entity.workflow is not None
    targets: dict[str | None, tuple[str | None, ...]] = {}
    for value in columns:
        reachable = {t.to for t in entity.workflow.transitions_from(value or "") if can_transition(actor, entity, t)}
        targets[value] = tuple(v for v in columns if v in reachable and v != value)
    return targets


# -- moving a card ----------------------------------------------------------------------


@dataclass(frozen=True)
class Moved:
    """A performed drop: the record as stored now and the columns it left and entered."""

    record: Record
    source: str | None
    target: str | None
    transition: str | None = None


def pick_transition(entity: Entity, record: Record, target: str, actor: Actor) -> Transition:
    """The transition a drop from the record's state onto `target` means: among those
    the actor may perform, the first in document order whose guard holds, else the
    first (whose refusal then explains the guard). Raises MoveRefused or MoveForbidden."""
    workflow = entity.workflow
    assert workflow is not None
    labels = {"source": state_label(entity, record.state), "target": state_label(entity, target)}
    candidates = [t for t in workflow.transitions_from(record.state or "") if t.to == target]
    if not candidates:
        raise MoveRefused(M("no transition from %(source)s to %(target)s", **labels), reason="no_transition", details=labels)
    allowed = [t for t in candidates if can_transition(actor, entity, t)]
    if not allowed:
        roles = sorted({r for t in candidates for r in (t.roles or ())})
        who = mid_sentence(entity.label)
        if roles:
            message = M("you may not move %(entity)s from %(source)s to %(target)s (roles: %(roles)s)", entity=who, roles=roles, **labels)
        else:
            message = M("you may not move %(entity)s from %(source)s to %(target)s", entity=who, **labels)
        raise MoveForbidden(message, details={**labels, "entity": entity.label})
    env = {**record.system(actor.user_id), **record.values}
    ready = [t for t in allowed if guard_holds(t, env) and not t.approval]
    return (ready or allowed)[0]


def _lock_key(et: EntityTables, view: View, value: str | None) -> int:
    digest = hashlib.sha256(f"{et.table.name}:{group_key(view)}:{value}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_column(conn: Connection, et: EntityTables, view: View, value: str | None) -> None:
    """Serialise drops into one column until the transaction ends. PostgreSQL: an
    advisory transaction lock (READ COMMITTED would let two transactions each count the
    column before the other's move commits). SQLite: writes already hold the database
    lock from BEGIN IMMEDIATE, so there is nothing to add."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(et, view, value))))


def check_wip(conn: Connection, et: EntityTables, view: View, target: str | None, actor: Actor) -> None:
    """Refuse a drop on a column whose hard WIP limit is reached (call inside the
    transaction that moves the card)."""
    limit = view.wip.get(target) if target is not None else None
    if limit is None or limit.enforce != "block":
        return
    lock_column(conn, et, view, target)
    if count_in_column(conn, et, view, target, actor) >= limit.max:
        column = find_column(et, view, target)
        label = column.label if column is not None else Label.of(target)
        raise MoveRefused(
            M("%(column)s is at its limit of %(max)s", column=label, max=limit.max),
            reason="wip",
            details={"column": label, "max": limit.max},
        )


def move_card(
    conn: Connection,
    et: EntityTables,
    view: View,
    record_id: int,
    target: str | None,
    *,
    actor: Actor,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> Moved:
    """Drop a card on the column `target` (None: the no-value column of a select board).

    Order of checks, the first failure explaining itself: the actor may update; the
    column exists; the version is current (Conflict); then, for a state board, a
    transition leads there that the actor may perform; the hard WIP limit; the
    transition itself (guard, then required fields or comment: MoveNeedsInput naming
    the transition so the caller can ask for them; a transition that needs approval is
    always a MoveNeedsInput: the dialog requests it). For a select board the field is
    updated like any edit, with the version check.
    """
    entity = et.entity
    require(actor, entity, "update")
    key = group_key(view)
    column = find_column(et, view, NONE_TOKEN if target is None else target)
    if column is None:
        raise MoveRefused(M("“%(column)s” is not a column of this board", column=target))
    record = fetch_record(conn, et, record_id, for_update=True)
    if expected_version is not None and record.version != expected_version:
        raise Conflict(
            M("%(entity)s #%(id)s was changed by someone else", entity=entity.label, id=record.id), current_version=record.version
        )
    source = record.state if key == "state" else record.values.get(key)
    if source == target:
        return Moved(record, source, target)
    if key == "state":
        assert target is not None
        transition = pick_transition(entity, record, target, actor)
        check_wip(conn, et, view, target, actor)
        if not guard_holds(transition, {**record.system(actor.user_id), **record.values}):
            raise MoveRefused(guard_message(transition), reason="guard", details={"transition": transition})
        if transition.approval is not None:
            # The record stays where it is until approved: ask for approval in the dialog.
            try:
                refuse_if_pending(conn, et, record)
            except TransitionRefused as exc:
                raise MoveRefused(exc.message) from exc
            raise MoveNeedsInput(M("“%(transition)s” needs approval; request it instead", transition=transition.label), transition.key, ())
        try:
            moved = transition_record(conn, et, record_id, transition.key, actor=actor, expected_version=record.version, now=now)
        except TransitionRefused as exc:
            if exc.missing:
                raise MoveNeedsInput(exc.message, transition.key, exc.missing) from exc
            raise MoveRefused(exc.message) from exc
        return Moved(moved, source, target, transition.key)
    if not entity.get_field(key).editable:
        raise MoveRefused(M("%(field)s cannot be changed here", field=entity.get_field(key).label))
    check_wip(conn, et, view, target, actor)
    try:
        moved = update_record(conn, et, record_id, {key: target}, actor=actor, expected_version=record.version, now=now)
    except RecordInvalid as exc:
        raise MoveRefused(field_problems(entity, exc.errors)) from exc
    return Moved(moved, source, target)
