"""The app the tests of the engine's admin texts change in every way a migration plan and a
version difference speak about (engine and web tests), with records in every state the
change touches."""

from __future__ import annotations

import copy
from typing import Any

from flowdeck.engine import approvals, records, workflow
from flowdeck.engine.db import Database
from flowdeck.engine.registry import Registry
from tests.support.documents import minimal_app

ANSWERS = {"state:task:review": "doing", "option:task:priority:high": "normal", "type:task:effort": "round"}
"""The answers to the questions `changed_app()` asks over `install_with_records`'s records."""


def original_app() -> dict[str, Any]:
    """The minimal app with a few more kinds of fields, an approval on "approve" and a board."""
    doc = minimal_app(views={"board": {"type": "board", "label": "Board", "group_by": "state"}})
    task = doc["entities"]["task"]
    task["fields"]["notes"] = {"type": "text"}
    task["fields"]["tags"] = {"type": "multiselect", "options": ["red", "blue"]}
    task["workflow"]["transitions"][2]["approval"] = {"steps": [{"key": "check", "approvers": {"role": "lead"}}]}
    return doc


def changed_app() -> dict[str, Any]:
    """The original app changed in every way a plan speaks about."""
    doc = copy.deepcopy(original_app())
    task = doc["entities"]["task"]
    fields = task["fields"]
    fields["effort"] = {**fields.pop("estimate"), "type": "integer", "was": "estimate"}
    del fields["notes"]
    fields["priority"]["options"] = ["low", "normal"]
    fields["due"] = {"type": "date", "default": "2026-12-31"}
    fields["code"] = {"type": "text", "unique": True}
    fields["watchers"] = {"type": "user", "many": True}
    fields["items"] = {"type": "table", "fields": {"what": {"type": "text"}, "amount": {"type": "decimal"}}}
    fields["double"] = {"type": "computed", "formula": "effort * 2"}
    transitions = task["workflow"]["transitions"]
    del transitions[2]["approval"]
    task["workflow"]["transitions"] = [t for t in transitions if t["to"] != "review" and t["from"] != "review"]
    del task["workflow"]["states"]["review"]
    task["workflow"]["transitions"][-1]["from"] = "done"
    doc["entities"]["note"] = {"label": "Note", "fields": {"body": {"type": "text"}}}
    return doc


def applied_app() -> dict[str, Any]:
    """The changed app without its new formula: applied over the records (applying a new
    formula together with a new many-valued field fails: the formulas are computed before the
    field's link table is created)."""
    doc = changed_app()
    del doc["entities"]["task"]["fields"]["double"]
    return doc


def install_with_records(db: Database, install: Any, make_user: Any) -> dict[str, Any]:
    """The original app installed, with records in every state the change touches: one
    waiting for approval in "review", one with a decimal estimate and notes, one with tags.
    Returns the registry and the lead who asked for the approval."""
    registry: Registry = install(original_app())
    et = registry.entity("demo", "task")
    lead = make_user("lea", {"demo": ["lead", "member"]})
    make_user("lia", {"demo": ["lead"]})  # someone who can approve lea's request

    def work(conn: Any) -> tuple[Any, Any]:
        first = records.create_record(conn, et, {"title": "Printer", "priority": "high", "estimate": "1.5", "notes": "n"}, actor=lead)
        second = records.create_record(conn, et, {"title": "Scanner", "priority": "high", "tags": ["red"]}, actor=lead)
        for key in ("start", "submit"):
            workflow.transition_record(conn, et, first.id, key, actor=lead)
        approvals.request_approval(conn, et, first.id, "approve", actor=lead)
        return first, second

    first, second = db.run(work)
    return {"registry": registry, "lead": lead, "first": first.id, "second": second.id}
