"""The corpus of broken app documents in tests/schema_corpus/.

Each case is `NN-short-name.json`: `{"why": ..., "document": ..., "expect": [{"path", "message"}, ...]}`.
`document` is the broken app document, or a JSON string holding raw text when the case is
about reading the text itself. Every expected message is a substring of the one problem
reported at exactly that path, and a case lists every problem its document produces.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from flowdeck.engine.errors import SchemaInvalid, SchemaProblem
from flowdeck.engine.schema.loader import check_document, load_app

CORPUS = Path(__file__).resolve().parents[1] / "schema_corpus"
CASE_FILES = sorted(CORPUS.glob("*.json"))
NAME = re.compile(r"^\d\d-[a-z0-9]+(-[a-z0-9]+)*\.json$")


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _unmatched(problems: list[SchemaProblem], expect: list[dict[str, str]]) -> tuple[list[dict[str, str]], list[SchemaProblem]]:
    """Pair each expectation with a distinct problem; return the expectations and problems left over."""
    left = list(problems)
    missing = []
    for item in expect:
        match = next((p for p in left if p.path == item["path"] and item["message"] in str(p.message)), None)
        if match is None:
            missing.append(item)
        else:
            left.remove(match)
    return missing, left


def _explain(missing: list[dict[str, str]], extra: list[SchemaProblem]) -> str:
    lines = [f"  expected, not reported: {m['path']}: {m['message']}" for m in missing]
    lines += [f"  reported, not expected: {p.path}: {p.message}" for p in extra]
    return "\n".join(lines)


def test_corpus_is_large_enough():
    """Does the corpus hold at least 50 cases?"""
    assert len(CASE_FILES) >= 50


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_case_file_is_well_formed(path: Path):
    """Is this case named NN-short-name.json, with a one-sentence why, a document and at least one expectation?"""
    assert NAME.match(path.name), path.name
    case = _load(path)
    assert set(case) == {"why", "document", "expect"}
    assert isinstance(case["why"], str) and case["why"].strip().endswith(".") and "\n" not in case["why"]
    assert case["expect"], "a broken document must expect at least one problem"
    for item in case["expect"]:
        assert set(item) == {"path", "message"} and isinstance(item["path"], str) and item["message"]


def test_case_numbers_are_unique():
    """Does every case have its own number?"""
    numbers = [p.name[:2] for p in CASE_FILES]
    assert len(numbers) == len(set(numbers))


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_case_reports_exactly_what_it_expects(path: Path):
    """Does the loader report every expected problem at its path, and nothing else?"""
    case = _load(path)
    problems = check_document(case["document"])
    missing, extra = _unmatched(problems, case["expect"])
    assert not missing and not extra, f"{path.name}:\n{_explain(missing, extra)}"
    assert len(problems) == len(case["expect"])


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_loading_raises_only_schema_invalid(path: Path):
    """Does loading this broken document raise SchemaInvalid (and never crash with anything else)?"""
    case = _load(path)
    with pytest.raises(SchemaInvalid) as info:
        load_app(case["document"], name=path.stem)
    assert info.value.problems
    assert info.value.source == path.stem


@pytest.mark.parametrize("path", [p for p in CASE_FILES if not isinstance(_load(p)["document"], str)], ids=lambda p: p.stem)
def test_text_and_parsed_document_agree(path: Path):
    """Does the same document give the same problems whether it arrives as JSON text, bytes or parsed?"""
    document = _load(path)["document"]
    text = json.dumps(document, ensure_ascii=False)
    parsed = check_document(document)
    assert check_document(text) == parsed
    assert check_document(text.encode("utf-8")) == parsed
