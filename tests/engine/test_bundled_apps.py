"""The bundled app documents (schemas/*.json): entities, views, approval flows, tables, and their
formulas on the demo data (loading the demo itself: tests/demo)."""

from decimal import Decimal

import pytest
import sqlalchemy as sa

from flowdeck.demo import load_demo
from flowdeck.engine import records, users
from flowdeck.engine.apps import bundled_documents, read_document
from flowdeck.engine.registry import Catalog
from flowdeck.engine.schema.loader import check_document, load_app

PASSWORD = "demo-password-1"

EXPECTED = {
    "project": {
        "project": {"all", "active", "mine", "at_risk", "over_budget", "ending_soon", "portfolio"},
        "task": {"wbs", "board", "by_priority", "mine", "overdue", "due_this_week", "blocked", "to_review"},
        "milestone": {"timeline", "upcoming", "overdue", "missed"},
        "risk": {"register", "high", "mine", "response_overdue", "board"},
        "change_request": {"all", "pending", "major", "board"},
        "status_report": {"all", "red_amber"},
    },
    "operations": {
        "ticket": {"queue", "mine", "my_requests", "due_soon", "sla_breached", "to_confirm", "complaints", "all", "board"},
        "incident": {"open", "major", "review_pending", "all", "board"},
        "kpi": {"dashboard", "off_target", "mine", "by_category"},
        "improvement": {"board", "all", "mine"},
        "ops_change": {"all", "upcoming", "high_risk", "mine", "board"},
        "purchase_request": {"all", "mine", "to_order", "large", "board"},
    },
}

# (app, entity, transition) -> its approval steps: (key, approver source, mode, condition)
APPROVALS = {
    ("project", "project", "approve"): [("pmo", "role:pmo", "any", None), ("sponsor", "field:sponsor", "any", None)],
    ("project", "project", "accept"): [("customer", "field:customer_rep", "any", None)],
    ("project", "risk", "close"): [("sponsor", "field:sponsor", "any", 'level == "high"')],
    ("project", "change_request", "approve"): [
        ("board", "role:change_board", "all", None),
        ("sponsor", "role:sponsor", "any", "is_major"),
    ],
    ("operations", "incident", "close"): [("ops_manager", "role:ops_manager", "any", 'severity in ["sev1", "sev2"]')],
    ("operations", "ops_change", "schedule"): [
        ("ops_manager", "role:ops_manager", "any", None),
        ("cab", "role:cab", "all", 'risk_level == "high"'),
    ],
    ("operations", "purchase_request", "submit"): [
        ("department_head", "relation:department_head", "any", None),
        ("finance", "role:finance", "any", "total > 10000"),
        ("general_manager", "role:general_manager", "any", "total > 100000"),
    ],
}


def _documents():
    return {path.stem: path for path in bundled_documents()}


def test_bundled_documents_load_without_problems():
    """Do both bundled documents pass every shape and meaning check?"""
    documents = _documents()
    assert {"project", "operations"} <= set(documents)
    for path in documents.values():
        assert check_document(path.read_text(encoding="utf-8")) == [], path.name


def test_bundled_documents_have_the_expected_entities_and_views():
    """Does each bundled app define the entities, views and bilingual labels the domain needs?"""
    for key, path in _documents().items():
        document = read_document(path)
        assert document["source"] == f"flowdeck.bundled.{key}"
        app = load_app(document)
        assert {e.key for e in app.entities} == set(EXPECTED[key])
        for entity in app.entities:
            assert {v.key for v in entity.views} == EXPECTED[key][entity.key]
            assert {"en", "zh"} <= set(entity.label.texts), entity.key
            assert entity.workflow is not None
            for state in entity.workflow.states:
                assert {"en", "zh"} <= set(state.label.texts), f"{entity.key}.{state.key}"
            for field in entity.fields:
                assert {"en", "zh"} <= set(field.label.texts), f"{entity.key}.{field.key}"
        assert all({"en", "zh"} <= set(role.label.texts) for role in app.roles)


NEW_ROLES = {"project": {"change_board"}, "operations": {"cab", "finance", "general_manager"}}


def _source(source):
    for kind in ("role", "field", "relation"):
        if getattr(source, kind) is not None:
            return f"{kind}:{getattr(source, kind)}"
    return f"users:{','.join(source.users)}"


def test_bundled_approval_flows_are_the_expected_ones():
    """Do exactly the expected transitions carry approval flows, with the expected steps and bilingual labels?"""
    found = {}
    for key, path in _documents().items():
        app = load_app(read_document(path))
        assert NEW_ROLES[key] <= {r.key for r in app.roles}
        for entity in app.entities:
            for transition in entity.workflow.transitions:
                if transition.approval is None:
                    continue
                found[(key, entity.key, transition.key)] = [
                    (step.key, _source(step.approvers[0]), step.mode, step.when.source if step.when else None)
                    for step in transition.approval.steps
                ]
                assert all({"en", "zh"} <= set(step.label.texts) for step in transition.approval.steps)
    assert found == APPROVALS


def test_task_is_a_tree_and_its_board_limits_work_in_progress():
    """Is the WBS a tree, with a board that blocks and warns on WIP limits?"""
    app = load_app(read_document(_documents()["project"]))
    task = app.get_entity("task")
    assert task.tree == "parent"
    board = task.view("board")
    assert board.group_by == "state"
    assert {k: w.enforce for k, w in board.wip.items()} == {"in_progress": "block", "in_review": "warn"}


def test_bundled_apps_apply_to_a_fresh_database(bundled_db):
    """Does applying the bundled apps create a table for every entity, link and line-item field?"""
    registry = Catalog(bundled_db).current()
    assert set(registry.apps) >= {"project", "operations"}
    existing = set(sa.inspect(bundled_db.engine).get_table_names())
    for app, entities in EXPECTED.items():
        for entity in entities:
            for table in registry.entity(app, entity).all_tables():
                assert table.name in existing


def test_risk_score_is_probability_times_impact(bundled_db, system):
    """Is a risk's score always probability × impact, also after an edit?"""
    load_demo(bundled_db, actor=system, password=PASSWORD)
    et = Catalog(bundled_db).current().entity("project", "risk")
    rows = bundled_db.read(lambda c: c.execute(sa.select(et.table.c.id, et.table.c.probability, et.table.c.impact, et.table.c.score)).all())
    assert rows and all(score == p * i for _, p, i, score in rows)

    risk_id = next(rid for rid, p, i, _ in rows if p * i < 8)
    record = bundled_db.run(
        lambda c: records.update_record(c, et, risk_id, {"probability": 5, "impact": 2}, actor=system, expected_version=None)
    )
    assert record.values["score"] == 10
    assert record.values["level"] == "medium"


@pytest.mark.parametrize(
    ("direction", "target", "tolerance", "actual", "status"),
    [
        ("higher", "95", "5", "96", "green"),
        ("higher", "95", "5", "95", "green"),
        ("higher", "95", "5", "91", "amber"),
        ("higher", "95", "5", "90", "red"),
        ("lower", "4", "10", "3", "green"),
        ("lower", "4", "10", "4.3", "amber"),
        ("lower", "4", "10", "5", "red"),
        ("higher", "95", "5", None, "no_data"),
    ],
)
def test_kpi_status_follows_target_and_actual(bundled_db, system, direction, target, tolerance, actual, status):
    """Does a KPI's computed status follow its target, tolerance, direction and actual value?"""
    et = Catalog(bundled_db).current().entity("operations", "kpi")
    owner = bundled_db.run(lambda c: users.create_user(c, "owner", password="owner-password"))
    values = {"name": "SLA", "category": "service", "period": "2026-Q4", "direction": direction, "target": target, "tolerance": tolerance}
    record = bundled_db.run(lambda c: records.create_record(c, et, {**values, "owner": owner, "actual": actual}, actor=system))
    assert record.values["status"] == status
    assert record.values["on_target"] is (status == "green")


def test_kpi_status_changes_when_the_actual_changes(bundled_db, system):
    """Does a stored KPI status follow a later edit of the actual value?"""
    et = Catalog(bundled_db).current().entity("operations", "kpi")
    owner = bundled_db.run(lambda c: users.create_user(c, "owner", password="owner-password"))
    values = {"name": "可用性", "category": "availability", "period": "2026-11", "target": "99.9", "tolerance": "0.1", "owner": owner}
    record = bundled_db.run(lambda c: records.create_record(c, et, {**values, "actual": "99.95"}, actor=system))
    assert record.values["status"] == "green"
    record = bundled_db.run(lambda c: records.update_record(c, et, record.id, {"actual": "99.62"}, actor=system, expected_version=None))
    assert record.values["status"] == "red"
    assert record.values["attainment"] == Decimal("99.7")
