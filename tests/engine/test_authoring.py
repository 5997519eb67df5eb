"""Authoring commands on app documents (engine/schema/authoring): what each builder edit
writes, what it keeps consistent (renames and removals follow every mention), what it
refuses and why (a Message), and that its result, written back with `writing.rewrite`,
keeps the text of every part it did not touch."""

from __future__ import annotations

import ast
import copy
import difflib
import json
from pathlib import Path

import pytest

from flowdeck.engine.messages import Message
from flowdeck.engine.schema import authoring, writing
from flowdeck.engine.schema.authoring import EditRefused
from tests.support.documents import builder_app

DOC = builder_app()

APPROVAL_DOC = copy.deepcopy(DOC)
APPROVAL_DOC["entities"]["task"]["fields"]["owner"] = {"type": "user"}
APPROVAL_DOC["entities"]["task"]["fields"]["estimate"]["show_if"] = "priority == 'high' and estimate > 0"
APPROVAL_DOC["entities"]["task"]["workflow"]["transitions"][2]["require"] = ["estimate"]
APPROVAL_DOC["entities"]["task"]["workflow"]["rules"] = [{"states": ["review", "done"], "read_only": ["estimate", "title"]}]
APPROVAL_DOC["entities"]["task"]["workflow"]["transitions"][2]["approval"] = {
    "steps": [{"key": "lead", "approvers": {"role": "lead"}}],
    "while_pending": {"frozen": ["estimate"]},
}
APPROVAL_DOC["entities"]["note"] = {"fields": {"body": {"type": "text"}}}


def test_add_field_with_options_reference_and_required():
    """Does add_field write a select's options (labels, colours), a reference's target and the required flag?"""
    doc = authoring.add_field(
        DOC,
        entity="task",
        key="risk",
        type="select",
        label_en="Risk",
        label_zh="",
        required=True,
        options="low\nhigh | High | 高 | #d62728",
    )
    assert doc["entities"]["task"]["fields"]["risk"] == {
        "type": "select",
        "label": {"en": "Risk"},
        "required": True,
        "options": ["low", {"key": "high", "label": {"en": "High", "zh": "高"}, "color": "#d62728"}],
    }
    linked = authoring.add_field(APPROVAL_DOC, entity="task", key="note", type="reference", to="note")
    assert linked["entities"]["task"]["fields"]["note"] == {"type": "reference", "to": "note"}
    assert DOC["entities"]["task"]["fields"].get("risk") is None  # the document given is never changed


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"key": "Bad Key", "type": "text"}, "not a valid key"),
        ({"key": "x", "type": "table"}, "Choose a field type"),
        ({"key": "x", "type": "select"}, "needs options"),
        ({"key": "x", "type": "select", "options": "a\na"}, "listed twice"),
        ({"key": "x", "type": "select", "options": "a | A | | red"}, "not a colour"),
        ({"key": "x", "type": "reference", "to": "nowhere"}, "Choose the entity"),
        ({"key": "x", "type": "text", "boards": ["all"]}, "no board view"),
    ],
)
def test_add_field_refusals(arguments, message):
    """Are bad field settings refused with a reason?"""
    with pytest.raises(EditRefused, match=message):
        authoring.add_field(DOC, entity="task", **arguments)


def test_rename_field_sets_was_and_follows_every_mention():
    """Does a rename set "was" and rename the field in sections, views, search, rules, required fields, approvals and expressions?"""
    doc = authoring.rename_field(APPROVAL_DOC, entity="task", field="estimate", new_key="effort", applied=APPROVAL_DOC)
    task = doc["entities"]["task"]
    assert list(task["fields"]) == ["title", "priority", "effort", "owner"]
    assert task["fields"]["effort"]["was"] == "estimate"
    assert task["fields"]["effort"]["show_if"] == "priority == 'high' and effort > 0"
    assert task["sections"][1]["fields"] == ["effort"]
    assert task["workflow"]["transitions"][2]["require"] == ["effort"]
    assert task["workflow"]["rules"][0]["read_only"] == ["effort", "title"]
    assert task["workflow"]["transitions"][2]["approval"]["while_pending"]["frozen"] == ["effort"]
    title = authoring.rename_field(DOC, entity="task", field="priority", new_key="urgency", applied=DOC)["entities"]["task"]
    assert title["views"]["all"]["columns"] == ["title", "urgency", "state"] and title["views"]["all"]["sort"] == ["-urgency"]
    assert title["views"]["board"]["card"] == ["urgency"]


def test_renaming_twice_keeps_the_applied_key():
    """Does renaming a renamed field again keep "was" on the applied key, and renaming back drop it?"""
    once = authoring.rename_field(DOC, entity="task", field="estimate", new_key="effort", applied=DOC)
    twice = authoring.rename_field(once, entity="task", field="effort", new_key="hours", applied=DOC)
    assert twice["entities"]["task"]["fields"]["hours"]["was"] == "estimate"
    back = authoring.rename_field(twice, entity="task", field="hours", new_key="estimate", applied=DOC)
    assert "was" not in back["entities"]["task"]["fields"]["estimate"]
    new = authoring.add_field(DOC, entity="task", key="draft", type="text")
    renamed = authoring.rename_field(new, entity="task", field="draft", new_key="final", applied=DOC)
    assert renamed["entities"]["task"]["fields"]["final"] == {"type": "text"}  # never applied: nothing to keep


def test_move_field_moves_in_fields_and_section():
    """Does moving a field change its place in the fields and in its form section, and stop at the ends?"""
    doc = authoring.move_field(DOC, entity="task", field="priority", direction="up")
    assert list(doc["entities"]["task"]["fields"]) == ["priority", "title", "estimate"]
    assert doc["entities"]["task"]["sections"][0]["fields"] == ["priority", "title"]
    assert (
        next(iter(authoring.move_field(doc, entity="task", field="priority", direction="up")["entities"]["task"]["fields"])) == "priority"
    )


def test_remove_field_prunes_its_mentions_and_refuses_the_title():
    """Does removing a field take it out of sections (dropping an empty one), views, rules and required lists?"""
    doc = authoring.remove_field(APPROVAL_DOC, entity="task", field="estimate")
    task = doc["entities"]["task"]
    assert "estimate" not in task["fields"]
    assert [s["label"] for s in task["sections"]] == ["Main"]
    assert task["workflow"]["rules"][0]["read_only"] == ["title"]
    assert task["workflow"]["transitions"][2]["require"] == []
    with pytest.raises(EditRefused, match="title"):
        authoring.remove_field(DOC, entity="task", field="title")
    grouped = copy.deepcopy(DOC)
    grouped["entities"]["task"]["views"]["board"]["group_by"] = "priority"
    with pytest.raises(EditRefused, match="groups by"):
        authoring.remove_field(grouped, entity="task", field="priority")


def test_set_field_changes_label_and_required():
    """Does set_field write the label and the required flag (and take them away)?"""
    doc = authoring.set_field(DOC, entity="task", field="estimate", label_en="Estimate (h)", label_zh="估算", required=True)
    assert doc["entities"]["task"]["fields"]["estimate"] == {
        "type": "decimal",
        "label": {"en": "Estimate (h)", "zh": "估算"},
        "required": True,
    }
    assert authoring.set_field(doc, entity="task", field="estimate")["entities"]["task"]["fields"]["estimate"] == {"type": "decimal"}


def test_option_edits():
    """Do options get added, relabelled with a colour, renamed (with the default and board limits following), moved and removed?"""
    grouped = copy.deepcopy(DOC)
    grouped["entities"]["task"]["views"]["board"] = {
        "type": "board",
        "group_by": "priority",
        "wip": {"normal": {"max": 2}},
        "collapsed": ["low"],
    }
    doc = authoring.add_option(grouped, entity="task", field="priority", key="urgent", label_en="Urgent", label_zh="紧急", color="#d62728")
    options = doc["entities"]["task"]["fields"]["priority"]["options"]
    assert options[-1] == {"key": "urgent", "label": {"en": "Urgent", "zh": "紧急"}, "color": "#d62728"}
    doc = authoring.edit_option(doc, entity="task", field="priority", option="normal", key="medium", label_en="Medium")
    field = doc["entities"]["task"]["fields"]["priority"]
    assert field["options"][1] == {"key": "medium", "label": {"en": "Medium"}} and field["default"] == "medium"
    assert doc["entities"]["task"]["views"]["board"]["wip"] == {"medium": {"max": 2}}
    doc = authoring.move_option(doc, entity="task", field="priority", option="urgent", direction="up")
    assert [authoring.option_key(o) for o in doc["entities"]["task"]["fields"]["priority"]["options"]] == [
        "low",
        "medium",
        "urgent",
        "high",
    ]
    doc = authoring.remove_option(doc, entity="task", field="priority", option="low")
    assert doc["entities"]["task"]["views"]["board"]["collapsed"] == []
    with pytest.raises(EditRefused, match="already has an option"):
        authoring.add_option(doc, entity="task", field="priority", key="high")
    with pytest.raises(EditRefused, match="Only select"):
        authoring.add_option(doc, entity="task", field="title", key="x")


def test_state_edits():
    """Are states added, edited and removed, a removal taking the transitions into it and its board limit?"""
    doc = authoring.add_state(DOC, entity="task", key="blocked", label_en="Blocked", label_zh="受阻", category="doing", color="#ff7f0e")
    assert doc["entities"]["task"]["workflow"]["states"]["blocked"] == {
        "label": {"en": "Blocked", "zh": "受阻"},
        "category": "doing",
        "color": "#ff7f0e",
    }
    doc = authoring.edit_state(doc, entity="task", state="blocked", label_en="On hold", label_zh="", category="todo", color="")
    assert doc["entities"]["task"]["workflow"]["states"]["blocked"] == {"label": {"en": "On hold"}, "category": "todo"}
    doc = authoring.remove_state(DOC, entity="task", state="doing")
    workflow_ = doc["entities"]["task"]["workflow"]
    assert [t["key"] for t in workflow_["transitions"]] == ["approve", "reopen"]
    assert doc["entities"]["task"]["views"]["board"]["wip"] == {}
    with pytest.raises(EditRefused, match="category"):
        authoring.add_state(DOC, entity="task", key="x", category="later")


def test_transition_edits():
    """Are transitions added (from several states or any, with roles) and removed?"""
    doc = authoring.add_transition(
        DOC, entity="task", key="park", label_en="Park", label_zh="", sources=["todo", "doing"], to="done", roles=["lead"]
    )
    assert doc["entities"]["task"]["workflow"]["transitions"][-1] == {
        "key": "park",
        "label": {"en": "Park"},
        "from": ["todo", "doing"],
        "to": "done",
        "roles": ["lead"],
    }
    anywhere = authoring.add_transition(DOC, entity="task", key="drop", sources=["*", "todo"], to="done")
    assert anywhere["entities"]["task"]["workflow"]["transitions"][-1] == {"key": "drop", "from": "*", "to": "done"}
    removed = authoring.remove_transition(doc, entity="task", transition="start")
    assert "start" not in [t["key"] for t in removed["entities"]["task"]["workflow"]["transitions"]]
    with pytest.raises(EditRefused, match="no role"):
        authoring.add_transition(DOC, entity="task", key="x", sources=["todo"], to="done", roles=["king"])


def test_board_edits():
    """Are boards added, and a board's grouping, cards (in order) and limits set, a new grouping clearing the old limits?"""
    doc = authoring.add_board(DOC, entity="task", key="by_priority", label_en="By priority", label_zh="按优先级", group_by="priority")
    assert doc["entities"]["task"]["views"]["by_priority"] == {
        "type": "board",
        "label": {"en": "By priority", "zh": "按优先级"},
        "group_by": "priority",
    }
    doc = authoring.set_board(
        DOC,
        entity="task",
        view="board",
        group_by="state",
        card=["title", "priority"],
        wip={"todo": ("4", "warn"), "doing": ("", "block")},
        swimlanes="priority",
    )
    view = doc["entities"]["task"]["views"]["board"]
    assert view["card"] == ["priority", "title"] and view["wip"] == {"todo": {"max": 4}} and view["swimlanes"] == "priority"
    regrouped = authoring.set_board(doc, entity="task", view="board", group_by="priority", card=["title"], wip={"todo": ("4", "warn")})
    assert "wip" not in regrouped["entities"]["task"]["views"]["board"]
    with pytest.raises(EditRefused, match="whole number"):
        authoring.set_board(DOC, entity="task", view="board", group_by="state", card=[], wip={"todo": ("many", "warn")})
    with pytest.raises(EditRefused, match="no board view"):
        authoring.set_board(DOC, entity="task", view="all", group_by="state")


def test_approval_step_edits():
    """Are approval steps added (creating the approval), edited, moved and removed (the last one taking the approval)?"""
    doc = authoring.add_step(
        DOC,
        entity="task",
        transition="start",
        key="check",
        label_en="Check",
        label_zh="",
        approver_kind="users",
        approver_value="ann.lead, ben",
        mode="quorum",
        quorum="1",
        when="estimate > 5",
    )
    transition = doc["entities"]["task"]["workflow"]["transitions"][0]
    assert transition["approval"] == {
        "steps": [
            {
                "key": "check",
                "label": {"en": "Check"},
                "approvers": {"users": ["ann.lead", "ben"]},
                "mode": "quorum",
                "quorum": 1,
                "when": "estimate > 5",
            }
        ]
    }
    doc = authoring.add_step(doc, entity="task", transition="start", key="boss", approver_kind="relation", approver_value="manager")
    doc = authoring.move_step(doc, entity="task", transition="start", step="boss", direction="up")
    steps = doc["entities"]["task"]["workflow"]["transitions"][0]["approval"]["steps"]
    assert [s["key"] for s in steps] == ["boss", "check"]
    doc = authoring.edit_step(
        doc,
        entity="task",
        transition="start",
        step="check",
        label_en="Check",
        label_zh="核对",
        approver_kind="keep",
        approver_value="",
        mode="all",
        quorum="",
        when="",
    )
    assert doc["entities"]["task"]["workflow"]["transitions"][0]["approval"]["steps"][1] == {
        "key": "check", "label": {"en": "Check", "zh": "核对"}, "approvers": {"users": ["ann.lead", "ben"]}, "mode": "all",
    }  # fmt: skip
    doc = authoring.remove_step(
        authoring.remove_step(doc, entity="task", transition="start", step="boss"), entity="task", transition="start", step="check"
    )
    assert "approval" not in doc["entities"]["task"]["workflow"]["transitions"][0]
    with pytest.raises(EditRefused, match="quorum"):
        authoring.add_step(DOC, entity="task", transition="start", key="x", approver_kind="role", approver_value="lead", mode="quorum")
    with pytest.raises(EditRefused, match="user field"):
        authoring.add_step(DOC, entity="task", transition="start", key="x", approver_kind="field", approver_value="title")


ACTION_CASES = [
    ("add_field", {"entity": "task", "key": "due", "type": "date"}),
    ("rename_field", {"entity": "task", "field": "estimate", "new_key": "effort", "applied": DOC}),
    ("move_field", {"entity": "task", "field": "estimate", "direction": "up"}),
    ("remove_field", {"entity": "task", "field": "estimate"}),
    ("set_field", {"entity": "task", "field": "title", "label_en": "Title", "label_zh": "标题", "required": True}),
    ("add_option", {"entity": "task", "field": "priority", "key": "urgent", "label_en": "Urgent"}),
    (
        "edit_option",
        {"entity": "task", "field": "priority", "option": "low", "key": "low", "label_en": "Low", "label_zh": "低", "color": "#2ca02c"},
    ),
    ("remove_option", {"entity": "task", "field": "priority", "option": "low"}),
    ("move_option", {"entity": "task", "field": "priority", "option": "high", "direction": "up"}),
    ("add_state", {"entity": "task", "key": "blocked", "label_en": "Blocked", "label_zh": "", "category": "doing"}),
    ("edit_state", {"entity": "task", "state": "done", "label_en": "Done", "label_zh": "完成", "category": "done", "color": "#2ca02c"}),
    ("remove_state", {"entity": "task", "state": "review"}),
    ("add_transition", {"entity": "task", "key": "skip", "label_en": "", "label_zh": "", "sources": ["todo"], "to": "done"}),
    ("remove_transition", {"entity": "task", "transition": "reopen"}),
    ("add_board", {"entity": "task", "key": "lanes", "label_en": "", "label_zh": "", "group_by": "priority"}),
    ("set_board", {"entity": "task", "view": "board", "group_by": "state", "card": ["title"], "wip": {"done": ("9", "block")}}),
    (
        "add_step",
        {
            "entity": "task",
            "transition": "approve",
            "key": "check",
            "label_en": "",
            "label_zh": "",
            "approver_kind": "role",
            "approver_value": "lead",
        },
    ),
    ("add_section", {"entity": "task", "label_en": "Owner", "label_zh": "负责人", "fields": ["owner"]}),
    ("add_list", {"entity": "task", "key": "mine", "label_en": "Mine", "label_zh": "我的", "columns": ["title", "owner"]}),
    (
        "set_list",
        {
            "entity": "task",
            "view": "all",
            "label_en": "All",
            "label_zh": "",
            "columns": ["title", "state", "owner"],
            "sort_by": "owner",
            "descending": True,
        },
    ),
    ("set_section", {"entity": "task", "section": 1, "label_en": "More", "label_zh": "", "fields": ["estimate", "owner"]}),
    ("remove_section", {"entity": "task", "section": 0}),
    ("move_section", {"entity": "task", "section": 1, "direction": "up"}),
]


@pytest.mark.parametrize(("name", "arguments"), ACTION_CASES, ids=[c[0] for c in ACTION_CASES])
def test_every_action_keeps_unrelated_text(name, arguments):
    """Does each builder action, written back with `rewrite`, keep the text of the parts it did not touch (key order included)?"""
    document = copy.deepcopy(APPROVAL_DOC)
    document["entities"]["note"]["views"] = {"all": {"type": "list", "columns": ["body"]}}
    text = writing.dumps(document) + "\n"
    changed = getattr(authoring, name)(document, **arguments)
    out = writing.rewrite(text, changed)
    assert json.loads(out) == changed
    assert list(json.loads(out)) == list(document)
    note = text[text.index('    "note": {') :]
    assert note in out  # the other entity, down to the end of the document, is untouched
    head = text[: text.index('  "entities"')]
    assert out.startswith(head)


def test_builder_never_overwrites_what_it_cannot_read():
    """Is an action on a part written in an unexpected form (fields as a list) refused instead of replacing it?"""
    broken = copy.deepcopy(DOC)
    broken["entities"]["task"]["fields"] = ["title"]
    with pytest.raises(EditRefused, match="not written as the builder expects"):
        authoring.add_field(broken, entity="task", key="due", type="date")
    with pytest.raises(EditRefused, match="no entity"):
        authoring.add_field(DOC, entity="nope", key="due", type="date")


# -- the builder: transitions, field help and conditions, swimlanes in the preview ----------------


def test_edit_transition_changes_label_sources_target_roles_and_comment():
    """Does edit_transition write the label, several source states, the target, the roles and the comment rule?"""
    doc = authoring.edit_transition(
        DOC,
        entity="task",
        transition="reopen",
        label_en="Reopen",
        label_zh="重新打开",
        sources=["todo", "doing"],
        to="review",
        roles=["lead", "member"],
        comment="required",
    )
    assert doc["entities"]["task"]["workflow"]["transitions"][3] == {
        "key": "reopen",
        "label": {"en": "Reopen", "zh": "重新打开"},
        "from": ["todo", "doing"],
        "to": "review",
        "roles": ["lead", "member"],
        "comment": "required",
    }
    anywhere = authoring.edit_transition(doc, entity="task", transition="reopen", sources=["*", "todo"], roles=[], comment="none")
    assert anywhere["entities"]["task"]["workflow"]["transitions"][3] == {
        "key": "reopen", "label": {"en": "Reopen", "zh": "重新打开"}, "from": "*", "to": "review", "comment": "none",
    }  # fmt: skip
    assert authoring.edit_transition(DOC, entity="task", transition="start") == DOC  # nothing given: nothing changes
    one = authoring.edit_transition(
        DOC, entity="task", transition="start", label_en="", label_zh="", sources=["todo"], to="doing", roles=[], comment="none"
    )
    assert one["entities"]["task"]["workflow"]["transitions"][0] == {"key": "start", "from": "todo", "to": "doing"}


def test_edit_transition_keeps_what_it_does_not_edit():
    """Are a transition's condition, required fields and approval kept, and its key first when a label is added?"""
    document = copy.deepcopy(APPROVAL_DOC)
    document["entities"]["task"]["workflow"]["transitions"][2]["guard"] = "estimate > 0"
    doc = authoring.edit_transition(
        document,
        entity="task",
        transition="approve",
        label_en="Approve",
        label_zh="批准",
        sources=["review", "doing"],
        to="done",
        roles=["lead"],
        comment="optional",
    )
    edited = doc["entities"]["task"]["workflow"]["transitions"][2]
    assert list(edited) == ["key", "label", "from", "to", "roles", "require", "approval", "guard", "comment"]
    assert edited["approval"] == APPROVAL_DOC["entities"]["task"]["workflow"]["transitions"][2]["approval"]
    assert edited["require"] == ["estimate"] and edited["guard"] == "estimate > 0"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"sources": []}, "Choose the states"),
        ({"sources": ["nowhere"]}, 'no state "nowhere"'),
        ({"to": "nowhere"}, "leads to"),
        ({"roles": ["king"]}, 'no role "king"'),
        ({"comment": "sometimes"}, "comment"),
    ],
)
def test_edit_transition_refusals(arguments, message):
    """Are unknown states and roles, no source state and an unknown comment rule refused with a reason?"""
    with pytest.raises(EditRefused, match=message):
        authoring.edit_transition(DOC, entity="task", transition="start", **arguments)
    with pytest.raises(EditRefused, match="no transition"):
        authoring.edit_transition(DOC, entity="task", transition="nope", comment="none")


def test_set_field_help_and_conditions():
    """Does set_field write the help text and the show_if / required_if conditions, keep them when not
    given, remove them when emptied, and keep a label written as text when its words do not change?"""
    document = copy.deepcopy(DOC)
    document["entities"]["task"]["fields"]["estimate"]["label"] = "Estimate"
    doc = authoring.set_field(
        document,
        entity="task",
        field="estimate",
        label_en="Estimate",
        label_zh="",
        required=False,
        help_en="Hours of work",
        help_zh="工时",
        show_if=" priority == 'high' ",
        required_if="priority == 'high'",
    )
    assert doc["entities"]["task"]["fields"]["estimate"] == {
        "type": "decimal",
        "label": "Estimate",
        "help": {"en": "Hours of work", "zh": "工时"},
        "show_if": "priority == 'high'",
        "required_if": "priority == 'high'",
    }
    kept = authoring.set_field(doc, entity="task", field="estimate", label_en="Estimate")
    assert kept["entities"]["task"]["fields"]["estimate"] == doc["entities"]["task"]["fields"]["estimate"]
    cleared = authoring.set_field(
        doc,
        entity="task",
        field="estimate",
        label_en="Estimate",
        label_zh="",
        required=False,
        help_en="",
        help_zh="",
        show_if="",
        required_if="",
    )
    assert cleared["entities"]["task"]["fields"]["estimate"] == {"type": "decimal", "label": "Estimate"}


NEW_ACTION_CASES = [
    (
        "edit_transition",
        {
            "entity": "task",
            "transition": "approve",
            "label_en": "Approve",
            "label_zh": "批准",
            "sources": ["review"],
            "to": "done",
            "roles": ["lead"],
            "comment": "required",
        },
    ),
    (
        "edit_transition",
        {
            "entity": "task",
            "transition": "reopen",
            "label_en": "",
            "label_zh": "",
            "sources": ["*"],
            "to": "todo",
            "roles": [],
            "comment": "none",
        },
    ),
    (
        "set_field",
        {
            "entity": "task",
            "field": "estimate",
            "label_en": "",
            "label_zh": "",
            "required": False,
            "help_en": "Hours",
            "help_zh": "工时",
            "show_if": "priority == 'high'",
            "required_if": "",
        },
    ),
]


@pytest.mark.parametrize(("name", "arguments"), NEW_ACTION_CASES, ids=[c[0] for c in NEW_ACTION_CASES])
def test_new_actions_keep_unrelated_text(name, arguments):
    """Do the transition and field edits, written back with `rewrite`, keep the text they did not touch?"""
    test_every_action_keeps_unrelated_text(name, arguments)


def test_editing_a_transition_keeps_its_other_lines_byte_for_byte():
    """Does changing only a transition's comment rule leave every other line of the text as it was (its approval too)?"""
    text = writing.dumps(APPROVAL_DOC) + "\n"
    changed = authoring.edit_transition(
        APPROVAL_DOC,
        entity="task",
        transition="approve",
        label_en="",
        label_zh="",
        sources=["review"],
        to="done",
        roles=["lead"],
        comment="required",
    )
    out = writing.rewrite(text, changed)
    diff = [line for line in difflib.unified_diff(text.splitlines(), out.splitlines(), lineterm="", n=0) if line[:1] in "+-"]
    # a comma after the approval, and the new member
    assert [line[0] + line[1:].strip() for line in diff] == ["---", "+++", "-}", "+},", '+"comment": "required"']


# -- sections -------------------------------------------------------------------------------


def test_sections_add_set_move_and_remove():
    """Do the section actions keep each field in one section, drop sections left empty, keep
    the order of fields already there, and remove the key with the last section?"""
    added = authoring.add_section(DOC, entity="task", label_en="Numbers", label_zh="数字", fields=["estimate", "priority"])
    assert added["entities"]["task"]["sections"] == [
        {"label": "Main", "fields": ["title"]},
        {"label": {"en": "Numbers", "zh": "数字"}, "fields": ["estimate", "priority"]},
    ]
    assert DOC["entities"]["task"]["sections"][1] == {"label": "More", "fields": ["estimate"]}  # the input is not changed
    kept = authoring.set_section(DOC, entity="task", section=0, label_en="Main", label_zh="", fields=["priority", "estimate", "title"])
    assert kept["entities"]["task"]["sections"] == [{"label": "Main", "fields": ["title", "priority", "estimate"]}]
    relabelled = authoring.set_section(DOC, entity="task", section=1, label_en="", label_zh="", fields=["estimate"])
    assert relabelled["entities"]["task"]["sections"][1] == {"fields": ["estimate"]}
    moved = authoring.move_section(DOC, entity="task", section=1, direction="up")
    assert [s["label"] for s in moved["entities"]["task"]["sections"]] == ["More", "Main"]
    one = authoring.remove_section(DOC, entity="task", section=0)
    assert one["entities"]["task"]["sections"] == [{"label": "More", "fields": ["estimate"]}]
    none = authoring.remove_section(one, entity="task", section=0)
    assert "sections" not in none["entities"]["task"]
    first = authoring.add_section(none, entity="task", label_en="All", label_zh="", fields=["title"])
    assert first["entities"]["task"]["sections"] == [{"label": {"en": "All"}, "fields": ["title"]}]


# -- list views -----------------------------------------------------------------------------


def test_set_list_sort_keeps_the_later_keys_only_while_the_first_stays():
    """Does changing the direction of the first sort key keep the keys after it, choosing
    another first key start a new sort, and choosing none remove it?"""
    doc = copy.deepcopy(DOC)
    doc["entities"]["task"]["views"]["all"]["sort"] = ["-priority", "estimate"]
    flipped = authoring.set_list(
        doc, entity="task", view="all", label_en=None, label_zh=None, columns=["title"], sort_by="priority", descending=False
    )
    assert flipped["entities"]["task"]["views"]["all"]["sort"] == ["priority", "estimate"]
    other = authoring.set_list(
        doc, entity="task", view="all", label_en=None, label_zh=None, columns=["title"], sort_by="estimate", descending=True
    )
    assert other["entities"]["task"]["views"]["all"]["sort"] == ["-estimate"]
    none = authoring.set_list(doc, entity="task", view="all", label_en=None, label_zh=None, columns=[], sort_by="", descending=False)
    assert "sort" not in none["entities"]["task"]["views"]["all"] and "columns" not in none["entities"]["task"]["views"]["all"]
    assert none["entities"]["task"]["views"]["all"]["label"] == "All"


@pytest.mark.parametrize(
    ("action", "arguments", "message"),
    [
        ("add_section", {"entity": "task", "label_en": "Empty", "label_zh": "", "fields": []}, "A section needs at least one field."),
        ("add_section", {"entity": "task", "label_en": "Ghost", "label_zh": "", "fields": ["nope"]}, 'The entity has no field "nope".'),
        (
            "set_section",
            {"entity": "task", "section": 7, "label_en": "X", "label_zh": "", "fields": ["title"]},
            "There is no such section.",
        ),
        ("remove_section", {"entity": "task", "section": 2}, "There is no such section."),
        ("move_section", {"entity": "task", "section": 0, "direction": "sideways"}, "Move up or down."),
        (
            "set_list",
            {"entity": "task", "view": "board", "label_en": None, "label_zh": None, "columns": ["title"]},
            'The entity has no list view "board".',
        ),
        (
            "set_list",
            {"entity": "task", "view": "all", "label_en": None, "label_zh": None, "columns": ["nope"]},
            'The entity has no field "nope".',
        ),
        (
            "set_list",
            {"entity": "task", "view": "all", "label_en": None, "label_zh": None, "columns": ["title"], "sort_by": "ghost"},
            'The entity has no field "ghost".',
        ),
        ("add_list", {"entity": "task", "key": "all"}, 'The entity already has a view "all".'),
        ("add_list", {"entity": "task", "key": "Bad Key"}, '"Bad Key" is not a valid key'),
    ],
)
def test_section_and_list_actions_refuse_what_they_cannot_do(action, arguments, message):
    """Is each impossible section or list edit refused with a plain reason?"""
    with pytest.raises(EditRefused) as caught:
        getattr(authoring, action)(DOC, **arguments)
    assert isinstance(caught.value.message, Message)
    assert str(caught.value.message).startswith(message)


def test_every_refusal_is_a_message():
    """Does every refusal the authoring commands raise carry a Message marked for translation (`M(...)` with a literal), never a text?"""
    folder = Path(authoring.__file__).parent
    found = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "EditRefused":
                message = node.args[0] if node.args else None
                marked = isinstance(message, ast.Call) and isinstance(message.func, ast.Name) and message.func.id == "M"
                by_view_type = isinstance(message, ast.Call) and isinstance(message.func, ast.Attribute) and message.func.attr == "missing"
                if by_view_type:
                    continue  # a view type's own refusal: `missing` of its entry in engine.viewtypes (checked there)
                if not (marked and isinstance(message.args[0], ast.Constant) and isinstance(message.args[0].value, str)):
                    found.append(f"{path.name}:{node.lineno}")
    assert found == []
    assert len(list(folder.glob("*.py"))) >= 7


def test_refusals_name_what_they_refuse():
    """Does a refusal keep the key it names as a parameter of its message (for the reader's language), not inside the text?"""
    with pytest.raises(EditRefused) as caught:
        authoring.add_field(DOC, entity="task", key="title", type="text")
    assert caught.value.message.msgid == 'The entity already has a field "%(key)s".'
    assert caught.value.message.params == {"key": "title"}
    assert str(caught.value) == 'The entity already has a field "title".'
