"""Loading the demo into the bundled apps: users, organisation, records walked through their
workflows and approvals, once."""

import pytest
import sqlalchemy as sa

from flowdeck.demo import DEMO_DEPARTMENTS, DEMO_PLACEMENT, DEMO_USERS, MARKER_PROJECT, load_demo
from flowdeck.engine import approvals, history, models, org, users, workflow
from flowdeck.engine.errors import Forbidden, TransitionRefused
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog

PASSWORD = "demo-password-1"
DEMO_APPS = ("project", "operations")


def _all_counts(db):
    """Records per (app, entity) of every entity of the demo apps."""
    registry = Catalog(db).current()

    def count(conn):
        return {
            (app, key): conn.execute(sa.select(sa.func.count()).select_from(et.table)).scalar_one()
            for app in DEMO_APPS
            for key, et in registry.app(app).entities.items()
        }

    return db.read(count)


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
