"""Approval flows, after the purchase-request scenarios in shared/examples (S1-S5):
amount thresholds, escalation to the superior, self-approval, de-duplication, rejection,
resubmission, withdrawal, edits while pending, send back, add approver, delegation."""

from decimal import Decimal

import pytest
import sqlalchemy as sa

from flowdeck.engine import approvals, history, models, notifications, org, records, users, workflow
from flowdeck.engine.errors import Forbidden, RecordInvalid, TransitionRefused

PURCHASE = {
    "key": "buy",
    "label": "Purchasing",
    "roles": {"staff": {}, "dept_manager": {}, "finance_approver": {}, "general_manager": {}, "procurement": {}},
    "entities": {
        "request": {
            "fields": {
                "purpose": {"type": "text", "required": True},
                "requester": {"type": "user", "default": "me"},
                "total_amount": {"type": "money", "required": True},
                "note": {"type": "text"},
            },
            "workflow": {
                "states": {"draft": {"category": "todo"}, "approved": {"category": "doing"}, "closed": {"category": "done"}},
                "transitions": [
                    {
                        "key": "submit",
                        "from": "draft",
                        "to": "approved",
                        "approval": {
                            "steps": [
                                {"key": "dept", "approvers": {"relation": "department_head"}},
                                {
                                    "key": "finance",
                                    "approvers": {"role": "finance_approver"},
                                    "mode": "any",
                                    "when": "total_amount > 10000",
                                },
                                {"key": "gm", "approvers": {"role": "general_manager"}, "when": "total_amount > 50000"},
                            ],
                            "send_back": True,
                            "add_approvers": True,
                            "delegate": True,
                        },
                    },
                    {"key": "close", "from": ["draft", "approved"], "to": "closed"},
                ],
            },
        }
    },
}


@pytest.fixture
def company(install, db):
    """The org of the example: R&D (head Bob), Finance (head Carol), Marketing (vacant), Company (head Erin)."""
    registry = install(PURCHASE)
    people = {}

    def setup(conn):
        for name, roles in {
            "alice": ["staff"],
            "bob": ["dept_manager", "staff"],
            "carol": ["dept_manager", "finance_approver", "staff"],
            "dave": ["finance_approver"],
            "erin": ["general_manager", "staff"],
            "grace": ["staff"],
        }.items():
            uid = users.create_user(conn, name, password="password123", display_name=name.title())
            for role in roles:
                users.grant_role(conn, uid, "buy", role)
            people[name] = uid
        company = org.create_department(conn, "company", "Company", head_id=people["erin"])
        rnd = org.create_department(conn, "rnd", "R&D", parent_id=company, head_id=people["bob"])
        fin = org.create_department(conn, "fin", "Finance", parent_id=company, head_id=people["carol"])
        mkt = org.create_department(conn, "mkt", "Marketing", parent_id=company)
        for name, dept in {"alice": rnd, "bob": rnd, "carol": fin, "dave": fin, "erin": company, "grace": mkt}.items():
            org.place_user(conn, people[name], department_id=dept, manager_id=None)

    db.run(setup)
    actors = {name: db.read(lambda c, u=uid: users.actor_for(c, u)) for name, uid in people.items()}
    return registry.entity("buy", "request"), actors, people


def _submit(db, et, actor, amount, purpose="monitors"):
    rec = db.run(lambda c: records.create_record(c, et, {"purpose": purpose, "total_amount": amount}, actor=actor))
    return db.run(lambda c: approvals.request_approval(c, et, rec.id, "submit", actor=actor))


def _waiting(db, people, name):
    return [item.step_key for item in db.read(lambda c: approvals.waiting_for(c, people[name]))]


def _state(db, et, record_id):
    return db.read(lambda c: records.fetch_record(c, et, record_id)).state


def test_threshold_routes_are_exact_to_the_cent(company, db):
    """Do 10,000.00 / 10,000.01 / 50,000.00 / 50,000.01 route to exactly the expected steps?"""
    et, actors, _ = company
    expected = {
        "10000.00": ["dept"],
        "10000.01": ["dept", "finance"],
        "50000.00": ["dept", "finance"],
        "50000.01": ["dept", "finance", "gm"],
    }
    for amount, steps in expected.items():
        outcome = _submit(db, et, actors["alice"], amount)
        view = db.read(lambda c, o=outcome: approvals.timeline(c, "buy", "request", o.record.id))
        assert [s.key for s in view[0].steps] == steps, amount


def test_reject_returns_to_draft_voids_open_tasks_and_resubmit_starts_fresh(company, db):
    """S1: does a finance rejection end the round, notify, and a resubmission route anew?"""
    et, actors, people = company
    outcome = _submit(db, et, actors["alice"], "12000.00")
    rid, record_id = outcome.request_id, outcome.record.id
    assert _waiting(db, people, "bob") == ["dept"]
    db.run(lambda c: approvals.decide(c, et, rid, actor=actors["bob"], approve=True))
    assert _waiting(db, people, "carol") == ["finance"] and _waiting(db, people, "dave") == ["finance"]
    with pytest.raises(RecordInvalid):
        db.run(lambda c: approvals.decide(c, et, rid, actor=actors["carol"], approve=False))
    result = db.run(lambda c: approvals.decide(c, et, rid, actor=actors["carol"], approve=False, comment="超出部门季度预算"))
    assert result.status == "rejected"
    assert _state(db, et, record_id) == "draft"
    assert _waiting(db, people, "dave") == []
    actions = [(e.action, str(e.message or ""), e.comment) for e in db.read(lambda c: history.list_entries(c, "buy", "request", record_id))]
    assert ("approved", "step “Dept”", None) in actions and ("rejected", "step “Finance”", "超出部门季度预算") in actions
    assert [a for a, *_ in actions].index("approved") < [a for a, *_ in actions].index("rejected")
    for name in ("alice", "bob"):
        kinds = [str(n.message) for n in db.read(lambda c, n=name: notifications.list_notifications(c, people[n]))]
        assert any(m.startswith("Rejected:") for m in kinds), name
    db.run(lambda c: records.update_record(c, et, record_id, {"total_amount": "9000.00"}, actor=actors["alice"], expected_version=None))
    again = db.run(lambda c: approvals.request_approval(c, et, record_id, "submit", actor=actors["alice"]))
    view = db.read(lambda c: approvals.timeline(c, "buy", "request", record_id))
    assert [s.key for s in view[0].steps] == ["dept"] and view[0].request.round == 2
    assert _waiting(db, people, "bob") == ["dept"]
    db.run(lambda c: approvals.decide(c, et, again.request_id, actor=actors["bob"], approve=True))
    assert _state(db, et, record_id) == "approved"


def test_requester_who_heads_the_department_is_escalated_to_the_superior(company, db):
    """S4: is Bob's own request sent to Erin, and can Bob not approve it himself?"""
    et, actors, people = company
    outcome = _submit(db, et, actors["bob"], "8000.00")
    assert _waiting(db, people, "bob") == []
    assert _waiting(db, people, "erin") == ["dept"]
    with pytest.raises(Forbidden, match="your own request"):
        db.run(lambda c: approvals.decide(c, et, outcome.request_id, actor=actors["bob"], approve=True))
    said = [str(e.message or "") for e in db.read(lambda c: history.list_entries(c, "buy", "request", outcome.record.id))]
    assert any("cannot approve their own request" in s for s in said)
    assert any("escalated" in s or "superior" in s for s in said)


def test_vacant_department_head_escalates_upward(company, db):
    """S4: does Grace's request (Marketing has no head) go to the company head?"""
    et, actors, people = company
    _submit(db, et, actors["grace"], "5000.00")
    assert _waiting(db, people, "erin") == ["dept"]


def test_self_exclusion_and_deduplication_auto_approve_a_repeat_approver(company, db):
    """S5: Carol's request: dept -> Erin, finance -> Dave only, GM (Erin again) auto-approved."""
    et, actors, people = company
    outcome = _submit(db, et, actors["carol"], "60000.00")
    rid = outcome.request_id
    assert _waiting(db, people, "erin") == ["dept"]
    assert _waiting(db, people, "carol") == []
    db.run(lambda c: approvals.decide(c, et, rid, actor=actors["erin"], approve=True))
    assert _waiting(db, people, "dave") == ["finance"] and _waiting(db, people, "carol") == []
    result = db.run(lambda c: approvals.decide(c, et, rid, actor=actors["dave"], approve=True))
    assert result.status == "approved"
    assert _state(db, et, outcome.record.id) == "approved"
    gm = db.read(lambda c: approvals.timeline(c, "buy", "request", outcome.record.id))[0].steps[2]
    assert [t.status for t in gm.tasks] == ["auto_approved"]
    assert str(gm.tasks[0].note) == "approved automatically: already approved step “Dept” in this round"


def test_repeated_decision_has_one_effect_and_one_notification(company, db):
    """Does a double-clicked approval count once and notify the requester once?"""
    et, actors, people = company
    outcome = _submit(db, et, actors["alice"], "500.00")
    first = db.run(lambda c: approvals.decide(c, et, outcome.request_id, actor=actors["bob"], approve=True))
    second = db.run(lambda c: approvals.decide(c, et, outcome.request_id, actor=actors["bob"], approve=True))
    assert first.status == "approved" and second.duplicate
    done = [n for n in db.read(lambda c: notifications.list_notifications(c, people["alice"])) if str(n.message).startswith("Approved:")]
    assert len(done) == 1
    transitions = [e for e in db.read(lambda c: history.list_entries(c, "buy", "request", outcome.record.id)) if e.action == "transition"]
    assert len(transitions) == 1


def test_outsiders_and_finished_requests_cannot_be_decided(company, db):
    """Is a decision by a non-approver, or on a withdrawn request, refused with nothing changed?"""
    et, actors, _ = company
    outcome = _submit(db, et, actors["alice"], "500.00")
    with pytest.raises(Forbidden, match="not an approver"):
        db.run(lambda c: approvals.decide(c, et, outcome.request_id, actor=actors["dave"], approve=True))
    with pytest.raises(Forbidden, match="only the requester"):
        db.run(lambda c: approvals.withdraw(c, et, outcome.request_id, actor=actors["bob"]))
    db.run(lambda c: approvals.withdraw(c, et, outcome.request_id, actor=actors["alice"]))
    with pytest.raises(approvals.ApprovalClosed, match="already decided: this request was withdrawn"):
        db.run(lambda c: approvals.decide(c, et, outcome.request_id, actor=actors["bob"], approve=True))
    assert _state(db, et, outcome.record.id) == "draft"


def test_frozen_fields_cannot_change_while_pending(company, db):
    """Is an edit of a field that routes the approval refused while it is pending, and others allowed?"""
    et, actors, _ = company
    outcome = _submit(db, et, actors["alice"], "20000.00")
    with pytest.raises(RecordInvalid) as info:
        db.run(
            lambda c: records.update_record(
                c, et, outcome.record.id, {"total_amount": "1.00"}, actor=actors["alice"], expected_version=None
            )
        )
    assert "total_amount" in info.value.errors
    db.run(lambda c: records.update_record(c, et, outcome.record.id, {"note": "urgent"}, actor=actors["alice"], expected_version=None))
    assert db.read(lambda c: records.fetch_record(c, et, outcome.record.id)).values["total_amount"] == Decimal("20000.00")


def test_other_transitions_wait_while_approval_is_pending(company, db):
    """Is a plain transition refused while a request is pending, and the approval one too?"""
    et, actors, _ = company
    outcome = _submit(db, et, actors["alice"], "100.00")
    with pytest.raises(TransitionRefused, match="pending"):
        db.run(lambda c: approvals.request_approval(c, et, outcome.record.id, "submit", actor=actors["alice"]))
    with pytest.raises(TransitionRefused, match="pending"):
        db.run(lambda c: workflow.transition_record(c, et, outcome.record.id, "close", actor=actors["alice"]))


def test_send_back_add_approver_and_delegate(company, db):
    """Do 回退, 加签 and delegation move the tasks where the flow says?"""
    et, actors, people = company
    outcome = _submit(db, et, actors["alice"], "20000.00")
    rid = outcome.request_id
    db.run(lambda c: approvals.decide(c, et, rid, actor=actors["bob"], approve=True))
    db.run(lambda c: approvals.send_back(c, et, rid, "dept", actor=actors["dave"], comment="请部门经理再确认"))
    assert _waiting(db, people, "bob") == ["dept"] and _waiting(db, people, "dave") == []
    db.run(lambda c: approvals.add_approver(c, et, rid, people["grace"], actor=actors["bob"]))
    assert _waiting(db, people, "grace") == ["dept"]
    db.run(lambda c: approvals.delegate(c, et, rid, people["erin"], actor=actors["grace"]))
    assert _waiting(db, people, "grace") == [] and _waiting(db, people, "erin") == ["dept"]
    db.run(lambda c: approvals.decide(c, et, rid, actor=actors["bob"], approve=True))
    assert _waiting(db, people, "dave") == ["finance"]


def test_request_row_records_the_snapshot(company, db):
    """Does the request keep the values the approvers saw?"""
    et, actors, _ = company
    outcome = _submit(db, et, actors["alice"], "321.00", purpose="<script>x</script>")
    row = db.read(lambda c: approvals.get_request(c, outcome.request_id))
    assert row.snapshot["total_amount"] == "321.00" and row.snapshot["purpose"] == "<script>x</script>"
    assert row.snapshot["state"] == "draft"
    assert db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(models.approval_steps)).scalar()) == 1
