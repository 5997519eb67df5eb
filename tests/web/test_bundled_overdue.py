"""The bundled project app's overdue flags, with a held clock: a task and a milestone due
today are not overdue; after the midnight refresh their board card and lists show the red
badge and the "Overdue" views list them; cancelling the task clears it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from flowdeck.engine import clock, clock_refresh, records
from flowdeck.engine.apps import bundled_documents, read_document
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.registry import registry_for
from flowdeck.engine.workflow import transition_record
from flowdeck.views.background import periodic_work
from tests.support.timed import sh
from tests.support.web import login

EN = {"Accept-Language": "en"}
BADGE = re.compile(r'<span class="badge[^"]*">Overdue</span>')


@pytest.fixture(autouse=True)
def held_clock() -> Iterator[None]:
    clock.set_now(sh(2026, 3, 10, 15))
    yield
    clock.set_now(None)


@pytest.fixture
def world(install, make_user, db):
    apps = install(read_document(next(p for p in bundled_documents() if p.stem == "project")))
    lea = make_user("lea", {"project": ["project_manager"]})
    projects, tasks, milestones = (apps.entity("project", key) for key in ("project", "task", "milestone"))

    def work(conn):
        values = {"name": "ERP rollout", "sponsor": lea.user_id, "manager": lea.user_id, "objective": "Go live."}
        parent = records.create_record(conn, projects, values, actor=lea)
        due = records.create_record(conn, tasks, {"name": "Data migration", "project": parent.id, "due_date": "2026-03-10"}, actor=lea)
        records.create_record(conn, tasks, {"name": "Training", "project": parent.id, "due_date": "2026-03-20"}, actor=lea)
        records.create_record(conn, milestones, {"name": "Go-live", "project": parent.id, "due_date": "2026-03-10"}, actor=lea)
        return due.id

    return {"apps": apps, "lea": lea, "task": db.run(work)}


def _page(client, path: str) -> str:
    response = client.get(path, headers=EN)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def test_overdue_badges_appear_after_midnight_and_go_when_cancelled(client, db, world):
    assert {key: world["apps"].entity("project", key).entity.clocked for key in ("project", "task", "milestone")} == {
        "project": (),
        "task": ("overdue",),
        "milestone": ("overdue",),
    }
    login(client, "lea")
    assert not BADGE.search(_page(client, "/a/project/task/v/board"))
    assert "Data migration" not in _page(client, "/a/project/task/v/overdue")
    periodic_work(db, now=clock.now())  # each worker's periodic pass and `flowdeck tick` arm the next refresh
    assert db.run(lambda c: clock_refresh.arm_next(c, registry_for(c), now=clock.now())) == 0
    clock.set_now(sh(2026, 3, 11, 0, 0, 1))
    assert Runner(db).run_due() == {"done": 1}
    login(client, "lea")  # nine idle hours on the engine clock ended the session
    assert len(BADGE.findall(_page(client, "/a/project/task/v/board"))) == 1
    overdue = _page(client, "/a/project/task/v/overdue")
    assert "Data migration" in overdue and "Training" not in overdue and BADGE.search(overdue)
    assert "Go-live" in _page(client, "/a/project/milestone/v/overdue")
    assert BADGE.search(_page(client, "/a/project/milestone/v/timeline"))
    tasks = world["apps"].entity("project", "task")
    db.run(lambda c: transition_record(c, tasks, world["task"], "cancel", actor=world["lea"], comment="Not needed.", now=clock.now()))
    assert not BADGE.search(_page(client, "/a/project/task/v/board"))
    assert "Data migration" not in _page(client, "/a/project/task/v/overdue")
