"""Commands on configuration bundles: export and import."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from flowdeck import config
from flowdeck.cli import _database, _prepare_sqlite_folder, main
from flowdeck.cli.documents import _choice_options  # noqa: F401


@main.command("export")
@click.argument("app_key", metavar="APP")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The bundle file to write.")
@click.option("--records", is_flag=True, help="Include every record (users named by username and email).")
@click.option("--files", "with_files", is_flag=True, help="Include the attachments' bytes (implies --records).")
def export_cmd(app_key: str, output: Path, records: bool, with_files: bool) -> None:
    """Write an app's configuration bundle (an admin tool: it reads every record).

    The bundle is a ZIP file: the app document, its roles, the users it names, and with
    --records / --files the records and attachments, with a checksum of every entry.
    """
    from flowdeck.engine.bundles import ExportFailed, export_app

    db = _database()
    files_dir = Path(config.settings()["FLOWDECK_FILES_DIR"])
    try:
        data = export_app(db, app_key, include_records=records, include_files=with_files, files_dir=files_dir)
    except ExportFailed as exc:
        raise click.ClickException(str(exc)) from None
    temp = output.with_name(f".{output.name}.part")
    temp.write_bytes(data)
    temp.replace(output)
    what = "document" + (", records" if records or with_files else "") + (", files" if with_files else "")
    click.echo(f"exported app {app_key} ({what}) to {output}: {len(data):,} bytes")


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    pairs = {}
    for item in values:
        name, sep, value = item.rpartition("=")
        if not sep or not name.strip() or not value.strip():
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE", param_hint=option)
        pairs[name.strip()] = value.strip()
    return pairs


def _import_answers(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        answers = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--answers") from None
    known = {"as", "roles", "users", "choices", "resolutions"}
    if not isinstance(answers, dict) or set(answers) - known:
        raise click.BadParameter(f"{path}: expected an object with keys among {', '.join(sorted(known))}", param_hint="--answers")
    return answers


def _print_import_plan(plan: Any) -> None:
    for line in plan.describe():
        click.echo(f"  {line}")
    for conflict in plan.conflicts:
        state = "resolved" if conflict not in plan.unresolved else "UNRESOLVED"
        click.echo(f"  conflict ({state}) at {conflict.path}:")
        shown = conflict.to_json()
        for side in ("base", "local", "incoming"):
            value = json.dumps(shown[side], ensure_ascii=False, sort_keys=True) if shown[f"{side}_present"] else "(absent)"
            click.echo(f"      {side:<8} {value}")
    for question in plan.questions:
        answered = "" if question in plan.unanswered else " (answered)"
        click.echo(f"  question {question.id}{answered}: {question.text}")
        for sample in getattr(question, "samples", []):
            click.echo(f"      e.g. {sample}")
        for value, label in getattr(question, "choices", []):
            click.echo(f"      choice {value}: {label}")


def _import_instructions(plan: Any) -> list[str]:
    lines = []
    for user in plan.missing_users:
        name = user.username
        lines.append(f"user {user.describe()} does not exist here: add --user {name}=LOCAL_USERNAME or --user {name}=create")
    if plan.missing_users:
        lines.append("or create every missing user (inactive, no password): --user '*=create'")
    for conflict in plan.unresolved:
        lines.append(f"conflict at {conflict.path}: add --resolve '{conflict.path}=local' or --resolve '{conflict.path}=incoming'")
    for question in plan.unanswered:
        values = "|".join(str(value) for value, _ in getattr(question, "choices", []))
        lines.append(f"question {question.id}: add --choice '{question.id}={values}'")
    return lines


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Do everything in a transaction that is rolled back; print the plan.")
@click.option("--as", "as_key", default=None, metavar="NEW_KEY", help="Install a copy under a new app key (a new source id).")
@click.option("--role", "roles", multiple=True, metavar="ROLE=user1,user2", help="Grant a role of the app to local users (repeatable).")
@click.option("--user", "user_pairs", multiple=True, metavar="BUNDLEUSER=LOCALUSER|create", help="Map a user the bundle names.")
@click.option("--choice", "choice_pairs", multiple=True, metavar="ID=VALUE", help="Answer a question of the migration plan.")
@click.option("--resolve", "resolve_pairs", multiple=True, metavar="PATH=local|incoming", help="Decide an upgrade conflict.")
@click.option("--answers", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A JSON file of answers.")
def import_cmd(
    file: Path,
    dry_run: bool,
    as_key: str | None,
    roles: tuple[str, ...],
    user_pairs: tuple[str, ...],
    choice_pairs: tuple[str, ...],
    resolve_pairs: tuple[str, ...],
    answers: Path | None,
) -> None:
    """Import a configuration bundle: a new app, an upgrade of the app installed from the
    same source (keeping local edits by a three-way merge), or a copy (--as NEW_KEY).

    Prints the plan, and exits 1 with what to add when something must be answered. The
    answers file holds {"as": KEY, "roles": {ROLE: [USER...]}, "users": {NAME: LOCAL|"create"},
    "choices": {ID: VALUE}, "resolutions": {PATH: "local"|"incoming"}}; options override it.
    An admin tool: it runs as the system and changes apps, users and role grants.
    """
    from flowdeck.engine import bundles, errors
    from flowdeck.engine.permissions import Actor
    from flowdeck.engine.system import upgrade_system_tables

    given = _import_answers(answers)
    as_key = as_key or given.get("as")
    role_map: dict[str, list[str]] = {k: list(v) for k, v in (given.get("roles") or {}).items()}
    role_map.update({role: [u for u in names.split(",") if u.strip()] for role, names in _pairs(roles, "--role").items()})
    user_map = {**(given.get("users") or {}), **_pairs(user_pairs, "--user")}
    choices = {**(given.get("choices") or {}), **_pairs(choice_pairs, "--choice")}
    resolutions = {**(given.get("resolutions") or {}), **_pairs(resolve_pairs, "--resolve")}
    size = file.stat().st_size
    if size > bundles.DEFAULT_LIMITS.max_bundle_bytes:
        raise click.ClickException(f"{file}: {size:,} bytes; a bundle may be at most {bundles.DEFAULT_LIMITS.max_bundle_bytes:,}")
    data = file.read_bytes()
    info = bundles.inspect_bundle(data)
    if not info.ok:
        for problem in info.problems:
            click.echo(f"{file}: {problem}", err=True)
        sys.exit(1)
    _prepare_sqlite_folder()
    db = _database()
    upgrade_system_tables(db)
    files_dir = Path(config.settings()["FLOWDECK_FILES_DIR"])
    try:
        plan = db.read(
            lambda conn: bundles.plan_import(
                conn, data, as_key=as_key, user_map=user_map, resolutions=resolutions, choices=choices, files_dir=files_dir
            )
        )
    except bundles.BundleInvalid as exc:
        for problem in exc.problems:
            click.echo(f"{file}: {problem}", err=True)
        sys.exit(1)
    click.echo(f"plan for {file}:")
    _print_import_plan(plan)
    if not plan.ready:
        for line in plan.refusals + plan.problems + plan.migration_refusals:
            click.echo(f"cannot import: {line}", err=True)
        for line in _import_instructions(plan):
            click.echo(f"to do: {line}", err=True)
        click.echo("nothing imported", err=True)
        sys.exit(1)
    try:
        result = bundles.import_bundle(
            db,
            data,
            actor=Actor.system(),
            as_key=as_key,
            role_map=role_map,
            user_map=user_map,
            choices=choices,
            resolutions=resolutions,
            dry_run=dry_run,
            files_dir=files_dir,
        )
    except (bundles.BundleError, errors.SchemaInvalid, errors.MigrationRefused, errors.RecordInvalid) as exc:
        click.echo(f"cannot import: {exc}", err=True)
        click.echo("nothing imported", err=True)
        sys.exit(1)
    records = ", ".join(f"{n} {k}" for k, n in result.records.items()) or "none"
    summary = f"app {result.app_key} version {result.version} ({result.kind}); records: {records}; files: {result.files}"
    if result.users_created:
        summary += f"; users created (inactive): {', '.join(result.users_created)}"
    if result.roles_granted:
        summary += "; roles granted: " + ", ".join(f"{r}={u}" for r, u in result.roles_granted)
    click.echo(f"dry run, nothing imported: {summary}" if dry_run else f"imported {summary}")


def _print_upgrade_plan(plan: Any) -> None:
    click.echo(f"upgrade of the bundled app {plan.key}; merge base: {plan.base}")
    if not plan.conflicts:
        click.echo("  conflicts: none (your changes and the new version's do not touch the same things)")
    for conflict in plan.conflicts:
        side = plan.chosen.get(conflict.path, "local")
        click.echo(f"  conflict at {conflict.path}: taking {side}" + (" (your edit)" if side == "local" else " (the new version)"))
        shown = conflict.to_json()
        for name in ("base", "local", "incoming"):
            value = json.dumps(shown[name], ensure_ascii=False, sort_keys=True) if shown[f"{name}_present"] else "(absent)"
            click.echo(f"      {name:<8} {value}")
    for problem in plan.problems:
        click.echo(f"  problem: {problem}")
    if plan.migration is not None:
        if plan.unchanged:
            click.echo("  document: no change")
        for step in plan.migration.steps:
            click.echo(f"  - {step.description}")
        for reason in plan.migration.refusals:
            click.echo(f"  refused: {reason}")
        for question in plan.migration.questions:
            answered = plan.migration.answers.get(question.id)
            click.echo(f"  question {question.id}: {question.text}" + (f" (answer: {answered})" if answered else ""))
            for value, label in question.choices:
                click.echo(f"      choice {value}: {label}")


@main.command("upgrade-bundled")
@click.argument("app_keys", metavar="[APP]...", nargs=-1)
@click.option("--dry-run", is_flag=True, help="Print the plan without applying it.")
@click.option("--take", "take_pairs", multiple=True, metavar="PATH=local|incoming", help="Decide a conflict (default: local).")
@click.option("--choice", "choice_pairs", multiple=True, metavar="ID=VALUE", help="Answer a question of the migration plan.")
def upgrade_bundled(app_keys: tuple[str, ...], dry_run: bool, take_pairs: tuple[str, ...], choice_pairs: tuple[str, ...]) -> None:
    """Offer the bundled documents of this Flowdeck as upgrades of the installed bundled
    apps (all with a newer document, or the APPs named): a three-way merge that keeps your
    edits where both sides changed the same thing, unless --take PATH=incoming."""
    from flowdeck.engine import bundled_apps, errors
    from flowdeck.engine.permissions import Actor
    from flowdeck.engine.system import upgrade_system_tables

    db = _database()
    upgrade_system_tables(db)
    resolutions, choices = _pairs(take_pairs, "--take"), _pairs(choice_pairs, "--choice")
    if app_keys:
        keys = list(app_keys)
    else:
        keys = [b.key for b in db.read(bundled_apps.status) if b.upgrade_available]
        if not keys:
            click.echo("every installed bundled app is up to date")
            return
    failed = False
    for key in keys:
        try:
            plan, result = bundled_apps.upgrade(db, key, actor=Actor.system(), resolutions=resolutions, choices=choices, dry_run=True)
            _print_upgrade_plan(plan)
            if dry_run:
                click.echo("dry run: nothing applied")
                continue
            plan, result = bundled_apps.upgrade(db, key, actor=Actor.system(), resolutions=resolutions, choices=choices)
        except bundled_apps.UpgradeRefused as exc:
            click.echo(f"{key}: {exc}", err=True)
            failed = True
            continue
        except (errors.SchemaInvalid, errors.MigrationRefused) as exc:
            click.echo(f"{key}: not upgraded: {exc}", err=True)
            failed = True
            continue
        assert result is not None
        click.echo(
            f"{key}: upgraded as version {result.version}"
            if result.applied
            else f"{key}: nothing to change; the new bundled document is the base now"
        )
    if failed:
        sys.exit(1)
