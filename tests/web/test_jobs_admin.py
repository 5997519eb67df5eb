"""The admin's background jobs pages: what waits, ran and failed (with the error), filters,
Retry with CSRF, and no access for anyone else."""

from __future__ import annotations

import sqlalchemy as sa

from flowdeck.engine import models
from flowdeck.engine.jobs import queue
from flowdeck.engine.jobs.runner import Runner
from tests.support.web import csrf_token, login, text


def _jobs(db) -> tuple[int, int]:
    """A dead mail job (its payload names no notification) and a queued one."""

    def work(conn):
        dead = queue.enqueue(conn, "mail.notification", {"notification": "not an id"})
        waiting = queue.enqueue(conn, "mail.notification", {"notification": 999}, run_at=queue.now_utc() + queue.BACKOFF_MAX)
        return dead, waiting

    dead, waiting = db.run(work)
    assert Runner(db).run_one() == "failed"
    return dead, waiting


def test_an_admin_sees_the_jobs_filters_them_and_reads_the_error(app, db, make_user):
    dead, waiting = _jobs(db)
    make_user("root", is_admin=True)
    client = app.test_client()
    login(client, "root")
    page = text(client.get("/admin/jobs/"))
    assert "Notification mail" in page and "Failed: 1" in page and "Queued: 1" in page
    failed_only = client.get("/admin/jobs/?status=failed").get_data(as_text=True)
    assert f'href="/admin/jobs/{dead}"' in failed_only and f'href="/admin/jobs/{waiting}"' not in failed_only
    detail = client.get(f"/admin/jobs/{dead}").get_data(as_text=True)
    assert "PermanentError: the payload names no notification" in detail and "not an id" in detail and 'id="job-retry"' in detail
    assert 'id="job-retry"' not in client.get(f"/admin/jobs/{waiting}").get_data(as_text=True)
    assert client.get("/admin/jobs/999999").status_code == 404


def test_the_page_is_in_chinese_for_a_chinese_admin(app, db, make_user):
    _jobs(db)
    make_user("root", is_admin=True)
    client = app.test_client()
    login(client, "root")
    client.post("/prefs/lang", data={"lang": "zh", "csrf_token": csrf_token(client, "/admin/jobs/")})
    page = text(client.get("/admin/jobs/"))
    assert "后台任务" in page and "通知邮件" in page and "Notification mail" not in page


def test_retry_queues_a_failed_job_again_and_needs_csrf(app, db, make_user):
    dead, waiting = _jobs(db)
    make_user("root", is_admin=True)
    client = app.test_client()
    login(client, "root")
    assert client.post(f"/admin/jobs/{dead}/retry").status_code == 400  # no CSRF token
    token = csrf_token(client, "/admin/jobs/")
    response = client.post(f"/admin/jobs/{dead}/retry", data={"csrf_token": token})
    assert response.status_code == 303
    row = db.read(lambda conn: conn.execute(sa.select(models.jobs).where(models.jobs.c.id == dead)).one())
    assert (row.status, row.attempts) == ("queued", 0)
    assert "queued again" in text(client.get(response.headers["Location"]))
    client.post(f"/admin/jobs/{waiting}/retry", data={"csrf_token": token})
    assert "nothing to retry" in text(client.get(f"/admin/jobs/{waiting}"))


def test_the_jobs_pages_are_for_admins_only(app, db, make_user):
    dead, _ = _jobs(db)
    make_user("lea")
    client = app.test_client()
    assert client.get("/admin/jobs/").status_code == 302
    login(client, "lea")
    token = csrf_token(client, "/account/password")
    assert client.get("/admin/jobs/").status_code == 403
    assert client.get(f"/admin/jobs/{dead}").status_code == 403
    assert client.post(f"/admin/jobs/{dead}/retry", data={"csrf_token": token}).status_code == 403
    status = db.read(lambda conn: conn.execute(sa.select(models.jobs.c.status).where(models.jobs.c.id == dead)).scalar())
    assert status == "failed"


def test_jobs_are_paged_with_the_filter_kept(app, db, make_user):
    """With more jobs than a page holds, do Older and Newer keep the status filter?"""
    db.run(
        lambda conn: [
            queue.enqueue(conn, "mail.notification", {"notification": i}, run_at=queue.now_utc() + queue.BACKOFF_MAX) for i in range(55)
        ]
    )
    make_user("root", is_admin=True)
    client = app.test_client()
    login(client, "root")
    first = client.get("/admin/jobs/?status=queued").get_data(as_text=True)
    assert "/admin/jobs/?page=2&amp;status=queued" in first and "Page 1 of 2" in first
    second = client.get("/admin/jobs/?status=queued&page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second and "/admin/jobs/?page=1&amp;status=queued" in second
