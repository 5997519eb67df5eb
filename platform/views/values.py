"""The small pieces every shown value is built from: a badge in a schema colour, a number
in the reader's language, currency signs. Kept apart from `display` so the field widget
registry (`field_widgets`) and `display` can both use them."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

from flask_babel import format_decimal
from markupsafe import Markup, escape

from flowdeck.views.assets import badge_class

CURRENCY_SIGNS = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "HKD": "HK$"}


def badge(text: str, color: str | None) -> Markup:
    """A badge in a schema colour (a class of the colours' stylesheet, `assets.badge_class`).
    Plain-text labels are kept per process (a list page shows the same few hundreds of
    times); only `str` is cached, so a label given as Markup is never confused with the
    same characters given as text."""
    if type(text) is str:
        return _text_badge(text, color)
    return Markup('<span class="badge{}">{}</span>').format(badge_class(color), text)


@lru_cache(maxsize=4096)
def _text_badge(text: str, color: str | None) -> Markup:
    return Markup(f'<span class="badge{badge_class(color)}">{escape(text)}</span>')  # noqa: S704 -- text escaped here


def number(value: Any, scale: int | None = None) -> str:
    if isinstance(value, Decimal) and scale is not None:
        pattern = "#,##0" + ("." + "0" * scale if scale else "")
        return format_decimal(value, format=pattern)
    return format_decimal(value)
