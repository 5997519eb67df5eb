"""What a plan does for time-driven transitions (`engine.timed`): a timed transition added,
or changed (duration, state, restart on comment), arms a job for every record already
waiting in its state, counted in the step's text; one removed is a note, its armed jobs
finding no timed transition and doing nothing."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine.messages import M
from flowdeck.engine.migrate.plan import Step
from flowdeck.engine.migrate.timing import _noop
from flowdeck.engine.schema.model import App, Entity, Transition
from flowdeck.engine.storage.tables import AppTables, EntityTables
from flowdeck.engine.timed import arm_waiting, timed_transitions


def _same(old: Transition | None, new: Transition) -> bool:
    return old is not None and (old.after, old.sources, old.restart_on_comment) == (new.after, new.sources, new.restart_on_comment)


def _waiting(conn: Connection, et: EntityTables, state: str) -> int:
    table = et.table
    return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(table.c.state == state)).scalar() or 0)


def _arm_existing(et: EntityTables, transition: Transition) -> Callable[[Connection], None]:
    def run(conn: Connection) -> None:
        arm_waiting(conn, et, transition)

    return run


def timed_steps(conn: Connection, old: App | None, new: AppTables, live_tables: set[str]) -> list[Step]:
    """The plan's steps for the timed transitions of `new` compared with `old`."""
    steps: list[Step] = []
    for key, et in new.entities.items():
        was: Entity | None = old.entity(key) if old is not None else None
        if was is None or et.table.name not in live_tables:
            continue  # a new entity has no records waiting yet
        old_timed = {t.key: t for t in timed_transitions(was)}
        for transition in timed_transitions(et.entity):
            if _same(old_timed.get(transition.key), transition):
                continue
            state = transition.sources[0]
            count = _waiting(conn, et, state)
            said = M(
                "Arm timed transition “%(transition)s” of %(entity)s for %(count)s records already in “%(state)s”",
                transition=transition.key, entity=key, count=count, state=state,
            )  # fmt: skip
            steps.append(Step(said, _arm_existing(et, transition), kind="data"))
        current = {t.key for t in timed_transitions(et.entity)}
        for gone in old_timed:
            if gone not in current:
                said = M(
                    "Remove timed transition “%(transition)s” of %(entity)s (its armed jobs will do nothing)", transition=gone, entity=key
                )
                steps.append(Step(said, _noop, kind="note"))
    return steps
