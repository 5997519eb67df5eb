"""The deliveries as the admin pages show them: a filtered page, newest first, and one
delivery whole (its body as stored, the request headers and the answer of its last try)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.messages import Message, Mp
from flowdeck.engine.paging import Paged, clamp

D = models.webhook_deliveries
E = models.webhook_endpoints
STATUS_NAMES: dict[str, Message] = {
    "pending": Mp("delivery status", "Waiting"),
    "retrying": Mp("delivery status", "Retrying"),
    "delivered": Mp("delivery status", "Delivered"),
    "failed": Mp("delivery status", "Failed"),
    "skipped": Mp("delivery status", "Skipped (webhook off)"),
}


@dataclass(frozen=True)
class DeliveryPage(Paged):
    rows: list[Any]
    total: int
    page: int
    per_page: int
    counts: dict[str, int]


_COLUMNS = (
    D.c.id, D.c.endpoint_id, D.c.event_type, D.c.message_id, D.c.entity, D.c.record_id, D.c.status, D.c.attempts, D.c.replay_of,
    D.c.created_at, D.c.last_attempt_at, D.c.next_attempt_at, D.c.response_code, D.c.last_error, D.c.duration_ms, E.c.url,
)  # fmt: skip


def search(
    conn: Connection, app: str, *, endpoint_id: int | None = None, status: str = "", event_type: str = "", page: int = 1, per_page: int = 50
) -> DeliveryPage:
    where: list[Any] = [D.c.app == app]
    if endpoint_id is not None:
        where.append(D.c.endpoint_id == endpoint_id)
    if event_type:
        where.append(D.c.event_type == event_type)
    counts = {s: int(n) for s, n in conn.execute(sa.select(D.c.status, sa.func.count()).where(*where).group_by(D.c.status))}
    if status:
        where.append(D.c.status == status)
    total = int(conn.execute(sa.select(sa.func.count()).select_from(D).where(*where)).scalar_one())
    page = clamp(page, total, per_page)
    query = sa.select(*_COLUMNS).select_from(D.join(E, E.c.id == D.c.endpoint_id)).where(*where)
    rows = conn.execute(query.order_by(D.c.id.desc()).limit(per_page).offset((page - 1) * per_page)).all()
    return DeliveryPage(rows, total, page, per_page, counts)


def get(conn: Connection, app: str, delivery_id: int) -> Any:
    query = sa.select(D, E.c.url).select_from(D.join(E, E.c.id == D.c.endpoint_id)).where((D.c.id == delivery_id) & (D.c.app == app))
    return conn.execute(query).first()
