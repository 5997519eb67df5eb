"""`flowdeck tick` after downtime (a held clock): the time-driven transitions whose wait
ended meanwhile are performed, the others wait on."""

from __future__ import annotations

import copy

from click.testing import CliRunner

from flowdeck.cli import main
from flowdeck.engine import clock
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import create_record, fetch_record
from flowdeck.engine.workflow import transition_record
from tests.support.timed import DOC, sh


def _resolved(db, et, now):
    record = db.run(lambda c: create_record(c, et, {"title": "Printer"}, actor=Actor.system(), now=now))
    db.run(lambda c: transition_record(c, et, record.id, "resolve", actor=Actor.system(), now=now))
    return record.id


def _state(db, et, record_id):
    return db.read(lambda c: fetch_record(c, et, record_id).state)


def test_tick_after_downtime_performs_the_overdue_transitions(db, install, monkeypatch, tmp_path):
    """Nothing ran for a month (held clock): does one `flowdeck tick` close the overdue tickets only?"""
    monkeypatch.setenv("FLOWDECK_DATABASE_URL", db.url)
    monkeypatch.setenv("FLOWDECK_INSTANCE", str(tmp_path))
    et = install(copy.deepcopy(DOC)).entity("hd", "ticket")
    overdue = _resolved(db, et, sh(2026, 3, 2, 10))
    fresh = _resolved(db, et, sh(2026, 4, 1, 10))
    clock.set_now(sh(2026, 4, 2, 9))
    try:
        first = CliRunner().invoke(main, ["tick"])
        assert first.exit_code == 0, first.output
        assert "done 1" in first.output
        assert _state(db, et, overdue) == "closed" and _state(db, et, fresh) == "resolved"
    finally:
        clock.set_now(None)
