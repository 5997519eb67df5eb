"""Background jobs for admins: what ran, what waits, what failed and why, with Retry (a
failed or dead job) and Run again (a done one). Read and act through `engine/jobs`."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from flowdeck.engine.jobs import listing, queue
from flowdeck.views.auth import admin_required
from flowdeck.views.i18n import gettext as _
from flowdeck.views.lifecycle import render
from flowdeck.views.state import engine

bp = Blueprint("jobs_admin", __name__, url_prefix="/admin/jobs")
PER_PAGE = 50


def _shown() -> dict[str, str]:
    status = request.args.get("status", "")
    kind = request.args.get("kind", "")
    return {"status": status if status in listing.STATUS_NAMES else "", "kind": kind if kind in listing.kind_names() else ""}


@bp.get("/")
@admin_required
def index() -> Response:
    shown = _shown()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    found = engine().db.read(lambda conn: listing.search(conn, status=shown["status"], kind=shown["kind"], page=page, per_page=PER_PAGE))
    return render("admin/jobs.html", block="results", found=found, shown=shown, statuses=listing.STATUS_NAMES, kinds=listing.kind_names())


@bp.get("/<int:job_id>")
@admin_required
def show(job_id: int) -> Response:
    job = engine().db.read(lambda conn: listing.get(conn, job_id))
    if job is None:
        abort(404)
    return render("admin/job.html", job=job, statuses=listing.STATUS_NAMES)


@bp.post("/<int:job_id>/retry")
@admin_required
def retry(job_id: int) -> Response:
    if engine().db.run(lambda conn: queue.retry(conn, job_id)):
        flash(_("Job #%(id)s is queued again.", id=job_id), "ok")
    else:
        flash(_("Job #%(id)s is waiting or running: there is nothing to retry.", id=job_id), "error")
    return redirect(url_for("jobs_admin.show", job_id=job_id), code=303)
