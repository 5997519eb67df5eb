"""Roll-ups rebuilt by a plan: those added, changed (what they aggregate, how, the filter,
the result), or whose source records a data move or a changed formula changed, and every
roll-up above a rebuilt one. Each is one set-based statement,
`UPDATE target SET col = (SELECT aggregate FROM source WHERE via = target.id ...)`, run
level by level (a roll-up of a roll-up after the one it reads): no record is loaded into
Python, so a million rows take one statement, not a million. Formulas that read a rebuilt
roll-up are computed again after it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from flowdeck.engine.messages import M
from flowdeck.engine.migrate.formulas import changed_formulas, recompute_entity
from flowdeck.engine.migrate.plan import Step
from flowdeck.engine.rollups import levels, rebuild_statement, source_table
from flowdeck.engine.schema.model import Entity, Field

if TYPE_CHECKING:
    from flowdeck.engine.migrate.planner import Planner


def _signature(fld: Field | None) -> tuple[Any, ...] | None:
    if fld is None or fld.rollup is None:
        return None
    r = fld.rollup
    sources = tuple(e.source if e is not None else None for e in (r.where, r.condition))
    return (r.over, r.aggregate, r.field, r.weight, sources, fld.result, fld.scale)


def _before(old_entity: Entity | None, fld: Field) -> Field | None:
    if old_entity is None:
        return None
    return old_entity.field(fld.was or fld.key) or old_entity.field(fld.key)


def rollup_changes(p: Planner) -> None:
    """Add the rebuild steps (after every other data step, so they read final values)."""
    app = p.new.app
    # What a data move or a changed formula changed: an entity, or `entity.table` for rows.
    moved_sources = set(p.data_changed) | {f"{e}.{t}" for e in p.data_changed for t in p.new.get(e).children}
    for et in p.new.entities.values():
        old_entity = p.old.entity(et.entity.key) if p.old else None
        for key in changed_formulas(et, old_entity, all_of_them=False) if old_entity is not None else ():
            moved_sources.add(f"{et.entity.key}.{key.split('.')[0]}" if "." in key else et.entity.key)
    rebuilt: set[tuple[str, str]] = set()
    for number, level in enumerate(levels(app), 1):
        for entity_key, key in level:
            entity = app.get_entity(entity_key)
            fld = entity.get_field(key)
            assert fld.rollup is not None
            old_entity = p.old.entity(entity_key) if p.old else None
            source = f"{entity_key}.{fld.rollup.source}" if fld.rollup.kind == "rows" else fld.rollup.source
            below = any(e == source for e, _ in rebuilt)
            if _signature(_before(old_entity, fld)) != _signature(fld) or source in moved_sources or below:
                _rebuild_step(p, entity_key, fld, number, rebuilt)


def _rebuild_step(p: Planner, entity_key: str, fld: Field, level: int, rebuilt: set[tuple[str, str]]) -> None:
    et = p.new.get(entity_key)
    count = p.count_rows(et.table.name)
    if not count:
        return
    rebuilt.add((entity_key, fld.key))

    def rebuild(conn: Connection) -> None:
        target = p.new.get(entity_key)
        if conn.dialect.name == "postgresql":
            # Fresh statistics of the rows aggregated: without them (rows just loaded or
            # converted by this plan) the planner may hash-join whole tables for every parent.
            source = source_table(p.new, target, fld)
            conn.exec_driver_sql(f"ANALYZE {conn.dialect.identifier_preparer.quote(source.name)}")
        conn.execute(rebuild_statement(p.new, target, fld, conn.dialect.name))

    description = M(
        "rebuilds the roll-up %(field)s of the %(count)s %(entity)s records in one set-based UPDATE statement (level %(level)s)",
        field=fld.key,
        count=count,
        entity=entity_key,
        level=level,
    )
    p.plan.steps.append(Step(description, rebuild, "data"))
    reading = [f.key for f in et.entity.fields if f.formula is not None and fld.key in f.formula.names]
    if reading:

        def recompute(conn: Connection) -> None:
            recompute_entity(conn, p.new.get(entity_key))

        said = M("recomputes %(fields)s for the %(count)s existing %(entity)s records", fields=reading, count=count, entity=entity_key)
        p.plan.steps.append(Step(said, recompute, "data"))
