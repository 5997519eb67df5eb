"""The action registry: one entry per thing an automation can do, owning its document check
(`check(ctx, path, spec) -> settings`), its running (`run(run, settings)`) and its name on
admin pages. Nothing else names an action type.

Every action runs inside its run's savepoint as the run's actor, through the services a
person's click uses (checks, guards, history, events); what it writes or sends is appended
to the run's log (`run.changes`, `run.sent`). An action that cannot do its work raises
ActionFailed: the run is logged failed and none of its actions' changes are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flowdeck.engine import comments
from flowdeck.engine.automations import writes
from flowdeck.engine.automations.base import ActionFailed, CheckContext, RunContext
from flowdeck.engine.automations.people import ASSIGN, NOTIFY
from flowdeck.engine.automations.related import CREATE, UPDATE_RELATED
from flowdeck.engine.automations.templates import check_template, fill
from flowdeck.engine.messages import M, Message
from flowdeck.engine.phrases import suggestion
from flowdeck.engine.schema.checks import Path

Check = Callable[[CheckContext, Path, Mapping[str, Any]], Any]
Run = Callable[[RunContext, Any], None]


@dataclass(frozen=True)
class ActionType:
    name: str
    label: Message
    keys: frozenset[str]
    check: Check
    run: Run


def _check_set(ctx: CheckContext, path: Path, spec: Mapping[str, Any]) -> Any:
    return writes.check_values(ctx, (*path, "fields"), spec.get("fields"), ctx.entity)


def _run_set(run: RunContext, settings: Any) -> None:
    if run.record is None:
        raise ActionFailed(M("the record is gone: there is nothing to set"))
    raw = writes.evaluate(settings, run.env(), run.values())
    writes.update(run, run.et, run.record.id, raw, "set")
    run.reload and run.reload()


def _check_transition(ctx: CheckContext, path: Path, spec: Mapping[str, Any]) -> Any:
    key = spec.get("transition")
    known = ctx.transitions(ctx.entity)
    if key not in known:
        ctx.checks.problem((*path, "transition"), M("unknown transition “%(key)s”%(hint)s", key=str(key), hint=suggestion(str(key), known)))
    return key


def _run_transition(run: RunContext, settings: Any) -> None:
    if run.record is None:
        raise ActionFailed(M("the record is gone: no transition can run"))
    writes.transition(run, run.et, run.record.id, settings, "transition")
    run.reload and run.reload()


def _check_comment(ctx: CheckContext, path: Path, spec: Mapping[str, Any]) -> Any:
    return check_template(ctx, (*path, "body"), spec.get("body"))


def _run_comment(run: RunContext, settings: Any) -> None:
    if run.record is None:
        raise ActionFailed(M("the record is gone: there is nothing to comment on"))
    body = fill(settings, run.values(), run.app.document.get("language", "en"))
    try:
        comments.add_comment(run.conn, run.et, run.record.id, body, actor=run.actor, now=run.now)
    except writes.WRITE_REFUSALS as exc:
        raise ActionFailed(writes.refused(exc)) from None
    run.sent.append({"action": "comment", "record": run.record.id, "body": body})


def _check_approval(ctx: CheckContext, path: Path, spec: Mapping[str, Any]) -> Any:
    key = _check_transition(ctx, path, spec)
    workflow = ctx.document["entities"][ctx.entity].get("workflow") or {}
    transitions = workflow.get("transitions") or {}
    found = transitions.get(key) if isinstance(transitions, Mapping) else next((t for t in transitions if t.get("key") == key), None)
    if found is not None and "approval" not in found:
        ctx.checks.problem((*path, "transition"), M("“%(key)s” has no approval: use the action “transition”", key=key))
    return key


def _run_approval(run: RunContext, settings: Any) -> None:
    if run.record is None:
        raise ActionFailed(M("the record is gone: no approval can start"))
    from flowdeck.engine.approvals import request_approval  # the approval services load the registry, which loads documents

    try:
        outcome = request_approval(run.conn, run.et, run.record.id, settings, actor=run.actor, now=run.now)
    except writes.WRITE_REFUSALS as exc:
        raise ActionFailed(writes.refused(exc)) from None
    run.changes.append({"action": "request_approval", "entity": run.et.entity.key, "record": run.record.id, "request": outcome.request_id})
    run.reload and run.reload()


ACTIONS: dict[str, ActionType] = {}


def register(action: ActionType) -> ActionType:
    ACTIONS[action.name] = action
    return action


for _entry in (
    ActionType("set", M("set fields"), frozenset({"fields"}), _check_set, _run_set),
    ActionType(*CREATE),
    ActionType(*UPDATE_RELATED),
    ActionType("transition", M("perform a transition"), frozenset({"transition"}), _check_transition, _run_transition),
    ActionType(*ASSIGN),
    ActionType(*NOTIFY),
    ActionType("comment", M("add a comment"), frozenset({"body"}), _check_comment, _run_comment),
    ActionType("request_approval", M("start an approval"), frozenset({"transition"}), _check_approval, _run_approval),
):
    register(_entry)


def check_action(ctx: CheckContext, path: Path, spec: Mapping[str, Any]) -> tuple[str, Any] | None:
    """The action's type and settings, or None (with the problem noted) when it is unknown."""
    name = spec.get("do")
    entry = ACTIONS.get(name) if isinstance(name, str) else None
    if entry is None:
        names = list(ACTIONS)
        ctx.checks.problem(
            (*path, "do"),
            M("unknown action “%(key)s”%(hint)s (choices: %(keys)s)", key=str(name), hint=suggestion(str(name), names), keys=names),
        )
        return None
    for key in spec:
        if key != "do" and key not in entry.keys:
            ctx.checks.problem(
                (*path, key),
                M(
                    "“%(key)s” is not a setting of the action “%(action)s” (settings: %(keys)s)",
                    key=key,
                    action=name,
                    keys=sorted(entry.keys),
                ),
            )
    return name, entry.check(ctx, path, spec)
