"""The bundled apps' roll-ups: projects and milestones from their tasks, a task from its
sub-tasks, KPIs and incidents from their improvements, an improvement from its actions."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from flowdeck.demo import load_demo
from flowdeck.engine import records, users
from flowdeck.engine.registry import Catalog

PASSWORD = "demo-password"
OPEN = {"open", "in_progress", "in_review"}


def test_demo_projects_hold_the_roll_ups_of_their_tasks(bundled_db, system):
    """With the demo loaded through the record services, does each project hold the weighted progress, hours and open tasks of its tasks?"""
    load_demo(bundled_db, actor=system, password=PASSWORD)
    registry = Catalog(bundled_db).current()
    project, task = registry.entity("project", "project").table, registry.entity("project", "task").table
    tasks = bundled_db.read(
        lambda c: c.execute(sa.select(task.c.project, task.c.state, task.c.progress, task.c.estimate_hours, task.c.actual_hours)).all()
    )
    projects = bundled_db.read(
        lambda c: c.execute(sa.select(project.c.id, project.c.task_progress, project.c.task_hours, project.c.open_tasks)).all()
    )
    assert tasks
    for pid, progress, hours, open_tasks in projects:
        mine = [t for t in tasks if t.project == pid]
        weighted = [
            (t.progress, t.estimate_hours)
            for t in mine
            if t.state != "cancelled" and t.progress is not None and t.estimate_hours is not None
        ]
        weight = sum(w for _, w in weighted)
        expected = (sum(p * w for p, w in weighted) / weight).quantize(Decimal("0.01"), ROUND_HALF_UP) if weight else None
        assert progress == expected
        assert hours == sum((t.actual_hours or 0) for t in mine)
        assert open_tasks == sum(1 for t in mine if t.state in OPEN)


def test_a_task_moves_its_milestone_and_project(bundled_db, system):
    """Does a task's progress and cost reach its milestone and project, and its hours its parent task, in the same save?"""
    registry = Catalog(bundled_db).current()
    owner = bundled_db.run(lambda c: users.create_user(c, "pm", password="pm-password"))
    run = bundled_db.run
    project = registry.entity("project", "project")
    p = run(
        lambda c: records.create_record(
            c,
            project,
            {
                "name": "ERP",
                "manager": owner,
                "sponsor": owner,
                "project_type": "internal_it",
                "priority": "high",
                "objective": "Replace the ERP",
            },
            actor=system,
        )
    )
    assert p.values["open_tasks"] == 0 and p.values["task_cost"] == 0 and p.values["task_progress"] is None
    milestone = registry.entity("project", "milestone")
    m = run(lambda c: records.create_record(c, milestone, {"name": "Go-live", "project": p.id, "due_date": "2026-12-31"}, actor=system))
    task = registry.entity("project", "task")
    top = run(
        lambda c: records.create_record(
            c,
            task,
            {"name": "Build", "project": p.id, "milestone": m.id, "estimate_hours": "10", "progress": "50", "cost": "100"},
            actor=system,
        )
    )
    run(
        lambda c: records.create_record(
            c,
            task,
            {
                "name": "Test",
                "project": p.id,
                "parent": top.id,
                "milestone": m.id,
                "estimate_hours": "30",
                "progress": "10",
                "actual_hours": "4.5",
            },
            actor=system,
        )
    )
    read = lambda et, rid: bundled_db.read(lambda c: records.fetch_record(c, et, rid)).values  # noqa: E731
    assert read(project, p.id)["task_progress"] == Decimal("20.00")  # (10*50 + 30*10) / 40
    assert read(project, p.id)["task_cost"] == Decimal("100.00") and read(project, p.id)["open_tasks"] == 2
    assert read(milestone, m.id)["task_progress"] == Decimal("20.00") and read(milestone, m.id)["tasks_done"] is False
    assert read(task, top.id)["hours_below"] == Decimal("4.5") and read(task, top.id)["open_subtasks"] == 1


def test_kpi_and_improvement_roll_ups(bundled_db, system):
    """Do a KPI's improvement counts and an improvement's open actions follow the records and rows as they are saved?"""
    registry = Catalog(bundled_db).current()
    owner = bundled_db.run(lambda c: users.create_user(c, "owner", password="owner-password"))
    kpi, improvement = registry.entity("operations", "kpi"), registry.entity("operations", "improvement")
    run = bundled_db.run
    values = {"name": "SLA", "category": "service", "period": "2026-Q4", "direction": "higher", "target": "95", "owner": owner}
    k = run(lambda c: records.create_record(c, kpi, values, actor=system))
    actions = [{"action": "Runbook", "done": True}, {"action": "Alert", "done": False}]
    i = run(
        lambda c: records.create_record(
            c,
            improvement,
            {"title": "Faster triage", "problem": "Slow triage", "kpi": k.id, "owner": owner, "actions": actions},
            actor=system,
        )
    )
    assert i.values["open_actions"] == 1 and i.values["actions_done"] is False
    read = lambda et, rid: bundled_db.read(lambda c: records.fetch_record(c, et, rid)).values  # noqa: E731
    assert read(kpi, k.id)["improvements"] == 1 and read(kpi, k.id)["open_improvements"] == 1
    done = [{**row, "done": True} for row in read(improvement, i.id)["actions"]]
    run(lambda c: records.update_record(c, improvement, i.id, {"actions": done}, actor=system, expected_version=None))
    assert read(improvement, i.id)["open_actions"] == 0 and read(improvement, i.id)["actions_done"] is True
