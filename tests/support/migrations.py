"""Helpers of the migration-plan tests (engine, web and CLI): the WBS app, a demo with extra fields."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.engine import history, models, records, workflow
from flowdeck.engine.apps import apply_document
from flowdeck.engine.db import Database
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from tests.support.documents import minimal_app


def version_of(db: Database, app: str = "demo") -> int:
    return db.read(lambda c: c.execute(sa.select(models.apps.c.version).where(models.apps.c.key == app)).scalar_one())


def entries(db: Database, app: str, entity: str, record_id: int) -> list[history.Entry]:
    return db.read(lambda c: history.list_entries(c, app, entity, record_id))


def with_field(document: dict[str, Any], key: str, spec: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    doc["entities"]["task"]["fields"][key] = spec
    return doc


class Demo:
    """`minimal_app()` with extra fields, installed, and a way to add records."""

    def __init__(self, db: Database, install: Any, **fields: dict[str, Any]) -> None:
        self.db = db
        self.doc = minimal_app()
        self.doc["entities"]["task"]["fields"].update(fields)
        install(self.doc)
        self.catalog = Catalog(db)

    def add(self, **values: Any) -> int:
        et = self.catalog.current().entity("demo", "task")
        values.setdefault("title", "t")
        return self.db.run(lambda c: records.create_record(c, et, values, actor=Actor.system())).id

    def values(self, record_id: int) -> dict[str, Any]:
        et = self.catalog.current().entity("demo", "task")
        return self.db.read(lambda c: records.fetch_record(c, et, record_id)).values

    def record(self, record_id: int) -> records.Record:
        et = self.catalog.current().entity("demo", "task")
        return self.db.read(lambda c: records.fetch_record(c, et, record_id))

    def move(self, record_id: int, *transitions: str) -> None:
        for key in transitions:
            et = self.catalog.current().entity("demo", "task")
            self.db.run(lambda c, k=key, t=et: workflow.transition_record(c, t, record_id, k, actor=Actor.system()))


def wbs_app() -> dict[str, Any]:
    return {
        "key": "wbs",
        "label": {"en": "WBS Task Board", "zh": "WBS 任务看板"},
        "roles": {
            "project_manager": {"label": {"en": "Project manager", "zh": "项目经理"}},
            "team_member": {"label": {"en": "Team member", "zh": "团队成员"}},
            "viewer": {"label": {"en": "Viewer", "zh": "查看者"}},
        },
        "entities": {
            "task": {
                "label": {"en": "Task", "zh": "任务"},
                "title": "subject",
                "fields": {
                    "subject": {"type": "text", "required": True},
                    "priority": {"type": "select", "options": ["low", "medium", "high", "urgent"], "default": "medium"},
                    "assignees": {"type": "user", "many": True},
                    "review_date": {"type": "date"},
                },
                "workflow": {
                    "initial": "open",
                    "states": {
                        "open": {"label": {"en": "Open", "zh": "待开始"}, "category": "todo"},
                        "working": {"label": {"en": "Working", "zh": "进行中"}, "category": "doing"},
                        "pending_review": {"label": {"en": "Pending Review", "zh": "待评审"}, "category": "doing"},
                        "completed": {"label": {"en": "Completed", "zh": "已完成"}, "category": "done"},
                        "cancelled": {"label": {"en": "Cancelled", "zh": "已取消"}, "category": "done"},
                    },
                    "transitions": [
                        {"key": "start", "from": "open", "to": "working"},
                        {"key": "submit_review", "from": "working", "to": "pending_review"},
                        {"key": "approve_review", "from": "pending_review", "to": "completed", "roles": ["project_manager"]},
                        {
                            "key": "request_changes",
                            "from": "pending_review",
                            "to": "working",
                            "roles": ["project_manager"],
                            "comment": "required",
                        },
                        {"key": "reopen", "from": "completed", "to": "working", "roles": ["project_manager"], "comment": "required"},
                        {
                            "key": "cancel",
                            "from": ["open", "working", "pending_review"],
                            "to": "cancelled",
                            "roles": ["project_manager"],
                            "comment": "required",
                        },
                    ],
                },
                "views": {
                    "board": {
                        "type": "board",
                        "label": {"en": "WBS Board", "zh": "WBS 看板"},
                        "group_by": "state",
                        "card": ["priority", "assignees"],
                        "wip": {"working": {"max": 6, "enforce": "block"}, "pending_review": {"max": 4, "enforce": "warn"}},
                        "collapsed": ["cancelled"],
                    }
                },
            }
        },
    }


def wbs_without_pending_review() -> dict[str, Any]:
    doc = wbs_app()
    task = doc["entities"]["task"]
    del task["workflow"]["states"]["pending_review"]
    task["workflow"]["transitions"] = [
        t for t in task["workflow"]["transitions"] if t["key"] not in ("submit_review", "approve_review", "request_changes")
    ]
    task["workflow"]["transitions"].append({"key": "complete", "from": "working", "to": "completed", "roles": ["project_manager"]})
    task["workflow"]["transitions"][-2]["from"] = ["open", "working"]
    del task["views"]["board"]["wip"]["pending_review"]
    return doc


BUDGETS = ["12.5", "1,200", "abc", "7", "n/a", "3.25", "12,5 €"]


def to_decimal(demo: Demo) -> dict[str, Any]:
    doc = with_field(demo.doc, "budget", {"type": "decimal"})
    doc["entities"]["task"]["fields"]["double"] = {"type": "computed", "formula": "budget * 2", "result": "decimal"}
    return doc


def apply(db: Database, document: dict[str, Any], **kwargs: Any) -> Any:
    kwargs.setdefault("actor", Actor.system())
    return apply_document(db, copy.deepcopy(document), **kwargs)


@pytest.fixture
def wbs(db, install, make_user):
    registry = install(wbs_app())
    peggy = make_user("peggy", {"wbs": ["project_manager"]})
    ivan = make_user("ivan", is_admin=True)
    et = registry.entity("wbs", "task")
    tasks = {}
    for subject, moves in [("接口设计 API design", ["start", "submit_review"]), ("数据库设计 DB design", ["start", "submit_review"]),
                           ("接口开发 API build", ["start"]), ("联调测试 Integration test", [])]:  # fmt: skip
        rec = db.run(lambda c, s=subject: records.create_record(c, et, {"subject": s}, actor=peggy))
        for key in moves:
            db.run(lambda c, k=key, r=rec.id: workflow.transition_record(c, et, r, k, actor=peggy))
        tasks[subject] = rec.id
    return et, tasks, ivan


@pytest.fixture
def budgets(db, install):
    demo = Demo(db, install, budget={"type": "text"}, double={"type": "computed", "formula": "budget", "result": "text"})
    ids = [demo.add(title=f"t{i}", budget=value) for i, value in enumerate(BUDGETS)]
    empty = demo.add(title="empty")
    return demo, ids, empty
