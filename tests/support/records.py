"""Record factories: create and read records as a given actor, in one transaction each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flowdeck.engine import records
from flowdeck.engine.messages import Message, english
from flowdeck.engine.permissions import Actor
from flowdeck.engine.storage.tables import EntityTables


def create(db, et: EntityTables, actor: Actor, **values: Any) -> records.Record:
    return db.run(lambda conn: records.create_record(conn, et, values, actor=actor))


def fetch(db, et: EntityTables, record_id: int) -> records.Record:
    return db.read(lambda conn: records.fetch_record(conn, et, record_id))


def english_errors(errors: Mapping[str, Sequence[Message | str]]) -> dict[str, list[str]]:
    """`RecordInvalid.errors` as the English a person reads (field key -> texts)."""
    return {key: english(messages) for key, messages in errors.items()}
