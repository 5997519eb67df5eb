"""Approval requests a schema change withdraws: those of a transition that is removed or no
longer asks for approval (nobody could decide them any more), and those of records moved
out of a removed state. Each withdrawn request closes its round and leaves a history entry."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import approval_core, models
from flowdeck.engine.messages import M, Message
from flowdeck.engine.migrate.entries import now
from flowdeck.engine.schema.model import Entity
from flowdeck.engine.storage.tables import EntityTables

if TYPE_CHECKING:
    from flowdeck.engine.migrate.planner import Planner

WITHDRAWN_BY_CHANGE = M("withdrawn by schema change")
"""The history message of a request the change withdraws."""


def approval_changes(p: Planner, et: EntityTables, old_entity: Entity) -> None:
    old_wf, new_wf = old_entity.workflow, et.entity.workflow
    if old_wf is None:
        return
    ekey = et.entity.key
    for transition in old_wf.transitions:
        if transition.approval is None:
            continue
        now_t = new_wf.transition(transition.key) if new_wf is not None else None
        if now_t is not None and now_t.approval is not None:
            continue
        where = (approval_core.R.c.transition == transition.key,)
        count = len(pending_requests(p, ekey, where))
        p.withdrawn.setdefault(ekey, set()).add(transition.key)
        if not count:
            continue
        said = dict(count=count, transition=transition.key, entity=ekey)
        if now_t is None:
            description = M(
                "withdraws the %(count)s pending approval requests of transition %(transition)s of %(entity)s (it is removed)", **said
            )
        else:
            description = M(
                "withdraws the %(count)s pending approval requests of transition %(transition)s of %(entity)s "
                "(it no longer asks for approval)",
                **said,
            )

        def run(conn: Connection, w: tuple[Any, ...] = where) -> None:
            withdraw(conn, p.app.key, ekey, w, p.actor_id, WITHDRAWN_BY_CHANGE)

        p.step(description, run, "data")


def pending_requests(p: Planner, ekey: str, where: Iterable[Any]) -> list[int]:
    R = approval_core.R
    query = sa.select(R.c.id).where(R.c.app == p.app.key, R.c.entity == ekey, R.c.status == approval_core.PENDING, *where)
    return [row[0] for row in p.conn.execute(query)]


def withdraw(conn: Connection, app: str, entity: str, where: Iterable[Any], actor_id: int | None, message: Message) -> None:
    R, at = approval_core.R, now()
    rows = conn.execute(
        sa.select(R.c.id, R.c.record_id, R.c.transition).where(
            R.c.app == app, R.c.entity == entity, R.c.status == approval_core.PENDING, *where
        )
    ).all()
    for request_id, record_id, transition in rows:
        approval_core.close_round(conn, request_id, approval_core.WITHDRAWN, at)
        conn.execute(
            models.history.insert().values(
                app=app, entity=entity, record_id=record_id, actor_id=actor_id, at=at, action="withdrawn",
                transition=transition, changes=[], message=message.to_json(),
            )
        )  # fmt: skip
