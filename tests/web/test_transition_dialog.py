"""The transition dialog offers what its guard and its requirements read, pre-filled and
editable, checks them together with the guard, and a refusal marks the fields it names."""

from __future__ import annotations

import re
from typing import Any

import pytest

from flowdeck.engine import records
from tests.support.documents import minimal_app
from tests.support.web import HX, signed_in, text, url


def plan_app() -> dict[str, Any]:
    doc = minimal_app(
        fields={
            "title": {"type": "text", "required": True},
            "days": {"type": "integer"},
            "rate": {"type": "money"},
            "cost": {"type": "computed", "formula": "days * rate", "result": "money"},
            "justification": {"type": "text", "required_if": "cost > 500"},
            "notes": {"type": "text"},
        }
    )
    doc["entities"]["task"]["workflow"]["transitions"].append({"key": "plan", "from": "todo", "to": "review", "guard": "cost <= 1000"})
    return doc


@pytest.fixture
def planned(db, install, make_user):
    lead = make_user("lea", {"demo": ["lead"]})
    task = install(plan_app()).entity("demo", "task")
    return task, lead


def new(db, task, lead, **values: Any) -> records.Record:
    return db.run(lambda c: records.create_record(c, task, {"title": "trip", **values}, actor=lead))


def marked(html: str) -> list[str]:
    return re.findall(r'data-field="(\w+)" class="field[^"]*has-error', html)


def post(client, token: str, rec: records.Record, **values: str) -> Any:
    form = {"csrf_token": token, "transition": "plan", "version": str(rec.version), "from_state": "todo", **values}
    return client.post(url(rec.id, "/transition"), data=form, headers=HX)


def test_a_blocked_guard_opens_a_dialog_with_the_fields_it_reads(client, db, planned):
    """Is a transition whose guard fails on fields the user may edit offered through a
    dialog with those fields (the inputs of a computed one), pre-filled, not disabled?"""
    task, lead = planned
    rec = new(db, task, lead, days=200, rate="10", justification="long")
    token = signed_in(client, "lea")
    page = text(client.get(url(rec.id)))
    button = re.search(r'<button type="submit" name="transition" value="plan"[^>]*>', page).group(0)
    assert "disabled" not in button and "transition=plan" in button and 'aria-describedby="why-plan"' in button
    dialog = text(client.get(url(rec.id, "/transition?transition=plan"), headers=HX))
    assert 'name="days"' in dialog and 'value="200"' in dialog and 'name="rate"' in dialog
    assert 'name="notes"' not in dialog and 'name="title"' not in dialog
    assert "cost &lt;= 1000" in dialog or "cost <= 1000" in dialog
    done = post(client, token, rec, days="3", rate="10")
    assert done.status_code == 200 and done.headers["HX-Redirect"] == url(rec.id)
    stored = db.read(lambda c: records.fetch_record(c, task, rec.id))
    assert (stored.state, stored.values["days"]) == ("review", 3)


def test_a_guard_refusal_marks_the_fields_the_guard_reads(client, db, planned):
    """When the posted values fail the guard, are the fields it reads marked, with the
    posted values kept?"""
    task, lead = planned
    rec = new(db, task, lead, days=1, rate="10")
    token = signed_in(client, "lea")
    refused = post(client, token, rec, days="300", rate="10", justification="long")
    html = text(refused)
    assert sorted(marked(html)) == ["days", "rate"]
    assert "decides whether “Plan” can run" in html and 'value="300"' in html
    assert db.read(lambda c: records.fetch_record(c, task, rec.id)).state == "todo"


def test_missing_fields_named_by_the_posted_values_are_offered_and_marked(client, db, planned):
    """When the posted values make a field required, is it offered and marked?"""
    task, lead = planned
    rec = new(db, task, lead, days=1, rate="10")
    token = signed_in(client, "lea")
    html = text(post(client, token, rec, days="60", rate="10"))
    assert "Fill in the marked fields" in html
    assert marked(html) == ["justification"]


def test_a_refusal_never_claims_marks_it_cannot_show(client, db, install, make_user):
    """A field required in the target state but hidden in the current one cannot be offered:
    does the refusal name it instead of saying "Fill in the marked fields" with none marked?"""
    lead = make_user("lea", {"demo": ["lead"]})
    doc = minimal_app(fields={"title": {"type": "text", "required": True}, "resolution": {"type": "text"}})
    doc["entities"]["task"]["workflow"]["rules"] = [
        {"states": ["todo"], "hidden": ["resolution"]},
        {"states": ["doing"], "required": ["resolution"]},
    ]
    task = install(doc).entity("demo", "task")
    rec = new(db, task, lead)
    token = signed_in(client, "lea")
    form = {"csrf_token": token, "transition": "start", "version": str(rec.version), "from_state": "todo"}
    html = text(client.post(url(rec.id, "/transition"), data=form, headers=HX))
    assert "Fill in the marked fields" not in html
    assert "fill in Resolution to “Start”" in html
    assert marked(html) == []
