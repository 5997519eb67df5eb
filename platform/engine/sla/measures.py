"""What an `sla` field reads of its SLA's current cycle: its `measure`.

One field type (`sla`) serves every fact of a clock, so lists, filters, sorts, cards,
formulas and automations treat each as a value of a plain type:

| measure     | value type | value                                                          |
|-------------|------------|----------------------------------------------------------------|
| `due`       | datetime   | the due time of a running cycle (empty when paused or stopped) |
| `status`    | select     | `running`, `paused`, `met` or `breached` (`SLA_STATUS`)        |
| `warned`    | boolean    | the warning threshold is passed (or the goal)                  |
| `breached`  | boolean    | the goal is passed                                             |
| `remaining` | integer    | seconds of the goal's time left (negative once breached)       |
| `elapsed`   | integer    | seconds of the goal's time used                                |

The operators are the ones the database answers exactly at the moment of the query
(`storage/sla_sql.py` says why): `elapsed` grows on a calendar the database cannot count, so
it is shown and read by formulas but only filtered by `empty`, and not sorted.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowdeck.engine.schema.label import Label
from flowdeck.engine.schema.model import Option


@dataclass(frozen=True)
class Measure:
    value_type: str
    operators: tuple[str, ...]
    orderable: bool = True


MEASURES: dict[str, Measure] = {
    "due": Measure("datetime", ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "empty")),
    "status": Measure("select", ("eq", "ne", "in", "not_in", "empty")),
    "warned": Measure("boolean", ("eq", "ne", "empty")),
    "breached": Measure("boolean", ("eq", "ne", "empty")),
    "remaining": Measure("integer", ("gt", "gte", "lt", "lte", "empty")),
    "elapsed": Measure("integer", ("empty",), orderable=False),
}
DEFAULT_MEASURE = "due"
DURATIONS = frozenset({"remaining", "elapsed"})
"""Measures in seconds of the goal's time: shown as working time ("2h 15m"), and counted in
Python for a running cycle (`sla.status.fill_running`)."""

# The words of a clock's state, as the record page's SLA panel says them (`sla_badges.status_name`),
# in the colours of the SLA badges' tones (green running, grey paused or met, red breached).
SLA_STATUS = (
    Option("running", Label({"en": "Running", "zh": "运行中"}), "#15803d"),
    Option("paused", Label({"en": "Paused", "zh": "已暂停"}), "#6b7280"),
    Option("met", Label({"en": "Met", "zh": "达成"}), "#6b7280"),
    Option("breached", Label({"en": "Breached", "zh": "超时"}), "#b91c1c"),
)


def measure_of(measure: str | None) -> Measure:
    """The measure a field names (`due` when it names none or one no longer known)."""
    return MEASURES.get(measure or DEFAULT_MEASURE, MEASURES[DEFAULT_MEASURE])


def status_word(status: str, breached: bool) -> str:
    """The `status` value of a cycle: met (stopped in time), breached (at any stage),
    paused or running; the order `status_name` shows them in."""
    if status == "stopped" or status == "met":
        return "breached" if breached else "met"
    if breached:
        return "breached"
    return "paused" if status == "paused" else "running"
