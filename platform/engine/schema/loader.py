"""From document to `App`: shape first, then meaning, then the frozen model.

Meaning checks resolve every name the document uses (entities, fields, states, roles,
views, expression names), reject formula cycles and defaults that do not fit their field,
and report all problems at once with their JSON paths, each a Message for the admin. The
checks of fields, workflows and views live in modules of their own (`schema/fields.py`,
`schema/workflows.py`, `schema/views.py`); this module builds the app and its entities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flowdeck.engine.errors import SchemaInvalid, SchemaProblem
from flowdeck.engine.expressions import Scope
from flowdeck.engine.fieldtypes import FIELD_TYPES, TITLE_TYPES
from flowdeck.engine.messages import M
from flowdeck.engine.phrases import a_field
from flowdeck.engine.schema.automations import AutomationChecks
from flowdeck.engine.schema.checks import (
    CHILD_SYSTEM_COLUMNS,
    RESERVED_KEYS,
    SYSTEM_COLUMNS,
    SYSTEM_FIELD_TYPES,
    Path,
    opt_label,
    unknown_field,
)
from flowdeck.engine.schema.constraints import ConstraintChecks, with_guards
from flowdeck.engine.schema.fields import FieldChecks, clocked_keys, formula_order
from flowdeck.engine.schema.lookups import LookupChecks
from flowdeck.engine.schema.model import App, Entity, Label, Permissions, Role, Section, humanize
from flowdeck.engine.schema.rollups import resolve_rollups
from flowdeck.engine.schema.shape import check_shape, parse_document
from flowdeck.engine.schema.slas import SlaChecks
from flowdeck.engine.schema.timing import TimingChecks
from flowdeck.engine.schema.views import ViewChecks
from flowdeck.engine.schema.workflows import WorkflowChecks
from flowdeck.engine.viewtypes import SWIMLANE_TYPES

__all__ = [
    "CHILD_SYSTEM_COLUMNS",
    "RESERVED_KEYS",
    "SWIMLANE_TYPES",
    "SYSTEM_COLUMNS",
    "SYSTEM_FIELD_TYPES",
    "TITLE_TYPES",
    "Path",
    "check_document",
    "formula_order",
    "load_app",
]


def load_app(source: str | bytes | Mapping[str, Any], *, name: str | None = None) -> App:
    """Load an app document (JSON text or parsed) or raise SchemaInvalid listing every problem."""
    if isinstance(source, (str, bytes)):
        document, problems = parse_document(source)
        if problems:
            raise SchemaInvalid(problems, name)
    else:
        document = source
    problems = check_shape(document)
    if problems:
        raise SchemaInvalid(problems, name)
    builder = _Builder(document)
    app = builder.build()
    if builder.problems:
        raise SchemaInvalid(builder.problems, name)
    return app


def check_document(source: str | bytes | Mapping[str, Any]) -> list[SchemaProblem]:
    """All problems of a document; empty when it loads."""
    try:
        load_app(source)
    except SchemaInvalid as exc:
        return exc.problems
    return []


class _Builder(FieldChecks, LookupChecks, WorkflowChecks, ViewChecks, TimingChecks, AutomationChecks, ConstraintChecks, SlaChecks):
    """Checks meaning while building the model; collects problems instead of stopping."""

    def build(self) -> App:
        doc = self.doc
        roles = tuple(
            Role(key, Label.of(spec.get("label"), humanize(key)), opt_label(spec.get("description"))) for key, spec in doc["roles"].items()
        )
        entities = with_guards(
            self.resolve_lookups(resolve_rollups(doc, tuple(self.entity(key, spec) for key, spec in doc["entities"].items()), self.problem))
        )
        typed = {e.key: {f.key: f for f in e.fields} for e in entities}
        schedules = self.schedules(doc.get("schedules", []), typed)
        return App(
            key=doc["key"],
            label=Label.of(doc["label"]),
            roles=roles,
            entities=entities,
            source=doc.get("source"),
            description=opt_label(doc.get("description")),
            document=doc,
            schedules=schedules,
            automations=self.automations(doc.get("automations", [])),
        )

    def entity(self, key: str, spec: Mapping[str, Any]) -> Entity:
        path: Path = ("entities", key)
        raw_fields: Mapping[str, Any] = spec["fields"]
        scope = _entity_scope(raw_fields, has_workflow="workflow" in spec)
        fields = tuple(self.field((*path, "fields", fk), fk, fs, scope, key, raw_fields) for fk, fs in raw_fields.items())
        self.check_renames(path, raw_fields)
        self.check_cycles((*path, "fields"), fields)
        by_key = {f.key: f for f in fields}

        can_title = [f.key for f in fields if f.type in TITLE_TYPES and not f.many]
        title = spec.get("title") or next((f.key for f in fields if f.type == "text"), can_title[0] if can_title else fields[0].key)
        if title not in by_key:
            self.problem((*path, "title"), unknown_field(title, list(by_key)))
        elif title not in can_title and "title" not in spec:
            self.problem(
                path,
                M(
                    "has no field that can be its title; add a single text, autonumber, email, phone, url, select, integer or date field "
                    "(or name one in “title”)"
                ),
            )
        elif title not in can_title:
            said = M(
                "“%(key)s” is %(field_kind)s; a title must be a single text, autonumber, email, phone, url, select, integer or date field",
                key=title,
                field_kind=a_field(by_key[title].type),
            )
            self.problem((*path, "title"), said)

        sections = self.sections((*path, "sections"), spec.get("sections", []), raw_fields)
        tree = spec.get("tree")
        if tree is not None:
            target = by_key.get(tree)
            if target is None:
                self.problem((*path, "tree"), unknown_field(tree, list(by_key)))
            elif target.type != "reference" or target.to != key or target.many:
                self.problem(
                    (*path, "tree"),
                    M("“%(key)s” must be a single reference to “%(entity)s” itself (to hold the parent)", key=tree, entity=key),
                )

        workflow = self.workflow((*path, "workflow"), spec["workflow"], raw_fields, scope, by_key) if "workflow" in spec else None
        perms = spec.get("permissions", {})
        permissions = Permissions(
            **{action: self.roles((*path, "permissions", action), perms.get(action)) for action in ("read", "create", "update", "delete")}
        )
        constraints = self.constraints((*path, "constraints"), spec.get("constraints", []), key, spec, scope)
        views = tuple(self.view((*path, "views", vk), vk, vs, by_key, workflow) for vk, vs in spec.get("views", {}).items())
        search = spec.get("search")
        if search is None:
            search_fields = tuple(f.key for f in fields if FIELD_TYPES[f.type].searchable and f.type != "markdown")
        else:
            search_fields = self.field_names((*path, "search"), search, raw_fields)
            for index, fk in enumerate(search_fields):
                field = by_key.get(fk)
                if field is not None and not FIELD_TYPES[field.type].searchable:
                    said = M("“%(key)s” is %(field_kind)s; only text fields can be searched", key=fk, field_kind=a_field(field.type))
                    self.problem((*path, "search", index), said)
        return Entity(
            key=key,
            app=self.doc["key"],
            label=Label.of(spec.get("label"), humanize(key)),
            plural=Label.of(spec.get("plural") or spec.get("label"), humanize(key)),
            title=title,
            fields=fields,
            sections=sections,
            tree=tree,
            workflow=workflow,
            permissions=permissions,
            views=views,
            search=search_fields,
            description=opt_label(spec.get("description")),
            computed_order=formula_order(fields),
            clocked=clocked_keys(fields),
            reminders=self.reminders((*path, "reminders"), spec.get("reminders", []), raw_fields),
            constraints=constraints,
            slas=self.slas((*path, "slas"), spec.get("slas", []), spec, scope),
        )

    def sections(self, path: Path, specs: Sequence[Mapping[str, Any]], fields: Mapping[str, Any]) -> tuple[Section, ...]:
        seen: dict[str, int] = {}
        sections = []
        for index, spec in enumerate(specs):
            keys = self.field_names((*path, index, "fields"), spec["fields"], fields)
            for position, fk in enumerate(keys):
                if fk in seen:
                    self.problem(
                        (*path, index, "fields", position), M("“%(key)s” is already in sections[%(index)s]", key=fk, index=seen[fk])
                    )
                seen.setdefault(fk, index)
            sections.append(Section(Label.of(spec.get("label"), f"Section {index + 1}"), keys))
        return tuple(sections)

    # -- fields ----------------------------------------------------------------------


def _entity_scope(fields: Mapping[str, Any], *, has_workflow: bool) -> Scope:
    names = {k for k, f in fields.items() if f.get("type") != "table"}
    names |= {"id", "me", "created_at", "created_by", "updated_at", "updated_by"}
    if has_workflow:
        names.add("state")
    tables = {k: frozenset(f.get("fields", {})) for k, f in fields.items() if f.get("type") == "table"}
    return Scope(names=frozenset(names), tables=tables)
