"""Admins change apps in the browser: the JSON editor with live validation and hints, the
visual builder, a preview of the form and board, the review of the migration plan with its
questions, applying, versions (diff, rollback) and configuration bundles (download,
upload and import).

Every route is `admin_required` and every POST carries the CSRF token. The edited document
lives in the page (a textarea) until it is applied: the builder, the preview and the review
post it, and nothing is written before "Apply" (or "Import"), which calls the engine once
(`apps.apply_document`, `versions.rollback`, `bundles.import_bundle`) in one transaction.

URLs (blueprint `schema_admin`, prefix `/admin/apps`):

    GET  /                              index: installed apps
    GET  /<app>/edit[?version=N]        editor (current document, or version N's)
    POST /<app>/edit                    editor showing the posted text (back from review)
    POST /<app>/check                   JSON: problems with lines, hints at the cursor
    POST /<app>/hints                   JSON: hints at the cursor only
    POST /<app>/builder                 a builder action on the posted text: the editor again
    POST /<app>/preview                 the entity's create form and board from the text
    POST /<app>/review                  migration plan, questions and diff (nothing written)
    POST /<app>/apply                   apply with the answers -> 303 to the new version
    GET  /<app>/versions                versions list, with a diff form
    GET  /<app>/versions/diff?a=&b=     difference between two versions
    GET  /<app>/versions/<v>            one version's document and its changes
    GET  /<app>/versions/<v>/rollback   review of a rollback to version v
    POST /<app>/export                  download the bundle (options records, files)
    GET  /import, POST /import          upload a bundle
    GET  /import/<token>, POST ...      the import plan, the answers, and the import
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import format_datetime, ngettext
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy.engine import Connection
from werkzeug.wrappers import Response

from flowdeck.engine import apps, bundles, clock, models, records, users, versions
from flowdeck.engine import boards as board_engine
from flowdeck.engine.computed import compute_values
from flowdeck.engine.errors import ChoicesNeeded, MigrationRefused, NotFound, RecordInvalid, SchemaInvalid, SchemaProblem
from flowdeck.engine.messages import M
from flowdeck.engine.permissions import Actor
from flowdeck.engine.schema.loader import check_document, load_app
from flowdeck.engine.schema.model import App, Entity, Field, Label, View
from flowdeck.engine.schema.shape import parse_document
from flowdeck.engine.storage.plan import Plan
from flowdeck.engine.storage.tables import EntityTables, build_app_tables
from flowdeck.forms import webforms
from flowdeck.views import audit_log, jsonlines, schema_builder
from flowdeck.views import records as record_views
from flowdeck.views.admin_messages import translate
from flowdeck.views.auth import admin_required, require_actor
from flowdeck.views.boards import BoardPage, BoardParams
from flowdeck.views.display import DisplayContext
from flowdeck.views.errors import error_response
from flowdeck.views.i18n import lang
from flowdeck.views.lifecycle import is_htmx, registry, render
from flowdeck.views.record_forms import FormPage, timezone
from flowdeck.views.schema_hints import hints_for
from flowdeck.views.state import engine

bp = Blueprint("schema_admin", __name__, url_prefix="/admin/apps")

TABS = ("builder", "json", "preview")
UPLOAD_FOLDER = "bundle-uploads"
UPLOAD_MAX_AGE = 24 * 3600
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
CHOICE, USER, ROLE, RESOLVE = "choice:", "user:", "role:", "resolve:"
LIST_PARAMS = frozenset({"boards", "sources", "roles", "card", "fields", "columns"})
BOOL_PARAMS = frozenset({"required", "descending"})


@bp.context_processor
def _helpers() -> dict[str, Any]:
    """The record form widgets' helpers (the form preview uses the same widgets) and the
    words for field types, state categories and approval settings."""
    return {**record_views.helpers(), "TABS": TABS, "words": words, "pretty": pretty, "jstr": jstr, "translate": translate, "when": when}


def pretty(value: Any) -> str:
    """A JSON value for people, in the document's style (escaped by the template)."""
    return jsonlines.dumps(value)


def when(moment: dt.datetime | None) -> str:
    """A version's time in the instance's time zone (stored in UTC)."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return format_datetime(moment, "short")


def jstr(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def words() -> dict[str, dict[str, str]]:
    """UI words for the document's terms, made once per request (templates ask often)."""
    cached = g.get("schema_words")
    if cached is None:
        cached = g.schema_words = _words()
    return cached


def _words() -> dict[str, dict[str, str]]:
    return {
        "types": {
            "text": _("Text"),
            "markdown": _("Long text (Markdown)"),
            "integer": _("Whole number"),
            "decimal": _("Decimal number"),
            "money": _("Money"),
            "percent": _("Percentage"),
            "date": _("Date"),
            "datetime": _("Date and time"),
            "boolean": _("Yes / no"),
            "select": _("Choice (one option)"),
            "multiselect": _("Choice (several options)"),
            "user": _("Person"),
            "reference": _("Link to a record"),
            "email": _("Email"),
            "url": _("Web address"),
            "phone": _("Phone"),
            "attachment": _("File"),
            "table": _("Table (line items)"),
            "computed": _("Computed"),
            "autonumber": _("Auto number"),
        },
        "categories": {"todo": _("To do"), "doing": _("Doing"), "done": _("Done")},
        "modes": {"any": _("Any one approves"), "all": _("All approve"), "quorum": _("A number of them approve")},
        "kinds": {
            "role": _("Members of a role"),
            "users": _("Named users"),
            "field": _("The person in a field"),
            "relation": _("Organisation"),
        },
        "relations": {
            "manager": _("The requester's manager"),
            "department_head": _("Head of the department"),
            "parent_department_head": _("Head of the parent department"),
        },
        "enforce": {"warn": _("warn"), "block": _("block")},
        "comments": {"none": _("No comment"), "optional": _("Comment optional"), "required": _("Comment required")},
        "plan_kinds": {"new": _("New app"), "upgrade": _("Upgrade"), "copy": _("Copy under a new key"), "refused": _("Refused")},
        "change_kinds": {"added": _("added"), "removed": _("removed"), "changed": _("changed")},
    }


# -- reading the app and the posted text -------------------------------------------------------


@dataclass(frozen=True)
class Current:
    key: str
    version: int
    source: str | None
    document: dict[str, Any]

    @property
    def label(self) -> Label:
        return Label.of(self.document.get("label"), self.key)


def _current(conn: Connection, key: str) -> Current:
    row = conn.execute(sa.select(models.apps.c.version, models.apps.c.source).where(models.apps.c.key == key)).first()
    if row is None:
        raise NotFound(f'there is no app "{key}"')
    return Current(key, row.version, row.source, versions.get_document(conn, key, row.version))


def current(key: str) -> Current:
    return engine().db.read(lambda conn: _current(conn, key))


def posted_text() -> str:
    """The document's text as posted (browsers send CRLF line ends: back to LF)."""
    return request.form.get("document", "").replace("\r\n", "\n").replace("\r", "\n")


def document_text(document: Mapping[str, Any]) -> str:
    return jsonlines.dumps(document) + "\n"


def _int(raw: str | None) -> int | None:
    text = (raw or "").strip()
    return int(text) if text.isdigit() else None


# -- checking -------------------------------------------------------------------------------


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
    scan: jsonlines.Scan

    @property
    def ok(self) -> bool:
        return self.document is not None and not self.problems

    def problems_json(self) -> list[dict[str, Any]]:
        return [p.to_json() for p in self.problems]


def check_text(text: str, app_key: str) -> Checked:
    """Every problem of the text (JSON, shape and meaning) with its line, and a document
    that edits another app than `app_key` is refused."""
    document, problems = parse_document(text)
    if document is not None and not problems:
        problems = check_document(document)
    said = [translate(problem.message) for problem in problems]
    if isinstance(document, dict) and document.get("key") != app_key:
        problems = [SchemaProblem("key", ""), *problems]
        said.insert(0, _('must stay "%(key)s": this page edits that app (to add another app, import a bundle)', key=app_key))
    if document is not None and not isinstance(document, dict):
        problems, said, document = [SchemaProblem("", "")], [_("the document must be a JSON object")], None
    found = jsonlines.scan(text)
    placed = []
    for problem, message in zip(problems, said, strict=True):
        where = jsonlines.locate(found, problem.path, problem.message)
        placed.append(ProblemView(where.line, where.column, problem.path, message, where.exact))
    placed.sort(key=lambda p: (p.line, p.column))
    return Checked(text, document if isinstance(document, dict) else None, placed, found)


def summary(checked: Checked) -> str:
    if checked.ok:
        return _("No problems: the document is a valid app.")
    return ngettext("%(num)d problem", "%(num)d problems", len(checked.problems))


def _hints_html(checked: Checked, cursor: int | None) -> tuple[str, str]:
    if cursor is None:
        return "", ""
    at = jsonlines.path_at(checked.scan, max(0, min(cursor, len(checked.text))))
    node, _matched = jsonlines.find(checked.scan.root, at.container)
    present = [k for k, _n in node.children if isinstance(k, str)] if node is not None and node.kind == "object" else []
    hints = hints_for(at.container, at.member, present)
    return hints.path, render_template("schema_admin/_hints.html", hints=hints)


# -- the builder's view of a document ---------------------------------------------------------


def _shown(row: Any) -> str:
    """A row's label in the current language (the other one, then its key, if missing)."""
    return (row.zh or row.en or row.key) if lang() == "zh" else (row.en or row.zh or row.key)


def _swatch(color: str) -> str:
    """A colour safe for a `style="--swatch:..."` attribute (a valid #rrggbb), else ""."""
    return color if schema_builder.COLOR.match(color or "") else ""


@dataclass(frozen=True)
class OptionRow:
    key: str
    en: str
    zh: str
    color: str

    @property
    def swatch(self) -> str:
        return _swatch(self.color)


@dataclass(frozen=True)
class FieldRow:
    key: str
    type: str
    en: str
    zh: str
    required: bool
    was: str | None
    options: tuple[OptionRow, ...]
    section: str | None
    is_title: bool
    help_en: str = ""
    help_zh: str = ""
    show_if: str = ""
    required_if: str = ""

    @property
    def name(self) -> str:
        return _shown(self)


@dataclass(frozen=True)
class StateRow:
    key: str
    en: str
    zh: str
    category: str
    color: str

    @property
    def swatch(self) -> str:
        return _swatch(self.color)

    @property
    def name(self) -> str:
        return _shown(self)


@dataclass(frozen=True)
class StepRow:
    key: str
    en: str
    zh: str
    kind: str
    value: str
    sources: int
    mode: str
    quorum: str
    when: str
    summary: str

    @property
    def name(self) -> str:
        return _shown(self)


@dataclass(frozen=True)
class TransitionRow:
    key: str
    en: str
    zh: str
    sources: tuple[str, ...]
    to: str
    roles: tuple[str, ...]
    steps: tuple[StepRow, ...]
    comment: str = "none"

    @property
    def name(self) -> str:
        return _shown(self)


@dataclass(frozen=True)
class Column:
    value: str
    label: str
    max: str
    enforce: str


@dataclass(frozen=True)
class BoardRow:
    key: str
    label: str
    group_by: str
    card: tuple[str, ...]
    swimlanes: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class ListRow:
    key: str
    label: str
    en: str
    zh: str
    columns: tuple[str, ...]
    sort_by: str
    descending: bool


@dataclass(frozen=True)
class SectionRow:
    index: int
    name: str
    en: str
    zh: str
    fields: tuple[str, ...]


@dataclass
class BuilderModel:
    """What the builder panel shows, read defensively from the raw document (it may not be
    a valid app while being edited)."""

    entities: list[tuple[str, str]]
    entity: str | None
    fields: list[FieldRow] = field(default_factory=list)
    sections: list[tuple[int, str]] = field(default_factory=list)
    section_rows: list[SectionRow] = field(default_factory=list)
    has_workflow: bool = False
    states: list[StateRow] = field(default_factory=list)
    transitions: list[TransitionRow] = field(default_factory=list)
    boards: list[BoardRow] = field(default_factory=list)
    lists: list[ListRow] = field(default_factory=list)
    column_choices: list[tuple[str, str]] = field(default_factory=list)
    roles: list[tuple[str, str]] = field(default_factory=list)
    group_choices: list[tuple[str, str]] = field(default_factory=list)
    lane_choices: list[tuple[str, str]] = field(default_factory=list)
    user_fields: list[tuple[str, str]] = field(default_factory=list)
    types: tuple[str, ...] = schema_builder.SIMPLE_TYPES
    categories: tuple[str, ...] = schema_builder.CATEGORIES
    modes: tuple[str, ...] = schema_builder.MODES
    relations: tuple[str, ...] = schema_builder.RELATIONS

    @property
    def field_choices(self) -> list[tuple[str, str]]:
        return [(f.key, f.name) for f in self.fields]


def _text_of(label: Any, fallback: str) -> str:
    en, zh = schema_builder.label_texts(label)
    return (zh or en or fallback) if lang() == "zh" else (en or zh or fallback)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def builder_model(document: Mapping[str, Any] | None, entity: str | None) -> BuilderModel:
    doc = _dict(document)
    entities = [(k, _text_of(_dict(v).get("label"), k)) for k, v in _dict(doc.get("entities")).items()]
    keys = [k for k, _label in entities]
    chosen = entity if entity in keys else (keys[0] if keys else None)
    model = BuilderModel(entities=entities, entity=chosen)
    model.roles = [(k, _text_of(_dict(v).get("label"), k)) for k, v in _dict(doc.get("roles")).items()]
    if chosen is None:
        return model
    spec = _dict(_dict(doc.get("entities")).get(chosen))
    fields = _dict(spec.get("fields"))
    section_of: dict[str, str] = {}
    for index, section in enumerate(spec.get("sections") or []):
        if isinstance(section, dict):
            name = _text_of(section.get("label"), _("Section %(n)d", n=index + 1))
            model.sections.append((index, name))
            sen, szh = schema_builder.label_texts(section.get("label"))
            listed = tuple(str(k) for k in section.get("fields") or [] if isinstance(k, str))
            model.section_rows.append(SectionRow(index, name, sen, szh, listed))
            for key in section.get("fields") or []:
                section_of.setdefault(str(key), name)
    title = spec.get("title") or next(iter(fields), None)
    for key, raw in fields.items():
        f = _dict(raw)
        en, zh = schema_builder.label_texts(f.get("label"))
        options = []
        for option in f.get("options") or []:
            if isinstance(option, str):
                options.append(OptionRow(option, "", "", ""))
            elif isinstance(option, dict):
                oen, ozh = schema_builder.label_texts(option.get("label"))
                options.append(OptionRow(str(option.get("key", "")), oen, ozh, str(option.get("color") or "")))
        kind = str(f.get("type", "?"))
        help_en, help_zh = schema_builder.label_texts(f.get("help"))
        model.fields.append(
            FieldRow(
                key,
                kind,
                en,
                zh,
                f.get("required") is True,
                f.get("was"),
                tuple(options),
                section_of.get(key),
                key == title,
                help_en,
                help_zh,
                _expression_text(f.get("show_if")),
                _expression_text(f.get("required_if")),
            )
        )
        label = _text_of(f.get("label"), key)
        if kind == "select" and not f.get("many"):
            model.group_choices.append((key, label))
        if kind in ("select", "user", "reference", "boolean") and not f.get("many"):
            model.lane_choices.append((key, label))
        if kind == "user":
            model.user_fields.append((key, label))
    workflow = spec.get("workflow")
    model.has_workflow = isinstance(workflow, dict)
    if isinstance(workflow, dict):
        model.group_choices.insert(0, ("state", _("State")))
        for key, raw in _dict(workflow.get("states")).items():
            s = _dict(raw)
            en, zh = schema_builder.label_texts(s.get("label"))
            model.states.append(StateRow(key, en, zh, str(s.get("category", "")), str(s.get("color") or "")))
        for raw in workflow.get("transitions") or []:
            t = _dict(raw)
            source = t.get("from")
            sources = tuple(source) if isinstance(source, list) else (str(source),) if source else ()
            steps = tuple(_step_row(s) for s in _dict(t.get("approval")).get("steps") or [] if isinstance(s, dict))
            en, zh = schema_builder.label_texts(t.get("label"))
            roles = t.get("roles")
            comment = t.get("comment") if t.get("comment") in schema_builder.COMMENTS else "none"
            model.transitions.append(
                TransitionRow(
                    str(t.get("key", "")),
                    en,
                    zh,
                    sources,
                    str(t.get("to", "")),
                    tuple(roles) if isinstance(roles, list) else (),
                    steps,
                    comment,
                )
            )
    model.column_choices = [("id", "#")]
    if model.has_workflow:
        model.column_choices.append(("state", _("State")))
    model.column_choices += model.field_choices
    model.column_choices += [
        ("created_at", _("Created")),
        ("created_by", _("Created by")),
        ("updated_at", _("Updated")),
        ("updated_by", _("Updated by")),
    ]
    for key, raw in _dict(spec.get("views")).items():
        v = _dict(raw)
        if v.get("type") == "list":
            sort = [k for k in v.get("sort") or [] if isinstance(k, str)]
            first = sort[0] if sort else ""
            en, zh = schema_builder.label_texts(v.get("label"))
            listed = tuple(str(c) for c in v.get("columns") or [] if isinstance(c, str))
            model.lists.append(ListRow(key, _text_of(v.get("label"), key), en, zh, listed, first.lstrip("-"), first.startswith("-")))
            continue
        if v.get("type") != "board":
            continue
        group = str(v.get("group_by", ""))
        wip = _dict(v.get("wip"))
        if group == "state":
            values = [(s.key, _text_of({"en": s.en, "zh": s.zh} if s.en or s.zh else None, s.key)) for s in model.states]
        else:
            group_field = next((f for f in model.fields if f.key == group), None)
            values = [
                (o.key, _text_of({"en": o.en, "zh": o.zh} if o.en or o.zh else None, o.key))
                for o in (group_field.options if group_field else ())
            ]
        columns = tuple(
            Column(value, name, str(_dict(wip.get(value)).get("max", "")), str(_dict(wip.get(value)).get("enforce", "warn")))
            for value, name in values
        )
        card = tuple(str(c) for c in v.get("card") or [])
        model.boards.append(BoardRow(key, _text_of(v.get("label"), key), group, card, str(v.get("swimlanes") or ""), columns))
    return model


def _expression_text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _step_row(step: Mapping[str, Any]) -> StepRow:
    approvers = step.get("approvers")
    sources = [a for a in (approvers if isinstance(approvers, list) else [approvers]) if isinstance(a, dict)]
    first = sources[0] if sources else {}
    kind = next(iter(first), "")
    value = first.get(kind, "")
    value = ", ".join(value) if isinstance(value, list) else str(value)
    described = "; ".join(f"{k}: {', '.join(v) if isinstance(v, list) else v}" for s in sources for k, v in s.items())
    en, zh = schema_builder.label_texts(step.get("label"))
    quorum = step.get("quorum")
    return StepRow(
        str(step.get("key", "")), en, zh, kind, value, len(sources), str(step.get("mode", "any")), "" if quorum is None else str(quorum),
        str(step.get("when") or ""), described,
    )  # fmt: skip


# -- the editor page --------------------------------------------------------------------------


@dataclass
class EditorState:
    app: Current
    checked: Checked
    base_version: int
    tab: str = "builder"
    entity: str | None = None
    notice: str | None = None
    error: str | None = None
    opened: frozenset[str] = frozenset()
    from_version: int | None = None

    @property
    def model(self) -> BuilderModel:
        return builder_model(self.checked.document, self.entity)

    def problems_at(self, path: str) -> list[str]:
        """The problems the checks found at `path` (shown next to the builder's input for it)."""
        return [p.message for p in self.checked.problems if p.path == path]


def _tab(raw: str | None) -> str:
    return raw if raw in TABS else "builder"


def _editor(state: EditorState, status: int = 200) -> Response:
    response = render("schema_admin/editor.html", block="editor", state=state, model=state.model, summary=summary(state.checked))
    response.status_code = 200 if is_htmx() else status
    return response


@bp.get("/")
@admin_required
def index() -> Response:
    def load(conn: Connection) -> list[dict[str, Any]]:
        a, v, u = models.apps, models.app_versions, models.users
        rows = conn.execute(
            sa.select(a.c.key, a.c.source, a.c.version, v.c.created_at, v.c.message, u.c.display_name, u.c.username)
            .select_from(a.join(v, (v.c.app == a.c.key) & (v.c.version == a.c.version)).outerjoin(u, u.c.id == v.c.author_id))
            .order_by(a.c.key)
        ).all()
        return [dict(row._mapping) for row in rows]

    rows = engine().db.read(load)
    installed = registry().apps
    for row in rows:
        tables = installed.get(row["key"])
        row["label"] = tables.app.label if tables is not None else Label.of(None, row["key"])
    return render("schema_admin/index.html", apps=rows)


@bp.route("/<app>/edit", methods=["GET", "POST"])
@admin_required
def edit(app: str) -> Response:
    """The editor with the current document, an earlier version's (`?version=N`), or the
    posted text (coming back from the review page)."""
    now = current(app)
    if request.method == "POST":
        text = posted_text()
        base = _int(request.form.get("base_version")) or now.version
        return _editor(EditorState(now, check_text(text, app), base, _tab(request.form.get("tab")), request.form.get("entity")))
    version = request.args.get("version", type=int)
    document = now.document if version is None else engine().db.read(lambda conn: versions.get_document(conn, app, version))
    state = EditorState(
        now, check_text(document_text(document), app), now.version, _tab(request.args.get("tab")), request.args.get("entity")
    )
    if version is not None and version != now.version:
        state.from_version = version
    return _editor(state)


@bp.post("/<app>/check")
@admin_required
def check(app: str) -> Response:
    """Live validation: the problems of the posted text with their lines, and the hints at
    the cursor (`cursor`: a character offset)."""
    current(app)  # 404 for an unknown app
    checked = check_text(posted_text(), app)
    path, hints = _hints_html(checked, _int(request.form.get("cursor")))
    return jsonify(
        ok=checked.ok,
        count=len(checked.problems),
        summary=summary(checked),
        problems=[p.to_json() for p in checked.problems],
        html=render_template("schema_admin/_problems.html", checked=checked),
        path=path,
        hints=hints,
    )


@bp.post("/<app>/hints")
@admin_required
def hints(app: str) -> Response:
    """The meta-schema's hints for the cursor's place (no validation)."""
    current(app)
    text = posted_text()
    checked = Checked(text, None, [], jsonlines.scan(text))
    path, html = _hints_html(checked, _int(request.form.get("cursor")) or 0)
    return jsonify(path=path, hints=html)


# -- the builder ---------------------------------------------------------------------------------


def _action_arguments(action: str, function: Any) -> tuple[list[str], dict[str, Any]]:
    """The positional targets carried by the button (`verb:target:...`) and the inputs named
    `<action>:<param>`, converted to what the builder function takes."""
    _verb, *targets = action.split(":")
    prefix = action + ":"
    params: dict[str, Any] = {}
    wip: dict[str, list[str]] = {}
    allowed = set(inspect.signature(function).parameters)
    for name in request.form:
        if not name.startswith(prefix):
            continue
        param = name[len(prefix) :]
        if param.startswith("wip."):
            column, _sep, part = param[4:].rpartition(".")
            wip.setdefault(column, ["", "warn"])[0 if part == "max" else 1] = request.form.get(name, "")
            continue
        if param not in allowed:
            abort(400)
        if param in LIST_PARAMS:
            params[param] = [v for v in request.form.getlist(name) if v]
        elif param in BOOL_PARAMS:
            params[param] = request.form.get(name) in ("1", "on", "true")
        else:
            params[param] = request.form.get(name, "")
    if wip and "wip" in allowed:
        params["wip"] = {column: (values[0], values[1]) for column, values in wip.items()}
    return targets, params


@bp.post("/<app>/builder")
@admin_required
def builder(app: str) -> Response:
    """One builder action on the posted text; the editor comes back with the new text."""
    now = current(app)
    text = posted_text()
    action = request.form.get("action", "refresh")
    entity = request.form.get("entity") or None
    base = _int(request.form.get("base_version")) or now.version
    tab = _tab(request.form.get("tab"))
    verb = action.split(":", 1)[0]
    if verb in ("refresh", "entity"):
        return _editor(EditorState(now, check_text(text, app), base, tab, entity))
    function = schema_builder.ACTIONS.get(verb)
    if function is None:
        abort(400)
    document, _problems = parse_document(text)
    if not isinstance(document, dict):
        state = EditorState(now, check_text(text, app), base, "json", entity)
        state.error = _("The JSON cannot be read (see the problems below); fix it before using the builder.")
        return _editor(state, 422)
    targets, params = _action_arguments(action, function)
    if "applied" in inspect.signature(function).parameters:
        params["applied"] = now.document
    if entity is None:
        abort(400)
    try:
        inspect.signature(function).bind(document, entity, *targets, **params)
    except TypeError:
        abort(400)  # a form the page does not make
    try:
        changed = function(document, entity, *targets, **params)
    except schema_builder.BuilderError as exc:
        state = EditorState(now, check_text(text, app), base, tab, entity, error=exc.message, opened=frozenset(targets[:1]))
        return _editor(state, 422)
    new_text = jsonlines.rewrite(text, changed)
    added = (
        [str(params["key"]).strip()]
        if verb in ("add_field", "add_state", "add_transition", "add_board", "add_list") and params.get("key")
        else []
    )
    state = EditorState(now, check_text(new_text, app), base, tab, entity, opened=frozenset(targets[:1] or added))
    state.notice = _("Changed in the document; nothing is applied until you review and apply it.")
    return _editor(state)


# -- preview ----------------------------------------------------------------------------------


def sample_value(fld: Field, actor: Actor, title: str | None = None) -> Any:
    """A plausible value for a preview card (None for kinds a sample cannot show)."""
    kind = fld.value_type
    value: Any = None
    if title is not None:
        value = title
    elif kind in ("select", "multiselect") and fld.options:
        value = fld.options[0].key
    elif kind == "user":
        value = actor.user_id
    elif kind == "integer":
        value = 3
    elif kind in ("decimal", "money"):
        value = Decimal("1200.00")
    elif kind == "percent":
        value = Decimal("40")
    elif kind == "date":
        value = clock.today() + dt.timedelta(days=7)
    elif kind == "datetime":
        value = dt.datetime.now(dt.UTC)
    elif kind == "boolean":
        value = True
    elif kind == "text":
        value = _("sample")
    elif kind == "phone":
        value = "+86 10 5555 0100"
    elif kind == "email":
        value = "name@example.com"
    elif kind == "url":
        value = "https://example.com"
    if value is not None and fld.is_many:
        value = [value]
    return value


PREVIEW_LANES = 3
"""At most this many swimlanes in a preview (the first values of the lane field)."""


@dataclass
class PreviewLane:
    """A swimlane of a preview: one sample value of the lane field, its cards by column."""

    label: str
    cells: dict[str | None, list[dict[str, Any]]]

    @property
    def count(self) -> int:
        return sum(len(cards) for cards in self.cells.values())


@dataclass
class PreviewBoard:
    """A board drawn from an unapplied document: its columns, one sample card each (one
    per lane in each column when the view has swimlanes)."""

    page: BoardPage
    view: View
    lanes: list[PreviewLane] | None = None

    @property
    def lane_name(self) -> str:
        """The label of the field the lanes are by."""
        fld = self.page.et.entity.field(self.view.swimlanes or "")
        return fld.label.get(lang()) if fld is not None else self.view.swimlanes or ""

    def cards(self, column: board_engine.ColumnData) -> list[Markup]:
        return [self.card(card) for card in column.cards]

    def lane_cards(self, lane: PreviewLane, column: board_engine.ColumnData) -> list[Markup]:
        return [self.card(card) for card in lane.cells.get(column.column.value, [])]

    def card(self, card: Mapping[str, Any]) -> Markup:
        title = card.get(self.page.title) or ""
        values = self.page.card_values(card)  # escaped HTML, built by the board page
        more = Markup("<p>{}</p>").format(Markup(values)) if values else Markup("")  # noqa: S704
        return Markup('<span class="title">{}</span>{}').format(title, more)


def sample_lanes(app_model: App | None, entity: Entity, view: View, actor: Actor) -> list[tuple[Any, str]]:
    """The lanes a preview draws: (value, label) for the first values of the lane field (its
    options, yes and no, the admin, a sample record of the entity it links to)."""
    fld = entity.field(view.swimlanes or "")
    if fld is None:
        return []
    if fld.value_type == "select":
        return [(o.key, o.label.get(lang())) for o in fld.options[:PREVIEW_LANES]]
    if fld.value_type == "boolean":
        return [(True, _("Yes")), (False, _("No"))]
    if fld.value_type == "user":
        name = g.user.display_name if g.get("user") is not None else actor.username
        return [(actor.user_id, name)]
    if fld.value_type == "reference":
        target = app_model.entity(fld.to or "") if app_model is not None else None
        return [(None, _("Sample %(what)s", what=target.label.get(lang()) if target is not None else fld.to))]
    return []


def preview_board(et: EntityTables, view: View, actor: Actor, app_model: App | None = None) -> PreviewBoard:
    entity = et.entity
    title = _("Sample %(what)s", what=entity.label.get(lang()))
    lanes = sample_lanes(app_model, entity, view, actor) if view.swimlanes else []
    shown_lanes = [PreviewLane(label, {}) for _value, label in lanes]
    columns = []
    for column in board_engine.board_columns(et, view, with_none=False):
        cards = []
        for lane_value, _label in lanes or [(None, "")]:
            card: dict[str, Any] = {"id": 0, "version": 1, "state": None}
            for key in [*view.card, entity.title]:
                fld = entity.field(key)
                if key == "state":
                    card["state"] = column.value if view.group_by == "state" else (entity.workflow.initial if entity.workflow else None)
                elif fld is not None:
                    card[key] = sample_value(fld, actor, title if key == entity.title else None)
            if view.group_by and view.group_by != "state":
                card[view.group_by] = column.value
            if lanes and view.swimlanes:
                card[view.swimlanes] = lane_value  # a reference lane's cards link to no record: no value to show
            cards.append(card)
        for lane, card in zip(shown_lanes, cards, strict=False):
            lane.cells[column.value] = [card]
        columns.append(board_engine.ColumnData(column, len(cards), len(cards), cards))
    board = board_engine.Board(columns=columns)
    name = g.user.display_name if g.get("user") is not None else actor.username
    ctx = DisplayContext(app=entity.app, users={actor.user_id: name} if actor.user_id is not None else {})
    page = BoardPage(et, replace_swimlanes(view), board, ctx, BoardParams(), {}, approvals=None)
    return PreviewBoard(page, view, shown_lanes or None)


def replace_swimlanes(view: View) -> View:
    """The board page draws the columns; the preview draws its sample lanes itself."""
    from dataclasses import replace

    return replace(view, swimlanes=None)


def preview_form(et: EntityTables, actor: Actor) -> FormPage:
    """The create form as a new record shows it, without touching the database."""
    entity = et.entity
    now = dt.datetime.now(dt.UTC)
    state = entity.workflow.initial if entity.workflow else None
    typed = records.default_values(entity, actor, now.date())
    system = {"id": None, "state": state, "me": actor.user_id, "created_at": now, "created_by": actor.user_id}
    system.update(updated_at=now, updated_by=actor.user_id)
    compute_values(entity, typed, system)
    access = records.access_for(entity, state, actor)
    values = webforms.input_values(entity, typed, tz=timezone())
    states = webforms.field_states(entity, typed, system, access)
    people = engine().db.read(lambda conn: users.list_users(conn, active_only=True))
    return FormPage(webforms.form_sections(entity, access, None), values, typed, states, DisplayContext(app=entity.app), people)


@bp.post("/<app>/preview")
@admin_required
def preview(app: str) -> Response:
    """The create form and a board of one entity, drawn from the posted (unapplied) text.
    Nothing is written; the board shows one sample card per column."""
    actor = require_actor()
    now = current(app)
    checked = check_text(posted_text(), app)
    context: dict[str, Any] = {"state_app": now, "checked": checked, "summary": summary(checked)}
    if checked.ok and checked.document is not None:
        loaded = load_app(checked.document)
        tables = build_app_tables(loaded)
        entity = loaded.entity(request.form.get("entity") or "") or loaded.entities[0]
        et = tables.entities[entity.key]
        boards_ = [v for v in entity.views if v.type == "board"]
        chosen = next((v for v in boards_ if v.key == request.form.get("view")), boards_[0] if boards_ else None)
        context.update(
            app_model=loaded,
            entity=entity,
            page=preview_form(et, actor),
            errors={},
            board=preview_board(et, chosen, actor, loaded) if chosen is not None else None,
            board_views=boards_,
        )
    return render("schema_admin/preview.html", block="preview", **context)


# -- review and apply ---------------------------------------------------------------------------


def posted_choices(prefix: str = CHOICE) -> dict[str, str]:
    return {name[len(prefix) :]: value for name, value in request.form.items() if name.startswith(prefix) and value}


def plan_for(document: Mapping[str, Any], choices: Mapping[str, str], actor: Actor) -> tuple[Plan, bool, dict[str, str]]:
    """The migration plan with the answers that belong to its questions (others dropped)."""

    def work(conn: Connection) -> tuple[Plan, bool, dict[str, str]]:
        _app, plan, _source, _version, unchanged = apps.plan_change(conn, document, None, actor=actor)
        asked = {q.id for q in plan.questions}
        answers = {k: v for k, v in choices.items() if k in asked}
        if answers:
            _app, plan, _source, _version, unchanged = apps.plan_change(conn, document, answers, actor=actor)
        return plan, unchanged, answers

    return engine().db.read(work)


@dataclass
class Review:
    app: Current
    text: str
    document: dict[str, Any]
    base_version: int
    plan: Plan
    unchanged: bool
    changes: list[versions.Change]
    choices: dict[str, str]
    message: str = ""
    rollback_to: int | None = None
    error: str | None = None
    errors: list[str] = field(default_factory=list)
    warning: str | None = None

    @property
    def open_questions(self) -> int:
        return len([q for q in self.plan.questions if q.id not in self.choices])


def _review(review: Review, status: int = 200) -> Response:
    response = render("schema_admin/review.html", review=review, translate=translate)
    response.status_code = status
    return response


def _prepare_review(now: Current, checked: Checked, actor: Actor, *, rollback_to: int | None = None) -> Review:
    assert checked.document is not None
    choices = posted_choices()
    plan, unchanged, answers = plan_for(checked.document, choices, actor)
    base = _int(request.form.get("base_version")) or now.version
    message = request.form.get("message", "").strip()[:500]
    if rollback_to is not None and not message:
        message = f"rollback to v{rollback_to}"
    review = Review(
        now, checked.text, checked.document, base, plan, unchanged, versions.diff_documents(now.document, checked.document), answers
    )
    review.message, review.rollback_to = message, rollback_to
    if base != now.version:
        review.warning = _(
            "Version %(version)s was applied since you started editing version %(base)s. The differences below are against "
            "version %(version)s: applying your document undoes what that version changed unless your document has it too.",
            version=now.version,
            base=base,
        )
    return review


@bp.post("/<app>/review")
@admin_required
def review(app: str) -> Response:
    """The migration plan in plain words with counts from the data, its questions, and the
    differences from the current version. Nothing is written."""
    actor = require_actor()
    now = current(app)
    checked = check_text(posted_text(), app)
    if not checked.ok:
        state = EditorState(now, checked, _int(request.form.get("base_version")) or now.version, "json", request.form.get("entity"))
        state.error = _("The document has problems; fix them before reviewing the change.")
        return _editor(state, 422)
    return _review(_prepare_review(now, checked, actor, rollback_to=_int(request.form.get("rollback_to"))))


@bp.post("/<app>/apply")
@admin_required
def apply(app: str) -> Response:
    """Apply the posted document with the answers (or roll back, for a rollback review)."""
    actor = require_actor()
    now = current(app)
    checked = check_text(posted_text(), app)
    if not checked.ok:
        state = EditorState(now, checked, _int(request.form.get("base_version")) or now.version, "json", None)
        state.error = _("The document has problems; fix them before applying it.")
        return _editor(state, 422)
    rollback_to = _int(request.form.get("rollback_to"))
    review = _prepare_review(now, checked, actor, rollback_to=rollback_to)
    if review.warning is not None:
        # Seen on this page now: the next Apply is based on the current version.
        review.base_version = now.version
        review.error = _("Nothing was applied: look at the differences again, then apply.")
        return _review(review, 409)
    if review.plan.refusals:
        review.error = _("Nothing was applied: the change cannot be made as it is.")
        return _review(review, 422)
    if review.open_questions:
        review.error = ngettext(
            "Nothing was applied: %(num)d question has no answer yet. Answer every question, then apply.",
            "Nothing was applied: %(num)d questions have no answer yet. Answer every question, then apply.",
            review.open_questions,
        )
        return _review(review, 422)
    db = engine().db
    try:
        if rollback_to is not None and jsonlines.same(checked.document, _version_document(app, rollback_to)):
            result = versions.rollback(db, app, rollback_to, actor=actor, choices=review.choices)
        else:
            result = apps.apply_document(db, checked.document, actor=actor, message=review.message or None, choices=review.choices)
    except ChoicesNeeded as exc:
        review.error = _("Nothing was applied: answer every question, then apply.")
        review.errors = [translate(q.describe()) for q in exc.questions]
        return _review(review, 422)
    except MigrationRefused as exc:
        review.error = _("Nothing was applied: the change cannot be made as it is.")
        review.errors = [translate(reason) for reason in exc.reasons]
        return _review(review, 422)
    except SchemaInvalid as exc:
        review.error = _("Nothing was applied: the document has problems.")
        review.errors = [translate(str(p)) for p in exc.problems]
        return _review(review, 422)
    if not result.applied:
        flash(_("Nothing to apply: the document is the same as version %(version)s.", version=now.version), "info")
        return redirect(url_for(".edit", app=app), code=303)
    flash(_("Applied as version %(version)s.", version=result.version), "ok")
    return redirect(url_for(".version", app=app, number=result.version), code=303)


def _version_document(app: str, number: int) -> dict[str, Any]:
    return engine().db.read(lambda conn: versions.get_document(conn, app, number))


# -- versions -------------------------------------------------------------------------------------


@bp.get("/<app>/versions")
@admin_required
def version_list(app: str) -> Response:
    now = current(app)
    listed = engine().db.read(lambda conn: versions.list_versions(conn, app))
    return render("schema_admin/versions.html", app=now, versions=list(reversed(listed)))


@bp.get("/<app>/versions/diff")
@admin_required
def version_diff(app: str) -> Response:
    now = current(app)
    listed = engine().db.read(lambda conn: versions.list_versions(conn, app))
    numbers = [v.version for v in listed]
    first = request.args.get("a", type=int)
    second = request.args.get("b", type=int)
    if first is None or second is None:
        first, second = (numbers[-2] if len(numbers) > 1 else numbers[-1]), numbers[-1]
    if first not in numbers or second not in numbers:
        raise NotFound(f'app "{app}" has no version {first if first not in numbers else second}')
    old, new = _version_document(app, first), _version_document(app, second)
    return render(
        "schema_admin/diff.html", app=now, versions=list(reversed(listed)), a=first, b=second, changes=versions.diff_documents(old, new)
    )


@bp.get("/<app>/versions/<int:number>")
@admin_required
def version(app: str, number: int) -> Response:
    now = current(app)
    listed = engine().db.read(lambda conn: versions.list_versions(conn, app))
    info = next((v for v in listed if v.version == number), None)
    if info is None:
        raise NotFound(f'app "{app}" has no version {number}')
    document = _version_document(app, number)
    before = _version_document(app, number - 1) if number > 1 else {}
    return render(
        "schema_admin/version.html",
        app=now,
        info=info,
        text=document_text(document),
        changes=versions.diff_documents(before, document),
        latest=number == now.version,
        entities=_entity_links(app) if number == now.version else [],
    )


def _entity_links(app: str) -> list[tuple[str, Label]]:
    """The app's entities (to go and see a change that was just applied)."""
    tables = registry().apps.get(app)
    return [(e.key, e.plural) for e in tables.app.entities] if tables is not None else []


@bp.get("/<app>/versions/<int:number>/rollback")
@admin_required
def rollback(app: str, number: int) -> Response:
    """The review of going back to version `number` (applied as a new version, after the
    same questions as any change)."""
    actor = require_actor()
    now = current(app)
    document = _version_document(app, number)
    checked = check_text(document_text(document), app)
    if not checked.ok:
        state = EditorState(now, checked, now.version, "json", None)
        state.error = _("Version %(version)s's document has problems with this Flowdeck; fix them, then apply.", version=number)
        return _editor(state, 422)
    return _review(_prepare_review(now, checked, actor, rollback_to=number))


# -- bundles --------------------------------------------------------------------------------------


def files_dir() -> Path:
    return Path(current_app.config["FLOWDECK_FILES_DIR"])


@bp.post("/<app>/export")
@admin_required
def export(app: str) -> Response:
    """The app's configuration bundle as a download: the document, and with the options
    its records and attachments."""
    now = current(app)
    include_files = request.form.get("files") == "1"
    include_records = include_files or request.form.get("records") == "1"
    try:
        data = bundles.export_app(engine().db, app, include_records=include_records, include_files=include_files, files_dir=files_dir())
    except bundles.ExportFailed as exc:
        return error_response(422, translate(str(exc)))
    what = "records, files" if include_files else "records" if include_records else "document"
    audit_log.log("bundle.exported", M("exported app %(app)s as a bundle (%(what)s)", app=app, what=what), target=f"app:{app}")
    response = Response(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{app}-v{now.version}.flowdeck.zip"'
    response.headers["Content-Length"] = str(len(data))
    return response


def upload_limit() -> int:
    """The largest bundle the upload page takes: the bundle limit, or the request limit
    (`MAX_CONTENT_LENGTH`) when that is smaller."""
    configured = current_app.config.get("FLOWDECK_BUNDLE_UPLOAD_LIMIT")
    limit = int(configured) if configured else bundles.DEFAULT_LIMITS.max_bundle_bytes
    request_limit = current_app.config.get("MAX_CONTENT_LENGTH")
    return min(limit, int(request_limit)) if request_limit else limit


def _uploads() -> Path:
    folder = Path(current_app.config["FLOWDECK_INSTANCE"]) / UPLOAD_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _upload_path(token: str, actor: Actor) -> Path:
    """Where an upload waits for its import: named by the admin's id and a random token only."""
    if not _TOKEN.match(token):
        raise NotFound("there is no such upload")
    return _uploads() / f"{int(actor.user_id or 0)}-{token}.zip"


def _prune_uploads() -> None:
    limit = time.time() - UPLOAD_MAX_AGE
    for path in _uploads().glob("*.zip"):
        try:
            if path.stat().st_mtime < limit:
                path.unlink()
        except OSError:
            continue


def _upload_page(problems: list[str], as_key: str = "", status: int = 200) -> Response:
    response = render("schema_admin/import.html", problems=problems, as_key=as_key, limit=upload_limit())
    response.status_code = status
    return response


@bp.route("/import", methods=["GET", "POST"])
@admin_required
def upload() -> Response:
    """Upload a bundle; it is checked at once (damaged, newer, unsafe: refused with every
    problem), then kept aside for the import plan."""
    actor = require_actor()
    as_key = request.form.get("as_key", "").strip()
    if request.method == "GET":
        return _upload_page([])
    upload_ = request.files.get("bundle")
    if upload_ is None or not upload_.filename:
        return _upload_page([_("Choose a bundle file to upload.")], as_key, 422)
    limit = upload_limit()
    data = upload_.stream.read(limit + 1)
    if len(data) > limit:
        return _upload_page([_("The file is larger than a bundle may be (%(size)s).", size=record_views.file_size(limit))], as_key, 413)
    info = bundles.inspect_bundle(data)
    if not info.ok:
        return _upload_page([translate(p) for p in info.problems], as_key, 422)
    _prune_uploads()
    token = secrets.token_hex(16)
    path = _upload_path(token, actor)
    temporary = path.with_suffix(".part")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    temporary.replace(path)
    return redirect(url_for(".import_plan", token=token, **({"as": as_key} if as_key else {})), code=303)


@dataclass
class ImportAnswers:
    as_key: str = ""
    users: dict[str, str] = field(default_factory=dict)
    roles: dict[str, list[str]] = field(default_factory=dict)
    resolutions: dict[str, str] = field(default_factory=dict)
    choices: dict[str, str] = field(default_factory=dict)
    message: str = ""

    @classmethod
    def posted(cls) -> ImportAnswers:
        form = request.form
        return cls(
            as_key=form.get("as_key", "").strip(),
            users={k[len(USER) :]: v for k, v in form.items() if k.startswith(USER) and v},
            roles={k[len(ROLE) :]: [u for u in form.getlist(k) if u] for k in form if k.startswith(ROLE)},
            resolutions={k[len(RESOLVE) :]: v for k, v in form.items() if k.startswith(RESOLVE) and v in ("local", "incoming")},
            choices=posted_choices(),
            message=form.get("message", "").strip()[:500],
        )


def _plan_page(
    token: str, data: bytes, answers: ImportAnswers, *, error: str | None = None, errors: list[str] | None = None, status: int = 200
) -> Response:
    def load(conn: Connection) -> tuple[Any, list[users.UserInfo]]:
        plan = bundles.plan_import(
            conn,
            data,
            as_key=answers.as_key or None,
            user_map=answers.users,
            resolutions=answers.resolutions,
            choices=answers.choices,
            files_dir=files_dir(),
        )
        return plan, users.list_users(conn, active_only=True)

    try:
        plan, people = engine().db.read(load)
    except bundles.BundleInvalid as exc:
        return _upload_page([translate(p) for p in exc.problems], answers.as_key, 422)
    shown = plan.to_json()
    asked = {q["id"] for q in shown["questions"]}
    answers.choices = {k: v for k, v in answers.choices.items() if k in asked}
    user_rows: dict[str, dict[str, Any]] = {u["username"]: u for u in [*shown["missing_users"], *shown["users_to_create"]]}
    for name in answers.users:
        if name in shown["user_matches"] or name in user_rows:
            user_rows.setdefault(name, {"username": name, "display_name": name, "email": None})
    auto = {k: v for k, v in shown["user_matches"].items() if k not in answers.users}
    roles = [(r["key"], Label.of(r.get("label"), r["key"])) for r in shown["roles"]]
    response = render(
        "schema_admin/import_plan.html",
        token=token,
        plan=shown,
        answers=answers,
        people=people,
        user_rows=list(user_rows.values()),
        auto_matches=auto,
        roles=roles,
        error=error,
        errors=errors or [],
        translate=translate,
    )
    response.status_code = status
    return response


@bp.route("/import/<token>", methods=["GET", "POST"])
@admin_required
def import_plan(token: str) -> Response:
    """What importing the uploaded bundle will do, with the answers it needs; `do=import`
    imports it (one transaction), anything else shows the plan again with the answers."""
    actor = require_actor()
    path = _upload_path(token, actor)
    if not path.is_file():
        raise NotFound("this upload is no longer here; upload the bundle again")
    data = path.read_bytes()
    if request.method == "GET":
        return _plan_page(token, data, ImportAnswers(as_key=request.args.get("as", "").strip()))
    answers = ImportAnswers.posted()
    if request.form.get("do") != "import":
        return _plan_page(token, data, answers)
    try:
        result = bundles.import_bundle(
            engine().db,
            data,
            actor=actor,
            as_key=answers.as_key or None,
            role_map=answers.roles,
            user_map=answers.users,
            choices=answers.choices,
            resolutions=answers.resolutions,
            files_dir=files_dir(),
            message=answers.message or None,
        )
    except bundles.ImportNeedsMapping as exc:
        names = ", ".join(u.username for u in exc.missing_users)
        return _plan_page(
            token, data, answers, error=_("Nothing was imported: choose a local user (or create) for %(names)s.", names=names), status=422
        )
    except bundles.MergeConflicts as exc:
        return _plan_page(
            token,
            data,
            answers,
            error=_("Nothing was imported: choose a side for every conflict."),
            errors=[c.path for c in exc.conflicts],
            status=422,
        )
    except ChoicesNeeded as exc:
        return _plan_page(
            token,
            data,
            answers,
            error=_("Nothing was imported: answer every question."),
            errors=[translate(q.describe()) for q in exc.questions],
            status=422,
        )
    except bundles.ImportRefused as exc:
        return _plan_page(token, data, answers, error=_("Nothing was imported."), errors=[translate(r) for r in exc.reasons], status=422)
    except bundles.BundleInvalid as exc:
        return _upload_page([translate(p) for p in exc.problems], answers.as_key, 422)
    except (MigrationRefused, SchemaInvalid, RecordInvalid, bundles.BundleError) as exc:
        return _plan_page(
            token, data, answers, error=_("Nothing was imported."), errors=[translate(line) for line in str(exc).splitlines()], status=422
        )
    path.unlink(missing_ok=True)
    counted = ", ".join(f"{n} {k}" for k, n in result.records.items())
    flash(
        _("Imported app %(app)s as version %(version)s.", app=result.app_key, version=result.version)
        + (" " + _("Records: %(records)s.", records=counted) if counted else "")
        + (" " + _("Users created (inactive): %(names)s.", names=", ".join(result.users_created)) if result.users_created else ""),
        "ok",
    )
    return redirect(url_for(".version_list", app=result.app_key), code=303)
