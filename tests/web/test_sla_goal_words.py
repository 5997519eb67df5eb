"""The record page's SLA panel says each goal as the Operations document defines it ("2
working days", "4 working hours"), in the reader's language, never converted to hours."""

from __future__ import annotations

import re

import pytest

from flowdeck.engine import records
from flowdeck.engine.apps import bundled_documents, read_document
from tests.support.web import login

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-US,en;q=0.9"}


@pytest.fixture
def tickets(install, db, make_user) -> dict[str, int]:
    """One ticket per priority, raised by Wang at the service desk (who sets the priority)."""
    path = next(p for p in bundled_documents() if p.name == "operations.json")
    et = install(read_document(path)).entity("operations", "ticket")
    wang = make_user("wang", {"operations": ["service_desk"]})
    made = {}
    for priority in ("p1", "p3", "p4"):
        values = {"title": f"Printer {priority}", "category": "hardware", "description": "It jams.", "priority": priority}
        made[priority] = db.run(lambda c, v=values: records.create_record(c, et, v, actor=wang)).id
    return made


def _goals(client, record_id: int, headers: dict[str, str]) -> list[str]:
    """The Goal of each SLA row of the record page's panel (response first, then resolution)."""
    html = client.get(f"/a/operations/ticket/{record_id}", headers=headers).get_data(as_text=True)
    panel = re.search(r'<section class="panel slas-panel".*?</section>', html, re.S)
    assert panel, html[:500]
    return re.findall(r"<dt>(?:Goal|目标)</dt><dd>([^<]*)</dd>", panel.group(0))


def test_the_sla_panel_says_goals_in_the_documents_units(client, tickets):
    """Does a P3 ticket's resolution goal read "2 working days" / "2 个工作日" and a P4's "5
    working days", where the panel used to show "15h" and "37h 30m" of working time?"""
    assert login(client, "wang").status_code == 302
    assert _goals(client, tickets["p3"], EN) == ["4 working hours", "2 working days"]
    assert _goals(client, tickets["p4"], EN) == ["8 working hours", "5 working days"]
    assert _goals(client, tickets["p1"], EN) == ["30 working minutes", "4 working hours"]
    assert _goals(client, tickets["p3"], ZH)[1] == "2 个工作日"
    assert _goals(client, tickets["p4"], ZH) == ["8 个工作小时", "5 个工作日"]
    html = client.get(f"/a/operations/ticket/{tickets['p3']}", headers=EN).get_data(as_text=True)
    assert "of working time" not in html
