"""Values worked out again after a change: formulas whose formula is new or changed, every
formula of an entity whose stored values a data move changed (they may read them), and
copied lookups that are new or follow another path (filled in one UPDATE, before formulas)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine.computed import compute_values
from flowdeck.engine.expressions import CLOCK_KEY
from flowdeck.engine.lookup_values import fill_copies, with_lookups
from flowdeck.engine.messages import M
from flowdeck.engine.migrate.plan import Step
from flowdeck.engine.records import load_children, load_links, row_to_record
from flowdeck.engine.schema.model import Entity
from flowdeck.engine.storage.tables import EntityTables

if TYPE_CHECKING:
    from flowdeck.engine.migrate.planner import Planner


def changed_formulas(et: EntityTables, old_entity: Entity | None, *, all_of_them: bool) -> list[str]:
    """The keys (`total`, `lines.cost`) of formulas to compute again."""
    from_old = {f.key: f for f in old_entity.fields} if old_entity else {}
    changed = []
    for fld in et.entity.fields:
        before = from_old.get(fld.was or fld.key)
        if fld.formula is not None and (before is None or before.formula is None or before.formula.source != fld.formula.source):
            changed.append(fld.key)
        for child in fld.fields:
            old_child = next((c for c in before.fields if c.key == child.key), None) if before is not None else None
            if child.formula is not None and (
                old_child is None or old_child.formula is None or old_child.formula.source != child.formula.source
            ):
                changed.append(f"{fld.key}.{child.key}")
    if all_of_them:
        # Values that formulas read were moved or converted: compute every formula again.
        for fld in et.entity.fields:
            if fld.formula is not None and fld.key not in changed:
                changed.append(fld.key)
            for child in fld.fields:
                if child.formula is not None and f"{fld.key}.{child.key}" not in changed:
                    changed.append(f"{fld.key}.{child.key}")
    return changed


def changed_copies(et: EntityTables, old_entity: Entity | None) -> list[str]:
    """Copied lookups that are new, were live, or now follow another path."""
    from_old = {f.key: f for f in old_entity.fields} if old_entity else {}
    changed = []
    for fld in et.entity.lookups():
        before = from_old.get(fld.was or fld.key)
        if fld.lookup is None or fld.lookup.live or fld.key not in et.copy_reads:
            continue
        if before is None or before.lookup is None or before.lookup.live or before.lookup.path != fld.lookup.path:
            changed.append(fld.key)
    return changed


def lookup_changes(p: Planner, et: EntityTables, old_entity: Entity | None) -> None:
    """Fill new copied lookups of existing records: one set-based UPDATE per lookup."""
    changed = changed_copies(et, old_entity)
    records = p.count(sa.select(sa.func.count()).select_from(et.table)) if changed and et.table.name in p.tables else 0
    if not records:
        return
    entity_key = et.entity.key

    def fill(conn: Connection) -> None:
        new = p.new.get(entity_key)
        for key in changed:
            fill_copies(conn, new, key)

    # The UPDATE reads the referenced tables, so it waits until new tables exist.
    description = M("copies %(fields)s into the %(count)s existing %(entity)s records", fields=changed, count=records, entity=entity_key)
    p.deferred.append(Step(description, fill, "data"))


def formula_changes(p: Planner, et: EntityTables, old_entity: Entity | None) -> None:
    lookup_changes(p, et, old_entity)
    changed = changed_formulas(et, old_entity, all_of_them=et.entity.key in p.data_changed)
    if not changed:
        return
    records = p.count(sa.select(sa.func.count()).select_from(et.table)) if et.table.name in p.tables else 0
    if not records:
        return
    entity_key = et.entity.key

    def recompute(conn: Connection) -> None:
        recompute_entity(conn, p.new.get(entity_key))

    # Recomputing reads every table of the entity, so it waits until new tables exist.
    description = M("recomputes %(fields)s for the %(count)s existing %(entity)s records", fields=changed, count=records, entity=entity_key)
    p.deferred.append(Step(description, recompute, "data"))


def recompute_entity(
    conn: Connection, et: EntityTables, batch: int = 500, *, only: Collection[str] | None = None, now: dt.datetime | None = None
) -> int:
    """Recompute stored formulas of every record (after a formula changed, or the day
    changed). Only values that differ are written, one executemany UPDATE per batch and set
    of columns, without touching versions, `updated_at` or history: no person changed them.
    `only` (keys, `table.key` for line items) limits what is written, so the clock refresh
    leaves every other formula alone; `now` is the moment `today()` and `now()` read. A
    record saved by someone between the read and the write keeps what its save computed.
    Returns how many records changed."""
    entity = et.entity
    last_id = 0
    count = 0
    columns = [k for k in entity.computed_order if k in et.table.c and (only is None or k in only)]
    tables = {k: [c for c in entity.get_field(k).computed_order if only is None or f"{k}.{c}" in only] for k in et.children}
    tables = {k: keys for k, keys in tables.items() if keys}
    while True:
        rows = conn.execute(with_lookups(et).where(et.table.c.id > last_id).order_by(et.table.c.id).limit(batch)).mappings().all()
        if not rows:
            return count
        ids = [r["id"] for r in rows]
        links = load_links(conn, et, ids)
        children = load_children(conn, et, ids)
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        child_updates: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            record = row_to_record(et, row)
            for key, per in (links | children).items():
                record.values[key] = per[record.id]
            before = {k: record.values.get(k) for k in columns}
            child_before = {k: [dict(r) for r in record.values.get(k, [])] for k in tables}
            system = record.system(None) | ({CLOCK_KEY: now} if now is not None else {})
            compute_values(entity, record.values, system, log_problems=True)
            changed = {k: record.values[k] for k in columns if record.values[k] != before[k]}
            touched = bool(changed)
            if changed:
                updates[tuple(sorted(changed))].append({"_id": record.id, "_version": record.version, **changed})
            for key, keys in tables.items():
                for item, old in zip(record.values.get(key, []), child_before[key], strict=True):
                    if any(item.get(c) != old.get(c) for c in keys):
                        child_updates[key].append({"_id": item["id"], **{c: item.get(c) for c in keys}})
                        touched = True
            count += touched
        for keys, values in updates.items():
            # A record saved meanwhile has a new version and values its save computed: left alone.
            where = (et.table.c.id == sa.bindparam("_id")) & (et.table.c.version == sa.bindparam("_version"))
            conn.execute(et.table.update().where(where).values({k: sa.bindparam(k) for k in keys}), values)
        for key, values in child_updates.items():
            child = et.children[key]
            conn.execute(child.update().where(child.c.id == sa.bindparam("_id")).values({c: sa.bindparam(c) for c in tables[key]}), values)
        last_id = ids[-1]
