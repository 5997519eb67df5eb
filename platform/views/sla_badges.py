"""SLA badges: one per SLA of a record, in its tone (green running, amber warned, red
breached, grey met) with the working time left ("2h 15m left", "breached 40m ago",
"paused"). Lists, board cards and the record page read the statuses of a whole page with
one statement (`engine.sla.status.statuses`) and build the badges here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flask_babel import format_datetime
from markupsafe import Markup, escape
from sqlalchemy.engine import Connection

from flowdeck.engine import clock
from flowdeck.engine.schema.model import Field
from flowdeck.engine.sla.status import SlaStatus, statuses
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import tr

Statuses = Mapping[int, tuple[SlaStatus, ...]]


def page_statuses(conn: Connection, et: EntityTables, record_ids: Iterable[int]) -> Statuses:
    """The SLA statuses of a page of records: one statement, none for an entity without SLAs."""
    ids = sorted({int(i) for i in record_ids})
    if not et.entity.slas or not ids:
        return {}
    return statuses(conn, et.entity, ids, clock.now())


def working_time(seconds: int) -> str:
    """Working time as hours and minutes ("2h 15m", "40m"); a started minute counts."""
    minutes = max(0, (abs(seconds) + 59) // 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return _("%(hours)dh %(minutes)dm", hours=hours, minutes=minutes)
    if hours:
        return _("%(hours)dh", hours=hours)
    return _("%(minutes)dm", minutes=minutes)


def time_text(st: SlaStatus) -> str:
    """What a badge says after the SLA's name."""
    if st.status == "met":
        return _("met")
    if st.breached or st.remaining_seconds < 0:
        return _("breached %(time)s ago", time=working_time(st.remaining_seconds))
    if st.status == "paused":
        return _("paused")
    return _("%(time)s left", time=working_time(st.remaining_seconds))


def status_name(st: SlaStatus) -> str:
    """The state of a cycle in words (the record page's panel)."""
    if st.status == "met":
        return _("Met")
    if st.breached:
        return _("Breached")
    if st.status == "paused":
        return _("Paused")
    if st.warned:
        return _("Running, warned")
    return _("Running")


def badge(st: SlaStatus, *, named: bool = True) -> Markup:
    """One SLA as a badge in its tone; the due time (when running) in its tooltip. On a
    narrow card the SLA's name gives way (ellipsis), never the time."""
    tip = tr(st.label)
    if st.due_at is not None:
        tip = _("%(sla)s: due %(due)s", sla=tip, due=format_datetime(st.due_at, "short"))
    time = Markup('<span class="sla-time">{}</span>').format(time_text(st))
    name = Markup('<span class="sla-name">{}</span> ').format(tr(st.label)) if named else Markup("")
    return Markup('<span class="badge sla sla-{}" title="{}">{}{}</span>').format(st.tone, tip, name, time)


def signed_time(seconds: int) -> str:
    """Working time left, negative once the goal is passed ("2h 15m", "-40m")."""
    return working_time(seconds) if seconds >= 0 else "-" + working_time(seconds)


def sla_cell(found: Statuses, record_id: int, fld: Field) -> str:
    """A list cell of an `sla` field reading the due time (the badge of the SLA's current
    cycle), the time left (a badge in the cycle's tone) or the time used; "" for no cycle.
    The other measures are plain values (a choice, a yes/no) shown like any other."""
    st = next((s for s in found.get(record_id, ()) if s.sla == fld.sla), None)
    if st is None:
        return ""
    if fld.measure == "remaining":
        return str(Markup('<span class="badge sla sla-{}">{}</span>').format(st.tone, signed_time(st.remaining_seconds)))
    if fld.measure == "elapsed":
        return str(escape(working_time(st.elapsed_seconds)))
    return str(badge(st, named=False))


BADGED = ("due", "remaining", "elapsed")
"""The measures a list or the record page shows from the statuses (`sla_cell`)."""


@dataclass
class SlaMarks:
    """The SLA badges of a board's cards: every SLA that runs, waits or was breached (a met
    one is done and leaves the card)."""

    found: Statuses

    def html(self, record_id: int) -> str:
        shown = [badge(st) for st in self.found.get(record_id, ()) if st.status != "met"]
        if not shown:
            return ""
        return str(Markup('<div class="slas">{}</div>').format(Markup("").join(shown)))
