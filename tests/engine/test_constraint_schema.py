"""The `constraints` of an entity as a document: every wrong name or type reported at its
JSON path, and a migration plan that counts the stored records a new rule breaks (and is
applied, the records kept) on the test database (SQLite or PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from flowdeck.engine import records
from flowdeck.engine.apps import apply_document, plan_change
from flowdeck.engine.constraints import ConstraintBroken
from flowdeck.engine.merge import merge_documents
from flowdeck.engine.registry import Catalog
from flowdeck.engine.schema.loader import check_document
from tests.support.constraint_apps import APP, rules_app


def problems(doc: dict[str, Any]) -> dict[str, str]:
    return {p.path: str(p.message) for p in check_document(doc)}


def with_rule(entity: str, rule: dict[str, Any]) -> dict[str, Any]:
    doc = rules_app()
    doc["entities"][entity].setdefault("constraints", []).append(rule)
    return doc


def test_the_rules_app_loads():
    """Does a document using every kind of rule load without problems?"""
    assert problems(rules_app()) == {}


@pytest.mark.parametrize(
    ("entity", "rule", "path", "said"),
    [
        (
            "report",
            {"key": "u", "unique": ["team", "wek"]},
            "entities.report.constraints[1].unique[1]",
            "unknown field “wek” (did you mean “week”?)",
        ),
        (
            "leave",
            {"key": "o", "no_overlap": {"start": "title", "end": "end_date"}},
            "entities.leave.constraints[2].no_overlap.start",
            "“title” is a text field; a range needs date or date and time fields",
        ),
        (
            "leave",
            {"key": "o", "no_overlap": {"start": "start_date", "end": "end_date", "scope": ["employe"]}},
            "entities.leave.constraints[2].no_overlap.scope[0]",
            "unknown field “employe” (did you mean “employee”?)",
        ),
        (
            "leave",
            {"key": "t", "total": {"field": "title", "max": 3}},
            "entities.leave.constraints[2].total.field",
            "“title” is a text field; a total adds up number fields",
        ),
        (
            "leave",
            {"key": "t", "total": {"field": "days"}},
            "entities.leave.constraints[2].total",
            "needs a bound: “max”, “min” or “equals”",
        ),
        (
            "leave",
            {"key": "t", "total": {"field": "days", "max": "allowance +"}},
            "entities.leave.constraints[2].total.max",
            None,
        ),
        (
            "milestone",
            {"key": "n", "none": {"entity": "tsk", "via": "milestone"}},
            "entities.milestone.constraints[3].none.entity",
            "unknown entity “tsk” (did you mean “task”?) (entities: employee, leave, report, objective, key_result, milestone, task)",
        ),
        (
            "milestone",
            {"key": "n", "none": {"entity": "task", "via": "title"}},
            "entities.milestone.constraints[3].none.via",
            "“title” of “task” must be a reference to “milestone”",
        ),
        (
            "milestone",
            {"key": "n", "none": {"entity": "task", "via": "milestone", "where": "stat != 'done'"}},
            "entities.milestone.constraints[3].none.where",
            None,
        ),
        (
            "milestone",
            {"key": "n", "all": {"entity": "task", "via": "milestone"}},
            "entities.milestone.constraints[3].all",
            "needs a “where”: the condition every related record must meet",
        ),
        (
            "milestone",
            {"key": "n", "exists": {"entity": "task", "via": "milestone"}, "on": ["acept"]},
            "entities.milestone.constraints[3].on[0]",
            "unknown transition “acept” (did you mean “accept”?) (transitions: accept, close)",
        ),
        ("report", {"key": "one_per_week", "unique": ["team"]}, "entities.report.constraints[1].key", None),
        ("report", {"key": "k"}, "entities.report.constraints[1]", None),
        (
            "report",
            {"key": "k", "unique": ["team"], "exists": {"entity": "task", "via": "milestone"}},
            "entities.report.constraints[1]",
            None,
        ),
        # a condition over records reads their single values: not a many-valued reference
        ("task", {"key": "w", "unique": ["title"], "where": "len(depends_on) > 0"}, "entities.task.constraints[1].where", None),
    ],
)
def test_a_wrong_rule_is_reported_at_its_json_path(entity, rule, path, said):
    """Is each mistake in a rule reported at the JSON path of the wrong part, in words?"""
    found = problems(with_rule(entity, rule))
    assert path in found, found
    if said is not None:
        assert found[path] == said


def test_the_meta_schema_refuses_unknown_keys_in_a_rule():
    """Is an unknown key inside a rule (`scop`) reported at its path by the meta-schema?"""
    found = problems(with_rule("leave", {"key": "o", "no_overlap": {"start": "start_date", "end": "end_date", "scop": ["employee"]}}))
    assert any(path.startswith("entities.leave.constraints[2].no_overlap") for path in found), found


def test_adding_a_rule_that_stored_records_break_is_planned_with_a_count_and_applied(db, install, system):
    """Does the plan of a new rule that stored records break say how many, with the first
    of them, and once applied keep them, refusing only a change that keeps breaking it?"""
    doc = rules_app()
    doc["entities"]["report"]["constraints"] = []
    registry = install(doc)
    report = registry.entity(APP, "report")
    ids = [
        db.run(lambda c, t=t: records.create_record(c, report, {"title": t, "team": "core", "week": "2026-W49"}, actor=system)).id
        for t in ("A", "B", "C")
    ]
    other = db.run(lambda c: records.create_record(c, report, {"title": "D", "team": "web", "week": "2026-W49"}, actor=system)).id
    with_unique = rules_app()
    _, plan, *_ = db.read(lambda c: plan_change(c, with_unique))
    lines = [str(line) for line in plan.describe()]
    assert plan.ready
    assert (
        f'rule “one_per_week” of Report: 3 stored records break it (#{ids[0]} "A", #{ids[1]} "B", #{ids[2]} "C"); they are kept'
        in "\n".join(lines)
    )
    apply_document(db, with_unique, actor=system)
    report = Catalog(db).current().entity(APP, "report")
    assert db.read(lambda c: records.fetch_record(c, report, ids[0])).values["title"] == "A"
    edited = db.run(lambda c: records.update_record(c, report, ids[0], {"title": "A1"}, actor=system, expected_version=None))
    assert edited.values["title"] == "A1"  # an edit the rule does not read passes
    with pytest.raises(ConstraintBroken):
        db.run(lambda c: records.update_record(c, report, other, {"team": "core"}, actor=system, expected_version=None))
    _, again, *_ = db.read(lambda c: plan_change(c, with_unique))
    assert not any("stored record" in str(line) for line in again.describe())  # an unchanged rule is not counted again


def test_the_plan_counts_overlaps_and_guards_over_related_records(db, install, system):
    """Are overlapping stored leave requests (both of a pair) and a milestone breaking a new
    rule over its tasks counted in the plan, while a rule limited to transitions is not?"""
    doc = rules_app()
    doc["entities"]["leave"]["constraints"] = []
    doc["entities"]["milestone"]["constraints"] = []
    registry = install(doc)
    leave, employee = registry.entity(APP, "leave"), registry.entity(APP, "employee")
    milestone, task = registry.entity(APP, "milestone"), registry.entity(APP, "task")
    ann = db.run(lambda c: records.create_record(c, employee, {"name": "Ann"}, actor=system)).id
    for start, end in (("2026-05-01", "2026-05-03"), ("2026-05-03", "2026-05-04"), ("2026-05-10", "2026-05-11")):
        values = {"title": start, "employee": ann, "start_date": start, "end_date": end}
        db.run(lambda c, v=values: records.create_record(c, leave, v, actor=system))
    beta = db.run(lambda c: records.create_record(c, milestone, {"title": "Beta"}, actor=system)).id
    db.run(lambda c: records.create_record(c, task, {"title": "Open", "milestone": beta}, actor=system))
    new = rules_app()
    new["entities"]["milestone"]["constraints"].append(
        {"key": "no_open_tasks", "none": {"entity": "task", "via": "milestone", "where": "state != 'done'"}}
    )
    _, plan, *_ = db.read(lambda c: plan_change(c, new))
    text = "\n".join(str(line) for line in plan.describe())
    assert "rule “no_overlap” of Leave request: 2 stored records break it" in text
    assert f'rule “no_open_tasks” of Milestone: 1 stored record breaks it (#{beta} "Beta")' in text
    assert "balance" not in text and "tasks_done" not in text


def test_an_upgrade_keeps_the_rules_a_team_added_and_takes_the_new_ones():
    """Are rules merged by key in a three-way merge: a team's own rule and one the new
    document adds both kept, with no conflict?"""
    base = rules_app()
    local, incoming = rules_app(), rules_app()
    local["entities"]["report"]["constraints"].append({"key": "ours", "unique": ["title"]})
    incoming["entities"]["report"]["constraints"].append({"key": "theirs", "unique": ["team", "title"]})
    merged = merge_documents(base, local, incoming)
    assert merged.conflicts == []
    assert [c["key"] for c in merged.document["entities"]["report"]["constraints"]] == ["one_per_week", "ours", "theirs"]
