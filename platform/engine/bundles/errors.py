"""What goes wrong with a bundle, as messages (engine/messages.py): the errors the bundle
services raise, and the few ways their messages are put together."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from flowdeck.engine.bundles.format import BundleUser
from flowdeck.engine.errors import FlowdeckError, SchemaProblem
from flowdeck.engine.merge import Conflict
from flowdeck.engine.messages import M, Message, Mn, Mp, plain


def lines(messages: Sequence[Message | str], *, indent: bool = False) -> Message:
    """Several messages as one, a line each (`str(error)` for the CLI and logs; the same lines
    in the reader's language on a page). Halved rather than chained, so a thousand problems
    nest ten deep, not a thousand."""
    if not messages:
        return plain("")
    if len(messages) == 1:
        only = messages[0]
        return only if isinstance(only, Message) else plain(only)
    half = len(messages) // 2
    first, then = lines(messages[:half], indent=indent), lines(messages[half:], indent=indent)
    if indent:
        return Mp("lines of a longer text", "%(first)s\n  %(then)s", first=first, then=then)
    return Mp("lines of a longer text", "%(first)s\n%(then)s", first=first, then=then)


LINES = "lines of a longer text"
"""The context of the messages `lines` makes (`apart` takes them apart again)."""


def apart(message: Message | str) -> list[Message | str]:
    """The messages `lines` put together, one a line again (a page lists them)."""
    if isinstance(message, Message) and message.context == LINES:
        return [*apart(message.params["first"]), *apart(message.params["then"])]
    return [message]


def schema_problem(problem: SchemaProblem | Message | str) -> Message | str:
    """A problem of a document as a message: its JSON path, then what is wrong there."""
    if not isinstance(problem, SchemaProblem):
        return problem
    if not problem.path:
        return problem.message
    return M("%(where)s: %(problem)s", where=problem.path, problem=problem.message)


def at(where: Any, problem: Message | str) -> Message:
    """A problem at a place: an entry, a line of one, a path in a document."""
    return M("%(where)s: %(problem)s", where=where, problem=problem)


class BundleError(FlowdeckError):
    """Base of the bundle errors."""


class BundleInvalid(BundleError):
    """A file that is not a usable bundle; `problems` lists every reason found."""

    def __init__(self, problems: Iterable[Message]) -> None:
        self.problems = list(problems)
        super().__init__(lines(self.problems))


class ExportFailed(BundleError):
    """The app cannot be exported as asked (e.g. an attachment's bytes are missing)."""


class ImportRefused(BundleError):
    """The import cannot go ahead as asked; `reasons` say why and what to do instead."""

    def __init__(self, reasons: Iterable[Message | str]) -> None:
        self.reasons = list(reasons)
        super().__init__(lines(self.reasons))


class ImportNeedsMapping(BundleError):
    """The bundle names users that do not exist here; each needs a local user or "create"."""

    def __init__(self, missing_users: Iterable[BundleUser]) -> None:
        self.missing_users = list(missing_users)
        super().__init__(
            M(
                "the bundle refers to users who do not exist here: %(users)s. Map each one to a local user "
                '(user_map {"name": "local.username"}, CLI --user NAME=LOCAL) or create it inactive without a password '
                '({"name": "create"}, --user NAME=create)',
                users=[u.describe() for u in self.missing_users],
            )
        )


class MergeConflicts(BundleError):
    """The upgrade changes something the team also changed; each conflict needs a side."""

    def __init__(self, conflicts: Iterable[Conflict]) -> None:
        self.conflicts = list(conflicts)
        super().__init__(
            Mn(
                "%(num)s conflicting change between your version and the bundle; choose a side for it "
                "(resolutions {path: 'local' | 'incoming'}, CLI --resolve PATH=local|incoming):\n  %(conflicts)s",
                "%(num)s conflicting changes between your version and the bundle; choose a side for each "
                "(resolutions {path: 'local' | 'incoming'}, CLI --resolve PATH=local|incoming):\n  %(conflicts)s",
                len(self.conflicts),
                conflicts=lines([c.describe() for c in self.conflicts], indent=True),
            )
        )
