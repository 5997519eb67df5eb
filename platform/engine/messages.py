"""Messages as data: what the engine says to a person, as a message id and parameters.

The engine never writes a sentence for a person to read. It raises and stores a `Message`:
the English text is the Babel msgid (marked with `M`, `Mp` or `Mn`, which `make
translations` extracts from `platform/engine/` like `_()` from the views), and the
parameters are data. Whoever shows the message words it in the reader's language at that
moment (`render` with a `Translator`): the web in the request's language, mail and chat in
the recipient's, the CLI in English. Stored messages (history, notes, notifications,
version reasons) are kept as `to_json()` and read back with `Message.from_json`, so
switching the language re-words old entries too.

Parameters hold data, never pre-rendered English: numbers, keys and values as they are;
schema labels as `Label` (both languages; the reader's is picked); other messages (a reason
inside a refusal); lists of these (joined the reader's way). A person's own words (a
comment) are a plain `str` parameter or, better, stored beside the message.

    M("must be at most %(max)s characters (got %(got)s)", max=200, got=250)
    M("you may not perform “%(transition)s”", transition=transition.label)
    Mn("%(num)s record cannot be converted", "%(num)s records cannot be converted", 3)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from flowdeck.engine.schema.label import Label


@dataclass(frozen=True, slots=True)
class Message:
    """A text for a person: its English msgid (and plural and context when it has them) and
    its parameters. `str(message)` is the English text (logs, the CLI, exceptions)."""

    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)
    context: str | None = None
    plural: str | None = None

    def __str__(self) -> str:
        return render(self, ENGLISH)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form for storage; `Message.from_json` reads it back."""
        data: dict[str, Any] = {"id": self.msgid}
        if self.context is not None:
            data["ctx"] = self.context
        if self.plural is not None:
            data["plural"] = self.plural
        if self.params:
            data["params"] = {key: _encode(value) for key, value in self.params.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        params = {key: _decode(value) for key, value in (data.get("params") or {}).items()}
        return cls(str(data["id"]), params, data.get("ctx"), data.get("plural"))


def M(msgid: str, /, **params: Any) -> Message:
    """A message; `msgid` must be a literal so `make translations` finds it."""
    return Message(msgid, params)


def Mp(context: str, msgid: str, /, **params: Any) -> Message:
    """A message whose msgid alone is ambiguous (a short word): `context` tells translators which."""
    return Message(msgid, params, context=context)


def Mn(singular: str, plural: str, num: int, /, **params: Any) -> Message:
    """A message with a plural form chosen by `num` (also available as `%(num)s`)."""
    return Message(singular, {"num": num, **params}, plural=plural)


def plain(text: str | Label) -> Message:
    """A text that is not translated (a person's own words, or a stored text from before
    messages were data): rendered as it is in every language. A `Label` (a text an admin
    wrote in both languages, such as a guard's message) is shown in the reader's."""
    return Message("%(text)s", {"text": text})


LIST_SEPARATOR = Mp("between the items of a list of names", ", ")
"""What joins the items of a list parameter (", " in English, "、" in Chinese); a marker, so
`make translations` keeps it in the catalog."""


class Translator(Protocol):
    """What rendering needs from a catalog: Babel's `Translations` has these methods."""

    def ugettext(self, message: str) -> str: ...

    def upgettext(self, context: str, message: str) -> str: ...

    def ungettext(self, singular: str, plural: str, num: int) -> str: ...

    @property
    def language(self) -> str: ...


class _English:
    """The msgids themselves: English."""

    language = "en"

    def ugettext(self, message: str) -> str:
        return message

    def upgettext(self, context: str, message: str) -> str:
        return message

    def ungettext(self, singular: str, plural: str, num: int) -> str:
        return singular if num == 1 else plural


ENGLISH: Translator = _English()


def render(message: Message | str | None, translator: Translator = ENGLISH) -> str:
    """`message` in the translator's language. A `str` is shown as it is (a text stored
    before messages were data). A translation whose placeholders do not fit the message's
    parameters falls back to the English text rather than failing the page."""
    if message is None:
        return ""
    if isinstance(message, str):
        return message
    if message.plural is not None:
        num = int(message.params.get("num", 0))
        text = translator.ungettext(message.msgid, message.plural, num)
        english = message.msgid if num == 1 else message.plural
    elif message.context is not None:
        text = translator.upgettext(message.context, message.msgid)
        english = message.msgid
    else:
        text = translator.ugettext(message.msgid)
        english = message.msgid
    if not message.params:
        return text if "%(" not in text else _format(text, {}, english)
    values = {key: render_value(value, translator) for key, value in message.params.items()}
    return _format(text, values, english)


def _format(text: str, values: Mapping[str, str], english: str) -> str:
    try:
        return text % values
    except (KeyError, ValueError, TypeError):
        try:
            return english % values
        except (KeyError, ValueError, TypeError):
            return english


def render_value(value: Any, translator: Translator = ENGLISH) -> str:
    """One parameter as text in the translator's language."""
    if isinstance(value, Message):
        return render(value, translator)
    if isinstance(value, Label):
        return value.get(translator.language)
    if isinstance(value, (list, tuple)):
        separator = translator.upgettext(str(LIST_SEPARATOR.context), LIST_SEPARATOR.msgid)
        return separator.join(render_value(item, translator) for item in value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="minutes")
    return str(value)


def _encode(value: Any) -> Any:
    if isinstance(value, Message):
        return {"msg": value.to_json()}
    if isinstance(value, Label):
        return {"label": dict(value.texts)}
    if isinstance(value, (list, tuple)):
        return {"list": [_encode(item) for item in value]}
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "msg" in value:
            return Message.from_json(value["msg"])
        if "label" in value:
            return Label(dict(value["label"]))
        if "list" in value:
            return tuple(_decode(item) for item in value["list"])
    return value


def english(messages: Iterable[Message | str]) -> list[str]:
    """Messages in English (for logs, the CLI and tests that read what was said)."""
    return [render(m) for m in messages]
