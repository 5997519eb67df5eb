"""The pieces the engine's texts for admins are composed of, as Messages.

Plans, version differences and schema problems name kinds of values ("many user",
"reference to customer", "decimal with 4 decimal places"), kinds of fields ("an integer
field"), suggestions (`(did you mean "date"?)`) and listings (`(roles: lead, member)`), and
join parts of a sentence the English way (" and ", ", ", "; ", " or "). Each piece is a
nested Message here, so a Chinese admin reads it in Chinese and a translator sees every
word once; type keys, keys and values stay as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from difflib import get_close_matches
from typing import Any

from flowdeck.engine.messages import M, Message, Mp

Words = Message | str
"""A piece of a text: a Message, or a key or value shown as it is."""

# English grammar only (the article before a type name in a msgid), no behaviour.
_AN = frozenset({"integer", "email", "attachment", "autonumber"})


def said_by(exc: BaseException) -> Words:
    """What an error says: its Message, or (an error not yet converted to messages) its text."""
    message = getattr(exc, "message", None)
    if isinstance(message, (Message, str)) and message:
        return message
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, Message) else str(exc)


def type_words(value_type: str, *, many: bool = False, to: str | None = None, computed: bool = False, places: int | None = None) -> Words:
    """A kind of value: `decimal`, `computed money`, `many reference to customer`,
    `decimal with 4 decimal places` (the type key itself is not translated)."""
    words: Words = value_type
    if computed:
        words = M("computed %(type)s", type=words)
    if many:
        words = M("many %(type)s", type=words)
    if to:
        words = M("%(type)s to %(entity)s", type=words, entity=to)
    if places is not None:
        words = M("%(type)s with %(places)s decimal places", type=words, places=places)
    return words


def a_field(field_type: str) -> Message:
    """`a text field`, `an integer field`."""
    if field_type in _AN:
        return M("an %(type)s field", type=field_type)
    return M("a %(type)s field", type=field_type)


def json_kind(value: Any) -> Message:
    """The kind of a JSON value a document holds where another was expected."""
    if value is None:
        return Mp("a kind of value", "null")
    if isinstance(value, bool):
        return Mp("a kind of value", "true/false")
    if isinstance(value, (int, float)):
        return Mp("a kind of value", "a number")
    if isinstance(value, str):
        return Mp("a kind of value", "text")
    if isinstance(value, list):
        return Mp("a kind of value", "a list")
    return Mp("a kind of value", "an object")


def schema_kind(name: str) -> Message:
    """A JSON Schema type (`array`, `integer`, ...) as the kind of value it asks for."""
    kinds = {
        "object": Mp("a kind of value", "an object"),
        "array": Mp("a kind of value", "a list"),
        "string": Mp("a kind of value", "text"),
        "integer": Mp("a kind of value", "a whole number"),
        "number": Mp("a kind of value", "a number"),
        "boolean": Mp("a kind of value", "true or false"),
        "null": Mp("a kind of value", "null"),
    }
    return kinds[name]


def suggestion(word: Any, choices: Sequence[str]) -> Words:
    """` (did you mean "date"?)` for the closest of `choices`, or nothing."""
    if not isinstance(word, str):
        return ""
    close = get_close_matches(word, list(choices), n=1)
    return M(" (did you mean “%(key)s”?)", key=close[0]) if close else ""


def listing(what: str, keys: Sequence[str]) -> Message:
    """What there is to choose from: `(roles: lead, member)` or `(no roles defined)`."""
    shown = list(keys)
    if what == "roles":
        return M("(roles: %(keys)s)", keys=shown) if shown else M("(no roles defined)")
    if what == "entities":
        return M("(entities: %(keys)s)", keys=shown) if shown else M("(no entities defined)")
    if what == "states":
        return M("(states: %(keys)s)", keys=shown) if shown else M("(no states defined)")
    return M("(columns: %(keys)s)", keys=shown) if shown else M("(no columns defined)")


def _chain(parts: Sequence[Words], pair: Callable[[Words, Words], Message]) -> Words:
    if not parts:
        return ""
    out = parts[0]
    for part in parts[1:]:
        out = pair(out, part)
    return out


def and_joined(parts: Sequence[Words]) -> Words:
    """`a and b and c` (in Chinese, parts of one sentence)."""
    return _chain(parts, lambda first, then: M("%(first)s and %(then)s", first=first, then=then))


def or_joined(parts: Sequence[Words]) -> Words:
    """`an object or a list`."""
    return _chain(parts, lambda first, then: M("%(first)s or %(then)s", first=first, then=then))


def comma_joined(parts: Sequence[Words]) -> Words:
    """Parts of one sentence: `2 values are converted, 1 are rounded`."""
    return _chain(parts, lambda first, then: Mp("between parts of a sentence", "%(first)s, %(then)s", first=first, then=then))


def sentences(parts: Sequence[Words]) -> Words:
    """Sentences of one text: `...; the old values are kept in ...`."""
    return _chain(parts, lambda first, then: Mp("between sentences", "%(first)s; %(then)s", first=first, then=then))
