"""My work: what waits on me (approvals and records I can move on), assigned, created."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from flowdeck.engine import approvals, clock, records, workflow
from tests.support.documents import minimal_app
from tests.support.web import login

SH = ZoneInfo("Asia/Shanghai")


def _app():
    doc = minimal_app()
    fields = doc["entities"]["task"]["fields"]
    fields["owner"] = {"type": "user"}
    fields["helpers"] = {"type": "user", "many": True}
    doc["entities"]["task"]["workflow"]["transitions"].append(
        {"key": "sign_off", "from": "doing", "to": "done", "approval": {"steps": [{"key": "lead", "approvers": {"role": "lead"}}]}}
    )
    return doc


def test_waiting_lists_approvals_and_each_record_once(client, install, make_user, db):
    """Does "Waiting on me" show my pending approvals, and a record assigned to me twice only once?"""
    et = install(_app()).entity("demo", "task")
    lead = make_user("lea", {"demo": ["lead"]})
    member = make_user("max", {"demo": ["member"]})
    mine = db.run(
        lambda c: records.create_record(c, et, {"title": "Twice mine", "owner": lead.user_id, "helpers": [lead.user_id]}, actor=lead)
    )
    asked = db.run(lambda c: records.create_record(c, et, {"title": "Please sign off"}, actor=member))
    db.run(lambda c: workflow.transition_record(c, et, asked.id, "start", actor=member))
    db.run(lambda c: approvals.request_approval(c, et, asked.id, "sign_off", actor=member))
    login(client, "lea")
    html = client.get("/my").get_data(as_text=True)
    waiting = html[html.index("Waiting on me") : html.index("Assigned to me")]
    assert "Please sign off" in waiting and "Your approval" in waiting
    assert waiting.count("Twice mine") == 1
    assigned = html[html.index("Assigned to me") : html.index("Created by me")]
    assert assigned.count("Twice mine") == 1 and mine.id


def _timed_app():
    doc = _app()
    transitions = doc["entities"]["task"]["workflow"]["transitions"]
    for key, limit in (("sign_off", {"hours": 4}), ("rush", {"hours": 1}), ("plain", None)):
        step: dict = {"key": "lead", "approvers": {"role": "lead"}}
        if limit:
            step["time_limit"] = limit
        approval = {"steps": [step]}
        found = next((t for t in transitions if t["key"] == key), None)
        if found:
            found["approval"] = approval
        else:
            transitions.append({"key": key, "from": "doing", "to": "done", "approval": approval})
    return doc


@pytest.fixture
def timed(client, install, make_user, db):
    """Three approvals waiting for Lea: one due at 13:00, one asked later but due at 11:00
    (overdue at noon), one without a time limit; the clock held at noon (Shanghai)."""
    et = install(_timed_app()).entity("demo", "task")
    make_user("lea", {"demo": ["lead"]})
    member = make_user("max", {"demo": ["member"]})

    def ask(title: str, transition: str, hour: int) -> None:
        clock.set_now(dt.datetime(2026, 12, 7, hour, tzinfo=SH))
        made = db.run(lambda c: records.create_record(c, et, {"title": title}, actor=member))
        db.run(lambda c: workflow.transition_record(c, et, made.id, "start", actor=member))
        db.run(lambda c: approvals.request_approval(c, et, made.id, transition, actor=member))

    ask("No hurry", "plain", 8)
    ask("Due at one", "sign_off", 9)
    ask("Due at eleven", "rush", 10)
    clock.set_now(dt.datetime(2026, 12, 7, 12, tzinfo=SH))
    login(client, "lea")
    yield
    clock.set_now(None)


@pytest.mark.parametrize(("lang", "due"), [("en", "due"), ("zh", "截止")])
def test_waiting_approvals_show_their_due_time_most_urgent_first(client, timed, lang, due):
    """Does each waiting approval say when it is due (the late one in red), the soonest first and the one without a limit last?"""
    html = client.get("/my", headers={"Accept-Language": lang}).get_data(as_text=True)
    start = html.index('<div class="columns3">')
    waiting = html[start : html.index("</section>", start)]
    items = re.findall(r'<li><a href="/a/demo/task/\d+">([^<]*)</a>(.*?)</li>', waiting, re.S)
    assert [title for title, _ in items] == ["Due at eleven", "Due at one", "No hurry"]
    shown = dict(items)
    assert re.search(rf'<span class="due overdue">{due} [^<]*11:00[^<]*</span>', shown["Due at eleven"])
    assert re.search(rf'<span class="due">{due} [^<]*(13:00|1:00\s*PM)</span>', shown["Due at one"])
    assert 'class="due' not in shown["No hurry"]
