"""Checking a posted text: every problem (JSON, shape, meaning) placed on its line, in the
request's language, and the meta-schema's hints for the place of the cursor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import render_template
from flask_babel import gettext as _
from flask_babel import ngettext

from flowdeck.engine.errors import SchemaProblem
from flowdeck.engine.schema import positions
from flowdeck.engine.schema.hints import hints_for
from flowdeck.engine.schema.loader import check_document
from flowdeck.engine.schema.shape import parse_document
from flowdeck.views.i18n import say


@dataclass(frozen=True)
class ProblemView:
    line: int
    column: int
    path: str
    message: str
    exact: bool

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "path": self.path, "message": self.message, "exact": self.exact}


@dataclass
class Checked:
    """A posted text read and checked: the document (None when the JSON does not parse) and
    its problems placed on their lines."""

    text: str
    document: dict[str, Any] | None
    problems: list[ProblemView]
    scan: positions.Scan

    @property
    def ok(self) -> bool:
        return self.document is not None and not self.problems

    def problems_json(self) -> list[dict[str, Any]]:
        return [p.to_json() for p in self.problems]

    def problems_at(self, path: str) -> list[str]:
        """The problems found at `path` (shown next to the builder's input for it)."""
        return [p.message for p in self.problems if p.path == path]


def check_text(text: str, app_key: str) -> Checked:
    """Every problem of the text (JSON, shape and meaning) with its line, and a document
    that edits another app than `app_key` is refused."""
    document, problems = parse_document(text)
    if document is not None and not problems:
        problems = check_document(document)
    said = [say(problem.message) for problem in problems]
    if isinstance(document, dict) and document.get("key") != app_key:
        problems = [SchemaProblem("key", ""), *problems]
        said.insert(0, _('must stay "%(key)s": this page edits that app (to add another app, import a bundle)', key=app_key))
    if document is not None and not isinstance(document, dict):
        problems, said, document = [SchemaProblem("", "")], [_("the document must be a JSON object")], None
    found = positions.scan(text)
    placed = []
    for problem, message in zip(problems, said, strict=True):
        where = positions.locate(found, problem.path, str(problem.message))
        placed.append(ProblemView(where.line, where.column, problem.path, message, where.exact))
    placed.sort(key=lambda p: (p.line, p.column))
    return Checked(text, document if isinstance(document, dict) else None, placed, found)


def unchecked(text: str) -> Checked:
    """A text only scanned for positions (the hints need no validation)."""
    return Checked(text, None, [], positions.scan(text))


def summary(checked: Checked) -> str:
    if checked.ok:
        return _("No problems: the document is a valid app.")
    return ngettext("%(num)d problem", "%(num)d problems", len(checked.problems))


def hints_html(checked: Checked, cursor: int | None) -> tuple[str, str]:
    """The path at the cursor and the hints panel for it ("" and "" without a cursor)."""
    if cursor is None:
        return "", ""
    at = positions.path_at(checked.scan, max(0, min(cursor, len(checked.text))))
    node, _matched = positions.find(checked.scan.root, at.container)
    present = [k for k, _n in node.children if isinstance(k, str)] if node is not None and node.kind == "object" else []
    hints = hints_for(at.container, at.member, present)
    return hints.path, render_template("schema_admin/_hints.html", hints=hints)
