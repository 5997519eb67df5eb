"""Checking a transition's `after` (the system performs it after a duration in a state):
what the system cannot do alone is refused when the document loads, each problem at its
JSON path, so a timed transition that is accepted can run with nobody there."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flowdeck.engine.durations import Duration, duration_of, duration_problems
from flowdeck.engine.messages import M, Message
from flowdeck.engine.schema.checks import Path


def timed_transition(
    problem: Callable[[Path, Message], None], path: Path, spec: Mapping[str, Any], sources: Sequence[str]
) -> tuple[Duration | None, bool]:
    """The checked (duration, restart on comment) of one transition spec at `path`."""
    restart = bool(spec.get("restart_on_comment", False))
    if "after" not in spec:
        if "restart_on_comment" in spec:
            problem((*path, "restart_on_comment"), M("only a timed transition restarts its wait: add “after”"))
        return None, False
    found = duration_problems(spec["after"])
    for where, message in found:
        problem((*path, "after", *where), message)
    raw_from = spec["from"]
    if raw_from == "*" or (not isinstance(raw_from, str) and len(raw_from) != 1):
        problem((*path, "from"), M("a timed transition waits in one state: give one state in “from” (one timed transition per state)"))
    if spec["to"] in sources:
        problem((*path, "to"), M("a timed transition cannot lead back to the state it waits in"))
    if "approval" in spec:
        problem((*path, "approval"), M("the system does not ask for approval: a timed transition cannot have “approval”"))
    if "roles" in spec:
        problem((*path, "roles"), M("only the system performs a timed transition: remove “roles” (write another transition for people)"))
    if spec.get("comment") == "required":
        problem((*path, "comment"), M("the system writes no comment: a timed transition cannot require one"))
    filled = {effect.get("set") for effect in spec.get("effects", []) if isinstance(effect, Mapping) and "to" in effect}
    for position, key in enumerate(spec.get("require", [])):
        if key not in filled:
            problem(
                (*path, "require", position),
                M("the system cannot fill “%(key)s” at a timed transition: set it with an effect or remove it", key=key),
            )
    return (None if found else duration_of(spec["after"])), restart
