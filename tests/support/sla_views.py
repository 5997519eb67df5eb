"""The SLA desk with `sla` fields, a list and a board, and tickets whose SLAs stand in
each tone at 13:45 on Monday 7 December 2026 (Shanghai): shared by the web and browser tests."""

from __future__ import annotations

from typing import Any

from flowdeck.engine import clock
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import create_record
from flowdeck.engine.workflow import transition_record
from tests.support.sla_apps import desk, sh

CHECKED_AT = sh(2026, 12, 7, 13, 45)


def desk_with_views() -> dict[str, Any]:
    doc = desk()
    ticket = doc["entities"]["ticket"]
    ticket["fields"]["resolution_due"] = {"type": "sla", "sla": "resolution", "label": {"en": "Resolve by", "zh": "解决期限"}}
    ticket["fields"]["response_due"] = {"type": "sla", "sla": "response", "label": {"en": "Respond by", "zh": "响应期限"}}
    ticket["permissions"] = {"read": ["agent", "manager"], "create": ["agent"], "update": ["agent"]}
    ticket["views"] = {
        "all": {"type": "list", "columns": ["title", "priority", "assignee", "state", "resolution_due", "response_due"]},
        "board": {"type": "board", "group_by": "state", "card": ["priority", "assignee"]},
    }
    return doc


def make_tickets(db: Any, et: Any, assignee: int | None = None) -> dict[str, int]:
    """green (p3, 12h 45m left), amber (p1, warned, 45m left), red (p1 since Friday, breached),
    met (resolved within its goal), paused (waiting for the requester); due jobs run at 13:45."""
    system = Actor.system()

    def create(moment: tuple[int, ...], title: str, priority: str) -> int:
        now = sh(*moment)
        clock.set_now(now)
        values = {"title": title, "priority": priority, "assignee": assignee}
        return int(db.run(lambda c: create_record(c, et, values, actor=system, now=now)).id)

    def move(moment: tuple[int, ...], record_id: int, transition: str) -> None:
        now = sh(*moment)
        clock.set_now(now)
        db.run(lambda c: transition_record(c, et, record_id, transition, actor=system, now=now))

    found = {
        "red": create((2026, 12, 4, 9), "Server down since Friday", "p1"),
        "green": create((2026, 12, 7, 9), "New laptop", "p3"),
        "amber": create((2026, 12, 7, 9), "Mail bounces", "p1"),
        "met": create((2026, 12, 7, 9), "Password reset", "p3"),
        "paused": create((2026, 12, 7, 9), "Printer jam", "p3"),
    }
    move((2026, 12, 7, 9, 10), found["met"], "take")
    move((2026, 12, 7, 9, 30), found["met"], "resolve")
    move((2026, 12, 7, 9, 10), found["paused"], "take")
    move((2026, 12, 7, 9, 20), found["paused"], "wait")
    clock.set_now(CHECKED_AT)
    Runner(db).run_due()
    return found
