"""Bad approval blocks are refused when the document is loaded, each problem named by its
JSON path in plain words; a good block loads into the model with its defaults."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from flowdeck.engine.schema.loader import check_document, load_app

T = "entities.request.workflow.transitions[0].approval"
S0 = f"{T}.steps[0]"

BASE: dict[str, Any] = {
    "key": "buy",
    "label": "Buy",
    "roles": {"staff": {}, "finance": {}, "boss": {}},
    "entities": {
        "request": {
            "fields": {
                "title": {"type": "text"},
                "owner": {"type": "user"},
                "watchers": {"type": "user", "many": True},
                "amount": {"type": "money"},
                "reason": {"type": "text"},
            },
            "workflow": {
                "states": {"draft": {"category": "todo"}, "returned": {"category": "todo"}, "done": {"category": "done"}},
                "transitions": [
                    {
                        "key": "submit",
                        "from": ["draft", "returned"],
                        "to": "done",
                        "approval": {"steps": [{"key": "boss", "approvers": {"role": "boss"}}]},
                    }
                ],
            },
        }
    },
}


def doc(steps: list[dict[str, Any]] | dict[str, Any] | None = None, **approval: Any) -> dict[str, Any]:
    """BASE with the approval's steps replaced (a dict is one step) and other keys added."""
    document = copy.deepcopy(BASE)
    block = document["entities"]["request"]["workflow"]["transitions"][0]["approval"]
    if steps is not None:
        block["steps"] = steps if isinstance(steps, list) else [steps]
    block.update(approval)
    return document


def problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.path, str(p.message)) for p in check_document(document)]


def step(**keys: Any) -> dict[str, Any]:
    return {"key": "check", "approvers": {"role": "boss"}, **keys}


ROLES = "(roles: staff, finance, boss)"

CASES: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    "unknown role in approvers": (
        doc(step(approvers={"role": "bos"})),
        [(f"{S0}.approvers.role", f"unknown role “bos” (did you mean “boss”?) {ROLES}")],
    ),
    "unknown role in a list of approvers": (
        doc(step(approvers=[{"role": "boss"}, {"role": "cfo"}])),
        [(f"{S0}.approvers[1].role", f"unknown role “cfo” {ROLES}")],
    ),
    "unknown role in if_nobody": (
        doc(step(if_nobody={"role": "ceo"})),
        [(f"{S0}.if_nobody.role", f"unknown role “ceo” {ROLES}")],
    ),
    "unknown escalation_role": (
        doc(step(due_hours=4, on_overdue="escalate", escalation_role="finanse")),
        [(f"{S0}.escalation_role", f"unknown role “finanse” (did you mean “finance”?) {ROLES}")],
    ),
    "field that is not a user field": (
        doc(step(approvers={"field": "amount"})),
        [(f"{S0}.approvers.field", "“amount” is a money field; approvers come from a user field")],
    ),
    "unknown field": (
        doc(step(approvers=[{"role": "boss"}, {"field": "ownr"}])),
        [(f"{S0}.approvers[1].field", "unknown field “ownr” (did you mean “owner”?)")],
    ),
    "quorum without mode quorum": (
        doc(step(mode="all", quorum=2)),
        [(f"{S0}.quorum", "applies only with mode “quorum” (mode is “all”)")],
    ),
    "mode quorum without quorum": (
        doc(step(mode="quorum")),
        [(S0, "mode “quorum” needs a “quorum” number")],
    ),
    "quorum larger than the listed users": (
        doc(step(approvers={"users": ["ann", "bob"]}, quorum=3)),
        [(f"{S0}.quorum", "is larger than the group: 3 approvals needed, 2 approvers listed")],
    ),
    "quorum larger than users listed in several sources (counted once each)": (
        doc(step(approvers=[{"users": ["ann", "bob"]}, {"users": ["bob"]}], quorum=3)),
        [(f"{S0}.quorum", "is larger than the group: 3 approvals needed, 2 approvers listed")],
    ),
    "reject_to unknown state": (
        doc(reject_to="drafts"),
        [(f"{T}.reject_to", "unknown state “drafts” (did you mean “draft”?) (states: draft, returned, done)")],
    ),
    "reject_to the transition's own target": (
        doc(reject_to="done"),
        [(f"{T}.reject_to", "“done” is where the transition goes: a rejection would do what approval does")],
    ),
    "duplicate step keys": (
        doc([step(key="head"), step(key="money"), step(key="head")]),
        [(f"{T}.steps[2].key", "step “head” is already defined at steps[0]")],
    ),
    "frozen naming unknown fields": (
        doc(while_pending={"frozen": ["title", "amont", "nope"]}),
        [
            (f"{T}.while_pending.frozen[1]", "unknown field “amont” (did you mean “amount”?)"),
            (f"{T}.while_pending.frozen[2]", "unknown field “nope”"),
        ],
    ),
    "on_overdue escalate without escalation_role": (
        doc(step(due_hours=4, on_overdue="escalate")),
        [(f"{S0}.on_overdue", "“escalate” needs an “escalation_role” whose members are added as approvers")],
    ),
    "on_overdue without due_hours": (
        doc(step(on_overdue="notify")),
        [(S0, "overdue handling needs “due_hours”")],
    ),
    "escalation_role without due_hours": (
        doc(step(on_overdue="escalate", escalation_role="boss")),
        [(S0, "overdue handling needs “due_hours”")],
    ),
    "an approver source with two kinds at once": (
        doc(step(approvers={"role": "boss", "field": "owner"})),
        [(f"{S0}.approvers", "has too many entries (2; at most 1)")],
    ),
    "two kinds at once inside a list": (
        doc(step(approvers=[{"role": "boss"}, {"users": ["ann"], "relation": "manager"}])),
        [(f"{S0}.approvers[1]", "has too many entries (2; at most 1)")],
    ),
    "an empty approver source": (
        doc(step(approvers={})),
        [(f"{S0}.approvers", "must not be empty")],
    ),
    "an empty list of approver sources": (
        doc(step(approvers=[])),
        [(f"{S0}.approvers", "must not be empty")],
    ),
    "an empty steps list": (
        doc([]),
        [(f"{T}.steps", "must not be empty")],
    ),
    "unknown relation": (
        doc(step(approvers={"relation": "boss"})),
        [(f"{S0}.approvers.relation", 'unknown value "boss"; expected one of: manager, department_head, parent_department_head')],
    ),
    "unknown mode": (
        doc(step(mode="every")),
        [(f"{S0}.mode", 'unknown value "every"; expected one of: any, all, quorum')],
    ),
    "unknown name in a step condition": (
        doc(step(when="amont > 1000")),
        [(f"{S0}.when", "unknown name “amont” (did you mean “amount”?)")],
    ),
    "unknown on_edit": (
        doc(while_pending={"on_edit": "ignore"}),
        [(f"{T}.while_pending.on_edit", 'unknown value "ignore"; expected one of: refuse, reset')],
    ),
    "a step without approvers": (
        doc({"key": "check"}),
        [(S0, "missing required key “approvers”")],
    ),
    "several problems in one block are all reported": (
        doc([step(approvers={"role": "cfo"}), step(key="check", approvers={"field": "reason"})], reject_to="nowhere"),
        [
            (f"{S0}.approvers.role", f"unknown role “cfo” {ROLES}"),
            (f"{T}.steps[1].key", "step “check” is already defined at steps[0]"),
            (f"{T}.steps[1].approvers.field", "“reason” is a text field; approvers come from a user field"),
            (f"{T}.reject_to", "unknown state “nowhere” (states: draft, returned, done)"),
        ],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_approval_block_is_refused_at_its_path(name):
    """Is this bad approval block reported at exactly these paths with exactly these words, and nothing else?"""
    document, expected = CASES[name]
    assert sorted(problems(document)) == sorted(expected)


def test_base_document_loads():
    """Does the document the cases start from load without problems (so each case fails only for its own reason)?"""
    assert problems(BASE) == []


def test_good_block_loads_with_its_defaults():
    """Does a valid block load with mode any, escalation by default, self-approval off and the default frozen fields?"""
    app = load_app(
        doc(
            [
                {"key": "head", "approvers": {"relation": "department_head"}},
                {"key": "money", "approvers": [{"role": "finance"}, {"field": "watchers"}], "quorum": 2, "when": "amount > 10"},
                {"key": "late", "approvers": {"users": ["ann"]}, "due_hours": 2.5, "on_overdue": "escalate", "escalation_role": "boss"},
            ],
            reject_to="returned",
        )
    )
    transition = app.entity("request").workflow.transition("submit")
    approval = transition.approval
    head, money, late = approval.steps
    assert (head.mode, head.quorum, head.if_nobody_role, head.when) == ("any", None, None, None)
    assert (money.mode, money.quorum, money.approvers[1].field) == ("quorum", 2, "watchers")
    assert (late.due_hours, late.on_overdue, late.escalation_role) == (2.5, "escalate", "boss")
    assert (approval.reject_to, approval.self_approval, approval.delegate, approval.send_back, approval.add_approvers) == (
        "returned",
        False,
        False,
        False,
        False,
    )
    assert (approval.frozen, approval.on_edit) == (("amount",), "refuse")


@pytest.mark.parametrize(
    ("while_pending", "require", "frozen"),
    [
        ({}, ["reason"], ("reason", "amount")),
        ({"frozen": ["title"]}, ["reason"], ("title",)),
        ({"frozen": "all"}, [], None),
        ({"frozen": []}, ["reason"], ()),
    ],
)
def test_frozen_fields_default_and_explicit(while_pending, require, frozen):
    """Is `frozen` the transition's require plus the step conditions' fields by default, the list when given, and None for "all"?"""
    document = doc(step(when="amount > 10"), while_pending=while_pending)
    document["entities"]["request"]["workflow"]["transitions"][0]["require"] = require
    approval = load_app(document).entity("request").workflow.transition("submit").approval
    assert approval.frozen == frozen
