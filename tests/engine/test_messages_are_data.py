"""The engine says nothing in English prose: every text for a person is a `Message`.

Read from the source (ast), so a new `raise Forbidden(f"...")` fails here the day it is written:
an error, an `InvalidValue`, a note, comment, reason or notification text built from a string
literal or an f-string is English a Chinese reader would see (or a regex would have to parse).
"""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "platform" / "engine"
TEXT_KEYWORDS = {"message", "note", "reason", "detail", "summary", "question", "text", "why", "title_text"}
"""Keyword arguments that carry a text for a person when the engine passes them on."""
NOT_FOR_PEOPLE = {"migrations"}
"""Alembic's version files hold data migrations, not texts for people."""
NOT_PROSE_CALLS = {
    "exec_driver_sql", "text", "debug", "info", "warning", "error", "exception", "critical", "log",
    "join", "format", "startswith", "endswith", "replace", "split", "partition", "strip", "get", "setdefault", "pop",
    "compile", "fullmatch", "match", "search", "sub", "findall", "escape", "quote", "execute", "M", "Mp", "Mn", "plain",
    "Path", "open", "write", "write_text", "write_bytes", "read_text", "encode", "decode", "sha256", "new", "digest",
    "isoformat", "strftime", "strptime", "fromisoformat", "dumps", "loads", "getenv", "bindparam", "literal_column",
    "label", "Index", "Column", "Table", "CheckConstraint", "UniqueConstraint", "ForeignKey", "Sequence", "DDL",
}  # fmt: skip
"""Calls whose string arguments are SQL, log lines, patterns or data, not texts for people."""


def _is_prose(node: ast.AST) -> bool:
    """A string literal with a space in it, or an f-string: English words."""
    if isinstance(node, ast.JoinedStr):
        return True
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and " " in node.value.strip()


def _has_words(node: ast.JoinedStr) -> bool:
    """An f-string whose literal parts hold two words or more (not an identifier or a path)."""
    literal = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return len([w for w in literal.split() if any(c.isalpha() for c in w)]) >= 2


def _error_classes(tree: ast.Module) -> set[str]:
    names = {"FlowdeckError", "InvalidValue", "ExpressionError", "FilterError", "FileRefused", "ValueError"}
    names |= {
        "SchemaInvalid", "RecordInvalid", "Conflict", "Forbidden", "NotFound", "TransitionRefused", "MigrationRefused",
        "ChoicesNeeded", "DatabaseUnavailable",
    }  # fmt: skip
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(
            isinstance(b, ast.Name) and (b.id in names or b.id.endswith("Error")) for b in node.bases
        ):
            names.add(node.name)
    return names


def offenders() -> list[str]:
    found = []
    for path in sorted(ENGINE.rglob("*.py")):
        if NOT_FOR_PEOPLE & set(path.relative_to(ENGINE).parts):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        errors = _error_classes(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            where = f"{path.relative_to(ENGINE.parent)}:{node.lineno}"
            if name in errors and node.args and _is_prose(node.args[0]):
                found.append(f"{where} {name}(...) says English")
            elif name not in NOT_PROSE_CALLS and any(isinstance(arg, ast.JoinedStr) and _has_words(arg) for arg in node.args):
                found.append(f"{where} {name}(...) is given an English f-string")
            for keyword in node.keywords:
                if keyword.arg in TEXT_KEYWORDS and _is_prose(keyword.value):
                    found.append(f"{where} {keyword.arg}= is English")
    return found


def test_the_engine_raises_and_stores_messages_not_sentences():
    """Does any engine module raise an error, or pass on a note, reason or message, written as an English sentence?"""
    assert offenders() == []
