"""The engine's texts for admins are Messages, worded in Chinese from the catalog with their
keys, paths and values as they are: the steps, questions and refusals of a migration plan,
the problems of an app document, the differences between two versions, and the reason a
version was applied (kept as JSON; rows from before revision 0007 converted)."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import sqlalchemy as sa
from alembic import command

from flowdeck.catalogs import say
from flowdeck.engine import apps, models, versions
from flowdeck.engine.apps import plan_change
from flowdeck.engine.db import Database
from flowdeck.engine.messages import M, Message
from flowdeck.engine.migrate import Plan
from flowdeck.engine.permissions import Actor
from flowdeck.engine.schema.loader import check_document
from flowdeck.engine.schema.shape import parse_document
from flowdeck.engine.sqltypes import UTCDateTime
from flowdeck.engine.system import alembic_config
from tests.support.documents import minimal_app
from tests.support.migrations import Demo


def zh(message: Message | str) -> str:
    return say(message, "zh")


def labelled_app() -> dict[str, Any]:
    """The minimal app with Chinese state labels and a free-text field."""
    doc = minimal_app()
    states = doc["entities"]["task"]["workflow"]["states"]
    states["todo"]["label"] = {"en": "To do", "zh": "待办"}
    states["doing"]["label"] = {"en": "Doing", "zh": "进行中"}
    doc["entities"]["task"]["fields"]["notes"] = {"type": "text"}
    return doc


def planned(db: Database, document: dict[str, Any], choices: dict[str, str] | None = None) -> Plan:
    return db.read(lambda conn: plan_change(conn, document, choices)[1])


def said(messages: list[Message]) -> dict[str, str]:
    """English text -> Chinese text of each message."""
    return {str(m): zh(m) for m in messages}


def test_plan_steps_in_chinese(db, install):
    """Are the steps of a plan (a field added and filled, a field renamed, a field removed, an
    index, records moved out of a removed state, a type change) worded in Chinese, keys kept?"""
    demo = Demo(db, install)
    first = demo.add(title="Printer", estimate="1.25")
    demo.add(title="Scanner")
    demo.move(first, "start", "submit")
    doc = copy.deepcopy(demo.doc)
    task = doc["entities"]["task"]
    task["fields"]["due"] = {"type": "date", "default": "2026-12-31"}
    task["fields"]["effort"] = {**task["fields"].pop("estimate"), "was": "estimate", "scale": 1}
    task["fields"]["title"]["indexed"] = True
    del task["fields"]["priority"]
    del task["workflow"]["states"]["review"]
    task["workflow"]["transitions"] = [{"key": "start", "from": "todo", "to": "doing"}, {"key": "finish", "from": "doing", "to": "done"}]
    plan = planned(db, doc, {"state:task:review": "doing", "type:task:effort": "round"})
    assert plan.ready, plan.describe()
    assert said([step.description for step in plan.steps]) == {
        "renames field estimate to effort in task (data kept)": "将 task 的字段 estimate 改名为 effort（数据保留）",
        "adds field due to task": "为 task 新增字段 due",
        "fills field due of the 2 existing task records with its default": "用默认值填充 task 现有 2 条记录的字段 due",
        "changes field effort of task from decimal with 2 decimal places to decimal with 1 decimal places: 1 are rounded; "
        "the old values are kept in column effort__v1 of demo__task": "将 task 的字段 effort 从 decimal（2 位小数） 改为 "
        "decimal（1 位小数）：1 个被四舍五入；旧值保存在表 demo__task 的列 effort__v1 中",
        "adds index ix__demo__task__title": "新增索引 ix__demo__task__title",
        "moves the 1 task records in state review to doing; each gets a history entry": (
            "将 task 中处于状态 review 的 1 条记录移到 doing，每条记录都会留下历史记录"
        ),
        "removes field priority of task: its 2 values are archived, not deleted; re-adding priority restores them": (
            "删除 task 的字段 priority：其 2 个值会被归档而不是删除；重新添加 priority 即可恢复"
        ),
    }


def test_questions_choices_and_samples_in_chinese(db, install):
    """Are a question about records in a removed state (the states' Chinese labels in its
    choices), a question about values that cannot be converted (what is lost, what to
    choose, the values listed with why) and the plan's lines in Chinese?"""
    demo = Demo(db, install, notes={"type": "text"})
    install(labelled_app())
    demo.doc = labelled_app()
    first = demo.add(title="Printer", notes="1.5")
    bad = demo.add(title="Scanner", notes="abc")
    demo.add(title="Fax", notes="7")
    demo.move(first, "start", "submit")
    doc = copy.deepcopy(demo.doc)
    doc["entities"]["task"]["fields"]["notes"] = {"type": "integer"}
    del doc["entities"]["task"]["workflow"]["states"]["review"]
    doc["entities"]["task"]["workflow"]["transitions"] = [{"key": "start", "from": "todo", "to": "doing"}]
    plan = planned(db, doc, {"state:task:review": "doing"})
    state = next(q for q in plan.questions if q.id == "state:task:review")
    typed = next(q for q in plan.questions if q.id == "type:task:notes")
    assert said([state.text, typed.text]) == {
        "removes state review of task, but 1 records are in it: choose the state they move to": (
            "删除 task 的状态 review，但有 1 条记录处于该状态：请选择这些记录要移到的状态"
        ),
        "changes field notes of task from text to integer: 1 values are converted, 1 values cannot be converted and 1 values would "
        "be rounded (listed): choose to stop, round them, or clear them; the old values are archived": "将 task 的字段 notes 从 text 改为 "
        "integer：1 个值可以转换，1 个值无法转换，1 个值会被四舍五入（见下方列表）：请选择停止、四舍五入，或将它们清空；旧值会被归档",
    }
    assert said([label for _value, label in state.choices + typed.choices]) == {
        "move them to todo (To do)": "移到 todo（待办）",
        "move them to doing (Doing)": "移到 doing（进行中）",
        "move them to done (Done)": "移到 done（Done）",
        "stop: apply nothing": "停止：不应用任何内容",
        "round them and clear the ones that cannot be converted": "四舍五入，并清空无法转换的值",
        "clear them (the old values are archived and can be restored)": "清空（旧值会被归档，可以恢复）",
    }
    assert said(typed.samples) == {
        f'#{first}: "1.5" -> 2': f'#{first}: "1.5" -> 2',
        f'#{bad}: "abc" (is not a number)': f'#{bad}: "abc"（不是数字）',
    }
    assert zh(plan.describe()[-1]) == (
        "问题 state:task:review：删除 task 的状态 review，但有 1 条记录处于该状态：请选择这些记录要移到的状态"
        "（可选：todo、doing、done）；回答：doing"
    )


def test_refusals_in_chinese(db, install):
    """Are refusals (an answer that is no choice, a question the plan does not ask, a unique
    field over duplicates, a conversion that has no meaning) in Chinese?"""
    demo = Demo(db, install, owner={"type": "text"})
    demo.add(title="Same", owner="ann", priority="high")
    demo.add(title="Same")
    doc = copy.deepcopy(demo.doc)
    doc["entities"]["task"]["fields"]["title"]["unique"] = True
    doc["entities"]["task"]["fields"]["owner"] = {"type": "user", "many": True}
    doc["entities"]["task"]["fields"]["priority"]["options"] = ["low", "normal"]
    plan = planned(db, doc, {"option:task:priority:high": "maybe", "state:task:nope": "x"})
    assert said(plan.refusals) == {
        "makes field title of task unique, but 1 values appear more than once; fix them first": (
            "将 task 的字段 title 设为唯一，但有 1 个值出现了不止一次；请先修正"
        ),
        "changes field owner of task from text to many user: text values cannot be converted to many user (1 records have a value); "
        "add a new field instead": "将 task 的字段 owner 从 text 改为 多值 user：text 的值无法转换为 多值 user（1 条记录有值）；"
        "请改为新增一个字段",
        "“maybe” is not a choice for option:task:priority:high (choices: low, normal, clear)": (
            "“maybe”不是问题 option:task:priority:high 的选项（可选：low、normal、clear）"
        ),
        "there is no question state:task:nope in this plan (questions: option:task:priority:high)": (
            "此计划中没有问题 state:task:nope（现有问题：option:task:priority:high）"
        ),
    }
    added = copy.deepcopy(demo.doc)
    added["entities"]["task"]["fields"]["extra"] = {"type": "text"}
    assert said(planned(db, added, {"type:task:title": "round"}).refusals) == {
        "there is no question type:task:title in this plan (this plan asks nothing)": (
            "此计划中没有问题 type:task:title（此计划没有任何问题）"
        )
    }


def test_schema_problems_in_chinese():
    """Are problems of an app document (its JSON text, its shape and its meaning) in Chinese
    with their paths, keys, suggestions and listings?"""
    _document, unreadable = parse_document('{"key": "demo",}')
    doc = minimal_app()
    task = doc["entities"]["task"]
    task["fields"]["estimate"]["type"] = "dec"
    task["colour"] = "red"
    task["label"] = 5
    shape = check_document(doc)
    doc = minimal_app()
    task = doc["entities"]["task"]
    task["fields"]["link"] = {"type": "reference", "to": "task", "default": 1}
    task["fields"]["count"] = {"type": "integer", "min": 5, "max": 1}
    task["workflow"]["transitions"][0]["to"] = "doign"
    task["workflow"]["transitions"][2]["roles"] = ["boss"]
    meaning = check_document(doc)
    assert said([p.with_path() for p in unreadable + shape + meaning]) == {
        "not valid JSON: Expecting property name enclosed in double quotes at line 1, column 16": (
            "不是有效的 JSON（第 1 行第 16 列）：应为用双引号括起的属性名"
        ),
        "entities.task.colour: unknown key (allowed: constraints, description, fields, label, permissions, plural, reminders, search, "
        "sections, slas, title, tree, views, workflow)": "entities.task.colour：未知的键（允许的键：constraints、description、fields、"
        "label、permissions、plural、reminders、search、sections、slas、title、tree、views、workflow）",
        'entities.task.fields.estimate.type: unknown field type "dec" (did you mean “decimal”?); expected one of: text, markdown, '
        "integer, decimal, money, percent, rating, date, datetime, boolean, select, multiselect, user, reference, email, url, phone, "
        "attachment, autonumber, table, computed, lookup, sla, rollup": (
            'entities.task.fields.estimate.type：未知的字段类型 "dec"（是不是想写“decimal”？）；'
            "可选值：text、markdown、integer、decimal、money、percent、rating、date、datetime、boolean、select、multiselect、user、reference、email、"
            "url、phone、attachment、autonumber、table、computed、lookup、sla、rollup"
        ),
        "entities.task.label: must be text or an object with “en” and/or “zh” texts (got a number)": (
            "entities.task.label：必须是文本，或包含 “en” 和/或 “zh” 文本的对象（实际为数字）"
        ),
        "entities.task.fields.link.default: a reference field cannot have a default": (
            "entities.task.fields.link.default：reference 字段不能有默认值"
        ),
        "entities.task.fields.count.min: is larger than max (1)": "entities.task.fields.count.min：大于 max（1）",
        "entities.task.workflow.transitions[0].to: unknown state “doign” (did you mean “doing”?) (states: todo, doing, review, done)": (
            "entities.task.workflow.transitions[0].to：未知状态“doign”（是不是想写“doing”？）（可用状态：todo、doing、review、done）"
        ),
        "entities.task.workflow.transitions[2].roles[0]: unknown role “boss” (roles: lead, member, viewer)": (
            "entities.task.workflow.transitions[2].roles[0]：未知角色“boss”（可用角色：lead、member、viewer）"
        ),
    }


def test_version_differences_in_chinese():
    """Are the summaries of the differences between two documents in Chinese: what a change is
    about, the member that changes, kinds of values, keys as they are?"""
    old = minimal_app()
    new = copy.deepcopy(old)
    new["label"] = {"en": "Demo 2", "zh": "演示 2"}
    task = new["entities"]["task"]
    task["fields"]["title"]["max_length"] = 80
    task["fields"]["watchers"] = {"type": "user", "many": True}
    task["fields"]["double"] = {"type": "computed", "formula": "estimate * 2"}
    task["fields"]["estimate"]["type"] = "integer"
    task["fields"]["priority"]["options"] = ["low", {"key": "normal", "label": "Normal!"}, "urgent"]
    task["workflow"]["states"]["todo"]["color"] = "#2ca02c"
    task["workflow"]["transitions"][0]["to"] = "review"
    del new["roles"]["viewer"]
    assert said([change.summary for change in versions.diff_documents(old, new)]) == {
        "changes the label of the app": "更改应用的标签",
        "removes role viewer": "删除角色 viewer",
        "sets the max_length of field task.title to 80": "将字段 task.title 的 max_length 设为 80",
        "changes the label of option normal of field task.priority": "更改字段 task.priority 的选项 normal 的标签",
        "adds option urgent to field task.priority": "为字段 task.priority 新增选项 urgent",
        "removes option high of field task.priority": "删除字段 task.priority 的选项 high",
        "changes the type of field task.estimate from decimal to integer": "将字段 task.estimate 的类型从 decimal 改为 integer",
        "adds field task.watchers (many user)": "新增字段 task.watchers（多值 user）",
        "adds field task.double (computed decimal)": "新增字段 task.double（计算 decimal）",
        'sets the colour of state todo to "#2ca02c"': '将状态 todo 的颜色设为 "#2ca02c"',
        'changes the target state of transition start from "doing" to "review"': '将流转 start 的目标状态从 "doing" 改为 "review"',
    }


def test_version_reasons_are_stored_as_messages(db, install):
    """Is the system's reason for a version (bundled app, rollback) kept as a message's JSON and
    read back as a Message (Chinese from the catalog), and the admin's own words as typed?"""
    admin = Actor.system()
    apps.apply_document(db, minimal_app(), actor=admin, message=M("bundled app"))
    changed = minimal_app()
    changed["entities"]["task"]["fields"]["due"] = {"type": "date"}
    apps.apply_document(db, changed, actor=admin, message="due dates")
    versions.rollback(db, "demo", 1, actor=admin)
    listed = db.read(lambda conn: versions.list_versions(conn, "demo"))
    assert [(v.version, v.message) for v in listed] == [
        (1, M("bundled app")),
        (2, "due dates"),
        (3, M("rollback to v%(version)s", version=1)),
    ]
    assert [zh(v.message) for v in listed] == ["内置应用", "due dates", "回滚到 v1"]
    v = models.app_versions
    stored = db.read(lambda conn: conn.execute(sa.select(v.c.version, v.c.message, v.c.reason).order_by(v.c.version)).all())
    assert [tuple(row) for row in stored] == [
        (1, None, {"id": "bundled app"}),
        (2, "due dates", None),
        (3, None, {"id": "rollback to v%(version)s", "params": {"version": 1}}),
    ]


def test_revision_0007_moves_the_reasons_the_system_wrote_to_json(db):
    """Does revision 0007 turn the old texts "bundled app", "rollback to vN" and "imported from
    bundle S version N" into stored messages, keep an admin's words as text, and give the texts
    back when it is undone?"""
    old = sa.table(
        "fd_app_versions",
        sa.column("app", sa.String()),
        sa.column("version", sa.Integer()),
        sa.column("document", sa.JSON()),
        sa.column("checksum", sa.String()),
        sa.column("message", sa.Text()),
        sa.column("created_at", UTCDateTime()),
    )
    texts = ["bundled app", "rollback to v3", "imported from bundle acme:crm version 7", "rollback to the good one", None]

    def before(conn: sa.Connection) -> None:
        command.downgrade(alembic_config(conn), "0007-1")
        at = dt.datetime.now(dt.UTC)
        rows = [
            {"app": "demo", "version": n, "document": {}, "checksum": "x", "message": text, "created_at": at}
            for n, text in enumerate(texts, 1)
        ]
        conn.execute(old.insert(), rows)
        command.upgrade(alembic_config(conn), "0007")

    db.run(before)
    v = models.app_versions
    stored = db.read(lambda conn: conn.execute(sa.select(v.c.message, v.c.reason).order_by(v.c.version)).all())
    assert [tuple(row) for row in stored] == [
        (None, {"id": "bundled app"}),
        (None, {"id": "rollback to v%(version)s", "params": {"version": 3}}),
        (None, {"id": "imported from bundle %(source)s version %(version)s", "params": {"source": "acme:crm", "version": 7}}),
        ("rollback to the good one", None),
        (None, None),
    ]
    listed = db.read(lambda conn: versions.list_versions(conn, "demo"))
    assert [zh(info.message) if info.message is not None else None for info in listed] == [
        "内置应用",
        "回滚到 v3",
        "从配置包 acme:crm 的版本 7 导入",
        "rollback to the good one",
        None,
    ]

    def undo(conn: sa.Connection) -> list[Any]:
        command.downgrade(alembic_config(conn), "0007-1")
        return [row[0] for row in conn.execute(sa.select(old.c.message).order_by(old.c.version))]

    assert db.run(undo) == texts
    db.run(lambda conn: command.upgrade(alembic_config(conn), "head"))
