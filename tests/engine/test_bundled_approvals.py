"""The approval flows of the bundled apps (schemas/*.json), end to end through the real
services: project initiation (PMO, then the project's sponsor), change requests (change
board countersign, plus a sponsor for major changes), acceptance (the customer
representative), major incident closure, production changes (operations manager, plus a
CAB countersign when the risk is high) and purchase requests routed by their total."""

from __future__ import annotations

from typing import Any

import pytest

from flowdeck.engine import approvals, history, records, users
from flowdeck.engine.db import Database
from flowdeck.engine.errors import Forbidden, RecordInvalid, TransitionRefused
from tests.support.bundled_world import World
from tests.support.bundled_world import change_request as _change_request
from tests.support.bundled_world import day as _day
from tests.support.bundled_world import new_project as _project


@pytest.fixture
def world(bundled_db: Database) -> World:
    return World(bundled_db)


# -- project: initiation ---------------------------------------------------------------------


def test_initiation_goes_to_the_pmo_then_to_the_projects_own_sponsor(world):
    """Does 立项 wait for the PMO (any one), then for the sponsor named on the project only?"""
    pid = _project(world, sponsor="sponsor2")
    asked = world.ask("project", "project", pid, "approve", "pm")
    assert asked.status == "pending"
    assert world.steps("project", "project", pid) == ["pmo", "sponsor"]
    assert world.waiting("pmo1") == world.waiting("pmo2") == [("project", pid, "pmo")]
    assert world.waiting("sponsor2") == []
    world.decide("project", "project", asked.request_id, "pmo2", comment="预算合理")
    assert world.state("project", "project", pid) == "initiation_review"
    assert world.waiting("pmo1") == []
    assert world.waiting("sponsor2") == [("project", pid, "sponsor")]
    assert world.waiting("sponsor1") == [], "only the project's sponsor decides, not every holder of the sponsor role"
    with pytest.raises(Forbidden, match="not an approver"):
        world.decide("project", "project", asked.request_id, "sponsor1")
    done = world.decide("project", "project", asked.request_id, "sponsor2")
    assert done.status == "approved"
    assert world.state("project", "project", pid) == "kickoff"
    entries = world.db.read(lambda c: history.list_entries(c, "project", "project", pid))
    decided = [(e.action, e.actor_id) for e in entries if e.action in ("approved", "transition")]
    assert decided == [("approved", world.ids["pmo2"]), ("approved", world.ids["sponsor2"]), ("transition", world.ids["sponsor2"])]


def test_initiation_cannot_be_approved_directly(world):
    """Is the approval transition refused as a plain transition, even for the PMO?"""
    pid = _project(world)
    with pytest.raises(TransitionRefused, match="needs approval"):
        world.move("project", "project", pid, "approve", "pmo1")
    assert world.state("project", "project", pid) == "initiation_review"


def test_a_pmo_requester_cannot_approve_their_own_initiation(world):
    """When a PMO member asks for approval, do the other PMO members decide, and is the requester refused?"""
    pid = _project(world, by="pmo1")
    asked = world.ask("project", "project", pid, "approve", "pmo1")
    assert world.waiting("pmo1") == []
    assert world.waiting("pmo2") == [("project", pid, "pmo")]
    with pytest.raises(Forbidden, match="your own request"):
        world.decide("project", "project", asked.request_id, "pmo1")
    assert world.state("project", "project", pid) == "initiation_review"
    said = [str(e.message or "") for e in world.db.read(lambda c: history.list_entries(c, "project", "project", pid))]
    assert any("cannot approve their own request" in s for s in said)


def test_the_only_pmo_member_asking_is_escalated_to_their_superior(world):
    """With no other PMO member, does the PMO step go up to the head of the requester's department?"""
    world.db.run(lambda c: users.revoke_role(c, world.ids["pmo2"], "project", "pmo"))
    pid = _project(world, by="pmo1")
    world.ask("project", "project", pid, "approve", "pmo1")
    assert world.waiting("pmo1") == []
    assert world.waiting("gm") == [("project", pid, "pmo")]


def test_a_sponsor_rejection_needs_a_comment_and_ends_in_rejected(world):
    """Is a rejection without comment refused, and does one with a comment reject the project (resubmittable)?"""
    pid = _project(world)
    asked = world.ask("project", "project", pid, "approve", "pm")
    world.decide("project", "project", asked.request_id, "pmo1")
    with pytest.raises(RecordInvalid) as info:
        world.decide("project", "project", asked.request_id, "sponsor2", approve=False)
    assert "comment" in info.value.errors
    assert world.state("project", "project", pid) == "initiation_review"
    result = world.decide("project", "project", asked.request_id, "sponsor2", approve=False, comment="ROI 不明确")
    assert result.status == "rejected"
    assert world.state("project", "project", pid) == "rejected"
    assert world.move("project", "project", pid, "resubmit", "pm", comment="已补充 ROI 分析") == "initiation_review"
    again = world.ask("project", "project", pid, "approve", "pm")
    assert again.status == "pending"
    assert [r.request.round for r in world.rounds("project", "project", pid)] == [2, 1]


def test_the_charter_is_frozen_while_initiation_is_pending(world):
    """Can the budget or the sponsor not change under a pending initiation approval, while other fields can?"""
    pid = _project(world)
    world.ask("project", "project", pid, "approve", "pm")
    with pytest.raises(RecordInvalid) as info:
        world.edit("project", "project", pid, "pm", budget="900000", sponsor=world.ids["sponsor1"])
    assert {"budget", "sponsor"} <= set(info.value.errors)
    world.edit("project", "project", pid, "pm", department="IT")
    assert world.waiting("pmo1") == [("project", pid, "pmo")]


# -- project: acceptance -----------------------------------------------------------------------


def test_closing_a_high_risk_is_signed_off_by_the_projects_sponsor(world):
    """Does a risk show its project's sponsor (a live lookup), and does closing a high risk
    wait for that sponsor, while a low one closes at once?"""
    pid = _project(world, sponsor="sponsor2")
    base = {"title": "Vendor late", "project": pid, "category": "schedule", "owner": world.ids["pm"]}
    high = world.create("project", "risk", "pm", {**base, "probability": 5, "impact": 4, "response_plan": "Weekly vendor calls."})
    low = world.create("project", "risk", "pm", {**base, "probability": 1, "impact": 2})
    shown = world.db.read(lambda c: records.fetch_record(c, world.et("project", "risk"), high)).values
    assert shown["sponsor"] == world.ids["sponsor2"] and shown["project_manager"] == world.ids["pm"]
    et = world.et("project", "risk")

    def close(record_id: int) -> approvals.Outcome:
        return world.db.run(
            lambda c: approvals.request_approval(c, et, record_id, "close", actor=world.actors["pm"], comment="Vendor delivered.")
        )

    asked = close(high)
    assert asked.status == "pending" and world.waiting("sponsor2") == [("risk", high, "sponsor")]
    world.decide("project", "risk", asked.request_id, "sponsor2")
    assert world.state("project", "risk", high) == "closed"
    assert close(low).status != "pending"
    assert world.state("project", "risk", low) == "closed"


def _project_in_acceptance(world: World, **extra: Any) -> int:
    pid = _project(world, **extra)
    asked = world.ask("project", "project", pid, "approve", "pm")
    world.decide("project", "project", asked.request_id, "pmo1")
    world.decide("project", "project", asked.request_id, "sponsor2")
    world.move("project", "project", pid, "hold_kickoff", "pm", kickoff_date=_day(1), members=[world.ids["board1"]])
    world.move("project", "project", pid, "baseline", "pm", scope="Three warehouses.")
    world.edit("project", "project", pid, "pm", percent_complete=100)
    assert world.move("project", "project", pid, "submit_acceptance", "pm") == "acceptance"
    return pid


def test_acceptance_is_signed_by_the_customer_representative(world):
    """Does 验收 wait for the customer representative named on the project, and move on when they sign?"""
    pid = _project_in_acceptance(world, customer_rep=world.ids["customer"])
    asked = world.ask("project", "project", pid, "accept", "pm", acceptance_date=_day(80), actual_end=_day(78))
    assert world.steps("project", "project", pid) == ["customer"]
    assert world.waiting("customer") == [("project", pid, "customer")]
    assert world.waiting("sponsor2") == [] and world.waiting("pmo1") == []
    with pytest.raises(Forbidden):
        world.decide("project", "project", asked.request_id, "sponsor2")
    assert world.decide("project", "project", asked.request_id, "customer", comment="验收通过").status == "approved"
    assert world.state("project", "project", pid) == "retrospective"


def test_a_failed_acceptance_returns_the_project_to_execution(world):
    """Does the customer representative's rejection send the project back to execution?"""
    pid = _project_in_acceptance(world, customer_rep=world.ids["customer"])
    asked = world.ask("project", "project", pid, "accept", "pm", acceptance_date=_day(80), actual_end=_day(78))
    world.decide("project", "project", asked.request_id, "customer", approve=False, comment="7 楼漫游仍掉线")
    assert world.state("project", "project", pid) == "execution"


def test_acceptance_needs_a_customer_representative(world):
    """Is asking for acceptance refused while the project names no customer representative?"""
    pid = _project_in_acceptance(world)
    with pytest.raises(TransitionRefused) as info:
        world.ask("project", "project", pid, "accept", "pm", acceptance_date=_day(80), actual_end=_day(78))
    assert "customer_rep" in info.value.missing
    assert world.rounds("project", "project", pid)[0].request.transition == "approve"


# -- project: change requests ----------------------------------------------------------------------


def test_the_change_board_countersign_needs_every_member(world):
    """会签: does a change request stay under review until all three board members approve?"""
    crid = _change_request(world, _project(world))
    asked = world.ask("project", "change_request", crid, "approve", "pm")
    assert world.steps("project", "change_request", crid) == ["board"]
    for name in ("board1", "board2", "board3"):
        assert world.waiting(name) == [("change_request", crid, "board")]
    assert world.decide("project", "change_request", asked.request_id, "board1").status == "pending"
    assert world.decide("project", "change_request", asked.request_id, "board3").status == "pending"
    assert world.state("project", "change_request", crid) == "under_review"
    assert world.waiting("board2") == [("change_request", crid, "board")]
    assert world.decide("project", "change_request", asked.request_id, "board2").status == "approved"
    assert world.state("project", "change_request", crid) == "approved"


def test_one_board_rejection_sends_the_change_back_to_draft(world):
    """Does one rejection end the countersign, void the other tasks and return the change to its requester?"""
    crid = _change_request(world, _project(world))
    asked = world.ask("project", "change_request", crid, "approve", "pm")
    world.decide("project", "change_request", asked.request_id, "board1")
    world.decide("project", "change_request", asked.request_id, "board2", approve=False, comment="请补充回退方案")
    assert world.state("project", "change_request", crid) == "draft"
    assert world.waiting("board3") == []
    board = world.rounds("project", "change_request", crid)[0].steps[0]
    assert sorted(t.status for t in board.tasks) == ["approved", "rejected", "voided"]


def test_a_major_change_needs_a_sponsor_after_the_board(world):
    """Does a change over ¥50,000 add the sponsor step after the countersign?"""
    crid = _change_request(world, _project(world), cost_delta="60000")
    asked = world.ask("project", "change_request", crid, "approve", "pm")
    assert world.steps("project", "change_request", crid) == ["board", "sponsor"]
    for name in ("board1", "board2", "board3"):
        world.decide("project", "change_request", asked.request_id, name)
    assert world.state("project", "change_request", crid) == "under_review"
    assert world.waiting("sponsor1") == world.waiting("sponsor2") == [("change_request", crid, "sponsor")]
    assert world.decide("project", "change_request", asked.request_id, "sponsor1").status == "approved"
    assert world.state("project", "change_request", crid) == "approved"


# -- operations: incidents ---------------------------------------------------------------------------

CLOSE = {"root_cause_category": "hardware", "root_cause": "Faulty optical module.", "corrective_actions": "Replaced; monitored."}


def _resolved_incident(world: World, severity: str) -> int:
    values = {
        "title": "Core switch flapping",
        "severity": severity,
        "impact": "company",
        "services": ["network"],
        "started_at": "2026-11-20T09:00:00+08:00",
    }
    iid = world.create("operations", "incident", "engineer", values)
    world.move(
        "operations", "incident", iid, "acknowledge", "engineer", commander=world.ids["engineer"], detected_at="2026-11-20T09:05:00+08:00"
    )
    assert world.move("operations", "incident", iid, "resolve", "engineer", resolved_at="2026-11-20T10:00:00+08:00") == "resolved"
    return iid


@pytest.mark.parametrize("severity", ["sev1", "sev2"])
def test_closing_a_major_incident_needs_the_operations_manager(world, severity):
    """Does a sev1/sev2 closure wait for the operations manager, with the review frozen meanwhile?"""
    iid = _resolved_incident(world, severity)
    asked = world.ask("operations", "incident", iid, "close", "engineer", **CLOSE)
    assert asked.status == "pending"
    assert world.waiting("opsmgr") == [("incident", iid, "ops_manager")]
    with pytest.raises(RecordInvalid) as info:
        world.edit("operations", "incident", iid, "engineer", severity="sev3")
    assert "severity" in info.value.errors
    assert world.decide("operations", "incident", asked.request_id, "opsmgr").status == "approved"
    assert world.state("operations", "incident", iid) == "closed"


@pytest.mark.parametrize("severity", ["sev3", "sev4"])
def test_closing_a_minor_incident_needs_no_approval(world, severity):
    """Does a sev3/sev4 closure happen at once, with no request left pending?"""
    iid = _resolved_incident(world, severity)
    asked = world.ask("operations", "incident", iid, "close", "engineer", **CLOSE)
    assert asked.status == "approved" and asked.request_id is None
    assert world.state("operations", "incident", iid) == "closed"
    assert world.waiting("opsmgr") == []


# -- operations: production changes -------------------------------------------------------------------


def _ops_change(world: World, risk: str) -> int:
    values = {
        "title": "Database failover drill",
        "services": ["database"],
        "risk_level": risk,
        "description": "Planned failover.",
        "implementer": world.ids["engineer"],
        "plan": "Switch at 22:00.",
        "rollback_plan": "Switch back.",
        "window_start": "2026-12-01T22:00:00+08:00",
        "window_end": "2026-12-01T23:30:00+08:00",
    }
    return world.create("operations", "ops_change", "engineer", values)


@pytest.mark.parametrize("risk", ["low", "medium"])
def test_a_change_below_high_risk_needs_only_the_operations_manager(world, risk):
    """Is a low or medium risk change scheduled on the operations manager's approval alone?"""
    cid = _ops_change(world, risk)
    asked = world.ask("operations", "ops_change", cid, "schedule", "engineer")
    assert world.steps("operations", "ops_change", cid) == ["ops_manager"]
    assert world.waiting("cab1") == []
    assert world.decide("operations", "ops_change", asked.request_id, "opsmgr").status == "approved"
    assert world.state("operations", "ops_change", cid) == "scheduled"


def test_a_high_risk_change_needs_the_whole_cab_after_the_operations_manager(world):
    """Does a high-risk change wait for the operations manager, then for every CAB member?"""
    cid = _ops_change(world, "high")
    asked = world.ask("operations", "ops_change", cid, "schedule", "engineer")
    assert world.steps("operations", "ops_change", cid) == ["ops_manager", "cab"]
    world.decide("operations", "ops_change", asked.request_id, "opsmgr")
    assert world.waiting("cab1") == world.waiting("cab2") == [("ops_change", cid, "cab")]
    world.decide("operations", "ops_change", asked.request_id, "cab2")
    assert world.state("operations", "ops_change", cid) == "draft"
    world.decide("operations", "ops_change", asked.request_id, "cab1")
    assert world.state("operations", "ops_change", cid) == "scheduled"


def test_editing_a_pending_change_plan_restarts_its_approval(world):
    """on_edit reset: does changing the rollback plan while pending void the approvals given and start a new round?"""
    cid = _ops_change(world, "high")
    asked = world.ask("operations", "ops_change", cid, "schedule", "engineer")
    world.decide("operations", "ops_change", asked.request_id, "opsmgr")
    world.edit("operations", "ops_change", cid, "engineer", rollback_plan="Switch back; restore from the 21:00 snapshot.")
    newest, first = world.rounds("operations", "ops_change", cid)
    assert first.request.status == "reset" and newest.request.status == "pending"
    assert world.waiting("opsmgr") == [("ops_change", cid, "ops_manager")]
    assert world.waiting("cab1") == []


def test_a_change_window_must_end_after_it_starts(world):
    """Is asking for approval refused when the window ends before it starts?"""
    cid = _ops_change(world, "low")
    with pytest.raises(TransitionRefused, match="window"):
        world.ask("operations", "ops_change", cid, "schedule", "engineer", window_end="2026-12-01T21:00:00+08:00")


# -- operations: purchase requests -------------------------------------------------------------------


def _purchase(world: World, by: str, rows: list[tuple[str, str]]) -> int:
    items = [{"item": f"item {n}", "quantity": quantity, "unit_price": price} for n, (quantity, price) in enumerate(rows)]
    return world.create("operations", "purchase_request", by, {"title": "Servers", "items": items})


@pytest.mark.parametrize(
    ("rows", "total", "route"),
    [
        ([("1", "10000.00")], "10000.00", ["department_head"]),
        ([("1", "10000.01")], "10000.01", ["department_head", "finance"]),
        ([("3", "3333.33"), ("1", "0.01")], "10000.00", ["department_head"]),
        ([("3", "3333.34")], "10000.02", ["department_head", "finance"]),
        ([("2", "50000.00")], "100000.00", ["department_head", "finance"]),
        ([("2", "50000.00"), ("1", "0.01")], "100000.01", ["department_head", "finance", "general_manager"]),
        ([("0.5", "200000.01")], "100000.01", ["department_head", "finance", "general_manager"]),
    ],
)
def test_purchase_thresholds_route_exactly_to_the_cent(world, rows, total, route):
    """Do totals of 10,000.00 / 10,000.01 and 100,000.00 / 100,000.01 pick exactly the expected steps?"""
    prid = _purchase(world, "staff", rows)
    assert str(world.db.read(lambda c: records.fetch_record(c, world.et("operations", "purchase_request"), prid)).values["total"]) == total
    world.ask("operations", "purchase_request", prid, "submit", "staff")
    assert world.steps("operations", "purchase_request", prid) == route


def test_a_large_purchase_walks_every_level_to_approved(world):
    """Does a ¥150,000 request go department head -> finance -> general manager, then to approved?"""
    prid = _purchase(world, "staff", [("3", "50000.00")])
    asked = world.ask("operations", "purchase_request", prid, "submit", "staff")
    assert world.waiting("head") == [("purchase_request", prid, "department_head")]
    assert world.waiting("finance") == [] and world.waiting("gm") == []
    world.decide("operations", "purchase_request", asked.request_id, "head")
    assert world.waiting("finance") == [("purchase_request", prid, "finance")]
    world.decide("operations", "purchase_request", asked.request_id, "finance")
    assert world.waiting("gm") == [("purchase_request", prid, "general_manager")]
    assert world.state("operations", "purchase_request", prid) == "draft"
    assert world.decide("operations", "purchase_request", asked.request_id, "gm").status == "approved"
    assert world.state("operations", "purchase_request", prid) == "approved"
    world.move("operations", "purchase_request", prid, "order", "finance", order_no="PO-1", ordered_on=_day(0))
    assert world.move("operations", "purchase_request", prid, "receive", "staff", received_on=_day(5)) == "received"


def test_a_rejected_purchase_returns_to_draft_and_a_resubmission_routes_again(world):
    """Does a finance rejection (with its comment) return the request to draft, and the resubmission start a new round on the new total?"""
    prid = _purchase(world, "staff", [("8", "1600.00")])
    asked = world.ask("operations", "purchase_request", prid, "submit", "staff")
    world.decide("operations", "purchase_request", asked.request_id, "head")
    with pytest.raises(RecordInvalid):
        world.decide("operations", "purchase_request", asked.request_id, "finance", approve=False, comment="  ")
    world.decide("operations", "purchase_request", asked.request_id, "finance", approve=False, comment="请补充三家比价")
    assert world.state("operations", "purchase_request", prid) == "draft"
    entries = world.db.read(lambda c: history.list_entries(c, "operations", "purchase_request", prid))
    assert ("rejected", "step “Finance review”", "请补充三家比价") in [(e.action, str(e.message or ""), e.comment) for e in entries]
    world.edit("operations", "purchase_request", prid, "staff", items=[{"item": "DIMM", "quantity": "6", "unit_price": "1600.00"}])
    again = world.ask("operations", "purchase_request", prid, "submit", "staff")
    assert world.steps("operations", "purchase_request", prid) == ["department_head"]
    assert [r.request.round for r in world.rounds("operations", "purchase_request", prid)] == [2, 1]
    assert world.decide("operations", "purchase_request", again.request_id, "head").status == "approved"
    assert world.state("operations", "purchase_request", prid) == "approved"


def test_items_are_frozen_while_a_purchase_is_pending(world):
    """Can the line items (and so the total) not change while approval is pending?"""
    prid = _purchase(world, "staff", [("1", "20000.00")])
    world.ask("operations", "purchase_request", prid, "submit", "staff")
    with pytest.raises(RecordInvalid) as info:
        world.edit("operations", "purchase_request", prid, "staff", items=[{"item": "x", "quantity": "1", "unit_price": "9000.00"}])
    assert "items" in info.value.errors


def test_a_department_head_purchase_goes_to_the_head_above(world):
    """When the department head asks, does the first step go to the head of the parent department?"""
    prid = _purchase(world, "head", [("1", "500.00")])
    asked = world.ask("operations", "purchase_request", prid, "submit", "head")
    assert world.waiting("head") == []
    assert world.waiting("gm") == [("purchase_request", prid, "department_head")]
    assert world.decide("operations", "purchase_request", asked.request_id, "gm").status == "approved"


def test_a_finance_requester_is_not_their_own_finance_step(world):
    """Is a finance member's own request over ¥10,000 reviewed by someone else (their superior) at the finance step?"""
    prid = _purchase(world, "finance", [("1", "12000.00")])
    asked = world.ask("operations", "purchase_request", prid, "submit", "finance")
    assert world.waiting("gm") == [("purchase_request", prid, "department_head")]
    world.decide("operations", "purchase_request", asked.request_id, "gm")
    assert world.waiting("finance") == []
    view = world.rounds("operations", "purchase_request", prid)[0].steps[1]
    assert view.key == "finance" and [(t.approver_id, t.status) for t in view.tasks] == [(world.ids["gm"], "auto_approved")]
    assert world.state("operations", "purchase_request", prid) == "approved"
