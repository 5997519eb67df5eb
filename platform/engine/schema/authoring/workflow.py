"""Commands on an entity's workflow: states (add, edit, remove) and transitions (add, edit,
remove).

A removed state takes the transitions into it with it (and leaves the lists of the ones
that start there); the records in it are moved where the admin chooses when the change is
applied (the migration plan asks). Board limits, collapsed columns, rules and filters that
name the state follow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flowdeck.engine.messages import M
from flowdeck.engine.schema.authoring.common import (
    CATEGORIES,
    COMMENTS,
    Document,
    EditRefused,
    checked_color,
    checked_key,
    copied,
    entity_spec,
    label_of,
    renamed_in_list,
    same_label,
    states_of,
    transition_spec,
    transitions_of,
    view_specs,
    with_members,
    workflow_of,
)


def _category(value: str) -> str:
    if value not in CATEGORIES:
        raise EditRefused(M("Choose the state's category: to do, doing or done."))
    return value


def add_state(
    document: Document, *, entity: str, key: str, label_en: str = "", label_zh: str = "", category: str = "", color: str = ""
) -> Document:
    doc = copied(document)
    workflow = workflow_of(entity_spec(doc, entity))
    key = checked_key(key, M("state"))
    states = states_of(workflow)
    if key in states:
        raise EditRefused(M('The workflow already has a state "%(key)s".', key=key))
    states[key] = with_members({}, label=label_of(label_en, label_zh), category=_category(category), color=checked_color(color))
    return doc


def edit_state(
    document: Document, *, entity: str, state: str, label_en: str = "", label_zh: str = "", category: str = "", color: str = ""
) -> Document:
    doc = copied(document)
    states = states_of(workflow_of(entity_spec(doc, entity)))
    spec = states.get(state)
    if not isinstance(spec, dict):
        raise EditRefused(M('There is no state "%(key)s".', key=state))
    states[state] = with_members(spec, label=label_of(label_en, label_zh), category=_category(category), color=checked_color(color))
    return doc


def remove_state(document: Document, *, entity: str, state: str) -> Document:
    """Remove a state with the transitions into it; transitions that leave it leave from
    their other states only. Records in it are moved where the admin chooses when the
    change is applied (the plan asks)."""
    doc = copied(document)
    target = entity_spec(doc, entity)
    workflow = workflow_of(target)
    states = states_of(workflow)
    if state not in states:
        raise EditRefused(M('There is no state "%(key)s".', key=state))
    if len(states) == 1:
        raise EditRefused(M("A workflow needs at least one state."))
    del states[state]
    kept = []
    for transition in transitions_of(workflow):
        if not isinstance(transition, dict):
            kept.append(transition)
            continue
        if transition.get("to") == state:
            continue
        sources = transition.get("from")
        if sources == state:
            continue
        if isinstance(sources, list) and state in sources:
            sources = [s for s in sources if s != state]
            if not sources:
                continue
            transition["from"] = sources
        approval = transition.get("approval")
        if isinstance(approval, dict) and approval.get("reject_to") == state:
            del approval["reject_to"]
        kept.append(transition)
    workflow["transitions"] = kept
    if workflow.get("initial") == state:
        workflow["initial"] = next(iter(states))
    if isinstance(workflow.get("on_create"), list):
        workflow["on_create"] = [r for r in workflow["on_create"] if not (isinstance(r, dict) and r.get("state") == state)]
    for rule in workflow.get("rules") or []:
        if isinstance(rule, dict) and "states" in rule:
            rule["states"] = renamed_in_list(rule["states"], state, None)
    for view in view_specs(target):
        if view.get("group_by") == "state":
            if isinstance(view.get("wip"), dict):
                view["wip"].pop(state, None)
            if "collapsed" in view:
                view["collapsed"] = renamed_in_list(view["collapsed"], state, None)
        condition = view.get("filter", {}).get("state") if isinstance(view.get("filter"), dict) else None
        if condition == state:
            del view["filter"]["state"]
        elif isinstance(condition, list) and state in condition:
            view["filter"]["state"] = renamed_in_list(condition, state, None)
    return doc


def _roles(doc: Document, roles: Iterable[str]) -> list[str]:
    known = set(doc.get("roles") or {})
    chosen = [r for r in roles if r]
    unknown = [r for r in chosen if r not in known]
    if unknown:
        raise EditRefused(M('The app has no role "%(key)s".', key=unknown[0]))
    return chosen


def _sources(states: Mapping[str, Any], sources: Iterable[str]) -> str | list[str]:
    """`from` for the states ticked: "*" for any state, a key for one, a list for several."""
    chosen = [s for s in sources if s]
    if not chosen:
        raise EditRefused(M("Choose the states the transition starts from."))
    if "*" in chosen:
        return "*"
    missing = [s for s in chosen if s not in states]
    if missing:
        raise EditRefused(M('There is no state "%(key)s".', key=missing[0]))
    chosen = list(dict.fromkeys(chosen))
    return chosen[0] if len(chosen) == 1 else chosen


def _target(states: Mapping[str, Any], to: str) -> str:
    if to not in states:
        raise EditRefused(M("Choose the state the transition leads to."))
    return to


def add_transition(
    document: Document,
    *,
    entity: str,
    key: str,
    label_en: str = "",
    label_zh: str = "",
    sources: Iterable[str] = (),
    to: str = "",
    roles: Iterable[str] = (),
) -> Document:
    doc = copied(document)
    workflow = workflow_of(entity_spec(doc, entity))
    key = checked_key(key, M("transition"))
    transitions = transitions_of(workflow)
    if any(isinstance(t, dict) and t.get("key") == key for t in transitions):
        raise EditRefused(M('The workflow already has a transition "%(key)s".', key=key))
    states = states_of(workflow)
    spec: dict[str, Any] = {"key": key}
    label = label_of(label_en, label_zh)
    if label is not None:
        spec["label"] = label
    spec["from"] = _sources(states, sources)
    spec["to"] = _target(states, to)
    chosen_roles = _roles(doc, roles)
    if chosen_roles:
        spec["roles"] = chosen_roles
    transitions.append(spec)
    return doc


def _state_list(value: Any) -> Any:
    return [value] if isinstance(value, str) and value != "*" else value


def edit_transition(
    document: Document,
    *,
    entity: str,
    transition: str,
    label_en: str | None = None,
    label_zh: str | None = None,
    sources: Iterable[str] | None = None,
    to: str | None = None,
    roles: Iterable[str] | None = None,
    comment: str | None = None,
) -> Document:
    """Change a transition's label, the states it starts from (several, or any), where it
    leads, who may do it (none: every role) and whether it asks for a comment. What is not
    given (None) stays as it is, and so does how a value is written when it does not change
    (`"from": "todo"` stays a text). Its key, condition, required fields and approval stay."""
    doc = copied(document)
    workflow = workflow_of(entity_spec(doc, entity))
    spec = transition_spec(workflow, transition)
    states = states_of(workflow)
    members: dict[str, Any] = {}
    if label_en is not None or label_zh is not None:
        members["label"] = same_label(spec.get("label"), label_en, label_zh)
    if sources is not None:
        source = _sources(states, sources)
        before = spec.get("from")
        members["from"] = before if _state_list(before) == _state_list(source) else source
    if to is not None:
        members["to"] = _target(states, to)
    if roles is not None:
        chosen = _roles(doc, roles)
        members["roles"] = spec.get("roles") if chosen == spec.get("roles") else chosen or None
    if comment is not None:
        if comment not in COMMENTS:
            raise EditRefused(M("Choose whether the transition asks for a comment: no, optional or required."))
        members["comment"] = None if comment == "none" and "comment" not in spec else comment
    changed = with_members(spec, **members)
    if "label" in changed and "label" not in spec:  # a new label goes next to the key, as add_transition writes it
        changed = {"key": changed["key"], "label": changed["label"], **{k: v for k, v in changed.items() if k not in ("key", "label")}}
    index = next(i for i, t in enumerate(transitions_of(workflow)) if isinstance(t, dict) and t.get("key") == transition)
    workflow["transitions"][index] = changed
    return doc


def remove_transition(document: Document, *, entity: str, transition: str) -> Document:
    doc = copied(document)
    workflow = workflow_of(entity_spec(doc, entity))
    transition_spec(workflow, transition)
    workflow["transitions"] = [t for t in transitions_of(workflow) if not (isinstance(t, dict) and t.get("key") == transition)]
    return doc
