"""Commands on app documents: validate, apply, versions, rollback."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from flowdeck.cli import _database, _prepare_sqlite_folder, main


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check app documents; print every problem with its file and JSON path."""
    from flowdeck.engine.schema.loader import check_document

    failed = False
    for path in files:
        try:
            text = path.read_bytes()
        except OSError as exc:
            click.echo(f"{path}: cannot read: {exc.strerror}", err=True)
            failed = True
            continue
        problems = check_document(text)
        for problem in problems:
            click.echo(f"{path}: {problem}", err=True)
        if problems:
            failed = True
        else:
            click.echo(f"{path}: ok")
    if failed:
        sys.exit(1)


def _choice_options(choice_items: tuple[str, ...], answers_file: Path | None) -> dict[str, str]:
    """Answers to a migration plan's questions: an answers file ({ID: VALUE}, or
    {"choices": {ID: VALUE}}), then each --choice ID=VALUE (which wins)."""
    choices: dict[str, str] = {}
    if answers_file is not None:
        try:
            loaded = json.loads(answers_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"cannot read {answers_file}: {exc}", param_hint="--answers") from None
        if isinstance(loaded, dict) and isinstance(loaded.get("choices"), dict):
            loaded = loaded["choices"]
        if not isinstance(loaded, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()):
            raise click.BadParameter(f'{answers_file}: expected a JSON object {{"question id": "answer", ...}}', param_hint="--answers")
        choices.update(loaded)
    for item in choice_items:
        question, sep, value = item.rpartition("=")
        if not sep or not question.strip() or not value.strip():
            raise click.BadParameter(f"{item!r}: expected ID=VALUE, such as state:task:review=doing", param_hint="--choice")
        choices[question.strip()] = value.strip()
    return choices


def _actor(db: Any, username: str | None) -> Any:
    """The system, or the named administrator (named in the version and in history entries)."""
    from flowdeck.engine import users
    from flowdeck.engine.permissions import Actor

    if username is None:
        return Actor.system()
    found = db.read(lambda conn: users.find_user(conn, username))
    if found is None:
        raise click.ClickException(f"there is no user {username!r}")
    actor = db.read(lambda conn: users.actor_for(conn, found.id))
    if not actor.is_admin:
        raise click.ClickException(f"{username} is not an administrator; only administrators can change apps")
    return actor


def _print_migration_plan(app_key: str, plan: Any) -> None:
    click.echo(f"plan for app {app_key}:")
    if not plan.steps and not plan.questions:
        click.echo("  - no changes to the tables")
    for step in plan.steps:
        click.echo(f"  - {step.description}")
    if plan.questions:
        click.echo("questions:")
    for question in plan.questions:
        click.echo(f"  {question.id} ({question.count} records or values)")
        click.echo(f"    {question.text}")
        for sample in question.samples:
            click.echo(f"      {sample}")
        if question.count > len(question.samples):
            click.echo(f"      ... and {question.count - len(question.samples)} more")
        click.echo("    choices:")
        for value, label in question.choices:
            click.echo(f"      {value}: {label}")
        answer = plan.answers.get(question.id)
        click.echo(f"    answer: {answer}" if answer is not None else "    answer: (none yet)")


def _explain_refusal(exc: Any) -> None:
    """Print why a plan was not applied, and how to answer its open questions."""
    from flowdeck.engine.errors import ChoicesNeeded

    if isinstance(exc, ChoicesNeeded):
        click.echo(f"{len(exc.questions)} questions need answers before anything is applied:", err=True)
        for question in exc.questions:
            click.echo(f"  --choice {question.id}={'|'.join(question.values())}", err=True)
        click.echo(
            'give each answer with --choice ID=VALUE, or put them in a JSON file {"ID": "VALUE", ...} and add --answers FILE',
            err=True,
        )
        return
    for reason in exc.reasons:
        click.echo(f"refused: {reason}", err=True)


def _run_apply(label: str, apply: Any) -> Any:
    """Run an apply, print its plan, and exit 1 on refusals or open questions."""
    from flowdeck.engine.errors import Forbidden, MigrationRefused, NotFound, SchemaInvalid

    try:
        result = apply()
    except SchemaInvalid as exc:
        for problem in exc.problems:
            click.echo(f"{label}: {problem}", err=True)
        sys.exit(1)
    except MigrationRefused as exc:
        if exc.plan is not None:
            _print_migration_plan(exc.plan.app, exc.plan)
        _explain_refusal(exc)
        click.echo("nothing applied", err=True)
        sys.exit(1)
    except (Forbidden, NotFound) as exc:
        raise click.ClickException(str(exc)) from None
    _print_migration_plan(result.app.key, result.plan)
    return result


def _applied(result: Any, dry_run: bool) -> None:
    if result.plan.ignored:
        click.echo(f"ignored answers to questions this plan does not ask: {', '.join(result.plan.ignored)}")
    if dry_run:
        click.echo("dry run: nothing applied")
    elif result.applied:
        click.echo(f"applied as version {result.version}")
    else:
        click.echo(f"nothing to apply: version {result.version} is current")


_CHOICE_HELP = "Answer a question of the migration plan (repeatable), e.g. state:task:review=doing."
_ANSWERS_HELP = 'A JSON file of answers: {"question id": "answer", ...}.'


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the migration plan without applying it.")
@click.option("-m", "--message", default=None, help="Why this version was applied.")
@click.option("--choice", "choice_items", multiple=True, metavar="ID=VALUE", help=_CHOICE_HELP)
@click.option("--answers", "answers_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help=_ANSWERS_HELP)
@click.option("--author", default=None, metavar="USERNAME", help="The administrator named in the version and history entries.")
def apply(
    file: Path, dry_run: bool, message: str | None, choice_items: tuple[str, ...], answers_file: Path | None, author: str | None
) -> None:
    """Apply an app document: print the migration plan, then apply it in one transaction.

    When the plan asks questions (records in a removed state, values that cannot be
    converted, a removed option in use), each is printed with its choices, and nothing is
    applied until every one is answered with --choice or --answers.
    """
    from flowdeck.engine.apps import apply_document
    from flowdeck.engine.schema.shape import parse_document
    from flowdeck.engine.system import upgrade_system_tables

    document, problems = parse_document(file.read_bytes())
    for problem in problems:
        click.echo(f"{file}: {problem}", err=True)
    if problems:
        sys.exit(1)
    choices = _choice_options(choice_items, answers_file)
    _prepare_sqlite_folder()
    db = _database()
    upgrade_system_tables(db)
    actor = _actor(db, author)
    result = _run_apply(str(file), lambda: apply_document(db, document, actor=actor, message=message, dry_run=dry_run, choices=choices))
    _applied(result, dry_run)


@main.command()
@click.argument("app_key", metavar="APP")
@click.option("--diff", "diff_versions", nargs=2, type=int, default=None, metavar="A B", help="What changed from version A to B.")
def versions(app_key: str, diff_versions: tuple[int, int] | None) -> None:
    """List the versions of an app (who, when, why), or the difference between two."""
    from flowdeck.engine import versions as app_versions
    from flowdeck.engine.errors import NotFound

    db = _database()
    try:
        if diff_versions is not None:
            first, second = diff_versions
            old = db.read(lambda conn: app_versions.get_document(conn, app_key, first))
            new = db.read(lambda conn: app_versions.get_document(conn, app_key, second))
            changes = app_versions.diff_documents(old, new)
            click.echo(f"app {app_key}, version {first} -> {second}: {len(changes)} changes")
            for change in changes:
                click.echo(f"  - {change.summary}  [{change.path}]")
            return
        listed = db.read(lambda conn: app_versions.list_versions(conn, app_key))
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    for info in listed:
        when = info.created_at.strftime("%Y-%m-%d %H:%M UTC")
        click.echo(f"v{info.version}  {when}  {info.author_name or 'system'}  {info.message or ''}".rstrip())


@main.command()
@click.argument("app_key", metavar="APP")
@click.argument("version", type=int)
@click.option("--dry-run", is_flag=True, help="Print the migration plan without applying it.")
@click.option("--choice", "choice_items", multiple=True, metavar="ID=VALUE", help=_CHOICE_HELP)
@click.option("--answers", "answers_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help=_ANSWERS_HELP)
@click.option("--author", default=None, metavar="USERNAME", help="The administrator named in the version and history entries.")
def rollback(
    app_key: str, version: int, dry_run: bool, choice_items: tuple[str, ...], answers_file: Path | None, author: str | None
) -> None:
    """Apply an earlier version's document again, as a new version ("rollback to vN").

    Its migration plan is printed and may ask questions like any change.
    """
    from flowdeck.engine import versions as app_versions
    from flowdeck.engine.apps import apply_document
    from flowdeck.engine.errors import NotFound

    choices = _choice_options(choice_items, answers_file)
    db = _database()
    actor = _actor(db, author)
    try:
        document = db.read(lambda conn: app_versions.get_document(conn, app_key, version))
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    if dry_run:
        result = _run_apply(f"{app_key} v{version}", lambda: apply_document(db, document, actor=actor, dry_run=True, choices=choices))
    else:
        result = _run_apply(f"{app_key} v{version}", lambda: app_versions.rollback(db, app_key, version, actor=actor, choices=choices))
    _applied(result, dry_run)
