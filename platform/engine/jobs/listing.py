"""The jobs as the admin pages show them: a filtered page, newest first, and one job whole."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.jobs.kinds import KINDS
from flowdeck.engine.messages import Message, Mp
from flowdeck.engine.paging import Paged, clamp

J = models.jobs
STATUS_NAMES: dict[str, Message] = {
    "queued": Mp("job status", "Queued"),
    "running": Mp("job status", "Running"),
    "done": Mp("job status", "Done"),
    "failed": Mp("job status", "Failed"),
    "dead": Mp("job status", "Dead (attempts used up)"),
}
RETRYABLE = frozenset({"failed", "dead", "done"})


@dataclass(frozen=True)
class JobRow:
    id: int
    kind: str
    name: Message | str
    """The kind's name (a Message), or the kind itself when this version does not know it."""
    status: str
    payload: Any
    attempts: int
    max_attempts: int
    run_at: dt.datetime
    created_at: dt.datetime
    finished_at: dt.datetime | None
    duration_ms: int | None
    worker: str | None
    last_error: str | None
    result: Any

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE


@dataclass(frozen=True)
class JobPage(Paged):
    jobs: list[JobRow]
    total: int
    page: int
    per_page: int
    counts: dict[str, int]
    """Jobs per status, over every kind (the filter's badges)."""


def kind_names() -> dict[str, Message]:
    return {name: kind.label for name, kind in sorted(KINDS.items())}


def _row(row: Any) -> JobRow:
    known = KINDS.get(row.kind)
    return JobRow(
        row.id, row.kind, known.label if known else row.kind, row.status, row.payload, row.attempts, row.max_attempts,
        row.run_at, row.created_at, row.finished_at, row.duration_ms, row.worker, row.last_error, row.result,
    )  # fmt: skip


def search(conn: Connection, *, status: str = "", kind: str = "", page: int = 1, per_page: int = 50) -> JobPage:
    where: list[Any] = []
    if status:
        where.append(J.c.status == status)
    if kind:
        where.append(J.c.kind == kind)
    condition = sa.and_(sa.true(), *where)
    total = int(conn.execute(sa.select(sa.func.count()).select_from(J).where(condition)).scalar_one())
    page = clamp(page, total, per_page)
    rows = conn.execute(sa.select(J).where(condition).order_by(J.c.id.desc()).limit(per_page).offset((page - 1) * per_page))
    counts = {status: int(n) for status, n in conn.execute(sa.select(J.c.status, sa.func.count()).group_by(J.c.status))}
    return JobPage([_row(row) for row in rows], total, page, per_page, counts)


def get(conn: Connection, job_id: int) -> JobRow | None:
    row = conn.execute(sa.select(J).where(J.c.id == job_id)).first()
    return _row(row) if row is not None else None
