"""The job kinds: one registry entry per kind of later work, owning its handler, its
attempts and its name in the admin pages.

A handler runs inside the transaction that marks its job done, so whatever it changes in
the database happens exactly once: if the worker dies or loses its lease first, the
transaction rolls back and the job runs again from the start. What a handler sends outside
(mail, a webhook) can be sent again after such a crash: at least once, so a handler that
sends records what it sent in that same transaction and checks it first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from flowdeck.engine.messages import Message, Translator


class PermanentError(Exception):
    """An error that running the job again cannot fix (a bad payload, a record gone): the
    job ends `failed` at once instead of being retried."""


class UnknownKind(PermanentError):
    """A job of a kind this version does not have (written by a newer or older version)."""


@dataclass(frozen=True)
class JobContext:
    """What a handler may use besides its connection: the moment it runs at (a controllable
    clock in tests) and the settings of the process running it."""

    now: dt.datetime
    job_id: int
    attempt: int
    settings: dict[str, Any] = field(default_factory=dict)
    translator: Callable[[str], Translator] | None = None
    prepared: Any = None
    """What the kind's `prepare` returned (None for kinds without one)."""
    together: bool = False
    """Whether the job shares its transaction with other jobs (`Runner._run_group`): a
    handler that needs a savepoint only when something goes wrong may raise instead; the
    batch then rolls back and each job runs again alone, with `together` False."""


Handler = Callable[[Connection, dict[str, Any], JobContext], dict[str, Any] | None]


@dataclass(frozen=True)
class JobKind:
    name: str
    label: Message
    handler: Handler
    max_attempts: int = 5
    prepare: Callable[[Any, dict[str, Any], JobContext], Any] | None = None
    """Work done before the handler's transaction, outside any transaction: network calls
    that may take seconds (a webhook) must not hold SQLite's write lock meanwhile. It gets
    the `Database` (to read) and returns what the handler then records
    (`JobContext.prepared`); an error it raises counts as the attempt's failure."""
    together: bool = False
    """The handler only writes to the database (sends nothing outside, has no `prepare`):
    a worker may run several due jobs of such kinds in one transaction, one commit for all
    (`Runner._run_group`; when one fails, all roll back and run again one by one). A kind
    that sends mail or calls out stays False: that second pass would send again."""


KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    """Add a kind (once per name; a second, different entry for a name is a programming error)."""
    found = KINDS.get(kind.name)
    if found is not None and found != kind:
        raise ValueError(kind.name)  # two different kinds under one name: a programming error
    KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    KINDS.pop(name, None)
