"""The engine's texts for admins, worded by the catalog (`catalogs.say`): every step,
question, choice, example, refusal and version difference of real plans, and every problem
of the corpus of broken documents, reads in Chinese with its keys, paths, counts and values
as they are and no English word around them (each message in it translated), and in English
as the engine has always written it. Also what schema changes and bundle imports write in
the history: messages, converted from the English of before by revision 0009."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from babel.messages.pofile import read_po

from flowdeck.catalogs import CATALOGS, say, translator
from flowdeck.engine import apps, history, models, records, versions
from flowdeck.engine.errors import SchemaProblem
from flowdeck.engine.messages import ENGLISH, M, Message, Mp, plain, render, render_value
from flowdeck.engine.migrate import Plan
from flowdeck.engine.permissions import Actor
from flowdeck.engine.phrases import type_words
from flowdeck.engine.schema.label import Label
from flowdeck.engine.schema.loader import check_document
from flowdeck.engine.schema.shape import parse_document
from flowdeck.engine.system import alembic_config
from tests.support.admin_texts import ANSWERS, applied_app, changed_app, install_with_records, original_app
from tests.support.documents import minimal_app
from tests.support.migrations import Demo, entries

CORPUS = Path(__file__).resolve().parents[1] / "schema_corpus"
ZH = translator("zh")
with (CATALOGS / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as _po:
    CATALOG = read_po(_po)
CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_WORDS = re.compile(
    r"\b(?:is|are|must|be|the|you|not|to|of|a|an|no|at|from|this|its|field|fields|values|records|adds|removes|changes|"
    r"renames|with|and|or|in|cannot|unknown|needs|choose|only|have|has)\b"
)
"""Words that are left over when a text was not (fully) said in Chinese."""
RECORD_SIDE = re.compile(r"\.(?:formula|show_if|required_if|guard|when|default|min|max)$|\.filter(?:$|[.\[])")
"""Paths whose problems quote what the record side's modules say about an expression, a filter
or a value (expressions.py, filters.py, fieldtypes.py): those modules become Messages in their
own branch; until then their words are plain English text inside the problem, shown as they
are. Everything around them is checked like any other problem."""


def zh(message: Message | str | None) -> str:
    return say(message, "zh")


def nodes(value: Any) -> Iterator[Any]:
    """Every part of a message: the messages nested in it, labels, lists' items and plain values."""
    yield value
    if isinstance(value, Message):
        for param in value.params.values():
            yield from nodes(param)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from nodes(item)


def untranslated(message: Message) -> list[str]:
    """The msgids in `message` (words of their own outside the placeholders) the Chinese
    catalog has no translation for."""
    out = []
    for node in nodes(message):
        if isinstance(node, Message) and re.search(r"[A-Za-z]", re.sub(r"%\(\w+\)s", "", node.msgid)):
            entry = CATALOG.get(node.msgid, node.context)
            strings = entry.string if entry is not None and isinstance(entry.string, tuple) else (entry.string if entry else "",)
            if not all(strings):
                out.append(node.msgid)
    return out


def values_of(message: Message) -> list[tuple[str, str, str]]:
    """What the message quotes from the document or the data, as the Chinese text shows it
    (keys, paths, counts, JSON values, labels in Chinese; a list's items one by one), each with
    the msgid and the parameter it is given as."""
    out = []

    def walk(value: Any, msgid: str, name: str) -> None:
        if isinstance(value, Message):
            for key, param in value.params.items():
                walk(param, value.msgid, key)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, msgid, name)
        elif render_value(value, ZH).strip():
            out.append((msgid, name, render_value(value, ZH)))

    walk(message, "", "")
    return out


LIBRARY_WORDS = {("is not a valid regular expression: %(error)s", "error")}
"""Parameters that hold a library's own words about the data (Python's `re` on a pattern),
shown as they are, like a value."""


def prose(text: str) -> bool:
    """English words given as a parameter (not a key, a JSON value or a sample)."""
    return " " in text.strip() and bool(ENGLISH_WORDS.search(text)) and not text.startswith(('"', "'", "#", "[", "{"))


def worded(message: Message) -> bool:
    """Whether the message has words of its own (not only placeholders and punctuation)."""
    return any(isinstance(n, Message) and re.search(r"[A-Za-z]", re.sub(r"%\(\w+\)s", "", n.msgid)) for n in nodes(message))


def assert_said(message: Message | str, path: str = "") -> str:
    """`message` in Chinese: every message in it translated, its values intact, no English word
    left around them; plain English inside it only from the record side (`RECORD_SIDE`)."""
    record_side = bool(RECORD_SIDE.search(path))
    if isinstance(message, str):
        assert record_side, f"a plain text where a Message belongs: {path}: {message}"
        return message
    said = zh(message)
    assert CJK.search(said) or not worded(message), (str(message), said)
    assert untranslated(message) == [], (str(message), said)
    rest = said
    for msgid, name, value in sorted(values_of(message), key=lambda found: len(found[2]), reverse=True):
        assert value in said, (str(message), said, value)
        words_of_data = record_side or (msgid, name) in LIBRARY_WORDS
        assert words_of_data or not prose(value), f"English prose passed as a parameter: {value!r} in {message}"
        rest = rest.replace(value, " ")
    assert not ENGLISH_WORDS.search(rest), (str(message), said)
    assert render(message, ENGLISH) == str(message)
    return said


def plan(db: Any, document: dict[str, Any], choices: dict[str, str] | None = None) -> Plan:
    return db.read(lambda conn: apps.plan_change(conn, document, choices)[1])


@pytest.fixture
def installed(db, install, make_user) -> dict[str, Any]:
    return install_with_records(db, install, make_user)


# -- the migration plan ------------------------------------------------------------------------


def test_plan_steps_are_said_in_chinese(db, installed):
    """Is every step of a real plan (entity and tables added, fields added, renamed, removed and
    converted, options replaced, records moved, approvals withdrawn, formulas recomputed, the
    archive) in Chinese with its keys and counts, and in English as always?"""
    steps = [step.description for step in plan(db, changed_app(), ANSWERS).steps]
    english = [str(step) for step in steps]
    expected = [
        "adds entity note (table demo__note)",
        "creates tables: demo__task__watchers, demo__task__items, demo__note",
        "renames field estimate to effort in task (data kept)",
        "adds field due to task",
        "fills field due of the 2 existing task records with its default",
        "adds field watchers to task (link table demo__task__watchers)",
        "adds field items to task (line-item table demo__task__items)",
        "adds index ux__demo__task__code",
        "withdraws the 1 pending approval requests of transition approve of task (it is removed)",
        "moves the 1 task records in state review to doing; each gets a history entry",
        "replaces option high of task.priority with normal in 2 records; each gets a history entry",
        "removes field notes of task: its 1 values are archived, not deleted; re-adding notes restores them",
    ]
    for line in expected:
        assert line in english, (line, english)
    assert any(s.startswith("changes field effort of task from decimal to integer: ") for s in english), english
    assert any(s.startswith("recomputes ") for s in english), english
    said = {str(step): assert_said(step) for step in steps}
    assert said["adds field due to task"] == "为 task 新增字段 due"
    assert said["moves the 1 task records in state review to doing; each gets a history entry"] == (
        "将 task 中处于状态 review 的 1 条记录移到 doing，每条记录都会留下历史记录"
    )
    converted = next(line for line in english if line.startswith("changes field effort"))
    assert "decimal" in said[converted] and "integer" in said[converted] and "effort__v1" in said[converted]


def test_more_plan_steps_are_said_in_chinese(db, installed):
    """Are the steps of removing an entity, moving the records of a removed state, removing an
    option nobody uses, taking a field back out of the archive and converting dates in Chinese?"""
    apps.apply_document(db, applied_app(), actor=Actor.system(), choices=ANSWERS)
    doc = applied_app()
    del doc["entities"]["note"]
    doc["entities"]["task"]["fields"]["notes"] = {"type": "text"}
    doc["entities"]["task"]["fields"]["tags"]["options"] = ["red"]
    doc["entities"]["task"]["fields"]["due"]["type"] = "datetime"
    del doc["entities"]["task"]["workflow"]["states"]["doing"]
    doc["entities"]["task"]["workflow"]["transitions"] = [{"key": "finish", "from": "todo", "to": "done"}]
    steps = [step.description for step in plan(db, doc, {"state:task:doing": "todo"}).steps]
    english = [str(step) for step in steps]
    for line in (
        "removes entity note: its 0 records are archived, not deleted; re-adding it restores them",
        "removes option blue of task.tags (no records use it)",
        "takes task.notes out of the archive",
    ):
        assert line in english, (line, english)
    assert any(s.startswith("changes field due of task from date to datetime") for s in english), english
    for step in steps:
        assert_said(step)


def test_questions_and_choices_are_said_in_chinese(db, installed):
    """Are the plan's questions (a removed state, a removed option, a lossy type change), their
    choices and the plan's lines about them in Chinese?"""
    asked = plan(db, changed_app()).questions
    assert {q.id for q in asked} == set(ANSWERS)
    for q in asked:
        for text in [q.text, q.describe(), *(label for _value, label in q.choices), *q.samples]:
            assert_said(text)
    state = next(q for q in asked if q.id == "state:task:review")
    assert str(state.text) == "removes state review of task, but 1 records are in it: choose the state they move to"
    assert zh(state.text) == "删除 task 的状态 review，但有 1 条记录处于该状态：请选择这些记录要移到的状态"
    assert (str(state.choices[0][1]), zh(state.choices[0][1])) == ("move them to todo (Todo)", "移到 todo（Todo）")
    typed = next(q for q in asked if q.id == "type:task:effort")
    assert "1 个值可以转换" in zh(typed.text) or "0 个值可以转换" in zh(typed.text)
    assert [zh(label) for _value, label in typed.choices] == ["停止：不应用任何内容", "四舍五入", "清空（旧值会被归档，可以恢复）"]
    assert [str(label) for _value, label in typed.choices] == [
        "stop: apply nothing",
        "round them",
        "clear them (the old values are archived and can be restored)",
    ]
    assert zh(typed.describe()).startswith("type:task:effort：")
    assert "请选择停止、四舍五入，或将它们清空" in zh(typed.text)


def test_a_value_that_cannot_be_converted_is_listed_with_why(db, install):
    """Is an example of a value that cannot be converted (one holding " (" itself) in Chinese,
    the value as it is?"""
    demo = Demo(db, install, notes={"type": "text"})
    bad = demo.add(title="Printer", notes="ab (c)")
    doc = copy.deepcopy(demo.doc)
    doc["entities"]["task"]["fields"]["notes"] = {"type": "integer"}
    (question,) = plan(db, doc).questions
    (sample,) = question.samples
    assert str(sample) == f'#{bad}: "ab (c)" (is not a number)'
    assert assert_said(sample) == f'#{bad}: "ab (c)"（不是数字）'


def test_refusals_are_said_in_chinese(db, installed):
    """Are refusals (an answer that is no choice, a question the plan does not ask, a unique
    field over duplicates, a type change that cannot convert) in Chinese?"""
    et = installed["registry"].entity("demo", "task")
    for title in ("Printer", "Scanner"):
        db.run(lambda conn, t=title: records.create_record(conn, et, {"title": t}, actor=Actor.system()))
    doc = changed_app()
    doc["entities"]["task"]["fields"]["title"]["unique"] = True
    doc["entities"]["task"]["fields"]["tags"] = {"type": "integer"}
    refused = plan(db, doc, {**ANSWERS, "option:task:priority:high": "maybe", "state:task:nope": "x"}).refusals
    refused += plan(db, {**doc, "entities": {**doc["entities"]}}, {"state:task:nope": "x"}).refusals
    english = [str(r) for r in refused]
    assert any(r.startswith("“maybe” is not a choice for option:task:priority:high") for r in english), english
    assert any(r.startswith("there is no question state:task:nope in this plan") for r in english), english
    assert any("values cannot be converted to integer" in r for r in english), english
    said = {str(reason): assert_said(reason) for reason in refused}
    duplicates = "makes field title of task unique, but 2 values appear more than once; fix them first"
    assert said[duplicates] == "将 task 的字段 title 设为唯一，但有 2 个值出现了不止一次；请先修正"


# -- differences between versions -------------------------------------------------------------


def test_diff_summaries_are_said_in_chinese():
    """Is every summary of a real difference between two documents (entities, fields, types,
    options, states, transitions, views, labels and settings) in Chinese, keys kept, and in
    English with a word for each member (no raw key where a word exists, no "None")?"""
    old = original_app()
    new = changed_app()
    new["label"] = {"en": "Demo 2", "zh": "演示 2"}
    new["roles"]["auditor"] = {"label": "Auditor"}
    task = new["entities"]["task"]
    task["plural"] = {"en": "Tasks", "zh": "任务"}
    task["sections"] = [{"label": "Main", "fields": ["title"]}]
    task["fields"]["title"]["max_length"] = 80
    task["fields"]["title"]["help"] = "What is to be done"
    task["fields"]["tags"]["options"] = [{"key": "blue", "color": "#1f77b4"}, "red", "green"]
    task["workflow"]["states"]["todo"]["color"] = "#2ca02c"
    task["workflow"]["states"]["blocked"] = {"category": "doing"}
    task["workflow"]["transitions"][0]["to"] = "done"
    task["workflow"]["transitions"][0]["guard"] = "effort > 0"
    task["workflow"]["transitions"][0]["guard_message"] = "Estimate it first"
    task["workflow"]["transitions"].append({"key": "block", "from": "*", "to": "blocked"})
    task["workflow"]["initial"] = "done"
    task["views"]["board"]["label"] = "Cards"
    task["views"]["list"] = {"type": "list"}
    summaries = [change.summary for change in versions.diff_documents(old, new)]
    english = [str(s) for s in summaries]
    for line in (
        "adds entity note",
        "renames field estimate to effort",
        "changes the type of field task.effort from decimal to integer",
        "removes field task.notes",
        "adds field task.due (date)",
        "adds field task.watchers (many user)",
        "removes option high of field task.priority",
        "adds option green to field task.tags",
        "reorders the options of field task.tags",
        "sets the max_length of field task.title to 80",
        'sets the colour of state todo to "#2ca02c"',
        "removes state review",
        "adds state blocked",
        'changes the target state of transition start from "doing" to "done"',
        "adds transition block",
        "changes the label of the app",
        "adds role auditor",
        "changes the label of view task.board",
        "adds view task.list",
        "changes the initial state of entity task from todo to done",
        "changes the plural label of entity task",
        "changes the form sections of entity task",
        "changes the help text of field task.title",
        "changes the condition message of transition start",
    ):
        assert line in english, (line, english)
    for summary in summaries:
        assert_said(summary)
    said = {str(s): zh(s) for s in summaries}
    assert said['sets the colour of state todo to "#2ca02c"'] == '将状态 todo 的颜色设为 "#2ca02c"'
    assert said["adds field task.watchers (many user)"] == "新增字段 task.watchers（多值 user）"
    assert said["changes the initial state of entity task from todo to done"] == "将实体 task 的初始状态从 todo 改为 done"
    relabelled = original_app()
    relabelled["entities"]["task"]["fields"]["priority"]["options"] = ["low", "normal", {"key": "high", "label": "High!"}]
    (option,) = [change.summary for change in versions.diff_documents(original_app(), relabelled)]
    assert str(option) == "changes the label of option high of field task.priority"
    assert zh(option) == "更改字段 task.priority 的选项 high 的标签"


def test_the_initial_state_is_named_when_set_and_when_left_to_the_first_state():
    """Does naming the first state as the initial one, or no longer naming one, say which state
    records start in?"""
    old = minimal_app()
    named = copy.deepcopy(old)
    named["entities"]["task"]["workflow"]["initial"] = "todo"
    (set_,) = [c.summary for c in versions.diff_documents(old, named)]
    (removed,) = [c.summary for c in versions.diff_documents(named, old)]
    assert str(set_) == "sets the initial state of entity task to todo"
    assert str(removed) == "removes the initial state of entity task: its first state todo is the initial one"
    assert (assert_said(set_), assert_said(removed)) == (
        "将实体 task 的初始状态设为 todo",
        "删除实体 task 的初始状态设置：其第一个状态 todo 即为初始状态",
    )


# -- schema problems -----------------------------------------------------------------------------


def problems_of(text_or_document: Any) -> list[SchemaProblem]:
    if isinstance(text_or_document, str):
        document, problems = parse_document(text_or_document)
        if problems:
            return problems
        text_or_document = document
    return check_document(text_or_document)


def test_problems_of_the_whole_corpus_are_said_in_chinese():
    """Is every problem the loader reports for the corpus of broken documents in Chinese, with
    its path, keys and values intact?"""
    problems = []
    for path in sorted(CORPUS.glob("*.json")):
        case = json.loads(path.read_text(encoding="utf-8"))
        problems += problems_of(case["document"])
    assert len(problems) > 100
    for problem in problems:
        assert_said(problem.message, problem.path)
        if problem.path and isinstance(problem.message, Message):
            assert zh(problem.with_path()) == f"{problem.path}：{zh(problem.message)}"


def test_more_problems_are_said_in_chinese():
    """Are problems of fields, workflows, approvals, views and expressions in Chinese?"""
    doc = minimal_app(
        views={
            "board": {"type": "board", "group_by": "estimate", "swimlanes": "tags", "wip": {"nope": {"max": 1}}},
            "list": {"type": "list", "sort": ["tags"], "group_by": "state"},
        }
    )
    task = doc["entities"]["task"]
    task["fields"]["tags"] = {"type": "multiselect", "options": ["a", "a"], "max_length": 3}
    task["fields"]["estimate"]["show_if"] = "priorty == 'high'"
    task["fields"]["estimate"]["required_if"] = "priority =="
    task["fields"]["due"] = {"type": "date", "default": "soon", "min": "2026-02-01", "max": "2026-01-01"}
    task["fields"]["id"] = {"type": "text"}
    task["workflow"]["transitions"][0]["to"] = "doign"
    task["workflow"]["transitions"][1]["roles"] = ["boss"]
    task["workflow"]["transitions"][2]["approval"] = {"steps": [{"key": "x", "approvers": {"field": "title"}, "mode": "quorum"}]}
    problems = problems_of(doc)
    english = [str(p.message) for p in problems]
    for fragment in ("unknown state “doign”", "unknown role “boss”", "priorty", "syntax error", "is larger than max"):
        assert any(fragment in m for m in english), (fragment, english)
    for problem in problems:
        assert_said(problem.message, problem.path)
    state = next(p.message for p in problems if "doign" in str(p.message))
    assert str(state) == "unknown state “doign” (did you mean “doing”?) (states: todo, doing, review, done)"
    assert zh(state) == "未知状态“doign”（是不是想写“doing”？）（可用状态：todo、doing、review、done）"


def test_problems_with_their_paths_are_said_in_chinese():
    """Is a problem with its JSON path in front (as an apply that fails lists them) in Chinese,
    the path kept, and in English as `path: problem`?"""
    doc = minimal_app()
    doc["entities"]["task"]["fields"]["estimate"]["type"] = "dec"
    doc["entities"]["task"]["workflow"]["transitions"][0]["to"] = "doign"
    problems = check_document(doc)
    assert problems and all(p.path.startswith("entities.task.") for p in problems)
    for problem in problems:
        assert zh(problem.with_path()) == f"{problem.path}：{zh(problem.message)}" and zh(problem.message) != str(problem.message)
        assert str(problem.with_path()) == str(problem) == f"{problem.path}: {problem.message}"


def test_nested_messages_kinds_of_values_and_plain_texts():
    """Is a message nested in another (why a default does not fit) said in Chinese too, a kind of
    value worded with its type keys kept, and a text that is no message (a person's own words, a
    text stored before messages were data) shown as it is in every language?"""
    assert zh(M("is required")) == "为必填项"
    assert zh(M("does not fit the field: %(detail)s", detail=M("must be a number"))) == "与字段不符：必须是数字"
    assert zh(Mp("a kind of value", "a number")) == "数字"
    kind = type_words("reference", many=True, to="customer")
    assert str(kind) == "many reference to customer"
    assert assert_said(M("adds field %(field)s (%(type)s)", field="task.client", type=kind)) == (f"新增字段 task.client（{zh(kind)}）")
    assert "reference" in zh(kind) and "customer" in zh(kind)
    for text in ("something nobody knows", plain("something nobody knows")):
        assert zh(text) == say(text, "en") == "something nobody knows"


def test_every_label_in_a_message_is_said_in_the_readers_language():
    """Is a state's label in a plan's choice said in Chinese where the document gives one, in
    English where it does not?"""
    choice = M("move them to %(state)s (%(label)s)", state="todo", label=Label({"en": "To do", "zh": "待办"}))
    assert (str(choice), zh(choice)) == ("move them to todo (To do)", "移到 todo（待办）")
    assert zh(M("move them to %(state)s (%(label)s)", state="done", label=Label({"en": "Done"}))) == "移到 done（Done）"


# -- what schema changes and bundle imports leave in the history -------------------------------------


def test_records_moved_by_a_change_keep_why_as_a_message(db, installed):
    """Do the records a change moves out of a removed state or option, and the approval request it
    withdraws, get history entries whose message says why (Chinese for a Chinese reader), with no
    English comment?"""
    ids = (installed["first"], installed["second"])
    before = {i: len(entries(db, "demo", "task", i)) for i in ids}
    apps.apply_document(db, applied_app(), actor=Actor.system(), choices=ANSWERS)
    written = {i: entries(db, "demo", "task", i)[before[i] :] for i in ids}
    assert {i: sorted((e.action, str(e.message), e.comment) for e in written[i]) for i in ids} == {
        installed["first"]: [
            ("migrated", "option migrated by schema change", None),
            ("migrated", "state migrated by schema change", None),
            ("migrated", "value converted by schema change", None),
            ("withdrawn", "withdrawn by schema change", None),
        ],
        installed["second"]: [("migrated", "option migrated by schema change", None)],
    }
    assert {str(e.message): zh(e.message) for e in written[installed["first"]]} == {
        "withdrawn by schema change": "应用变更时撤回",
        "state migrated by schema change": "应用变更时移动了状态",
        "option migrated by schema change": "应用变更时替换了选项",
        "value converted by schema change": "应用变更时转换了值",
    }
    stored = db.read(lambda conn: conn.execute(sa.select(models.history.c.message).where(models.history.c.action == "withdrawn")).all())
    assert [row[0] for row in stored] == [{"id": "withdrawn by schema change"}]


OLD_ROWS = [  # (action, comment) as a schema change and a bundle import wrote them before revision 0009
    ("migrated", "state migrated by schema change"),
    ("migrated", "option migrated by schema change"),
    ("migrated", "option cleared by schema change"),
    ("migrated", "value converted by schema change"),
    ("migrated", "value cleared by schema change"),
    ("withdrawn", "withdrawn by schema change"),
    ("imported", "imported from bundle acme:crm (record #12 there)"),
    # not what the engine wrote: kept as it is
    ("imported", "imported by hand"),
    ("update", "state migrated by schema change"),
    ("approved", "Board: fine"),
]


def test_revision_0009_turns_the_old_history_texts_into_messages(db):
    """Does revision 0009 turn the history comments schema changes and bundle imports wrote
    into the messages the engine writes now (Chinese for a Chinese reader), keep anything
    else as it was, and give the texts back when it is undone?"""
    h = models.history

    def before(conn: sa.Connection) -> None:
        command.downgrade(alembic_config(conn), "0009-1")
        at = dt.datetime.now(dt.UTC)
        conn.execute(
            h.insert(),
            [
                {"app": "demo", "entity": "task", "record_id": n, "actor_id": None, "at": at, "action": action, "transition": None,
                 "changes": [], "comment": comment, "message": None}
                for n, (action, comment) in enumerate(OLD_ROWS, 1)
            ],
        )  # fmt: skip
        command.upgrade(alembic_config(conn), "0009")

    db.run(before)
    found = [db.read(lambda conn, n=n: history.list_entries(conn, "demo", "task", n))[0] for n in range(1, len(OLD_ROWS) + 1)]
    assert [(e.message, e.comment) for e in found] == [
        (M("state migrated by schema change"), None),
        (M("option migrated by schema change"), None),
        (M("option cleared by schema change"), None),
        (M("value converted by schema change"), None),
        (M("value cleared by schema change"), None),
        (M("withdrawn by schema change"), None),
        (M("imported from bundle %(source)s (record #%(id)s there)", source="acme:crm", id=12), None),
        (None, "imported by hand"),
        (None, "state migrated by schema change"),
        (None, "Board: fine"),
    ]
    assert zh(found[6].message) == "从配置包 acme:crm 导入（原记录 #12）"

    def undo(conn: sa.Connection) -> list[Any]:
        command.downgrade(alembic_config(conn), "0009-1")
        return [tuple(row) for row in conn.execute(sa.select(h.c.action, h.c.comment, h.c.message).order_by(h.c.id))]

    assert db.run(undo) == [(action, comment, None) for action, comment in OLD_ROWS]
    db.run(lambda conn: command.upgrade(alembic_config(conn), "head"))
