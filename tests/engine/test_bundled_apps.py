"""The bundled app documents (schemas/*.json) and the demo data that fills them."""

from decimal import Decimal

import pytest
import sqlalchemy as sa

from flowdeck.engine import approvals, history, models, org, records, users, workflow
from flowdeck.engine.apps import bundled_documents, read_document
from flowdeck.engine.demo import DEMO_DEPARTMENTS, DEMO_PLACEMENT, DEMO_USERS, MARKER_PROJECT, load_demo
from flowdeck.engine.errors import Forbidden, TransitionRefused
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from flowdeck.engine.schema.loader import check_document, load_app

PASSWORD = "demo-password-1"

EXPECTED = {
    "project": {
        "project": {"all", "active", "mine", "at_risk", "over_budget", "ending_soon", "portfolio"},
        "task": {"wbs", "board", "by_priority", "mine", "overdue", "due_this_week", "blocked", "to_review"},
        "milestone": {"timeline", "upcoming", "missed"},
        "risk": {"register", "high", "mine", "response_overdue", "board"},
        "change_request": {"all", "pending", "major", "board"},
        "status_report": {"all", "red_amber"},
    },
    "operations": {
        "ticket": {"queue", "mine", "my_requests", "sla_breached", "to_confirm", "complaints", "all", "board"},
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


def _count(db, registry, app, entity):
    table = registry.entity(app, entity).table
    return db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _all_counts(db):
    registry = Catalog(db).current()
    return {(app, entity): _count(db, registry, app, entity) for app, entities in EXPECTED.items() for entity in entities}


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


def test_load_demo_creates_users_and_records_in_both_apps(bundled_db, system):
    """Does the demo create its users with roles in both apps and records for every entity?"""
    summary = load_demo(bundled_db, actor=system, password=PASSWORD)
    assert summary.loaded
    assert summary.users_created == len(DEMO_USERS)
    counts = _all_counts(bundled_db)
    assert all(n > 0 for n in counts.values()), counts
    assert summary.total_records == sum(counts.values())

    def check(conn):
        wang = users.find_user(conn, "wang.fang")
        assert wang is not None and wang.display_name == "王芳"
        assert users.authenticate(conn, "alice", PASSWORD) is not None
        assert users.roles_of(conn, wang.id) == {"project": frozenset({"pmo", "change_board"}), "operations": frozenset({"viewer"})}

    bundled_db.read(check)


def test_load_demo_twice_loads_nothing_more(bundled_db, system):
    """Does a second demo load leave users and records exactly as the first one left them?"""
    load_demo(bundled_db, actor=system, password=PASSWORD)
    before = _all_counts(bundled_db)
    user_count = len(bundled_db.read(users.list_users))
    again = load_demo(bundled_db, actor=system, password=PASSWORD)
    assert not again.loaded and again.total_records == 0
    assert _all_counts(bundled_db) == before
    assert len(bundled_db.read(users.list_users)) == user_count


def test_load_demo_reuses_existing_users(bundled_db, system):
    """Does the demo reuse a user who already has a demo username instead of failing?"""
    uid = bundled_db.run(lambda c: users.create_user(c, "alice", password="alice-own-pw", display_name="Alice (real)"))
    summary = load_demo(bundled_db, actor=system, password=PASSWORD)
    assert (summary.users_created, summary.users_reused) == (len(DEMO_USERS) - 1, 1)
    assert bundled_db.read(lambda c: users.get_user(c, uid).display_name) == "Alice (real)"


def test_load_demo_needs_an_admin(bundled_db):
    """Is a non-admin refused before anything is written?"""
    with pytest.raises(Forbidden):
        load_demo(bundled_db, actor=Actor(user_id=None, username="nobody"), password=PASSWORD)
    assert all(n == 0 for n in _all_counts(bundled_db).values())


def test_demo_records_went_through_real_transitions(bundled_db, system):
    """Do demo records carry transition history entries, by the people who made them?"""
    summary = load_demo(bundled_db, actor=system, password=PASSWORD)
    assert summary.transitions > 50
    registry = Catalog(bundled_db).current()
    projects = registry.entity("project", "project").table
    wms = bundled_db.read(lambda c: c.execute(sa.select(projects.c.id).where(projects.c.name == MARKER_PROJECT)).scalar_one())
    entries = bundled_db.read(lambda c: history.list_entries(c, "project", "project", wms))
    assert [e.transition for e in entries if e.action == "transition"] == ["approve", "hold_kickoff", "baseline"]
    pmo, sponsor = (bundled_db.read(lambda c, n=name: users.find_user(c, n)).id for name in ("wang.fang", "zhang.wei"))
    decisions = [(e.action, e.actor_id) for e in entries if e.transition == "approve"]
    assert decisions[1:] == [("approved", pmo), ("approved", sponsor), ("transition", sponsor)]
    assert decisions[0][0] == "approval_requested"
    assert [e.at for e in entries] == sorted(e.at for e in entries)

    h = models.history
    per_app = bundled_db.read(
        lambda c: dict(c.execute(sa.select(h.c.app, sa.func.count()).where(h.c.action == "transition").group_by(h.c.app)).all())
    )
    assert per_app["project"] > 0 and per_app["operations"] > 0


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


def _actor(db, name):
    return db.read(lambda c: users.actor_for(c, users.find_user(c, name).id))


def test_the_half_countersigned_demo_change_needs_the_last_board_member_then_the_sponsor(bundled_db, system):
    """Is the demo's pending major change refused as a plain transition, and approved only after the
    last board member and then the sponsor?"""
    load_demo(bundled_db, actor=system, password=PASSWORD)
    et = Catalog(bundled_db).current().entity("project", "change_request")
    pending = bundled_db.read(lambda c: c.execute(sa.select(et.table.c.id).where(et.table.c.state == "under_review")).scalar_one())
    with pytest.raises(TransitionRefused, match="approval request is pending"):
        bundled_db.run(lambda c: workflow.transition_record(c, et, pending, "approve", actor=_actor(bundled_db, "wang.fang")))
    request = bundled_db.read(lambda c: approvals.open_request_for(c, "project", "change_request", pending))
    with pytest.raises(Forbidden):
        bundled_db.run(lambda c: approvals.decide(c, et, request.id, actor=_actor(bundled_db, "zhang.wei"), approve=True))
    step = bundled_db.run(lambda c: approvals.decide(c, et, request.id, actor=_actor(bundled_db, "huang.min"), approve=True))
    assert step.status == "pending" and step.record.state == "under_review"
    done = bundled_db.run(lambda c: approvals.decide(c, et, request.id, actor=_actor(bundled_db, "zhang.wei"), approve=True))
    assert done.status == "approved" and done.record.state == "approved"


def test_load_demo_builds_the_organisation(bundled_db, system):
    """Does the demo create its departments with heads and place its users with their managers?"""
    load_demo(bundled_db, actor=system, password=PASSWORD)

    def check(conn):
        ids = {u.username: u.id for u in users.list_users(conn)}
        departments = {d.key: d for d in org.list_departments(conn)}
        for key, _name, name_zh, parent, head in DEMO_DEPARTMENTS:
            assert departments[key].head_id == ids[head] and departments[key].name_zh == name_zh
            assert departments[key].parent_id == (departments[parent].id if parent else None)
        for username, (department, manager) in DEMO_PLACEMENT.items():
            assert org.department_of(conn, ids[username]) == departments[department].id
            assert org.manager_chain(conn, ids[username])[1:2] == ([ids[manager]] if manager else [])

    bundled_db.read(check)


def test_load_demo_leaves_approvals_for_the_inbox(bundled_db, system):
    """Does the demo leave the expected requests waiting, each in the right person's inbox?"""
    summary = load_demo(bundled_db, actor=system, password=PASSWORD)
    assert summary.approval_requests > 20 and summary.decisions > 30

    def waiting(conn):
        out = {}
        for user in users.list_users(conn):
            items = approvals.waiting_for(conn, user.id)
            if items:
                out[user.username] = sorted((i.request.entity, i.request.transition, i.step_key) for i in items)
        return out

    assert bundled_db.read(waiting) == {
        "wang.fang": [("project", "approve", "pmo")],
        "zhang.wei": [("project", "approve", "sponsor")],
        "huang.min": [("change_request", "approve", "board")],
        "sun.li": [
            ("ops_change", "schedule", "ops_manager"),
            ("project", "accept", "customer"),
            ("purchase_request", "submit", "department_head"),
        ],
        "zhou.qiang": [("purchase_request", "submit", "general_manager")],
    }
    r = models.approval_requests
    rows = bundled_db.read(lambda c: c.execute(sa.select(r.c.entity, r.c.transition, r.c.round, r.c.status).order_by(r.c.id)).all())
    assert ("purchase_request", "submit", 1, "rejected") in rows and ("purchase_request", "submit", 2, "pending") in rows
    assert ("project", "accept", 1, "rejected") in rows and ("project", "approve", 1, "rejected") in rows
    assert [row.status for row in rows if row.entity == "incident"] == ["approved", "approved"]
    incidents = Catalog(bundled_db).current().entity("operations", "incident").table
    major_closed = bundled_db.read(
        lambda c: c.execute(
            sa.select(sa.func.count()).where((incidents.c.state == "closed") & incidents.c.severity.in_(["sev1", "sev2"]))
        ).scalar()
    )
    assert major_closed == 2


def test_demo_summary_describes_the_load(bundled_db, system):
    """Does the summary the CLI prints name users, records and approvals, and a second load say so?"""
    first = load_demo(bundled_db, actor=system, password=PASSWORD)
    assert f"{len(DEMO_USERS)} users created" in first.describe() and "approval requests" in first.describe()
    assert "already loaded" in load_demo(bundled_db, actor=system, password=PASSWORD).describe()
