"""The record page and its actions: rendering, permissions per role, transitions (with the
dialog and guards), history, delete, CSRF, 404s and escaping of hostile values."""

from __future__ import annotations

import re

from flowdeck.engine import records, workflow
from tests.support.documents import minimal_app
from tests.support.records import create, fetch
from tests.support.web import HX, XSS_TEXT, XSS_TITLE, csrf_token, signed_in, text, url, value_of

# -- rendering ----------------------------------------------------------------------------------


def test_record_page_shows_fields_by_section_state_and_transitions(client, db, task, people):
    """Does the record page show the title, state, fields by section and the transition form?"""
    rec = create(db, task, people["lead"], title="Ship it", priority="high", estimate="2.5", notes="**bold** text")
    signed_in(client, "lea")
    response = client.get(url(rec.id))
    html = text(response)
    assert response.status_code == 200
    assert "<h1>Ship it</h1>" in html
    assert "Todo" in html and 'class="badge state"' in html
    assert html.index("Basics") < html.index("Planning") < html.index(">Number<")
    assert '<div class="markdown" hx-disable><p><strong>bold</strong> text</p>' in html
    form = html[html.index('<form id="transition-form"') :]
    form = form[: form.index("</form>")]
    assert f'action="{url(rec.id, "/transition")}"' in form
    assert value_of(form, "csrf_token")
    assert f'name="version" value="{rec.version}"' in form
    assert 'name="from_state" value="todo"' in form
    assert 'name="transition" value="start"' in form
    assert "2.5" in html and "T-0001" in html


def test_hidden_fields_are_not_shown_to_the_role_a_rule_hides_them_from(client, db, task, people):
    """Does a member not see a field that a rule hides from members, on the page and its history?"""
    rec = create(db, task, people["lead"], title="t", secret="launch codes")
    signed_in(client, "mo")
    html = text(client.get(url(rec.id)))
    assert "launch codes" not in html and 'data-field="secret"' not in html
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    signed_in(client, "lea")
    assert "launch codes" in text(client.get(url(rec.id)))


def test_a_reader_who_sees_fewer_fields_gets_rows_of_their_own_after_one_who_sees_more(client, db, task, people):
    """The rows' frames are kept per visible fields (`record_html`): after a lead's page, which
    shows the hidden field, does a member's page of the same record still leave it out, and
    the lead's page still show it?"""
    rec = create(db, task, people["lead"], title="t", secret="launch codes")
    signed_in(client, "lea")
    assert 'data-field="secret"' in text(client.get(url(rec.id)))
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    signed_in(client, "mo")
    html = text(client.get(url(rec.id)))
    assert "launch codes" not in html and 'data-field="secret"' not in html
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    signed_in(client, "lea")
    assert "launch codes" in text(client.get(url(rec.id)))


def test_unknown_records_are_404(client, task, people):
    """Do show, edit, transition, comments and delete of a missing record answer 404?"""
    token = signed_in(client, "lea")
    assert client.get(url(999)).status_code == 404
    assert client.get(url(999, "/edit")).status_code == 404
    assert client.get(url(999, "/transition?transition=start")).status_code == 404
    assert client.post(url(999, "/transition"), data={"csrf_token": token, "transition": "start", "version": "1"}).status_code == 404
    assert client.post(url(999, "/comments"), data={"csrf_token": token, "body": "hi"}).status_code == 404
    assert client.post(url(999, "/delete"), data={"csrf_token": token, "version": "1"}).status_code == 404
    assert client.get("/a/demo/nope/1").status_code == 404


# -- permissions per role ------------------------------------------------------------------------


def test_viewer_gets_no_buttons_and_403_on_every_change(client, db, task, people):
    """Is a viewer shown no edit, delete, transition or comment controls, and refused each with 403?"""
    rec = create(db, task, people["lead"], title="Read me")
    token = signed_in(client, "vic")
    html = text(client.get(url(rec.id)))
    assert "Read me" in html
    assert 'id="transition-form"' not in html
    assert url(rec.id, "/edit") not in html and url(rec.id, "/delete") not in html
    assert 'class="comment-form"' not in html
    assert client.get(url(tail="/new")).status_code == 403
    assert client.post(url(tail="/new"), data={"csrf_token": token, "title": "x"}).status_code == 403
    assert client.get(url(rec.id, "/edit")).status_code == 403
    assert client.post(url(rec.id, "/edit"), data={"csrf_token": token, "title": "x"}).status_code == 403
    assert client.get(url(rec.id, "/transition?transition=start")).status_code == 403
    assert client.post(url(rec.id, "/transition"), data={"csrf_token": token, "transition": "start"}).status_code == 403
    assert client.post(url(rec.id, "/comments"), data={"csrf_token": token, "body": "hi"}).status_code == 403
    assert client.post(url(rec.id, "/delete"), data={"csrf_token": token}).status_code == 403
    assert fetch(db, task, rec.id).state == "todo"


def test_member_may_edit_but_not_delete(client, db, task, people):
    """Does a member see Edit but no Delete, and get 403 when deleting anyway?"""
    rec = create(db, task, people["lead"], title="Keep me")
    token = signed_in(client, "mo")
    html = text(client.get(url(rec.id)))
    assert url(rec.id, "/edit") in html and url(rec.id, "/delete") not in html
    assert client.post(url(rec.id, "/delete"), data={"csrf_token": token}).status_code == 403


def test_user_without_role_cannot_read_records(client, db, task, people):
    """Is someone holding no role in the app refused the record page?"""
    rec = create(db, task, people["lead"], title="Private")
    signed_in(client, "otto")
    assert client.get(url(rec.id)).status_code == 403


def test_transition_only_offered_to_roles_that_may(client, db, task, people):
    """Is a role-restricted transition hidden from a member and refused when posted anyway?"""
    rec = create(db, task, people["lead"], title="t")
    lead = people["lead"]
    for step in ("start", "submit"):
        rec = db.run(lambda conn, step=step, record_id=rec.id: workflow.transition_record(conn, task, record_id, step, actor=lead))
    token = signed_in(client, "mo")
    html = text(client.get(url(rec.id)))
    assert 'value="approve"' not in html and 'value="reopen"' in html
    response = client.post(url(rec.id, "/transition"), data={"csrf_token": token, "transition": "approve", "version": rec.version})
    assert response.status_code == 403


# -- CSRF -------------------------------------------------------------------------------------------


def test_posts_without_csrf_token_are_refused(client, db, task, people):
    """Does every state-changing route refuse a POST without the CSRF token (400) and change nothing?"""
    rec = create(db, task, people["lead"], title="Same")
    signed_in(client, "lea")
    for path, data in [
        (url(tail="/new"), {"title": "x"}),
        (url(rec.id, "/edit"), {"title": "changed"}),
        (url(rec.id, "/transition"), {"transition": "start"}),
        (url(rec.id, "/comments"), {"body": "hi"}),
        (url(rec.id, "/delete"), {}),
        (url(tail="/conditions"), {"title": "x"}),
        ("/preview/markdown", {"text": "x"}),
    ]:
        assert client.post(path, data=data).status_code == 400, path
    stored = fetch(db, task, rec.id)
    assert (stored.values["title"], stored.state, stored.version) == ("Same", "todo", 1)


def test_get_never_changes_anything(client, db, task, people):
    """Do GET requests to the action URLs leave the record untouched (delete and comments refuse GET)?"""
    rec = create(db, task, people["lead"], title="Same")
    signed_in(client, "lea")
    client.get(url(rec.id, "/transition?transition=start"))
    assert client.get(url(rec.id, "/delete")).status_code == 405
    assert client.get(url(rec.id, "/comments")).status_code == 405
    stored = fetch(db, task, rec.id)
    assert (stored.state, stored.version) == ("todo", 1)


# -- transitions ------------------------------------------------------------------------------------


def test_transition_button_moves_the_record_and_redirects(client, db, task, people):
    """Does posting the transition form perform it and answer 303 back to the record?"""
    rec = create(db, task, people["lead"], title="Go")
    token = signed_in(client, "mo")
    response = client.post(
        url(rec.id, "/transition"), data={"csrf_token": token, "transition": "start", "version": "1", "from_state": "todo"}
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(url(rec.id))
    assert fetch(db, task, rec.id).state == "doing"
    html = text(client.get(url(rec.id)))
    assert "did" in html and "start" in html.lower()


def test_stale_transition_is_a_conflict(client, db, task, people):
    """Is a transition posted from an outdated page refused with a conflict and no change?"""
    rec = create(db, task, people["lead"], title="Go")
    db.run(lambda conn: records.update_record(conn, task, rec.id, {"title": "Newer"}, actor=people["lead"], expected_version=1))
    token = signed_in(client, "mo")
    response = client.post(
        url(rec.id, "/transition"), data={"csrf_token": token, "transition": "start", "version": "1", "from_state": "todo"}
    )
    assert response.status_code == 409
    assert "changed by someone else" in text(response)
    assert fetch(db, task, rec.id).state == "todo"


def _to_doing(db, task, rec, actor) -> records.Record:
    return db.run(lambda conn: workflow.transition_record(conn, task, rec.id, "start", actor=actor))


def test_transition_needing_fields_opens_a_dialog_asking_only_for_them(client, db, task, people):
    """Does a transition that needs a field and a comment open a dialog with just those, and complete from it?"""
    rec = _to_doing(db, task, create(db, task, people["lead"], title="Fin"), people["lead"])
    token = signed_in(client, "mo")
    page = text(client.get(url(rec.id)))
    button = re.search(r'<button type="submit" name="transition" value="finish"[^>]*>', page).group(0)
    assert "hx-get=" in button and "transition=finish" in button and 'hx-target="#dialog-body"' in button

    dialog = client.get(url(rec.id, "/transition?transition=finish"), headers=HX)
    html = text(dialog)
    assert dialog.status_code == 200 and "<html" not in html
    assert 'name="resolution"' in html and 'name="comment"' in html
    assert 'name="title"' not in html and 'name="estimate"' not in html
    assert 'hx-post="' + url(rec.id, "/transition") + '"' in html

    form = {"csrf_token": token, "transition": "finish", "version": str(rec.version), "from_state": "doing"}
    missing = client.post(url(rec.id, "/transition"), data=form, headers=HX)
    assert missing.status_code == 200 and "Fill in the marked fields" in text(missing)
    assert 'data-field="resolution"' in text(missing) and "is required" in text(missing)
    no_comment = client.post(url(rec.id, "/transition"), data={**form, "resolution": "Fixed"}, headers=HX)
    assert "needs a comment" in text(no_comment)
    assert 'value="Fixed"' in text(no_comment)

    done = client.post(url(rec.id, "/transition"), data={**form, "resolution": "Fixed", "comment": "All good"}, headers=HX)
    assert done.status_code == 200 and done.headers["HX-Redirect"] == url(rec.id)
    stored = fetch(db, task, rec.id)
    assert (stored.state, stored.values["resolution"]) == ("done", "Fixed")
    assert "All good" in text(client.get(url(rec.id)))


def test_every_change_without_its_version_is_refused_and_writes_nothing(client, db, task, people):
    """Are an edit, a transition with values and a delete without a valid `version` refused with 422 and why, nothing written?"""
    rec = _to_doing(db, task, create(db, task, people["lead"], title="Keep", estimate="2"), people["lead"])
    token = signed_in(client, "lea")
    said = "did not say which version of the record it was made on"
    edit = {"csrf_token": token, "title": "Overwritten", "estimate": "7"}
    finish = {"csrf_token": token, "transition": "finish", "from_state": "doing", "resolution": "Fixed", "comment": "done"}
    for version in (None, "", "two", "-1"):
        extra = {} if version is None else {"version": version}
        for tail, data in (("/edit", edit), ("/transition", finish), ("/delete", {"csrf_token": token})):
            response = client.post(url(rec.id, tail), data={**data, **extra})
            assert response.status_code == 422 and said in text(response), (tail, version)
    toast = client.post(url(rec.id, "/transition"), data=finish, headers=HX)
    assert toast.status_code == 422 and said in toast.headers["HX-Trigger"]
    stored = fetch(db, task, rec.id)
    assert (stored.values["title"], stored.state, stored.version) == ("Keep", "doing", rec.version)
    fresh = create(db, task, people["lead"], title="Fresh")
    done = client.post(url(fresh.id, "/edit"), data={**edit, "version": str(fresh.version)})
    assert done.status_code == 303 and fetch(db, task, fresh.id).values["title"] == "Overwritten"


def test_transition_without_javascript_falls_back_to_a_page(client, db, task, people):
    """Does a plain POST of a transition that needs input answer a page asking for it (422)?"""
    rec = _to_doing(db, task, create(db, task, people["lead"], title="Fin"), people["lead"])
    token = signed_in(client, "lea")
    response = client.post(url(rec.id, "/transition"), data={"csrf_token": token, "transition": "finish", "version": str(rec.version)})
    assert response.status_code == 422
    html = text(response)
    assert "<html" in html and 'name="resolution"' in html and "hx-post" not in html.split('class="transition-dialog"')[1][:300]
    assert client.get(url(rec.id, "/transition?transition=finish")).status_code == 200


def test_guard_blocked_transition_explains_itself(client, db, task, people):
    """Is a transition whose guard fails shown with its reason, opening a dialog with the
    field the guard reads, and refused with the reason when posted?"""
    rec = create(db, task, people["lead"], title="Small", estimate="2")
    token = signed_in(client, "lea")
    html = text(client.get(url(rec.id)))
    button = re.search(r'<button type="submit" name="transition" value="skip"[^>]*>', html).group(0)
    assert "disabled" not in button and "transition=skip" in button and 'aria-describedby="why-skip"' in button
    assert '<span class="why" id="why-skip">Only big tasks skip the queue</span>' in html
    response = client.post(url(rec.id, "/transition"), data={"csrf_token": token, "transition": "skip", "version": "1"})
    assert response.status_code == 422 and "Only big tasks skip the queue" in text(response)
    dialog = client.post(url(rec.id, "/transition"), data={"csrf_token": token, "transition": "skip", "version": "1"}, headers=HX)
    assert "Only big tasks skip the queue" in text(dialog)
    assert fetch(db, task, rec.id).state == "todo"


def test_unknown_transition_is_refused_with_a_reason(client, db, task, people):
    """Does an unknown or out-of-state transition get a clear refusal, not a crash?"""
    rec = create(db, task, people["lead"], title="x")
    token = signed_in(client, "lea")
    response = client.post(url(rec.id, "/transition"), data={"csrf_token": token, "transition": "nope", "version": "1"})
    assert response.status_code == 422 and "no transition" in text(response)
    response = client.post(url(rec.id, "/transition"), data={"csrf_token": token, "transition": "submit", "version": "1"})
    assert response.status_code == 422 and "not possible in this state" in text(response)


# -- history ---------------------------------------------------------------------------------------------


def test_history_shows_field_level_changes_with_labels_and_names(client, db, task, people):
    """Does the timeline show who changed which field from what to what, and transitions with comments?"""
    lead = people["lead"]
    rec = create(db, task, lead, title="Plan", priority="low", estimate="1", owner=people["member"].user_id)
    rec = db.run(
        lambda conn: records.update_record(conn, task, rec.id, {"priority": "high", "estimate": "3"}, actor=lead, expected_version=1)
    )
    signed_in(client, "mo")
    html = text(client.get(url(rec.id)))
    history = html[html.index('id="history"') :]
    assert "Lea" in history and "changed" in history and "created this" in history
    assert re.search(r"Priority</span> <del>.*Low.*</del>.*<ins>.*High.*</ins>", history)
    assert '<del><span class="num">1.0</span></del>' in history and '<ins><span class="num">3.0</span></ins>' in history
    assert "Mo" in history  # the owner's name, not an id


# -- delete ------------------------------------------------------------------------------------------------


def test_delete_asks_for_confirmation_and_removes_the_record(client, db, task, people):
    """Is delete a confirmation step posting with CSRF, answering 303 to the list, leaving a 404 behind?"""
    rec = create(db, task, people["lead"], title="Bye")
    token = signed_in(client, "lea")
    html = text(client.get(url(rec.id)))
    assert '<details class="confirm">' in html and "Delete permanently" in html
    response = client.post(url(rec.id, "/delete"), data={"csrf_token": token, "version": "1"})
    assert response.status_code == 303 and response.headers["Location"].endswith(url() + "/")
    assert client.get(url(rec.id)).status_code == 404


def test_stale_delete_is_refused(client, db, task, people):
    """Is a delete from an outdated page refused with a conflict?"""
    rec = create(db, task, people["lead"], title="Bye")
    db.run(lambda conn: records.update_record(conn, task, rec.id, {"title": "Still here"}, actor=people["lead"], expected_version=1))
    token = signed_in(client, "lea")
    assert client.post(url(rec.id, "/delete"), data={"csrf_token": token, "version": "1"}).status_code == 409
    assert fetch(db, task, rec.id).values["title"] == "Still here"


# -- hostile values ------------------------------------------------------------------------------------------


def test_html_script_and_htmx_payloads_are_shown_as_text(client, db, task, people):
    """Are titles, values, history, comments and lookups with HTML, script or hx-* shown as text?"""
    lead = people["lead"]
    other = create(db, task, lead, title=XSS_TITLE)
    rec = create(db, task, lead, title=XSS_TITLE, repro=XSS_TEXT, notes=XSS_TEXT, parent=other.id)
    db.run(lambda conn: records.update_record(conn, task, rec.id, {"repro": XSS_TITLE + "2"}, actor=lead, expected_version=1))
    token = signed_in(client, "lea")
    client.post(url(rec.id, "/comments"), data={"csrf_token": token, "body": XSS_TEXT})
    pages = [
        text(client.get(url(rec.id))),
        text(client.get(url(rec.id, "/edit"))),
        text(client.get(url(tail="/lookup?q=img"), headers=HX)),
    ]
    for html in pages:
        assert "<img src=x" not in html
        assert "<script>alert" not in html
        # The page's own transition buttons use hx-get; the payload's (to /logout) must not come through.
        assert not re.search(r'<[a-z][^<>]*\shx-get="/logout"', html), "an element with hx-get came through"
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]


def test_a_formula_that_gives_no_value_says_why_next_to_its_field(client, db, install, files_dir, people):
    """Does the record page show next to an empty computed field why its formula gave nothing, in the reader's language?"""
    doc = minimal_app()
    doc["entities"]["task"]["fields"]["amount"] = {"type": "computed", "formula": "title", "result": "decimal"}
    doc["entities"]["task"]["fields"]["ratio"] = {"type": "computed", "formula": "10 / estimate", "result": "decimal"}
    et = install(doc).entity("demo", "task")
    rec = create(db, et, people["lead"], title="abc", estimate="0")
    signed_in(client, "lea")
    html = text(client.get(url(rec.id)))
    amount = html[html.index('data-field="amount"') :]
    assert '<span class="formula-problem">the formula gave text, expected number</span>' in amount[: amount.index("</div>")]
    ratio = html[html.index('data-field="ratio"') :]
    assert '<span class="formula-problem">the formula failed: division by zero</span>' in ratio[: ratio.index("</div>")]
    client.post("/prefs/lang", data={"csrf_token": csrf_token(client, "/"), "lang": "zh"})
    assert "the formula gave text" not in text(client.get(url(rec.id)))


# -- approvals ------------------------------------------------------------------------------------------------


def test_transition_with_approval_asks_for_it_and_the_page_shows_the_request(client, db, install, files_dir, people):
    """Does an approval transition create a request (state unchanged), shown with decide and withdraw controls?"""
    doc = minimal_app()
    submit = next(t for t in doc["entities"]["task"]["workflow"]["transitions"] if t["key"] == "submit")
    submit["approval"] = {"steps": [{"key": "check", "label": "Lead check", "approvers": {"role": "lead"}}]}
    et = install(doc).entity("demo", "task")
    rec = create(db, et, people["member"], title="Needs a yes")
    rec = db.run(lambda conn: workflow.transition_record(conn, et, rec.id, "start", actor=people["member"]))
    token = signed_in(client, "mo")
    assert "Request approval: Submit" in text(client.get(url(rec.id)))
    response = client.post(url(rec.id, "/transition"), data={"csrf_token": token, "transition": "submit", "version": str(rec.version)})
    assert response.status_code == 303
    assert fetch(db, et, rec.id).state == "doing"
    html = text(client.get(url(rec.id)))
    assert "Approval requested: Submit" in html and "Now with: Lead check." in html and "Withdraw the request" in html
    assert re.search(r'value="reopen"[^>]*disabled|disabled[^>]*value="reopen"', html) is None  # reopen is not offered from doing
    assert 'aria-describedby="why-pending"' in html and "Waiting for the approval" in html
    assert 'name="decision" value="approve"' not in html
    client.post("/logout", data={"csrf_token": token})
    token = signed_in(client, "lea")
    html = text(client.get(url(rec.id)))
    assert 'name="decision" value="approve"' in html and f'name="next" value="{url(rec.id)}"' in html
    decided = client.post(
        html.split('class="decide" method="post" action="')[1].split('"')[0],
        data={"csrf_token": token, "decision": "approve", "next": url(rec.id)},
    )
    assert decided.status_code == 303
    assert fetch(db, et, rec.id).state == "review"
