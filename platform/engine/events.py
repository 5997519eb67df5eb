"""Record events: what happened to a record, told inside the transaction that made it happen.

Automations, webhooks and notification rules react to the same moments (a record created,
a stored value changed, a transition, an approval requested or decided, a comment). Each
reacts by writing its own rows (runs, deliveries, jobs) in that same transaction, so a
reaction exists exactly when its cause committed: the outbox. The writers of records call
`emit` once per change and never know who listens; the reactions subscribe here, and an
app nobody listens to pays one empty loop.

Listening modules are named once, in `LISTENER_MODULES`, and imported on the first event:
a process that writes records (web, worker, CLI, tests) always has every reaction, without
each entry point having to remember to import them.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from flowdeck.engine.messages import M, Message

KINDS: dict[str, Message] = {
    "record.created": M("record created"),
    "record.updated": M("record updated"),
    "record.deleted": M("record deleted"),
    "record.transitioned": M("transition performed"),
    "comment.added": M("comment added"),
    "approval.requested": M("approval requested"),
    "approval.step_decided": M("approval step decided"),
    "approval.decided": M("approval decided"),
    "sla.warning": M("SLA warning"),
    "sla.breached": M("SLA breached"),
}
"""Every kind of event, with its name for admin pages. A new kind is one entry here."""

LISTENER_MODULES: tuple[str, ...] = (
    "flowdeck.engine.automations.listener",
    "flowdeck.engine.watchers",
    "flowdeck.engine.webhooks.outgoing",
    "flowdeck.engine.reminders",
    "flowdeck.engine.timed",
    "flowdeck.engine.sla.lifecycle",
)
"""Modules whose import subscribes their listeners (imported on the first event)."""


@dataclass(frozen=True)
class Cause:
    """Why a change is being made when it is not a person's own click: the automation run
    (or other rule) doing it, and how deep in a chain of such runs it is. Listeners use it
    to keep a rule from triggering itself and to stop chains at a depth limit."""

    kind: str
    key: str
    run_id: int | None = None
    depth: int = 1
    message: Message | None = field(default=None, compare=False)
    """What the history entries of changes made under this cause say (a timed transition's
    "by the system after 7 working days in Resolved"); None: the writer's own words."""


@dataclass(frozen=True)
class Event:
    """One change of one record. `before` and `after` are the stored values (`{}` before a
    create and after a delete); `changed` the keys whose stored value really changed
    (`state` among them when the state moved); `data` what a kind carries besides (a
    comment's id and text, an approval request's id, step and outcome)."""

    kind: str
    app: str
    entity: str
    record_id: int
    actor_id: int | None
    at: dt.datetime
    before: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Any] = field(default_factory=dict)
    changed: frozenset[str] = frozenset()
    state_before: str | None = None
    state_after: str | None = None
    transition: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    cause: Cause | None = None
    model: Any = field(default=None, compare=False, repr=False)
    """The entity's definition (`schema.model.Entity`) as the writer had it: labels, title."""


Listener = Callable[[Connection, Event], None]
_listeners: list[Listener] = []
_interests: dict[Listener, Any] = {}
_subscriptions = [0]
"""Grows with every (un)subscription: the per-registry index of who listens is keyed by it."""
_loaded = False
_cause: contextvars.ContextVar[Cause | None] = contextvars.ContextVar("flowdeck_event_cause", default=None)


def subscribe(listener: Listener, *, interest: Any = None) -> Listener:
    """Add a listener (once). It runs in the writer's transaction: whatever it raises rolls
    the change back, so a listener only records what to do later. `interest(conn, registry)`
    names the (app, entity, kind) it listens to under a registry (`listening.Interest`),
    asked once per registry; without one it is told of every event."""
    if listener not in _listeners:
        _listeners.append(listener)
        _interests[listener] = interest
        _subscriptions[0] += 1
    return listener


def listens(interest: Any) -> Callable[[Listener], Listener]:
    """`subscribe` with an interest, as a decorator."""
    return lambda listener: subscribe(listener, interest=interest)


def unsubscribe(listener: Listener) -> None:
    with contextlib.suppress(ValueError):
        _listeners.remove(listener)
        _interests.pop(listener, None)
        _subscriptions[0] += 1


def listeners_for(conn: Connection, app: str, entity: str, kind: str) -> tuple[Listener, ...]:
    """The listeners of one (app, entity, kind), from the index of the current registry; when
    every listener listens to everything, no registry is needed."""
    _load()
    if all(_interests.get(listener) is None for listener in _listeners):
        return tuple(_listeners)
    from flowdeck.engine import listening  # the registry's loader imports the writers, which import this
    from flowdeck.engine.registry import registry_for

    registry = registry_for(conn)
    memo_key = ("events.listening", _subscriptions[0])
    index = registry.memo.get(memo_key)
    if index is None:
        index = registry.memo[memo_key] = listening.build(conn, registry, [(x, _interests.get(x)) for x in _listeners])
    return index.get((app, entity, kind), index[None])  # type: ignore[union-attr]


def _load() -> None:
    global _loaded
    if not _loaded:
        for name in LISTENER_MODULES:
            importlib.import_module(name)
        _loaded = True


@contextlib.contextmanager
def caused_by(cause: Cause) -> Iterator[Cause]:
    """Mark every event emitted inside the block as caused by `cause`."""
    token = _cause.set(cause)
    try:
        yield cause
    finally:
        _cause.reset(token)


def current_cause() -> Cause | None:
    return _cause.get()


def emit(conn: Connection, event: Event) -> None:
    """Tell every listener about `event`, in the caller's transaction."""
    _load()
    if not _listeners:
        return
    if event.kind not in KINDS:
        raise ValueError(event.kind)  # an unknown kind is a programming error
    _tell(conn, event, listeners_for(conn, event.app, event.entity, event.kind))


def _tell(conn: Connection, event: Event, listeners: tuple[Listener, ...]) -> None:
    if not listeners:
        return
    if event.cause is None and (cause := _cause.get()) is not None:
        event = Event(**{**event.__dict__, "cause": cause})
    for listener in listeners:
        listener(conn, event)


def record_written(
    conn: Connection,
    kind: str,
    *,
    app: str,
    entity: str,
    record_id: int,
    actor_id: int | None,
    at: dt.datetime,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    changed: Iterable[str],
    state_before: str | None,
    state_after: str | None,
    transition: str | None = None,
    model: Any = None,
) -> None:
    """`emit` for the record writers (create, update, transition, delete), which build
    nothing when nobody listens to this app, entity and kind."""
    listeners = listeners_for(conn, app, entity, kind)
    if listeners:
        _tell(
            conn,
            Event(
                kind, app, entity, record_id, actor_id, at, dict(before), dict(after), frozenset(changed),
                state_before, state_after, transition, model=model,
            ),
            listeners,
        )  # fmt: skip


def approval_event(
    conn: Connection,
    kind: str,
    *,
    app: str,
    entity: str,
    record_id: int,
    actor_id: int | None,
    at: dt.datetime,
    model: Any = None,
    **data: Any,
) -> None:
    """`emit` for the approval services: the request's id, transition, step and outcome in `data`."""
    listeners = listeners_for(conn, app, entity, kind)
    if listeners:
        _tell(conn, Event(kind, app, entity, record_id, actor_id, at, data=data, model=model), listeners)
