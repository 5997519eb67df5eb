"""The engine's texts for admins in the user's language (`views.admin_messages`): the
steps, questions, choices and refusals of migration plans, the summaries of version
differences and the problems of app documents, each produced by the engine for real and
shown in Chinese with its keys, paths and values intact (and unchanged in English)."""

from __future__ import annotations

import copy
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from flowdeck.engine import approvals, apps, records, versions, workflow
from flowdeck.engine.messages import english
from flowdeck.engine.permissions import Actor
from flowdeck.engine.schema.loader import check_document
from flowdeck.engine.schema.shape import parse_document
from flowdeck.views import admin_messages, engine_messages
from flowdeck.views.admin_messages import RULES, match, translate
from tests.support.documents import minimal_app
from tests.support.web import csrf_token, login

ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}
CORPUS = Path(__file__).resolve().parents[1] / "schema_corpus"
# Words that are left over when a text was not (fully) translated.
ENGLISH = re.compile(
    r"\b(?:is|are|must|be|the|you|not|to|of|a|an|no|at|from|this|its|field|fields|values|records|adds|removes|changes|"
    r"renames|with|and|or|in|cannot|unknown|needs|choose|only|have|has)\b"
)
# Groups that hold what the admin wrote or the data holds: shown as they are.
COMPOSED = {"detail", "change", "question", "type", "old_type", "new_type", "losses", "verbs", "what", "member", "hint", "listing"}
COMPOSED |= {"place", "field_kind", "got", "kinds", "label", "left", "right", "construct"}


def original_app() -> dict[str, Any]:
    """The minimal app with a few more kinds of fields, an approval on "approve" and a board."""
    doc = minimal_app(views={"board": {"type": "board", "label": "Board", "group_by": "state"}})
    task = doc["entities"]["task"]
    task["fields"]["notes"] = {"type": "text"}
    task["fields"]["tags"] = {"type": "multiselect", "options": ["red", "blue"]}
    task["workflow"]["transitions"][2]["approval"] = {"steps": [{"key": "check", "approvers": {"role": "lead"}}]}
    return doc


def changed_app() -> dict[str, Any]:
    """The original app changed in every way a plan speaks about."""
    doc = copy.deepcopy(original_app())
    task = doc["entities"]["task"]
    fields = task["fields"]
    fields["effort"] = {**fields.pop("estimate"), "type": "integer", "was": "estimate"}
    del fields["notes"]
    fields["priority"]["options"] = ["low", "normal"]
    fields["due"] = {"type": "date", "default": "2026-12-31"}
    fields["code"] = {"type": "text", "unique": True}
    fields["watchers"] = {"type": "user", "many": True}
    fields["items"] = {"type": "table", "fields": {"what": {"type": "text"}, "amount": {"type": "decimal"}}}
    fields["double"] = {"type": "computed", "formula": "effort * 2"}
    transitions = task["workflow"]["transitions"]
    del transitions[2]["approval"]
    task["workflow"]["transitions"] = [t for t in transitions if t["to"] != "review" and t["from"] != "review"]
    del task["workflow"]["states"]["review"]
    task["workflow"]["transitions"][-1]["from"] = "done"
    doc["entities"]["note"] = {"label": "Note", "fields": {"body": {"type": "text"}}}
    return doc


def applied_app() -> dict[str, Any]:
    """The changed app without its new formula: applied over the fixture's records (applying a new
    formula together with a new many-valued field fails: the formulas are computed before the
    field's link table is created)."""
    doc = changed_app()
    del doc["entities"]["task"]["fields"]["double"]
    return doc


@pytest.fixture
def installed(app, install, make_user, db):
    """The original app installed, with records in every state the change touches: one
    waiting for approval in "review", one with a decimal estimate and notes, one with tags."""
    registry = install(original_app())
    et = registry.entity("demo", "task")
    lead = make_user("lea", {"demo": ["lead", "member"]})
    make_user("lia", {"demo": ["lead"]})  # someone who can approve lea's request

    def work(conn):
        first = records.create_record(conn, et, {"title": "Printer", "priority": "high", "estimate": "1.5", "notes": "n"}, actor=lead)
        second = records.create_record(conn, et, {"title": "Scanner", "priority": "high", "tags": ["red"]}, actor=lead)
        for key in ("start", "submit"):
            workflow.transition_record(conn, et, first.id, key, actor=lead)
        approvals.request_approval(conn, et, first.id, "approve", actor=lead)
        return first, second

    db.run(work)
    return {"registry": registry, "lead": lead}


def plan(db, document, choices=None):
    return db.read(lambda conn: apps.plan_change(conn, document, choices)[1])


ANSWERS = {"state:task:review": "doing", "option:task:priority:high": "normal", "type:task:effort": "round"}


def zh(app, message):
    with app.test_request_context("/", headers=ZH):
        return translate(message)


def en(app, message):
    with app.test_request_context("/", headers=EN):
        return translate(message)


def values_of(message: str) -> list[str]:
    """What the message quotes from the document or the data (the groups shown as they are)."""
    found = match(message)
    if found is None:  # one of the messages every user sees (engine_messages)
        rule = next((r for r in engine_messages.RULES if r.pattern.fullmatch(message)), None)
        assert rule is not None, f"no pattern knows: {message}"
        shown = engine_messages.LABEL_GROUPS | engine_messages.FIELD_GROUPS | set(engine_messages.KEYED_GROUPS)
        groups = rule.pattern.fullmatch(message).groupdict()
        return [v for name, v in groups.items() if v and name not in shown | engine_messages.NESTED_GROUPS]
    _rule, groups = found
    values = []
    for name, value in groups.groupdict().items():
        if value and name not in COMPOSED:
            values.append(value)
        elif value and name == "listing" and ": " in value:
            values.append(value[value.index(": ") + 2 : -1])  # the keys there are: "(roles: lead, member)"
        elif value and name == "hint":
            values.append(value.split('"')[1])  # the key it suggests: ' (did you mean "date"?)'
    return values


def assert_said(app, message: str) -> str:
    """`message` is in Chinese, its values intact, and unchanged in English."""
    said = zh(app, message)
    assert said != message, message
    assert re.search(r"[\u4e00-\u9fff]", said), (message, said)
    rest = said
    for value in sorted(values_of(message), key=len, reverse=True):
        assert value in said, (message, said, value)
        rest = rest.replace(value, " ")
    assert not ENGLISH.search(rest), (message, said)
    assert en(app, message) == message
    return said


# -- the rules ------------------------------------------------------------------------------------


def test_every_rule_has_as_many_placeholders_as_groups():
    """Does each msgid use exactly the named groups of its pattern (no KeyError, nothing lost)?"""
    assert len(RULES) >= 150
    for rule in RULES:
        assert set(rule.pattern.groupindex) == rule.placeholders(), rule.msgid


def test_every_rule_is_translated_in_the_catalog(app):
    """Does every pattern have a Chinese translation in the catalog (not the English msgid)?"""
    with app.test_request_context("/", headers=ZH):
        untranslated = [rule.msgid for rule in RULES if str(rule.text) == rule.msgid]
    assert untranslated == []


# -- the migration plan ------------------------------------------------------------------------


def test_plan_steps_are_translated(app, db, installed):
    """Is every step of a real plan (entity and tables added, fields added, renamed, removed and
    converted, options replaced, records moved, approvals withdrawn, formulas recomputed, the
    archive) in Chinese with its keys and counts, and unchanged in English?"""
    steps = [str(step.description) for step in plan(db, changed_app(), ANSWERS).steps]
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
        assert line in steps, (line, steps)
    assert any(s.startswith("changes field effort of task from decimal to integer: ") for s in steps), steps
    assert any(s.startswith("recomputes ") for s in steps), steps
    said = {line: assert_said(app, line) for line in steps}
    assert said["adds field due to task"] == "为 task 新增字段 due"
    assert said["moves the 1 task records in state review to doing; each gets a history entry"] == (
        "将 task 中处于状态 review 的 1 条记录移到 doing，每条记录都会留下历史记录"
    )
    converted = next(line for line in steps if line.startswith("changes field effort"))
    assert "decimal" in said[converted] and "integer" in said[converted] and "effort__v1" in said[converted]


def test_more_plan_steps_are_translated(app, db, installed):
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
    steps = [str(step.description) for step in plan(db, doc, {"state:task:doing": "todo"}).steps]
    for line in (
        "removes entity note: its 0 records are archived, not deleted; re-adding it restores them",
        "removes option blue of task.tags (no records use it)",
        "takes task.notes out of the archive",
    ):
        assert line in steps, (line, steps)
    assert any(s.startswith("changes field due of task from date to datetime") for s in steps), steps
    for line in steps:
        assert_said(app, line)


def test_questions_and_choices_are_translated(app, db, installed):
    """Are the plan's questions (a removed state, a removed option, a lossy type change),
    their choices and the examples of values that cannot be converted in Chinese?"""
    asked = plan(db, changed_app()).questions
    assert {q.id for q in asked} == set(ANSWERS)
    texts = [str(q.text) for q in asked] + [str(label) for q in asked for _value, label in q.choices]
    for text in texts:
        assert_said(app, text)
    state = next(q for q in asked if q.id == "state:task:review")
    assert zh(app, state.text) == "删除 task 的状态 review，但有 1 条记录处于该状态：请选择这些记录要移到的状态"
    assert zh(app, state.choices[0][1]) == "移到 todo（Todo）"
    typed = next(q for q in asked if q.id == "type:task:effort")
    assert "1 个值可以转换" in zh(app, typed.text) or "0 个值可以转换" in zh(app, typed.text)
    assert [zh(app, label) for _value, label in typed.choices] == ["停止：不应用任何内容", "四舍五入", "清空（旧值会被归档，可以恢复）"]
    assert zh(app, '#7: "ab (c)" (is not a number)') == '#7: "ab (c)"（不是数字）'
    assert zh(app, typed.describe()).startswith("type:task:effort：")


def test_refusals_are_translated(app, db, installed):
    """Are refusals (an answer that is no choice, a question the plan does not ask, a unique
    field over duplicates, a type change that cannot convert) in Chinese?"""
    doc = changed_app()
    doc["entities"]["task"]["fields"]["title"]["unique"] = True
    doc["entities"]["task"]["fields"]["tags"] = {"type": "integer"}
    refused = english(plan(db, doc, {**ANSWERS, "option:task:priority:high": "maybe", "state:task:nope": "x"}).refusals)
    refused += english(plan(db, {**doc, "entities": {**doc["entities"]}}, {"state:task:nope": "x"}).refusals)
    assert any(r.startswith('"maybe" is not a choice for option:task:priority:high') for r in refused), refused
    assert any(r.startswith("there is no question state:task:nope in this plan") for r in refused), refused
    assert any("values cannot be converted to integer" in r for r in refused), refused
    for reason in refused:
        assert_said(app, reason)
    duplicates = "makes field title of task unique, but 2 values appear more than once; fix them first"
    assert zh(app, duplicates) == "将 task 的字段 title 设为唯一，但有 2 个值出现了不止一次；请先修正"


# -- differences between versions -------------------------------------------------------------


def test_diff_summaries_are_translated(app):
    """Is every summary of a real difference between two documents (entities, fields, types,
    options, states, transitions, views, labels and settings) in Chinese, keys kept?"""
    old = original_app()
    new = changed_app()
    new["label"] = {"en": "Demo 2", "zh": "演示 2"}
    new["roles"]["auditor"] = {"label": "Auditor"}
    new["entities"]["task"]["fields"]["title"]["max_length"] = 80
    new["entities"]["task"]["fields"]["tags"]["options"] = [{"key": "blue", "color": "#1f77b4"}, "red", "green"]
    new["entities"]["task"]["workflow"]["states"]["todo"]["color"] = "#2ca02c"
    new["entities"]["task"]["workflow"]["states"]["blocked"] = {"category": "doing"}
    new["entities"]["task"]["workflow"]["transitions"][0]["to"] = "done"
    new["entities"]["task"]["workflow"]["transitions"].append({"key": "block", "from": "*", "to": "blocked"})
    new["entities"]["task"]["workflow"]["initial"] = "done"
    new["entities"]["task"]["views"]["board"]["label"] = "Cards"
    new["entities"]["task"]["views"]["list"] = {"type": "list"}
    summaries = [str(change.summary) for change in versions.diff_documents(old, new)]
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
        "changes the initial state of entity task from None to done",
    ):
        assert line in summaries, (line, summaries)
    for line in summaries:
        assert_said(app, line)
    assert zh(app, 'sets the colour of state todo to "#2ca02c"') == '将状态 todo 的颜色设为 "#2ca02c"'
    assert zh(app, "adds field task.watchers (many user)") == "新增字段 task.watchers（多值 user）"
    assert zh(app, "changes the label of option high of field task.priority") == "更改字段 task.priority 的选项 high 的标签"


# -- schema problems -----------------------------------------------------------------------------


def problems_of(text_or_document: Any) -> list[str]:
    if isinstance(text_or_document, str):
        document, problems = parse_document(text_or_document)
        if problems:
            return [str(p.message) for p in problems]
        text_or_document = document
    return [str(p.message) for p in check_document(text_or_document)]


def test_problems_of_the_whole_corpus_are_translated(app):
    """Is every problem the loader reports for the corpus of broken documents in Chinese, its
    keys and values intact?"""
    messages = []
    for path in sorted(CORPUS.glob("*.json")):
        case = json.loads(path.read_text(encoding="utf-8"))
        messages += problems_of(case["document"])
    assert len(messages) > 100
    for message in messages:
        assert_said(app, message)


def test_more_problems_are_translated(app):
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
    messages = problems_of(doc)
    for fragment in ('unknown state "doign"', 'unknown role "boss"', "unknown name “priorty”", "syntax error", "is larger than max"):
        assert any(fragment in m for m in messages), (fragment, messages)
    for message in messages:
        assert_said(app, message)
    assert zh(app, 'unknown state "doign" (did you mean "doing"?) (states: todo, doing, review, done)') == (
        "未知状态“doign”（是不是想写“doing”？）（可用状态：todo, doing, review, done）"
    )


def test_problems_with_their_paths_are_translated(app):
    """Is a problem written with its JSON path (as an apply that fails lists them) in Chinese, the path kept?"""
    doc = minimal_app()
    doc["entities"]["task"]["fields"]["estimate"]["type"] = "dec"
    doc["entities"]["task"]["workflow"]["transitions"][0]["to"] = "doign"
    problems = [str(p) for p in check_document(doc)]
    assert problems and all(p.startswith("entities.task.") for p in problems)
    for line in problems:
        path, _sep, message = line.partition(": ")
        assert zh(app, line) == f"{path}：{zh(app, message)}" and zh(app, message) != message
        assert en(app, line) == line


# -- the pages ------------------------------------------------------------------------------------------


@pytest.fixture
def admin(client, installed, make_user):
    make_user("boss", is_admin=True)
    login(client, "boss")
    return client


def visible(response) -> str:
    body = response.get_data(as_text=True)
    main = body[body.find("<main") :]
    main = re.sub(r"<textarea[^>]*>.*?</textarea>", " ", main, flags=re.DOTALL)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", main)))


def test_review_page_in_chinese(admin, db):
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
    english = admin.post("/admin/apps/demo/review", data={"csrf_token": token, "document": text}, headers=EN)
    assert "adds field due to task" in visible(english) and "renames field estimate to effort" in visible(english)


def test_live_check_and_versions_in_chinese(admin, db, installed):
    """Do the editor's live check (problems with their paths) and a version's changes speak Chinese?"""
    doc = original_app()
    doc["entities"]["task"]["fields"]["estimate"]["type"] = "dec"
    token = csrf_token(admin, "/admin/apps/")
    checked = admin.post("/admin/apps/demo/check", data={"csrf_token": token, "document": json.dumps(doc)}, headers=ZH).get_json()
    problem = next(p for p in checked["problems"] if p["path"] == "entities.task.fields.estimate.type")
    assert problem["message"].startswith('未知的字段类型 "dec"（是不是想写“decimal”？）；可选值：text、markdown、integer')
    apps.apply_document(db, applied_app(), actor=Actor.system(), choices=ANSWERS)
    words = visible(admin.get("/admin/apps/demo/versions/2", headers=ZH))
    assert "新增实体 note" in words and "删除字段 task.notes" in words
    english = visible(admin.get("/admin/apps/demo/versions/2", headers=EN))
    assert "adds entity note" in english and "新增实体" not in english


def test_admin_messages_fall_back_to_the_engines_messages(app):
    """Are the engine's other messages (a value that does not fit) still translated, and an
    unknown text left as it is?"""
    assert zh(app, "is required") == "为必填项"
    assert zh(app, "does not fit the field: must be a number") == "与字段不符：必须是数字"
    assert zh(app, "something nobody knows") == "something nobody knows"
    assert admin_messages.type_words("many reference to customer") == "many reference to customer"
