"""Record factories: create and read records as a given actor, in one transaction each."""

from __future__ import annotations

from typing import Any

from flowdeck.engine import records
from flowdeck.engine.permissions import Actor
from flowdeck.engine.storage.tables import EntityTables


def create(db, et: EntityTables, actor: Actor, **values: Any) -> records.Record:
    return db.run(lambda conn: records.create_record(conn, et, values, actor=actor))


def fetch(db, et: EntityTables, record_id: int) -> records.Record:
    return db.read(lambda conn: records.fetch_record(conn, et, record_id))
