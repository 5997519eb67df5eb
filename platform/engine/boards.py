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

The columns, quick filters and counts are in `engine.board_columns` (the names callers
use are importable from here too).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine.board_columns import COUNT_LIMIT as COUNT_LIMIT
from flowdeck.engine.board_columns import (
    NONE_TOKEN,
    CardFilter,
    Column,
    allocate,
    board_columns,
    board_where,
    capped_counts,
    count_by_lane,
    count_in_column,
    find_column,
    group_column,
    group_key,
    scope_where,
    wip_status,
)
from flowdeck.engine.errors import Conflict, Forbidden, RecordInvalid, TransitionRefused
from flowdeck.engine.fieldtypes import is_many
from flowdeck.engine.messages import M, Message
from flowdeck.engine.permissions import Actor, can, can_transition, hidden_states, mid_sentence, require
from flowdeck.engine.query import Hidden, hidden_everywhere_in, page_select, selected_column, sort_visible
from flowdeck.engine.records import Record, fetch_record, load_links, update_record
from flowdeck.engine.schema.model import Entity, Label, Transition, View
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.engine.workflow import field_problems, guard_holds, guard_message, refuse_if_pending, state_label, transition_record

MAX_CARDS = 2000
"""The most cards one board request reads, whatever `limit` asks for."""


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


# -- cards ------------------------------------------------------------------------------


def card_keys(et: EntityTables, view: View) -> list[str]:
    """The values a card shows: its title, the view's card fields and the lane field."""
    keys = [et.entity.title, *view.card]
    if view.swimlanes:
        keys.append(view.swimlanes)
    return list(dict.fromkeys(keys))


def _card_select(et: EntityTables, view: View) -> tuple[list[sa.ColumnElement[Any]], list[str]]:
    table = et.table
    base = ["id", "version", group_key(view), *(["state"] if "state" in table.c else [])]  # state: the fields hidden there
    stored = [k for k in card_keys(et, view) if et.has_column(k)]
    many = [k for k in card_keys(et, view) if k in et.links]
    return [selected_column(et, k) for k in dict.fromkeys([*base, *stored])], many


def _order(et: EntityTables, view: View, hidden: Hidden) -> list[sa.ColumnElement[Any]]:
    """The view's sort (checked by the loader; a field hidden from the reader sorts as
    empty where it is hidden), then id so pages never overlap."""
    order: list[sa.ColumnElement[Any]] = []
    for item in view.sort:
        key = item.lstrip("-")
        fld = et.entity.field(key)
        if not et.has_column(key) or (fld is not None and is_many(fld)) or hidden_everywhere_in(et, key, hidden):
            continue
        column = sort_visible(et, key, et.column(key), hidden)
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
    hidden: Hidden | None = None,
) -> list[dict[str, Any]]:
    """One page of a column's cards, only the columns a card shows (many-valued fields
    are not loaded here: see `attach_links`); `hidden`: where fields are hidden from the
    reader (the order must not tell them)."""
    if limit <= 0:
        return []
    columns, _ = _card_select(et, view)
    col = group_column(et, view)
    in_column = col.is_(None) if value is None else col == value
    statement = page_select(et, columns, sa.and_(where, in_column), _order(et, view, hidden or {}), limit, max(0, offset))
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
    if fld.value_type == "select":  # lanes follow the select's options; a boolean's: true first
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
    hidden = hidden_states(et.entity, actor)
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
            load_cards(conn, et, view, c.value, where, limit=share, hidden=hidden),
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
    col = group_column(et, view)
    in_column = col.is_(None) if column.value is None else col == column.value
    counts, capped = capped_counts(conn, et, view, where, [column.value])
    count = counts[column.value]
    scope = (
        count if not cards.active else capped_counts(conn, et, view, scope_where(et, view, actor, today), [column.value])[0][column.value]
    )
    size = min(max(0, limit), MAX_CARDS)
    page = load_cards(conn, et, view, column.value, where, offset=offset, limit=size, hidden=hidden_states(et.entity, actor))
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
