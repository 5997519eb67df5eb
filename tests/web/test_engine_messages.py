"""Engine messages shown in the user's language (`views.engine_messages`): patterns, labels
looked up in the registry; the real messages the engine raises, rendered with `say`."""

from __future__ import annotations

import json
import re

import pytest

from flowdeck.engine import comments, records, workflow
from flowdeck.engine.errors import Conflict, Forbidden, NotFound, RecordInvalid, TransitionRefused
from flowdeck.engine.permissions import require
from flowdeck.views import engine_messages
from flowdeck.views.engine_messages import RULES, translate, translate_errors
from flowdeck.views.i18n import say, say_errors
from tests.support.documents import minimal_app
from tests.support.web import csrf_token, login

ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}
ENGLISH_WORD = re.compile(r"\b(?:is|must|be|the|you|may|not|to|of|a|no|at|from|this)\b")


def labelled_app() -> dict:
    """The minimal app with Chinese labels on the entity, its fields, states and transitions."""
    doc = minimal_app()
    task = doc["entities"]["task"]
    task["plural"] = {"en": "Tasks", "zh": "任务"}
    task["fields"]["title"]["label"] = {"en": "Title", "zh": "标题"}
    task["fields"]["title"]["max_length"] = 20
    task["fields"]["estimate"]["label"] = {"en": "Estimate", "zh": "预估工时"}
    task["fields"]["due"] = {"type": "date", "label": {"en": "Due date", "zh": "截止日期"}}
    states = task["workflow"]["states"]
    states["todo"]["label"] = {"en": "To do", "zh": "待办"}
    states["doing"]["label"] = {"en": "Doing", "zh": "进行中"}
    states["review"]["label"] = {"en": "Review", "zh": "评审中"}
    states["done"]["label"] = {"en": "Done", "zh": "已完成"}
    names = {"start": "开始", "submit": "提交", "approve": "批准", "reopen": "重新打开"}
    for step in task["workflow"]["transitions"]:
        step["label"] = {"en": step["key"].title(), "zh": names[step["key"]]}
    task["workflow"]["transitions"][1]["require"] = ["estimate", "due"]
    task["workflow"]["transitions"][1]["comment"] = "required"
    return doc


@pytest.fixture
def tasks(app, install, make_user, db):
    """The labelled app installed, a lead and a viewer, and one task in state `todo`."""
    registry = install(labelled_app())
    et = registry.entity("demo", "task")
    lead = make_user("lea", {"demo": ["lead"]})
    viewer = make_user("vic", {"demo": ["viewer"]})
    outsider = make_user("otto")
    record = db.run(lambda c: records.create_record(c, et, {"title": "Printer"}, actor=lead))
    return {"et": et, "lead": lead, "viewer": viewer, "outsider": outsider, "record": record}


def zh(app, message, entity=None):
    with app.test_request_context("/", headers=ZH):
        return translate(message, entity)


def raised(db, work):
    """The engine error `work` raises (nothing is written)."""
    with pytest.raises((RecordInvalid, TransitionRefused, Forbidden, Conflict, NotFound)) as caught:
        db.run(work)
    return caught.value


# -- the rules ------------------------------------------------------------------------------------


def test_every_rule_has_as_many_placeholders_as_groups():
    """Does each msgid use exactly the named groups of its pattern (no KeyError, nothing lost)?"""
    assert len(RULES) >= 30
    for rule in RULES:
        assert set(rule.pattern.groupindex) == rule.placeholders(), rule.msgid


def test_every_rule_is_translated_in_the_catalog(app):
    """Does every engine message pattern have a Chinese translation (not the English msgid)?"""
    with app.test_request_context("/", headers=ZH):
        untranslated = [rule.msgid for rule in RULES if str(rule.text) == rule.msgid]
    assert untranslated == []


def test_english_messages_come_back_unchanged(app):
    """In English, is every message shown exactly as the engine wrote it?"""
    with app.test_request_context("/", headers=EN):
        for message in ("is required", "Task #3 does not exist", "fill in Estimate to “Submit”", "anything else"):
            assert translate(message) == message


def test_outside_a_request_messages_are_left_alone():
    """Without a request (CLI, mail sender), does the translator answer the English text?"""
    assert translate("is required") == "is required"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("is required", "为必填项"),
        ("must be at most 200 characters (got 250)", "最多 200 个字符（当前 250 个）"),
        ("must be at most 200 characters", "最多 200 个字符"),
        ("must be at least 8 characters", "至少 8 个字符"),
        ("must be at least 5", "不能小于 5"),
        ("must be a number", "必须是数字"),
        ("must be a whole number", "必须是整数"),
        ("must have at most 2 decimal places", "最多 2 位小数"),
        ("must be a date (YYYY-MM-DD)", "必须是日期（YYYY-MM-DD）"),
        ("is not a valid email address", "不是有效的电子邮件地址"),
        ('"huge" is not one of the options (low, normal, high)', "“huge”不是可选项（可选：low, normal, high）"),
        ("must be one of these types: .pdf, .png", "文件类型必须是以下之一：.pdf, .png"),
        ("is larger than 5 MB", "超过 5 MB"),
        ("already decided: this request was approved", "已处理：此申请已通过"),
        ("you cannot approve or reject your own request", "你不能审批自己发起的申请"),
        ("a rejection needs a comment saying why", "驳回时请填写原因"),
        ("there is no approval request 7 here", "审批申请 7 不存在"),
        ('"ann" is taken', "“ann”已被占用"),
    ],
)
def test_common_messages_in_chinese(app, message, expected):
    """Are the common engine messages shown in Chinese?"""
    assert zh(app, message) == expected


def test_unknown_messages_fall_back_to_english(app):
    """Is a message no pattern knows shown as the engine wrote it?"""
    assert zh(app, "the moon is made of cheese") == "the moon is made of cheese"
    assert zh(app, "") == ""


# -- labels quoted by the engine ---------------------------------------------------------------------


def test_labels_in_messages_are_shown_in_chinese(app, tasks):
    """Are the English labels the engine quotes (entity, fields, states, transitions) looked up?"""
    entity = tasks["et"].entity
    assert zh(app, "Task #12 does not exist") == "任务 #12 不存在"
    assert zh(app, "you may not delete tasks") == "你无权删除任务"
    assert zh(app, "fill in Estimate, Due date to “Submit”", entity) == "要执行“提交”，请先填写：预估工时、截止日期"
    assert zh(app, "no transition from To do to Done") == "没有从“待办”到“已完成”的流转"
    assert zh(app, "Done is at its limit of 3") == "“已完成”已达到上限 3"
    assert zh(app, "“Start” cannot start from Done (only from: todo)") == "“开始”不能从“已完成”发起（只能从：待办）"


def test_unknown_labels_stay_as_written(app, tasks):
    """Is a label the registry does not know left in English rather than dropped?"""
    assert zh(app, "Widget #3 does not exist") == "Widget #3 不存在"


def test_record_invalid_text_is_translated_part_by_part(app, tasks):
    """Is RecordInvalid's own text ("key: message; key: message") translated with field labels?"""
    entity = tasks["et"].entity
    shown = zh(app, "title: is required; estimate: must be a number, is too large", entity)
    assert shown == "标题：为必填项；预估工时：必须是数字，数值过大"


def test_nested_filter_messages(app):
    """Is a filter error holding a field type's message translated inside and out?"""
    assert zh(app, "'abc' does not fit this field: must be a number") == "'abc' 不适用于此字段：必须是数字"


def test_translate_errors_keeps_the_keys(app, tasks):
    """Does `translate_errors` keep field keys and translate every message?"""
    with app.test_request_context("/", headers=ZH):
        errors = translate_errors({"title": ["is required"], "_record": ["is already used by another record"]}, tasks["et"].entity)
    assert errors == {"title": ["为必填项"], "_record": ["已被其他记录使用"]}


def test_notification_filter_in_templates(app, tasks):
    """Does `|engine_text` show stored English notifications in Chinese?"""
    with app.test_request_context("/", headers=ZH):
        template = app.jinja_env.from_string("{{ message|engine_text }}")
        shown = template.render(message="Approved: Start of “Printer”")
    assert shown == "已通过：“Printer”的开始"


def test_label_index_follows_schema_changes(app, install, tasks):
    """After a schema change, are the new labels used (the index is rebuilt per registry)?"""
    assert zh(app, "Task #1 does not exist") == "任务 #1 不存在"
    doc = labelled_app()
    doc["entities"]["task"]["label"] = {"en": "Task", "zh": "工作项"}
    install(doc)
    assert zh(app, "Task #1 does not exist") == "工作项 #1 不存在"


# -- what the engine really raises ----------------------------------------------------------------------


def test_real_validation_errors_are_translated(app, db, tasks):
    """Do the engine's own validation messages (required, length, number, date) all translate?"""
    et, lead = tasks["et"], tasks["lead"]
    exc = raised(db, lambda c: records.create_record(c, et, {"title": "", "estimate": "many", "due": "soon"}, actor=lead))
    assert set(exc.errors) == {"title", "estimate", "due"}
    exc2 = raised(db, lambda c: records.create_record(c, et, {"title": "x" * 30}, actor=lead))
    with app.test_request_context("/", headers=ZH):
        shown = {**say_errors(exc.errors), **{"long": say_errors(exc2.errors)["title"]}}
    assert shown["title"] == ["为必填项"]
    assert shown["estimate"] == ["必须是数字"]
    assert shown["due"] == ["必须是日期（YYYY-MM-DD）"]
    assert shown["long"] == ["最多 20 个字符（当前 30 个）"]


def test_real_refusals_are_translated(app, db, tasks):
    """Are the engine's refusals (transition, permission, stale version, missing record) shown
    in Chinese, with no English words left?"""
    et, lead, outsider, record = tasks["et"], tasks["lead"], tasks["outsider"], tasks["record"]
    db.run(lambda c: workflow.transition_record(c, et, record.id, "start", actor=lead))
    found = [
        raised(db, lambda c: workflow.transition_record(c, et, record.id, "submit", actor=lead)),
        raised(db, lambda c: workflow.transition_record(c, et, record.id, "reopen", actor=lead)),
        raised(db, lambda c: workflow.transition_record(c, et, record.id, "nope", actor=lead)),
        raised(db, lambda c: require(outsider, et.entity, "update")),
        raised(db, lambda c: records.update_record(c, et, record.id, {"title": "B"}, actor=lead, expected_version=1)),
        raised(db, lambda c: records.get_record(c, et, 999, actor=lead)),
        raised(db, lambda c: comments.add_comment(c, et, record.id, "   ", actor=lead)),
    ]
    messages = [exc.message if not isinstance(exc, RecordInvalid) else exc.errors["body"][0] for exc in found]
    with app.test_request_context("/", headers=ZH):
        shown = [say(m) for m in messages]
    assert shown[0] == "要执行“提交”，请先填写：预估工时、截止日期"
    assert shown[1] == "“重新打开”不能从“进行中”发起（只能从：评审中、已完成）"
    assert shown[3] == "你无权编辑任务"
    assert shown[5] == "任务 #999 不存在"
    for english, chinese in zip(messages, shown, strict=True):
        assert chinese != str(english)
        assert not ENGLISH_WORD.search(chinese), chinese


@pytest.mark.parametrize(("username", "status", "toast"), [("otto", 403, "你无权编辑任务"), ("vic", 404, "任务没有看板“x”")])
def test_refused_move_toast_is_chinese(client, tasks, username, status, toast):
    """Does a refused board move (htmx) come back as a Chinese toast (Forbidden, NotFound)?"""
    login(client, username)
    token = csrf_token(client, "/login")
    record = tasks["record"]
    response = client.post(
        f"/a/demo/task/{record.id}/move",
        data={"csrf_token": token, "view": "x", "to": "done", "version": record.version},
        headers={**ZH, "HX-Request": "true"},
    )
    assert response.status_code == status
    assert json.loads(response.headers["HX-Trigger"])["flowdeck:toast"]["message"] == toast


def test_index_cache_is_per_registry(app, tasks):
    """Is the label index built once for a registry and reused?"""
    with app.test_request_context("/", headers=ZH):
        first = engine_messages._index()
        assert first is engine_messages._index()
