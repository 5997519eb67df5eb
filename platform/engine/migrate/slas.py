"""What a plan says about SLA definitions: each one added, changed (its version, a hash of
what it does, differs) or removed, with how many records have an open (running or paused)
cycle of it. Notes only: a cycle keeps the version and goal it started with, so nothing stored
is rewritten; a changed definition reaches the cycles started after the change, and the open
cycles of a removed one are left as they are (no longer shown, their moments do nothing)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.messages import M, Message
from flowdeck.engine.migrate.plan import Step
from flowdeck.engine.schema.model import App

C = models.sla_cycles


def _noop(conn: Any) -> None:
    """A note's step: the change is the document itself."""


def _versions(app: App | None) -> dict[tuple[str, str], int]:
    if app is None:
        return {}
    return {(entity.key, sla.key): sla.version for entity in app.entities for sla in entity.slas}


def open_records(conn: Connection, app: str) -> dict[tuple[str, str], int]:
    """Per (entity, SLA) of an app, how many records have a running or paused cycle: one statement."""
    query = (
        sa.select(C.c.entity, C.c.sla, sa.func.count(sa.distinct(C.c.record_id)))
        .where(C.c.app == app, C.c.status.in_(("running", "paused")))
        .group_by(C.c.entity, C.c.sla)
    )
    return {(entity, sla): int(count) for entity, sla, count in conn.execute(query)}


def sla_notes(conn: Connection, old: App | None, new: App) -> list[Step]:
    before, after = _versions(old), _versions(new)
    if not before and not after:
        return []
    counts = open_records(conn, new.key) if before else {}
    notes: list[Message] = []
    for (entity, key), version in after.items():
        if (entity, key) not in before:
            notes.append(M("Add SLA “%(key)s” to %(entity)s (cycles start for records that meet its start from now on)", key=key,
                           entity=entity))  # fmt: skip
        elif before[(entity, key)] != version:
            notes.append(
                M(
                    "Change SLA “%(key)s” of %(entity)s: %(count)s open records keep the definition their cycle started with;"
                    " cycles started from now on use the new one",
                    key=key, entity=entity, count=counts.get((entity, key), 0),
                )
            )  # fmt: skip
    for entity, key in before:
        if (entity, key) not in after:
            notes.append(
                M("Remove SLA “%(key)s” from %(entity)s: %(count)s open records stop being timed", key=key, entity=entity,
                  count=counts.get((entity, key), 0))
            )  # fmt: skip
    return [Step(note, _noop, kind="note") for note in notes]
