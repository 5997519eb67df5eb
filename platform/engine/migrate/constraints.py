"""Rules across records that a change adds or changes, against the records already stored:
the plan says how many break the rule, with the first of them, before it is applied.

The decision: the plan is applied, and the records are kept as they are. A rule decides
what may be written from now on; it never deletes, moves or blocks data already stored
(as Jira validators and Jiandaoyun's "no duplicates" apply to new changes). A record that
breaks it is refused at its next change that touches what the rule reads, with the record
it conflicts with named, so the people who own the data fix it where it is wrong. Refusing
the whole change instead would leave the admin unable to enforce a rule until every old
record is cleaned up, with nothing in the meantime stopping new ones.

Only rules checked at rest are counted: a rule limited to transitions (`on`) describes a
moment (a milestone accepted with its tasks done), not how stored records must be.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from flowdeck.engine.expressions import ExpressionError, holds
from flowdeck.engine.messages import Mn
from flowdeck.engine.migrate.plan import MAX_SAMPLES
from flowdeck.engine.schema.model import Constraint, Entity
from flowdeck.engine.storage.tables import EntityTables, side_table_name, table_name

if TYPE_CHECKING:
    from flowdeck.engine.migrate.planner import Planner

SAMPLES = 5


def constraint_changes(p: Planner, et: EntityTables, old_entity: Entity | None) -> None:
    """A note for each new or changed rule that stored records break."""
    entity = et.entity
    if et.table.name not in p.tables:
        return
    before = _specs(p.old.document, entity.key) if p.old is not None and old_entity is not None else {}
    now = _specs(p.app.document, entity.key)
    for constraint in entity.constraints:
        if constraint.on is not None or before.get(constraint.key) == now.get(constraint.key):
            continue
        found = _breaking(p, et, constraint)
        if not found:
            continue
        samples = p.record_samples(entity, et.table.name, found[:SAMPLES])
        p.note(
            Mn(
                "rule “%(key)s” of %(entity)s: %(num)s stored record breaks it (%(records)s); "
                "it is kept, and the rule applies to its next change",
                "rule “%(key)s” of %(entity)s: %(num)s stored records break it (%(records)s); "
                "they are kept, and the rule applies to their next change",
                len(found),
                key=constraint.key,
                entity=entity.label,
                records=samples,
            )
        )


def _specs(document: Mapping[str, Any], entity: str) -> dict[str, Any]:
    spec = document.get("entities", {}).get(entity, {})
    return {c.get("key"): c for c in spec.get("constraints", [])}


def _rows(p: Planner, name: str, columns: set[str]) -> Iterator[Mapping[str, Any]] | None:
    """The rows of a table as stored now, or None when a column the rule reads is not there
    yet (a field this same change adds: it holds nothing to break a rule with)."""
    present = p.columns(name)
    if not columns <= set(present):
        return None
    table = sa.table(p.renamed.get(name, name), *(sa.column(c) for c in present))
    return iter(p.conn.execute(sa.select(table).order_by(table.c.id)).mappings())


def _row_env(row: Mapping[str, Any]) -> dict[str, Any]:
    return {**row, "me": None}


def _breaking(p: Planner, et: EntityTables, constraint: Constraint) -> list[int]:
    """The ids of stored records that break the rule, in id order (at most a few thousand
    are kept: the plan shows a count and the first ones)."""
    entity = et.entity
    stored = {f.key for f in entity.stored_fields()}
    reads = {k for k in constraint.reads if k in stored} | ({"state"} if entity.workflow is not None else set())
    rows = _rows(p, et.table.name, reads | {"id"})
    if rows is None:
        return []
    applies = [dict(r) for r in rows if holds(constraint.where, _row_env(r))]
    if constraint.related is not None:
        return _related(p, et, constraint, applies)
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in applies:
        key = tuple(row.get(k) for k in constraint.scope)
        if None not in key:
            groups[key].append(row)
    broken: set[int] = set()
    for members in groups.values():
        if constraint.kind == "unique" and len(members) > 1:
            broken.update(r["id"] for r in members)
        elif constraint.kind == "no_overlap":
            broken.update(_overlapping(constraint, members))
        elif constraint.kind == "total":
            counted = [r for r in members if r.get(constraint.field or "") is not None and holds(constraint.filter, _row_env(r))]
            total = sum((Decimal(str(r[constraint.field or ""])) for r in counted), Decimal(0))
            broken.update(r["id"] for r in members if _out_of_bounds(constraint, total, r))
    return sorted(broken)[: MAX_SAMPLES * 100]


def _overlapping(constraint: Constraint, members: list[dict[str, Any]]) -> set[int]:
    start_key, end_key = constraint.start or "", constraint.end or ""
    dated = sorted((r for r in members if r.get(start_key) is not None), key=lambda r: r[start_key])
    broken: set[int] = set()
    reach: tuple[Any, int] | None = None  # the latest end so far, and whose it is
    for row in dated:
        end = row.get(end_key) if row.get(end_key) is not None else row[start_key]
        if reach is not None and (row[start_key] <= reach[0] if constraint.day_bounds else row[start_key] < reach[0]):
            broken.update((row["id"], reach[1]))
        if reach is None or end > reach[0]:
            reach = (end, row["id"])
    return broken


def _out_of_bounds(constraint: Constraint, total: Decimal, row: Mapping[str, Any]) -> bool:
    for bound in ("max", "min", "equals"):
        expression = getattr(constraint, bound)
        if expression is None:
            continue
        try:
            limit = expression.evaluate(_row_env(row))
        except ExpressionError:
            continue
        if limit is None or isinstance(limit, (dt.date, str)):
            continue
        limit = Decimal(str(limit))
        if (bound == "max" and total > limit) or (bound == "min" and total < limit) or (bound == "equals" and total != limit):
            return True
    return False


def _related(p: Planner, et: EntityTables, constraint: Constraint, applies: list[dict[str, Any]]) -> list[int]:
    related = constraint.related
    assert related is not None
    name = table_name(et.entity.app, related.entity)
    rows = _rows(p, name, {"id"} | ({related.via} if not related.many else set()))
    if rows is None:
        return []
    per_target: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    other = [dict(r) for r in rows]
    if related.many:
        link = side_table_name(et.entity.app, related.entity, related.via)
        if link not in p.tables:
            return []
        pairs = p.conn.execute(sa.text(f"SELECT record_id, value FROM {p.conn.dialect.identifier_preparer.quote(link)}")).all()
        by_id = {r["id"]: r for r in other}
        for record_id, value in pairs:
            if record_id in by_id:
                per_target[value].append(by_id[record_id])
    else:
        for row in other:
            per_target[row.get(related.via)].append(row)
    broken = []
    for row in applies:
        members = per_target.get(row["id"], [])
        meeting = [m for m in members if holds(related.where, _row_env(m))]
        if constraint.kind == "none":
            bad = bool(meeting)
        elif constraint.kind == "all":
            bad = len(meeting) < len(members)
        elif constraint.kind == "exists":
            bad = not meeting
        else:
            field = constraint.field or ""
            total = sum((Decimal(str(m[field])) for m in meeting if m.get(field) is not None), Decimal(0))
            bad = _out_of_bounds(constraint, total, row)
        if bad:
            broken.append(row["id"])
    return broken
