"""Values worked out again after a change: formulas whose formula is new or changed, every
formula of an entity whose stored values a data move changed (they may read them), and
copied lookups that are new or follow another path (filled in one UPDATE, before formulas)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine.computed import compute_values
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


def recompute_entity(conn: Connection, et: EntityTables, batch: int = 500) -> int:
    """Recompute stored formulas of every record (after a formula changed). Returns the count."""
    entity = et.entity
    last_id = 0
    count = 0
    computed_columns = [k for k in entity.computed_order if k in et.table.c]
    while True:
        rows = conn.execute(with_lookups(et).where(et.table.c.id > last_id).order_by(et.table.c.id).limit(batch)).mappings().all()
        if not rows:
            return count
        ids = [r["id"] for r in rows]
        links = load_links(conn, et, ids)
        children = load_children(conn, et, ids)
        for row in rows:
            record = row_to_record(et, row)
            for key, per in links.items():
                record.values[key] = per[record.id]
            for key, per in children.items():
                record.values[key] = per[record.id]
            before = {k: record.values.get(k) for k in computed_columns}
            child_before = {k: [dict(r) for r in record.values.get(k, [])] for k in et.children}
            compute_values(entity, record.values, record.system(None), log_problems=True)
            changed = {k: record.values[k] for k in computed_columns if record.values[k] != before[k]}
            if changed:
                conn.execute(et.table.update().where(et.table.c.id == record.id).values(changed))
            for key in et.children:
                if record.values.get(key) != child_before[key]:
                    child = et.children[key]
                    for item in record.values.get(key, []):
                        data = {c: item.get(c) for c in entity.get_field(key).computed_order}
                        if data:
                            conn.execute(child.update().where(child.c.id == item["id"]).values(data))
            count += 1
        last_id = ids[-1]
