"""Stored values as JSON: the form history entries, exports, bundles and the API carry
(exact decimals as strings, datetimes in UTC with a Z, dates as ISO days)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flowdeck.engine.schema.model import Field


def to_json(field: Field, value: Any) -> Any:
    """A JSON-safe form of a value, for history, exports and the API."""
    if value is None:
        return None
    if isinstance(value, list):
        return [to_json_scalar(v) for v in value]
    return to_json_scalar(value)


def to_json_scalar(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: to_json_scalar(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json_scalar(v) for v in value]
    return value
