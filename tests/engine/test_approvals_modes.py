"""Every mode and option of an approval block, one question per test: or-sign, countersign,
quorum, conditional steps, each kind of approver source, self-approval, fallbacks and
escalation, rejection, withdrawal, rounds, de-duplication, send back, add approver,
delegate, frozen fields and reset, the checks at completion, overdue steps, notifications
and history."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from flowdeck.engine import approvals, users
from flowdeck.engine.errors import Forbidden, RecordInvalid, TransitionRefused
from tests.support.approval_flow import Flow, app_doc
from tests.support.records import english_errors

T0 = dt.datetime(2030, 3, 4, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def flow(install, db):
    """Build a Flow whose submit transition carries the given approval block."""

    def build(approval: dict[str, Any], **submit: Any) -> Flow:
        return Flow(db, install(app_doc(approval, **submit)))

    return build


FINANCE_ANY = {"steps": [{"key": "finance", "approvers": {"role": "finance"}, "mode": "any"}]}
FINANCE_ALL = {"steps": [{"key": "finance", "approvers": {"role": "finance"}, "mode": "all"}]}
FINANCE_QUORUM = {"steps": [{"key": "finance", "approvers": {"role": "finance"}, "quorum": 2}]}
TWO_STEPS = {
    "steps": [
        {"key": "dept", "approvers": {"relation": "department_head"}},
        {"key": "finance", "approvers": {"role": "finance"}},
    ]
}


# -- modes -------------------------------------------------------------------------------------


def test_any_first_approval_counts_and_voids_the_other_tasks(flow):
    """Mode any: does the first approval complete the step and void the others as no longer required?"""
    f = flow(FINANCE_ANY)
    out = f.submit(amount="100.00")
    assert out.status == "pending" and f.state(out.record.id) == "draft"
    assert f.waiting("carol") == f.waiting("dave") == f.waiting("fay") == ["finance"]
    done = f.decide(out.request_id, "dave")
    assert done.status == "approved" and f.state(out.record.id) == "approved"
    views = f.task_views(out.record.id, "finance")
    assert {n: v.status for n, v in views.items()} == {"carol": "voided", "dave": "approved", "fay": "voided"}
    assert str(views["carol"].note) == str(views["fay"].note) == "no longer required"
    assert f.waiting("carol") == [] and f.waiting("fay") == []
    with pytest.raises(approvals.ApprovalClosed, match="already decided"):
        f.decide(out.request_id, "carol")
    assert f.actions(out.record.id).count("transition") == 1


def test_any_first_rejection_counts(flow):
    """Mode any: does a first rejection end the round even though others could still approve?"""
    f = flow(FINANCE_ANY)
    out = f.submit(amount="100.00")
    assert f.decide(out.request_id, "fay", approve=False, comment="no budget").status == "rejected"
    assert f.tasks(out.record.id, "finance") == {"carol": "voided", "dave": "voided", "fay": "rejected"}
    assert f.state(out.record.id) == "draft"


@pytest.mark.parametrize("order", [("carol", "dave", "fay"), ("fay", "carol", "dave"), ("dave", "fay", "carol")])
def test_all_needs_every_approver_in_any_order(flow, order):
    """Mode all: does the step stay pending until the last of the group approves, whatever the order?"""
    f = flow(FINANCE_ALL)
    out = f.submit(amount="100.00")
    for who in order[:-1]:
        assert f.decide(out.request_id, who).status == "pending"
        assert f.state(out.record.id) == "draft"
    assert f.decide(out.request_id, order[-1]).status == "approved"
    assert f.state(out.record.id) == "approved"
    assert f.tasks(out.record.id, "finance") == {"carol": "approved", "dave": "approved", "fay": "approved"}
    assert f.actions(out.record.id).count("transition") == 1


def test_all_one_rejection_rejects(flow):
    """Mode all: does one rejection reject the round after others approved, voiding the rest?"""
    f = flow(FINANCE_ALL)
    out = f.submit(amount="100.00")
    f.decide(out.request_id, "dave")
    assert f.decide(out.request_id, "carol", approve=False, comment="over budget").status == "rejected"
    assert f.tasks(out.record.id, "finance") == {"carol": "rejected", "dave": "approved", "fay": "voided"}
    assert f.state(out.record.id) == "draft" and "transition" not in f.actions(out.record.id)


def test_quorum_approves_at_n(flow):
    """Mode quorum 2 of 3: is the step approved at the second approval and the third voided?"""
    f = flow(FINANCE_QUORUM)
    out = f.submit(amount="100.00")
    assert f.decide(out.request_id, "carol").status == "pending"
    assert f.decide(out.request_id, "fay").status == "approved"
    assert f.tasks(out.record.id, "finance") == {"carol": "approved", "dave": "voided", "fay": "approved"}
    assert f.state(out.record.id) == "approved"


def test_quorum_rejects_as_soon_as_n_cannot_be_reached(flow):
    """Mode quorum 2 of 3: does one rejection leave it open and the second (2 can no longer approve) reject it?"""
    f = flow(FINANCE_QUORUM)
    out = f.submit(amount="100.00")
    assert f.decide(out.request_id, "carol", approve=False, comment="no").status == "pending"
    assert f.decide(out.request_id, "dave", approve=False, comment="no").status == "rejected"
    assert f.tasks(out.record.id, "finance") == {"carol": "rejected", "dave": "rejected", "fay": "voided"}
    again = f.submit(amount="100.00")
    assert f.decide(again.request_id, "carol").status == "pending"
    assert f.decide(again.request_id, "dave", approve=False, comment="no").status == "pending"
    assert f.decide(again.request_id, "fay").status == "approved"


def test_quorum_larger_than_the_people_available_is_refused(flow):
    """Quorum 3 of finance, requested by Carol (excluded): is the request refused and nothing created?"""
    f = flow({"steps": [{"key": "finance", "approvers": {"role": "finance"}, "quorum": 3}]})
    assert f.submit(by="alice", amount="1.00").status == "pending"
    record_id = f.new("carol")
    before = f.snapshot(record_id)
    with pytest.raises(TransitionRefused, match=r"“Finance” needs 3 approvals but only 2 people can approve"):
        f.request(record_id, "carol")
    assert f.snapshot(record_id) == before


# -- conditional steps ---------------------------------------------------------------------------

CONDITIONAL = {
    "steps": [
        {"key": "dept", "approvers": {"relation": "department_head"}},
        {"key": "finance", "approvers": {"role": "finance"}, "when": "amount > 1000"},
        {"key": "gm", "approvers": {"role": "gm"}, "when": "amount > 5000"},
    ]
}


@pytest.mark.parametrize(
    ("amount", "steps"),
    [("1000.00", ["dept"]), ("1000.01", ["dept", "finance"]), ("5000.00", ["dept", "finance"]), ("5000.01", ["dept", "finance", "gm"])],
)
def test_conditional_steps_apply_only_when_their_condition_holds(flow, amount, steps):
    """Are steps with a `when` included exactly when their condition holds, and skipped ones named in history?"""
    f = flow(CONDITIONAL)
    out = f.submit(amount=amount)
    assert [s.key for s in f.rounds(out.record.id)[0].steps] == steps
    requested = [e for e in f.entries(out.record.id) if e.action == "approval_requested"]
    assert len(requested) == 1
    if len(steps) < 3:
        assert "steps not needed" in str(requested[0].message or "")
        assert "Gm" in str(requested[0].message)


def test_no_step_applies_runs_the_transition_at_once(flow):
    """When every step's condition is false, does the transition run at once without a request?"""
    f = flow({"steps": [{"key": "finance", "approvers": {"role": "finance"}, "when": "amount > 1000"}]})
    out = f.submit(amount="10.00")
    assert out.status == "approved" and out.request_id is None
    assert f.state(out.record.id) == "approved"
    assert f.rounds(out.record.id) == []
    assert f.actions(out.record.id) == ["create", "transition"]


# -- approver sources ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "requester", "values", "expected"),
    [
        ({"role": "finance"}, "alice", {}, {"carol", "dave", "fay"}),
        ({"users": ["dave", "otto"]}, "alice", {}, {"dave", "otto"}),
        ({"field": "owner"}, "alice", {"owner": "dave"}, {"dave"}),
        ({"field": "reviewers"}, "alice", {"reviewers": ["dave", "otto", "fay"]}, {"dave", "otto", "fay"}),
        ({"relation": "manager"}, "alice", {}, {"mia"}),
        ({"relation": "department_head"}, "alice", {}, {"bob"}),
        ({"relation": "department_head"}, "leo", {}, {"lena"}),
        ({"relation": "parent_department_head"}, "leo", {}, {"bob"}),
        ({"relation": "parent_department_head"}, "alice", {}, {"erin"}),
        ([{"role": "gm"}, {"users": ["otto"]}, {"field": "owner"}], "alice", {"owner": "fay"}, {"erin", "otto", "fay"}),
    ],
)
def test_approvers_come_from_each_kind_of_source(flow, source, requester, values, expected):
    """Does each approver source (role, users, user field single or many, manager, department heads, a list) give the right people?"""
    f = flow({"steps": [{"key": "check", "approvers": source, "mode": "all"}]})
    given = {k: ([f.ids[n] for n in v] if isinstance(v, list) else f.ids[v]) for k, v in values.items()}
    out = f.submit(by=requester, amount="1.00", **given)
    assert set(f.tasks(out.record.id, "check")) == expected
    assert all(status == "pending" for status in f.tasks(out.record.id, "check").values())
    for name in expected:
        assert f.waiting(name) == ["check"]


def test_inactive_users_are_not_approvers(flow, db, system):
    """Is a deactivated member of the approving role left out of the step?"""
    f = flow(FINANCE_ALL)
    db.run(lambda c: users.update_user(c, f.ids["fay"], display_name="Fay", email=None, is_active=False, is_admin=False, actor=system))
    out = f.submit(amount="1.00")
    assert set(f.tasks(out.record.id, "finance")) == {"carol", "dave"}


# -- the requester -------------------------------------------------------------------------------


def test_requester_is_excluded_by_default(flow):
    """self_approval false: is Carol left out of her own finance step, recorded, and refused if she tries?"""
    f = flow(FINANCE_ANY)
    out = f.submit(by="carol", amount="1.00")
    assert set(f.tasks(out.record.id, "finance")) == {"dave", "fay"}
    assert "self_excluded" in f.actions(out.record.id)
    before = f.snapshot(out.record.id)
    with pytest.raises(Forbidden, match="you cannot approve or reject your own request"):
        f.decide(out.request_id, "carol")
    assert f.snapshot(out.record.id) == before


def test_requester_may_approve_when_self_approval_is_true(flow):
    """self_approval true: does Carol get a task in her own request and may she approve it?"""
    f = flow({**FINANCE_ANY, "self_approval": True})
    out = f.submit(by="carol", amount="1.00")
    assert set(f.tasks(out.record.id, "finance")) == {"carol", "dave", "fay"}
    assert f.decide(out.request_id, "carol").status == "approved"
    assert f.state(out.record.id) == "approved"


def test_requester_who_is_the_only_approver_goes_to_the_superior(flow):
    """Bob heads R&D: is his own request sent up to Erin, with the escalation in history?"""
    f = flow({"steps": [{"key": "dept", "approvers": {"relation": "department_head"}}]})
    out = f.submit(by="bob", amount="1.00")
    views = f.task_views(out.record.id, "dept")
    assert (
        set(views) == {"erin"}
        and str(views["erin"].note) == "escalated: nobody was found for this step, so the requester's superior decides"
    )
    assert views["erin"].origin == "escalated"
    assert {"self_excluded", "escalated"} <= set(f.actions(out.record.id))


# -- nobody to approve ---------------------------------------------------------------------------


def test_if_nobody_falls_back_to_the_named_role(flow):
    """A step whose role has no members: does it go to the `if_nobody` role, noted as such?"""
    f = flow({"steps": [{"key": "check", "approvers": {"role": "vacant"}, "if_nobody": {"role": "backup"}}]})
    out = f.submit(amount="1.00")
    views = f.task_views(out.record.id, "check")
    assert set(views) == {"bea"} and views["bea"].origin == "fallback_role"
    assert str(views["bea"].note) == "nobody was found for this step; taken from the fallback role"
    escalated = [str(e.message) for e in f.entries(out.record.id) if e.action == "escalated"]
    assert escalated == ["step “Check”: no approver found; sent to the fallback role backup"]


@pytest.mark.parametrize(("requester", "expected"), [("alice", "bob"), ("leo", "lena"), ("grace", "erin"), ("bob", "erin")])
def test_default_escalation_goes_up_the_department_chain(flow, requester, expected):
    """A step with nobody and no `if_nobody`: does it go to the nearest department head above the requester (vacant heads skipped)?"""
    f = flow({"steps": [{"key": "check", "approvers": {"role": "vacant"}}]})
    out = f.submit(by=requester, amount="1.00")
    assert set(f.tasks(out.record.id, "check")) == {expected}
    escalated = [e for e in f.entries(out.record.id) if e.action == "escalated"]
    assert len(escalated) == 1 and "sent to the requester's superior" in str(escalated[0].message)


def test_empty_user_field_escalates(flow):
    """A step whose user field is empty: is it escalated like any step with nobody?"""
    f = flow({"steps": [{"key": "owner", "approvers": {"field": "owner"}}]})
    out = f.submit(amount="1.00")
    assert set(f.tasks(out.record.id, "owner")) == {"bob"}


@pytest.mark.parametrize(
    "step",
    [
        {"key": "check", "approvers": {"role": "vacant"}},
        {"key": "check", "approvers": {"role": "vacant"}, "if_nobody": {"role": "vacant2"}},
    ],
)
def test_nobody_at_all_refuses_the_request_and_creates_nothing(flow, step):
    """Otto has no department and the role is empty: is the request refused clearly with nothing written?"""
    f = flow({"steps": [step]})
    record_id = f.new("otto", amount="1.00")
    before = f.snapshot(record_id)
    with pytest.raises(
        TransitionRefused, match=r"nobody can approve step “Check”: no active user matches and there is no one to escalate to"
    ):
        f.request(record_id, "otto")
    assert f.snapshot(record_id) == before
    assert f.state(record_id) == "draft"


def test_later_step_with_nobody_refuses_the_request_up_front(flow):
    """A second step that can resolve to nobody: is the request refused at once rather than stuck after the first approval?"""
    f = flow(
        {
            "steps": [
                {"key": "finance", "approvers": {"role": "finance"}},
                {"key": "check", "approvers": {"role": "vacant"}, "if_nobody": {"role": "vacant2"}},
            ]
        }
    )
    record_id = f.new("alice", amount="1.00")
    before = f.snapshot(record_id)
    with pytest.raises(TransitionRefused, match=r"nobody can approve step “Check”"):
        f.request(record_id, "alice")
    assert f.snapshot(record_id) == before


# -- rejection -----------------------------------------------------------------------------------


def test_rejection_needs_a_comment(flow):
    """Is a rejection without a (non-blank) comment refused with nothing changed?"""
    f = flow(FINANCE_ANY)
    out = f.submit(amount="1.00")
    before = f.snapshot(out.record.id)
    for comment in (None, "", "   "):
        with pytest.raises(RecordInvalid) as info:
            f.decide(out.request_id, "dave", approve=False, comment=comment)
        assert {k: [str(m) for m in v] for k, v in info.value.errors.items()} == {"comment": ["a rejection needs a comment saying why"]}
    assert f.snapshot(out.record.id) == before
    assert f.tasks(out.record.id, "finance")["dave"] == "pending"


def test_rejection_without_reject_to_stays_where_it_came_from(flow):
    """No reject_to: does a rejection leave the record in its state, unwritten, and notify requester and earlier approvers?"""
    f = flow(TWO_STEPS)
    out = f.submit(amount="1.00")
    version = f.record(out.record.id).version
    f.decide(out.request_id, "bob")
    f.decide(out.request_id, "dave", approve=False, comment="not this quarter")
    record = f.record(out.record.id)
    assert (record.state, record.version) == ("draft", version)
    rejected = [e for e in f.entries(out.record.id) if e.action == "rejected"]
    assert [(str(e.message), e.comment, e.changes) for e in rejected] == [("step “Finance”", "not this quarter", [])]
    for who in ("alice", "bob"):
        assert f.notes(who).count("Rejected: Submit of “laptop”: not this quarter") == 1
    assert not any(m.startswith("Rejected") for m in f.notes("carol"))


def test_rejection_moves_to_reject_to(flow):
    """reject_to returned: does a rejection move the record there, and may it be submitted again from there?"""
    f = flow({**FINANCE_ANY, "reject_to": "returned"})
    out = f.submit(amount="1.00")
    f.decide(out.request_id, "dave", approve=False, comment="fix the title")
    assert f.state(out.record.id) == "returned"
    rejected = [(str(e.message or ""), e.comment, e.changes) for e in f.entries(out.record.id) if e.action == "rejected"]
    assert rejected == [
        ("step “Finance”", "fix the title", []),
        ("", "fix the title", [{"field": "state", "old": "draft", "new": "returned"}]),
    ]
    assert "transition" not in f.actions(out.record.id)
    again = f.request(out.record.id)
    assert again.status == "pending"
    f.decide(again.request_id, "carol")
    assert f.state(out.record.id) == "approved"


def test_new_request_after_rejection_is_a_new_round(flow):
    """After a rejection, is the next request round 2 with its own steps, routed on the new values, with round 1 kept?"""
    f = flow(CONDITIONAL)
    out = f.submit(amount="6000.00")
    f.decide(out.request_id, "bob")
    f.decide(out.request_id, "carol", approve=False, comment="too much")
    f.edit(out.record.id, amount="900.00")
    again = f.request(out.record.id)
    first, second = f.rounds(out.record.id)
    assert (first.request.round, first.request.status, [s.key for s in first.steps]) == (1, "rejected", ["dept", "finance", "gm"])
    assert (second.request.round, second.request.status, [s.key for s in second.steps]) == (2, "pending", ["dept"])
    assert second.request.snapshot["amount"] == "900.00" and first.request.snapshot["amount"] == "6000.00"
    assert f.tasks(out.record.id, "dept") == {"bob": "pending"}, "an approval of round 1 counted in round 2"
    assert all(t.status != "pending" for s in first.steps for t in s.tasks)
    with pytest.raises(approvals.ApprovalClosed, match="already decided: this request was rejected"):
        f.decide(out.request_id, "fay")
    f.decide(again.request_id, "bob")
    assert f.state(out.record.id) == "approved"
    assert f.actions(out.record.id).count("approval_requested") == 2


# -- withdraw ------------------------------------------------------------------------------------


def test_withdraw_by_the_requester_voids_tasks_and_tells_the_approvers(flow):
    """Does withdrawing end the round, void the tasks, notify each waiting approver once and log it?"""
    f = flow(FINANCE_ALL)
    out = f.submit(amount="1.00")
    f.decide(out.request_id, "dave")
    assert f.db.run(lambda c: approvals.withdraw(c, f.et, out.request_id, actor=f.actor("alice"))).status == "withdrawn"
    assert f.tasks(out.record.id, "finance") == {"carol": "voided", "dave": "approved", "fay": "voided"}
    again = f.db.run(lambda c: approvals.withdraw(c, f.et, out.request_id, actor=f.actor("alice")))
    assert again.duplicate
    for who in ("carol", "fay"):
        assert sum(m.startswith("Withdrawn:") for m in f.notes(who)) == 1
    assert f.actions(out.record.id).count("withdrawn") == 1
    assert f.state(out.record.id) == "draft"
    with pytest.raises(approvals.ApprovalClosed, match="already decided: this request was withdrawn"):
        f.decide(out.request_id, "carol")


def test_only_the_requester_may_withdraw_and_only_while_pending(flow):
    """Is withdrawal refused to an approver and to others, and after the request was decided?"""
    f = flow(FINANCE_ANY)
    out = f.submit(amount="1.00")
    before = f.snapshot(out.record.id)
    for who in ("dave", "grace"):
        with pytest.raises(Forbidden, match="only the requester can withdraw this request"):
            f.db.run(lambda c, w=who: approvals.withdraw(c, f.et, out.request_id, actor=f.actor(w)))
    assert f.snapshot(out.record.id) == before
    f.decide(out.request_id, "dave")
    before = f.snapshot(out.record.id)
    with pytest.raises(approvals.ApprovalClosed, match="already decided: this request was approved"):
        f.db.run(lambda c: approvals.withdraw(c, f.et, out.request_id, actor=f.actor("alice")))
    assert f.snapshot(out.record.id) == before and f.state(out.record.id) == "approved"


# -- de-duplication --------------------------------------------------------------------------------


def test_repeat_approver_is_auto_approved_with_a_note(flow):
    """Dave approves step 1 and is in step 2 (mode all): is his step-2 task auto-approved with a note while the others decide?"""
    f = flow(
        {
            "steps": [
                {"key": "first", "approvers": {"users": ["dave"]}},
                {"key": "second", "approvers": {"role": "finance"}, "mode": "all"},
            ]
        }
    )
    out = f.submit(amount="1.00")
    f.decide(out.request_id, "dave")
    views = f.task_views(out.record.id, "second")
    assert {n: v.status for n, v in views.items()} == {"carol": "pending", "dave": "auto_approved", "fay": "pending"}
    assert str(views["dave"].note) == "approved automatically: already approved step “First” in this round"
    auto = [e for e in f.entries(out.record.id) if e.action == "auto_approved"]
    assert len(auto) == 1 and auto[0].actor_id == f.ids["dave"]
    assert f.waiting("dave") == []
    f.decide(out.request_id, "carol")
    assert f.decide(out.request_id, "fay").status == "approved"


def test_repeat_sole_approver_completes_the_round_at_once(flow):
    """When step 2's only approver already approved step 1, does the single approval finish the round?"""
    f = flow({"steps": [{"key": "first", "approvers": {"users": ["dave"]}}, {"key": "second", "approvers": {"field": "owner"}}]})
    record_id = f.new("alice", amount="1.00", owner=f.ids["dave"])
    out = f.request(record_id)
    assert f.decide(out.request_id, "dave").status == "approved"
    assert f.tasks(record_id, "second") == {"dave": "auto_approved"}
    assert f.state(record_id) == "approved"


# -- send back -------------------------------------------------------------------------------------


def test_send_back_is_refused_unless_the_schema_allows_it(flow):
    """send_back not set: is sending back refused with nothing changed?"""
    f = flow(TWO_STEPS)
    out = f.submit(amount="1.00")
    f.decide(out.request_id, "bob")
    before = f.snapshot(out.record.id)
    with pytest.raises(Forbidden, match="does not allow sending back"):
        f.db.run(lambda c: approvals.send_back(c, f.et, out.request_id, "dept", actor=f.actor("dave"), comment="again"))
    assert f.snapshot(out.record.id) == before


def test_send_back_goes_only_to_an_earlier_step(flow):
    """send_back allowed: is it refused to the current step, an unknown step, without a comment, and by a non-approver?"""
    f = flow({**TWO_STEPS, "send_back": True})
    out = f.submit(amount="1.00")
    before = f.snapshot(out.record.id)
    with pytest.raises(RecordInvalid, match="“dept” is not an earlier step of this request"):
        f.db.run(lambda c: approvals.send_back(c, f.et, out.request_id, "dept", actor=f.actor("bob"), comment="x"))
    f.decide(out.request_id, "bob")
    before = f.snapshot(out.record.id)
    for target, comment in (("finance", "x"), ("nope", "x")):
        with pytest.raises(RecordInvalid, match="is not an earlier step of this request"):
            f.db.run(lambda c, t=target, m=comment: approvals.send_back(c, f.et, out.request_id, t, actor=f.actor("dave"), comment=m))
    with pytest.raises(RecordInvalid, match="say why you send it back"):
        f.db.run(lambda c: approvals.send_back(c, f.et, out.request_id, "dept", actor=f.actor("dave"), comment=" "))
    with pytest.raises(Forbidden, match="not a pending approver"):
        f.db.run(lambda c: approvals.send_back(c, f.et, out.request_id, "dept", actor=f.actor("bob"), comment="x"))
    assert f.snapshot(out.record.id) == before


def test_send_back_reopens_the_earlier_step_and_its_approval_no_longer_counts(flow):
    """回退: does the earlier step decide again (old approval voided, approver told again), then the flow continue?"""
    f = flow({**TWO_STEPS, "send_back": True})
    out = f.submit(amount="1.00")
    f.decide(out.request_id, "bob")
    asked = sum(m.startswith("Approval needed") for m in f.notes("bob"))
    assert (
        f.db.run(lambda c: approvals.send_back(c, f.et, out.request_id, "dept", actor=f.actor("dave"), comment="check the amount")).status
        == "pending"
    )
    assert f.waiting("bob") == ["dept"] and f.waiting("dave") == [] and f.waiting("carol") == []
    assert f.tasks(out.record.id, "dept") == {"bob": "pending"}
    assert set(f.tasks(out.record.id, "finance").values()) == {"voided"}
    sent = [e for e in f.entries(out.record.id) if e.action == "sent_back"]
    assert (
        len(sent) == 1
        and (str(sent[0].message), sent[0].comment) == ("back to Dept", "check the amount")
        and sent[0].actor_id == f.ids["dave"]
    )
    assert sum(m.startswith("Approval needed") for m in f.notes("bob")) == asked + 1, "the earlier approver was not told"
    f.decide(out.request_id, "bob")
    assert f.waiting("dave") == ["finance"]
    assert sum(m.startswith("Approval needed") for m in f.notes("dave")) == 2, "the later step was not asked again"
    f.db.run(lambda c: approvals.send_back(c, f.et, out.request_id, "dept", actor=f.actor("dave"), comment="and again"))
    assert sum(m.startswith("Approval needed") for m in f.notes("bob")) == asked + 2, "a second send back was not told"
    f.decide(out.request_id, "bob")
    assert f.decide(out.request_id, "dave").status == "approved"
    assert f.actions(out.record.id).count("transition") == 1
    assert f.actions(out.record.id).count("sent_back") == 2


# -- add approvers (加签) ---------------------------------------------------------------------------

ADD_FLOW = {"steps": [{"key": "finance", "approvers": {"users": ["dave"]}, "mode": "all"}], "add_approvers": True}


def test_add_approver_is_refused_unless_allowed(flow):
    """add_approvers not set: is adding someone refused with nothing changed?"""
    f = flow({"steps": [{"key": "finance", "approvers": {"users": ["dave"]}, "mode": "all"}]})
    out = f.submit(amount="1.00")
    before = f.snapshot(out.record.id)
    with pytest.raises(Forbidden, match="does not allow adding approvers"):
        f.db.run(lambda c: approvals.add_approver(c, f.et, out.request_id, f.ids["otto"], actor=f.actor("dave")))
    assert f.snapshot(out.record.id) == before


def test_added_approver_must_decide_in_mode_all(flow):
    """加签 in mode all: after Dave adds Otto and approves, does the step wait for Otto, who is notified?"""
    f = flow(ADD_FLOW)
    out = f.submit(amount="1.00")
    f.db.run(lambda c: approvals.add_approver(c, f.et, out.request_id, f.ids["otto"], actor=f.actor("dave"), comment="legal check"))
    assert f.waiting("otto") == ["finance"]
    assert sum(m.startswith("Approval needed") for m in f.notes("otto")) == 1
    assert f.decide(out.request_id, "dave").status == "pending"
    assert f.state(out.record.id) == "draft"
    assert f.decide(out.request_id, "otto").status == "approved"
    added = [e for e in f.entries(out.record.id) if e.action == "approver_added"]
    assert len(added) == 1 and added[0].actor_id == f.ids["dave"] and added[0].comment == "legal check"
    assert str(added[0].message) == "to Otto, at step “Finance”"
    assert str(f.task_views(out.record.id, "finance")["otto"].note) == "added by dave"
    assert f.task_views(out.record.id, "finance")["otto"].origin == "added"


def test_add_approver_refuses_the_requester_existing_approvers_and_outsiders(flow):
    """Is adding the requester, someone already in the step, or adding by a non-approver refused?"""
    f = flow(ADD_FLOW)
    out = f.submit(amount="1.00")
    before = f.snapshot(out.record.id)
    with pytest.raises(RecordInvalid, match="the requester cannot approve their own request"):
        f.db.run(lambda c: approvals.add_approver(c, f.et, out.request_id, f.ids["alice"], actor=f.actor("dave")))
    with pytest.raises(RecordInvalid, match="is already an approver of this step"):
        f.db.run(lambda c: approvals.add_approver(c, f.et, out.request_id, f.ids["dave"], actor=f.actor("dave")))
    with pytest.raises(Forbidden, match="not a pending approver"):
        f.db.run(lambda c: approvals.add_approver(c, f.et, out.request_id, f.ids["otto"], actor=f.actor("carol")))
    assert f.snapshot(out.record.id) == before


# -- delegate --------------------------------------------------------------------------------------


def test_delegate_is_refused_unless_allowed(flow):
    """delegate not set: is delegating refused with nothing changed?"""
    f = flow(FINANCE_ANY)
    out = f.submit(amount="1.00")
    before = f.snapshot(out.record.id)
    with pytest.raises(Forbidden, match="does not allow delegating"):
        f.db.run(lambda c: approvals.delegate(c, f.et, out.request_id, f.ids["otto"], actor=f.actor("dave")))
    assert f.snapshot(out.record.id) == before


def test_delegate_hands_the_decision_over(flow):
    """delegate allowed: does Otto take Dave's place (Dave can no longer decide) and does Otto's approval count?"""
    f = flow({"steps": [{"key": "finance", "approvers": {"users": ["dave", "fay"]}, "mode": "all"}], "delegate": True})
    out = f.submit(amount="1.00")
    f.db.run(lambda c: approvals.delegate(c, f.et, out.request_id, f.ids["otto"], actor=f.actor("dave"), comment="on leave"))
    assert f.tasks(out.record.id, "finance") == {"dave": "delegated", "fay": "pending", "otto": "pending"}
    assert f.waiting("dave") == [] and f.waiting("otto") == ["finance"]
    with pytest.raises(approvals.ApprovalClosed, match="this step no longer needs your decision"):
        f.decide(out.request_id, "dave")
    f.decide(out.request_id, "fay")
    assert f.decide(out.request_id, "otto").status == "approved"
    delegated = [e for e in f.entries(out.record.id) if e.action == "delegated"]
    assert len(delegated) == 1 and delegated[0].comment == "on leave" and str(delegated[0].message) == "to Otto, at step “Finance”"
    views = f.task_views(out.record.id, "finance")
    assert (str(views["dave"].note), str(views["otto"].note)) == ("handed to Otto", "delegated by dave")


# -- edits while pending ---------------------------------------------------------------------------


def _edit_refused(f: Flow, record_id: int, field: str, value: Any) -> bool:
    before = f.snapshot(record_id)
    try:
        f.edit(record_id, **{field: value})
    except RecordInvalid as exc:
        assert english_errors(exc.errors) == {field: ["cannot change while approval is pending (withdraw the request first)"]}
        assert f.snapshot(record_id) == before
        return True
    return False


def test_default_frozen_fields_are_required_fields_and_routing_fields(flow):
    """Default while_pending: are the transition's required fields and the `when` fields frozen, and others editable?"""
    f = flow({"steps": [{"key": "finance", "approvers": {"role": "finance"}, "when": "amount > 100"}]}, require=["reason"])
    out = f.submit(amount="500.00", reason="new hire")
    assert _edit_refused(f, out.record.id, "amount", "50.00")
    assert _edit_refused(f, out.record.id, "reason", "other")
    assert not _edit_refused(f, out.record.id, "note", "urgent")
    assert not _edit_refused(f, out.record.id, "title", "two laptops")
    assert f.record(out.record.id).values["amount"] == Decimal("500.00")


def test_explicit_frozen_list(flow):
    """while_pending.frozen [note]: is only note frozen (amount, though it routes, editable)?"""
    f = flow(
        {"steps": [{"key": "finance", "approvers": {"role": "finance"}, "when": "amount > 100"}], "while_pending": {"frozen": ["note"]}}
    )
    out = f.submit(amount="500.00")
    assert _edit_refused(f, out.record.id, "note", "x")
    assert not _edit_refused(f, out.record.id, "amount", "600.00")


def test_frozen_all(flow):
    """while_pending.frozen all: is every field frozen while pending, and editable again after the decision?"""
    f = flow({**FINANCE_ANY, "while_pending": {"frozen": "all"}})
    out = f.submit(amount="500.00")
    for field, value in (("note", "x"), ("title", "y"), ("amount", "1.00"), ("ok", True)):
        assert _edit_refused(f, out.record.id, field, value), field
    f.decide(out.request_id, "dave")
    assert not _edit_refused(f, out.record.id, "note", "x")


def test_on_edit_reset_starts_a_new_round_on_the_new_values(flow):
    """on_edit reset: does a frozen edit reset the round (old approvals void, approvers told), with the new values?"""
    f = flow(
        {
            "steps": [{"key": "first", "approvers": {"users": ["dave"]}}, {"key": "second", "approvers": {"users": ["carol"]}}],
            "while_pending": {"frozen": ["amount"], "on_edit": "reset"},
        }
    )
    out = f.submit(amount="500.00")
    f.decide(out.request_id, "dave")
    assert f.waiting("carol") == ["second"]
    f.edit(out.record.id, note="no reset for this")
    assert len(f.rounds(out.record.id)) == 1
    f.edit(out.record.id, amount="800.00")
    first, second = f.rounds(out.record.id)
    assert first.request.status == "reset" and second.request.status == "pending" and second.request.round == 2
    assert second.request.snapshot["amount"] == "800.00"
    assert f.tasks(out.record.id, "first") == {"dave": "pending"}, "Dave's approval of the old values still counts"
    assert f.waiting("carol") == []
    for who in ("dave", "carol"):
        assert sum("earlier approvals were reset" in m for m in f.notes(who)) == 1, who
    assert f.actions(out.record.id).count("approval_reset") == 1
    with pytest.raises(approvals.ApprovalClosed, match="already decided: this request was reset by an edit"):
        f.decide(out.request_id, "carol")
    f.decide(second.request.id, "dave")
    assert f.decide(second.request.id, "carol").status == "approved"
    assert f.state(out.record.id) == "approved"


def test_on_edit_refuse_is_the_default(flow):
    """on_edit not given: is a frozen edit refused rather than resetting the round?"""
    f = flow({**FINANCE_ANY, "while_pending": {"frozen": ["amount"]}})
    out = f.submit(amount="500.00")
    assert _edit_refused(f, out.record.id, "amount", "1.00")
    assert len(f.rounds(out.record.id)) == 1


# -- checks at completion ----------------------------------------------------------------------------


def test_guard_is_checked_again_at_the_last_approval(flow):
    """A guard that became false while pending: is the last approval refused with the guard's reason, changing nothing?"""
    f = flow(FINANCE_ANY, guard="ok", guard_message="tick OK first")
    record_id = f.new("alice", amount="1.00", ok=True)
    out = f.request(record_id)
    f.edit(record_id, ok=False)
    before = f.snapshot(record_id)
    with pytest.raises(TransitionRefused, match="tick OK first"):
        f.decide(out.request_id, "dave")
    assert f.snapshot(record_id) == before
    assert f.tasks(record_id, "finance")["dave"] == "pending" and f.state(record_id) == "draft"
    f.edit(record_id, ok=True)
    assert f.decide(out.request_id, "dave").status == "approved"


def test_required_fields_are_checked_again_at_the_last_approval(flow):
    """A required field emptied while pending (not frozen): is the last approval refused naming it, changing nothing?"""
    f = flow({**TWO_STEPS, "while_pending": {"frozen": ["amount"]}}, require=["reason"])
    out = f.submit(amount="1.00", reason="why not")
    f.decide(out.request_id, "bob")
    f.edit(out.record.id, reason=None)
    before = f.snapshot(out.record.id)
    with pytest.raises(TransitionRefused, match="fill in Reason") as info:
        f.decide(out.request_id, "dave")
    assert info.value.missing == ["reason"]
    assert f.snapshot(out.record.id) == before
    f.edit(out.record.id, reason="because")
    assert f.decide(out.request_id, "dave").status == "approved"


# -- overdue ---------------------------------------------------------------------------------------


def _overdue(f: Flow, now: dt.datetime) -> int:
    return f.db.run(lambda c: approvals.escalate_overdue(c, f.registry, now=now))


def test_overdue_step_notifies_once(flow):
    """due_hours 24, on_overdue notify: is nothing done before the due time, then approvers and requester told once?"""
    f = flow({"steps": [{"key": "finance", "approvers": {"users": ["dave", "fay"]}, "due_hours": 24}]})
    out = f.submit(amount="1.00", now=T0)
    assert f.rounds(out.record.id)[0].steps[0].due_at == T0 + dt.timedelta(hours=24)
    assert _overdue(f, T0 + dt.timedelta(hours=23)) == 0
    assert _overdue(f, T0 + dt.timedelta(hours=25)) == 1
    assert _overdue(f, T0 + dt.timedelta(hours=50)) == 0
    for who in ("dave", "fay", "alice"):
        assert sum(m.startswith("Overdue approval: Finance") for m in f.notes(who)) == 1, who
    assert f.actions(out.record.id).count("overdue") == 1
    assert set(f.tasks(out.record.id, "finance")) == {"dave", "fay"}


def test_overdue_step_escalates_to_the_escalation_role_once(flow, db, system):
    """on_overdue escalate: are the escalation role's active members added as approvers once, and may they decide?"""
    f = flow(
        {
            "steps": [
                {"key": "finance", "approvers": {"users": ["dave"]}, "due_hours": 8, "on_overdue": "escalate", "escalation_role": "boss"}
            ]
        }
    )
    out = f.submit(amount="1.00", now=T0)
    db.run(lambda c: users.update_user(c, f.ids["zoe"], display_name="Zoe", email=None, is_active=False, is_admin=False, actor=system))
    assert _overdue(f, T0 + dt.timedelta(hours=9)) == 1
    views = f.task_views(out.record.id, "finance")
    assert {n: v.status for n, v in views.items()} == {"dave": "pending", "zed": "pending"}
    assert views["zed"].origin == "escalation"
    assert _overdue(f, T0 + dt.timedelta(hours=30)) == 0
    assert set(f.tasks(out.record.id, "finance")) == {"dave", "zed"}
    assert sum(m.startswith("Overdue approval") for m in f.notes("zed")) == 1
    assert f.decide(out.request_id, "zed").status == "approved"
    assert f.tasks(out.record.id, "finance") == {"dave": "voided", "zed": "approved"}


def test_decided_steps_are_never_overdue(flow):
    """Is a request that was decided (or withdrawn) before its due time left alone by the overdue sweep?"""
    f = flow({"steps": [{"key": "finance", "approvers": {"users": ["dave"]}, "due_hours": 1}]})
    decided = f.submit(amount="1.00", now=T0)
    f.decide(decided.request_id, "dave")
    withdrawn = f.submit(amount="1.00", now=T0)
    f.db.run(lambda c: approvals.withdraw(c, f.et, withdrawn.request_id, actor=f.actor("alice")))
    assert _overdue(f, T0 + dt.timedelta(hours=5)) == 0


# -- notifications and history ------------------------------------------------------------------------


def test_each_cause_notifies_each_person_exactly_once(flow):
    """Across a two-step round with repeated clicks, does every cause notify each recipient exactly once?"""
    f = flow(TWO_STEPS)
    out = f.submit(amount="1.00")
    f.decide(out.request_id, "bob")
    assert f.decide(out.request_id, "bob").duplicate
    f.decide(out.request_id, "dave")
    assert f.decide(out.request_id, "dave").duplicate
    counts = {who: Counter(m.split(":")[0] for m in f.notes(who)) for who in ("alice", "bob", "carol", "dave", "fay")}
    assert counts["alice"] == Counter({"Approved": 1})
    assert counts["bob"] == Counter({"Approval needed": 1})
    for who in ("carol", "dave", "fay"):
        assert counts[who] == Counter({"Approval needed": 1}), who


def test_history_records_every_approval_event(flow):
    """Does the record's history hold each kind of approval event, with who did it?"""
    f = flow(
        {
            "steps": [
                {"key": "dept", "approvers": {"relation": "department_head"}},
                {"key": "finance", "approvers": {"users": ["dave", "erin"]}, "mode": "all", "due_hours": 1},
            ],
            "send_back": True,
            "add_approvers": True,
            "delegate": True,
            "while_pending": {"frozen": ["amount"], "on_edit": "reset"},
        }
    )
    record_id = f.new("grace", amount="1.00")  # Marketing has no head: escalated to Erin
    out = f.request(record_id, "grace", now=T0)
    f.edit(record_id, "grace", amount="2.00")  # approval_reset
    rid = f.rounds(record_id)[-1].request.id
    f.decide(rid, "erin")
    f.db.run(lambda c: approvals.send_back(c, f.et, rid, "dept", actor=f.actor("dave"), comment="look again"))
    f.decide(rid, "erin")
    f.db.run(lambda c: approvals.add_approver(c, f.et, rid, f.ids["otto"], actor=f.actor("dave")))
    f.db.run(lambda c: approvals.delegate(c, f.et, rid, f.ids["fay"], actor=f.actor("otto")))
    _overdue(f, dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))
    f.decide(rid, "dave")
    f.decide(rid, "fay", approve=False, comment="no")  # rejected
    again = f.request(record_id, "grace")
    f.db.run(lambda c: approvals.withdraw(c, f.et, again.request_id, actor=f.actor("grace")))
    final = f.request(record_id, "grace")
    f.decide(final.request_id, "erin")
    f.decide(final.request_id, "dave")
    actions = f.actions(record_id)
    expected = {
        "approval_requested", "approved", "rejected", "auto_approved", "escalated", "withdrawn", "sent_back",
        "approver_added", "delegated", "approval_reset", "overdue", "transition",
    }  # fmt: skip
    assert expected <= set(actions), expected - set(actions)
    assert actions.count("transition") == 1 and actions[-1] == "transition"
    assert f.state(record_id) == "approved"
    by = {e.action: e.actor_id for e in f.entries(record_id)}
    assert by["withdrawn"] == f.ids["grace"] and by["rejected"] == f.ids["fay"] and by["delegated"] == f.ids["otto"]
    assert out.request_id != rid
