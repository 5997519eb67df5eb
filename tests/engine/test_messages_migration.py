"""Migration 0006 (messages as data) on a database written before it: the English the
approval services stored in history entries, approval task notes and notifications becomes
the same message JSON the engine now writes (labels from the app's document, so they read
in Chinese too), the person's own words are kept apart as typed, and anything else stays
as it was. Downgrading writes the messages back as English text."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from flowdeck.catalogs import say
from flowdeck.engine import approval_core, approvals, history, models, notifications, users
from flowdeck.engine.db import Database
from flowdeck.engine.messages import M, Message
from flowdeck.engine.registry import Catalog
from flowdeck.engine.sqltypes import UTCDateTime
from flowdeck.engine.system import alembic_config

APP, ENTITY = "operations", "purchase_request"
NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
OLD_HISTORY = [  # (action, transition, old comment, changes)
    ("approval_requested", "submit", "请尽快 (steps not needed: General manager)", []),
    ("approved", "submit", "Department head: 同意", []),
    ("approved", "submit", "Department head", []),
    ("rejected", "submit", "Finance review: 请补充三家比价: 至少三家", []),
    ("approved", "submit", "every step was approved at once", []),
    ("auto_approved", "submit", "General manager: approver already approved step finance; approved automatically", []),
    ("escalated", "submit", "Department head: no approver found; sent to the requester's superior", []),
    ("escalated", "submit", "Finance review: no approver found; sent to the fallback role finance", []),
    ("self_excluded", "submit", "Department head: the requester cannot approve their own request", []),
    ("sent_back", "submit", "back to Department head: 再确认一下", []),
    ("overdue", "submit", "Finance review is overdue", []),
    ("approval_reset", "submit", "the record was edited while approval was pending; approvals start again", []),
    ("transition", "submit", "approved", [{"field": "state", "old": "draft", "new": "approved"}]),
    # Not the approval services' English: kept as it is.
    ("transition", "cancel", "approved", [{"field": "state", "old": "draft", "new": "cancelled"}]),
    ("rejected", "submit", "Note: fix the title", [{"field": "state", "old": "approved", "new": "draft"}]),
    ("approved", "submit", "Board: fine", []),
    ("update", None, "imported from bundle acme (record #3 there)", []),
]
OLD_NOTES = [
    "no longer required",
    "sent back",
    "delegated to user {zhao}",
    "added by li",
    "delegated by li",
    "already approved step finance in this round",
    "added: step overdue",
    "no approver found for this step; escalated",
    "no approver found; taken from the fallback role",
    "waiting for the budget",
]
OLD_NOTICES = [
    "Approval needed: Submit for approval of “扩容服务器” (Department head)",
    "Approval needed: Submit for approval of record #1 (added by li)",
    "Approval needed: Submit for approval of record #1 (delegated by li)",
    "Approved: Submit for approval of “扩容服务器”",
    "Rejected: Submit for approval of “扩容服务器”: 请补充三家比价",
    "Withdrawn: the approval request for record #1 no longer needs you",
    "Overdue approval: Finance review for record #1",
    "“扩容服务器” was edited while waiting for approval: earlier approvals were reset",
    "li mentioned you on Purchase request #1: 看一下",
]


@pytest.fixture
def before(bundled_db: Database) -> dict[str, Any]:
    """The bundled apps, two users, and the system tables taken back to 0005 with rows in
    the English the approval services wrote then."""
    db = bundled_db
    ids = db.run(
        lambda c: {
            name: users.create_user(c, name, password="password123", display_name=display)
            for name, display in (("li", "李强"), ("zhao", "赵敏"))
        }
    )
    db.run(lambda c: command.downgrade(alembic_config(c), "0005"))

    def old_rows(conn: sa.Connection) -> None:
        h = sa.table(
            "fd_history", sa.column("app"), sa.column("entity"), sa.column("record_id"), sa.column("actor_id"),
            sa.column("at", UTCDateTime), sa.column("action"), sa.column("transition"), sa.column("changes", sa.JSON),
            sa.column("comment"),
        )  # fmt: skip
        conn.execute(
            h.insert(),
            [
                {"app": APP, "entity": ENTITY, "record_id": 1, "actor_id": None, "at": NOW, "action": action, "transition": transition,
                 "changes": changes, "comment": comment}
                for action, transition, comment, changes in OLD_HISTORY
            ],
        )  # fmt: skip
        request_id = conn.execute(
            models.approval_requests.insert().values(
                app=APP, entity=ENTITY, record_id=1, transition="submit", round=1, status="pending", requester_id=None,
                from_state="draft", snapshot={}, snapshot_version=1, current_step=0, created_at=NOW,
            )
        ).inserted_primary_key[0]  # fmt: skip
        t = sa.table(
            "fd_approval_tasks", sa.column("step_id"), sa.column("request_id"), sa.column("approver_id"), sa.column("status"),
            sa.column("origin"), sa.column("note"), sa.column("created_at", UTCDateTime),
        )  # fmt: skip
        for position, note in enumerate(OLD_NOTES):
            step_id = conn.execute(
                models.approval_steps.insert().values(request_id=request_id, position=position, key="finance", mode="any", status="pending")
            ).inserted_primary_key[0]
            conn.execute(
                t.insert().values(
                    step_id=step_id, request_id=request_id, approver_id=ids["li"], status="pending", origin="route",
                    note=note.format(**ids), created_at=NOW,
                )
            )  # fmt: skip
        n = sa.table(
            "fd_notifications", sa.column("user_id"), sa.column("kind"), sa.column("app"), sa.column("entity"), sa.column("message"),
            sa.column("created_at", UTCDateTime),
        )  # fmt: skip
        notices = [
            {"user_id": ids["li"], "kind": "approval", "app": APP, "entity": ENTITY, "message": m, "created_at": NOW} for m in OLD_NOTICES
        ]
        conn.execute(n.insert(), notices)

    db.run(old_rows)
    return {"db": db, "ids": ids}


def _labels(db: Database) -> tuple[Any, dict[str, Any]]:
    transition = Catalog(db).current().entity(APP, ENTITY).entity.workflow.transition("submit")
    return transition.label, {s.key: s.label for s in transition.approval.steps}


def test_old_history_entries_become_messages_with_the_comment_apart(before):
    """Do old approval entries read as the engine's messages (in Chinese too), the comment kept as typed, the rest unchanged?"""
    db = before["db"]
    db.run(lambda c: command.upgrade(alembic_config(c), "head"))
    _, step = _labels(db)
    found = [(e.action, e.message, e.comment) for e in db.read(lambda c: history.list_entries(c, APP, ENTITY, 1))]
    assert found == [
        ("approval_requested", M("steps not needed: %(steps)s", steps=(step["general_manager"],)), "请尽快"),
        ("approved", M("step “%(step)s”", step=step["department_head"]), "同意"),
        ("approved", M("step “%(step)s”", step=step["department_head"]), None),
        ("rejected", M("step “%(step)s”", step=step["finance"]), "请补充三家比价: 至少三家"),
        ("approved", M("every step was approved at once"), None),
        (
            "auto_approved",
            M("step “%(step)s”: already approved step “%(earlier)s” in this round", step=step["general_manager"], earlier=step["finance"]),
            None,
        ),
        ("escalated", M("step “%(step)s”: no approver found; sent to the requester's superior", step=step["department_head"]), None),
        (
            "escalated",
            M("step “%(step)s”: no approver found; sent to the fallback role %(role)s", step=step["finance"], role="finance"),
            None,
        ),
        ("self_excluded", M("step “%(step)s”: the requester cannot approve their own request", step=step["department_head"]), None),
        ("sent_back", M("back to %(step)s", step=step["department_head"]), "再确认一下"),
        ("overdue", M("step “%(step)s”", step=step["finance"]), None),
        ("approval_reset", M("the record was edited while approval was pending; approvals start again"), None),
        ("transition", None, None),
        ("transition", None, "approved"),
        ("rejected", None, "Note: fix the title"),
        ("approved", None, "Board: fine"),
        ("update", None, "imported from bundle acme (record #3 there)"),
    ]
    assert say(found[0][1], "zh") == "无需审批的步骤：总经理审批"
    assert say(found[5][1], "zh") == "步骤“总经理审批”：本轮已审批过步骤“财务审核”"
    assert str(found[5][1]) == "step “General manager”: already approved step “Finance review” in this round"


def test_old_task_notes_become_the_notes_the_engine_writes(before):
    """Is each old note of an approver's task the engine's note message now (a delegate named by display name), an unknown one kept?"""
    db = before["db"]
    db.run(lambda c: command.upgrade(alembic_config(c), "head"))
    _, step = _labels(db)
    notes = [t.note for s in db.read(lambda c: approvals.timeline(c, APP, ENTITY, 1))[0].steps for t in s.tasks]
    assert notes == [
        approval_core.NO_LONGER_REQUIRED,
        approval_core.SENT_BACK_NOTE,
        M("handed to %(name)s", name="赵敏"),
        M("added by %(name)s", name="li"),
        M("delegated by %(name)s", name="li"),
        M("approved automatically: already approved step “%(step)s” in this round", step=step["finance"]),
        approval_core.OVERDUE_NOTE,
        approval_core.ESCALATED_NOTE,
        approval_core.FALLBACK_NOTE,
        "waiting for the budget",
    ]
    assert say(notes[5], "zh") == "自动通过：本轮已审批过步骤“财务审核”"


def test_old_notifications_become_messages(before):
    """Does every old approval notification read as the engine's message now (Chinese for a Chinese reader), a mention kept as text?"""
    db = before["db"]
    db.run(lambda c: command.upgrade(alembic_config(c), "head"))
    submit, step = _labels(db)
    said = [n.message for n in db.read(lambda c: notifications.list_notifications(c, before["ids"]["li"]))][::-1]
    assert said == [
        M("Approval needed: %(transition)s of “%(title)s” (%(step)s)", transition=submit, title="扩容服务器", step=step["department_head"]),
        M("Approval needed: %(transition)s of record #%(id)s (added by %(user)s)", transition=submit, id=1, user="li"),
        M("Approval needed: %(transition)s of record #%(id)s (delegated by %(user)s)", transition=submit, id=1, user="li"),
        M("Approved: %(transition)s of “%(title)s”", transition=submit, title="扩容服务器"),
        M("Rejected: %(transition)s of “%(title)s”: %(comment)s", transition=submit, title="扩容服务器", comment="请补充三家比价"),
        M("Withdrawn: the approval request for record #%(id)s no longer needs you", id=1),
        M("Overdue approval: %(step)s for record #%(id)s", step=step["finance"], id=1),
        M("“%(title)s” was edited while waiting for approval: earlier approvals were reset", title="扩容服务器"),
        "li mentioned you on Purchase request #1: 看一下",
    ]
    assert "提交审批" in say(said[3], "zh") and "Submit" not in say(said[3], "zh")
    assert [str(m) for m in said] == OLD_NOTICES


def test_downgrade_writes_the_messages_back_as_english(before):
    """Taken back to 0005, do the converted rows hold English text again (nothing lost), and does upgrading convert them again?"""
    db = before["db"]
    db.run(lambda c: command.upgrade(alembic_config(c), "head"))
    db.run(lambda c: command.downgrade(alembic_config(c), "0005"))
    h, n, t = "fd_history", "fd_notifications", "fd_approval_tasks"
    comments = db.read(lambda c: [r[0] for r in c.exec_driver_sql(f"SELECT comment FROM {h} WHERE record_id = 1 ORDER BY id")])
    assert comments[:2] == ["steps not needed: General manager: 请尽快", "step “Department head”: 同意"]
    assert db.read(lambda c: [r[0] for r in c.exec_driver_sql(f"SELECT message FROM {n} ORDER BY id")]) == OLD_NOTICES
    notes = db.read(lambda c: [r[0] for r in c.exec_driver_sql(f"SELECT note FROM {t} ORDER BY id")])
    assert notes[0] == "no longer required" and notes[2] == "handed to 赵敏" and None not in notes
    db.run(lambda c: command.upgrade(alembic_config(c), "head"))
    again = db.read(lambda c: notifications.list_notifications(c, before["ids"]["li"]))
    assert all(isinstance(n.message, Message) for n in again[1:])
