"""Engine messages shown in the reader's language: `say` and `|say` word a Message (labels in
the reader's language, values as they are); the real messages the engine raises."""

from __future__ import annotations

import json
import re

import pytest

from flowdeck.engine import comments, records, workflow
from flowdeck.engine.errors import Conflict, Forbidden, NotFound, RecordInvalid, TransitionRefused
from flowdeck.engine.messages import M
from flowdeck.engine.permissions import require
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


def raised(db, work):
    """The engine error `work` raises (nothing is written)."""
    with pytest.raises((RecordInvalid, TransitionRefused, Forbidden, Conflict, NotFound)) as caught:
        db.run(work)
    return caught.value


# -- messages in the reader's language ------------------------------------------------------------


def test_outside_a_request_messages_are_english(app):
    """Without a request (CLI, logs), is an engine message its English text?"""
    assert say(M("is required")) == "is required"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (M("is required"), "为必填项"),
        (M("must be at most %(max)s characters (got %(got)s)", max=200, got=250), "最多 200 个字符（当前 250 个）"),
        (M("must be at least %(min)s characters", min=8), "至少 8 个字符"),
        (M("must be at least %(min)s", min=5), "不能小于 5"),
        (M("must be a number"), "必须是数字"),
        (M("must be a whole number"), "必须是整数"),
        (M("must have at most %(places)s decimal places", places=2), "最多 2 位小数"),
        (M("must be a date (YYYY-MM-DD)"), "必须是日期（YYYY-MM-DD）"),
        (M("is not a valid email address"), "不是有效的电子邮件地址"),
        (M("must be one of these types: %(types)s", types=[".pdf", ".png"]), "文件类型必须是以下之一：.pdf、.png"),
        (M("is larger than %(size)s MB", size=5), "超过 5 MB"),
        (M("you cannot approve or reject your own request"), "你不能审批自己发起的申请"),
        (M("a rejection needs a comment saying why"), "驳回时请填写原因"),
    ],
)
def test_common_messages_in_chinese(app, message, expected):
    """Are the common engine messages shown in Chinese, their values as they are?"""
    with app.test_request_context("/", headers=ZH):
        assert say(message) == expected
    with app.test_request_context("/", headers=EN):
        assert say(message) == str(message)


def test_a_stored_text_from_before_messages_is_shown_as_written(app):
    """Is a plain string (a notification stored in English before messages were data) shown unchanged?"""
    with app.test_request_context("/", headers=ZH):
        assert say("Approved: Start of “Printer”") == "Approved: Start of “Printer”"
        assert say(None) == ""


def test_messages_in_templates_are_worded_in_the_readers_language(app, tasks):
    """Does `|say` word a stored notification message in the reader's language, labels included?"""
    start = tasks["et"].entity.workflow.transition("start").label
    message = M("Approved: %(transition)s of “%(title)s”", transition=start, title="Printer")
    template = app.jinja_env.from_string("{{ message|say }}")
    with app.test_request_context("/", headers=ZH):
        assert template.render(message=message) == "已通过：“Printer”的开始"
    with app.test_request_context("/", headers=EN):
        assert template.render(message=message) == "Approved: Start of “Printer”"


def test_say_errors_keeps_the_keys(app, db, tasks):
    """Does `say_errors` keep the field keys and word every message of a real RecordInvalid?"""
    exc = raised(db, lambda c: records.create_record(c, tasks["et"], {"title": "", "estimate": "x"}, actor=tasks["lead"]))
    with app.test_request_context("/", headers=ZH):
        assert say_errors(exc.errors) == {"title": ["为必填项"], "estimate": ["必须是数字"]}


def test_a_label_renamed_later_is_shown_as_it_is_now_in_new_messages(app, db, install, tasks):
    """After the entity is relabelled, does a new refusal name it by its new Chinese label?"""
    doc = labelled_app()
    doc["entities"]["task"]["label"] = {"en": "Task", "zh": "工作项"}
    et = install(doc).entity("demo", "task")
    exc = raised(db, lambda c: records.get_record(c, et, 999, actor=tasks["lead"]))
    with app.test_request_context("/", headers=ZH):
        assert say(exc.message) == "工作项 #999 不存在"


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
