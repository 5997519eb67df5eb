"""A whole instance in one file, and back: the database and the uploaded files.

The backup (`write_backup`) is a gzipped tar:

    manifest.json       format, Flowdeck version, time, database kind, system revision,
                        how many files, and where the secret key lives (it is NOT inside)
    database.sqlite     SQLite: the online backup API's copy (a consistent snapshot taken
                        while others keep writing)
    database.pgdump     PostgreSQL: `pg_dump --format=custom` (one snapshot transaction)
    files/...           the files folder, taken after the database: every file the
                        snapshot names is in it (a file is stored before its record)
    README.txt          how to restore, and the note about the secret key

`restore_backup` puts one back into an *empty* instance: a database without tables (or a
SQLite file that does not exist yet) and an empty files folder; anything else is refused
before a thing is written. PostgreSQL needs `pg_dump` / `pg_restore` at least as new as the
server; a missing or older client is one clear refusal. A backup restores onto the same
kind of database it was taken from.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from flowdeck.engine import clock
from flowdeck.engine.db import Database, describe_url
from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.messages import M
from flowdeck.engine.system import VERSION_TABLE

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_ENTRY = "database.sqlite"
PG_ENTRY = "database.pgdump"
FILES = "files"
KEY_NOTE = (
    "The secret key is not in this backup. It is FLOWDECK_SECRET_KEY, or the file secret_key in the instance folder.\n"
    "Keep a copy of it apart from the backups. Without it every data item restores all the same, but everyone is signed out\n"
    "and password links sent before stop working.\n"
)


class BackupFailed(FlowdeckError):
    """The backup or restore could not be done; nothing was left half-written."""


@dataclass(frozen=True)
class Summary:
    database: str
    files: int
    size: int
    revision: str | None


def _sqlite_path(url: str) -> Path:
    parsed = sa.make_url(url)
    if not parsed.database or parsed.database == ":memory:":
        raise BackupFailed(M("a SQLite database in memory cannot be backed up or restored"))
    return Path(parsed.database)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI (no password in it) and the environment giving the password."""
    parsed = sa.make_url(url).set(drivername="postgresql")
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    return parsed.set(password=None).render_as_string(hide_password=False), env


def _major(text: str) -> int | None:
    match = re.search(r"(\d+)(?:\.\d+)?", text)
    return int(match.group(1)) if match else None


def check_pg_tool(db: Database, tool: str) -> str:
    """The path of `tool` (pg_dump, pg_restore) if it can handle this server; else BackupFailed."""
    found = shutil.which(tool)
    server_text = db.read(lambda conn: str(conn.exec_driver_sql("SHOW server_version").scalar()))
    server = _major(server_text)
    if found is None:
        raise BackupFailed(
            M(
                "%(tool)s is not installed: install the PostgreSQL %(major)s client tools (e.g. apt-get install postgresql-client)",
                tool=tool,
                major=server,
            )
        )
    output = subprocess.run([found, "--version"], capture_output=True, text=True, check=False).stdout  # noqa: S603
    found_version = re.search(r"\(PostgreSQL\)\s+(\d+)", output)
    client = int(found_version.group(1)) if found_version else None
    if client is None or server is None or client < server:
        raise BackupFailed(
            M(
                "%(tool)s is version %(client)s but the server is %(server)s: install the PostgreSQL %(server)s client tools",
                tool=tool,
                client=client,
                server=server,
            )
        )
    return found


def _revision(db: Database) -> str | None:
    def read(conn: sa.Connection) -> str | None:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return None
        return ",".join(sorted(r[0] for r in conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}")))

    return db.read(read)


def write_backup(db: Database, files_dir: Path, output: Path, *, flowdeck_version: str) -> Summary:
    """Write the backup of `db` and `files_dir` to `output` (atomically: a temporary file
    renamed at the end)."""
    output = output.resolve()
    temp = output.with_name(f".{output.name}.part")
    revision = _revision(db)
    with tempfile.TemporaryDirectory(prefix="flowdeck-backup-") as work:
        if db.dialect == "sqlite":
            entry, snapshot = SQLITE_ENTRY, Path(work) / SQLITE_ENTRY
            source = sqlite3.connect(_sqlite_path(db.url))
            target = sqlite3.connect(snapshot)
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
        else:
            entry, snapshot = PG_ENTRY, Path(work) / PG_ENTRY
            tool = check_pg_tool(db, "pg_dump")
            uri, env = _libpq(db.url)
            done = subprocess.run(  # noqa: S603
                [tool, "--format=custom", "--no-owner", "--no-privileges", f"--file={snapshot}", f"--dbname={uri}"],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if done.returncode != 0:
                raise BackupFailed(M("pg_dump failed: %(detail)s", detail=_first_line(done.stderr)))
        blobs = sorted(p for p in files_dir.rglob("*") if p.is_file() and not p.name.startswith(".")) if files_dir.is_dir() else []
        manifest = {
            "format": FORMAT,
            "flowdeck_version": flowdeck_version,
            "created_at": clock.now().isoformat(),
            "database": db.dialect,
            "database_entry": entry,
            "system_revision": revision,
            "files": len(blobs),
            "secret_key": "not included: see README.txt",
        }
        try:
            with tarfile.open(temp, "w:gz") as archive:
                _add_bytes(archive, MANIFEST, json.dumps(manifest, indent=1).encode())
                _add_bytes(archive, "README.txt", (_readme(db.dialect) + "\n" + KEY_NOTE).encode())
                archive.add(snapshot, arcname=entry, recursive=False)
                for blob in blobs:
                    archive.add(blob, arcname=f"{FILES}/{blob.relative_to(files_dir).as_posix()}", recursive=False)
            temp.replace(output)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
    return Summary(db.dialect, len(blobs), output.stat().st_size, revision)


def _readme(dialect: str) -> str:
    return (
        "A Flowdeck backup (flowdeck backup). Restore it into an empty instance with the same kind of database\n"
        f"({dialect}): set FLOWDECK_DATABASE_URL and FLOWDECK_FILES_DIR (or FLOWDECK_INSTANCE), then run\n"
        "flowdeck restore THIS_FILE, then flowdeck upgrade if the Flowdeck installed there is newer.\n"
    )


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(clock.now().timestamp())
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def _first_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[0] if lines else "no message"


# -- restoring -------------------------------------------------------------------------------


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        with tarfile.open(path, "r:gz") as archive:
            member = archive.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            manifest = json.loads(member.read().decode())
    except (OSError, KeyError, tarfile.TarError, ValueError):
        raise BackupFailed(M("%(file)s is not a Flowdeck backup (no readable manifest)", file=str(path))) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupFailed(M("%(file)s is a backup of a format this Flowdeck does not know", file=str(path)))
    return manifest


def _tables(db: Database) -> list[str]:
    return db.read(lambda conn: sorted(sa.inspect(conn).get_table_names()))


def _check_empty(db: Database, files_dir: Path) -> None:
    if db.dialect == "sqlite":
        path = _sqlite_path(db.url)
        if path.exists() and path.stat().st_size > 0 and _tables(db):
            raise BackupFailed(M("the database %(db)s is not empty: restore needs an empty one", db=describe_url(db.url)))
    elif _tables(db):
        raise BackupFailed(M("the database %(db)s is not empty: restore needs an empty one", db=describe_url(db.url)))
    if files_dir.is_dir() and any(files_dir.iterdir()):
        raise BackupFailed(M("the files folder %(folder)s is not empty: restore needs an empty one", folder=str(files_dir)))


@contextmanager
def _opened(path: Path) -> Iterator[tarfile.TarFile]:
    with tarfile.open(path, "r:gz") as archive:
        yield archive


def _safe_member(member: tarfile.TarInfo) -> str | None:
    """The path under files/ of a regular file entry; None for anything else."""
    name = member.name
    if not member.isfile() or not name.startswith(f"{FILES}/") or name.startswith("/") or "\\" in name:
        return None
    parts = name.split("/")[1:]
    if not parts or any(part in ("", ".", "..") for part in parts):
        return None
    return "/".join(parts)


def restore_backup(db: Database, files_dir: Path, backup: Path) -> Summary:
    """Restore `backup` into the empty database `db` and empty `files_dir`."""
    manifest = read_manifest(backup)
    kind = manifest.get("database")
    if kind != db.dialect:
        raise BackupFailed(M("this is a backup of a %(kind)s database; restore it into %(kind)s, not %(here)s", kind=kind, here=db.dialect))
    _check_empty(db, files_dir)
    entry = str(manifest.get("database_entry") or (SQLITE_ENTRY if kind == "sqlite" else PG_ENTRY))
    files = 0
    with tempfile.TemporaryDirectory(prefix="flowdeck-restore-") as work, _opened(backup) as archive:
        member = archive.getmember(entry)
        source = archive.extractfile(member)
        if source is None:
            raise BackupFailed(M("%(file)s has no database in it", file=str(backup)))
        snapshot = Path(work) / entry
        with snapshot.open("wb") as out:
            shutil.copyfileobj(source, out)
        if kind == "sqlite":
            _restore_sqlite(db, snapshot)
        else:
            _restore_postgresql(db, snapshot)
        for member in archive.getmembers():
            relative = _safe_member(member)
            if relative is None:
                continue
            target = files_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            data = archive.extractfile(member)
            assert data is not None
            with target.open("wb") as out:
                shutil.copyfileobj(data, out)
            files += 1
    return Summary(db.dialect, files, backup.stat().st_size, manifest.get("system_revision"))


def _restore_sqlite(db: Database, snapshot: Path) -> None:
    db.dispose()
    path = _sqlite_path(db.url)
    path.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(snapshot)
    target = sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _restore_postgresql(db: Database, snapshot: Path) -> None:
    tool = check_pg_tool(db, "pg_restore")
    uri, env = _libpq(db.url)
    db.dispose()
    done = subprocess.run(  # noqa: S603
        [tool, "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error", f"--dbname={uri}", str(snapshot)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise BackupFailed(M("pg_restore failed: %(detail)s", detail=_first_line(done.stderr)))
