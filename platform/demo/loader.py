"""Writing the demo through the engine's services, as the demo users themselves.

Each record is created by its author and walks its scripted steps through the record,
workflow and approval services, so its history reads like real work (who created it, who
approved it, with which comment) and every rule of the app documents is checked on the way.
Transitions with an approval block go through the approval services: the requester asks,
the approvers the engine routes the request to decide; some requests are left pending so
the approvals inbox has something to show.

The demo departments are matched by key: an existing department with a demo key is reused
and given the demo parent and head. Existing users with a demo username are reused (and
given the demo roles) rather than duplicated. The whole load is one transaction: it lands
completely or not at all, and a second call finds the marker project and loads nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.demo.content import APPS, DEMO_DEPARTMENTS, DEMO_PLACEMENT, DEMO_USERS, MARKER_PROJECT, records
from flowdeck.demo.timeline import Timeline
from flowdeck.engine import approvals, clock, org, users
from flowdeck.engine.approval_core import APPROVED
from flowdeck.engine.db import Database
from flowdeck.engine.errors import Forbidden, NotFound, RecordInvalid
from flowdeck.engine.fieldtypes import types_in
from flowdeck.engine.messages import M
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import create_record, update_record
from flowdeck.engine.registry import Catalog, Registry
from flowdeck.engine.schema.model import Entity
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.engine.workflow import transition_record

DEMO_PASSWORD = "flowdeck-demo"  # noqa: S105 - the published password of the demo users, not a secret


@dataclass(frozen=True)
class DemoSummary:
    """What a load did; `loaded` is False when demo data was already there."""

    loaded: bool
    users_created: int = 0
    users_reused: int = 0
    records: Mapping[str, int] = field(default_factory=dict)
    transitions: int = 0
    approval_requests: int = 0
    decisions: int = 0

    @property
    def total_records(self) -> int:
        return sum(self.records.values())

    def describe(self) -> str:
        """One line for the CLI (`flowdeck init --demo`), in English like the rest of its output."""
        if not self.loaded:
            return "already loaded; nothing added"
        return (
            f"{self.users_created} users created, {self.users_reused} reused; {self.total_records} records, "
            f"{self.transitions} transitions, {self.approval_requests} approval requests with {self.decisions} decisions"
        )


def load_demo(db: Database, *, actor: Actor, password: str, today: dt.date | None = None) -> DemoSummary:
    """Load the demo once; demo users all get `password`. Dates are relative to `today`
    (the instance's today by default); nothing is random, so two loads on the same day
    produce the same data."""
    if not actor.is_admin:
        raise Forbidden(M("only an administrator may load demo data"))
    registry = Catalog(db).current()
    for app in APPS:
        if app not in registry.apps:
            raise NotFound(M('the bundled app "%(app)s" is not installed; apply the bundled apps before loading demo data', app=app))
    return db.run(lambda conn: _load(conn, registry, password, today or clock.today()))


def _load(conn: Connection, registry: Registry, password: str, today: dt.date) -> DemoSummary:
    projects = registry.entity("project", "project").table
    if conn.execute(sa.select(projects.c.id).where(projects.c.name == MARKER_PROJECT).limit(1)).first() is not None:
        return DemoSummary(loaded=False)
    player = _Player(conn, registry, Timeline(today, clock.now()))
    created, reused = _users(conn, player.actors, password)
    _organisation(conn, player.actors)
    for app in APPS:
        for item in records(app):
            player.record(app, item)
    counts = dict(sorted(player.counts.items()))
    return DemoSummary(True, created, reused, counts, player.transitions, player.approval_requests, player.decisions)


def _users(conn: Connection, actors: dict[str, Actor], password: str) -> tuple[int, int]:
    created = reused = 0
    for username, display, grants in DEMO_USERS:
        existing = users.find_user(conn, username)
        if existing is None:
            uid = users.create_user(conn, username, password=password, display_name=display, email=f"{username}@example.com")
            created += 1
        elif not existing.is_active:
            raise RecordInvalid({"username": [f'"{username}" is a deactivated user; the demo needs it active (or renamed)']})
        else:
            uid = existing.id
            reused += 1
        for app, roles in grants.items():
            for role in roles:
                users.grant_role(conn, uid, app, role)
        actors[username] = users.actor_for(conn, uid)
    return created, reused


def _organisation(conn: Connection, actors: Mapping[str, Actor]) -> None:
    """Departments with heads, and each demo user's department and manager: what approval
    steps such as "the requester's department head" walk."""
    ids: dict[str, int] = {}
    for key, name, name_zh, parent, head in DEMO_DEPARTMENTS:
        head_id = actors[head].user_id
        parent_id = ids[parent] if parent else None
        existing = org.find_department(conn, key)
        if existing is None:
            ids[key] = org.create_department(conn, key, name, name_zh=name_zh, parent_id=parent_id, head_id=head_id)
        else:
            org.update_department(
                conn, existing.id, key=key, name=existing.name, name_zh=existing.name_zh, parent_id=parent_id, head_id=head_id
            )
            ids[key] = existing.id
    for username, (department, manager) in DEMO_PLACEMENT.items():
        user_id = actors[username].user_id
        assert user_id is not None
        org.place_user(conn, user_id, department_id=ids[department], manager_id=actors[manager].user_id if manager else None)


@dataclass
class _Player:
    """Plays the records of the data: creates each one and takes its steps."""

    conn: Connection
    registry: Registry
    timeline: Timeline
    actors: dict[str, Actor] = field(default_factory=dict)
    refs: dict[str, int] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    transitions: int = 0
    approval_requests: int = 0
    decisions: int = 0

    def record(self, app: str, item: Mapping[str, Any]) -> None:
        et = self.registry.entity(app, item["entity"])
        when = self.timeline.moment(item["at"])
        record = create_record(self.conn, et, self.resolve(et.entity, item["values"]), actor=self.actors[item["by"]], now=when)
        self.counts[f"{app}.{et.entity.key}"] += 1
        for step in item.get("steps", ()):
            self.step(app, et, record.id, step)
        if "ref" in item:
            self.refs[item["ref"]] = record.id

    def step(self, app: str, et: EntityTables, record_id: int, step: Mapping[str, Any]) -> None:
        action, by, comment = step["do"], step["by"], step.get("comment")
        actor, when, given = self.actors[by], self.timeline.moment(step["at"]), self.resolve(et.entity, step.get("values", {}))
        if action == "edit":
            update_record(self.conn, et, record_id, given, actor=actor, expected_version=None, now=when)
        elif action.startswith("ask:"):
            asked = approvals.request_approval(self.conn, et, record_id, action[4:], actor=actor, values=given, comment=comment, now=when)
            self.approval_requests += 1
            self.transitions += asked.status == APPROVED
        elif action.startswith("decide:"):
            pending = approvals.open_request_for(self.conn, app, et.entity.key, record_id)
            if pending is None:
                raise RecordInvalid({"_record": [f"demo {app}.{et.entity.key} #{record_id}: no pending approval for {by} to decide"]})
            decided = approvals.decide(self.conn, et, pending.id, actor=actor, approve=action == "decide:yes", comment=comment, now=when)
            self.decisions += 1
            self.transitions += decided.status == APPROVED
        else:
            transition_record(self.conn, et, record_id, action, actor=actor, values=given, comment=comment, now=when)
            self.transitions += 1

    def resolve(self, entity: Entity, values: Mapping[str, Any]) -> dict[str, Any]:
        """The data names users by username, records by `ref` and times relative to today;
        the engine wants ids, dates and datetimes."""
        out: dict[str, Any] = {}
        for key, raw in values.items():
            fld = entity.get_field(key)
            value = self.timeline.value(raw)
            if fld.type in types_in("user", "reference"):
                value = [self.ident(fld.type, v) for v in value] if fld.many else self.ident(fld.type, value)
            elif fld.is_table:
                value = [{k: self.actors[v].user_id if fld.child(k).type == "user" else v for k, v in row.items()} for row in value]
            out[key] = value
        return out

    def ident(self, kind: str, name: str | None) -> int | None:
        if name is None:
            return None
        return self.actors[name].user_id if kind == "user" else self.refs[name]
