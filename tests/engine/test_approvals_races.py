"""Decisions racing on one step, in real threads against the test database (SQLite: writers
queue on BEGIN IMMEDIATE; PostgreSQL: decisions queue on the request row lock). Each test
repeats its race several times; a barrier starts the threads together."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.engine import approvals, history, models, notifications, records, users
from flowdeck.engine.db import Database

ROUNDS = 6
APP = "race"


def _transition(key: str, step: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "from": "draft", "to": "done", "approval": {"steps": [step]}}


RACE_APP = {
    "key": APP,
    "label": "Races",
    "roles": {"member": {}, "boss": {}},
    "entities": {
        "item": {
            "fields": {"title": {"type": "text", "required": True}},
            "workflow": {
                "states": {"draft": {"category": "todo"}, "done": {"category": "done"}},
                "transitions": [
                    _transition("any_ok", {"key": "panel", "approvers": {"users": ["ann", "ben"]}, "mode": "any"}),
                    _transition("all_ok", {"key": "panel", "approvers": {"users": ["ann", "ben"]}, "mode": "all"}),
                    _transition("solo_ok", {"key": "panel", "approvers": {"users": ["ann"]}}),
                    _transition(
                        "esc_ok",
                        {
                            "key": "panel",
                            "approvers": {"users": ["ann"]},
                            "due_hours": 1,
                            "on_overdue": "escalate",
                            "escalation_role": "boss",
                        },
                    ),
                ],
            },
        }
    },
}
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(hours=2)  # past the due time of a step started at T0


class Arena:
    def __init__(self, db: Database, registry: Any) -> None:
        self.db = db
        self.registry = registry
        self.et = registry.entity(APP, "item")

        def setup(conn: sa.Connection) -> dict[str, int]:
            ids = {}
            for name, roles in {"rita": ["member"], "ann": ["member"], "ben": ["member"], "zed": ["member", "boss"]}.items():
                ids[name] = users.create_user(conn, name, password="password123")
                for role in roles:
                    users.grant_role(conn, ids[name], APP, role)
            return ids

        self.ids = db.run(setup)
        self.actors = {name: db.read(lambda c, u=uid: users.actor_for(c, u)) for name, uid in self.ids.items()}
        self.names = {uid: name for name, uid in self.ids.items()}

    def open_request(self, transition: str, now: dt.datetime | None = None) -> tuple[int, int]:
        """A new record with a pending request for `transition`: (record id, request id)."""

        def work(conn: sa.Connection) -> tuple[int, int]:
            record = records.create_record(conn, self.et, {"title": "x"}, actor=self.actors["rita"])
            out = approvals.request_approval(conn, self.et, record.id, transition, actor=self.actors["rita"], now=now)
            assert out.status == "pending" and out.request_id is not None
            return record.id, out.request_id

        return self.db.run(work)

    def deciding(self, request_id: int, who: str, approve: bool = True, comment: str | None = None) -> Callable[[sa.Connection], Any]:
        actor = self.actors[who]
        return lambda c: approvals.decide(c, self.et, request_id, actor=actor, approve=approve, comment=comment)

    def race(self, *works: Callable[[sa.Connection], Any]) -> list[tuple[str, Any]]:
        """Run each unit of work in its own thread, all released at once by a barrier."""
        barrier = threading.Barrier(len(works))
        results: list[tuple[str, Any]] = [("missing", None)] * len(works)

        def runner(index: int, work: Callable[[sa.Connection], Any]) -> None:
            barrier.wait()
            try:
                results[index] = ("ok", self.db.run(work))
            except Exception as exc:  # every outcome is checked by the caller
                results[index] = ("error", exc)

        threads = [threading.Thread(target=runner, args=(i, w)) for i, w in enumerate(works)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a racing decision hung"
        return results

    def actions(self, record_id: int) -> list[str]:
        return [e.action for e in self.db.read(lambda c: history.list_entries(c, APP, "item", record_id))]

    def tasks(self, record_id: int) -> dict[str, str]:
        view = self.db.read(lambda c: approvals.timeline(c, APP, "item", record_id))[0]
        return {self.names[t.approver_id]: t.status for s in view.steps for t in s.tasks}

    def request(self, request_id: int) -> approvals.RequestRow:
        return self.db.read(lambda c: approvals.get_request(c, request_id))

    def state(self, record_id: int) -> str | None:
        return self.db.read(lambda c: records.fetch_record(c, self.et, record_id)).state

    def approved_notices(self, record_id: int) -> int:
        notes = self.db.read(lambda c: notifications.list_notifications(c, self.ids["rita"], limit=1000))
        return sum(1 for n in notes if n.record_id == record_id and str(n.message).startswith("Approved:"))

    def pending_tasks_of_closed_rounds(self) -> int:
        r, t = models.approval_requests, models.approval_tasks
        query = sa.select(sa.func.count()).select_from(t.join(r, r.c.id == t.c.request_id))
        return int(self.db.read(lambda c: c.execute(query.where((t.c.status == "pending") & (r.c.status != "pending"))).scalar()))


@pytest.fixture
def arena(db, install) -> Arena:
    return Arena(db, install(RACE_APP))


def _closed(result: tuple[str, Any]) -> bool:
    kind, value = result
    return kind == "error" and isinstance(value, approvals.ApprovalClosed) and str(value).startswith("already decided")


def test_two_approvers_racing_in_mode_any_complete_the_step_once(arena):
    """Mode any, Ann and Ben approve at once: one transition, one notice, the loser told "already decided", no decision lost?"""
    for _ in range(ROUNDS):
        record_id, request_id = arena.open_request("any_ok")
        results = arena.race(arena.deciding(request_id, "ann"), arena.deciding(request_id, "ben"))
        won = [i for i, (kind, value) in enumerate(results) if kind == "ok" and value.status == "approved" and not value.duplicate]
        assert len(won) == 1, results
        loser = 1 - won[0]
        assert _closed(results[loser]), results
        winner_name, loser_name = ("ann", "ben") if won[0] == 0 else ("ben", "ann")
        assert arena.tasks(record_id) == {winner_name: "approved", loser_name: "voided"}
        actions = arena.actions(record_id)
        assert actions.count("transition") == 1 and actions.count("approved") == 1
        assert arena.approved_notices(record_id) == 1
        assert arena.state(record_id) == "done" and arena.request(request_id).status == "approved"
    assert arena.pending_tasks_of_closed_rounds() == 0


def test_two_approvers_racing_in_mode_all_both_count_and_complete_once(arena):
    """Mode all, Ann and Ben approve at once: are both decisions recorded and the transition run exactly once?"""
    for _ in range(ROUNDS):
        record_id, request_id = arena.open_request("all_ok")
        results = arena.race(arena.deciding(request_id, "ann"), arena.deciding(request_id, "ben"))
        assert all(kind == "ok" for kind, _ in results), results
        assert sorted(value.status for _, value in results) == ["approved", "pending"]
        assert arena.tasks(record_id) == {"ann": "approved", "ben": "approved"}
        actions = arena.actions(record_id)
        assert actions.count("transition") == 1 and actions.count("approved") == 2
        assert arena.approved_notices(record_id) == 1
        assert arena.state(record_id) == "done"


@pytest.mark.parametrize("transition", ["any_ok", "all_ok"])
def test_approve_racing_reject_ends_consistently(arena, transition):
    """Ann approves while Ben rejects: does the record move exactly when the request ends approved, never otherwise?"""
    seen = set()
    for _ in range(ROUNDS):
        record_id, request_id = arena.open_request(transition)
        results = arena.race(arena.deciding(request_id, "ann"), arena.deciding(request_id, "ben", approve=False, comment="no"))
        for kind, value in results:
            assert kind == "ok" or _closed((kind, value)), results
        status = arena.request(request_id).status
        seen.add(status)
        moved = arena.actions(record_id).count("transition")
        assert status in ("approved", "rejected")
        assert (moved == 1) == (status == "approved") and moved <= 1
        assert arena.state(record_id) == ("done" if status == "approved" else "draft")
        assert arena.approved_notices(record_id) == (1 if status == "approved" else 0)
        tasks = arena.tasks(record_id)
        assert "pending" not in tasks.values()
        if transition == "all_ok":
            assert status == "rejected" and tasks["ben"] == "rejected"
    assert arena.pending_tasks_of_closed_rounds() == 0


@pytest.mark.parametrize("transition", ["solo_ok", "all_ok"])
def test_same_user_double_submit_has_one_effect(arena, transition):
    """Ann's approval sent twice at once: one decision, one history entry, at most one notice, the other a duplicate?"""
    for _ in range(ROUNDS):
        record_id, request_id = arena.open_request(transition)
        results = arena.race(arena.deciding(request_id, "ann"), arena.deciding(request_id, "ann"))
        assert all(kind == "ok" for kind, _ in results), results
        assert sorted(value.duplicate for _, value in results) == [False, True]
        actions = arena.actions(record_id)
        assert actions.count("approved") == 1
        assert arena.tasks(record_id)["ann"] == "approved"
        if transition == "solo_ok":
            assert actions.count("transition") == 1 and arena.approved_notices(record_id) == 1
        else:
            assert actions.count("transition") == 0 and arena.tasks(record_id)["ben"] == "pending"


def test_overdue_sweeps_racing_each_other_escalate_once(arena):
    """Two overdue sweeps at once (two workers): is the step escalated once, with no error?"""
    for _ in range(ROUNDS):
        record_id, _ = arena.open_request("esc_ok", now=T0)
        sweep = lambda c: approvals.escalate_overdue(c, arena.registry, now=LATER)  # noqa: E731
        results = arena.race(sweep, sweep)
        assert all(kind == "ok" for kind, _ in results), results
        assert sorted(value for _, value in results) == [0, 1]
        assert arena.actions(record_id).count("overdue") == 1
        assert arena.tasks(record_id) == {"ann": "pending", "zed": "pending"}


def test_overdue_sweep_racing_a_decision_leaves_no_open_task_in_a_closed_round(arena):
    """A sweep adding escalation approvers while Ann approves: is no task left pending in a finished round?"""
    for _ in range(ROUNDS):
        record_id, request_id = arena.open_request("esc_ok", now=T0)
        results = arena.race(arena.deciding(request_id, "ann"), lambda c: approvals.escalate_overdue(c, arena.registry, now=LATER))
        assert all(kind == "ok" for kind, _ in results), results
        assert arena.request(request_id).status == "approved"
        assert "pending" not in arena.tasks(record_id).values()
        assert arena.actions(record_id).count("transition") == 1
    assert arena.pending_tasks_of_closed_rounds() == 0
