"""`flowdeck backup` and `flowdeck restore`: the whole instance in one file, and back."""

from __future__ import annotations

from pathlib import Path

import click

from flowdeck.cli import _database, _prepare_sqlite_folder, main, settings


@main.command()
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The backup file to write (.tar.gz).")
def backup(output: Path) -> None:
    """Write a consistent backup of the database and the files folder, while the instance
    keeps running. The secret key is not in it: keep a copy of it apart (see README.txt inside)."""
    from flowdeck.engine import audit
    from flowdeck.engine.backup import BackupFailed, write_backup
    from flowdeck.engine.bundles import flowdeck_version
    from flowdeck.engine.messages import M

    checked = settings()
    db = _database()
    try:
        summary = write_backup(db, Path(checked["FLOWDECK_FILES_DIR"]), output, flowdeck_version=flowdeck_version())
    except BackupFailed as exc:
        raise click.ClickException(str(exc)) from None
    db.run(lambda conn: audit.record(conn, "instance.backup", M("wrote a backup to %(file)s", file=output.name), target=str(output)[:200]))
    click.echo(f"backup of the {summary.database} database and {summary.files} files written to {output} ({summary.size:,} bytes)")
    click.echo("the secret key is not in the backup: keep a copy of FLOWDECK_SECRET_KEY or <instance>/secret_key apart from it")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def restore(file: Path) -> None:
    """Restore a backup into an empty instance: FLOWDECK_DATABASE_URL names an empty
    database of the same kind (or a SQLite file not made yet), the files folder is empty."""
    from flowdeck.engine.backup import BackupFailed, restore_backup
    from flowdeck.engine.system import pending_migrations

    checked = settings()
    _prepare_sqlite_folder()
    db = _database()
    try:
        summary = restore_backup(db, Path(checked["FLOWDECK_FILES_DIR"]), file)
    except BackupFailed as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored the {summary.database} database and {summary.files} files from {file}")
    pending = db.read(pending_migrations)
    if pending:
        click.echo(f"the backup is from an older Flowdeck: run flowdeck upgrade ({len(pending)} system migrations)")
