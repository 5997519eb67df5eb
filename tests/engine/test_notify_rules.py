"""Notification rules: the `notify` action telling a record's watchers, its requester and
the managers of people in user fields (never the actor about their own change, unless
`actor: true` names them), and posting to chat channels once per run."""

from __future__ import annotations

from typing import Any

import pytest

from flowdeck.catalogs import translator
from flowdeck.engine import notifications, org, records, watchers
from flowdeck.engine.channels import store
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.schema.loader import check_document
from tests.support.automations import all_runs, rule
from tests.support.chatbots import fake_bots
from tests.support.clock import Clock
from tests.support.documents import automation_app

MESSAGE = {"en": "Changed: {title}", "zh": "已变更：{title}"}


@pytest.fixture
def bots():
    with fake_bots() as bot:
        yield bot


@pytest.fixture
def setup(db, install, make_user):
    def make(action: dict[str, Any], trigger: dict[str, Any] | None = None):
        registry = install(automation_app(rule("tell", trigger or {"on": "updated"}, {"do": "notify", "message": MESSAGE, **action})))
        return registry, make_user("agent1", {"ops": ["agent", "member"]})

    return make


def _runner(db):
    return Runner(db, clock=Clock(), translator=translator, settings={"FLOWDECK_BASE_URL": "https://fd.example.com"})


def _drain(db) -> None:
    runner = _runner(db)
    while runner.run_due():
        pass


def _told(db, user) -> list[str]:
    found = db.read(lambda c: notifications.list_notifications(c, user.user_id))
    return [str(n.message) for n in found if n.kind == "automation"]


def test_watchers_are_told_but_not_the_actor(db, setup, make_user):
    """Are a record's watchers told of a change, except the watcher who made it?"""
    registry, agent = setup({"to": {"watchers": True}})
    fan = make_user("fan", {"ops": ["member"]})
    et = registry.entity("ops", "ticket")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "vpn"}, actor=agent))
    db.run(lambda c: watchers.set_following(c, et, rec.id, actor=fan, following=True))
    db.run(lambda c: records.update_record(c, et, rec.id, {"title": "vpn down"}, actor=agent, expected_version=1))
    _drain(db)
    assert _told(db, fan) == ["Changed: vpn down"]
    assert _told(db, agent) == [], "the creator watches, but made the change"


def test_actor_true_names_the_actor_explicitly(db, setup):
    """With `actor: true`, is the watcher who made the change told after all?"""
    registry, agent = setup({"to": {"watchers": True, "actor": True}})
    et = registry.entity("ops", "ticket")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "vpn"}, actor=agent))
    db.run(lambda c: records.update_record(c, et, rec.id, {"title": "vpn down"}, actor=agent, expected_version=1))
    _drain(db)
    assert _told(db, agent) == ["Changed: vpn down"]


def test_managers_of_and_created_by(db, setup, make_user):
    """Are the manager of the user in a field and the record's requester told, and a user without a manager skipped?"""
    registry, agent = setup({"to": {"managers_of": ["requester", "assignee"], "created_by": True}})
    boss = make_user("boss", {"ops": ["member"]})
    asker = make_user("ann", {"ops": ["member"]})
    creator = make_user("cre", {"ops": ["agent", "member"]})
    lonely = make_user("solo", {"ops": ["member"]})
    db.run(lambda c: org.place_user(c, asker.user_id, department_id=None, manager_id=boss.user_id))
    et = registry.entity("ops", "ticket")
    values = {"title": "vpn", "requester": asker.user_id, "assignee": lonely.user_id}
    rec = db.run(lambda c: records.create_record(c, et, values, actor=creator))
    db.run(lambda c: records.update_record(c, et, rec.id, {"title": "vpn down"}, actor=agent, expected_version=1))
    _drain(db)
    assert _told(db, boss) == ["Changed: vpn down"]
    assert _told(db, creator) == ["Changed: vpn down"]
    assert _told(db, asker) == [] and _told(db, lonely) == [] and _told(db, agent) == []
    [run] = all_runs(db)
    assert set(run.changes["sent"][0]["to"]) == {boss.user_id, creator.user_id}


def test_chat_channel_posted_once_with_a_link(db, setup, bots, make_user):
    """Is the filled message posted once to the chat channel, linking to the record, with no personal notice without "in_app"?"""
    registry, agent = setup({"to": {"created_by": True}, "channels": ["chat:ops-duty"]})
    other = make_user("oth", {"ops": ["agent", "member"]})
    extra = store.allowed_hosts(f"127.0.0.1:{bots.port}")
    db.run(
        lambda c: store.save_channel(
            c, key="ops-duty", platform="wecom", url=bots.url("wecom"), secret=None, language="en", per_minute=20, extra_hosts=extra
        )
    )
    et = registry.entity("ops", "ticket")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "vpn"}, actor=agent))
    db.run(lambda c: records.update_record(c, et, rec.id, {"title": "vpn down"}, actor=other, expected_version=1))
    _drain(db)
    [got] = bots.received
    content = got["body"]["markdown"]["content"]
    assert "Changed: vpn down" in content and f"https://fd.example.com/a/ops/ticket/{rec.id}" in content
    assert _told(db, agent) == [], "no personal notification without in_app"
    [run] = all_runs(db)
    assert run.changes["sent"][0]["chat"][0]["channel"] == "chat:ops-duty"


def test_unknown_chat_channel_is_skipped_and_recorded(db, setup, make_user):
    """Does a channel key the instance has not set up skip the post, record it, and still tell people in the app?"""
    registry, agent = setup({"to": {"created_by": True}, "channels": ["in_app", "chat:nowhere"]})
    other = make_user("oth", {"ops": ["agent", "member"]})
    et = registry.entity("ops", "ticket")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "vpn"}, actor=agent))
    db.run(lambda c: records.update_record(c, et, rec.id, {"title": "vpn down"}, actor=other, expected_version=1))
    _drain(db)
    [run] = all_runs(db)
    assert run.status == "done"
    assert run.changes["sent"][0]["chat"] == [{"channel": "chat:nowhere", "skipped": "no_channel"}]
    assert _told(db, agent) == ["Changed: vpn down"]


def test_schema_errors_at_their_json_paths():
    """Are bad recipients and channels problems at their JSON paths?"""
    action = {
        "do": "notify",
        "to": {"watchers": "yes", "managers_of": ["nope", "title"], "boss": True},
        "channels": ["chat:Bad Key", "sms", "in_app", "in_app"],
        "message": MESSAGE,
    }
    bare = {"do": "notify", "channels": "chat:ops", "message": MESSAGE}
    doc = automation_app(rule("a", {"on": "created"}, action), rule("b", {"on": "created"}, bare))
    paths = {p.path for p in check_document(doc)}
    at = "automations[0].actions[0]"
    assert {
        f"{at}.to.watchers",
        f"{at}.to.managers_of[0]",
        f"{at}.to.managers_of[1]",
        f"{at}.to.boss",
        f"{at}.channels[0]",
        f"{at}.channels[1]",
        f"{at}.channels[3]",
        "automations[1].actions[0].channels",
    } <= paths
    chat_only = automation_app(rule("c", {"on": "created"}, {"do": "notify", "channels": ["chat:ops-duty"], "message": MESSAGE}))
    assert check_document(chat_only) == [], "a chat-only rule needs no recipients"
