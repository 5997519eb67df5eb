"""Configuration bundles: download an app's bundle (with its records and files if asked),
upload one (checked at once, then kept aside for its admin only), and the import plan with
its answers (users to map, conflicts to resolve, questions), then the import in one
transaction."""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy.engine import Connection
from werkzeug.wrappers import Response

from flowdeck.engine import bundles, users
from flowdeck.engine.bundles.errors import apart
from flowdeck.engine.errors import ChoicesNeeded, MigrationRefused, NotFound, RecordInvalid, SchemaInvalid
from flowdeck.engine.messages import M, Message, Mp
from flowdeck.engine.permissions import Actor
from flowdeck.engine.schema.model import Label
from flowdeck.views import audit_log
from flowdeck.views import records as record_views
from flowdeck.views.auth import admin_required, require_actor
from flowdeck.views.errors import error_response
from flowdeck.views.i18n import say
from flowdeck.views.lifecycle import render
from flowdeck.views.schema_admin.blueprint import bp
from flowdeck.views.schema_admin.documents import current
from flowdeck.views.schema_admin.review import posted_choices
from flowdeck.views.state import engine

UPLOAD_FOLDER = "bundle-uploads"
UPLOAD_MAX_AGE = 24 * 3600
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
USER, ROLE, RESOLVE = "user:", "role:", "resolve:"


def files_dir() -> Path:
    return Path(current_app.config["FLOWDECK_FILES_DIR"])


@bp.post("/<app>/export")
@admin_required
def export(app: str) -> Response:
    """The app's configuration bundle as a download: the document, and with the options
    its records and attachments."""
    now = current(app)
    include_files = request.form.get("files") == "1"
    include_records = include_files or request.form.get("records") == "1"
    try:
        data = bundles.export_app(engine().db, app, include_records=include_records, include_files=include_files, files_dir=files_dir())
    except bundles.ExportFailed as exc:
        return error_response(422, say(exc.message))
    if include_files:
        what = Mp("what a bundle holds", "the document, records and files")
    elif include_records:
        what = Mp("what a bundle holds", "the document and records")
    else:
        what = Mp("what a bundle holds", "the document")
    audit_log.log("bundle.exported", M("exported app %(app)s as a bundle (%(what)s)", app=app, what=what), target=f"app:{app}")
    response = Response(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{app}-v{now.version}.flowdeck.zip"'
    response.headers["Content-Length"] = str(len(data))
    return response


def upload_limit() -> int:
    """The largest bundle the upload page takes: the bundle limit, or the request limit
    (`MAX_CONTENT_LENGTH`) when that is smaller."""
    configured = current_app.config.get("FLOWDECK_BUNDLE_UPLOAD_LIMIT")
    limit = int(configured) if configured else bundles.DEFAULT_LIMITS.max_bundle_bytes
    request_limit = current_app.config.get("MAX_CONTENT_LENGTH")
    return min(limit, int(request_limit)) if request_limit else limit


def _uploads() -> Path:
    folder = Path(current_app.config["FLOWDECK_INSTANCE"]) / UPLOAD_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _upload_path(token: str, actor: Actor) -> Path:
    """Where an upload waits for its import: named by the admin's id and a random token only."""
    if not _TOKEN.match(token):
        raise NotFound(M("there is no such upload"))
    return _uploads() / f"{int(actor.user_id or 0)}-{token}.zip"


def _prune_uploads() -> None:
    limit = time.time() - UPLOAD_MAX_AGE
    for path in _uploads().glob("*.zip"):
        try:
            if path.stat().st_mtime < limit:
                path.unlink()
        except OSError:
            continue


def messages_of(exc: MigrationRefused | SchemaInvalid | RecordInvalid | bundles.BundleError) -> list[Message | str]:
    """What an error that stopped the import says, a message a line: the refusal's reasons,
    the document's problems with their paths, a record's problems by field, or the lines of a
    bundle error."""
    if isinstance(exc, MigrationRefused):
        return list(exc.reasons)
    if isinstance(exc, SchemaInvalid):
        return [p.with_path() for p in exc.problems]
    if isinstance(exc, RecordInvalid):
        return [M("%(path)s: %(problem)s", path=key, problem=m) for key, said in exc.errors.items() for m in said]
    return apart(exc.message)


def _upload_page(problems: list[str], as_key: str = "", status: int = 200) -> Response:
    response = render("schema_admin/import.html", problems=problems, as_key=as_key, limit=upload_limit())
    response.status_code = status
    return response


@bp.route("/import", methods=["GET", "POST"])
@admin_required
def upload() -> Response:
    """Upload a bundle; it is checked at once (damaged, newer, unsafe: refused with every
    problem), then kept aside for the import plan."""
    actor = require_actor()
    as_key = request.form.get("as_key", "").strip()
    if request.method == "GET":
        return _upload_page([])
    upload_ = request.files.get("bundle")
    if upload_ is None or not upload_.filename:
        return _upload_page([_("Choose a bundle file to upload.")], as_key, 422)
    limit = upload_limit()
    data = upload_.stream.read(limit + 1)
    if len(data) > limit:
        return _upload_page([_("The file is larger than a bundle may be (%(size)s).", size=record_views.file_size(limit))], as_key, 413)
    info = bundles.inspect_bundle(data)
    if not info.ok:
        return _upload_page([say(p) for p in info.problems], as_key, 422)
    _prune_uploads()
    token = secrets.token_hex(16)
    path = _upload_path(token, actor)
    temporary = path.with_suffix(".part")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    temporary.replace(path)
    return redirect(url_for(".import_plan", token=token, **({"as": as_key} if as_key else {})), code=303)


@dataclass
class ImportAnswers:
    as_key: str = ""
    users: dict[str, str] = field(default_factory=dict)
    roles: dict[str, list[str]] = field(default_factory=dict)
    resolutions: dict[str, str] = field(default_factory=dict)
    choices: dict[str, str] = field(default_factory=dict)
    message: str = ""

    @classmethod
    def posted(cls) -> ImportAnswers:
        form = request.form
        return cls(
            as_key=form.get("as_key", "").strip(),
            users={k[len(USER) :]: v for k, v in form.items() if k.startswith(USER) and v},
            roles={k[len(ROLE) :]: [u for u in form.getlist(k) if u] for k in form if k.startswith(ROLE)},
            resolutions={k[len(RESOLVE) :]: v for k, v in form.items() if k.startswith(RESOLVE) and v in ("local", "incoming")},
            choices=posted_choices(),
            message=form.get("message", "").strip()[:500],
        )


def _plan_page(
    token: str, data: bytes, answers: ImportAnswers, *, error: str | None = None, errors: list[str] | None = None, status: int = 200
) -> Response:
    def load(conn: Connection) -> tuple[Any, list[users.UserInfo]]:
        plan = bundles.plan_import(
            conn,
            data,
            as_key=answers.as_key or None,
            user_map=answers.users,
            resolutions=answers.resolutions,
            choices=answers.choices,
            files_dir=files_dir(),
        )
        return plan, users.list_users(conn, active_only=True)

    try:
        plan, people = engine().db.read(load)
    except bundles.BundleInvalid as exc:
        return _upload_page([say(p) for p in exc.problems], answers.as_key, 422)
    shown = plan.to_json(say)
    asked = {q["id"] for q in shown["questions"]}
    answers.choices = {k: v for k, v in answers.choices.items() if k in asked}
    user_rows: dict[str, dict[str, Any]] = {u["username"]: u for u in [*shown["missing_users"], *shown["users_to_create"]]}
    for name in answers.users:
        if name in shown["user_matches"] or name in user_rows:
            user_rows.setdefault(name, {"username": name, "display_name": name, "email": None})
    auto = {k: v for k, v in shown["user_matches"].items() if k not in answers.users}
    roles = [(r["key"], Label.of(r.get("label"), r["key"])) for r in shown["roles"]]
    response = render(
        "schema_admin/import_plan.html",
        token=token,
        plan=shown,
        answers=answers,
        people=people,
        user_rows=list(user_rows.values()),
        auto_matches=auto,
        roles=roles,
        error=error,
        errors=errors or [],
    )
    response.status_code = status
    return response


@bp.route("/import/<token>", methods=["GET", "POST"])
@admin_required
def import_plan(token: str) -> Response:
    """What importing the uploaded bundle will do, with the answers it needs; `do=import`
    imports it (one transaction), anything else shows the plan again with the answers."""
    actor = require_actor()
    path = _upload_path(token, actor)
    if not path.is_file():
        raise NotFound(M("this upload is no longer here; upload the bundle again"))
    data = path.read_bytes()
    if request.method == "GET":
        return _plan_page(token, data, ImportAnswers(as_key=request.args.get("as", "").strip()))
    answers = ImportAnswers.posted()
    if request.form.get("do") != "import":
        return _plan_page(token, data, answers)
    try:
        result = bundles.import_bundle(
            engine().db,
            data,
            actor=actor,
            as_key=answers.as_key or None,
            role_map=answers.roles,
            user_map=answers.users,
            choices=answers.choices,
            resolutions=answers.resolutions,
            files_dir=files_dir(),
            message=answers.message or None,
        )
    except bundles.ImportNeedsMapping as exc:
        names = ", ".join(u.username for u in exc.missing_users)
        return _plan_page(
            token, data, answers, error=_("Nothing was imported: choose a local user (or create) for %(names)s.", names=names), status=422
        )
    except bundles.MergeConflicts as exc:
        return _plan_page(
            token,
            data,
            answers,
            error=_("Nothing was imported: choose a side for every conflict."),
            errors=[c.path for c in exc.conflicts],
            status=422,
        )
    except ChoicesNeeded as exc:
        return _plan_page(
            token,
            data,
            answers,
            error=_("Nothing was imported: answer every question."),
            errors=[say(q.describe()) for q in exc.questions],
            status=422,
        )
    except bundles.ImportRefused as exc:
        return _plan_page(token, data, answers, error=_("Nothing was imported."), errors=[say(r) for r in exc.reasons], status=422)
    except bundles.BundleInvalid as exc:
        return _upload_page([say(p) for p in exc.problems], answers.as_key, 422)
    except (MigrationRefused, SchemaInvalid, RecordInvalid, bundles.BundleError) as exc:
        return _plan_page(token, data, answers, error=_("Nothing was imported."), errors=[say(m) for m in messages_of(exc)], status=422)
    path.unlink(missing_ok=True)
    counted = ", ".join(f"{n} {k}" for k, n in result.records.items())
    flash(
        _("Imported app %(app)s as version %(version)s.", app=result.app_key, version=result.version)
        + (" " + _("Records: %(records)s.", records=counted) if counted else "")
        + (" " + _("Users created (inactive): %(names)s.", names=", ".join(result.users_created)) if result.users_created else ""),
        "ok",
    )
    return redirect(url_for(".version_list", app=result.app_key), code=303)
