"""Commands on a transition's approval steps: add, edit, remove and move.

The first step added creates the transition's approval; removing the last one removes it
(the transition then happens at once). A step's approvers come from one source the builder
can write (a role, named users, a user field of the record, an organisation relation);
a step with several sources is edited with `approver_kind="keep"`, which keeps them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flowdeck.engine.messages import M
from flowdeck.engine.schema.authoring.common import (
    MODES,
    RELATIONS,
    USERNAME,
    Document,
    EditRefused,
    checked_direction,
    checked_key,
    copied,
    entity_spec,
    fields_of,
    label_of,
    member,
    move_in_list,
    transition_spec,
    with_members,
    workflow_of,
)

KEEP = "keep"
"""The approver kind that keeps a step's approvers as they are written."""


def _approvers(kind: str, value: str, doc: Document, entity: dict[str, Any]) -> dict[str, Any]:
    text = (value or "").strip()
    if kind == "role":
        if text not in (doc.get("roles") or {}):
            raise EditRefused(M("Choose the role whose members approve."))
        return {"role": text}
    if kind == "users":
        names = [n for n in re.split(r"[\s,]+", text.lower()) if n]
        bad = [n for n in names if not USERNAME.match(n)]
        if not names or bad:
            raise EditRefused(M("List the approvers' usernames, separated by commas."))
        return {"users": list(dict.fromkeys(names))}
    if kind == "field":
        spec = fields_of(entity).get(text)
        if not isinstance(spec, dict) or spec.get("type") != "user":
            raise EditRefused(M("Choose a user field of the record: its person approves."))
        return {"field": text}
    if kind == "relation":
        if text not in RELATIONS:
            raise EditRefused(M("Choose who approves in the organisation (manager or department head)."))
        return {"relation": text}
    raise EditRefused(M("Choose where the approvers come from."))


def _step(
    doc: Document,
    entity: dict[str, Any],
    base: Mapping[str, Any],
    key: str,
    settings: Mapping[str, str],
) -> dict[str, Any]:
    """Step `key` from `base` with the settings entered (label, approvers, mode, quorum, when)."""
    mode = settings["mode"]
    if mode not in MODES:
        raise EditRefused(M("Choose how the approvers decide: any one, all, or a quorum."))
    count: int | None = None
    if mode == "quorum":
        quorum = (settings["quorum"] or "").strip()
        if not quorum.isdigit() or int(quorum) < 1:
            raise EditRefused(M("A quorum step needs the number of approvals (1 or more)."))
        count = int(quorum)
    kind = settings["approver_kind"]
    kept = kind == KEEP and "approvers" in base
    approvers = base.get("approvers") if kept else _approvers(kind, settings["approver_value"], doc, entity)
    step = dict(base)
    step["key"] = key
    members = {
        "label": label_of(settings["label_en"], settings["label_zh"]),
        "approvers": approvers,
        "mode": None if mode == "any" and "mode" not in base else mode,
        "quorum": count,
        "when": (settings["when"] or "").strip() or None,
    }
    return with_members(step, **members)


def _steps(workflow: dict[str, Any], transition: str) -> tuple[dict[str, Any], list[Any]]:
    spec = transition_spec(workflow, transition)
    approval = member(spec, "approval", dict)
    return spec, member(approval, "steps", list)


def _index(steps: list[Any], key: str) -> int:
    for index, step in enumerate(steps):
        if isinstance(step, dict) and step.get("key") == key:
            return index
    raise EditRefused(M('There is no approval step "%(key)s".', key=key))


def add_step(
    document: Document,
    *,
    entity: str,
    transition: str,
    key: str,
    label_en: str = "",
    label_zh: str = "",
    approver_kind: str = "",
    approver_value: str = "",
    mode: str = "any",
    quorum: str = "",
    when: str = "",
) -> Document:
    """A new approval step at the end of a transition's approval (created if needed)."""
    doc = copied(document)
    target = entity_spec(doc, entity)
    workflow = workflow_of(target)
    key = checked_key(key, M("approval step"))
    _spec, steps = _steps(workflow, transition)
    if any(isinstance(s, dict) and s.get("key") == key for s in steps):
        raise EditRefused(M('The transition already has an approval step "%(key)s".', key=key))
    settings = {"label_en": label_en, "label_zh": label_zh, "approver_kind": approver_kind, "approver_value": approver_value}
    steps.append(_step(doc, target, {}, key, {**settings, "mode": mode, "quorum": quorum, "when": when}))
    return doc


def edit_step(
    document: Document,
    *,
    entity: str,
    transition: str,
    step: str,
    label_en: str = "",
    label_zh: str = "",
    approver_kind: str = KEEP,
    approver_value: str = "",
    mode: str = "any",
    quorum: str = "",
    when: str = "",
) -> Document:
    """Change a step's label, approvers (`approver_kind="keep"`: as they are), mode, quorum and condition."""
    doc = copied(document)
    target = entity_spec(doc, entity)
    workflow = workflow_of(target)
    _spec, steps = _steps(workflow, transition)
    index = _index(steps, step)
    settings = {"label_en": label_en, "label_zh": label_zh, "approver_kind": approver_kind, "approver_value": approver_value}
    steps[index] = _step(doc, target, steps[index], step, {**settings, "mode": mode, "quorum": quorum, "when": when})
    return doc


def remove_step(document: Document, *, entity: str, transition: str, step: str) -> Document:
    """Remove an approval step; without steps the transition needs no approval."""
    doc = copied(document)
    workflow = workflow_of(entity_spec(doc, entity))
    spec, steps = _steps(workflow, transition)
    del steps[_index(steps, step)]
    if not steps:
        del spec["approval"]
    return doc


def move_step(document: Document, *, entity: str, transition: str, step: str, direction: str) -> Document:
    doc = copied(document)
    workflow = workflow_of(entity_spec(doc, entity))
    _spec, steps = _steps(workflow, transition)
    move_in_list(steps, _index(steps, step), checked_direction(direction))
    return doc
