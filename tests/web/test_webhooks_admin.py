"""The webhooks pages and the incoming webhook address: admins only (403 for others), CSRF
on every form, private addresses refused with a clear error unless the settings allow
them, the secret shown once then masked, the delivery log with Replay, and incoming calls
authenticated by their token that create a record or perform a transition, each logged."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from flowdeck.engine import models, records
from flowdeck.engine.jobs.runner import Runner
from tests.support.documents import minimal_app
from tests.support.receiver import receiver
from tests.support.web import csrf_token, login, text

BASE = "/admin/apps/demo/webhooks"


def _doc() -> dict:
    doc = minimal_app()
    doc["entities"]["task"]["fields"]["alert_id"] = {"type": "text"}
    return doc


@pytest.fixture
def task(install):
    return install(_doc()).entity("demo", "task")


@pytest.fixture
def admin_client(app, make_user, task):
    make_user("root", is_admin=True)
    client = app.test_client()
    login(client, "root")
    return client


def _new_endpoint(client, url: str):
    token = csrf_token(client, f"{BASE}/new")
    return client.post(f"{BASE}/new", data={"csrf_token": token, "url": url, "description": "ops", "events": ["record.created"]})


def test_only_admins_reach_the_pages(app, make_user, task):
    """Is every webhooks page 403 for a signed-in member, and the sign-in page for nobody?"""
    make_user("mo", {"demo": ["member"]})
    client = app.test_client()
    assert client.get(f"{BASE}/").status_code == 302
    login(client, "mo")
    for path in (f"{BASE}/", f"{BASE}/new", f"{BASE}/deliveries", f"{BASE}/hooks/new"):
        assert client.get(path).status_code == 403, path
    assert client.post(f"{BASE}/new", data={"url": "https://8.8.8.8/"}).status_code in (400, 403)
    assert app.test_client().get("/admin/apps/nope/webhooks/").status_code == 302


def test_a_private_address_is_refused_unless_the_settings_allow_it(app, admin_client):
    """Is 127.0.0.1 refused with a clear error when saving, and accepted once allowed, its
    secret shown once and masked afterwards? Does the form need its CSRF token?"""
    assert admin_client.post(f"{BASE}/new", data={"url": "https://8.8.8.8/", "events": ["record.created"]}).status_code == 400
    refused = _new_endpoint(admin_client, "http://127.0.0.1:9/hook")
    assert refused.status_code == 422 and "private or reserved address" in text(refused)
    assert "FLOWDECK_WEBHOOK_ALLOW_PRIVATE" in text(refused)
    app.config["FLOWDECK_WEBHOOK_ALLOW_PRIVATE"] = True
    made = _new_endpoint(admin_client, "http://127.0.0.1:9/hook")
    assert made.status_code == 200
    secret = re.search(r'id="webhook-secret">(whsec_[^<]+)<', text(made)).group(1)
    endpoint_id = admin_client.application.extensions["flowdeck"].db.read(
        lambda c: c.execute(sa.select(models.webhook_endpoints.c.id)).scalar_one()
    )
    page = text(admin_client.get(f"{BASE}/{endpoint_id}"))
    assert secret not in page and f"whsec_…{secret[-4:]}" in page
    assert secret not in text(admin_client.get(f"{BASE}/"))
    rotated = admin_client.post(f"{BASE}/{endpoint_id}/rotate", data={"csrf_token": csrf_token(admin_client, f"{BASE}/")})
    assert re.search(r'id="webhook-secret">(whsec_[^<]+)<', text(rotated)).group(1) != secret


def test_the_delivery_log_shows_what_was_sent_and_replays_it(app, db, admin_client, task, make_user):
    """Does the log list a delivery, its page show the request and answer, and Replay queue
    the same body again?"""
    app.config["FLOWDECK_WEBHOOK_ALLOW_PRIVATE"] = True
    with receiver() as server:
        _new_endpoint(admin_client, server.url)
        member = make_user("mo", {"demo": ["member"]})
        db.run(lambda c: records.create_record(c, task, {"title": "Disk full"}, actor=member))
        Runner(db, settings={"FLOWDECK_WEBHOOK_ALLOW_PRIVATE": True}).run_due()
        log = text(admin_client.get(f"{BASE}/deliveries?status=delivered"))
        assert "Delivered: 1" in log and "record created" in log, log[log.find("delivery-results") :][:1500]
        assert "No delivery matches." in text(admin_client.get(f"{BASE}/deliveries?status=failed"))
        delivery_id = db.read(lambda c: c.execute(sa.select(models.webhook_deliveries.c.id)).scalar_one())
        page = text(admin_client.get(f"{BASE}/deliveries/{delivery_id}"))
        assert "Disk full" in page and "webhook-signature" in page and "HTTP 200" in page
        assert admin_client.post(f"{BASE}/deliveries/{delivery_id}/replay").status_code == 400
        answer = admin_client.post(f"{BASE}/deliveries/{delivery_id}/replay", data={"csrf_token": csrf_token(admin_client, f"{BASE}/")})
        assert answer.status_code == 303
        Runner(db, settings={"FLOWDECK_WEBHOOK_ALLOW_PRIVATE": True}).run_due()
        assert len(server.requests) == 2 and server.requests[0].body == server.requests[1].body
    assert admin_client.get(f"{BASE}/deliveries/999999").status_code == 404


def _new_hook(client, **fields) -> tuple[str, str, int]:
    token = csrf_token(client, f"{BASE}/hooks/new")
    root_id = int(re.search(r'<option value="(\d+)" selected>', text(client.get(f"{BASE}/hooks/new"))).group(1))
    data = {"csrf_token": token, "name": "Alerts", "entity": "task", "run_as": str(root_id), "enabled": "1", **fields}
    made = client.post(f"{BASE}/hooks/new", data=data)
    assert made.status_code == 200, text(made)
    url = re.search(r'id="hook-url">http://localhost([^<]+)<', text(made)).group(1)
    return url, re.search(r'id="hook-token">([^<]+)<', text(made)).group(1), root_id


def test_an_incoming_hook_needs_its_token_and_creates_a_record(app, db, admin_client, task):
    """Is a call without the token 401, with a wrong one 403, and with the right one a new
    record mapped from the payload (201), each call logged? Is bad JSON a specific 400?"""
    url, token, _ = _new_hook(admin_client, action="create", mapping="title = alert.title\nalert_id = $.alert.id")
    caller = app.test_client()  # no session, no CSRF token
    payload = {"alert": {"id": "A-1", "title": "Disk full on db1"}}
    assert caller.post(url, json=payload).status_code == 401
    wrong = caller.post(url, json=payload, headers={"X-Flowdeck-Token": token + "x"})
    assert wrong.status_code == 403 and wrong.get_json()["error"] == "the token is wrong"
    good = caller.post(url, json=payload, headers={"X-Flowdeck-Token": token})
    assert good.status_code == 201 and good.get_json()["action"] == "created"
    row = db.read(lambda c: c.execute(sa.select(task.table)).one())
    assert row.title == "Disk full on db1" and row.alert_id == "A-1"
    bad = caller.post(url, data=b"{not json", headers={"Authorization": f"Bearer {token}"})
    assert bad.status_code == 400 and "not JSON" in bad.get_json()["error"]
    refused = caller.post(url, json={"alert": {"id": "A-2"}}, headers={"X-Flowdeck-Token": token})
    assert refused.status_code == 422 and "title" in refused.get_json()["fields"]
    assert caller.post("/a/demo/hooks/nope", json={}, headers={"X-Flowdeck-Token": token}).status_code == 404
    calls = db.read(lambda c: c.execute(sa.select(models.webhook_calls.c.status_code).order_by(models.webhook_calls.c.id)).scalars().all())
    assert calls == [401, 403, 201, 400, 422]
    hook_id = db.read(lambda c: c.execute(sa.select(models.webhook_hooks.c.id)).scalar_one())
    page = text(admin_client.get(f"{BASE}/hooks/{hook_id}"))
    assert "bad_token" in page and "the token is wrong" in page and token not in page


def test_an_incoming_hook_performs_a_transition_on_the_record_it_identifies(app, db, admin_client, task, make_user):
    """Does a transition hook find the record by the payload's alert id and move it, and
    answer 404 with a specific message when no record has that id?"""
    member = make_user("mo", {"demo": ["member"]})
    rec = db.run(lambda c: records.create_record(c, task, {"title": "t", "alert_id": "A-9"}, actor=member))
    url, token, _ = _new_hook(admin_client, action="transition", match_field="alert_id", match_path="alert.id", transition="start")
    caller = app.test_client()
    moved = caller.post(url, json={"alert": {"id": "A-9"}}, headers={"X-Flowdeck-Token": token})
    assert moved.status_code == 200 and moved.get_json() == {"ok": True, "action": "transitioned", "record_id": rec.id, "state": "doing"}
    missing = caller.post(url, json={"alert": {"id": "A-404"}}, headers={"X-Flowdeck-Token": token})
    assert missing.status_code == 404 and missing.get_json()["error"] == "no record has alert_id = A-404"
    again = caller.post(url, json={"alert": {"id": "A-9"}}, headers={"X-Flowdeck-Token": token})
    assert again.status_code == 409


def test_a_hook_form_with_mistakes_says_what_is_wrong(admin_client):
    """Are an unknown field, a bad path and a missing transition refused field by field?"""
    token = csrf_token(admin_client, f"{BASE}/hooks/new")
    answer = admin_client.post(
        f"{BASE}/hooks/new",
        data={"csrf_token": token, "name": "x", "entity": "task", "action": "transition", "mapping": "nope = a.b\ntitle = a..b",
              "match_field": "alert_id", "match_path": "alert.id", "transition": "fly", "run_as": "1"},
    )  # fmt: skip
    page = text(answer)
    assert answer.status_code == 422 and "the entity has no field nope" in page and "choose a transition of the entity" in page


def test_an_incoming_hook_updates_the_record_it_identifies_and_is_rate_limited(app, db, admin_client, task, make_user, monkeypatch):
    """Does an update hook change the identified record's mapped fields, and are calls over
    the per-minute limit answered 429 (and still logged)?"""
    from flowdeck.engine.webhooks import incoming

    member = make_user("mo", {"demo": ["member"]})
    rec = db.run(lambda c: records.create_record(c, task, {"title": "t", "alert_id": "A-5"}, actor=member))
    url, token, _ = _new_hook(admin_client, action="update", match_field="alert_id", match_path="id", mapping="title = summary")
    caller = app.test_client()
    updated = caller.post(url, json={"id": "A-5", "summary": "Latency high"}, headers={"X-Flowdeck-Token": token})
    assert updated.status_code == 200 and updated.get_json()["record_id"] == rec.id
    assert db.read(lambda c: c.execute(sa.select(task.table.c.title)).scalar_one()) == "Latency high"
    monkeypatch.setattr(incoming, "RATE_LIMIT", 1)
    limited = caller.post(url, json={"id": "A-5", "summary": "again"}, headers={"X-Flowdeck-Token": token})
    assert limited.status_code == 429 and "calls a minute" in limited.get_json()["error"]
    outcomes = db.read(lambda c: c.execute(sa.select(models.webhook_calls.c.outcome).order_by(models.webhook_calls.c.id)).scalars().all())
    assert outcomes == ["updated", "rate_limited"]


def test_the_pages_are_in_chinese_for_a_chinese_admin(app, admin_client):
    """Are the webhooks pages worded in Chinese for an admin who chose Chinese?"""
    admin_client.post("/prefs/lang", data={"lang": "zh", "csrf_token": csrf_token(admin_client, f"{BASE}/")})
    page = text(admin_client.get(f"{BASE}/"))
    assert "传出 Webhook" in page and "传入 Webhook" in page and "Outgoing webhooks" not in page
    refused = text(_new_endpoint(admin_client, "http://10.0.0.1/"))
    assert "私有或保留地址" in refused


def test_an_admin_reads_why_a_webhook_was_turned_off(app, db, admin_client, monkeypatch):
    """Does the notification of a webhook turned off after failures show on the admin's
    notifications page, and the reason on the webhook's page?"""
    from flowdeck.engine.webhooks import outgoing

    monkeypatch.setattr(outgoing, "MAX_ATTEMPTS", 1)
    monkeypatch.setattr(outgoing, "DISABLE_AFTER", 1)
    app.config["FLOWDECK_WEBHOOK_ALLOW_PRIVATE"] = True
    with receiver() as server:
        server.statuses = [503]
        _new_endpoint(admin_client, server.url)
        endpoint_id = db.read(lambda c: c.execute(sa.select(models.webhook_endpoints.c.id)).scalar_one())
        db.run(lambda c: outgoing.enqueue_delivery(c, endpoint_id, "record.created", {"type": "record.created"}))
        Runner(db, settings={"FLOWDECK_WEBHOOK_ALLOW_PRIVATE": True}).run_due()
    notes = text(admin_client.get("/notifications"))
    assert f"The webhook to {server.url} was turned off after 1 failed delivery" in notes
    page = text(admin_client.get(f"{BASE}/{endpoint_id}"))
    assert 'id="webhook-off"' in page and "turned off after 1 failed delivery" in page and 'id="webhook-enable"' in page
