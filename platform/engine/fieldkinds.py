"""Pieces of the field type registry (`engine.fieldtypes`) that one type owns: the refusal
every type raises, and the rating's own range and settings. Kept apart so the registry
stays one readable table."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from flowdeck.engine.errors import ValueRefused
from flowdeck.engine.messages import M, Message
from flowdeck.engine.schema.model import Field

DEFAULT_RATING_MAX, MAX_RATING_MAX = 5, 10


class InvalidValue(ValueRefused):
    """A value that does not fit its field; `message` is shown next to the field."""


def rating_max(field: Field) -> int:
    """How many stars a rating field gives: its `max`, 5 unless set."""
    top = field.max
    if isinstance(top, (int, Decimal)) and not isinstance(top, bool):
        return int(top)
    return DEFAULT_RATING_MAX


def check_rating(field: Field, value: int) -> None:
    top = rating_max(field)
    if not 1 <= value <= top:
        raise InvalidValue(M("must be a rating from 1 to %(max)s", max=top))


def rating_settings(field: Field) -> Iterable[tuple[str, Message]]:
    top = field.max  # a bound that is no number at all is reported by the bounds check
    if isinstance(top, (int, float)) and not isinstance(top, bool) and (top != int(top) or not 2 <= top <= MAX_RATING_MAX):
        yield "max", M("must be a whole number from 2 to %(max)s", max=MAX_RATING_MAX)
