"""The record side's messages worded in Chinese from the catalog: what a person reads when a
value, a transition, a permission, a move, a query, a filter, a formula, an upload, a
comment, a saved view or the database says no. Labels travel as `Label`, so two labels
with the same English are each shown in their own Chinese."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.catalogs import say
from flowdeck.engine import boards, comments, files, query, records, saved_views, workflow
from flowdeck.engine.db import Database
from flowdeck.engine.errors import Conflict, DatabaseUnavailable, FlowdeckError, Forbidden, NotFound, RecordInvalid
from flowdeck.engine.expressions import ExpressionError, Scope, compile_expression
from flowdeck.engine.fieldtypes import FIELD_TYPES, InvalidValue
from flowdeck.engine.filters import FilterError, normalize_condition
from flowdeck.engine.messages import M, Message
from flowdeck.engine.permissions import Actor, require
from flowdeck.engine.schema.model import Field, Label
from flowdeck.engine.storage.tables import EntityTables
from tests.support.documents import minimal_app


def labelled_app() -> dict[str, Any]:
    """Task with Chinese labels everywhere, and two fields both called "Date" in English:
    the start date (开始日期) that `start` needs and the due date (截止日期) that `submit` needs."""
    doc = minimal_app()
    task = doc["entities"]["task"]
    task["plural"] = {"en": "Tasks", "zh": "任务"}
    task["fields"]["title"]["label"] = {"en": "Title", "zh": "标题"}
    task["fields"]["title"]["max_length"] = 20
    task["fields"]["estimate"]["label"] = {"en": "Estimate", "zh": "预估工时"}
    task["fields"]["start_on"] = {"type": "date", "label": {"en": "Date", "zh": "开始日期"}}
    task["fields"]["due"] = {"type": "date", "label": {"en": "Date", "zh": "截止日期"}}
    task["fields"]["tags"] = {"type": "multiselect", "options": ["red", "blue"]}
    states = task["workflow"]["states"]
    for key, en, zh in (
        ("todo", "To do", "待办"),
        ("doing", "Doing", "进行中"),
        ("review", "Review", "评审中"),
        ("done", "Done", "已完成"),
    ):
        states[key]["label"] = {"en": en, "zh": zh}
    names = {"start": "开始", "submit": "提交", "approve": "批准", "reopen": "重新打开"}
    for step in task["workflow"]["transitions"]:
        step["label"] = {"en": step["key"].title(), "zh": names[step["key"]]}
    task["workflow"]["transitions"][0]["require"] = ["start_on"]
    task["workflow"]["transitions"][1]["require"] = ["due"]
    task["workflow"]["transitions"][1]["comment"] = "required"
    task["views"] = {"board": {"type": "board", "group_by": "state", "wip": {"doing": {"max": 1, "enforce": "block"}}}}
    return doc


@pytest.fixture
def et(install) -> EntityTables:
    return install(labelled_app()).entity("demo", "task")


@pytest.fixture
def lead(make_user) -> Actor:
    return make_user("lea", {"demo": ["lead"]})


@pytest.fixture
def member(make_user) -> Actor:
    return make_user("max", {"demo": ["member"]})


def zh(message: Message | str) -> str:
    return say(message, "zh")


def refusal(db: Database, work: Callable[[sa.Connection], Any]) -> FlowdeckError:
    """The engine error `work` raises (nothing is written)."""
    with pytest.raises(FlowdeckError) as caught:
        db.run(work)
    return caught.value


def new_task(db: Database, et: EntityTables, actor: Actor, **values: Any) -> records.Record:
    return db.run(lambda c: records.create_record(c, et, {"title": "Printer", **values}, actor=actor))


# -- field types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "raw", "chinese"),
    [
        (Field(key="t", type="text", label=Label.of("T"), max_length=200), "x" * 250, "最多 200 个字符（当前 250 个）"),
        (Field(key="n", type="integer", label=Label.of("N")), "1.5", "必须是整数"),
        (Field(key="d", type="decimal", label=Label.of("D"), scale=2), "1.234", "最多 2 位小数"),
        (Field(key="d", type="date", label=Label.of("D")), "soon", "必须是日期（YYYY-MM-DD）"),
        (Field(key="e", type="email", label=Label.of("E")), "nobody", "不是有效的电子邮件地址"),
        (Field(key="u", type="user", label=Label.of("U")), "bob", "必须是用户"),
    ],
)
def test_field_type_refusals_in_chinese(field: Field, raw: Any, chinese: str):
    """Is a value that does not fit its field refused with a message worded in Chinese?"""
    with pytest.raises(InvalidValue) as caught:
        FIELD_TYPES[field.type].parse(field, raw)
    assert zh(caught.value.message) == chinese


def test_options_are_listed_the_chinese_way(et):
    """Are the options a value is not one of listed with the Chinese separator?"""
    with pytest.raises(InvalidValue) as caught:
        FIELD_TYPES["select"].parse(et.entity.get_field("priority"), "huge")
    assert zh(caught.value.message) == "“huge”不是可选项（可选：low、normal、high）"
    assert str(caught.value) == '"huge" is not one of the options (low, normal, high)'


# -- records ----------------------------------------------------------------------------------


def test_record_errors_in_chinese(db, et, lead):
    """Are a record's field errors, a missing record and a stale version worded in Chinese, with the entity's Chinese name?"""
    invalid = refusal(db, lambda c: records.create_record(c, et, {"title": "", "estimate": "many", "nope": 1}, actor=lead))
    assert isinstance(invalid, RecordInvalid)
    said = {key: [zh(m) for m in messages] for key, messages in invalid.errors.items()}
    assert said == {"title": ["为必填项"], "estimate": ["必须是数字"], "nope": ["任务没有字段“nope”"]}
    assert zh(refusal(db, lambda c: records.fetch_record(c, et, 999)).message) == "任务 #999 不存在"
    task = new_task(db, et, lead)
    db.run(lambda c: records.update_record(c, et, task.id, {"title": "B"}, actor=lead, expected_version=1))
    stale = refusal(db, lambda c: records.update_record(c, et, task.id, {"title": "C"}, actor=lead, expected_version=1))
    assert isinstance(stale, Conflict)
    assert zh(stale.message) == f"任务 #{task.id} 已被他人修改（你的版本 1，当前版本 2）"


# -- workflow and permissions -------------------------------------------------------------------


def test_two_fields_with_the_same_english_label_keep_their_own_chinese(db, et, lead):
    """Does "fill in Date" name the start date for `start` and the due date for `submit`, as the old English lookup could not?"""
    task = new_task(db, et, lead)
    start = refusal(db, lambda c: workflow.transition_record(c, et, task.id, "start", actor=lead))
    assert str(start.message) == "fill in Date to “Start”"
    assert zh(start.message) == "要执行“开始”，请先填写：开始日期"
    db.run(lambda c: workflow.transition_record(c, et, task.id, "start", actor=lead, values={"start_on": "2026-03-01"}))
    submit = refusal(db, lambda c: workflow.transition_record(c, et, task.id, "submit", actor=lead))
    assert str(submit.message) == "fill in Date to “Submit”"
    assert zh(submit.message) == "要执行“提交”，请先填写：截止日期"


def test_workflow_refusals_in_chinese(db, et, lead, member):
    """Are a wrong source state, a missing comment, an unknown transition and a role refusal worded in Chinese?"""
    task = new_task(db, et, lead)
    wrong = refusal(db, lambda c: workflow.transition_record(c, et, task.id, "reopen", actor=lead))
    assert zh(wrong.message) == "“重新打开”不能从“待办”发起（只能从：评审中、已完成）"
    unknown = refusal(db, lambda c: workflow.transition_record(c, et, task.id, "finish", actor=lead))
    assert zh(unknown.message) == "没有流转“finish”（可用流转：start、submit、approve、reopen）"
    db.run(lambda c: workflow.transition_record(c, et, task.id, "start", actor=lead, values={"start_on": "2026-03-01"}))
    silent = refusal(db, lambda c: workflow.transition_record(c, et, task.id, "submit", actor=lead, values={"due": "2026-04-01"}))
    assert zh(silent.message) == "“提交”需要填写评论"
    db.run(lambda c: c.execute(et.table.update().where(et.table.c.id == task.id).values(state="review")))
    forbidden = refusal(db, lambda c: workflow.transition_record(c, et, task.id, "approve", actor=member))
    assert isinstance(forbidden, Forbidden)
    assert zh(forbidden.message) == "你无权执行“批准”（需要角色：lead）"


def test_a_records_problems_in_one_message_name_each_field(et):
    """When a transition or a move reports a record's problems as one message, is each field named by its label, in either language?"""
    errors = {"title": [M("is required")], "estimate": [M("must be a number"), M("is too large")]}
    message = workflow.field_problems(et.entity, errors)
    assert str(message) == "Title: is required; Estimate: must be a number, is too large"
    assert zh(message) == "标题：为必填项；预估工时：必须是数字、数值过大"


def test_permission_refusals_in_chinese(et, make_user):
    """Is a refused action on an entity worded in Chinese with the entity's plural?"""
    outsider = make_user("otto")
    for action, chinese in (
        ("read", "你无权查看任务"),
        ("create", "你无权新建任务"),
        ("update", "你无权编辑任务"),
        ("delete", "你无权删除任务"),
    ):
        with pytest.raises(Forbidden) as caught:
            require(outsider, et.entity, action)
        assert zh(caught.value.message) == chinese
    assert str(caught.value) == "you may not delete tasks"


# -- boards ------------------------------------------------------------------------------------


def test_board_refusals_in_chinese(db, et, lead):
    """Are a drop without a transition and a drop on a full column worded in Chinese, with the columns' Chinese names?"""
    view = et.entity.view("board")
    assert view is not None
    first, second = new_task(db, et, lead), new_task(db, et, lead)

    def drop(record: records.Record, target: str) -> Callable[[sa.Connection], Any]:
        return lambda c: boards.move_card(c, et, view, record.id, target, actor=lead, expected_version=None)

    nowhere = refusal(db, drop(first, "done"))
    assert zh(nowhere.message) == "没有从“待办”到“已完成”的流转"
    db.run(lambda c: workflow.transition_record(c, et, first.id, "start", actor=lead, values={"start_on": "2026-03-01"}))
    full = refusal(db, drop(second, "doing"))
    assert isinstance(full, boards.MoveRefused) and full.reason == "wip"
    assert zh(full.message) == "“进行中”已达到上限 1"


# -- queries and filters ---------------------------------------------------------------------------


def test_query_and_filter_refusals_in_chinese(db, et, lead):
    """Are a sort, an unknown field, an unknown state and a value that does not fit a filter worded in Chinese?"""
    bad = refusal(
        db,
        lambda c: query.query_records(
            c, et, query.Query(filter={"state": "archived", "estimate": {"gt": "abc"}, "tags": {"in": "red"}}, sort=["tags"]), actor=lead
        ),
    )
    assert isinstance(bad, RecordInvalid)
    said = {key: [zh(m) for m in messages] for key, messages in bad.errors.items()}
    assert said == {
        "state": ["未知状态“archived”（可用状态：todo、doing、review、done）"],
        "estimate": ["'abc' 不适用于此字段：必须是数字"],
        "tags": ["“in” 需要一组值"],
    }
    unsorted = refusal(db, lambda c: query.query_records(c, et, query.Query(sort=["tags"]), actor=lead))
    assert isinstance(unsorted, RecordInvalid)
    assert [zh(m) for m in unsorted.errors["sort"]] == ["不能按“tags”排序"]


def test_filter_operator_refusal_names_the_field_kind(et):
    """Does an operator that does not apply name the field's kind, in English and in Chinese?"""
    with pytest.raises(FilterError) as caught:
        normalize_condition("title", {"gt": "a"}, et.entity.get_field("title"), et.entity.workflow)
    assert str(caught.value) == "operator “gt” does not apply to a text field (operators: eq, ne, in, not_in, contains, empty)"
    assert zh(caught.value.message) == "运算符 “gt” 不适用于 text 字段（可用运算符：eq、ne、in、not_in、contains、empty）"


# -- expressions -------------------------------------------------------------------------------------


SCOPE = Scope(names=frozenset({"amount", "title"}), tables={"items": frozenset({"qty", "price"})})


@pytest.mark.parametrize(
    ("source", "env", "chinese"),
    [
        ("amout + 1", None, "未知名称“amout”（是不是想写“amount”？）"),
        ("a b", None, "语法错误：写法有误（第 3 列）"),
        ("sum(items.prise)", None, "“items”没有列“prise”（是不是想写“price”？）"),
        ("lambda: 1", None, "不允许使用lambda"),
        ("title + 1", {"title": "a"}, "不能将文本与数字相加"),
        ("amount / 0", {"amount": 1}, "除数为零"),
        ("sum(title)", {"title": "a"}, "sum() 需要列表，实际为文本"),
    ],
)
def test_expression_errors_in_chinese(source: str, env: dict[str, Any] | None, chinese: str):
    """Is an expression refused when checked, or failing on a record's values, explained in Chinese?"""
    with pytest.raises(ExpressionError) as caught:
        expression = compile_expression(source, SCOPE)
        assert env is not None
        expression.evaluate(env)
    assert zh(caught.value.message) == chinese


# -- files, comments, saved views, the database ----------------------------------------------------------


def test_upload_refusals_in_chinese(tmp_path, et):
    """Are a file of the wrong type and a file too large worded in Chinese?"""
    attachment = Field(key="file", type="attachment", label=Label.of("File"), accept=(".pdf", ".png"))
    with pytest.raises(files.FileRefused) as caught:
        files.check_name(attachment, "notes.exe")
    assert zh(caught.value.message) == "文件类型必须是以下之一：.pdf、.png"
    with pytest.raises(files.FileRefused) as caught:
        files.save_blob(tmp_path, io.BytesIO(b"x" * (3 * 1024 * 1024)), 2 * 1024 * 1024)
    assert zh(caught.value.message) == "超过 2 MB"


def test_mention_notification_in_chinese(et):
    """Is a mention told in the reader's language, the entity in Chinese and the comment as written?"""
    message = comments.mention_message("lea", et, 3, "please check @max")
    assert str(message) == "lea mentioned you on Task #3: please check @max"
    assert zh(message) == "lea 在任务 #3 中提到了你：please check @max"


def test_comment_and_saved_view_refusals_in_chinese(db, et, lead):
    """Are an empty comment and an unnamed saved view refused in Chinese?"""
    task = new_task(db, et, lead)
    empty = refusal(db, lambda c: comments.add_comment(c, et, task.id, "  ", actor=lead))
    assert isinstance(empty, RecordInvalid) and [zh(m) for m in empty.errors["body"]] == ["为必填项"]
    unnamed = refusal(db, lambda c: saved_views.save_view(c, "demo", "task", " ", view=None, query="", actor=lead))
    assert isinstance(unnamed, RecordInvalid) and [zh(m) for m in unnamed.errors["name"]] == ["请为视图命名"]
    nobody = refusal(db, lambda c: saved_views.list_saved_views(c, "demo", "task", actor=Actor(user_id=None)))
    assert zh(nobody.message) == "登录后才能使用个人视图"
    missing = refusal(db, lambda c: saved_views.get_saved_view(c, 404, actor=lead))
    assert isinstance(missing, NotFound) and zh(missing.message) == "保存的视图 404 不存在"


def test_unreachable_database_in_chinese(tmp_path):
    """Is a database that cannot be reached reported in Chinese, its address kept?"""
    database = Database(f"sqlite:///{tmp_path}/missing/dir/flowdeck.db")
    with pytest.raises(DatabaseUnavailable) as caught:
        database.check()
    said = zh(caught.value.message)
    assert said.startswith(f"无法连接到数据库 sqlite:///{tmp_path}/missing/dir/flowdeck.db：")
    assert str(caught.value).startswith("cannot connect to the database at ")
