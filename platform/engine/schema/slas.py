"""Checking an entity's `slas` when a document loads and building their model: states that
exist, expressions that compile, roles that exist, goals whose durations are sound (the shared
`durations.duration_problems`), a goal without `when` only last; each problem at its JSON path.

Each definition gets a `version`: a hash of what it does (everything but its label), so a
cycle keeps the version it started with and the migration plan can tell an edited definition
from an untouched one without keeping a counter anywhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from flowdeck.engine.durations import duration_problems
from flowdeck.engine.expressions import Scope
from flowdeck.engine.messages import M
from flowdeck.engine.schema.checks import Checks, Path, unknown_state
from flowdeck.engine.schema.model import Label, Sla, SlaCondition, SlaGoal, humanize

DEFAULT_WARNING = 75
PARTS: dict[str, frozenset[str]] = {
    "start": frozenset({"states", "on", "when"}),
    "pause": frozenset({"states", "when"}),
    "stop": frozenset({"states", "when", "event"}),
}
"""What each condition may be made of: `on` starts only, an event stops only."""


def definition_version(spec: Mapping[str, Any]) -> int:
    """The version of a definition: a stable hash of its JSON without the label (a renamed
    SLA is the same clock), small enough for an integer column."""
    kept = {k: v for k, v in spec.items() if k != "label"}
    kept.setdefault("warning", DEFAULT_WARNING)
    text = json.dumps(kept, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return int(hashlib.sha256(text.encode()).hexdigest()[:7], 16)


class SlaChecks(Checks):
    def slas(self, path: Path, specs: Sequence[Mapping[str, Any]], spec: Mapping[str, Any], scope: Scope) -> tuple[Sla, ...]:
        """The entity's SLA definitions (`spec` is the entity's document)."""
        states = tuple(spec.get("workflow", {}).get("states", {}))
        found: list[Sla] = []
        seen: set[str] = set()
        for index, raw in enumerate(specs):
            at: Path = (*path, index)
            if raw["key"] in seen:
                self.problem((*at, "key"), M("the SLA “%(key)s” is declared twice", key=raw["key"]))
            seen.add(raw["key"])
            before = len(self.problems)
            start = self._condition((*at, "start"), "start", raw["start"], states, scope)
            pause = self._condition((*at, "pause"), "pause", raw["pause"], states, scope) if "pause" in raw else None
            stop = self._condition((*at, "stop"), "stop", raw["stop"], states, scope)
            goals = self._goals((*at, "goals"), raw["goals"], scope)
            if len(self.problems) == before:
                label = Label.of(raw.get("label"), humanize(raw["key"]))
                warning = raw.get("warning", DEFAULT_WARNING)
                found.append(Sla(raw["key"], label, start, stop, goals, pause, warning, definition_version(raw)))
        return tuple(found)

    def _condition(self, path: Path, part: str, raw: Mapping[str, Any], states: Sequence[str], scope: Scope) -> SlaCondition:
        for key in raw:
            if key not in PARTS[part] and key != "roles":
                self.problem((*path, key), M("“%(key)s” cannot be used in “%(part)s”", key=key, part=part))
        if "roles" in raw and "event" not in raw:
            self.problem((*path, "roles"), M("“roles” narrows an event: add “event”"))
        if not PARTS[part] & set(raw):
            self.problem(path, M("needs one of %(keys)s", keys=", ".join(sorted(PARTS[part]))))
        for index, state in enumerate(raw.get("states", ())):
            if state not in states:
                self.problem((*path, "states", index), unknown_state(state, states))
        when = self.expression((*path, "when"), raw.get("when"), scope)
        roles = self.roles((*path, "roles"), raw.get("roles")) or ()
        return SlaCondition(tuple(raw.get("states", ())), raw.get("on"), when, raw.get("event"), roles)

    def _goals(self, path: Path, raws: Sequence[Mapping[str, Any]], scope: Scope) -> tuple[SlaGoal, ...]:
        goals: list[SlaGoal] = []
        for index, raw in enumerate(raws):
            at: Path = (*path, index)
            for sub, message in duration_problems(raw["duration"]):
                self.problem((*at, "duration", *sub), message)
            if "when" not in raw and index < len(raws) - 1:
                self.problem(at, M("a goal without “when” always holds: it must be the last"))
            goals.append(SlaGoal(raw["duration"], self.expression((*at, "when"), raw.get("when"), scope)))
        return tuple(goals)
