"""Uploads (type and size limits, content-addressed storage), downloads (who may), comments
and @mentions (one notification per person, even for a double submit)."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from flowdeck.engine import comments, files, models, notifications
from flowdeck.engine.errors import Forbidden, RecordInvalid
from tests.support.documents import tracker_app
from tests.support.records import create, fetch
from tests.support.web import HX, XSS_TEXT, csrf_token, field_block, signed_in, text, url, value_of

PDF = b"%PDF-1.4 tiny test file\n"


@pytest.fixture
def files_dir(app, tmp_path):
    folder = tmp_path / "files"
    app.config["FLOWDECK_FILES_DIR"] = str(folder)
    return folder


@pytest.fixture
def task(install, files_dir):
    return install(tracker_app()).entity("demo", "task")


@pytest.fixture
def people(make_user):
    return {
        "lead": make_user("lea", {"demo": ["lead"]}),
        "member": make_user("mo", {"demo": ["member"]}),
        "viewer": make_user("vic", {"demo": ["viewer"]}),
        "outsider": make_user("otto"),
    }


def upload(client, token, data, **files_):
    form = {"csrf_token": token, **data}
    form.update({name: (io.BytesIO(content), filename) for name, (filename, content) in files_.items()})
    return client.post(url(tail="/new"), data=form, content_type="multipart/form-data")


def count(db, table) -> int:
    return db.read(lambda conn: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()))


def new_id(response) -> int:
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return int(response.headers["Location"].rsplit("/", 1)[1])


# -- uploads ---------------------------------------------------------------------------------------


def test_upload_is_stored_by_content_listed_and_downloadable(client, db, task, files_dir, people):
    """Is an accepted upload stored under its SHA-256, attached, listed on the page and downloaded safely?"""
    token = signed_in(client, "mo")
    record_id = new_id(upload(client, token, {"title": "With file"}, spec=("Plan v1.pdf", PDF)))
    file_id = fetch(db, task, record_id).values["spec"]
    stored = db.read(lambda conn: files.get_file(conn, file_id))
    assert (stored.filename, stored.size, stored.content_type) == ("Plan v1.pdf", len(PDF), "application/pdf")
    assert files.blob_path(files_dir, stored.sha256).read_bytes() == PDF
    html = text(client.get(url(record_id)))
    assert f'href="/files/{file_id}"' in html and "Plan v1.pdf" in html and 'id="attachments"' in html
    with client.get(f"/files/{file_id}") as response:
        assert response.status_code == 200 and response.data == PDF
        assert (
            response.headers["Content-Disposition"].startswith("attachment;") and "Plan v1.pdf" in response.headers["Content-Disposition"]
        )
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response.headers["Content-Security-Policy"]


def test_same_content_is_kept_once(client, db, task, files_dir, people):
    """Are two uploads with the same bytes stored once on disk (two rows, one blob)?"""
    token = signed_in(client, "lea")
    new_id(upload(client, token, {"title": "a"}, spec=("a.pdf", PDF)))
    new_id(upload(client, token, {"title": "b"}, spec=("b.pdf", PDF)))
    blobs = [p for p in files_dir.rglob("*") if p.is_file()]
    assert len(blobs) == 1 and count(db, models.attachments) == 2


def test_too_large_upload_is_refused_next_to_its_field_with_input_kept(client, db, task, people):
    """Does a file over the field's limit get a clear error beside the field, keeping the other input?"""
    token = signed_in(client, "lea")
    response = upload(client, token, {"title": "Keep me", "notes": "typed notes"}, spec=("big.pdf", b"x" * 20_000))
    assert response.status_code == 422
    html = text(response)
    assert "is larger than 0.01 MB" in field_block(html, "spec")
    assert value_of(html, "title") == "Keep me" and "typed notes</textarea>" in html
    assert count(db, task.table) == 0 and count(db, models.attachments) == 0


def test_forbidden_file_type_is_refused(client, db, task, people):
    """Is a file whose type the field does not accept refused with the accepted types named?"""
    token = signed_in(client, "lea")
    response = upload(client, token, {"title": "x"}, spec=("run.exe", b"MZ"))
    assert response.status_code == 422
    assert "must be one of these types: .pdf, .txt" in field_block(text(response), "spec")
    assert count(db, task.table) == 0


def test_upload_kept_when_another_field_fails(client, db, task, people):
    """Is an accepted upload kept (as a chip) when the form fails for another reason?"""
    token = signed_in(client, "lea")
    response = upload(client, token, {"title": ""}, spec=("ok.txt", b"hello"))
    assert response.status_code == 422
    spec = field_block(text(response), "spec")
    file_id = value_of(spec, "spec")
    assert file_id and "ok.txt" in spec
    record_id = new_id(client.post(url(tail="/new"), data={"csrf_token": token, "title": "now", "spec": file_id}))
    assert fetch(db, task, record_id).values["spec"] == int(file_id)


def test_request_over_the_overall_limit_gets_a_413_page(client, app, task, people):
    """Does a request larger than MAX_CONTENT_LENGTH get a clear 413 page?"""
    token = signed_in(client, "lea")
    app.config["MAX_CONTENT_LENGTH"] = 50_000
    response = upload(client, token, {"title": "x"}, files=("huge.bin", b"x" * 60_000))
    assert response.status_code == 413
    html = text(response)
    assert "larger than this server accepts" in html and "Too large" in html


def test_many_files_can_be_added_and_removed(client, db, task, people):
    """Can a many-file field gain an upload while keeping its file, and then be emptied?"""
    token = signed_in(client, "lea")
    record_id = new_id(upload(client, token, {"title": "t"}, files=("one.txt", b"1")))
    first = fetch(db, task, record_id).values["files"][0]
    data = {"csrf_token": token, "version": "1", "files": ["", str(first), (io.BytesIO(b"2"), "two.txt")]}
    assert client.post(url(record_id, "/edit"), data=data, content_type="multipart/form-data").status_code == 303
    kept = fetch(db, task, record_id).values["files"]
    assert kept[0] == first and len(kept) == 2
    assert client.post(url(record_id, "/edit"), data={"csrf_token": token, "version": "2", "files": ""}).status_code == 303
    assert fetch(db, task, record_id).values["files"] == []


def test_cannot_attach_someone_elses_file_by_id(client, db, task, people):
    """Is a form that names another user's file id refused, so the file cannot be read that way?"""
    lead_token = signed_in(client, "lea")
    record_id = new_id(upload(client, lead_token, {"title": "secret"}, spec=("mine.pdf", PDF)))
    file_id = fetch(db, task, record_id).values["spec"]
    client.post("/logout", data={"csrf_token": lead_token})
    token = signed_in(client, "mo")
    response = client.post(url(tail="/new"), data={"csrf_token": token, "title": "grab", "spec": str(file_id)})
    assert response.status_code == 422 and "not a file you uploaded" in text(response)


# -- downloads -------------------------------------------------------------------------------------------


def status(client, path: str) -> int:
    with client.get(path) as response:
        return response.status_code


def test_download_needs_read_permission_on_a_record_holding_the_file(client, db, task, people):
    """Do readers of the holding record get the file, others a 404, and an unattached upload only its uploader?"""
    token = signed_in(client, "lea")
    record_id = new_id(upload(client, token, {"title": "t"}, spec=("a.pdf", PDF)))
    file_id = fetch(db, task, record_id).values["spec"]
    loose = text(upload(client, token, {"title": ""}, spec=("loose.txt", b"loose")))
    loose_id = value_of(field_block(loose, "spec"), "spec")
    assert status(client, f"/files/{loose_id}") == 200
    client.post("/logout", data={"csrf_token": token})
    signed_in(client, "vic")
    assert status(client, f"/files/{file_id}") == 200
    assert status(client, f"/files/{loose_id}") == 404
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    signed_in(client, "otto")
    assert status(client, f"/files/{file_id}") == 404
    assert status(client, "/files/99999") == 404


def test_stored_names_are_cleaned():
    """Are path parts and control characters removed from uploaded file names?"""
    assert files.clean_name("../../etc/passwd") == "passwd"
    assert files.clean_name("C:\\Users\\me\\report<1>.pdf") == "report_1_.pdf"
    assert files.clean_name("\x00\n") == "file"
    assert len(files.clean_name("a" * 300 + ".pdf")) == 255 and files.clean_name("a" * 300 + ".pdf").endswith(".pdf")


# -- comments and mentions ---------------------------------------------------------------------------------


def notifications_of(db, user_id: int) -> list[tuple[str, str]]:
    """Each notification of the user: its kind and its text in English."""
    return db.read(lambda conn: [(n.kind, str(n.message)) for n in notifications.list_notifications(conn, user_id)])


def test_comment_with_mention_notifies_once_even_when_posted_twice(client, db, task, people):
    """Does a comment mentioning @mo create one notification for mo, even when submitted twice?"""
    rec = create(db, task, people["lead"], title="Discuss")
    token = signed_in(client, "lea")
    body = "Please check this, @mo. And @nobody too."
    first = client.post(url(rec.id, "/comments"), data={"csrf_token": token, "body": body})
    second = client.post(url(rec.id, "/comments"), data={"csrf_token": token, "body": body})
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"].endswith(url(rec.id) + "#comments")
    assert count(db, models.comments) == 1
    assert [kind for kind, _ in notifications_of(db, people["member"].user_id)] == ["mention"]
    assert "lea mentioned you" in notifications_of(db, people["member"].user_id)[0][1]
    html = text(client.get(url(rec.id)))
    assert '<span class="mention" title="Mo">@mo</span>' in html and "@nobody" in html


def test_mentions_skip_people_who_cannot_read_the_record(client, db, task, people):
    """Is a mentioned user without read access (or the author) left unnotified?"""
    rec = create(db, task, people["lead"], title="Discuss")
    token = signed_in(client, "lea")
    client.post(url(rec.id, "/comments"), data={"csrf_token": token, "body": "@otto @lea @vic"})
    assert notifications_of(db, people["outsider"].user_id) == [] and notifications_of(db, people["lead"].user_id) == []
    assert len(notifications_of(db, people["viewer"].user_id)) == 1


def test_comments_over_htmx_answer_the_comments_block(client, db, task, people):
    """Does an htmx comment post answer only the comments block, and show errors there?"""
    rec = create(db, task, people["lead"], title="Discuss")
    token = signed_in(client, "mo")
    response = client.post(url(rec.id, "/comments"), data={"csrf_token": token, "body": "First!"}, headers=HX)
    html = text(response)
    assert response.status_code == 200 and html.lstrip().startswith('<section class="panel comments" id="comments"') and "First!" in html
    empty = client.post(url(rec.id, "/comments"), data={"csrf_token": token, "body": "   "}, headers=HX)
    assert empty.status_code == 200 and "Comment is required" in text(empty)
    plain = client.post(url(rec.id, "/comments"), data={"csrf_token": token, "body": ""})
    assert plain.status_code == 422 and "Comment is required" in text(plain)


def test_comment_bodies_are_escaped(client, db, task, people):
    """Is a comment with HTML, script and hx-* attributes shown as text?"""
    rec = create(db, task, people["lead"], title="Discuss")
    token = signed_in(client, "lea")
    client.post(url(rec.id, "/comments"), data={"csrf_token": token, "body": XSS_TEXT})
    html = text(client.get(url(rec.id)))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert '<div hx-get="/logout"' not in html


def test_comment_service_checks_permission_and_body(db, task, people):
    """Does the engine refuse comments from readers and empty or oversized bodies?"""
    rec = create(db, task, people["lead"], title="x")
    with pytest.raises(Forbidden):
        db.run(lambda conn: comments.add_comment(conn, task, rec.id, "hi", actor=people["viewer"]))
    with pytest.raises(RecordInvalid):
        db.run(lambda conn: comments.add_comment(conn, task, rec.id, " ", actor=people["lead"]))
    with pytest.raises(RecordInvalid):
        db.run(lambda conn: comments.add_comment(conn, task, rec.id, "x" * 10_001, actor=people["lead"]))


def test_mention_parsing():
    """Are @usernames found once each, without e-mail addresses or a sentence's final dot?"""
    assert comments.mentioned_names("Hi @Mo and @lea.k, mail a@b.com; again @mo.") == ["mo", "lea.k"]
