"""The SQL of `sla` fields: the due time of the record's current cycle of one SLA, as one
correlated scalar subquery on `fd_sla_cycles` (the cycle with the highest number).

Like a live lookup's, the subquery is a column of the statement that reads a list or a record
(`EntityTables.lookups`), so a list sorts and filters by the due time in SQL, and the page
is read in one statement. The index (app, entity, sla, due_at) serves a filter such as "due
within the hour"; the unique (app, entity, record_id, sla, cycle) one serves the read per row.
A paused or stopped cycle has no due time: the value is empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from flowdeck.engine import models

if TYPE_CHECKING:
    from flowdeck.engine.storage.tables import AppTables


def due_at(app: str, entity: str, sla: str, record_id: sa.ColumnElement[Any]) -> sa.ScalarSelect[Any]:
    """The current cycle's due time of `sla` for the record whose id is `record_id`."""
    current = models.sla_cycles.alias("sla_cur")
    return (
        sa.select(current.c.due_at)
        .where(current.c.app == app, current.c.entity == entity, current.c.sla == sla, current.c.record_id == record_id)
        .order_by(current.c.cycle.desc())
        .limit(1)
        .correlate_except(current)
        .scalar_subquery()
    )


def attach_slas(tables: AppTables) -> None:
    """Give each entity's tables the expression of each of its `sla` fields."""
    for et in tables.entities.values():
        for fld in et.entity.fields:
            if fld.sla is not None:
                et.lookups[fld.key] = due_at(et.entity.app, et.entity.key, fld.sla, et.table.c.id)
