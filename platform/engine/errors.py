"""Typed errors of the engine. Each carries everything a caller needs to answer a person:
the web layer maps them to status codes in one place, the CLI prints them. What they say is
a `Message` (engine/messages.py), worded by whoever shows it; `str(error)` is English."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowdeck.engine.messages import M, Message


class FlowdeckError(Exception):
    """Base of every error the engine raises on purpose; `message` says why."""

    def __init__(self, message: Message | str = "") -> None:
        self.message: Message | str = message
        super().__init__(str(message))


@dataclass(frozen=True)
class SchemaProblem:
    """What is wrong at a JSON path of an app document (`entities.task.fields.due.type`)."""

    path: str
    message: Message | str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else str(self.message)

    def with_path(self) -> Message | str:
        """The problem with its path in front, for showing it in a person's language."""
        return M("%(path)s: %(problem)s", path=self.path, problem=self.message) if self.path else self.message


class SchemaInvalid(FlowdeckError):
    """An app document with problems; `problems` lists all of them, each with its JSON path."""

    def __init__(self, problems: Iterable[SchemaProblem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__("\n".join(str(p) for p in self.problems))


class FormInvalid(FlowdeckError):
    """Settings an admin form sends that cannot be saved (a webhook endpoint, an incoming
    hook): `errors` maps the form's fields to what is wrong, for the page to show."""

    def __init__(self, errors: dict[str, list[Message]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {', '.join(str(m) for m in v)}" for k, v in errors.items()))


class RecordInvalid(FlowdeckError):
    """Record data that does not fit the entity; `errors` maps field keys to messages.

    The key `_record` holds problems that belong to no single field. `records` are the
    other records a problem names, as (entity key, id): the web links them.
    """

    def __init__(self, errors: Mapping[str, Sequence[Message | str]], records: Iterable[tuple[str, int]] = ()) -> None:
        self.errors: dict[str, list[Message | str]] = {k: list(v) for k, v in errors.items()}
        self.records = list(records)
        super().__init__("; ".join(f"{k}: {', '.join(str(m) for m in v)}" for k, v in self.errors.items()))


class ValueRefused(ValueError):
    """A value the engine refuses (a field value, a filter, an expression, an upload):
    `message` says why, `str(error)` is English. A ValueError, so callers that parse
    values catch it with Python's own."""

    def __init__(self, message: Message | str) -> None:
        self.message: Message | str = message
        super().__init__(str(message))


class Conflict(FlowdeckError):
    """A write based on a stale version: someone else saved first. Nothing was written."""

    def __init__(self, message: Message | str, current_version: int | None = None) -> None:
        self.current_version = current_version
        super().__init__(message)


class Forbidden(FlowdeckError):
    """The actor may not do this."""


class NotFound(FlowdeckError):
    """No such app, entity or record (or the actor may not know it exists)."""


class TransitionRefused(FlowdeckError):
    """A workflow transition that is not allowed now; the message says why. `records`:
    the other records it names, as for RecordInvalid."""

    def __init__(self, message: Message | str, missing: Iterable[str] = (), records: Iterable[tuple[str, int]] = ()) -> None:
        self.missing = list(missing)
        self.records = list(records)
        super().__init__(message)


class MigrationRefused(FlowdeckError):
    """A schema change the migration planner will not apply safely. `plan`, when given, is
    the plan that was refused (for printing it with the reasons)."""

    def __init__(self, reasons: Iterable[Message | str], plan: Any = None) -> None:
        self.reasons = list(reasons)
        self.plan = plan
        super().__init__("\n".join(str(reason) for reason in self.reasons))


class ChoicesNeeded(MigrationRefused):
    """The migration plan asks questions (where records in a removed state go, what to do
    with values that cannot be converted, ...) that have no answer yet. Nothing was
    applied; `questions` lists the unanswered ones, each with its choices."""

    def __init__(self, questions: Iterable[Any], plan: Any = None) -> None:
        self.questions = list(questions)
        reasons = [
            M(
                "%(question_id)s needs an answer: %(question)s (choices: %(choices)s)",
                question_id=q.id,
                question=q.text,
                choices=[value for value, _ in q.choices],
            )
            for q in self.questions
        ]
        super().__init__(reasons, plan)


class DatabaseUnavailable(FlowdeckError):
    """The database cannot be reached; the message names the URL with its password hidden."""
