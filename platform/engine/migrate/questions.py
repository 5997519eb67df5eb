"""The questions about records, and the data moves that answer them:

- `state:<entity>:<state>`: a removed state that records are in; the answer is the state
  they move to (each moved record gets a history entry, and its pending approval request
  is withdrawn).
- `option:<entity>:<field>:<option>`: a removed option that records use; the answer is
  another option or `clear`.

A removed state or option that no record uses is only a note in the plan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import approval_core
from flowdeck.engine.fieldtypes import is_many, types_in
from flowdeck.engine.messages import M, Message
from flowdeck.engine.migrate.entries import chunks, log_moves, now, touch
from flowdeck.engine.migrate.plan import Question
from flowdeck.engine.migrate.withdrawals import WITHDRAWN_BY_CHANGE, pending_requests, withdraw
from flowdeck.engine.schema.model import Entity, Field
from flowdeck.engine.storage.tables import EntityTables, side_table_name

if TYPE_CHECKING:
    from flowdeck.engine.migrate.planner import Planner


# -- states --------------------------------------------------------------------------------


def workflow_changes(p: Planner, et: EntityTables, old_entity: Entity) -> None:
    old_wf, new_wf = old_entity.workflow, et.entity.workflow
    if old_wf is None or new_wf is None or "state" not in et.table.c or "state" not in p.columns(et.table.name):
        return
    ekey = et.entity.key
    stored = sa.table(et.table.name, sa.column("id"), sa.column("state"))
    for state in old_wf.state_keys():
        if new_wf.state(state) is not None:
            continue
        ids = [row[0] for row in p.conn.execute(sa.select(stored.c.id).where(stored.c.state == state).order_by(stored.c.id))]
        if not ids:
            p.note(M("removes state %(state)s of %(entity)s (no records are in it)", state=state, entity=ekey))
            continue
        count = len(ids)
        question = Question(
            id=f"state:{ekey}:{state}",
            text=M(
                "removes state %(state)s of %(entity)s, but %(count)s records are in it: choose the state they move to",
                state=state,
                entity=ekey,
                count=count,
            ),
            choices=[(s.key, M("move them to %(state)s (%(label)s)", state=s.key, label=s.label)) for s in new_wf.states],
            count=count,
            samples=p.record_samples(old_entity, et.table.name, ids),
        )
        answer = p.ask(question)
        if answer is None:
            continue
        R = approval_core.R
        skip = p.withdrawn.get(ekey, set())
        pending = len(pending_requests(p, ekey, (R.c.record_id.in_(ids), R.c.transition.not_in(skip))))
        said = dict(count=count, entity=ekey, state=state, target=answer)
        if pending:
            description = M(
                "moves the %(count)s %(entity)s records in state %(state)s to %(target)s; each gets a history entry; the %(pending)s "
                "pending approval requests of these records are withdrawn",
                pending=pending,
                **said,
            )
        else:
            description = M("moves the %(count)s %(entity)s records in state %(state)s to %(target)s; each gets a history entry", **said)
        p.step(description, lambda conn, s=state, a=answer: move_state(p, conn, et, s, a), "data")
        p.data_changed.add(ekey)


def move_state(p: Planner, conn: Connection, et: EntityTables, state: str, target: str) -> None:
    table, ekey, at = et.table, et.entity.key, now()
    ids = [row[0] for row in conn.execute(sa.select(table.c.id).where(table.c.state == state).order_by(table.c.id))]
    if not ids:
        return
    conn.execute(
        table.update().where(table.c.state == state).values(state=target, version=table.c.version + 1, updated_at=at, updated_by=p.actor_id)
    )
    change = [{"field": "state", "old": state, "new": target}]
    log_moves(conn, p.app.key, ekey, [(rid, change) for rid in ids], p.actor_id, M("state migrated by schema change"), at)
    for chunk in chunks(ids):
        withdraw(conn, p.app.key, ekey, (approval_core.R.c.record_id.in_(chunk),), p.actor_id, WITHDRAWN_BY_CHANGE)


# -- options -------------------------------------------------------------------------------


def option_changes(p: Planner, et: EntityTables, old_entity: Entity) -> None:
    ekey = et.entity.key
    for fld in et.entity.fields:
        if fld.type not in types_in("choice"):
            continue
        before = old_entity.field(fld.was or fld.key)
        if before is None or before.type != fld.type:
            continue
        removed = [o for o in before.option_keys() if fld.option(o) is None]
        if not removed:
            continue
        owner = f"{ekey}.{fld.key}"
        unused = []
        for option in removed:
            ids = option_users(p, et, before, option)
            if not ids:
                unused.append(option)
                continue
            count = len(ids)
            choices: list[tuple[str, Message]] = [
                (o.key, M("replace it with %(option)s (%(label)s)", option=o.key, label=o.label)) for o in fld.options
            ]
            question = Question(
                id=f"option:{ekey}:{fld.key}:{option}",
                text=M(
                    "removes option %(option)s of %(field)s, but %(count)s records use it: choose a replacement, or clear it",
                    option=option,
                    field=owner,
                    count=count,
                ),
                choices=[*choices, ("clear", M("clear it"))],
                count=count,
                samples=p.record_samples(old_entity, et.table.name, ids),
            )
            answer = p.ask(question)
            if answer is None:
                continue
            if answer == "clear":
                description = M(
                    "clears option %(option)s of %(field)s in %(count)s records; each gets a history entry",
                    option=option,
                    field=owner,
                    count=count,
                )
            else:
                description = M(
                    "replaces option %(option)s of %(field)s with %(target)s in %(count)s records; each gets a history entry",
                    option=option,
                    field=owner,
                    target=answer,
                    count=count,
                )
            p.step(description, lambda conn, b=before, f=fld, o=option, a=answer: move_option(p, conn, et, b, f, o, a), "data")
            p.data_changed.add(ekey)
        if unused:
            p.note(M("removes option %(options)s of %(field)s (no records use it)", options=unused, field=owner))


def option_users(p: Planner, et: EntityTables, before: Field, option: str) -> list[int]:
    """Records holding `option` of `before`, read where it is stored now."""
    if is_many(before):
        name = side_table_name(p.app.key, et.entity.key, before.key)
        if name not in p.tables:
            return []
        link = sa.table(name, sa.column("record_id"), sa.column("value"))
        query = sa.select(link.c.record_id).where(link.c.value == option).distinct().order_by(link.c.record_id)
    else:
        if before.key not in p.columns(et.table.name):
            return []
        stored = sa.table(et.table.name, sa.column("id"), sa.column(before.key))
        query = sa.select(stored.c.id).where(stored.c[before.key] == option).order_by(stored.c.id)
    return [row[0] for row in p.conn.execute(query)]


def move_option(p: Planner, conn: Connection, et: EntityTables, before: Field, fld: Field, option: str, answer: str) -> None:
    ekey, at = et.entity.key, now()
    replacement = None if answer == "clear" else answer
    if is_many(fld):
        # Link tables are renamed (`was`) after this step: the rows are still under the old name.
        link = sa.table(side_table_name(p.app.key, ekey, before.key), sa.column("record_id"), sa.column("value"))
        ids = [row[0] for row in conn.execute(sa.select(link.c.record_id).where(link.c.value == option).distinct())]
        if replacement is not None:
            holders = sa.select(link.c.record_id).where(link.c.value == replacement).scalar_subquery()
            conn.execute(link.delete().where((link.c.value == option) & link.c.record_id.in_(holders)))
            conn.execute(link.update().where(link.c.value == option).values(value=replacement))
        else:
            conn.execute(link.delete().where(link.c.value == option))
    else:
        stored = sa.table(et.table.name, sa.column("id"), sa.column(fld.key))
        ids = [row[0] for row in conn.execute(sa.select(stored.c.id).where(stored.c[fld.key] == option))]
        conn.execute(stored.update().where(stored.c[fld.key] == option).values({fld.key: replacement}))
    ids.sort()
    touch(conn, et.table, ids, p.actor_id, at)
    change = [{"field": fld.key, "old": option, "new": replacement}]
    said = M("option migrated by schema change") if replacement is not None else M("option cleared by schema change")
    log_moves(conn, p.app.key, ekey, [(rid, change) for rid in ids], p.actor_id, said, at)
