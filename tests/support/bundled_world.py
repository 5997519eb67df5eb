"""The bundled apps with a cast of users (roles in both apps, an organisation) and small verbs
over the engine services: shared by the tests of the bundled apps' approvals and automations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flowdeck.engine import approvals, org, records, users, workflow
from flowdeck.engine.db import Database
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from flowdeck.engine.storage.tables import EntityTables

PEOPLE: dict[str, dict[str, list[str]]] = {
    "pmo1": {"project": ["pmo"]},
    "pmo2": {"project": ["pmo"]},
    "pm": {"project": ["project_manager"], "operations": ["requester"]},
    "sponsor1": {"project": ["sponsor"]},
    "sponsor2": {"project": ["sponsor"]},
    "board1": {"project": ["change_board", "member"]},
    "board2": {"project": ["change_board", "member"]},
    "board3": {"project": ["change_board", "member"]},
    "customer": {"project": ["viewer"]},
    "staff": {"operations": ["requester"]},
    "head": {"operations": ["requester"]},
    "finance": {"operations": ["finance"]},
    "gm": {"operations": ["general_manager"]},
    "opsmgr": {"operations": ["ops_manager"]},
    "engineer": {"operations": ["engineer"]},
    "cab1": {"operations": ["cab", "engineer"]},
    "cab2": {"operations": ["cab"]},
}

# The organisation: the company (head gm) with an operations department (head "head")
# and a delivery department (head pm).
PLACES = {
    "gm": "company",
    "finance": "company",
    "head": "ops",
    "staff": "ops",
    "engineer": "ops",
    "opsmgr": "ops",
    "pm": "delivery",
    "pmo1": "company",
    "pmo2": "company",
}


class World:
    """The bundled apps with a cast of users; small verbs over the engine services."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.registry = Catalog(db).current()
        self.ids: dict[str, int] = db.run(self._setup)
        self.actors: dict[str, Actor] = {name: db.read(lambda c, u=uid: users.actor_for(c, u)) for name, uid in self.ids.items()}

    @staticmethod
    def _setup(conn: Any) -> dict[str, int]:
        ids = {}
        for name, grants in PEOPLE.items():
            ids[name] = users.create_user(conn, name, password="password123", display_name=name.title())
            for app, roles in grants.items():
                for role in roles:
                    users.grant_role(conn, ids[name], app, role)
        company = org.create_department(conn, "company", "Company", head_id=ids["gm"])
        departments = {
            "company": company,
            "ops": org.create_department(conn, "ops", "Operations", parent_id=company, head_id=ids["head"]),
            "delivery": org.create_department(conn, "delivery", "Delivery", parent_id=company, head_id=ids["pm"]),
        }
        for name, department in PLACES.items():
            org.place_user(conn, ids[name], department_id=departments[department], manager_id=None)
        return ids

    def et(self, app: str, entity: str) -> EntityTables:
        return self.registry.entity(app, entity)

    def create(self, app: str, entity: str, by: str, values: Mapping[str, Any]) -> int:
        return self.db.run(lambda c: records.create_record(c, self.et(app, entity), values, actor=self.actors[by])).id

    def move(
        self, app: str, entity: str, record_id: int, transition: str, by: str, comment: str | None = None, **values: Any
    ) -> str | None:
        et = self.et(app, entity)
        actor = self.actors[by]
        return self.db.run(
            lambda c: workflow.transition_record(c, et, record_id, transition, actor=actor, values=values, comment=comment)
        ).state

    def edit(self, app: str, entity: str, record_id: int, by: str, **values: Any) -> None:
        et = self.et(app, entity)
        self.db.run(lambda c: records.update_record(c, et, record_id, values, actor=self.actors[by], expected_version=None))

    def ask(self, app: str, entity: str, record_id: int, transition: str, by: str, **values: Any) -> approvals.Outcome:
        et = self.et(app, entity)
        return self.db.run(lambda c: approvals.request_approval(c, et, record_id, transition, actor=self.actors[by], values=values))

    def decide(
        self, app: str, entity: str, request_id: int | None, by: str, *, approve: bool = True, comment: str | None = None
    ) -> approvals.Outcome:
        assert request_id is not None
        et = self.et(app, entity)
        return self.db.run(lambda c: approvals.decide(c, et, request_id, actor=self.actors[by], approve=approve, comment=comment))

    def waiting(self, name: str) -> list[tuple[str, int, str]]:
        """What `name` is asked to decide: (entity, record id, step key)."""
        items = self.db.read(lambda c: approvals.waiting_for(c, self.ids[name]))
        return [(item.request.entity, item.request.record_id, item.step_key) for item in items]

    def state(self, app: str, entity: str, record_id: int) -> str | None:
        return self.db.read(lambda c: records.fetch_record(c, self.et(app, entity), record_id)).state

    def rounds(self, app: str, entity: str, record_id: int) -> list[approvals.RequestView]:
        """Every approval round of the record, newest first."""
        return self.db.read(lambda c: approvals.timeline(c, app, entity, record_id))

    def steps(self, app: str, entity: str, record_id: int) -> list[str]:
        """The step keys of the newest round: the route the engine chose."""
        return [step.key for step in self.rounds(app, entity, record_id)[0].steps]


def day(days: int) -> str:
    return (dt.date(2026, 11, 23) + dt.timedelta(days=days)).isoformat()


def new_project(world: World, *, sponsor: str = "sponsor2", by: str = "pm", **extra: Any) -> int:
    values = {
        "name": "仓储系统上线",
        "project_type": "internal_it",
        "sponsor": world.ids[sponsor],
        "manager": world.ids["pm"],
        "objective": "Go live in three warehouses.",
        "budget": "500000",
        "planned_start": day(0),
        "planned_end": day(90),
        **extra,
    }
    return world.create("project", "project", by, values)


def change_request(world: World, pid: int, **impact: Any) -> int:
    values = {
        "title": "Add a cold-chain zone",
        "project": pid,
        "impact_areas": ["cost"],
        "description": "New product line.",
        "reason": "Sales asked for it.",
        "cost_delta": "12000",
        **impact,
    }
    crid = world.create("project", "change_request", "pm", values)
    assert world.move("project", "change_request", crid, "submit", "pm") == "under_review"
    return crid
