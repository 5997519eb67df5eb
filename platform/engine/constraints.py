"""Enforcing an entity's `constraints`, the rules across records, when a record is saved or
moves through a transition: unique within a scope, no overlapping ranges, totals within
bounds, and guards over related records (none / all / exists).

A refusal names the record it conflicts with (entity label, #id and title) so the person
can open it; `ConstraintBroken.records` carries the (entity, id) pairs for links.

Exact under concurrency. A rule reads other rows, so two sessions each checking before the
other commits could both pass (two overlapping leave requests). On SQLite every write
transaction starts with `BEGIN IMMEDIATE` (`engine.db`): writers run one at a time, and a
check always sees every committed write. PostgreSQL runs at READ COMMITTED, where two
transactions check concurrently and neither sees the other's uncommitted row; a row lock
cannot help (the conflicting row does not exist yet). So before checking, a transaction
takes `pg_advisory_xact_lock` on a hash of (app, entity, rule, scope values): sessions that
could conflict queue on the same key, held until commit, and the second one's check (a new
statement, so a new snapshot at READ COMMITTED) sees the first one's row. Sessions in other
scopes take other keys and do not wait. Saving a record that a guard reads (a task under a
milestone) takes the guard's key for the record it points at, so an acceptance and a new
open task under it are ordered too; a later change to a related record is not checked
against the guard again (the rule is checked when the record holding it is saved).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine.errors import RecordInvalid, TransitionRefused
from flowdeck.engine.expressions import Expression, ExpressionError, holds
from flowdeck.engine.messages import M, Message
from flowdeck.engine.schema.model import Constraint, Entity, Related
from flowdeck.engine.storage.tables import EntityTables, side_table_name, table_name

RECORD_LEVEL = "_record"
MAX_NAMED = 5
"""How many of the records a total counts its refusal names."""


class ConstraintBroken(RecordInvalid):
    """A save refused by a rule across records; `records` are the (entity, id) it names."""

    def __init__(self, message: Message, records: Iterable[tuple[str, int]] = ()) -> None:
        super().__init__({RECORD_LEVEL: [message]}, records)
        self.message = message


class ConstraintRefusesTransition(TransitionRefused):
    """A transition refused by a rule across records; `records` as for ConstraintBroken."""

    def __init__(self, message: Message, records: Iterable[tuple[str, int]] = ()) -> None:
        super().__init__(message, records=records)


def record_name(label: Any, record_id: int, title: Any) -> Message:
    """`Leave request #12 “Spring break”`: how a refusal names another record."""
    if title is None or title == "":
        return M("%(entity)s #%(id)s", entity=label, id=record_id)
    return M("%(entity)s #%(id)s “%(title)s”", entity=label, id=record_id, title=str(title))


def lock_key(app: str, entity: str, rule: str, values: Iterable[Any]) -> int:
    """The advisory lock key (a signed 64-bit hash) of one rule and scope."""
    text = json.dumps([app, entity, rule, [None if v is None else str(v) for v in values]])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


def take_locks(conn: Connection, keys: Iterable[int]) -> None:
    """Wait for the transaction-scoped advisory locks, in a fixed order (no deadlock between
    two sessions taking the same keys). SQLite needs none: its writers are serialized."""
    if conn.dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def due(constraint: Constraint, *, created: bool, changed: set[str], transition: str | None, state_changed: bool) -> bool:
    """Whether this save checks the rule. With `on`, only at those transitions. A rule over
    related records is checked at every save (what it reads lives elsewhere); a rule over
    this entity's records when a value it reads changed (a record that broke a rule added
    later can still be edited otherwise)."""
    if constraint.on is not None:
        return transition is not None and transition in constraint.on
    if constraint.related is not None or created:
        return True
    return bool(changed & constraint.reads) or (state_changed and "state" in constraint.reads)


def check_constraints(
    conn: Connection,
    et: EntityTables,
    values: Mapping[str, Any],
    system: Mapping[str, Any],
    *,
    record_id: int | None,
    changed: set[str],
    transition: str | None = None,
    state_changed: bool = False,
) -> None:
    """Raise ConstraintBroken (a save) or ConstraintRefusesTransition (a transition) for the
    first rule the record as it would be written breaks; nothing is written here."""
    entity = et.entity
    env = {**system, **values}
    for constraint in entity.constraints:
        if not due(constraint, created=record_id is None, changed=changed, transition=transition, state_changed=state_changed):
            continue
        if not holds(constraint.where, env):
            continue
        found = _check(conn, et, constraint, env, record_id)
        if found is None:
            continue
        detail, records = found
        said = detail if constraint.message is None else M("%(rule)s: %(detail)s", rule=constraint.message, detail=detail)
        if transition is not None:
            raise ConstraintRefusesTransition(said, records)
        raise ConstraintBroken(said, records)


Found = tuple[Message, list[tuple[str, int]]] | None


def _check(conn: Connection, et: EntityTables, constraint: Constraint, env: Mapping[str, Any], record_id: int | None) -> Found:
    entity = et.entity
    if constraint.related is not None:
        take_locks(conn, [lock_key(entity.app, entity.key, constraint.key, [record_id])])
        if constraint.kind == "total":
            return _total_related(conn, et, constraint, env, record_id)
        return _guard(conn, et, constraint, constraint.related, env, record_id)
    scope_values = [env.get(k) for k in constraint.scope]
    if any(v is None for v in scope_values):
        return None  # an empty scope value shares a scope with nothing (as SQL's NULL)
    take_locks(conn, [lock_key(entity.app, entity.key, constraint.key, scope_values)])
    params = {f"scope_{i}": value for i, value in enumerate(scope_values)}
    params["record_id"] = record_id or 0  # ids start at 1: 0 leaves no record out
    me = env.get("me")
    query = et.statement(("constraint", constraint.key), lambda: _siblings(et, constraint))
    if constraint.kind == "unique":
        for row in _matching(conn, query, params, constraint.where, me):
            said = M("%(record)s already has the same %(fields)s", record=_named(entity, row), fields=_labels(entity, constraint.scope))
            return said, [(entity.key, row["id"])]
        return None
    if constraint.kind == "no_overlap":
        return _overlap(conn, et, constraint, env, query, params)
    return _total_siblings(conn, et, constraint, env, query, params)


def _siblings(et: EntityTables, constraint: Constraint) -> sa.Select[Any]:
    """The other records in the rule's scope: built once per rule (values as parameters),
    so SQLAlchemy reuses its compiled form at every save."""
    table = et.table
    read = {"id", et.entity.title, constraint.field, constraint.start, constraint.end}
    for expression in (constraint.where, constraint.filter):
        read |= set(expression.names) if expression is not None else set()
    columns = [c for c in table.c if c.name in read]  # the row a condition reads, not every column
    query = sa.select(*columns).where(table.c.id != sa.bindparam("record_id")).order_by(table.c.id)
    for index, key in enumerate(constraint.scope):
        query = query.where(table.c[key] == sa.bindparam(f"scope_{index}"))
    if constraint.kind == "no_overlap":
        assert constraint.start is not None and constraint.end is not None
        other_start = table.c[constraint.start]
        other_end = sa.func.coalesce(table.c[constraint.end], other_start)
        if constraint.day_bounds:  # whole days: 1-3 May and 3-5 May share the 3rd
            query = query.where(other_start <= sa.bindparam("end"), other_end >= sa.bindparam("start"))
        else:  # moments: 10:00-11:00 and 11:00-12:00 follow each other
            query = query.where(other_start < sa.bindparam("end"), other_end > sa.bindparam("start"))
    return query


def _matching(
    conn: Connection, query: sa.Select[Any], params: Mapping[str, Any], where: Expression | None, me: Any
) -> Iterator[Mapping[str, Any]]:
    """The rows of `query` that meet `where` (read as rows of their own, with `me`)."""
    for row in conn.execute(query, params).mappings():
        if holds(where, {**row, "me": me}):
            yield row


def _named(entity: Entity, row: Mapping[str, Any]) -> Message:
    return record_name(entity.label, row["id"], row.get(entity.title))


def _labels(entity: Entity, keys: Iterable[str]) -> list[Any]:
    return [entity.get_field(k).label for k in keys]


def _overlap(
    conn: Connection, et: EntityTables, constraint: Constraint, env: Mapping[str, Any], query: sa.Select[Any], params: dict[str, Any]
) -> Found:
    assert constraint.start is not None and constraint.end is not None
    start, end = env.get(constraint.start), env.get(constraint.end)
    if start is None:
        return None
    params = {**params, "start": start, "end": start if end is None else end}
    for row in _matching(conn, query, params, constraint.where, env.get("me")):
        other_end_value = row[constraint.end] if row[constraint.end] is not None else row[constraint.start]
        said = M(
            "overlaps %(record)s (%(start)s – %(end)s)",
            record=_named(et.entity, row),
            start=_shown(row[constraint.start]),
            end=_shown(other_end_value),
        )
        return said, [(et.entity.key, row["id"])]
    return None


def _shown(value: Any) -> Any:
    return value.isoformat(sep=" ", timespec="minutes") if isinstance(value, dt.datetime) else value


def _number(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _total_siblings(
    conn: Connection, et: EntityTables, constraint: Constraint, env: Mapping[str, Any], query: sa.Select[Any], params: Mapping[str, Any]
) -> Found:
    assert constraint.field is not None
    total = Decimal(0)
    counted: list[Mapping[str, Any]] = []
    for row in _matching(conn, query, params, constraint.where, env.get("me")):
        if row[constraint.field] is not None and holds(constraint.filter, {**row, "me": env.get("me")}):
            total += _number(row[constraint.field])
            counted.append(row)
    own = env.get(constraint.field)
    if own is not None and holds(constraint.filter, env):
        total += _number(own)
    names = [_named(et.entity, row) for row in counted[:MAX_NAMED]]
    return _compare(constraint, et.entity.get_field(constraint.field).label, total, env, names, [(et.entity.key, r["id"]) for r in counted])


def _compare(
    constraint: Constraint, label: Any, total: Decimal, env: Mapping[str, Any], names: list[Message], records: list[tuple[str, int]]
) -> Found:
    """A total against its bounds (worked out on the record being checked)."""
    counting = M("counting %(records)s", records=names) if names else M("counting no other record")
    for bound, broken in (("max", lambda t, b: t > b), ("min", lambda t, b: t < b), ("equals", lambda t, b: t != b)):
        expression = getattr(constraint, bound)
        if expression is None:
            continue
        try:
            limit = expression.evaluate(env)
        except ExpressionError:
            limit = None
        if limit is None:
            said = M("the limit “%(bound)s” of %(field)s cannot be worked out for this record", bound=expression.source, field=label)
            return said, []
        limit = _number(limit)
        if broken(total, limit):
            return _broken_bound(bound, field=label, total=_plain(total), limit=_plain(limit), counting=counting), records
    return None


def _broken_bound(bound: str, **params: Any) -> Message:
    """What a broken `max`, `min` or `equals` says; each bound its own sentence."""
    if bound == "max":
        return M("the total of %(field)s would be %(total)s, more than %(limit)s (%(counting)s)", **params)
    if bound == "min":
        return M("the total of %(field)s would be %(total)s, less than %(limit)s (%(counting)s)", **params)
    return M("the total of %(field)s is %(total)s; it must be exactly %(limit)s (%(counting)s)", **params)


def _plain(number: Decimal) -> Any:
    """A total as a person reads it: 8, not 8.00; 7.5, not 7.50."""
    normal = number.normalize()
    return int(normal) if normal == normal.to_integral_value() else normal


def _related_query(et: EntityTables, related: Related) -> sa.Select[Any]:
    metadata = et.table.metadata
    other = metadata.tables[table_name(et.entity.app, related.entity)]
    query = sa.select(other).order_by(other.c.id)
    if related.many:
        link = metadata.tables[side_table_name(et.entity.app, related.entity, related.via)]
        return query.where(other.c.id.in_(sa.select(link.c.record_id).where(link.c.value == sa.bindparam("record_id"))))
    return query.where(other.c[related.via] == sa.bindparam("record_id"))


def _related_rows(conn: Connection, et: EntityTables, related: Related, record_id: int | None) -> Iterator[Mapping[str, Any]]:
    if record_id is None:
        return iter(())  # a record being created has no related records yet
    query = et.statement(("related", related.entity, related.via), lambda: _related_query(et, related))
    return iter(conn.execute(query, {"record_id": record_id}).mappings())


def _guard(
    conn: Connection, et: EntityTables, constraint: Constraint, related: Related, env: Mapping[str, Any], record_id: int | None
) -> Found:
    me = env.get("me")
    condition = related.where.source if related.where is not None else None
    if constraint.kind == "exists":
        if any(holds(related.where, {**row, "me": me}) for row in _related_rows(conn, et, related, record_id)):
            return None
        if condition is None:
            return M("needs at least one %(entity)s", entity=related.label), []
        return M("needs at least one %(entity)s where %(condition)s", entity=related.label, condition=condition), []
    for row in _related_rows(conn, et, related, record_id):
        meets = holds(related.where, {**row, "me": me})
        if constraint.kind == "none" and meets:
            name = record_name(related.label, row["id"], row.get(related.title))
            if condition is None:
                return M("%(record)s still refers to it", record=name), [(related.entity, row["id"])]
            return M("%(record)s still matches %(condition)s", record=name, condition=condition), [(related.entity, row["id"])]
        if constraint.kind == "all" and not meets:
            name = record_name(related.label, row["id"], row.get(related.title))
            return M("%(record)s does not meet %(condition)s", record=name, condition=condition), [(related.entity, row["id"])]
    return None


def _total_related(conn: Connection, et: EntityTables, constraint: Constraint, env: Mapping[str, Any], record_id: int | None) -> Found:
    related = constraint.related
    assert related is not None and constraint.field is not None
    me = env.get("me")
    total = Decimal(0)
    counted = []
    for row in _related_rows(conn, et, related, record_id):
        if row[constraint.field] is not None and holds(related.where, {**row, "me": me}):
            total += _number(row[constraint.field])
            counted.append(row)
    names = [record_name(related.label, r["id"], r.get(related.title)) for r in counted[:MAX_NAMED]]
    label = _related_field_label(related, constraint.field)
    return _compare(constraint, label, total, env, names, [(related.entity, r["id"]) for r in counted])


def _related_field_label(related: Related, key: str) -> Any:
    return dict(related.field_labels).get(key, key)


def lock_related(conn: Connection, entity: Entity, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> None:
    """Saving or deleting a record that rules of other records read (a task under a
    milestone whose acceptance needs its tasks done): hold the rule's lock of each record it
    points at, before and after the change, until this transaction ends, so a check of the
    rule either sees this change or runs before it. Taken after the write: the check's side
    holds the record's row lock before the rule's lock, and a write that sets a reference
    waits for that row (its foreign key) before this lock, so the two never wait in a cycle."""
    keys = []
    for guard in entity.guarded_by:
        for values in (before, after):
            if values is None:
                continue
            pointed = values.get(guard.via)
            for target in pointed if isinstance(pointed, list) else [pointed]:
                if target is not None:
                    keys.append(lock_key(entity.app, guard.entity, guard.constraint, [target]))
    take_locks(conn, keys)
