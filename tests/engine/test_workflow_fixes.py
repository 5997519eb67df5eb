"""Workflow fixes found while playing real processes (#12): guards that read `me` under
approval, guards and requirements that see recomputed values, and what an "all must
approve" step does with votes that race the deciding rejection and with a withdrawal."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.engine import approvals, history, notifications, records, users, workflow
from flowdeck.engine.errors import TransitionRefused
from flowdeck.engine.permissions import Actor

APP = "wf"


def leave_app(mode: str = "all", quorum: int | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"key": "managers", "approvers": {"role": "manager"}, "mode": mode}
    if quorum is not None:
        step["quorum"] = quorum
    return {
        "key": APP,
        "label": "Leave",
        "roles": {"staff": {}, "manager": {}},
        "entities": {
            "leave": {
                "fields": {
                    "title": {"type": "text", "required": True},
                    "requester": {"type": "user", "default": "me"},
                    "days": {"type": "integer"},
                    "rate": {"type": "money"},
                    "cost": {"type": "computed", "formula": "days * rate", "result": "money"},
                    "justification": {"type": "text", "required_if": "cost > 500"},
                },
                "workflow": {
                    "states": {"draft": {"category": "todo"}, "planned": {"category": "doing"}, "approved": {"category": "done"}},
                    "transitions": [
                        {
                            "key": "submit",
                            "from": "draft",
                            "to": "approved",
                            "guard": "requester == me",
                            "approval": {"steps": [step], "reject_to": "draft"},
                        },
                        {"key": "plan", "from": "draft", "to": "planned", "guard": "cost <= 1000"},
                    ],
                },
            }
        },
    }


class People:
    def __init__(self, db: Any, registry: Any) -> None:
        self.db = db
        self.et = registry.entity(APP, "leave")
        self.ids: dict[str, int] = {}

        def setup(conn: sa.Connection) -> None:
            for name, role in {"alice": "staff", "mia": "manager", "max": "manager", "moe": "manager"}.items():
                self.ids[name] = users.create_user(conn, name, password="password123", display_name=name.title())
                users.grant_role(conn, self.ids[name], APP, role)

        db.run(setup)

    def actor(self, name: str) -> Actor:
        return self.db.read(lambda c: users.actor_for(c, self.ids[name]))

    def new(self, **values: Any) -> int:
        values.setdefault("title", "holiday")
        return self.db.run(lambda c: records.create_record(c, self.et, values, actor=self.actor("alice"))).id

    def submit(self, record_id: int) -> approvals.Outcome:
        return self.db.run(lambda c: approvals.request_approval(c, self.et, record_id, "submit", actor=self.actor("alice")))

    def decide(self, request_id: int, who: str, approve: bool, comment: str | None = None) -> approvals.Outcome:
        actor = self.actor(who)
        return self.db.run(lambda c: approvals.decide(c, self.et, request_id, actor=actor, approve=approve, comment=comment))

    def record(self, record_id: int) -> records.Record:
        return self.db.read(lambda c: records.fetch_record(c, self.et, record_id))

    def entries(self, record_id: int) -> list[history.Entry]:
        return self.db.read(lambda c: history.list_entries(c, APP, "leave", record_id))

    def notes(self, who: str) -> list[str]:
        return [str(n.message) for n in self.db.read(lambda c: notifications.list_notifications(c, self.ids[who], limit=100))][::-1]


@pytest.fixture
def people(db, install) -> People:
    return People(db, install(leave_app()))


def test_a_guard_on_me_is_the_requesters_when_the_last_approver_approves(people):
    """Does "only the requester submits" hold when the last approver completes the
    request (and not refuse the approval because the approver is not the requester)?"""
    record_id = people.new(days=1, rate="10")
    outcome = people.submit(record_id)
    assert outcome.status == "pending"
    people.decide(outcome.request_id, "mia", True)
    people.decide(outcome.request_id, "max", True)
    done = people.decide(outcome.request_id, "moe", True)
    assert done.status == "approved"
    assert people.record(record_id).state == "approved"


def test_a_guard_on_me_still_refuses_another_requester(people):
    """Is the guard still checked as the person who asks for approval?"""
    record_id = people.new(days=1, rate="10")
    with pytest.raises(TransitionRefused):
        people.db.run(lambda c: approvals.request_approval(c, people.et, record_id, "submit", actor=people.actor("mia")))


def plan(people: People, record_id: int, **values: Any) -> records.Record:
    actor = people.actor("alice")
    return people.db.run(lambda c: workflow.transition_record(c, people.et, record_id, "plan", actor=actor, values=values))


def test_guard_sees_the_computed_value_of_the_posted_values(people):
    """Does a guard on a computed field see it recomputed from the values posted with the
    transition, not the stored value (both ways)?"""
    record_id = people.new(days=1, rate="10")
    with pytest.raises(TransitionRefused) as refused:
        plan(people, record_id, days=200, justification="long trip")
    assert "cost <= 1000" in str(refused.value.message)
    assert people.record(record_id).state == "draft"
    big = people.new(days=200, rate="10", justification="long trip")
    done = plan(people, big, days=3)
    assert (done.state, str(done.values["cost"])) == ("planned", "30.00")


def test_required_fields_see_the_computed_value_of_the_posted_values(people):
    """Is a field required by a condition on a computed value required exactly when the
    posted values make the condition true?"""
    record_id = people.new(days=100, rate="10", justification="long trip")
    done = plan(people, record_id, days=1, justification="")
    assert (done.state, done.values["justification"]) == ("planned", None)
    small = people.new(days=1, rate="10")
    with pytest.raises(TransitionRefused) as refused:
        plan(people, small, days=60)
    assert refused.value.missing == ["justification"]
    assert str(refused.value.message) == "fill in Justification to “Plan”"


def test_a_vote_racing_the_deciding_rejection_is_kept_in_history(people):
    """In an "all must approve" step, is a vote that arrives after the deciding rejection
    written to history as arriving after the decision, instead of being lost?"""
    record_id = people.new(days=1, rate="10")
    outcome = people.submit(record_id)
    people.decide(outcome.request_id, "mia", False, "not now")
    late = people.decide(outcome.request_id, "max", True, "fine by me")
    assert late.late and late.status == "rejected"
    entry = people.entries(record_id)[-1]
    assert entry.action == "late_decision"
    assert entry.actor_id == people.ids["max"]
    assert entry.comment == "fine by me"
    assert str(entry.message) == "approved after the decision was made: it does not count"
    again = people.decide(outcome.request_id, "max", True, "fine by me")
    assert again.duplicate
    assert [e.action for e in people.entries(record_id)].count("late_decision") == 1


def test_the_rejection_notice_carries_every_rejectors_comment(db, install):
    """When several rejections decide a step, does the requester's notice carry each comment?"""
    people = People(db, install(leave_app(mode="quorum", quorum=2)))
    record_id = people.new(days=1, rate="10")
    outcome = people.submit(record_id)
    people.decide(outcome.request_id, "mia", False, "team is short")
    people.decide(outcome.request_id, "max", False, "deadline")
    rejected = [n for n in people.notes("alice") if n.startswith("Rejected")]
    assert len(rejected) == 1
    assert "Mia: team is short" in rejected[0] and "Max: deadline" in rejected[0]


def test_a_withdrawal_tells_every_approver_who_already_acted(people):
    """Does withdrawing notify approvers who already approved, not only those still asked?"""
    record_id = people.new(days=1, rate="10")
    outcome = people.submit(record_id)
    people.decide(outcome.request_id, "mia", True)
    people.db.run(lambda c: approvals.withdraw(c, people.et, outcome.request_id, actor=people.actor("alice")))
    for name in ("mia", "max", "moe"):
        assert any(n.startswith("Withdrawn") for n in people.notes(name)), name
