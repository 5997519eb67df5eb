"""Outgoing webhooks against a real local HTTP server: a delivery exists exactly when its
change committed, bodies are signed per Standard Webhooks (checked with the reference
`standardwebhooks` verifier), replays send the same bytes, failures are retried and turn
an endpoint off (its admins told), and private addresses are refused unless allowed."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from flowdeck.engine import models, records, workflow
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.webhooks import endpoints, outgoing
from flowdeck.engine.webhooks.addresses import AddressPolicy, AddressRefused, check_url, is_public
from tests.support.documents import effects_app
from tests.support.receiver import Receiver, receiver

ALLOW = {"FLOWDECK_WEBHOOK_ALLOW_PRIVATE": True}
NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def task(install):
    return install(effects_app()).entity("demo", "task")


@pytest.fixture
def server() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


def _endpoint(db, url: str, kinds=("record.created", "record.updated", "record.transitioned"), entities=()) -> tuple[int, str]:
    return db.run(
        lambda c: endpoints.create_endpoint(
            c, "demo", url=url, description="ops", kinds=list(kinds), entities=list(entities), known_entities=["task"],
            policy=AddressPolicy(allow_private=True), actor_id=None, now=NOW,
        )
    )  # fmt: skip


def _deliveries(db) -> list:
    return db.read(lambda c: c.execute(sa.select(models.webhook_deliveries).order_by(models.webhook_deliveries.c.id)).all())


def test_a_change_is_sent_signed_and_verifies_with_the_reference_algorithm(db, task, make_user, server):
    """Does a created record reach the endpoint with Standard Webhooks headers that the
    reference verifier accepts, and a payload with the type, record, values and actor?"""
    _, secret = _endpoint(db, server.url)
    member = make_user("mo", {"demo": ["member"]})
    rec = db.run(lambda c: records.create_record(c, task, {"title": "Disk full", "estimate": "2"}, actor=member))
    assert Runner(db, settings=ALLOW).run_due() == {"done": 1}
    (sent,) = server.requests
    verified = Webhook(secret).verify(sent.body, sent.headers)
    assert verified["type"] == "record.created" and verified["data"]["record_id"] == rec.id
    assert verified["data"]["values"]["title"] == "Disk full" and verified["data"]["actor"]["username"] == "mo"
    assert sent.headers["webhook-id"].startswith("msg_") and sent.headers["webhook-signature"].startswith("v1,")
    with pytest.raises(Exception, match="signature"):
        Webhook(endpoints.new_secret()).verify(sent.body, sent.headers)
    (row,) = _deliveries(db)
    assert row.status == "delivered" and row.response_code == 200 and row.body.encode() == sent.body and row.attempts == 1


def test_an_update_carries_the_changed_keys_and_their_values_before(db, task, make_user, server):
    """Does an update's payload say which keys changed and what they were before?"""
    _endpoint(db, server.url, kinds=["record.updated", "record.transitioned"])
    member = make_user("mo", {"demo": ["member"]})
    rec = db.run(lambda c: records.create_record(c, task, {"title": "t", "estimate": "2"}, actor=member))
    db.run(lambda c: records.update_record(c, task, rec.id, {"estimate": "5"}, actor=member, expected_version=None))
    db.run(lambda c: workflow.transition_record(c, task, rec.id, "start", actor=member))
    Runner(db, settings=ALLOW).run_due()
    updated, moved = (json.loads(r.body) for r in server.requests)
    assert updated["data"]["changed"] == ["estimate"] and updated["data"]["before"] == {"estimate": "2.00"}
    assert updated["data"]["values"]["estimate"] == "5.00"  # decimals as strings: their exact digits
    assert moved["type"] == "record.transitioned" and moved["data"]["transition"] == "start"
    assert moved["data"]["state"] == "doing" and moved["data"]["state_before"] == "todo"


def test_a_rolled_back_change_stores_and_sends_nothing(db, task, make_user, server):
    """Is a change that rolls back (here: refused after the event) without any delivery?"""
    _endpoint(db, server.url)
    member = make_user("mo", {"demo": ["member"]})

    def create_then_fail(conn):
        records.create_record(conn, task, {"title": "t"}, actor=member)
        raise RecordInvalid({"title": []})

    with pytest.raises(RecordInvalid):
        db.run(create_then_fail)
    assert _deliveries(db) == []
    assert Runner(db, settings=ALLOW).run_due() == {}
    assert server.requests == []


def test_only_the_kinds_and_entities_an_endpoint_wants_are_stored(db, task, make_user, server):
    """Does an endpoint get only its kinds of event, and nothing for other entities?"""
    _endpoint(db, server.url, kinds=["record.deleted"])
    _endpoint(db, server.url, kinds=["record.created"], entities=["task"])
    member = make_user("mo", {"demo": ["member"]})
    db.run(lambda c: records.create_record(c, task, {"title": "t"}, actor=member))
    assert [(r.event_type, r.endpoint_id) for r in _deliveries(db)] == [("record.created", 2)]


def test_a_replay_sends_the_identical_bytes_with_the_same_id(db, task, make_user, server):
    """Does Replay send the stored body byte for byte, with the same webhook-id and a fresh
    valid signature?"""
    _, secret = _endpoint(db, server.url)
    member = make_user("mo", {"demo": ["member"]})
    db.run(lambda c: records.create_record(c, task, {"title": "Ünïcode ✓", "estimate": "1.5"}, actor=member))
    clock = Clock()
    Runner(db, settings=ALLOW, clock=clock).run_due()
    first = _deliveries(db)[0]
    clock.now += dt.timedelta(minutes=2)  # within the verifier's 5 minutes
    again = db.run(lambda c: outgoing.replay(c, "demo", first.id, now=clock.now))
    Runner(db, settings=ALLOW, clock=clock).run_due()
    original, replayed = server.requests
    assert replayed.body == original.body and replayed.headers["webhook-id"] == original.headers["webhook-id"]
    assert replayed.headers["webhook-timestamp"] != original.headers["webhook-timestamp"]
    Webhook(secret).verify(replayed.body, replayed.headers)
    row = next(r for r in _deliveries(db) if r.id == again)
    assert row.replay_of == first.id and row.status == "delivered"


def test_a_failed_attempt_is_retried_after_the_backoff(db, task, make_user, server):
    """Is a 500 kept on the delivery and tried again after the job engine's backoff, and
    the second attempt's success delivered?"""
    _endpoint(db, server.url)
    server.statuses = [500]
    member = make_user("mo", {"demo": ["member"]})
    db.run(lambda c: records.create_record(c, task, {"title": "t"}, actor=member))
    clock = Clock()
    runner = Runner(db, settings=ALLOW, clock=clock)
    runner.run_due()
    (row,) = _deliveries(db)
    assert row.status == "retrying" and row.response_code == 500 and row.last_error == "HTTP 500" and row.attempts == 1
    assert runner.run_due() == {}  # not due yet
    clock.now += dt.timedelta(seconds=11)
    runner.run_due()
    (row,) = _deliveries(db)
    assert row.status == "delivered" and row.attempts == 2 and len(server.requests) == 2
    assert server.requests[0].body == server.requests[1].body


def test_repeated_failures_turn_the_endpoint_off_and_tell_the_admins(db, task, make_user, server, monkeypatch):
    """After DISABLE_AFTER deliveries in a row failed, is the endpoint off (with why), are
    the app's admins notified, and are later events no longer stored?"""
    monkeypatch.setattr(outgoing, "MAX_ATTEMPTS", 2)
    monkeypatch.setattr(outgoing, "DISABLE_AFTER", 3)
    endpoint_id, _ = _endpoint(db, server.url)
    server.statuses = [500] * 100
    root = make_user("root", is_admin=True)
    member = make_user("mo", {"demo": ["member"]})
    clock = Clock()
    runner = Runner(db, settings=ALLOW, clock=clock)
    for n in range(3):
        db.run(lambda c, n=n: records.create_record(c, task, {"title": f"t{n}"}, actor=member))
        runner.run_due()
        clock.now += dt.timedelta(seconds=11)
        runner.run_due()
    endpoint = db.read(lambda c: endpoints.get_endpoint(c, "demo", endpoint_id))
    assert not endpoint.enabled and endpoint.failures == 3 and "3 failed deliveries" in str(endpoint.disabled_reason)
    assert [r.status for r in _deliveries(db)] == ["failed"] * 3 and len(server.requests) == 6
    notes = db.read(lambda c: c.execute(sa.select(models.notifications).where(models.notifications.c.user_id == root.user_id)).all())
    assert len(notes) == 1 and notes[0].kind == "webhook_disabled" and notes[0].app == "demo"
    db.run(lambda c: records.create_record(c, task, {"title": "later"}, actor=member))
    assert len(_deliveries(db)) == 3
    db.run(lambda c: endpoints.set_enabled(c, "demo", endpoint_id, True, now=clock.now))
    endpoint = db.read(lambda c: endpoints.get_endpoint(c, "demo", endpoint_id))
    assert endpoint.enabled and endpoint.failures == 0 and endpoint.disabled_reason is None


def test_loopback_is_refused_without_the_setting(db, task, make_user, server):
    """Without FLOWDECK_WEBHOOK_ALLOW_PRIVATE, is a delivery to 127.0.0.1 refused at send
    time (failed at once, nothing sent) and the endpoint refused when saved?"""
    _endpoint(db, server.url)  # saved while allowed
    member = make_user("mo", {"demo": ["member"]})
    db.run(lambda c: records.create_record(c, task, {"title": "t"}, actor=member))
    Runner(db, settings={}).run_due()
    (row,) = _deliveries(db)
    assert row.status == "failed" and "private or reserved" in row.last_error and server.requests == []
    with pytest.raises(endpoints.EndpointInvalid) as refused:
        db.run(
            lambda c: endpoints.create_endpoint(
                c, "demo", url=server.url, description="", kinds=["record.created"], entities=[], known_entities=["task"],
                policy=AddressPolicy(), actor_id=None, now=NOW,
            )
        )  # fmt: skip
    assert "private or reserved" in str(refused.value.errors["url"][0])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/", "http://127.1.2.3:8080/x", "http://localhost/", "http://10.0.0.5/", "http://172.16.1.1/",
        "http://192.168.1.10/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[fd12:3456::1]/",
        "http://[fe80::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:8.8.8.8]/", "http://0.0.0.0/", "http://224.0.0.1/",
        "http://100.64.0.1/", "http://[2002:7f00:1::]/", "http://[64:ff9b::7f00:1]/", "http://240.0.0.1/", "http://2130706433/",
        "http://0x7f.1/",
    ],
)  # fmt: skip
def test_private_and_reserved_addresses_are_refused(url):
    """Is each form of a non-public address (names resolving to loopback, IPv6, IPv4 inside
    IPv6, link-local metadata, decimal and hex forms) refused by default?"""
    with pytest.raises(AddressRefused):
        check_url(url, AddressPolicy())


def test_allow_lists_and_public_addresses():
    """Is a public address allowed, and a private one only with the setting or inside an
    allowed network?"""
    import ipaddress

    assert is_public(ipaddress.ip_address("8.8.8.8")) and is_public(ipaddress.ip_address("2606:4700:4700::1111"))
    assert check_url("https://8.8.8.8/hook", AddressPolicy()).address == "8.8.8.8"
    assert check_url("http://10.1.2.3/", AddressPolicy(allowed=(ipaddress.ip_network("10.1.2.0/24"),))).address == "10.1.2.3"
    with pytest.raises(AddressRefused):
        check_url("http://10.1.3.3/", AddressPolicy(allowed=(ipaddress.ip_network("10.1.2.0/24"),)))
    assert check_url("http://localhost:9/", AddressPolicy(allow_private=True)).host == "localhost"
    for bad in ("ftp://8.8.8.8/", "http://user:pw@8.8.8.8/", "not a url", "http:///x"):
        with pytest.raises(AddressRefused):
            check_url(bad, AddressPolicy())


def test_enqueue_delivery_is_what_other_rules_call(db, task, server):
    """Can other engine code (an automation's webhook action) queue a payload of its own?"""
    endpoint_id, secret = _endpoint(db, server.url)
    db.run(lambda c: outgoing.enqueue_delivery(c, endpoint_id, "automation.called", {"type": "automation.called", "data": {"x": 1}}))
    Runner(db, settings=ALLOW).run_due()
    (sent,) = server.requests
    assert Webhook(secret).verify(sent.body, sent.headers) == {"type": "automation.called", "data": {"x": 1}}


def test_a_receiver_answering_slowly_does_not_hold_the_write_lock(db, task, make_user, server):
    """While a delivery waits for its answer, can the rest of the instance still write
    (the request is sent outside the job's transaction, so SQLite's write lock is free)?"""
    _endpoint(db, server.url)
    member = make_user("mo", {"demo": ["member"]})
    db.run(lambda c: records.create_record(c, task, {"title": "first"}, actor=member))
    written: list[int] = []

    def write_meanwhile() -> None:
        written.append(db.run(lambda c: records.create_record(c, task, {"title": "meanwhile"}, actor=member)).id)

    server.on_request = write_meanwhile
    started = time.monotonic()
    Runner(db, settings=ALLOW).run_one()
    assert written and time.monotonic() - started < 5
    assert _deliveries(db)[0].status == "delivered"


def test_the_settings_check_the_allow_list():
    """Is a wrong network in FLOWDECK_WEBHOOK_ALLOW_CIDRS refused at start, naming it, and
    are the settings read into the address policy?"""
    from flowdeck import config

    with pytest.raises(config.ConfigError, match="'nonsense' is not a network"):
        config.settings({"FLOWDECK_WEBHOOK_ALLOW_CIDRS": "10.0.0.0/8, nonsense"})
    read = config.settings({"FLOWDECK_WEBHOOK_ALLOW_CIDRS": "10.1.2.7/24, fd00::/8", "FLOWDECK_WEBHOOK_ALLOW_PRIVATE": "off"})
    policy = AddressPolicy.from_settings(read)
    assert read["FLOWDECK_WEBHOOK_ALLOW_CIDRS"] == ("10.1.2.0/24", "fd00::/8") and not policy.allow_private
    assert check_url("http://10.1.2.9/", policy).address == "10.1.2.9"
