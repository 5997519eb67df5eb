"""`flowdeck backup` while people keep writing, and `flowdeck restore` into an empty
instance: every table's rows come back equal (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from flowdeck.cli import main
from flowdeck.engine import records
from tests.support.documents import minimal_app


def _rows(db) -> dict[str, list[tuple]]:
    """Every row of every table, in primary key order."""

    def read(conn: sa.Connection) -> dict[str, list[tuple]]:
        metadata = sa.MetaData()
        metadata.reflect(conn)
        out = {}
        for name, table in sorted(metadata.tables.items()):
            order = list(table.primary_key.columns) or list(table.c)
            out[name] = [tuple(row) for row in conn.execute(sa.select(table).order_by(*order))]
        return out

    return db.read(read)


def _env(monkeypatch, db, files: Path, instance: Path) -> None:
    monkeypatch.setenv("FLOWDECK_DATABASE_URL", db.url)
    monkeypatch.setenv("FLOWDECK_INSTANCE", str(instance))
    monkeypatch.setenv("FLOWDECK_FILES_DIR", str(files))


@pytest.fixture
def source(db, install, make_user, tmp_path):
    registry = install(minimal_app())
    lea = make_user("lea", {"demo": ["lead"]})
    files = tmp_path / "files"
    (files / "ab" / "cd").mkdir(parents=True)
    (files / "ab" / "cd" / ("abcd" + "0" * 60)).write_bytes(b"attachment bytes")
    return registry.entity("demo", "task"), lea, files


def test_backup_during_writes_restores_a_consistent_snapshot(source, db, databases, monkeypatch, tmp_path):
    """Does a backup taken during writes restore a snapshot (every table a prefix of the source's), and one of a still source every row?"""
    et, lea, files = source
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            written.append(db.run(lambda c, n=n: records.create_record(c, et, {"title": f"task {n}"}, actor=lea)).id)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 5:
            stop.wait(0.01)
        _env(monkeypatch, db, files, tmp_path / "instance")
        backup = CliRunner().invoke(main, ["backup", "-o", str(tmp_path / "during.tar.gz")])
        after_backup = len(written)
        while len(written) < after_backup + 3 and thread.is_alive():
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join()
    assert backup.exit_code == 0, backup.output
    assert "the secret key is not in the backup" in backup.output

    target = databases.blank()
    try:
        _env(monkeypatch, target, tmp_path / "restored-files", tmp_path / "restored")
        restored = CliRunner().invoke(main, ["restore", str(tmp_path / "during.tar.gz")])
        assert restored.exit_code == 0, restored.output
        before, after = _rows(db), _rows(target)
        assert set(after) == set(before)
        tasks = [row for row in after["demo__task"]]
        assert 5 <= len(tasks) < len(before["demo__task"])
        for name, rows in after.items():
            assert rows == before[name][: len(rows)], f"{name} is not a snapshot of the source"
        history = {row[3] for row in after["fd_history"]}
        assert history == {row[0] for row in tasks}  # each record with its history, nothing torn
        assert (tmp_path / "restored-files" / "ab" / "cd" / ("abcd" + "0" * 60)).read_bytes() == b"attachment bytes"
    finally:
        databases.drop(target)

    _env(monkeypatch, db, files, tmp_path / "instance")
    assert CliRunner().invoke(main, ["backup", "-o", str(tmp_path / "still.tar.gz")]).exit_code == 0
    again = databases.blank()
    try:
        _env(monkeypatch, again, tmp_path / "again-files", tmp_path / "again")
        assert CliRunner().invoke(main, ["restore", str(tmp_path / "still.tar.gz")]).exit_code == 0
        source_rows, copy_rows = _rows(db), _rows(again)
        source_rows.pop("fd_audit"), copy_rows.pop("fd_audit")  # the backup itself is audited after the snapshot
        assert copy_rows == source_rows
    finally:
        databases.drop(again)


def test_restore_refuses_an_instance_that_is_not_empty(source, db, monkeypatch, tmp_path):
    """Is a restore into a database that has tables refused with one line, changing nothing?"""
    _et, _lea, files = source
    _env(monkeypatch, db, files, tmp_path / "instance")
    assert CliRunner().invoke(main, ["backup", "-o", str(tmp_path / "b.tar.gz")]).exit_code == 0
    before = _rows(db)
    refused = CliRunner().invoke(main, ["restore", str(tmp_path / "b.tar.gz")])
    assert refused.exit_code == 1
    assert "is not empty: restore needs an empty one" in refused.output
    assert _rows(db) == before


def test_restore_refuses_a_file_that_is_not_a_backup(db, monkeypatch, tmp_path):
    """Is a file that is not a backup refused with one line?"""
    bogus = tmp_path / "x.tar.gz"
    bogus.write_bytes(b"not a backup")
    _env(monkeypatch, db, tmp_path / "files", tmp_path / "instance")
    result = CliRunner().invoke(main, ["restore", str(bogus)])
    assert result.exit_code == 1 and "is not a Flowdeck backup" in result.output
