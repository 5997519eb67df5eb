"""Checking and building an approval step's clock and empty-approver policy: `time_limit`
(a duration, usually working hours on a business calendar), its `escalation` chain, the
older `due_hours` / `on_overdue` / `escalation_role` (kept as they were), and `if_nobody`.

Kept apart from `workflows.py` so each stays small; `WorkflowChecks` calls `step_clock`
and `if_nobody` once per step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flowdeck.engine.durations import Duration, duration_of, duration_problems
from flowdeck.engine.messages import M
from flowdeck.engine.schema.checks import Checks, Path
from flowdeck.engine.schema.model import EscalationStage

STAGE_ACTIONS: tuple[str, ...] = ("remind", "overdue", "hand_to_superior", "hand_to", "notify_admins", "add_role")
"""What an escalation stage may do (the meta-schema lists the same words)."""


@dataclass(frozen=True)
class StepClock:
    time_limit: Duration | None
    escalation: tuple[EscalationStage, ...]


@dataclass(frozen=True)
class NobodyPolicy:
    kind: str
    role: str | None = None
    user: str | None = None


def _duration(checks: Checks, path: Path, raw: Mapping[str, Any], inherit: str | None = None) -> Duration | None:
    problems = duration_problems(raw)
    for below, message in problems:
        checks.problem((*path, *below), message)
    if problems:
        return None
    found = duration_of(raw)
    if inherit is not None and found.working and found.calendar is None:
        # A stage without a calendar counts on the time limit's calendar.
        found = Duration(found.unit, found.amount, inherit)
    return found


def step_clock(checks: Checks, path: Path, spec: Mapping[str, Any]) -> StepClock:
    """The step's time limit and escalation chain, every problem at its JSON path. A time
    limit without a chain flags the step overdue at the limit (what `due_hours` does)."""
    if "time_limit" not in spec:
        if "escalation" in spec:
            checks.problem((*path, "escalation"), M("an escalation chain needs “time_limit”"))
        return StepClock(None, ())
    if "due_hours" in spec:
        checks.problem((*path, "due_hours"), M("give either “time_limit” or “due_hours”, not both"))
    for older in ("on_overdue", "escalation_role"):
        if older in spec:
            checks.problem((*path, older), M("belongs to “due_hours”; with “time_limit” say it in “escalation”"))
    limit = _duration(checks, (*path, "time_limit"), spec["time_limit"])
    calendar = limit.calendar if limit is not None and limit.working else None
    raw_stages = spec.get("escalation")
    if raw_stages is None:
        return StepClock(limit, (EscalationStage(limit, "overdue"),) if limit is not None else ())
    stages: list[EscalationStage] = []
    for index, raw in enumerate(raw_stages):
        where = (*path, "escalation", index)
        after = _duration(checks, (*where, "after"), raw["after"], calendar)
        do = raw["do"]
        if do == "hand_to" and "user" not in raw:
            checks.problem(where, M("“hand_to” needs the “user” the task is handed to"))
        if do == "add_role" and "role" not in raw:
            checks.problem(where, M("“add_role” needs the “role” whose members are added"))
        if "user" in raw and do not in ("hand_to", "hand_to_superior"):
            checks.problem((*where, "user"), M("applies only to “hand_to” and “hand_to_superior”"))
        if "role" in raw and do != "add_role":
            checks.problem((*where, "role"), M("applies only to “add_role”"))
        if raw.get("role") is not None and raw["role"] not in checks.role_keys:
            checks.unknown_role((*where, "role"), raw["role"])
        if after is None:
            continue
        earlier = stages[-1].after if stages else None
        if earlier is not None and earlier.unit == after.unit and earlier.calendar == after.calendar and after.amount <= earlier.amount:
            checks.problem((*where, "after"), M("must come after the stage before it (stages run in order)"))
        stages.append(EscalationStage(after, do, raw.get("user"), raw.get("role")))
    return StepClock(limit, tuple(stages))


def if_nobody(checks: Checks, path: Path, raw: Any) -> NobodyPolicy:
    """`escalate` (the default), `skip`, `admins`, `{"role": key}` or `{"user": name}`."""
    if isinstance(raw, str):
        return NobodyPolicy(raw)
    if "role" in raw:
        if raw["role"] not in checks.role_keys:
            checks.unknown_role((*path, "role"), raw["role"])
        return NobodyPolicy("role", role=raw["role"])
    return NobodyPolicy("user", user=raw["user"])
