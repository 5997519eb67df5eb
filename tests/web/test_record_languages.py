"""The engine's refusals on record pages in the reader's language: a field error beside its
field and a refused transition, in Chinese and in English."""

from __future__ import annotations

import html

import pytest

from flowdeck.engine import records
from flowdeck.engine.permissions import Actor
from flowdeck.engine.storage.tables import EntityTables
from tests.support.documents import minimal_app
from tests.support.web import field_block, signed_in, text, url

ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}


def labelled_app() -> dict:
    """Task with Chinese labels, a 20-character title, and a `rush` transition whose guard
    has no message of its own (the engine says which condition is not met)."""
    doc = minimal_app()
    task = doc["entities"]["task"]
    task["fields"]["title"].update(label={"en": "Title", "zh": "标题"}, max_length=20)
    task["fields"]["estimate"]["label"] = {"en": "Estimate", "zh": "预估工时"}
    names = {"start": "开始", "submit": "提交", "approve": "批准", "reopen": "重新打开"}
    for step in task["workflow"]["transitions"]:
        step["label"] = {"en": step["key"].title(), "zh": names[step["key"]]}
    task["workflow"]["transitions"].append(
        {"key": "rush", "from": "todo", "to": "doing", "guard": 'priority == "high"', "label": {"en": "Rush", "zh": "加急"}}
    )
    return doc


@pytest.fixture
def task(install) -> EntityTables:
    return install(labelled_app()).entity("demo", "task")


@pytest.fixture
def people(make_user) -> dict[str, Actor]:
    return {"lead": make_user("lea", {"demo": ["lead"]}), "member": make_user("mo", {"demo": ["member"]})}


def page(response) -> str:
    return html.unescape(text(response))


@pytest.mark.parametrize(
    ("headers", "too_long", "not_a_number"),
    [(ZH, "最多 20 个字符（当前 30 个）", "必须是数字"), (EN, "must be at most 20 characters (got 30)", "must be a number")],
    ids=["zh", "en"],
)
def test_field_errors_are_shown_in_the_readers_language(client, task, people, headers, too_long, not_a_number):
    """Is each field's error shown beside that field, worded in the reader's language?"""
    token = signed_in(client, "lea")
    response = client.post(url(tail="/new"), data={"csrf_token": token, "title": "x" * 30, "estimate": "many"}, headers=headers)
    assert response.status_code == 422
    body = page(response)
    assert too_long in field_block(body, "title")
    assert not_a_number in field_block(body, "estimate")


@pytest.mark.parametrize(
    ("headers", "condition"),
    [(ZH, '不满足“加急”的条件（priority == "high"）'), (EN, 'the condition for “Rush” is not met (priority == "high")')],
    ids=["zh", "en"],
)
def test_refused_transition_says_why_in_the_readers_language(client, db, task, people, headers, condition):
    """Is a transition whose condition fails offered disabled and refused with the condition, in the reader's language?"""
    rec = db.run(lambda c: records.create_record(c, task, {"title": "Printer", "priority": "low"}, actor=people["lead"]))
    token = signed_in(client, "lea")
    assert condition in page(client.get(url(rec.id), headers=headers))
    response = client.post(url(rec.id, "/transition"), data={"csrf_token": token, "transition": "rush", "version": "1"}, headers=headers)
    assert response.status_code == 422
    assert condition in page(response)


@pytest.mark.parametrize(
    ("headers", "refusal"),
    [(ZH, "你无权执行“批准”（需要角色：lead）"), (EN, "you may not perform “Approve” (roles: lead)")],
    ids=["zh", "en"],
)
def test_forbidden_transition_is_refused_in_the_readers_language(client, db, task, people, headers, refusal):
    """Is a transition the user's role may not perform refused (403) with the engine's reason in the reader's language?"""
    rec = db.run(lambda c: records.create_record(c, task, {"title": "Printer"}, actor=people["lead"]))
    db.run(lambda c: c.execute(task.table.update().where(task.table.c.id == rec.id).values(state="review")))
    token = signed_in(client, "mo")
    response = client.post(url(rec.id, "/transition"), data={"csrf_token": token, "transition": "approve", "version": "1"}, headers=headers)
    assert response.status_code == 403
    assert refusal in page(response)
