"""The record page after the system performed a timed transition: the history entry says it
was the system, after how long in which state, in the reader's language; the transition
is not offered as a button to people."""

from __future__ import annotations

import copy
import html

import pytest

from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import create_record
from flowdeck.engine.workflow import transition_record
from tests.support.timed import DOC, Clock, sh
from tests.support.web import signed_in, text


@pytest.mark.parametrize(
    ("headers", "said"),
    [
        ({"Accept-Language": "en"}, "by the system after 7 working days on the “cn” calendar in Resolved"),
        ({"Accept-Language": "zh-CN"}, "系统在已解决状态停留 7 个工作日（“cn”日历）后自动执行"),
    ],
    ids=["en", "zh"],
)
def test_the_history_says_the_system_closed_it_after_the_wait(client, db, install, make_user, headers, said):
    et = install(copy.deepcopy(DOC)).entity("hd", "ticket")
    make_user("ann", {"hd": ["agent"]})
    system = Actor.system()
    record = db.run(lambda c: create_record(c, et, {"title": "Printer"}, actor=system, now=sh(2026, 3, 2, 9)))
    db.run(lambda c: transition_record(c, et, record.id, "resolve", actor=system, now=sh(2026, 3, 2, 10)))
    signed_in(client, "ann")
    before = html.unescape(text(client.get(f"/a/hd/ticket/{record.id}", headers=headers)))
    assert "auto_close" not in before and said not in before
    assert Runner(db, clock=Clock(sh(2026, 3, 11, 10, 1))).run_due() == {"done": 1}
    response = client.get(f"/a/hd/ticket/{record.id}", headers=headers)
    assert response.status_code == 200
    assert said in html.unescape(text(response))
