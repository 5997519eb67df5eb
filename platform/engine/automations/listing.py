"""Automation runs as the admin pages show them: a filtered page (app, rule, status,
record), newest first, and one run whole with its rule's label and state."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.messages import Message, Mp
from flowdeck.engine.paging import Paged

R = models.automation_runs
STATUS_NAMES: dict[str, Message] = {
    "queued": Mp("automation run status", "Queued"),
    "done": Mp("automation run status", "Done"),
    "failed": Mp("automation run status", "Failed"),
    "skipped": Mp("automation run status", "Skipped"),
    "loop_stopped": Mp("automation run status", "Loop stopped"),
}


@dataclass(frozen=True)
class RunRow:
    id: int
    app: str
    rule: str
    entity: str
    record_id: int | None
    event: str
    status: str
    depth: int
    actor_id: int | None
    inputs: Any
    changes: Any
    error: Message | None
    attempt: int
    job_id: int | None
    duration_ms: int | None
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @property
    def retryable(self) -> bool:
        return self.status != "queued"


@dataclass(frozen=True)
class RunPage(Paged):
    runs: list[RunRow]
    total: int
    page: int
    per_page: int
    counts: dict[str, int]


def _row(row: Any) -> RunRow:
    values = dict(row._mapping)
    values["error"] = Message.from_json(values["error"]) if values["error"] else None
    return RunRow(**values)


def search(
    conn: Connection, *, app: str = "", rule: str = "", status: str = "", record: int | None = None, page: int = 1, per_page: int = 50
) -> RunPage:
    where: list[Any] = []
    if app:
        where.append(R.c.app == app)
    if rule:
        where.append(R.c.rule == rule)
    if record is not None:
        where.append(R.c.record_id == record)
    counted = where[:]
    if status:
        where.append(R.c.status == status)
    total = int(conn.execute(sa.select(sa.func.count()).select_from(R).where(*where)).scalar() or 0)
    rows = conn.execute(sa.select(R).where(*where).order_by(R.c.id.desc()).limit(per_page).offset((page - 1) * per_page))
    counts = dict(conn.execute(sa.select(R.c.status, sa.func.count()).where(*counted).group_by(R.c.status)).all())
    return RunPage([_row(r) for r in rows], total, page, per_page, {k: int(v) for k, v in counts.items()})


def get(conn: Connection, run_id: int) -> RunRow | None:
    row = conn.execute(sa.select(R).where(R.c.id == run_id)).first()
    return _row(row) if row is not None else None
