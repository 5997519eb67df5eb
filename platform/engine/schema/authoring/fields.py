"""Commands on an entity's fields: add, rename, move, remove, and set the label, required
flag, help text and conditions.

A rename keeps the data (`"was"` names the key the column has now) and every place of the
entity that names the field follows: sections, views, search, workflow rules, required
fields, approvals and expressions. A removal takes the field out of those lists; its values
are archived when the change is applied, never deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flowdeck.engine.fieldtypes import types_in
from flowdeck.engine.messages import M
from flowdeck.engine.schema.authoring.common import (
    SIMPLE_TYPES,
    Document,
    EditRefused,
    approver_sources,
    checked_direction,
    checked_key,
    copied,
    entity_spec,
    field_spec,
    fields_of,
    label_of,
    move_in_list,
    renamed_in_list,
    renamed_word,
    reordered,
    same_label,
    steps_of,
    view_specs,
    with_members,
)
from flowdeck.engine.schema.authoring.options import parse_options
from flowdeck.engine.schema.authoring.views import typed_view
from flowdeck.engine.viewtypes import BOARD, COLUMN_KEYS, FIELD_KEYS


def add_field(
    document: Document,
    *,
    entity: str,
    key: str,
    type: str,
    label_en: str = "",
    label_zh: str = "",
    required: bool = False,
    options: str = "",
    to: str = "",
    section: int | None = None,
    boards: Iterable[str] = (),
) -> Document:
    """A new field at the end of the entity (and of section `section`, and on the cards of `boards`)."""
    doc = copied(document)
    target = entity_spec(doc, entity)
    key = checked_key(key, M("field"))
    fields = fields_of(target)
    if key in fields:
        raise EditRefused(M('The entity already has a field "%(key)s".', key=key))
    if type not in SIMPLE_TYPES:
        raise EditRefused(M("Choose a field type (table, computed and autonumber fields are written in JSON)."))
    spec: dict[str, Any] = {"type": type}
    label = label_of(label_en, label_zh)
    if label is not None:
        spec["label"] = label
    if required:
        spec["required"] = True
    if type in types_in("choice"):
        parsed = parse_options(options)
        if not parsed:
            raise EditRefused(M("A select field needs options: one per line."))
        spec["options"] = parsed
    if type == "reference":
        target_key = (to or "").strip()
        if target_key not in (doc.get("entities") or {}):
            raise EditRefused(M("Choose the entity the reference points to."))
        spec["to"] = target_key
    fields[key] = spec
    if section is not None:
        sections = target.get("sections")
        if not isinstance(sections, list) or not 0 <= section < len(sections) or not isinstance(sections[section], dict):
            raise EditRefused(M("There is no such section."))
        sections[section]["fields"] = [*(sections[section].get("fields") or []), key]
    for view_key in boards:
        view = typed_view(target, view_key, BOARD)
        card = list(view.get("card") or [])
        if key not in card:
            view["card"] = [*card, key]
    return doc


def rename_field(document: Document, *, entity: str, field: str, new_key: str, applied: Document | None = None) -> Document:
    """Rename a field; its data is kept (`"was"` names the key its column has in `applied`,
    the document applied now) and every place of the entity that names it follows."""
    doc = copied(document)
    target = entity_spec(doc, entity)
    spec = field_spec(target, field)
    renamed = checked_key(new_key, M("field"))
    if renamed == field:
        return doc
    if renamed in fields_of(target):
        raise EditRefused(M('The entity already has a field "%(key)s".', key=renamed))
    live = _applied_fields(applied, entity)
    was = spec.get("was")
    if applied is None or field in live:
        was = field
    elif not (isinstance(was, str) and was in live):
        was = None  # a field added since the last apply: nothing to keep
    spec = with_members(spec, was=None if was in (None, renamed) else was)
    target["fields"] = {(renamed if k == field else k): (spec if k == field else v) for k, v in fields_of(target).items()}
    _rename_references(target, field, renamed)
    return doc


def _applied_fields(applied: Document | None, entity: str) -> set[str]:
    if applied is None:
        return set()
    spec = (applied.get("entities") or {}).get(entity)
    fields = spec.get("fields") if isinstance(spec, Mapping) else None
    return set(fields) if isinstance(fields, Mapping) else set()


def _rename_references(entity: dict[str, Any], old: str, new: str) -> None:
    for name in ("title", "tree"):
        if entity.get(name) == old:
            entity[name] = new
    if "search" in entity:
        entity["search"] = renamed_in_list(entity["search"], old, new)
    for section in entity.get("sections") or []:
        if isinstance(section, dict) and "fields" in section:
            section["fields"] = renamed_in_list(section["fields"], old, new)
    for view in view_specs(entity):
        for name in COLUMN_KEYS:
            if name in view:
                view[name] = renamed_in_list(view[name], old, new)
        if isinstance(view.get("sort"), list):
            view["sort"] = [f"-{new}" if s == f"-{old}" else new if s == old else s for s in view["sort"]]
        for name in FIELD_KEYS:
            if view.get(name) == old:
                view[name] = new
        if isinstance(view.get("filter"), dict) and old in view["filter"]:
            view["filter"] = {(new if k == old else k): v for k, v in view["filter"].items()}
    for spec in fields_of(entity).values():
        if isinstance(spec, dict):
            for name in ("formula", "show_if", "required_if"):
                if name in spec:
                    spec[name] = renamed_word(spec[name], old, new)
    workflow = entity.get("workflow")
    if isinstance(workflow, dict):
        for rule in workflow.get("rules") or []:
            if isinstance(rule, dict):
                for name in ("hidden", "read_only", "required"):
                    if name in rule:
                        rule[name] = renamed_in_list(rule[name], old, new)
        for transition in workflow.get("transitions") or []:
            if isinstance(transition, dict):
                if "require" in transition:
                    transition["require"] = renamed_in_list(transition["require"], old, new)
                if "guard" in transition:
                    transition["guard"] = renamed_word(transition["guard"], old, new)
                for effect in _effects(transition):
                    for name in ("set", "clear"):
                        if effect.get(name) == old:
                            effect[name] = new
                    if isinstance(effect.get("to"), str):
                        effect["to"] = renamed_word(effect["to"], old, new)
        for route in workflow.get("on_create") or []:
            if isinstance(route, dict) and isinstance(route.get("when"), str):
                route["when"] = renamed_word(route["when"], old, new)
    for approval, step in steps_of(entity):
        for source in approver_sources(step):
            if source.get("field") == old:
                source["field"] = new
        if "when" in step:
            step["when"] = renamed_word(step["when"], old, new)
        pending = approval.get("while_pending")
        if isinstance(pending, dict) and isinstance(pending.get("frozen"), list):
            pending["frozen"] = renamed_in_list(pending["frozen"], old, new)


def _effects(transition: Any) -> list[dict[str, Any]]:
    """A transition's effects (none for a malformed one): they follow a renamed or removed field."""
    effects = transition.get("effects") if isinstance(transition, dict) else None
    return [e for e in effects if isinstance(e, dict)] if isinstance(effects, list) else []


def move_field(document: Document, *, entity: str, field: str, direction: str) -> Document:
    """Move a field one place up or down (in the fields and in its form section)."""
    doc = copied(document)
    target = entity_spec(doc, entity)
    field_spec(target, field)
    towards = checked_direction(direction)
    target["fields"] = reordered(fields_of(target), field, towards)
    for section in target.get("sections") or []:
        keys = section.get("fields") if isinstance(section, dict) else None
        if isinstance(keys, list) and field in keys:
            move_in_list(keys, keys.index(field), towards)
    return doc


def remove_field(document: Document, *, entity: str, field: str) -> Document:
    """Remove a field and every mention of it in lists (sections, views, search, rules).
    Refused while the field holds the entity together: its title, its tree, a board's
    columns or an approval step's approvers."""
    doc = copied(document)
    target = entity_spec(doc, entity)
    field_spec(target, field)
    if target.get("title") == field or (target.get("title") is None and next(iter(fields_of(target))) == field):
        raise EditRefused(M("This field is the title of the entity's records; make another field the title first."))
    if target.get("tree") == field:
        raise EditRefused(M("This field holds the parent of each record (the entity's tree); remove the tree first."))
    for key, view in (target.get("views") or {}).items():
        if isinstance(view, dict) and view.get("group_by") == field:
            raise EditRefused(M('The board "%(view)s" groups by this field; group it by something else first.', view=key))
    for _approval, step in steps_of(target):
        if any(source.get("field") == field for source in approver_sources(step)):
            raise EditRefused(
                M('The approval step "%(step)s" takes its approvers from this field; change the step first.', step=step.get("key"))
            )
    del target["fields"][field]
    if "search" in target:
        target["search"] = renamed_in_list(target["search"], field, None)
    if isinstance(target.get("sections"), list):
        for section in target["sections"]:
            if isinstance(section, dict) and "fields" in section:
                section["fields"] = renamed_in_list(section["fields"], field, None)
        target["sections"] = [s for s in target["sections"] if not (isinstance(s, dict) and s.get("fields") == [])]
    for view in view_specs(target):
        for name in COLUMN_KEYS:
            if name in view:
                view[name] = renamed_in_list(view[name], field, None)
        if view.get("columns") == []:
            del view["columns"]
        if isinstance(view.get("sort"), list):
            view["sort"] = [s for s in view["sort"] if s not in (field, f"-{field}")]
        for name in FIELD_KEYS:  # a board grouped by the field was refused above: these are swimlanes
            if view.get(name) == field:
                del view[name]
        if isinstance(view.get("filter"), dict):
            view["filter"].pop(field, None)
    workflow = target.get("workflow")
    if isinstance(workflow, dict):
        for rule in workflow.get("rules") or []:
            if isinstance(rule, dict):
                for name in ("hidden", "read_only", "required"):
                    if name in rule:
                        rule[name] = renamed_in_list(rule[name], field, None)
        for transition in workflow.get("transitions") or []:
            if isinstance(transition, dict) and "require" in transition:
                transition["require"] = renamed_in_list(transition["require"], field, None)
            if _effects(transition):
                transition["effects"] = [e for e in _effects(transition) if field not in (e.get("set"), e.get("clear"))]
    for approval, _step in steps_of(target):
        pending = approval.get("while_pending")
        if isinstance(pending, dict) and isinstance(pending.get("frozen"), list):
            pending["frozen"] = renamed_in_list(pending["frozen"], field, None)
    return doc


def set_field(
    document: Document,
    *,
    entity: str,
    field: str,
    label_en: str = "",
    label_zh: str = "",
    required: bool = False,
    help_en: str | None = None,
    help_zh: str | None = None,
    show_if: str | None = None,
    required_if: str | None = None,
) -> Document:
    """Change a field's label, whether it is required, its help text and its conditions
    (`show_if`, `required_if`: expressions; empty removes one). What is not given (None)
    stays as it is; a label or help text whose words do not change keeps how it is written.
    Whether an expression makes sense is for the loader to say, like any other edit."""
    doc = copied(document)
    target = entity_spec(doc, entity)
    spec = field_spec(target, field)
    members: dict[str, Any] = {
        "label": same_label(spec.get("label"), label_en, label_zh),
        "required": True if required else None,
    }
    if help_en is not None or help_zh is not None:
        members["help"] = same_label(spec.get("help"), help_en, help_zh)
    for name, expression in (("show_if", show_if), ("required_if", required_if)):
        if expression is not None:
            members[name] = _expression(spec.get(name), expression)
    target["fields"][field] = with_members(spec, **members)
    return doc


def _expression(current: Any, text: str) -> str | None:
    """An expression as entered (None removes it); the one written now when only the spaces around it differ."""
    wanted = text.strip() or None
    return current if isinstance(current, str) and current.strip() == wanted else wanted
