"""A migration plan answered in the browser: records moved out of a removed state, seen on the board."""

from __future__ import annotations

import sqlalchemy as sa

from flowdeck.engine import boards, records
from flowdeck.engine.apps import plan_change
from flowdeck.engine.messages import english
from flowdeck.engine.registry import Catalog
from tests.support.migrations import apply, entries, wbs_without_pending_review
from tests.support.web import login


def test_s5_mapping_pending_review_to_working_moves_both_tasks_with_history(db, wbs, app, client):
    """S5: does mapping pending_review to working move both tasks with a "state migrated" history entry by the admin and drop the column?"""
    et, tasks, ivan = wbs
    plan = db.read(lambda c: plan_change(c, wbs_without_pending_review(), {"state:task:pending_review": "working"})[1])
    assert "moves the 2 task records in state pending_review to working; each gets a history entry" in english(plan.describe())
    result = apply(db, wbs_without_pending_review(), actor=ivan, choices={"state:task:pending_review": "working"}, message="drop review")
    assert result.applied and result.version == 2
    registry = Catalog(db).current()
    et = registry.entity("wbs", "task")
    wf = et.entity.workflow
    for subject in ("接口设计 API design", "数据库设计 DB design"):
        rec = db.read(lambda c, s=subject: records.fetch_record(c, et, tasks[s]))
        assert rec.state == "working"
        last = entries(db, "wbs", "task", rec.id)[-1]
        assert (last.action, str(last.message), last.comment, last.actor_id) == (
            "migrated",
            "state migrated by schema change",
            None,
            ivan.user_id,
        )
        assert last.changes == [{"field": "state", "old": "pending_review", "new": "working"}]
        assert rec.version == 4, "start, submit_review, then the migration"
    untouched = entries(db, "wbs", "task", tasks["接口开发 API build"])
    assert [e.action for e in untouched].count("migrated") == 0
    states = db.read(lambda c: [row[0] for row in c.execute(sa.select(et.table.c.state))])
    assert set(states) <= set(wf.state_keys()), "no task is left in an unknown state"
    assert all(wf.transition(key) is None for key in ("submit_review", "approve_review", "request_changes"))
    view = et.entity.view("board")
    board = db.read(lambda c: boards.load_board(c, et, view, actor=ivan))
    assert [(c.column.value, c.count) for c in board.columns] == [("open", 1), ("working", 3), ("completed", 0), ("cancelled", 0)]
    login(client, "ivan")
    page = client.get("/a/wbs/task/v/board")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Working" in html and "Pending Review" not in html
