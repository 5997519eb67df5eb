"""The rules across records of the bundled apps, on the demo data: one status report per
project and week, a milestone achieved only when its tasks are done, one change window at
a time per implementer, one KPI record per KPI and period."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.demo import load_demo
from flowdeck.engine import approvals, clock, records, users, workflow
from flowdeck.engine.constraints import ConstraintBroken, ConstraintRefusesTransition
from flowdeck.engine.db import Database
from flowdeck.engine.registry import Catalog

PASSWORD = "demo-password-1"


@pytest.fixture
def demo(bundled_db, system) -> Database:
    load_demo(bundled_db, actor=system, password=PASSWORD)
    return bundled_db


def _first(db: Database, table: sa.Table, *columns: str) -> Any:
    return db.read(lambda c: c.execute(sa.select(table.c.id, *(table.c[k] for k in columns)).order_by(table.c.id)).first())


def test_a_second_status_report_in_the_same_week_is_refused(demo, system):
    """Is a new status report for a project in the week of one it already has refused,
    naming that report, and one a year later saved?"""
    et = Catalog(demo).current().entity("project", "status_report")
    report_id, project, day, title = _first(demo, et.table, "project", "report_date", "title")
    values = {"title": "Again", "project": project, "report_date": day.isoformat(), "summary": "-"}
    with pytest.raises(ConstraintBroken) as caught:
        demo.run(lambda c: records.create_record(c, et, values, actor=system))
    assert str(caught.value.message).startswith(f"One status report per project and week: Status report #{report_id} “{title}”")
    later = {**values, "report_date": (day + dt.timedelta(days=364)).isoformat()}
    assert demo.run(lambda c: records.create_record(c, et, later, actor=system)).values["report_week"]


def test_a_milestone_is_achieved_only_when_its_tasks_are_done(demo, system):
    """Is “Mark achieved” refused while a task under the milestone is open (naming it), and
    allowed once that task is cancelled?"""
    registry = Catalog(demo).current()
    milestones, tasks = registry.entity("project", "milestone"), registry.entity("project", "task")
    planned = demo.read(
        lambda c: c.execute(
            sa.select(milestones.table.c.id, milestones.table.c.project).where(milestones.table.c.state == "planned")
        ).first()
    )
    task = demo.run(
        lambda c: records.create_record(
            c, tasks, {"name": "Sign-off pack", "project": planned.project, "milestone": planned.id}, actor=system
        )
    )
    today = {"achieved_on": clock.today().isoformat()}
    with pytest.raises(ConstraintRefusesTransition) as caught:
        demo.run(lambda c: workflow.transition_record(c, milestones, planned.id, "achieve", actor=system, values=today))
    assert f"Task #{task.id} “Sign-off pack”" in str(caught.value.args[0])
    demo.run(lambda c: workflow.transition_record(c, tasks, task.id, "cancel", actor=system, comment="not needed"))
    achieved = demo.run(lambda c: workflow.transition_record(c, milestones, planned.id, "achieve", actor=system, values=today))
    assert achieved.state == "achieved"


def test_one_kpi_record_per_kpi_and_period(demo, system):
    """Is a second record of a demo KPI for the same period refused?"""
    et = Catalog(demo).current().entity("operations", "kpi")
    kpi_id, name, period, owner = _first(demo, et.table, "name", "period", "owner")
    values = {"name": name, "period": period, "category": "service", "direction": "higher", "target": "1", "owner": owner}
    with pytest.raises(ConstraintBroken) as caught:
        demo.run(lambda c: records.create_record(c, et, values, actor=system))
    assert f"#{kpi_id}" in str(caught.value.message)


def test_an_implementer_runs_one_change_window_at_a_time(demo, system):
    """Is scheduling a change whose window overlaps a scheduled change of the same
    implementer refused when its approval is requested, while the next window is fine?"""
    et = Catalog(demo).current().entity("operations", "ops_change")
    manager = demo.run(lambda c: _user(c, "cab.lead", "ops_manager"))
    implementer = demo.run(lambda c: users.create_user(c, "night.shift", password="night-password-1"))

    def change(title: str, start: str, end: str) -> int:
        values = {
            "title": title, "change_type": "normal", "services": ["erp"], "risk_level": "low", "requested_by": implementer,
            "description": "-", "implementer": implementer, "plan": "-", "rollback_plan": "-",
            "window_start": f"2030-03-01T{start}", "window_end": f"2030-03-01T{end}",
        }  # fmt: skip
        return demo.run(lambda c: records.create_record(c, et, values, actor=system)).id

    first = change("First", "20:00", "22:00")
    outcome = demo.run(lambda c: approvals.request_approval(c, et, first, "schedule", actor=system))
    demo.run(lambda c: approvals.decide(c, et, outcome.request_id, actor=manager, approve=True))
    overlapping = change("Second", "21:00", "23:00")
    with pytest.raises(ConstraintRefusesTransition) as caught:
        demo.run(lambda c: approvals.request_approval(c, et, overlapping, "schedule", actor=system))
    assert f"An implementer runs one change window at a time: overlaps Change #{first} “First”" in str(caught.value.args[0])
    after = change("Third", "22:00", "23:00")  # starts when the first ends
    assert demo.run(lambda c: approvals.request_approval(c, et, after, "schedule", actor=system)).status == "pending"


def _user(conn: sa.Connection, name: str, role: str) -> Any:
    uid = users.create_user(conn, name, password=f"{name}-password-1")
    users.grant_role(conn, uid, "operations", role)
    return users.actor_for(conn, uid)
