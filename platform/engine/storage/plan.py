"""The old home of the migration planner, now `engine/migrate/` (see its docstring for why
it left storage). Importing these names from here keeps working; storage itself never
imports the planner, which needs records and approvals: the names are looked up in
`engine.migrate` on first use."""

from __future__ import annotations

import importlib
from typing import Any

from flowdeck.engine.storage.ddl import add_column_ddl, default_in_ddl, literal_default

_MOVED = {"MAX_SAMPLES", "Plan", "Question", "Step", "TypeChange", "archived_fields", "describe_type", "make_plan", "signature"}

__all__ = ["add_column_ddl", "default_in_ddl", "literal_default", *sorted(_MOVED)]


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(importlib.import_module("flowdeck.engine.migrate"), name)
    raise AttributeError(name)
