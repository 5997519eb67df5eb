"""The automation pages: runs with filters, one run with its changes and error, Retry with
CSRF, admins only; the test run (writes nothing); the record page's button for the roles
the rule names."""

from __future__ import annotations

import sqlalchemy as sa

from flowdeck.engine import models, notifications, records
from flowdeck.engine.jobs.runner import Runner
from tests.support.automations import all_runs, rule
from tests.support.documents import automation_app
from tests.support.web import csrf_token, login, text

RULES = (
    rule("shut", {"on": "created"}, {"do": "transition", "transition": "close"}, condition="priority == 'low'"),
    rule(
        "stamp",
        {"on": "created"},
        {"do": "set", "fields": {"note": "'seen ' + title"}},
        {
            "do": "notify",
            "to": {"actor": True},
            "channels": ["in_app", "chat:nowhere"],
            "message": {"en": "Seen {title}", "zh": "已看 {title}"},
        },
    ),
    rule(
        "escalate",
        {"on": "button", "roles": ["lead"], "label": {"en": "Escalate", "zh": "升级"}},
        {"do": "set", "fields": {"priority": "'high'"}},
    ),
)


def _setup(db, install, make_user):
    registry = install(automation_app(*RULES))
    agent = make_user("agent1", {"ops": ["agent", "member"]})
    make_user("root", is_admin=True)
    et = registry.entity("ops", "ticket")
    low = db.run(lambda c: records.create_record(c, et, {"title": "low one", "priority": "low"}, actor=agent))
    Runner(db).run_due()
    return et, agent, low


def test_admin_lists_filters_and_reads_a_run(app, db, install, make_user):
    """Does an admin see runs filtered by rule and status, and a failed run's error, inputs and changes?"""
    _et, _agent, low = _setup(db, install, make_user)
    client = app.test_client()
    login(client, "root")
    page = text(client.get("/admin/automations/"))
    assert "Failed: 1" in page and "Done: 1" in page
    failed = next(r for r in all_runs(db) if r.status == "failed")
    done = next(r for r in all_runs(db) if r.status == "done")
    only = client.get("/admin/automations/?rule=ops:shut").get_data(as_text=True)
    assert f'href="/admin/automations/runs/{failed.id}"' in only and f'href="/admin/automations/runs/{done.id}"' not in only
    by_status = client.get(f"/admin/automations/?status=done&record={low.id}").get_data(as_text=True)
    assert f'href="/admin/automations/runs/{done.id}"' in by_status and f'href="/admin/automations/runs/{failed.id}"' not in by_status
    detail = text(client.get(f"/admin/automations/runs/{failed.id}"))
    assert "the condition for" in detail and "record.created" in detail and "Retry" in detail
    assert "seen low one" in text(client.get(f"/admin/automations/runs/{done.id}"))
    assert client.get("/admin/automations/runs/99999").status_code == 404


def test_retry_needs_csrf_and_queues_the_run(app, db, install, make_user):
    """Is Retry refused without a CSRF token, and with one does it queue the run again?"""
    _setup(db, install, make_user)
    failed = next(r for r in all_runs(db) if r.status == "failed")
    client = app.test_client()
    login(client, "root")
    assert client.post(f"/admin/automations/runs/{failed.id}/retry").status_code == 400
    token = csrf_token(client, "/admin/automations/")
    assert client.post(f"/admin/automations/runs/{failed.id}/retry", data={"csrf_token": token}).status_code == 303
    assert next(r for r in all_runs(db) if r.id == failed.id).status == "queued"


def test_pages_are_for_admins_only(app, db, install, make_user):
    """Are the run pages, Retry and the test run refused to a non-admin?"""
    _setup(db, install, make_user)
    failed = next(r for r in all_runs(db) if r.status == "failed")
    client = app.test_client()
    login(client, "agent1")
    token = csrf_token(client, "/account/password")
    assert client.get("/admin/automations/").status_code == 403
    assert client.get(f"/admin/automations/runs/{failed.id}").status_code == 403
    assert client.post(f"/admin/automations/runs/{failed.id}/retry", data={"csrf_token": token}).status_code == 403
    assert client.post("/admin/automations/test", data={"csrf_token": token, "rule": "ops:stamp", "record": "1"}).status_code == 403
    assert next(r for r in all_runs(db) if r.id == failed.id).status == "failed"


def test_test_run_shows_the_diff_and_writes_nothing(app, db, install, make_user):
    """Does the test run show the match, the changed fields and the message, and leave every table as it was?"""
    et, agent, low = _setup(db, install, make_user)
    db.run(lambda c: records.update_record(c, et, low.id, {"note": "edited"}, actor=agent, expected_version=None))

    def snapshot():
        def read(c):
            tables = (et.table, models.automation_runs, models.jobs, models.notifications, models.history)
            return [c.execute(sa.select(t)).all() for t in tables]

        return db.read(read)

    before = snapshot()
    client = app.test_client()
    login(client, "root")
    token = csrf_token(client, "/admin/automations/test")
    page = text(client.post("/admin/automations/test", data={"csrf_token": token, "rule": "ops:stamp", "record": str(low.id)}))
    assert "would run" in page and "edited" in page and "seen low one" in page and "Seen low one → Root" in page
    assert "chat:nowhere (no such chat channel on this instance: skipped)" in page
    moved = text(client.post("/admin/automations/test", data={"csrf_token": token, "rule": "ops:shut", "record": str(low.id)}))
    assert "<td>state</td><td>new</td><td>closed</td>" in moved
    assert snapshot() == before
    assert db.read(lambda c: notifications.list_notifications(c, agent.user_id))[0].kind == "automation"  # only the real run's


def test_button_shows_for_its_roles_and_queues_a_run(app, db, install, make_user):
    """Is the rule's button on the record page only for its roles, and does pressing it (with CSRF) run the rule?"""
    et, _agent, low = _setup(db, install, make_user)
    make_user("lead1", {"ops": ["lead"]})
    client = app.test_client()
    login(client, "agent1")
    page = client.get(f"/a/ops/ticket/{low.id}").get_data(as_text=True)
    assert 'id="automation-escalate"' not in page
    token = csrf_token(client, f"/a/ops/ticket/{low.id}")
    assert client.post(f"/a/ops/ticket/{low.id}/automations/escalate", data={"csrf_token": token}).status_code == 403
    lead = app.test_client()
    login(lead, "lead1")
    assert 'id="automation-escalate"' in lead.get(f"/a/ops/ticket/{low.id}").get_data(as_text=True)
    token = csrf_token(lead, f"/a/ops/ticket/{low.id}")
    assert lead.post(f"/a/ops/ticket/{low.id}/automations/escalate").status_code == 400
    assert lead.post(f"/a/ops/ticket/{low.id}/automations/escalate", data={"csrf_token": token}).status_code == 303
    Runner(db).run_due()
    assert db.read(lambda c: records.fetch_record(c, et, low.id)).values["priority"] == "high"
    history = text(lead.get(f"/a/ops/ticket/{low.id}"))
    assert "by automation “escalate” (run #" in history
