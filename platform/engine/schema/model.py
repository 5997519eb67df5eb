"""The parsed form of an app document: frozen dataclasses with the queries callers need.

The loader resolves every name (entity, field, state, role, view) before building these,
so code holding an `App` never meets a dangling reference.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowdeck.engine.expressions import Expression
from flowdeck.engine.recurrence import Recurrence
from flowdeck.engine.schema.label import Label
from flowdeck.engine.schema.workflow_model import (  # noqa: F401 (re-exported: callers import the whole model from here)
    Approval,
    ApprovalStep,
    ApproverSource,
    Effect,
    EscalationStage,
    FieldRule,
    Route,
    State,
    Transition,
    Workflow,
)


def humanize(key: str) -> str:
    """`due_date` -> `Due date`, the label used when a document gives none."""
    return key.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Option:
    key: str
    label: Label
    color: str | None = None


@dataclass(frozen=True)
class Lookup:
    """Where a lookup field's value comes from: `path` as written (`project.sponsor`), the
    reference fields it follows (`hops`, each (entity, field)), and the field it ends on.
    `mode` "live" reads the referenced record's value whenever the record is read (no column);
    "copy" stores the value found when the first reference was set or changed.
    The loader fills `hops`, `target_entity`, `target` and `value_type`; a live lookup of a
    live lookup is followed through, so `target` always has a column."""

    path: tuple[str, ...]
    mode: str = "live"
    hops: tuple[tuple[str, str], ...] = ()
    target_entity: str | None = None
    target: str | None = None
    value_type: str | None = None

    @property
    def live(self) -> bool:
        return self.mode == "live"

    @property
    def reference(self) -> str:
        """The field of this record the path starts with."""
        return self.path[0]


@dataclass(frozen=True)
class Rollup:
    """What a roll-up field aggregates, resolved by the loader.

    `source` is the entity (or, for child rows, the table field) whose records are
    aggregated; `via` the reference that points at the parent (`parent_id` for child rows);
    `kind` is `reverse` (records of `source` whose `via` is this record), `rows` (this
    record's child rows) or `tree` (every descendant through the entity's `tree` field).
    """

    over: str
    kind: str
    source: str
    via: str
    aggregate: str
    field: str | None = None
    weight: str | None = None
    where: Expression | None = None
    condition: Expression | None = None

    @property
    def reads(self) -> frozenset[str]:
        """The source fields whose change can move the result (the reference included)."""
        names = {n for n in (self.field, self.weight, self.via) if n}
        for expression in (self.where, self.condition):
            if expression is not None:
                names |= expression.names
        return frozenset(names)


@dataclass(frozen=True)
class Field:
    key: str
    type: str
    label: Label
    help: Label | None = None
    required: bool = False
    required_if: Expression | None = None
    show_if: Expression | None = None
    default: Any = None
    unique: bool = False
    indexed: bool = False
    read_only: bool = False
    min: Any = None
    max: Any = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    options: tuple[Option, ...] = ()
    many: bool = False
    to: str | None = None
    currency: str | None = None
    scale: int | None = None
    format: str | None = None
    formula: Expression | None = None
    result: str | None = None
    fields: tuple[Field, ...] = ()
    min_rows: int | None = None
    max_rows: int | None = None
    accept: tuple[str, ...] = ()
    max_size_mb: float | None = None
    was: str | None = None
    computed_order: tuple[str, ...] = ()
    lookup: Lookup | None = None
    rollup: Rollup | None = None
    sla: str | None = None
    """An `sla` field's SLA key: its value is a fact of that SLA's current cycle (read, never stored)."""
    measure: str = "due"
    """Which fact of the cycle an `sla` field reads (`engine/sla/measures.py`)."""

    @property
    def is_computed(self) -> bool:
        return self.type == "computed"

    @property
    def is_live_lookup(self) -> bool:
        """No column: the value is read with the record (a live lookup through its references,
        an `sla` field from the SLA's cycles)."""
        return (self.lookup is not None and self.lookup.live) or self.sla is not None

    @property
    def is_table(self) -> bool:
        return self.type == "table"

    @property
    def is_many(self) -> bool:
        """Many-valued fields live in a link table, not a column."""
        return self.many or self.type == "multiselect"

    @property
    def value_type(self) -> str:
        """The type whose values this field holds (a computed field's result type)."""
        if self.type == "computed":
            return self.result or "decimal"
        if self.lookup is not None:
            return self.lookup.value_type or "text"
        return self.result or self.type

    @property
    def derived(self) -> bool:
        """Its value is worked out by the engine (a formula, a roll-up or a lookup), never typed."""
        return self.result is not None or self.type == "computed" or self.lookup is not None

    @property
    def editable(self) -> bool:
        return not (self.read_only or self.derived or self.type == "autonumber")

    def option(self, key: str) -> Option | None:
        return next((o for o in self.options if o.key == key), None)

    def option_keys(self) -> tuple[str, ...]:
        return tuple(o.key for o in self.options)

    def child(self, key: str) -> Field:
        return next(f for f in self.fields if f.key == key)


@dataclass(frozen=True)
class Section:
    label: Label
    fields: tuple[str, ...]


@dataclass(frozen=True)
class WipLimit:
    max: int
    enforce: str = "warn"


@dataclass(frozen=True)
class View:
    key: str
    type: str
    label: Label
    filter: Mapping[str, Any] = field(default_factory=dict)
    sort: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    page_size: int = 50
    group_by: str | None = None
    card: tuple[str, ...] = ()
    swimlanes: str | None = None
    wip: Mapping[str, WipLimit] = field(default_factory=dict)
    collapsed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Related:
    """The records of another entity (or this one) whose reference `via` points at the
    record being checked: a milestone's tasks (`task.milestone`), the tasks that depend on
    this one (`task.depends_on`, many-valued). `where` picks the records that count."""

    entity: str
    label: Label
    title: str
    via: str
    many: bool = False
    where: Expression | None = None
    field_labels: tuple[tuple[str, Label], ...] = ()


@dataclass(frozen=True)
class Guard:
    """A rule of another entity that reads this entity's records through `via`: saving one
    of them waits for that rule's lock on the record `via` points at."""

    entity: str
    constraint: str
    via: str


@dataclass(frozen=True)
class Constraint:
    """A rule across records (`constraints` of an entity), checked on save and at
    transitions (only at the transitions in `on` when given).

    `kind` is one of `unique` (no other record with the same `scope` values),
    `no_overlap` (no other record in the scope whose `start`..`end` range meets this
    one's), `total` (the sum of `field` over the scope's records or the `related` ones,
    within `min`/`max` or `equals`), `none`, `all`, `exists` (over the `related` records).
    `where` says which records of this entity the rule is about; `filter` which of the
    summed records count (a total's own `where`)."""

    key: str
    kind: str
    message: Label | None = None
    where: Expression | None = None
    on: tuple[str, ...] | None = None
    scope: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    day_bounds: bool = True
    field: str | None = None
    filter: Expression | None = None
    related: Related | None = None
    min: Expression | None = None
    max: Expression | None = None
    equals: Expression | None = None
    reads: frozenset[str] = frozenset()
    """The names of this entity the rule reads: when none of them changed, a save does
    not check it again (records that broke a rule added later keep their other edits)."""

    def applies_at(self, transition: str | None) -> bool:
        """Whether it is checked at this save (`None`) or transition."""
        return self.on is None or (transition is not None and transition in self.on)


@dataclass(frozen=True)
class Permissions:
    """Which roles may do what; `None` for an action means every role of the app."""

    read: tuple[str, ...] | None = None
    create: tuple[str, ...] | None = None
    update: tuple[str, ...] | None = None
    delete: tuple[str, ...] | None = None

    def roles_for(self, action: str) -> tuple[str, ...] | None:
        return getattr(self, action)


@dataclass(frozen=True)
class Reminder:
    """A notification `days` (working days when `working`) before (negative) or after a
    date field, at `at` local time (None: the time of a date-and-time value, or 09:00)."""

    key: str
    field: str
    days: int
    working: bool = False
    at: dt.time | None = None
    to: tuple[str, ...] = ()
    message: Label | None = None


@dataclass(frozen=True)
class ScheduleCreate:
    """The records an occurrence creates: one in `entity`, or one per record of `for_each`
    that `where` accepts, each field's value worked out by its expression."""

    entity: str
    values: Mapping[str, Expression]
    for_each: str | None = None
    where: Expression | None = None


@dataclass(frozen=True)
class Schedule:
    key: str
    label: Label
    create: ScheduleCreate
    recurrence: Recurrence
    catch_up: str = "once"
    catch_up_window: dt.timedelta = dt.timedelta(days=7)


@dataclass(frozen=True)
class SlaCondition:
    """When an SLA starts, pauses or stops (any part that holds): a state entered (`states`;
    for a pause, being in one), the record created (`on`), an expression that becomes true
    (for a pause: holds), or an event such as a comment by someone holding one of `roles`."""

    states: tuple[str, ...] = ()
    on: str | None = None
    when: Expression | None = None
    event: str | None = None
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class SlaGoal:
    """A goal: the first whose `when` holds (None: always) is the cycle's; `duration` is the
    checked document value (`durations.duration_of` reads it)."""

    duration: Mapping[str, Any]
    when: Expression | None = None


@dataclass(frozen=True)
class Sla:
    """An SLA definition of an entity. `version` is a hash of the definition's behaviour
    (everything but its label), kept on each cycle it starts (`engine/sla/versions.py`)."""

    key: str
    label: Label
    start: SlaCondition
    stop: SlaCondition
    goals: tuple[SlaGoal, ...]
    pause: SlaCondition | None = None
    warning: int = 75
    version: int = 0


@dataclass(frozen=True)
class Entity:
    key: str
    app: str
    label: Label
    plural: Label
    title: str
    fields: tuple[Field, ...]
    sections: tuple[Section, ...] = ()
    tree: str | None = None
    workflow: Workflow | None = None
    permissions: Permissions = Permissions()
    views: tuple[View, ...] = ()
    search: tuple[str, ...] = ()
    description: Label | None = None
    computed_order: tuple[str, ...] = ()
    reminders: tuple[Reminder, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    guarded_by: tuple[Guard, ...] = ()
    slas: tuple[Sla, ...] = ()
    clocked: tuple[str, ...] = ()  # formulas whose value changes with time (`schema.fields.clocked_keys`)

    def field(self, key: str) -> Field | None:
        return self._by_key.get(key)

    def get_field(self, key: str) -> Field:
        try:
            return self._by_key[key]
        except KeyError:
            raise KeyError(f"{self.app}.{self.key}.{key}") from None  # a lookup by code: the missing name

    @property
    def _by_key(self) -> dict[str, Field]:
        cached = self.__dict__.get("_field_index")
        if cached is None:
            cached = {f.key: f for f in self.fields}
            object.__setattr__(self, "_field_index", cached)
        return cached

    def stored_fields(self) -> Iterator[Field]:
        """Fields with a column of their own in the entity table."""
        return (f for f in self.fields if not f.is_table and not f.is_many and not f.is_live_lookup)

    def lookups(self) -> Iterator[Field]:
        """The lookup fields, live and copied."""
        return (f for f in self.fields if f.lookup is not None)

    def view(self, key: str) -> View | None:
        return next((v for v in self.views if v.key == key), None)

    def title_field(self) -> Field:
        return self.get_field(self.title)


@dataclass(frozen=True)
class Role:
    key: str
    label: Label
    description: Label | None = None


@dataclass(frozen=True)
class AutomationAction:
    """One action of an automation: its type (an entry of `automations/actions.py`) and the
    settings that entry's check built from the document."""

    type: str
    settings: Any
    index: int


@dataclass(frozen=True)
class Automation:
    """A rule of the app document's `automations`: when `trigger` happens to a record of
    `entity` and `condition` holds, run `actions` (as the system or the event's actor)."""

    key: str
    label: Label
    entity: str
    trigger: str
    trigger_settings: Any
    condition: Expression | None
    actions: tuple[AutomationAction, ...]
    run_as: str = "system"
    enabled: bool = True
    rate_limit: int = 100


@dataclass(frozen=True)
class App:
    key: str
    label: Label
    roles: tuple[Role, ...]
    entities: tuple[Entity, ...]
    source: str | None = None
    description: Label | None = None
    document: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    schedules: tuple[Schedule, ...] = ()

    def schedule(self, key: str) -> Schedule | None:
        return next((s for s in self.schedules if s.key == key), None)

    automations: tuple[Automation, ...] = ()

    def entity(self, key: str) -> Entity | None:
        return next((e for e in self.entities if e.key == key), None)

    def get_entity(self, key: str) -> Entity:
        entity = self.entity(key)
        if entity is None:
            raise KeyError(f"{self.key}.{key}")  # a lookup by code: the missing name
        return entity

    def role_keys(self) -> tuple[str, ...]:
        return tuple(r.key for r in self.roles)

    def automation(self, key: str) -> Automation | None:
        return next((a for a in self.automations if a.key == key), None)
