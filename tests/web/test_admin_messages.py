"""The engine's texts for admins on the app pages, in the reader's language: the review of a
change (steps, questions, choices, differences), the live check's problems (JSON), a
version's changes and why each version was applied, and what stops an apply or an import.
The wording of each text is tested in tests/engine/test_admin_messages.py."""

from __future__ import annotations

import html
import json
import re

import pytest

from flowdeck.catalogs import say
from flowdeck.engine import apps
from flowdeck.engine.errors import MigrationRefused, SchemaInvalid
from flowdeck.engine.messages import M
from flowdeck.engine.permissions import Actor
from flowdeck.engine.schema.loader import check_document
from tests.support.admin_texts import ANSWERS, applied_app, changed_app, install_with_records, original_app
from tests.support.web import csrf_token, login

ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}


@pytest.fixture
def admin(client, db, install, make_user):
    install_with_records(db, install, make_user)
    make_user("boss", is_admin=True)
    login(client, "boss")
    return client


def visible(response) -> str:
    body = response.get_data(as_text=True)
    main = body[body.find("<main") :]
    main = re.sub(r"<textarea[^>]*>.*?</textarea>", " ", main, flags=re.DOTALL)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", main)))


def test_review_page_in_chinese(admin):
    """Does the review page show the plan's steps, questions, choices, examples and the
    document's differences in Chinese, and in English for an English browser?"""
    text = json.dumps(changed_app())
    token = csrf_token(admin, "/admin/apps/")
    response = admin.post("/admin/apps/demo/review", data={"csrf_token": token, "document": text}, headers=ZH)
    assert response.status_code == 200
    words = visible(response)
    for said in (
        "为 task 新增字段 due",
        "将 task 的字段 estimate 改名为 effort（数据保留）",
        "删除 task 的状态 review，但有 1 条记录处于该状态",
        "停止：不应用任何内容",
        "新增实体 note",
        "将字段 estimate 改名为 effort",
    ):
        assert said in words, said
    assert "adds field due to task" not in words
    english = visible(admin.post("/admin/apps/demo/review", data={"csrf_token": token, "document": text}, headers=EN))
    for said in (
        "adds field due to task",
        "renames field estimate to effort in task (data kept)",
        "removes state review of task, but 1 records are in it",
        "stop: apply nothing",
        "adds entity note",
        "renames field estimate to effort",
    ):
        assert said in english, said
    assert "新增" not in english


def test_live_check_and_versions_in_chinese(admin, db):
    """Do the editor's live check (problems with their paths, as JSON) and a version's changes
    speak the reader's language?"""
    doc = original_app()
    doc["entities"]["task"]["fields"]["estimate"]["type"] = "dec"
    token = csrf_token(admin, "/admin/apps/")
    posted = {"csrf_token": token, "document": json.dumps(doc)}
    checked = admin.post("/admin/apps/demo/check", data=posted, headers=ZH).get_json()
    problem = next(p for p in checked["problems"] if p["path"] == "entities.task.fields.estimate.type")
    assert problem["message"].startswith('未知的字段类型 "dec"（是不是想写“decimal”？）；可选值：text、markdown、integer')
    assert '未知的字段类型 "dec"' in html.unescape(checked["html"])
    english = admin.post("/admin/apps/demo/check", data=posted, headers=EN).get_json()
    problem = next(p for p in english["problems"] if p["path"] == "entities.task.fields.estimate.type")
    assert problem["message"].startswith('unknown field type "dec" (did you mean “decimal”?); expected one of: text, markdown, integer')
    apps.apply_document(db, applied_app(), actor=Actor.system(), choices=ANSWERS)
    words = visible(admin.get("/admin/apps/demo/versions/2", headers=ZH))
    assert "新增实体 note" in words and "删除字段 task.notes" in words
    english = visible(admin.get("/admin/apps/demo/versions/2", headers=EN))
    assert "adds entity note" in english and "新增实体" not in english


def test_why_a_version_was_applied_in_the_readers_language(admin, db):
    """Do the apps page, the versions list and a version's page give the system's reason for a
    version (a rollback) in the reader's language, and an admin's own words as typed (never
    taken for an engine text)?"""
    apps.apply_document(db, applied_app(), actor=Actor.system(), choices=ANSWERS, message="is required")
    assert "is required" in visible(admin.get("/admin/apps/", headers=ZH))
    apps.apply_document(db, original_app(), actor=Actor.system(), message=M("rollback to v%(version)s", version=1))
    for path in ("/admin/apps/", "/admin/apps/demo/versions", "/admin/apps/demo/versions/3"):
        assert "回滚到 v1" in visible(admin.get(path, headers=ZH)), path
        assert "rollback to v1" in visible(admin.get(path, headers=EN)), path
    listed = visible(admin.get("/admin/apps/demo/versions", headers=ZH))
    assert "is required" in listed and "为必填项" not in listed


def test_a_rollback_review_gives_its_reason_in_the_readers_language(admin, db):
    """Does the review of a rollback say why the version will be applied in the reader's language?"""
    apps.apply_document(db, applied_app(), actor=Actor.system(), choices=ANSWERS)
    review = admin.get("/admin/apps/demo/versions/1/rollback", headers=ZH)
    assert review.status_code == 200
    assert '<input id="message" value="回滚到 v1" readonly>' in review.get_data(as_text=True)
    english = admin.get("/admin/apps/demo/versions/1/rollback", headers=EN).get_data(as_text=True)
    assert '<input id="message" value="rollback to v1" readonly>' in english


def test_a_refused_answer_is_said_in_the_readers_language(admin):
    """Is an answer that is not one of its question's choices refused on the page in the reader's language?"""
    data = {"csrf_token": csrf_token(admin, "/admin/apps/"), "document": json.dumps(changed_app())}
    data |= {f"choice:{k}": v for k, v in ANSWERS.items()} | {"choice:option:task:priority:high": "maybe"}
    refused = admin.post("/admin/apps/demo/apply", data=data, headers=ZH)
    assert refused.status_code == 422
    assert "“maybe”不是问题 option:task:priority:high 的选项（可选：low、normal、clear）" in visible(refused)
    english = admin.post("/admin/apps/demo/apply", data=data, headers=EN)
    assert "“maybe” is not a choice for option:task:priority:high (choices: low, normal, clear)" in visible(english)


def test_what_stops_an_apply_at_the_engine_is_said_in_the_readers_language(admin, db, monkeypatch):
    """When the engine refuses the apply itself (the data changed since the review: new problems
    of the document, new refusals of the plan), does the page list its problems with their paths
    and its reasons in the reader's language?"""
    broken = original_app()
    broken["entities"]["task"]["fields"]["estimate"]["type"] = "dec"
    problems = check_document(broken)
    reasons = db.read(lambda conn: apps.plan_change(conn, changed_app(), {**ANSWERS, "option:task:priority:high": "maybe"})[1]).refusals
    assert problems and reasons
    data = {"csrf_token": csrf_token(admin, "/admin/apps/"), "document": json.dumps(applied_app())}
    data |= {f"choice:{k}": v for k, v in ANSWERS.items()}
    for error, said in ((SchemaInvalid(problems), [p.with_path() for p in problems]), (MigrationRefused(reasons), reasons)):

        def refuse(*args, exc=error, **kwargs):
            raise exc

        monkeypatch.setattr(apps, "apply_document", refuse)
        for headers, language in ((ZH, "zh"), (EN, "en")):
            response = admin.post("/admin/apps/demo/apply", data=data, headers=headers)
            assert response.status_code == 422
            words = visible(response)
            for message in said:
                assert re.sub(r"\s+", " ", say(message, language)) in words, (language, str(message))
