"""`flowdeck tick` runs what is due once and says so; `flowdeck worker` runs jobs as they come
and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from flowdeck.cli import main
from flowdeck.engine import models, notifications, users


def _notify_with_mail(db) -> None:
    def work(conn):
        uid = users.create_user(conn, "lin", password="password123", email="lin@example.test")
        notifications.notify(conn, [uid], kind="approval", message="Approval needed")

    db.run(work)


def _statuses(db) -> list[str]:
    return db.read(lambda conn: list(conn.execute(sa.select(models.jobs.c.status)).scalars()))


def test_tick_runs_the_due_jobs_once(db, monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWDECK_DATABASE_URL", db.url)
    monkeypatch.setenv("FLOWDECK_INSTANCE", str(tmp_path))
    _notify_with_mail(db)
    first = CliRunner().invoke(main, ["tick"])
    assert first.exit_code == 0, first.output
    assert first.output.strip() == "jobs: done 1"
    assert _statuses(db) == ["done"]
    assert CliRunner().invoke(main, ["tick"]).output.strip() == "jobs: none due"


def test_the_worker_runs_jobs_as_they_come_and_stops_on_sigterm(db, tmp_path):
    env = {**os.environ, "FLOWDECK_DATABASE_URL": db.url, "FLOWDECK_INSTANCE": str(tmp_path)}
    command = [str(Path(sys.executable).parent / "flowdeck"), "worker"]
    worker = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _notify_with_mail(db)
        deadline = time.monotonic() + 30
        while _statuses(db) != ["done"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _statuses(db) == ["done"]
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=30)[0].decode()
    assert worker.returncode == 0, output
    assert "running jobs on" in output and "done" in output
