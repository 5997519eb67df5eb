"""The three-way merge of app documents (engine/merge.py), on real app documents."""

import copy
import json

import pytest

from flowdeck.engine.apps import bundled_documents, read_document
from flowdeck.engine.merge import ABSENT, UnknownResolution, merge_documents
from flowdeck.engine.schema.loader import load_app
from tests.support.documents import minimal_app


def _doc():
    doc = minimal_app()
    doc["source"] = "acme.tasks"
    doc["entities"]["task"]["fields"]["priority"]["options"] = [
        "low",
        {"key": "normal", "label": "Normal"},
        {"key": "high", "label": {"en": "High", "zh": "高"}},
    ]
    doc["entities"]["task"]["sections"] = [{"label": "Main", "fields": ["title", "priority"]}, {"label": "Plan", "fields": ["estimate"]}]
    return doc


def _fields(doc):
    return list(doc["entities"]["task"]["fields"])


def test_unchanged_sides_give_the_same_document():
    """Does merging three equal documents give that document with no conflicts?"""
    base = _doc()
    result = merge_documents(base, copy.deepcopy(base), copy.deepcopy(base))
    assert result.document == base
    assert json.dumps(result.document) == json.dumps(base)  # key order kept too
    assert result.conflicts == []


def test_fields_added_on_both_sides_both_survive_in_local_then_incoming_order():
    """A field added locally and one added upstream: do both survive, local order first, the upstream one appended?"""
    base = _doc()
    local, incoming = copy.deepcopy(base), copy.deepcopy(base)
    local["entities"]["task"]["fields"]["local_note"] = {"type": "text"}
    incoming["entities"]["task"]["fields"]["due"] = {"type": "date", "label": "Due"}
    result = merge_documents(base, local, incoming)
    assert result.conflicts == []
    assert _fields(result.document) == ["title", "priority", "estimate", "local_note", "due"]
    assert result.document["entities"]["task"]["fields"]["due"] == {"type": "date", "label": "Due"}
    load_app(result.document)


def test_a_change_on_one_side_wins_over_the_unchanged_side():
    """A label changed upstream and another changed locally: is each change taken?"""
    base = _doc()
    local, incoming = copy.deepcopy(base), copy.deepcopy(base)
    incoming["entities"]["task"]["fields"]["estimate"]["label"] = "Estimate (hours)"
    local["entities"]["task"]["label"] = {"en": "Job", "zh": "工作"}
    result = merge_documents(base, local, incoming)
    assert result.conflicts == []
    assert result.document["entities"]["task"]["fields"]["estimate"]["label"] == "Estimate (hours)"
    assert result.document["entities"]["task"]["label"] == {"en": "Job", "zh": "工作"}


def test_the_same_value_changed_differently_is_a_conflict_resolved_either_way():
    """The same label changed differently on both sides: is it a conflict with all three values, and does each resolution take its side?"""
    base = _doc()
    local, incoming = copy.deepcopy(base), copy.deepcopy(base)
    local["entities"]["task"]["fields"]["title"]["label"] = "Summary"
    incoming["entities"]["task"]["fields"]["title"]["label"] = "Headline"
    result = merge_documents(base, local, incoming)
    [conflict] = result.conflicts
    assert (conflict.path, conflict.base, conflict.local, conflict.incoming) == (
        "entities.task.fields.title.label",
        ABSENT,
        "Summary",
        "Headline",
    )
    assert result.unresolved == [conflict] and not result.clean
    assert result.document["entities"]["task"]["fields"]["title"]["label"] == "Summary"  # local until decided
    for side, expected in (("local", "Summary"), ("incoming", "Headline")):
        resolved = merge_documents(base, local, incoming, resolutions={conflict.path: side})
        assert resolved.clean and resolved.conflicts == [conflict]
        assert resolved.document["entities"]["task"]["fields"]["title"]["label"] == expected


def test_edits_inside_the_same_label_merge_by_language():
    """English changed locally and Chinese upstream in one label: are both kept without a conflict?"""
    base = _doc()
    local, incoming = copy.deepcopy(base), copy.deepcopy(base)
    local["label"] = {"en": "Demo app", "zh": "演示"}
    incoming["label"] = {"en": "Demo", "zh": "演示应用"}
    result = merge_documents(base, local, incoming)
    assert result.conflicts == []
    assert result.document["label"] == {"en": "Demo app", "zh": "演示应用"}


def test_transitions_merge_by_key():
    """A transition added locally, one added upstream and one changed upstream: merged by key, no conflict?"""
    base = _doc()
    local, incoming = copy.deepcopy(base), copy.deepcopy(base)
    local["entities"]["task"]["workflow"]["transitions"].append({"key": "park", "from": "doing", "to": "todo"})
    incoming["entities"]["task"]["workflow"]["transitions"].insert(0, {"key": "skip", "from": "todo", "to": "done"})
    next(t for t in incoming["entities"]["task"]["workflow"]["transitions"] if t["key"] == "start")["roles"] = ["member"]
    result = merge_documents(base, local, incoming)
    assert result.conflicts == []
    transitions = result.document["entities"]["task"]["workflow"]["transitions"]
    assert [t["key"] for t in transitions] == ["start", "submit", "approve", "reopen", "park", "skip"]
    assert transitions[0]["roles"] == ["member"]
    load_app(result.document)


def test_a_transition_changed_on_both_sides_names_its_key_in_the_path():
    """The same transition's target changed differently on both sides: is the conflict path keyed by the transition?"""
    base = _doc()
    local, incoming = copy.deepcopy(base), copy.deepcopy(base)
    local["entities"]["task"]["workflow"]["transitions"][1]["to"] = "done"
    incoming["entities"]["task"]["workflow"]["transitions"][1]["to"] = "todo"
    result = merge_documents(base, local, incoming)
    assert [c.path for c in result.conflicts] == ["entities.task.workflow.transitions[submit].to"]


def test_options_merge_by_key_and_keep_plain_strings():
    """An option added on each side and a plain option given a label upstream: merged by key, plain options kept plain?"""
    base = _doc()
    local, incoming = copy.deepcopy(base), copy.deepcopy(base)
    local["entities"]["task"]["fields"]["priority"]["options"].append("urgent")
    incoming["entities"]["task"]["fields"]["priority"]["options"].append({"key": "someday", "color": "#999999"})
    incoming["entities"]["task"]["fields"]["priority"]["options"][0] = {"key": "low", "label": "Low"}
    result = merge_documents(base, local, incoming)
    assert result.conflicts == []
    assert result.document["entities"]["task"]["fields"]["priority"]["options"] == [
        {"key": "low", "label": "Low"},
        {"key": "normal", "label": "Normal"},
        {"key": "high", "label": {"en": "High", "zh": "高"}},
        "urgent",
        {"key": "someday", "color": "#999999"},
    ]


def test_approval_steps_merge_by_key():
    """Approval steps: one edited locally, one added upstream: merged by step key?"""
    base = _doc()
    base["entities"]["task"]["workflow"]["transitions"][2]["approval"] = {
        "steps": [{"key": "lead", "approvers": {"role": "lead"}}, {"key": "pm", "approvers": {"users": ["erin"]}}]
    }
    local, incoming = copy.deepcopy(base), copy.deepcopy(base)
    local["entities"]["task"]["workflow"]["transitions"][2]["approval"]["steps"][1]["mode"] = "all"
    incoming["entities"]["task"]["workflow"]["transitions"][2]["approval"]["steps"].append(
        {"key": "final", "approvers": {"role": "member"}}
    )
    result = merge_documents(base, local, incoming)
    assert result.conflicts == []
    steps = result.document["entities"]["task"]["workflow"]["transitions"][2]["approval"]["steps"]
    assert [s["key"] for s in steps] == ["lead", "pm", "final"]
    assert steps[1]["mode"] == "all"


def test_sections_merge_by_position():
    """Section labels edited on different sections on each side: merged by position?"""
    base = _doc()
    local, incoming = copy.deepcopy(base), copy.deepcopy(base)
    local["entities"]["task"]["sections"][0]["label"] = "Basics"
    incoming["entities"]["task"]["sections"][1]["fields"] = ["estimate", "priority"]
    result = merge_documents(base, local, incoming)
    assert result.conflicts == []
    assert result.document["entities"]["task"]["sections"] == [
        {"label": "Basics", "fields": ["title", "priority"]},
        {"label": "Plan", "fields": ["estimate", "priority"]},
    ]


def test_removed_on_one_side_and_untouched_on_the_other_is_removed():
    """A field removed locally that upstream left alone, and a role removed upstream: are both gone?"""
    base = _doc()
    local, incoming = copy.deepcopy(base), copy.deepcopy(base)
    del local["entities"]["task"]["fields"]["estimate"]
    local["entities"]["task"]["sections"][1]["fields"] = ["priority"]
    del incoming["roles"]["viewer"]
    result = merge_documents(base, local, incoming)
    assert result.conflicts == []
    assert "estimate" not in result.document["entities"]["task"]["fields"]
    assert list(result.document["roles"]) == ["lead", "member"]


def test_removed_on_one_side_and_changed_on_the_other_is_a_conflict():
    """A field removed locally but changed upstream: a conflict whose local side is absent, and 'incoming' brings it back?"""
    base = _doc()
    local, incoming = copy.deepcopy(base), copy.deepcopy(base)
    del local["entities"]["task"]["fields"]["estimate"]
    incoming["entities"]["task"]["fields"]["estimate"]["scale"] = 1
    result = merge_documents(base, local, incoming)
    [conflict] = result.conflicts
    assert conflict.path == "entities.task.fields.estimate"
    assert conflict.local is ABSENT and conflict.incoming == {"type": "decimal", "scale": 1}
    assert conflict.to_json()["local_present"] is False and conflict.to_json()["local"] is None
    assert "estimate" not in result.document["entities"]["task"]["fields"]
    back = merge_documents(base, local, incoming, resolutions={conflict.path: "incoming"})
    assert back.document["entities"]["task"]["fields"]["estimate"] == {"type": "decimal", "scale": 1}


def test_unknown_resolutions_are_refused():
    """A resolution for a path with no conflict, or a side that is not local/incoming: refused with the reason?"""
    base = _doc()
    with pytest.raises(UnknownResolution, match="no conflict at label"):
        merge_documents(base, base, base, resolutions={"label": "local"})
    with pytest.raises(UnknownResolution, match="'theirs'"):
        merge_documents(base, base, base, resolutions={"label": "theirs"})


def test_without_a_base_only_differences_present_on_both_sides_conflict():
    """No common base: keys only one side has are kept, the same key with different values conflicts?"""
    local, incoming = _doc(), _doc()
    local["entities"]["task"]["fields"]["local_note"] = {"type": "text"}
    incoming["entities"]["task"]["fields"]["due"] = {"type": "date"}
    incoming["label"] = "Upstream demo"
    result = merge_documents(None, local, incoming)
    assert _fields(result.document) == ["title", "priority", "estimate", "local_note", "due"]
    assert [c.path for c in result.conflicts] == ["label"]


def test_bundled_apps_merge_with_themselves_cleanly():
    """Each bundled app merged with an upstream edit of every state label and a local new field: clean and still valid?"""
    for path in bundled_documents():
        base = read_document(path)
        local, incoming = copy.deepcopy(base), copy.deepcopy(base)
        entity = next(iter(local["entities"]))
        local["entities"][entity]["fields"]["team_note"] = {"type": "text"}
        for spec in incoming["entities"].values():
            for state in (spec.get("workflow") or {}).get("states", {}).values():
                state["label"] = "Renamed"
        result = merge_documents(base, local, incoming)
        assert result.conflicts == [], path.name
        load_app(result.document)
        assert "team_note" in result.document["entities"][entity]["fields"]
