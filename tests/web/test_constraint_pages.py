"""Rules across records on the web: a refused save or transition says which record it
conflicts with, in the reader's language, with a link that opens that record."""

from __future__ import annotations

import html as html_lib

from flowdeck.engine import records
from flowdeck.engine.permissions import Actor
from tests.support.constraint_apps import APP, rules_app
from tests.support.web import signed_in, text


def test_a_refused_save_names_and_links_the_conflicting_record(client, db, install, make_user):
    """Is a new leave request overlapping another refused with 422, the rule's message, the
    other request named, and a link to it (in Chinese for a reader in Chinese)?"""
    registry = install(rules_app())
    make_user("ann", {APP: ["member"]})
    leave, employee = registry.entity(APP, "leave"), registry.entity(APP, "employee")
    system = Actor.system()
    ann = db.run(lambda c: records.create_record(c, employee, {"name": "Ann"}, actor=system)).id
    values = {"title": "May", "employee": ann, "start_date": "2026-05-01", "end_date": "2026-05-03"}
    first = db.run(lambda c: records.create_record(c, leave, values, actor=system)).id
    token = signed_in(client, "ann")
    form = {"csrf_token": token, "title": "Overlap", "employee": str(ann), "start_date": "2026-05-02", "end_date": "2026-05-04"}
    response = client.post(f"/a/{APP}/leave/new", data=form)
    page = html_lib.unescape(text(response))
    assert response.status_code == 422
    assert f"Leave must not overlap: overlaps Leave request #{first} “May” (2026-05-01 – 2026-05-03)" in page
    assert f'href="/a/{APP}/leave/{first}"' in page
    chinese = html_lib.unescape(text(client.post(f"/a/{APP}/leave/new", data=form, headers={"Accept-Language": "zh"})))
    assert f"请假时间不能重叠：与 请假申请 #{first}“May”（2026-05-01 – 2026-05-03）时间重叠" in chinese


def test_a_refused_transition_names_and_links_the_open_task(client, db, install, make_user):
    """Is accepting a milestone with an open task refused on the transition page with that
    task named and linked?"""
    registry = install(rules_app())
    make_user("ann", {APP: ["member"]})
    milestones, tasks = registry.entity(APP, "milestone"), registry.entity(APP, "task")
    system = Actor.system()
    beta = db.run(lambda c: records.create_record(c, milestones, {"title": "Beta"}, actor=system))
    open_task = db.run(lambda c: records.create_record(c, tasks, {"title": "Test", "milestone": beta.id}, actor=system)).id
    token = signed_in(client, "ann")
    form = {"csrf_token": token, "transition": "accept", "version": str(beta.version), "from_state": "open"}
    response = client.post(f"/a/{APP}/milestone/{beta.id}/transition", data=form)
    page = html_lib.unescape(text(response))
    assert response.status_code == 422
    assert f"Task #{open_task} “Test” still matches state != 'done'" in page
    assert f'href="/a/{APP}/task/{open_task}"' in page
