"""Control characters in what people type: refused in text values, tabs and line breaks kept
in multi-line text, read as spaces in searches.

PostgreSQL cannot hold a NUL in text at all, while SQLite stores it without a word, so a NUL
accepted on one database breaks the other (a request fails, a SQLite instance's bundle does not
import into PostgreSQL). The other C0 controls are invisible, break CSV files and mail headers,
and nobody types them on purpose; both databases refuse them alike.
"""

from __future__ import annotations

import re

from flowdeck.engine.messages import M, Message

_CONTROLS = re.compile(r"[\x00-\x1f]")
_CONTROLS_BUT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def has_controls(text: str, *, multiline: bool = False) -> bool:
    """Whether `text` holds a C0 control character (tab, CR and LF allowed when `multiline`)."""
    return (_CONTROLS_BUT_LINE_BREAKS if multiline else _CONTROLS).search(text) is not None


def controls_refusal() -> Message:
    """The field message for a value that holds control characters."""
    return M("must not contain control characters")


def search_text(text: str | None) -> str:
    """What a search looks for: control characters are word breaks, never sent to the database."""
    return _CONTROLS.sub(" ", text or "").strip()
