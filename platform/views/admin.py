"""The user directory for admins: list and search users, create them, edit their profile,
status, admin flag and password, and grant roles per installed app.

Every route is `admin_required` (others get the 403 page) and every POST carries the CSRF
token. Each write is one engine call in one transaction, with its audit entry; the engine's
`RecordInvalid` comes back next to the fields with the input kept (passwords are never sent
back). Refusals that a real form cannot produce (an unknown app or role) answer 400.

A forgotten password is reset with a temporary password (shown once to the admin, changed
by the user at the next sign-in) or a one-time link, mailed when SMTP is set up and shown to
the admin to pass on otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from flowdeck.engine import accounts, audit, clock, sessions, users
from flowdeck.engine.calendars import book as calendar_book
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.messages import M, Message, Mp
from flowdeck.engine.registry import Registry
from flowdeck.engine.schema.model import Label
from flowdeck.engine.smtp import send_mail
from flowdeck.views.account import reset_link
from flowdeck.views.auth import admin_required, require_actor
from flowdeck.views.i18n import say, say_errors
from flowdeck.views.lifecycle import registry, render
from flowdeck.views.state import engine

bp = Blueprint("admin", __name__, url_prefix="/admin")
PER_PAGE = 50
MAX_SEARCH = 100


@dataclass(frozen=True)
class RoleCell:
    app: str
    key: str
    label: Label | None
    description: Label | None
    held: bool
    defined: bool = True

    @property
    def value(self) -> str:
        return f"{self.app}:{self.key}"


@dataclass(frozen=True)
class MatrixRow:
    """One app of the roles matrix; `label` is None for an app that is no longer installed."""

    app: str
    label: Label | None
    roles: tuple[RoleCell, ...]


def defined_roles(reg: Registry) -> dict[str, tuple[str, ...]]:
    return {key: tables.app.role_keys() for key, tables in reg.apps.items()}


def role_matrix(reg: Registry, held: Mapping[str, frozenset[str]]) -> list[MatrixRow]:
    """Every installed app with its roles, ticked where held; grants the documents no
    longer define are listed too, so they can be seen and taken away."""
    rows: list[MatrixRow] = []
    for key in sorted(reg.apps):
        app = reg.apps[key].app
        cells = [RoleCell(key, r.key, r.label, r.description, r.key in held.get(key, ())) for r in app.roles]
        cells += [RoleCell(key, r, None, None, True, defined=False) for r in sorted(held.get(key, frozenset()) - set(app.role_keys()))]
        rows.append(MatrixRow(key, app.label, tuple(cells)))
    for key in sorted(set(held) - set(reg.apps)):
        rows.append(MatrixRow(key, None, tuple(RoleCell(key, r, None, None, True, defined=False) for r in sorted(held[key]))))
    return rows


def role_labels(reg: Registry) -> dict[str, tuple[Label, dict[str, Label]]]:
    """App and role labels for the directory's roles column."""
    return {key: (t.app.label, {r.key: r.label for r in t.app.roles}) for key, t in reg.apps.items()}


def _form_flags() -> dict[str, bool]:
    return {"is_admin": request.form.get("is_admin") == "1", "is_active": request.form.get("is_active") == "1"}


def _invalid(template: str, **context: Any) -> Response:
    response = render(template, **context)
    response.status_code = 422
    return response


@bp.get("/")
@admin_required
def index() -> Response:
    return redirect(url_for("admin.users"))


@bp.get("/users", endpoint="users")
@admin_required
def users_list() -> Response:
    text = request.args.get("q", "").strip()[:MAX_SEARCH]
    page = max(1, request.args.get("page", 1, type=int) or 1)
    directory = engine().db.read(lambda conn: users.search_directory(conn, text=text, page=page, per_page=PER_PAGE))
    labels = role_labels(registry())  # the registry first: it installs the current calendars
    warnings = calendar_book.warnings(calendar_book.current(), clock.today())
    return render("admin/users.html", block="results", directory=directory, q=text, labels=labels, calendar_warnings=warnings)


@bp.route("/users/new", methods=["GET", "POST"])
@admin_required
def user_new() -> Response:
    form = {"username": "", "display_name": "", "email": "", "is_admin": False}
    if request.method == "GET":
        return render("admin/user_new.html", form=form, errors={})
    form = {
        "username": request.form.get("username", "").strip(),
        "display_name": request.form.get("display_name", "").strip(),
        "email": request.form.get("email", "").strip(),
        "is_admin": _form_flags()["is_admin"],
    }
    password = request.form.get("password", "")
    actor = require_actor()

    def work(conn: Any) -> int:
        user_id = users.create_user(
            conn,
            form["username"],
            password=password,
            display_name=form["display_name"] or None,
            email=form["email"] or None,
            is_admin=form["is_admin"],
        )
        name = form["username"].lower()
        what = M("created administrator %(user)s", user=name) if form["is_admin"] else M("created user %(user)s", user=name)
        audit.record(conn, "user.created", what, actor=actor, target=f"user:{name}")
        return user_id

    try:
        user_id = engine().db.run(work)
    except RecordInvalid as exc:
        return _invalid("admin/user_new.html", form=form, errors=say_errors(exc.errors))
    flash(_("User created. Now give them roles in the apps they work in."), "ok")
    return redirect(url_for("admin.user_edit", user_id=user_id), code=303)


def _edit_page(
    user: users.UserInfo,
    form: Mapping[str, Any],
    errors: Mapping[str, list[str]],
    status: int = 200,
    reveal: Mapping[str, str] | None = None,
) -> Response:
    def load(conn: Any) -> tuple[dict[str, frozenset[str]], int]:
        return users.roles_of(conn, user.id), sessions.count_user_sessions(conn, user.id)

    held, live = engine().db.read(load)
    response = render(
        "admin/user_edit.html",
        user=user,
        form=form,
        errors=errors,
        matrix=role_matrix(registry(), held),
        live_sessions=live,
        is_self=require_actor().user_id == user.id,
        reveal=reveal,
        mail_on=current_app.config.get("FLOWDECK_SMTP") is not None,
    )
    response.status_code = status
    return response


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_required
def user_edit(user_id: int) -> Response:
    actor = require_actor()
    db = engine().db
    user = db.read(lambda conn: users.get_user(conn, user_id))
    if request.method == "GET":
        form = {"display_name": user.display_name, "email": user.email or "", "is_admin": user.is_admin, "is_active": user.is_active}
        return _edit_page(user, form, {})
    form = {"display_name": request.form.get("display_name", ""), "email": request.form.get("email", "").strip(), **_form_flags()}
    password = request.form.get("password", "")
    keep = session.get("sid")

    def work(conn: Any) -> None:
        after = users.update_user(
            conn,
            user_id,
            display_name=form["display_name"],
            email=form["email"] or None,
            is_active=form["is_active"],
            is_admin=form["is_admin"],
            password=password or None,
            actor=actor,
            keep_session=keep,
        )
        changed = _changes(user, after, bool(password))
        if changed:
            audit.record(
                conn,
                "user.changed",
                M("changed user %(user)s: %(changes)s", user=user.username, changes=changed),
                actor=actor,
                target=f"user:{user.username}",
            )

    try:
        db.run(work)
    except RecordInvalid as exc:
        return _edit_page(user, form, say_errors(exc.errors), 422)
    if password or (user.is_active and not form["is_active"]):
        flash(_("Saved. Their sessions have ended: they must sign in again."), "ok")
    else:
        flash(_("Saved."), "ok")
    return redirect(url_for("admin.user_edit", user_id=user_id), code=303)


def _posted_roles() -> set[tuple[str, str]]:
    """The ticked (app, role) pairs; a value that is not `app:role` is a forged form: 400."""
    pairs: set[tuple[str, str]] = set()
    for value in request.form.getlist("role"):
        app, sep, role = value.partition(":")
        if not sep or not app or not role:
            abort(400, description=_("Unknown role %(value)s.", value=repr(value[:80])))
        pairs.add((app, role))
    return pairs


@bp.post("/users/<int:user_id>/roles")
@admin_required
def user_roles(user_id: int) -> Response:
    wanted = _posted_roles()
    defined = defined_roles(registry())
    actor = require_actor()

    def work(conn: Any) -> users.RoleChanges:
        changes = users.set_roles(conn, user_id, wanted, defined=defined)
        if changes.granted or changes.revoked:
            name = users.get_user(conn, user_id).username
            granted = [f"{a}:{r}" for a, r in sorted(changes.granted)] or [Mp("no roles", "none")]
            revoked = [f"{a}:{r}" for a, r in sorted(changes.revoked)] or [Mp("no roles", "none")]
            message = M(
                "changed the roles of %(user)s: granted %(granted)s; taken away %(revoked)s", user=name, granted=granted, revoked=revoked
            )
            audit.record(conn, "user.roles", message, actor=actor, target=f"user:{name}")
        return changes

    try:
        changes = engine().db.run(work)
    except RecordInvalid as exc:
        problems = "; ".join(say(m) for m in exc.errors.get("roles", [exc.message]))
        abort(400, description=_("Nothing was saved: %(problems)s.", problems=problems))
    granted, revoked = len(changes.granted), len(changes.revoked)
    if granted or revoked:
        flash(_("Roles saved: %(granted)s granted, %(revoked)s taken away.", granted=granted, revoked=revoked), "ok")
    else:
        flash(_("No change to the roles."), "info")
    return redirect(url_for("admin.user_edit", user_id=user_id, _anchor="roles"), code=303)


@bp.post("/users/<int:user_id>/sessions/end")
@admin_required
def user_sessions_end(user_id: int) -> Response:
    """Sign a user out everywhere (a lost laptop); an admin doing it to themself keeps this browser."""
    actor = require_actor()
    keep = session.get("sid") if actor.user_id == user_id else None

    def work(conn: Any) -> None:
        users.get_user(conn, user_id)
        sessions.end_user_sessions(conn, user_id, keep=keep)

    engine().db.run(work)
    flash(_("Their sessions have ended."), "ok")
    return redirect(url_for("admin.user_edit", user_id=user_id), code=303)


def _changes(before: users.UserInfo, after: users.UserInfo, password: bool) -> list[Message]:
    """What an edit changed, named for the audit log."""
    changed = []
    if before.display_name != after.display_name:
        changed.append(Mp("user field", "display name"))
    if before.email != after.email:
        changed.append(Mp("user field", "email"))
    if before.is_active != after.is_active:
        changed.append(Mp("user field", "activated") if after.is_active else Mp("user field", "deactivated"))
    if before.is_admin != after.is_admin:
        changed.append(Mp("user field", "made administrator") if after.is_admin else Mp("user field", "administrator rights taken away"))
    if password:
        changed.append(Mp("user field", "password"))
    return changed


@bp.post("/users/<int:user_id>/password-reset")
@admin_required
def user_password_reset(user_id: int) -> Response:
    """A temporary password (shown once here), or a one-time link (mailed, else shown)."""
    actor = require_actor()
    db = engine().db
    user = db.read(lambda conn: users.get_user(conn, user_id))
    form = {"display_name": user.display_name, "email": user.email or "", "is_admin": user.is_admin, "is_active": user.is_active}
    if request.form.get("how") == "link":
        token = db.run(lambda conn: accounts.start_reset(conn, user_id, actor=actor))
        link = reset_link(token)
        smtp = current_app.config.get("FLOWDECK_SMTP")
        if smtp is not None and user.email:
            body = _("Open this link within a day to set a new Flowdeck password for %(username)s:", username=user.username)
            try:
                send_mail(smtp, user.email, _("[Flowdeck] Set a new password"), f"{body}\n\n{link}\n")
            except OSError as exc:
                current_app.logger.warning("password link mail to user %s failed: %s", user_id, exc)
                return _edit_page(user, form, {}, reveal={"link": link, "mail_failed": "1"})
            flash(_("A one-time link was mailed to %(email)s.", email=user.email), "ok")
            return redirect(url_for("admin.user_edit", user_id=user_id), code=303)
        # Shown in this response only (never in a flash, which the session cookie would carry).
        return _edit_page(user, form, {}, reveal={"link": link})
    temporary = db.run(lambda conn: accounts.set_temporary_password(conn, user_id, actor=actor))
    return _edit_page(user, form, {}, reveal={"password": temporary})
