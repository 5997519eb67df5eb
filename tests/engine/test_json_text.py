"""A document's JSON text: positions (engine/schema/positions.py: paths to lines and columns,
the path at a cursor, also in broken text) and writing (engine/schema/writing.py: the
document style, rewriting a document while keeping untouched text)."""

from __future__ import annotations

import copy
import json

import pytest

from flowdeck.engine.schema import positions, writing
from flowdeck.engine.schema.positions import locate, parse_path, path_at, scan
from flowdeck.engine.schema.shape import format_path
from flowdeck.engine.schema.writing import rewrite

DOC = """{
  "key": "demo",
  "label": {"en": "Demo {braces}", "zh": "演示 \\"quoted\\" [x]"},
  "entities": {
    "task": {
      "fields": {
        "title": {"type": "text"},
        "note": {
          "type": "markdown",
          "help": "a } and a { and \\\\ and \\" in a string"
        }
      },
      "workflow": {
        "states": {"todo": {"category": "todo"}, "done": {"category": "done"}},
        "transitions": [
          {"key": "finish", "from": "todo", "to": "done"},
          {"key": "reopen", "from": ["done"], "to": "todo"},
          {
            "key": "again",
            "from": "*",
            "to": "todo"
          }
        ]
      }
    },
    "中文键": {"fields": {"名称": {"type": "text"}}}
  }
}
"""


def _line_of(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """Line and column (1-based) of the n-th occurrence of `needle`."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def test_the_document_parses():
    """Is the test document valid JSON (so every other test reads real JSON)?"""
    assert json.loads(DOC)["entities"]["task"]["fields"]["note"]["help"] == 'a } and a { and \\ and " in a string'


@pytest.mark.parametrize(
    ("path", "needle", "occurrence"),
    [
        ("key", '"key": "demo"', 1),
        ("label.zh", '"zh"', 1),
        ("entities.task.fields.title", '"title"', 1),
        ("entities.task.fields.note.help", '"help"', 1),
        ("entities.task.workflow.states.done.category", '"category": "done"', 1),
        ("entities.task.workflow.transitions[1].to", '"to": "todo"', 1),
        ("entities.task.workflow.transitions[2].from", '"from": "*"', 1),
        ("entities.task.workflow.transitions[2]", '{\n            "key": "again"', 1),
        ('entities["中文键"].fields["名称"].type', '"type": "text"', 2),
    ],
)
def test_locate_finds_the_line_and_column(path, needle, occurrence):
    """Does a JSON path map to the line and column of its key (or list item) in nested objects and lists?"""
    where = locate(DOC, path)
    assert where.exact
    assert (where.line, where.column) == _line_of(DOC, needle, occurrence)


def test_strings_with_braces_and_escaped_quotes_do_not_confuse_the_scanner():
    """Do braces, brackets, escaped quotes and backslashes inside strings leave the positions after them right?"""
    assert locate(DOC, "entities.task.workflow").line == _line_of(DOC, '"workflow"')[0]
    found = scan(DOC)
    assert found.error_at is None
    note = positions.find(found.root, ["entities", "task", "fields", "note", "help"])[0]
    assert json.loads(DOC[note.start : note.end]) == 'a } and a { and \\ and " in a string'


def test_unicode_keys_and_values_count_characters():
    """Are columns counted in characters, so a line with Chinese text places what follows it right?"""
    line, column = _line_of(DOC, '"名称"')
    assert locate(DOC, ["entities", "中文键", "fields", "名称"]) == positions.Location(line, column, True, DOC.index('"名称"'))


def test_a_missing_path_falls_back_to_its_deepest_part():
    """Does a path the text lacks point at its nearest existing parent, flagged as not exact?"""
    where = locate(DOC, "entities.task.fields.due.type")
    assert not where.exact
    assert where.line == _line_of(DOC, '"fields"')[0]


def test_syntax_errors_are_placed_by_their_message_or_the_scan():
    """Is a JSON syntax problem (no path) put on the line it names, or where reading stopped?"""
    where = locate(DOC, "", "not valid JSON: Expecting ',' delimiter at line 7, column 33")
    assert (where.line, where.column) == (7, 33)
    broken = DOC.replace('"type": "text"},', '"type": "text"}', 1)
    found = scan(broken)
    assert found.error_at is not None
    assert found.line_col(found.error_at)[0] == _line_of(broken, '"note"')[0]


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("entities.task.workflow.transitions[2].to", ["entities", "task", "workflow", "transitions", 2, "to"]),
        ('views["my board"].card', ["views", "my board", "card"]),
        ("transitions[approve].to", ["transitions", "approve", "to"]),
        ("", []),
    ],
)
def test_paths_parse_and_format_back(path, parts):
    """Do engine paths (indexes, quoted keys, merge paths) parse into parts, and format back as `shape.format_path` writes them?"""
    assert parse_path(path) == parts
    if "[approve]" not in path:
        assert format_path(parts) == path


def test_path_at_the_cursor():
    """Does a cursor give the innermost object around it and the member it is on?"""
    at = path_at(DOC, DOC.index('"markdown"') + 2)
    assert at.container == ["entities", "task", "fields", "note"]
    assert at.member == ["entities", "task", "fields", "note", "type"]
    assert not at.on_key
    on_key = path_at(DOC, DOC.index('"help"') + 1)
    assert on_key.member == ["entities", "task", "fields", "note", "help"] and on_key.on_key
    between = path_at(DOC, DOC.index('"title"') - 1)
    assert between.container == ["entities", "task", "fields"] and between.member is None
    in_list = path_at(DOC, DOC.index('"reopen"'))
    assert in_list.container == ["entities", "task", "workflow", "transitions", 1]


def test_path_at_works_while_the_text_is_broken():
    """While the admin types (an unclosed object), is the path at the cursor still known?"""
    text = '{\n  "entities": {\n    "task": {\n      "fields": {\n        "due": {"type": "da'
    at = path_at(text, len(text))
    assert at.container == ["entities", "task", "fields", "due"]
    assert at.member == ["entities", "task", "fields", "due", "type"]
    text2 = '{"entities": {"task": {"fields": {"due": {"ty'
    assert path_at(text2, len(text2)).container == ["entities", "task", "fields", "due"]
    assert path_at("", 0).container == []


def test_dumps_round_trips_in_document_style():
    """Does the document style keep small objects on one line, nest big ones, and read back equal?"""
    value = json.loads(DOC)
    text = writing.dumps(value)
    assert json.loads(text) == value
    assert '"title": {"type": "text"}' in text
    assert '"label": {"en": "Demo {braces}", "zh": "演示 \\"quoted\\" [x]"}' in text


def test_rewrite_keeps_untouched_text_byte_for_byte():
    """After a change, is every member the change did not touch written exactly as it was (spacing and all)?"""
    odd = DOC.replace('"title": {"type": "text"}', '"title"  :  { "type" :"text" }')
    value = json.loads(odd)
    changed = copy.deepcopy(value)
    changed["entities"]["task"]["fields"]["due"] = {"type": "date", "label": {"en": "Due", "zh": "截止"}}
    out = rewrite(odd, changed)
    assert json.loads(out) == changed
    assert list(json.loads(out)["entities"]["task"]["fields"]) == ["title", "note", "due"]
    assert '"title"  :  { "type" :"text" }' in out
    assert out.replace(',\n        "due": {"type": "date", "label": {"en": "Due", "zh": "截止"}}', "") == odd


def test_rewrite_keeps_a_renamed_members_text_and_list_items():
    """Does a renamed field (with "was") keep its own text, and a removed list item leave the others as written?"""
    value = json.loads(DOC)
    fields = value["entities"]["task"]["fields"]
    value["entities"]["task"]["fields"] = {
        ("remark" if k == "note" else k): ({**v, "was": "note"} if k == "note" else v) for k, v in fields.items()
    }
    del value["entities"]["task"]["workflow"]["transitions"][1]
    out = rewrite(DOC, value)
    assert json.loads(out) == value
    assert '"help": "a } and a { and \\\\ and \\" in a string",' in out
    assert '{"key": "finish", "from": "todo", "to": "done"},\n' in out
    assert '"reopen"' not in out
    assert '"help": "a } and a { and \\\\ and \\" in a string",\n          "was": "note"\n        }' in out
    assert out.count("\n") == DOC.count("\n")  # the removed item's line went, the "was" line came


def test_rewrite_of_broken_text_writes_the_whole_document():
    """Is text that is not JSON replaced by the document written afresh?"""
    value = {"key": "demo"}
    assert json.loads(rewrite("{ not json", value)) == value


def test_same_is_strict_about_types_and_order():
    """Does the equality used for keeping text tell 1 from true and {a,b} from {b,a}?"""
    assert not writing.same(1, True)
    assert not writing.same({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert writing.same({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]})
