"""Checking and building workflows and their approvals: states, transitions (sources,
target, roles, guards, required fields), field rules per state, and approval steps
(approvers, modes, quorum, escalation, what is frozen while a request is pending)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flowdeck.engine.expressions import Scope
from flowdeck.engine.fieldtypes import types_in
from flowdeck.engine.messages import M
from flowdeck.engine.schema.approval_timing import if_nobody, step_clock
from flowdeck.engine.schema.checks import Path, opt_label, unknown_field, unknown_state
from flowdeck.engine.schema.effects import EffectChecks
from flowdeck.engine.schema.model import (
    Approval,
    ApprovalStep,
    ApproverSource,
    Field,
    FieldRule,
    Label,
    State,
    Transition,
    Workflow,
    humanize,
)
from flowdeck.engine.schema.timed import timed_transition


class WorkflowChecks(EffectChecks):
    def workflow(
        self, path: Path, spec: Mapping[str, Any], fields: Mapping[str, Any], scope: Scope, typed: Mapping[str, Field] | None = None
    ) -> Workflow:
        state_keys = tuple(spec["states"])
        states = tuple(State(k, Label.of(s.get("label"), humanize(k)), s["category"], s.get("color")) for k, s in spec["states"].items())
        initial = spec.get("initial", state_keys[0])
        if initial not in state_keys:
            self.problem((*path, "initial"), unknown_state(initial, state_keys))

        transitions = []
        seen: dict[str, int] = {}
        for index, tspec in enumerate(spec.get("transitions", [])):
            tpath = (*path, "transitions", index)
            key = tspec["key"]
            if key in seen:
                self.problem(
                    (*tpath, "key"), M("transition “%(key)s” is already defined at transitions[%(index)s]", key=key, index=seen[key])
                )
            seen.setdefault(key, index)
            raw_from = tspec["from"]
            if raw_from == "*":
                sources = tuple(s for s in state_keys if s != tspec["to"])
            else:
                sources = (raw_from,) if isinstance(raw_from, str) else tuple(raw_from)
                for position, state in enumerate(sources):
                    if state not in state_keys:
                        where = (*tpath, "from") if isinstance(raw_from, str) else (*tpath, "from", position)
                        self.problem(where, unknown_state(state, state_keys))
            if tspec["to"] not in state_keys:
                self.problem((*tpath, "to"), unknown_state(tspec["to"], state_keys))
            require = self.field_names((*tpath, "require"), tspec.get("require", []), fields)
            for position, fk in enumerate(require):
                if fk in fields and fields[fk]["type"] in types_in("computed", "serial"):
                    self.problem(
                        (*tpath, "require", position),
                        M("“%(key)s” is %(kind)s: it is filled by the system, not at a step", key=fk, kind=fields[fk]["type"]),
                    )
            approval = (
                self.approval((*tpath, "approval"), tspec["approval"], fields, scope, state_keys, tspec) if "approval" in tspec else None
            )
            after, restart_on_comment = timed_transition(self.problem, tpath, tspec, sources)
            transitions.append(
                Transition(
                    key=key,
                    label=Label.of(tspec.get("label"), humanize(key)),
                    sources=sources,
                    to=tspec["to"],
                    roles=self.roles((*tpath, "roles"), tspec.get("roles")),
                    guard=self.expression((*tpath, "guard"), tspec.get("guard"), scope),
                    guard_message=opt_label(tspec.get("guard_message")),
                    require=require,
                    comment=tspec.get("comment", "none"),
                    approval=approval,
                    effects=self.effects((*tpath, "effects"), tspec.get("effects", []), fields, typed or {}, scope),
                    after=after,
                    restart_on_comment=restart_on_comment,
                )
            )
            if "guard_message" in tspec and "guard" not in tspec:
                self.problem((*tpath, "guard_message"), M("needs a “guard” to explain"))

        rules = []
        for index, rspec in enumerate(spec.get("rules", [])):
            rpath = (*path, "rules", index)
            for position, state in enumerate(rspec.get("states", [])):
                if state not in state_keys:
                    self.problem((*rpath, "states", position), unknown_state(state, state_keys))
            if not any(rspec.get(k) for k in ("hidden", "read_only", "required")):
                self.problem(rpath, M("says nothing: give “hidden”, “read_only” or “required” fields"))
            rules.append(
                FieldRule(
                    states=tuple(rspec["states"]) if "states" in rspec else None,
                    roles=self.roles((*rpath, "roles"), rspec.get("roles")),
                    hidden=frozenset(self.field_names((*rpath, "hidden"), rspec.get("hidden", []), fields)),
                    read_only=frozenset(self.field_names((*rpath, "read_only"), rspec.get("read_only", []), fields)),
                    required=frozenset(self.field_names((*rpath, "required"), rspec.get("required", []), fields)),
                )
            )
        on_create = self.routes((*path, "on_create"), spec.get("on_create", []), state_keys, scope)
        return Workflow(initial=initial, states=states, transitions=tuple(transitions), rules=tuple(rules), on_create=on_create)

    def approval(
        self,
        path: Path,
        spec: Mapping[str, Any],
        fields: Mapping[str, Any],
        scope: Scope,
        state_keys: Sequence[str],
        transition: Mapping[str, Any],
    ) -> Approval:
        steps = []
        seen: dict[str, int] = {}
        for index, sspec in enumerate(spec["steps"]):
            spath = (*path, "steps", index)
            key = sspec["key"]
            if key in seen:
                self.problem((*spath, "key"), M("step “%(key)s” is already defined at steps[%(index)s]", key=key, index=seen[key]))
            seen.setdefault(key, index)
            raw_sources = sspec["approvers"] if isinstance(sspec["approvers"], list) else [sspec["approvers"]]
            sources = []
            for position, source in enumerate(raw_sources):
                where = (*spath, "approvers", position) if isinstance(sspec["approvers"], list) else (*spath, "approvers")
                role = source.get("role")
                if role is not None and role not in self.role_keys:
                    self.unknown_role((*where, "role"), role)
                if "field" in source:
                    fk = source["field"]
                    if fk not in fields:
                        self.problem((*where, "field"), unknown_field(fk, list(fields)))
                    elif fields[fk]["type"] == "lookup":  # its value type is known once lookups are resolved
                        self.user_lookups.append(((*where, "field"), path[1], fk))
                    elif fields[fk]["type"] != "user":
                        self.problem(
                            (*where, "field"),
                            M("“%(key)s” is a %(kind)s field; approvers come from a user field", key=fk, kind=fields[fk]["type"]),
                        )
                sources.append(
                    ApproverSource(
                        role=source.get("role"),
                        users=tuple(source.get("users", ())),
                        field=source.get("field"),
                        relation=source.get("relation"),
                    )
                )
            mode = sspec.get("mode", "quorum" if "quorum" in sspec else "any")
            quorum = sspec.get("quorum")
            if mode == "quorum" and quorum is None:
                self.problem(spath, M("mode “quorum” needs a “quorum” number"))
            if quorum is not None and mode != "quorum":
                self.problem((*spath, "quorum"), M("applies only with mode “quorum” (mode is “%(mode)s”)", mode=mode))
            listed = [u for src in sources for u in src.users]
            if quorum is not None and all(src.users for src in sources) and quorum > len(set(listed)):
                self.problem(
                    (*spath, "quorum"),
                    M(
                        "is larger than the group: %(quorum)s approvals needed, %(count)s approvers listed",
                        quorum=quorum,
                        count=len(set(listed)),
                    ),
                )
            nobody = if_nobody(self, (*spath, "if_nobody"), sspec.get("if_nobody", "escalate"))
            timing = step_clock(self, spath, sspec)
            escalation_role = sspec.get("escalation_role")
            if escalation_role is not None and escalation_role not in self.role_keys:
                self.unknown_role((*spath, "escalation_role"), escalation_role)
            if sspec.get("on_overdue") == "escalate" and escalation_role is None:
                self.problem((*spath, "on_overdue"), M("“escalate” needs an “escalation_role” whose members are added as approvers"))
            if ("on_overdue" in sspec or "escalation_role" in sspec) and "due_hours" not in sspec:
                self.problem(spath, M("overdue handling needs “due_hours”"))
            steps.append(
                ApprovalStep(
                    key=key,
                    label=Label.of(sspec.get("label"), humanize(key)),
                    approvers=tuple(sources),
                    mode=mode,
                    quorum=quorum,
                    when=self.expression((*spath, "when"), sspec.get("when"), scope),
                    if_nobody_role=nobody.role,
                    if_nobody=nobody.kind,
                    if_nobody_user=nobody.user,
                    time_limit=timing.time_limit,
                    escalation=timing.escalation,
                    due_hours=sspec.get("due_hours"),
                    on_overdue=sspec.get("on_overdue", "notify"),
                    escalation_role=escalation_role,
                )
            )
        reject_to = spec.get("reject_to")
        if reject_to is not None and reject_to not in state_keys:
            self.problem((*path, "reject_to"), unknown_state(reject_to, state_keys))
        elif reject_to is not None and reject_to == transition.get("to"):
            self.problem(
                (*path, "reject_to"), M("“%(key)s” is where the transition goes: a rejection would do what approval does", key=reject_to)
            )
        pending = spec.get("while_pending", {})
        frozen_spec = pending.get("frozen")
        frozen: tuple[str, ...] | None
        if frozen_spec == "all":
            frozen = None
        elif frozen_spec is None:
            # What the approvers decide on: the step's required fields and what routes it.
            routed = {name for step in steps if step.when is not None for name in step.when.names if name in fields}
            frozen = tuple(dict.fromkeys([*transition.get("require", ()), *sorted(routed)]))
        else:
            frozen = self.field_names((*path, "while_pending", "frozen"), frozen_spec, fields)
        return Approval(
            steps=tuple(steps),
            reject_to=reject_to,
            self_approval=bool(spec.get("self_approval", False)),
            delegate=bool(spec.get("delegate", False)),
            send_back=bool(spec.get("send_back", False)),
            add_approvers=bool(spec.get("add_approvers", False)),
            frozen=frozen,
            on_edit=pending.get("on_edit", "refuse"),
        )
