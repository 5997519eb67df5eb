"""The `flowdeck` command. Each command loads only what it needs, so `flowdeck --help`
works even when the configuration or the database is broken.

Every setting is checked before a command touches the instance: a wrong one is one line
naming the variable and what it expects, and the exit code is 2. An unreachable database is
one line too (exit 1). The commands live in `documents.py` (validate, apply, versions,
rollback), `bundles.py` (export, import, upgrade-bundled), `instance.py` (init, upgrade,
run, tick, users) and `backups.py` (backup, restore).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from flowdeck import config


class ConfigProblem(click.ClickException):
    """A wrong setting: printed as one line, exit code 2."""

    exit_code = 2


def settings() -> dict[str, Any]:
    """Every setting, checked (ConfigProblem for the first wrong one)."""
    try:
        return config.settings()
    except config.ConfigError as exc:
        raise ConfigProblem(str(exc)) from None


def _database() -> Any:
    from flowdeck.engine.db import Database
    from flowdeck.engine.errors import DatabaseUnavailable

    db = Database(settings()["FLOWDECK_DATABASE_URL"])
    context = click.get_current_context(silent=True)
    if context is not None:
        # Close pooled connections when the command ends (the process may live on, as in tests).
        context.call_on_close(db.dispose)
    try:
        db.check()
    except DatabaseUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    return db


def _prepare_sqlite_folder() -> None:
    url = settings()["FLOWDECK_DATABASE_URL"]
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Flowdeck: forms, boards and approvals from JSON app documents.

    Configuration comes from the environment: FLOWDECK_DATABASE_URL (default: SQLite in
    ./instance), FLOWDECK_INSTANCE, FLOWDECK_SECRET_KEY, FLOWDECK_ADMIN_PASSWORD and the
    others listed in docs/deploy.md.
    """


from flowdeck.cli import backups, bundles, documents, instance  # noqa: E402,F401 -- registers the commands
