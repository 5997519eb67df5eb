"""Admins manage the organisation directory approvals walk: departments (a tree, each
with a head) and each user's department and manager."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, redirect, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from flowdeck.engine import org, users
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.messages import M
from flowdeck.views import audit_log
from flowdeck.views.auth import admin_required
from flowdeck.views.i18n import say
from flowdeck.views.lifecycle import render
from flowdeck.views.state import engine

bp = Blueprint("org", __name__, url_prefix="/admin/org")


def _optional_id(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise RecordInvalid({name: [_("Choose from the list.")]}) from None


def _said(errors: dict[str, list[Any]]) -> dict[str, list[str]]:
    """The engine's problems per field, in the reader's language."""
    return {key: [say(m) for m in messages] for key, messages in errors.items()}


def _directory(conn: sa.Connection) -> dict[str, Any]:
    return {"departments": org.list_departments(conn), "people": org.placements(conn), "users": users.list_users(conn, active_only=True)}


def _page(
    dept_errors: dict[str, list[str]] | None = None,
    person_errors: dict[str, list[str]] | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    data = engine().db.read(_directory)
    response = render("org/directory.html", dept_errors=dept_errors or {}, person_errors=person_errors or {}, form=form or {}, **data)
    response.status_code = status
    return response


@bp.get("/")
@admin_required
def directory() -> Response:
    return _page()


@bp.post("/departments")
@admin_required
def save_department() -> Response:
    department_id = request.form.get("id", type=int)
    form = {k: request.form.get(k, "") for k in ("id", "key", "name", "name_zh", "parent_id", "head_id")}
    try:
        parent_id, head_id = _optional_id("parent_id"), _optional_id("head_id")
        key, name, name_zh = form["key"].strip(), form["name"], form["name_zh"]
        if department_id:
            engine().db.run(
                lambda conn: org.update_department(
                    conn, department_id, key=key, name=name, name_zh=name_zh, parent_id=parent_id, head_id=head_id
                )
            )
        else:
            engine().db.run(lambda conn: org.create_department(conn, key, name, name_zh=name_zh, parent_id=parent_id, head_id=head_id))
    except RecordInvalid as exc:
        return _page(dept_errors=_said(exc.errors), status=422, form=form)
    audit_log.log("department.changed", M("saved department %(department)s", department=key), target=f"department:{key}")
    return redirect(url_for("org.directory"), code=303)


@bp.post("/people/<int:user_id>")
@admin_required
def place(user_id: int) -> Response:
    try:
        department_id, manager_id = _optional_id("department_id"), _optional_id("manager_id")
        engine().db.run(
            lambda conn: (users.get_user(conn, user_id), org.place_user(conn, user_id, department_id=department_id, manager_id=manager_id))
        )
    except RecordInvalid as exc:
        return _page(person_errors={f"{user_id}-{k}": v for k, v in _said(exc.errors).items()}, status=422)
    audit_log.log("department.changed", M("changed the department or manager of user %(user)s", user=user_id), target=f"user:{user_id}")
    return redirect(url_for("org.directory") + f"#person-{user_id}", code=303)
