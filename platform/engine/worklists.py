"""A person's work across every entity they may read: "My work" and the search of all
records.

My work has three parts per entity: what waits on me (approval requests I am to decide,
then open records assigned to me that I can move on), open records assigned to me (any
user field holds me), and what I created. "Open" is a state in the `todo` or `doing`
category; an entity without a workflow has every record open.

Approvals carry their step's due time (a step's `time_limit`) and whether it has passed on
the engine clock; the most urgent come first: in each entity's list the approvals by due
time (those without a limit after them, then the records I can move on), and the entities
by their most urgent approval.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from flowdeck.engine import approvals, clock
from flowdeck.engine.permissions import Actor, can_transition
from flowdeck.engine.query import Page, Query, query_records
from flowdeck.engine.schema.model import Entity
from flowdeck.engine.storage.tables import EntityTables

MY_WORK_LIMIT = 25
SEARCH_LIMIT = 10
SECTIONS = ("waiting", "assigned", "created")


@dataclass
class WorkList:
    """Some records of one entity (only their title and when they changed) and how many
    there are in all."""

    et: EntityTables
    rows: list[dict[str, Any]]
    total: int

    @property
    def most_urgent(self) -> dt.datetime | None:
        """The earliest due time of an approval in the list (None: none has one)."""
        return min((r["due_at"] for r in self.rows if r.get("due_at") is not None), default=None)


def _user_fields(entity: Entity) -> list[str]:
    return [f.key for f in entity.fields if f.type == "user"]


def open_states(entity: Entity) -> list[str] | None:
    """The states a record is open in (None: the entity has no workflow)."""
    if entity.workflow is None:
        return None
    return list(entity.workflow.states_in({"todo", "doing"}))


def movable_states(entity: Entity, actor: Actor) -> list[str]:
    """States from which this actor can move a record on."""
    assert entity.workflow is not None
    return [s.key for s in entity.workflow.states if any(can_transition(actor, entity, t) for t in entity.workflow.transitions_from(s.key))]


def _merged(pages: Sequence[Page]) -> tuple[list[dict[str, Any]], int]:
    """Rows of several queries on one entity (one per user field), each record once, newest first."""
    rows: dict[int, dict[str, Any]] = {}
    for page in pages:
        for row in page.rows:
            rows.setdefault(row["id"], row)
    ordered = sorted(rows.values(), key=lambda r: r["updated_at"], reverse=True)[:MY_WORK_LIMIT]
    return ordered, max([len(rows), *(p.total for p in pages)])


def _waiting_approvals(conn: Connection, user_id: int, now: dt.datetime) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Approval requests waiting for this user, as rows per (app, entity), shown as they
    were requested (their snapshot), the soonest due first (no due time last, oldest first)."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in approvals.waiting_for(conn, user_id):
        row, due = item.request, item.due_at
        found.setdefault((row.app, row.entity), []).append(
            {
                "id": row.record_id,
                "state": row.from_state,
                "snapshot": row.snapshot,
                "approval": True,
                "due_at": due,
                "overdue": due is not None and due < now,
            }
        )
    for rows in found.values():
        rows.sort(key=_urgency)  # stable: requests without a due time keep their order
    return found


def _urgency(row: dict[str, Any]) -> tuple[bool, dt.datetime]:
    due = row.get("due_at")
    return (due is None, due or dt.datetime.max.replace(tzinfo=dt.UTC))


def my_work(
    conn: Connection, readable: Iterable[EntityTables], actor: Actor, *, now: dt.datetime | None = None
) -> dict[str, list[WorkList]]:
    """Per entity of `readable` (those the actor may read): records waiting on the actor,
    open records assigned to them, and what they created (`SECTIONS`); `now` (default: the
    engine clock) decides which approvals are overdue."""
    assert actor.user_id is not None
    sections: dict[str, list[WorkList]] = {name: [] for name in SECTIONS}
    waiting_approvals = _waiting_approvals(conn, actor.user_id, now or clock.now())
    for et in readable:
        entity = et.entity
        opened = open_states(entity)
        base: dict[str, Any] = {"state": opened} if opened is not None else {}
        columns = [entity.title, "updated_at"]
        sort = ["-updated_at"]
        waiting = [{**r, entity.title: r["snapshot"].get(entity.title)} for r in waiting_approvals.get((entity.app, entity.key), [])]
        assigned_pages, waiting_pages = [], []
        movable = movable_states(entity, actor) if entity.workflow is not None else []
        if opened is not None:
            movable = [s for s in movable if s in opened]
        for user_field in _user_fields(entity):
            query = Query(filter={**base, user_field: "$me"}, sort=sort, per_page=MY_WORK_LIMIT, columns=columns)
            assigned_pages.append(query_records(conn, et, query, actor=actor))
            if movable:
                query = Query(filter={user_field: "$me", "state": movable}, sort=sort, per_page=MY_WORK_LIMIT, columns=columns)
                waiting_pages.append(query_records(conn, et, query, actor=actor))
        rows, total = _merged(assigned_pages)
        if total:
            sections["assigned"].append(WorkList(et, rows, total))
        rows, total = _merged(waiting_pages)
        seen = {r["id"] for r in waiting}
        waiting += [r for r in rows if r["id"] not in seen]
        if waiting:
            sections["waiting"].append(WorkList(et, waiting[:MY_WORK_LIMIT], len(waiting)))
        created = query_records(
            conn, et, Query(filter={**base, "created_by": "$me"}, sort=sort, per_page=MY_WORK_LIMIT, columns=columns), actor=actor
        )
        if created.total:
            sections["created"].append(WorkList(et, created.rows, created.total))
    sections["waiting"].sort(key=lambda found: _urgency({"due_at": found.most_urgent}))
    return sections


def search_all(conn: Connection, readable: Iterable[EntityTables], actor: Actor, text: str) -> list[WorkList]:
    """The newest records matching `text` in each searchable entity of `readable`."""
    results = []
    for et in readable:
        if not et.entity.search:
            continue
        query = Query(search=text, sort=["-updated_at"], per_page=SEARCH_LIMIT, columns=[et.entity.title])
        page = query_records(conn, et, query, actor=actor)
        if page.total:
            results.append(WorkList(et, page.rows, page.total))
    return results
