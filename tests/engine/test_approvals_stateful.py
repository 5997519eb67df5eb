"""A Hypothesis state machine over approval rounds: one record, three steps with different
modes (any, a conditional quorum of 2, all), five people acting at random (request,
approve, reject, withdraw, edit fields that are or are not frozen, reopen).

Invariants: the record changes state only through an approved round (every step of it
approved, each by its mode) and exactly once per approved round, or by a rejection to
`reject_to`, or by the plain `reopen`; a rejected, withdrawn or reset round never moves it;
there is never more than one pending round; no task of a closed round is pending; a
refused action changes nothing at all. Run with `on_edit: refuse` and `on_edit: reset`."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from flowdeck.engine import approvals, history, models, notifications, records, users, workflow
from flowdeck.engine.apps import apply_document
from flowdeck.engine.db import Database
from flowdeck.engine.errors import Forbidden, RecordInvalid, TransitionRefused
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from tests.support.databases import DatabaseFactory

APP = "rounds"
PEOPLE = ("ann", "ben", "cat", "dan", "eve")
REFUSALS = (Forbidden, RecordInvalid, TransitionRefused, approvals.ApprovalClosed)


def rounds_app(on_edit: str) -> dict[str, Any]:
    return {
        "key": APP,
        "label": "Rounds",
        "roles": {"member": {}},
        "entities": {
            "doc": {
                "fields": {"title": {"type": "text", "required": True}, "amount": {"type": "money"}, "note": {"type": "text"}},
                "workflow": {
                    "states": {"draft": {"category": "todo"}, "returned": {"category": "todo"}, "done": {"category": "done"}},
                    "transitions": [
                        {
                            "key": "submit",
                            "from": ["draft", "returned"],
                            "to": "done",
                            "approval": {
                                "steps": [
                                    {"key": "first", "approvers": {"users": ["ann", "ben"]}, "mode": "any"},
                                    {"key": "second", "approvers": {"users": ["ben", "cat", "dan"]}, "quorum": 2, "when": "amount > 100"},
                                    {"key": "third", "approvers": {"users": ["cat", "eve"]}, "mode": "all"},
                                ],
                                "reject_to": "returned",
                                "while_pending": {"frozen": ["amount"], "on_edit": on_edit},
                            },
                        },
                        {"key": "reopen", "from": "done", "to": "draft"},
                    ],
                },
            }
        },
    }


def _setup(on_edit: str) -> Any:
    def setup(db: Database) -> None:
        apply_document(db, rounds_app(on_edit), actor=Actor.system())

        def work(conn: sa.Connection) -> None:
            for name in PEOPLE:
                users.grant_role(conn, users.create_user(conn, name, password="password123"), APP, "member")

        db.run(work)

    return setup


def _approved_by_its_mode(step: approvals.StepView) -> bool:
    """The test's own reading of a step's tasks (not the engine's): any = one yes; all = every
    approver (but those who handed over) said yes; quorum = at least N yes."""
    yes = sum(t.status in ("approved", "auto_approved") for t in step.tasks)
    counted = [t for t in step.tasks if t.status != "delegated"]  # voided in mode all = someone never decided
    if step.mode == "any":
        return yes >= 1
    if step.mode == "all":
        return bool(counted) and all(t.status in ("approved", "auto_approved") for t in counted)
    return yes >= (step.quorum or 0) > 0


class RoundsMachine(RuleBasedStateMachine):
    factory: DatabaseFactory | None = None
    on_edit = "refuse"

    def __init__(self) -> None:
        super().__init__()
        assert self.factory is not None
        self.db = self.factory.fresh(self.factory.template(f"approval-rounds-{self.on_edit}", _setup(self.on_edit)))
        self.et = Catalog(self.db).current().entity(APP, "doc")

        def load(conn: sa.Connection) -> dict[str, Actor]:
            found = {name: users.find_user(conn, name) for name in PEOPLE}
            return {name: users.actor_for(conn, info.id) for name, info in found.items() if info is not None}

        self.actors = self.db.read(load)
        self.record_id = self.db.run(
            lambda c: records.create_record(c, self.et, {"title": "doc", "amount": "50.00"}, actor=self.actors["ann"])
        ).id
        self.state = "draft"  # the model's state of the record
        self.approved_rounds = 0  # rounds the model saw end approved
        self.last_request: int | None = None

    def teardown(self) -> None:
        assert self.factory is not None
        self.factory.drop(self.db)

    # -- reading ---------------------------------------------------------------------------

    def everything(self) -> tuple[Any, ...]:
        """All that a refused action must leave alone."""
        r, t, n = models.approval_requests, models.approval_tasks, models.notifications

        def read(conn: sa.Connection) -> tuple[Any, ...]:
            record = records.fetch_record(conn, self.et, self.record_id)
            return (
                record.version,
                record.state,
                dict(record.values),
                len(history.list_entries(conn, APP, "doc", self.record_id)),
                sorted(tuple(row) for row in conn.execute(sa.select(r.c.id, r.c.status, r.c.current_step))),
                sorted(tuple(row) for row in conn.execute(sa.select(t.c.id, t.c.status, t.c.approver_id))),
                conn.execute(sa.select(sa.func.count()).select_from(n)).scalar(),
            )

        return self.db.read(read)

    def pending(self) -> approvals.RequestRow | None:
        return self.db.read(lambda c: approvals.open_request_for(c, APP, "doc", self.record_id))

    def attempt(self, work: Any) -> Any:
        """Run `work`; a refusal must change nothing. Returns the result or the refusal."""
        before = self.everything()
        try:
            return self.db.run(work)
        except REFUSALS as exc:
            assert self.everything() == before, f"refused ({exc}) but something changed"
            return exc

    # -- rules -----------------------------------------------------------------------------

    @rule(who=st.sampled_from(PEOPLE))
    def request(self, who: str) -> None:
        may = self.state in ("draft", "returned") and self.pending() is None
        result = self.attempt(lambda c: approvals.request_approval(c, self.et, self.record_id, "submit", actor=self.actors[who]))
        if isinstance(result, Exception):
            assert not may and isinstance(result, TransitionRefused), result
            return
        assert may and result.status == "pending", result
        self.last_request = result.request_id

    @rule(who=st.sampled_from(PEOPLE), approve=st.booleans(), comment=st.sampled_from([None, "because"]))
    def decide_by_anyone(self, who: str, approve: bool, comment: str | None) -> None:
        self.decide(who, approve, comment)

    def decide(self, who: str, approve: bool, comment: str | None) -> None:
        pending = self.pending()
        target = pending.id if pending is not None else self.last_request
        if target is None:
            return
        mine = self.db.read(lambda c: approvals.my_pending_task(c, target, self.actors[who].user_id))
        result = self.attempt(lambda c: approvals.decide(c, self.et, target, actor=self.actors[who], approve=approve, comment=comment))
        if isinstance(result, Exception):
            assert not mine or (not approve and comment is None), f"{who} had a task and was refused: {result}"
            if not approve and comment is None and mine:
                assert isinstance(result, RecordInvalid)
            return
        assert mine or result.duplicate, f"{who} decided without a pending task"
        if result.duplicate:
            return
        if result.status == "approved":
            self.approved_rounds += 1
            self.state = "done"
        elif result.status == "rejected":
            self.state = "returned"

    @rule(data=st.data())
    def decide_as_a_waiting_approver(self, data: st.DataObject) -> None:
        """One to four people who are actually asked decide in turn (mostly approving): drives rounds to their end."""
        for _ in range(data.draw(st.integers(1, 4))):
            pending = self.pending()
            if pending is None:
                return
            waiting = [
                n for n in PEOPLE if self.db.read(lambda c, n=n, r=pending.id: approvals.my_pending_task(c, r, self.actors[n].user_id))
            ]
            assert waiting, "a pending round waits for nobody"
            who = data.draw(st.sampled_from(waiting))
            approve = data.draw(st.sampled_from([True, True, True, True, False]))
            self.decide(who, approve, None if approve else "not like this")

    @rule(who=st.sampled_from(PEOPLE))
    def withdraw(self, who: str) -> None:
        pending = self.pending()
        target = pending.id if pending is not None else self.last_request
        if target is None:
            return
        result = self.attempt(lambda c: approvals.withdraw(c, self.et, target, actor=self.actors[who]))
        if isinstance(result, Exception):
            return
        assert result.duplicate or (pending is not None and pending.requester_id == self.actors[who].user_id)

    @rule(who=st.sampled_from(PEOPLE), note=st.sampled_from(["a", "b", None]))
    def edit_not_frozen(self, who: str, note: str | None) -> None:
        before = self.pending()
        result = self.attempt(
            lambda c: records.update_record(c, self.et, self.record_id, {"note": note}, actor=self.actors[who], expected_version=None)
        )
        assert not isinstance(result, Exception), result
        after = self.pending()
        assert (before.id if before else None) == (after.id if after else None), "an edit of a free field touched the round"

    @rule(who=st.sampled_from(PEOPLE), amount=st.sampled_from(["50.00", "150.00", "500.00"]))
    def edit_frozen(self, who: str, amount: str) -> None:
        before = self.pending()
        old_amount = str(self.db.read(lambda c: records.fetch_record(c, self.et, self.record_id)).values["amount"])
        result = self.attempt(
            lambda c: records.update_record(c, self.et, self.record_id, {"amount": amount}, actor=self.actors[who], expected_version=None)
        )
        after = self.pending()
        if before is None or old_amount == amount:
            assert not isinstance(result, Exception), result
            assert (before.id if before else None) == (after.id if after else None)
        elif self.on_edit == "refuse":
            assert isinstance(result, RecordInvalid) and "amount" in result.errors, result
        else:
            assert not isinstance(result, Exception), result
            assert after is not None and after.id != before.id and after.round == before.round + 1
            assert self.db.read(lambda c: approvals.get_request(c, before.id)).status == "reset"
            self.last_request = after.id

    @precondition(lambda self: self.state == "done")
    @rule(who=st.sampled_from(PEOPLE))
    def reopen(self, who: str) -> None:
        result = self.attempt(lambda c: workflow.transition_record(c, self.et, self.record_id, "reopen", actor=self.actors[who]))
        assert not isinstance(result, Exception), result
        self.state = "draft"

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def state_is_the_models(self) -> None:
        assert self.db.read(lambda c: records.fetch_record(c, self.et, self.record_id)).state == self.state

    @invariant()
    def one_pending_round_at_most_and_closed_rounds_have_no_open_task(self) -> None:
        r, t = models.approval_requests, models.approval_tasks

        def read(conn: sa.Connection) -> tuple[int, int]:
            open_rounds = conn.execute(sa.select(sa.func.count()).where((r.c.record_id == self.record_id) & (r.c.status == "pending")))
            stray = conn.execute(
                sa.select(sa.func.count())
                .select_from(t.join(r, r.c.id == t.c.request_id))
                .where((t.c.status == "pending") & (r.c.status != "pending"))
            )
            return int(open_rounds.scalar()), int(stray.scalar())

        open_rounds, stray = self.db.read(read)
        assert open_rounds <= 1
        assert stray == 0

    @invariant()
    def state_moves_only_through_approved_rounds_once_each(self) -> None:
        entries = self.db.read(lambda c: history.list_entries(c, APP, "doc", self.record_id))
        views = self.db.read(lambda c: approvals.timeline(c, APP, "doc", self.record_id))
        approved = [v for v in views if v.request.status == "approved"]
        submits = [e for e in entries if e.action == "transition" and e.transition == "submit"]
        assert len(submits) == len(approved) == self.approved_rounds
        for view in approved:
            for step in view.steps:
                assert step.status == "approved", (view.request.round, step)
                assert _approved_by_its_mode(step), (view.request.round, step)
        for view in views:
            if view.request.status == "rejected":
                assert any(any(t.status == "rejected" for t in s.tasks) for s in view.steps), view
                assert not all(_approved_by_its_mode(s) for s in view.steps), view
        for entry in entries[1:]:
            moved = [c for c in entry.changes if c["field"] == "state"]
            if not moved:
                continue
            (change,) = moved
            allowed = {
                ("transition", "submit"): ({"draft", "returned"}, "done"),
                ("transition", "reopen"): ({"done"}, "draft"),
                ("rejected", "submit"): ({"draft", "returned"}, "returned"),
            }
            assert (entry.action, entry.transition) in allowed, f"{entry.action} moved the record"
            sources, target = allowed[(entry.action, entry.transition)]
            assert change["old"] in sources and change["new"] == target

    @invariant()
    def one_approved_notice_per_approved_round(self) -> None:
        requester_notes = self.db.read(
            lambda c: [
                str(n.message) for name in PEOPLE for n in notifications.list_notifications(c, self.actors[name].user_id, limit=1000)
            ]
        )
        assert sum(m.startswith("Approved:") for m in requester_notes) == self.approved_rounds


@pytest.mark.parametrize("on_edit", ["refuse", "reset"])
def test_random_approval_rounds_keep_their_invariants(databases, on_edit):
    """Across random requests, decisions, withdrawals and edits, does the record move only through approved rounds, exactly once each?"""
    machine = type(f"RoundsMachine_{on_edit}", (RoundsMachine,), {"factory": databases, "on_edit": on_edit})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=20, stateful_step_count=20, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
        ),
    )
