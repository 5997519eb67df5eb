"""PostgreSQL backups need pg_dump and pg_restore at least as new as the server: a missing
or older client is one clear refusal naming what to install."""

from __future__ import annotations

import stat

import pytest

from flowdeck.engine import backup


class _Server:
    """Answers the server version query of `check_pg_tool` as a PostgreSQL 16 server would."""

    def read(self, work):
        return "16.4 (Debian 16.4-1.pgdg120+1)"


def _fake_tool(folder, name: str, version: str) -> str:
    path = folder / name
    path.write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) {version}'\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_a_missing_pg_dump_is_one_clear_refusal(monkeypatch):
    """Without pg_dump, is the backup refused with one line naming the client to install?"""
    monkeypatch.setattr(backup.shutil, "which", lambda name: None)
    with pytest.raises(backup.BackupFailed) as refused:
        backup.check_pg_tool(_Server(), "pg_dump")
    assert str(refused.value) == "pg_dump is not installed: install the PostgreSQL 16 client tools (e.g. apt-get install postgresql-client)"


def test_an_older_pg_dump_than_the_server_is_refused(monkeypatch, tmp_path):
    """Is a pg_dump older than the server refused (it cannot dump a newer server), and a same or newer one taken?"""
    old = _fake_tool(tmp_path, "pg_dump", "15.8 (Debian 15.8-0+deb12u1)")
    monkeypatch.setattr(backup.shutil, "which", lambda name: old)
    with pytest.raises(backup.BackupFailed, match="pg_dump is version 15 but the server is 16"):
        backup.check_pg_tool(_Server(), "pg_dump")
    (tmp_path / "new").mkdir()
    new = _fake_tool(tmp_path / "new", "pg_restore", "17.2")
    monkeypatch.setattr(backup.shutil, "which", lambda name: new)
    assert backup.check_pg_tool(_Server(), "pg_restore") == new
