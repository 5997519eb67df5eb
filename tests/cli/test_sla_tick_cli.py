"""`flowdeck tick` after a downtime (the held clock moved past an SLA's warning and due
moments while nothing ran) marks both at the moments they fell on, once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from flowdeck.cli import main
from flowdeck.engine import clock, models
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import create_record
from flowdeck.engine.registry import registry_for
from flowdeck.engine.sla.timers import JOB
from tests.support.sla_apps import desk, sh

C, J = models.sla_cycles, models.jobs


@pytest.fixture
def held():
    yield clock.set_now
    clock.set_now(None)


def test_tick_catches_up_after_downtime(db, install, held, monkeypatch, tmp_path):
    """After a downtime past both moments, does one `flowdeck tick` mark the warning and the
    breach at the moments they fell on, and a second tick find nothing due?"""
    monkeypatch.setenv("FLOWDECK_DATABASE_URL", db.url)
    monkeypatch.setenv("FLOWDECK_INSTANCE", str(tmp_path))
    install(desk())
    et = db.read(registry_for).entity("desk", "ticket")
    start = sh(2026, 3, 2, 9, 0)
    clock.set_now(start)
    db.run(lambda c: create_record(c, et, {"title": "Printer", "priority": "p1"}, actor=Actor.system(), now=start))
    clock.set_now(sh(2026, 3, 5, 9, 0))  # three days with nothing running
    first = CliRunner().invoke(main, ["tick"])
    assert first.exit_code == 0, first.output
    assert first.output.strip() == "jobs: done 4"
    cycle = db.read(lambda c: c.execute(sa.select(C).where(C.c.sla == "resolution")).mappings().one())
    assert (cycle["warned_at"], cycle["breached_at"]) == (sh(2026, 3, 2, 12, 0), sh(2026, 3, 2, 14, 30))
    results = db.read(lambda c: list(c.execute(sa.select(J.c.result).where(J.c.kind == JOB)).scalars()))
    assert all(r["late_seconds"] > 0 for r in results)
    assert CliRunner().invoke(main, ["tick"]).output.strip() == "jobs: none due"
