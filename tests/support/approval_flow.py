"""The approval test world shared by the approval test modules: an app whose claim's
`submit` carries a given approval block, people with roles, and an organisation with
departments, heads and managers; `Flow` holds short ways to act in it."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import sqlalchemy as sa

from flowdeck.engine import approvals, history, models, notifications, org, records, users
from flowdeck.engine.permissions import Actor

APP = "ap"

# who holds which role ("member" only lets people create and edit records)
PEOPLE: dict[str, list[str]] = {
    "erin": ["member", "gm"],
    "bob": ["member"],
    "alice": ["member"],
    "mia": ["member"],
    "carol": ["member", "finance"],
    "dave": ["member", "finance"],
    "fay": ["member", "finance"],
    "grace": ["member"],
    "lena": ["member"],
    "leo": ["member"],
    "otto": ["member", "auditor"],
    "bea": ["member", "backup"],
    "zed": ["member", "boss"],
    "zoe": ["member", "boss"],
}
# company (erin) > rnd (bob) > lab (lena); company > fin (carol); company > mkt (no head)
DEPARTMENT_OF = {
    "erin": "company",
    "bob": "rnd",
    "alice": "rnd",
    "mia": "rnd",
    "carol": "fin",
    "dave": "fin",
    "fay": "fin",
    "grace": "mkt",
    "lena": "lab",
    "leo": "lab",
}
MANAGER_OF = {"alice": "mia", "mia": "bob"}


def app_doc(approval: dict[str, Any], **submit: Any) -> dict[str, Any]:
    """The test app: a claim whose `submit` carries `approval` (plus any transition keys)."""
    return {
        "key": APP,
        "label": "Approvals",
        "roles": {r: {} for r in ("member", "finance", "gm", "auditor", "backup", "boss", "vacant", "vacant2")},
        "entities": {
            "claim": {
                "fields": {
                    "title": {"type": "text", "required": True},
                    "amount": {"type": "money"},
                    "owner": {"type": "user"},
                    "reviewers": {"type": "user", "many": True},
                    "note": {"type": "text"},
                    "reason": {"type": "text"},
                    "ok": {"type": "boolean"},
                },
                "workflow": {
                    "states": {
                        "draft": {"category": "todo"},
                        "returned": {"category": "todo"},
                        "approved": {"category": "doing"},
                        "closed": {"category": "done"},
                    },
                    "transitions": [
                        {"key": "submit", "from": ["draft", "returned"], "to": "approved", "approval": copy.deepcopy(approval), **submit},
                        {"key": "close", "from": ["draft", "returned", "approved"], "to": "closed"},
                    ],
                },
            }
        },
    }


class Flow:
    """One installed approval app with the organisation above, and short ways to act in it."""

    def __init__(self, db: Any, registry: Any) -> None:
        self.db = db
        self.registry = registry
        self.et = registry.entity(APP, "claim")
        self.ids: dict[str, int] = {}

        def setup(conn: sa.Connection) -> None:
            for name, roles in PEOPLE.items():
                uid = users.create_user(conn, name, password="password123", display_name=name.title())
                for role in roles:
                    users.grant_role(conn, uid, APP, role)
                self.ids[name] = uid
            company = org.create_department(conn, "company", "Company", head_id=self.ids["erin"])
            rnd = org.create_department(conn, "rnd", "R&D", parent_id=company, head_id=self.ids["bob"])
            lab = org.create_department(conn, "lab", "Lab", parent_id=rnd, head_id=self.ids["lena"])
            fin = org.create_department(conn, "fin", "Finance", parent_id=company, head_id=self.ids["carol"])
            mkt = org.create_department(conn, "mkt", "Marketing", parent_id=company)
            departments = {"company": company, "rnd": rnd, "lab": lab, "fin": fin, "mkt": mkt}
            for name, dept in DEPARTMENT_OF.items():
                manager = MANAGER_OF.get(name)
                org.place_user(conn, self.ids[name], department_id=departments[dept], manager_id=self.ids[manager] if manager else None)

        db.run(setup)
        self.names = {uid: name for name, uid in self.ids.items()}

    def actor(self, name: str) -> Actor:
        return self.db.read(lambda c: users.actor_for(c, self.ids[name]))

    def new(self, by: str = "alice", **values: Any) -> int:
        values.setdefault("title", "laptop")
        return self.db.run(lambda c: records.create_record(c, self.et, values, actor=self.actor(by))).id

    def request(self, record_id: int, by: str = "alice", **kwargs: Any) -> approvals.Outcome:
        return self.db.run(lambda c: approvals.request_approval(c, self.et, record_id, "submit", actor=self.actor(by), **kwargs))

    def submit(self, by: str = "alice", now: dt.datetime | None = None, **values: Any) -> approvals.Outcome:
        return self.request(self.new(by, **values), by, now=now)

    def decide(self, request_id: int, who: str, approve: bool = True, comment: str | None = None) -> approvals.Outcome:
        actor = self.actor(who)
        return self.db.run(lambda c: approvals.decide(c, self.et, request_id, actor=actor, approve=approve, comment=comment))

    def edit(self, record_id: int, who: str = "alice", **values: Any) -> records.Record:
        actor = self.actor(who)
        return self.db.run(lambda c: records.update_record(c, self.et, record_id, values, actor=actor, expected_version=None))

    def waiting(self, who: str) -> list[str]:
        return [item.step_key for item in self.db.read(lambda c: approvals.waiting_for(c, self.ids[who]))]

    def record(self, record_id: int) -> records.Record:
        return self.db.read(lambda c: records.fetch_record(c, self.et, record_id))

    def state(self, record_id: int) -> str | None:
        return self.record(record_id).state

    def entries(self, record_id: int) -> list[history.Entry]:
        return self.db.read(lambda c: history.list_entries(c, APP, "claim", record_id))

    def actions(self, record_id: int) -> list[str]:
        return [e.action for e in self.entries(record_id)]

    def notes(self, who: str) -> list[str]:
        return [str(n.message) for n in self.db.read(lambda c: notifications.list_notifications(c, self.ids[who], limit=500))][::-1]

    def rounds(self, record_id: int) -> list[approvals.RequestView]:
        """Every round of the record, oldest first."""
        return self.db.read(lambda c: approvals.timeline(c, APP, "claim", record_id))[::-1]

    def tasks(self, record_id: int, step: str, round_no: int = -1) -> dict[str, str]:
        view = self.rounds(record_id)[round_no]
        (found,) = [s for s in view.steps if s.key == step]
        return {self.names[t.approver_id]: t.status for t in found.tasks}

    def task_views(self, record_id: int, step: str, round_no: int = -1) -> dict[str, approvals.TaskView]:
        view = self.rounds(record_id)[round_no]
        (found,) = [s for s in view.steps if s.key == step]
        return {self.names[t.approver_id]: t for t in found.tasks}

    def count(self, table: sa.Table) -> int:
        return int(self.db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(table)).scalar()))

    def snapshot(self, record_id: int) -> tuple[int, list[str], int, int, int]:
        """What a refused action must leave alone: version, history, requests, tasks, notifications."""
        return (
            self.record(record_id).version,
            self.actions(record_id),
            self.count(models.approval_requests),
            self.count(models.approval_tasks),
            self.count(models.notifications),
        )
