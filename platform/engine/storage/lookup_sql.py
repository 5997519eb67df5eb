"""The SQL of lookup fields: the value a path of references ends on, as one scalar subquery.

A live lookup is read by the statement that reads its record or list page (the subquery is
a column of that statement: one statement per page, never one per row), and filtered and
sorted by the same expression. A copied lookup is a column; its value is read with the
same chain started from the first reference's id when that reference is set or changed.
Each hop reads an alias of its table, so a lookup through a reference to the same entity
(a task's parent) is not correlated with the row being listed; every other table is
(`correlate_except`), so a hop two levels down still reads the listed row's reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from flowdeck.engine.schema.model import Lookup

if TYPE_CHECKING:
    from flowdeck.engine.storage.tables import AppTables


def chain(tables: AppTables, lookup: Lookup, start: sa.ColumnElement[Any]) -> sa.ScalarSelect[Any]:
    """The value `lookup` ends on, for the record the first reference's id `start` names."""
    current: sa.ColumnElement[Any] = start
    for number, (entity, ref) in enumerate(lookup.hops[1:], start=1):
        hop = tables.get(entity).table.alias(f"lk_{number}")
        current = sa.select(hop.c[ref]).where(hop.c.id == current).correlate_except(hop).scalar_subquery()
    assert lookup.target_entity is not None and lookup.target is not None
    end = tables.get(lookup.target_entity).table.alias(f"lk_{len(lookup.hops)}")
    return sa.select(end.c[lookup.target]).where(end.c.id == current).correlate_except(end).scalar_subquery()


def attach_lookups(tables: AppTables) -> None:
    """Give each entity's tables the expressions of its lookups (once every table exists)."""
    for et in tables.entities.values():
        for fld in et.entity.lookups():
            lookup = fld.lookup
            if lookup is None or lookup.target is None:
                continue
            start = et.table.c[lookup.reference]
            read = chain(tables, lookup, start)
            if lookup.live:
                et.lookups[fld.key] = read
            else:
                et.copy_reads[fld.key] = read
            et.lookup_sources[fld.key] = sa.select(chain(tables, lookup, sa.bindparam("start", type_=start.type)))
