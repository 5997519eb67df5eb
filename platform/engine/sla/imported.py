"""SLA cycles for records written without record events (a bundle's imported records): the
importer calls `start_imported` after loading them, as it calls `timed.arm_app`.

Each record without a cycle is taken as if it had just been created in its current state
with its current values, at the import moment: a cycle starts where the definition's
`start` holds (`on: created`, a start state, `when` true) and `stop` does not, paused when
`pause` holds, and its moments are armed. The time a record spent before its export is not
counted (its history is not an SLA clock), so an imported ticket's clock starts fresh.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import events, models
from flowdeck.engine.records import fetch_record
from flowdeck.engine.sla.lifecycle import on_record
from flowdeck.engine.storage.tables import AppTables

C = models.sla_cycles


def start_imported(conn: Connection, tables: AppTables, written: Mapping[str, Collection[int]], now: dt.datetime) -> int:
    """Start the cycles of the records just written (entity key -> their ids) that have none;
    how many records were looked at."""
    looked = 0
    for key, et in tables.entities.items():
        entity = et.entity
        if not getattr(entity, "slas", ()) or not written.get(key):
            continue
        cycles = sa.select(C.c.record_id).where(C.c.app == entity.app, C.c.entity == key, C.c.record_id.in_(sorted(written[key])))
        started = {int(i) for i in conn.execute(cycles).scalars()}
        for record_id in sorted(set(written[key]) - started):
            record = fetch_record(conn, et, int(record_id))
            event = events.Event("record.created", entity.app, key, record.id, None, now, after=dict(record.values),
                                 state_after=record.state, model=entity)  # fmt: skip
            on_record(conn, entity, event)
            looked += 1
    return looked
