"""docs/schema-reference.md stays true: its examples load, and it names every keyword,
field type and expression function the engine knows."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from flowdeck.engine.expressions import FUNCTIONS
from flowdeck.engine.fieldtypes import FIELD_TYPES
from flowdeck.engine.schema.loader import check_document
from flowdeck.engine.schema.shape import META_SCHEMA_PATH

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "schema-reference.md"
_FENCE = re.compile(r"^```json[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def _reference() -> str:
    return REFERENCE.read_text(encoding="utf-8")


def _json_blocks() -> list[tuple[int, str]]:
    """Every fenced ```json block with the line it starts on."""
    text = _reference()
    return [(text.count("\n", 0, match.start()) + 1, match.group(1)) for match in _FENCE.finditer(text)]


def _parsed(block: str) -> Any:
    """The block's JSON value, or None when it does not parse (reported by its own test)."""
    try:
        return json.loads(block)
    except json.JSONDecodeError:
        return None


def _is_app_document(value: Any) -> bool:
    return isinstance(value, dict) and "key" in value and "entities" in value


def _meta_schema_keywords() -> set[str]:
    """Every property name defined anywhere in the meta-schema (root and every $defs entry)."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict):
                names.update(node["properties"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(META_SCHEMA_PATH.read_text(encoding="utf-8")))
    return names


BLOCKS = _json_blocks()


def test_reference_has_json_examples_and_a_full_app():
    """Does the reference have JSON examples, including at least one whole app document?"""
    assert len(BLOCKS) > 50
    documents = [block for _, block in BLOCKS if _is_app_document(_parsed(block))]
    assert documents, "the reference must start with a complete example app"


@pytest.mark.parametrize(("line", "block"), BLOCKS, ids=[f"line{line}" for line, _ in BLOCKS])
def test_json_example_is_valid(line, block):
    """Does this JSON example parse, and load without problems when it is a whole app document?"""
    try:
        value = json.loads(block)
    except json.JSONDecodeError as exc:
        pytest.fail(f"docs/schema-reference.md line {line}: not valid JSON: {exc}")
    if _is_app_document(value):
        problems = [str(p) for p in check_document(block)]
        assert problems == [], f"docs/schema-reference.md line {line}: the example app does not load"


def test_every_meta_schema_keyword_is_documented():
    """Is every property name of the meta-schema described in the reference as `keyword`?"""
    text = _reference()
    keywords = _meta_schema_keywords()
    assert {"key", "entities", "show_if", "steps", "enforce", "not_in"} <= keywords
    missing = sorted(k for k in keywords if f"`{k}`" not in text)
    assert missing == [], f"keywords of app.schema.json missing from docs/schema-reference.md: {missing}"


def test_every_field_type_has_a_section():
    """Does every field type of FIELD_TYPES have its own section in the reference?"""
    text = _reference()
    missing = [name for name in FIELD_TYPES if not re.search(rf"^###+ `{re.escape(name)}`\s*$", text, re.MULTILINE)]
    assert missing == [], f"field types without a section in docs/schema-reference.md: {missing}"


def test_every_expression_function_is_documented():
    """Is every function of the expression language listed with its call form, such as `sum(`?"""
    text = _reference()
    missing = [name for name in FUNCTIONS if f"`{name}(" not in text]
    assert missing == [], f"expression functions missing from docs/schema-reference.md: {missing}"
