"""Approvals over HTTP: the inbox and its tabs, deciding from the inbox, the record page and
board cards, withdraw, send back / add an approver / delegate, badges, notifications, and the
refusals of "Bad input and abuse" (each with a clear message and nothing changed)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.engine import approvals, history, models, notifications, records, users
from flowdeck.engine.storage.tables import EntityTables
from tests.support.web import csrf_token, login

XSS = '<img src=x onerror=alert(1)>"><script>alert(2)</script>'
HX = {"HX-Request": "true"}

FLOW: dict[str, Any] = {
    "key": "buy",
    "label": "Purchasing",
    "roles": {"staff": {}, "finance": {}, "board": {}},
    "entities": {
        "request": {
            "label": "Purchase request",
            "fields": {
                "purpose": {"type": "text", "required": True, "label": "Purpose"},
                "amount": {"type": "money", "required": True, "currency": "CNY", "label": "Amount"},
                "note": {"type": "text", "label": "Note"},
            },
            "workflow": {
                "states": {
                    "draft": {"category": "todo", "label": "Draft"},
                    "approved": {"category": "doing", "label": "Approved"},
                    "closed": {"category": "done", "label": "Closed"},
                },
                "transitions": [
                    {
                        "key": "submit",
                        "label": "Submit",
                        "from": "draft",
                        "to": "approved",
                        "approval": {
                            "steps": [
                                {"key": "finance", "label": "Finance check", "approvers": {"role": "finance"}, "mode": "any"},
                                {"key": "board", "label": "Board countersign", "approvers": {"role": "board"}, "mode": "all"},
                            ],
                            "send_back": True,
                            "add_approvers": True,
                            "delegate": True,
                            "while_pending": {"frozen": ["amount"]},
                        },
                    },
                    {"key": "close", "label": "Close", "from": ["draft", "approved"], "to": "closed"},
                ],
            },
            "views": {"board": {"type": "board", "label": "Board", "group_by": "state", "card": ["amount"]}},
        }
    },
}

PEOPLE = {
    "alice": ["staff", "finance"],  # the requester; holds the finance role too
    "fred": ["finance"],
    "fay": ["finance"],
    "bea": ["board"],
    "ben": ["board"],
    "olga": ["staff"],  # an outsider to every approval
}


class World:
    def __init__(self, db: Any, et: EntityTables, ids: dict[str, int], client: Any) -> None:
        self.db, self.et, self.ids, self.client = db, et, ids, client

    def actor(self, name: str) -> Any:
        return self.db.read(lambda c: users.actor_for(c, self.ids[name]))

    def ask(self, purpose: str = "monitors", amount: str = "1200.00", by: str = "alice", comment: str | None = None) -> approvals.Outcome:
        actor = self.actor(by)
        rec = self.db.run(lambda c: records.create_record(c, self.et, {"purpose": purpose, "amount": amount}, actor=actor))
        return self.db.run(lambda c: approvals.request_approval(c, self.et, rec.id, "submit", actor=actor, comment=comment))

    def decide(self, request_id: int, name: str, approve: bool = True, comment: str | None = None) -> approvals.Outcome:
        actor = self.actor(name)
        return self.db.run(lambda c: approvals.decide(c, self.et, request_id, actor=actor, approve=approve, comment=comment))

    def sign_in(self, name: str) -> str:
        self.client.post("/logout", data={"csrf_token": csrf_token(self.client, "/login")})
        login(self.client, name)
        return csrf_token(self.client, "/approvals")

    def state(self, record_id: int) -> str | None:
        return self.db.read(lambda c: records.fetch_record(c, self.et, record_id)).state

    def request(self, request_id: int) -> approvals.RequestRow:
        return self.db.read(lambda c: approvals.get_request(c, request_id))

    def tasks(self, request_id: int) -> list[tuple[str, str, str, str | None]]:
        """(step key, approver, status, comment) of every task, in order."""
        T, S, U = models.approval_tasks, models.approval_steps, models.users
        query = (
            sa.select(S.c.key, U.c.username, T.c.status, T.c.comment)
            .join(S, S.c.id == T.c.step_id)
            .join(U, U.c.id == T.c.approver_id)
            .where(T.c.request_id == request_id)
            .order_by(T.c.id)
        )
        return [tuple(row) for row in self.db.read(lambda c: c.execute(query).all())]

    def history(self, record_id: int) -> list[tuple[str, int | None]]:
        return [(e.action, e.actor_id) for e in self.db.read(lambda c: history.list_entries(c, "buy", "request", record_id))]

    def snapshot(self, request_id: int) -> tuple[Any, ...]:
        """Everything an action could change: the request, its tasks, the record's state and history."""
        row = self.request(request_id)
        return (row.status, row.current_step, self.tasks(request_id), self.state(row.record_id), self.history(row.record_id))

    def record_url(self, record_id: int) -> str:
        return f"/a/buy/request/{record_id}"


def build(install, db, client, document: dict[str, Any] | None = None) -> World:
    et = install(document or FLOW).entity("buy", "request")
    ids: dict[str, int] = {}

    def setup(conn: sa.Connection) -> None:
        for name, roles in PEOPLE.items():
            uid = users.create_user(conn, name, password="password123", display_name=name.title())
            for role in roles:
                users.grant_role(conn, uid, "buy", role)
            ids[name] = uid

    db.run(setup)
    return World(db, et, ids, client)


@pytest.fixture
def world(install, db, client) -> World:
    return build(install, db, client)


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def post(world: World, url: str, token: str, headers: dict[str, str] | None = None, **data: str) -> Any:
    return world.client.post(url, data={"csrf_token": token, **data}, headers=headers or {})


def decide_url(request_id: int) -> str:
    return f"/approvals/{request_id}/decide"


# -- the inbox -----------------------------------------------------------------------------------------------


def test_inbox_tabs_list_the_right_requests(world):
    """Does each tab list what it should: waiting for me, my requests, decided?"""
    asked = world.ask("Laptops for the lab", comment="Needed before term")
    token = world.sign_in("fred")
    waiting = text(world.client.get("/approvals"))
    assert "Laptops for the lab" in waiting and "Finance check" in waiting and "Needed before term" in waiting
    assert f'action="{decide_url(asked.request_id)}"' in waiting
    assert "You have not asked for any approval." in text(world.client.get("/approvals?tab=mine"))
    assert "You have not decided anything yet." in text(world.client.get("/approvals?tab=decided"))
    assert post(world, decide_url(asked.request_id), token, decision="approve").status_code == 303
    assert "Nothing is waiting for your approval." in text(world.client.get("/approvals"))
    decided = text(world.client.get("/approvals?tab=decided"))
    assert "Laptops for the lab" in decided and "Your decision" in decided and "Approved" in decided
    world.sign_in("alice")
    mine = text(world.client.get("/approvals?tab=mine"))
    assert "Laptops for the lab" in mine and f"/approvals/{asked.request_id}/withdraw" in mine
    assert "Nothing is waiting for your approval." in text(world.client.get("/approvals"))
    world.sign_in("olga")
    for tab in ("waiting", "mine", "decided"):
        assert "Laptops for the lab" not in text(world.client.get(f"/approvals?tab={tab}"))


def test_inbox_needs_sign_in_and_unknown_tabs_fall_back(world):
    """Is the inbox behind sign-in, and does an unknown tab show the waiting tab?"""
    assert world.client.get("/approvals").status_code == 302
    world.sign_in("fred")
    html = text(world.client.get("/approvals?tab=<script>"))
    assert "Nothing is waiting for your approval." in html and "<script>" not in html


def test_approve_from_the_inbox_moves_on_and_the_last_step_runs_the_transition(world):
    """Does approving from the inbox go to the next step, and the last approval run the transition?"""
    asked = world.ask()
    token = world.sign_in("fred")
    response = post(world, decide_url(asked.request_id), token, decision="approve", comment="ok", next="/approvals")
    assert response.status_code == 303 and response.headers["Location"].endswith("/approvals")
    assert world.request(asked.request_id).current_step == 1
    assert "Your decision is recorded." in text(world.client.get("/approvals"))  # the message after the redirect
    for name in ("bea", "ben"):
        token = world.sign_in(name)
        assert post(world, decide_url(asked.request_id), token, decision="approve").status_code == 303
    assert world.state(asked.record.id) == "approved"
    assert world.request(asked.request_id).status == "approved"


def test_reject_without_comment_is_refused_and_changes_nothing(world):
    """Is a rejection without a comment a 422 with a clear message (page and htmx), nothing changed?"""
    asked = world.ask()
    token = world.sign_in("fred")
    before = world.snapshot(asked.request_id)
    response = post(world, decide_url(asked.request_id), token, decision="reject", comment="   ")
    assert response.status_code == 422
    assert "A rejection needs a comment saying why." in text(response) and "Nothing was changed." in text(response)
    response = post(world, decide_url(asked.request_id), token, HX, decision="reject")
    assert response.status_code == 422
    assert json.loads(response.headers["HX-Trigger"])["flowdeck:toast"]["message"] == "A rejection needs a comment saying why."
    assert world.snapshot(asked.request_id) == before


def test_reject_with_comment_ends_the_round(world):
    """Does a rejection with a comment end the round, keep the record in its state and tell the requester?"""
    asked = world.ask()
    token = world.sign_in("fred")
    assert post(world, decide_url(asked.request_id), token, decision="reject", comment="Too expensive").status_code == 303
    assert world.request(asked.request_id).status == "rejected" and world.state(asked.record.id) == "draft"
    told = world.db.read(lambda c: notifications.list_notifications(c, world.ids["alice"]))
    assert any("Too expensive" in str(n.message) for n in told)


def test_bad_decision_value_and_unknown_request(world):
    """Is a decision other than approve/reject a 400, and an unknown request a 404?"""
    asked = world.ask()
    token = world.sign_in("fred")
    assert post(world, decide_url(asked.request_id), token, decision="maybe").status_code == 400
    assert post(world, decide_url(999999), token, decision="approve").status_code == 404
    assert world.request(asked.request_id).status == "pending"


def test_decide_without_csrf_token_is_refused(world):
    """Is a decision without the CSRF token refused (400) and nothing changed?"""
    asked = world.ask()
    world.sign_in("fred")
    before = world.snapshot(asked.request_id)
    response = world.client.post(decide_url(asked.request_id), data={"decision": "approve"})
    assert response.status_code == 400
    assert world.snapshot(asked.request_id) == before


def test_a_non_approver_cannot_decide(world):
    """Is someone who is not an approver of the current step refused (403) with nothing changed?"""
    asked = world.ask()
    before = world.snapshot(asked.request_id)
    for name in ("olga", "bea"):  # bea approves a later step, not this one
        token = world.sign_in(name)
        response = post(world, decide_url(asked.request_id), token, decision="approve")
        assert response.status_code == 403, name
        assert "not an approver" in text(response)
        assert post(world, decide_url(asked.request_id), token, HX, decision="reject", comment="no").status_code == 403
    assert world.snapshot(asked.request_id) == before


def test_someone_no_longer_an_approver_cannot_decide(world):
    """Once fay approved the any-one step, is fred (no longer an approver) refused with 403, nothing changed?"""
    asked = world.ask()
    world.decide(asked.request_id, "fay")
    before = world.snapshot(asked.request_id)
    token = world.sign_in("fred")
    response = post(world, decide_url(asked.request_id), token, decision="approve")
    assert response.status_code == 403 and "not an approver of the current step" in text(response)
    assert world.snapshot(asked.request_id) == before


def test_deciding_a_withdrawn_or_finished_request_is_already_decided(world):
    """Is a decision on a withdrawn request, or on an approved one, a 409 "already decided"?"""
    withdrawn = world.ask("withdrawn one")
    alice = world.actor("alice")
    world.db.run(lambda c: approvals.withdraw(c, world.et, withdrawn.request_id, actor=alice))
    finished = world.ask("finished one")
    for name in ("fred", "bea", "ben"):
        world.decide(finished.request_id, name)
    token = world.sign_in("fred")
    for outcome in (withdrawn, finished):
        before = world.snapshot(outcome.request_id)
        response = post(world, decide_url(outcome.request_id), token, decision="reject", comment="late")
        assert response.status_code == 409
        assert "already decided" in text(response)
        assert world.snapshot(outcome.request_id) == before
    response = post(world, decide_url(withdrawn.request_id), token, HX, decision="approve")
    assert response.status_code == 409 and "already decided" in json.loads(response.headers["HX-Trigger"])["flowdeck:toast"]["message"]


def test_the_requester_cannot_approve_their_own_request_through_any_endpoint(world):
    """Alice holds the finance role but asked: is she refused by decide, and can nobody add or delegate to her?"""
    asked = world.ask()
    before = world.snapshot(asked.request_id)
    token = world.sign_in("alice")
    response = post(world, decide_url(asked.request_id), token, decision="approve")
    assert response.status_code == 403 and "your own request" in text(response)
    html = text(world.client.get(world.record_url(asked.record.id)))
    assert 'name="decision"' not in html and "Withdraw the request" in html
    for url, data in (
        ("add-approver", {"user": str(world.ids["alice"])}),
        ("delegate", {"user": str(world.ids["bea"])}),
        ("send-back", {"to_step": "finance", "comment": "again"}),
    ):
        assert post(world, f"/approvals/{asked.request_id}/{url}", token, **data).status_code == 403, url
    token = world.sign_in("fred")
    for url in ("add-approver", "delegate"):
        response = post(world, f"/approvals/{asked.request_id}/{url}", token, user=str(world.ids["alice"]))
        assert response.status_code == 422 and "the requester cannot approve their own request" in text(response), url
    html = text(world.client.get(world.record_url(asked.record.id)))
    assert f'<option value="{world.ids["alice"]}">' not in html  # not offered in the pickers either
    assert world.snapshot(asked.request_id) == before


def test_withdraw_only_by_the_requester(world):
    """May only the requester withdraw (others 403, nothing changed), and is a second withdraw harmless?"""
    asked = world.ask()
    before = world.snapshot(asked.request_id)
    for name in ("fred", "olga"):
        token = world.sign_in(name)
        assert post(world, f"/approvals/{asked.request_id}/withdraw", token).status_code == 403
    assert world.snapshot(asked.request_id) == before
    token = world.sign_in("alice")
    url = world.record_url(asked.record.id)
    response = post(world, f"/approvals/{asked.request_id}/withdraw", token, next=url)
    assert response.status_code == 303 and response.headers["Location"].endswith(url)
    assert world.request(asked.request_id).status == "withdrawn"
    again = post(world, f"/approvals/{asked.request_id}/withdraw", token, HX)
    assert again.status_code == 200 and again.headers["HX-Redirect"] == "/approvals?tab=mine"
    assert [a for a, _ in world.history(asked.record.id)].count("withdrawn") == 1


def test_next_must_stay_on_this_site(world):
    """Does a `next` pointing elsewhere fall back to the inbox (no open redirect)?"""
    asked = world.ask()
    token = world.sign_in("fred")
    response = post(world, decide_url(asked.request_id), token, decision="approve", next="//evil.example/x")
    assert response.status_code == 303 and response.headers["Location"].endswith("/approvals")


def test_badge_counts_follow_the_inbox(world):
    """Does the top bar count what waits for me and unread notifications, and drop after deciding?"""
    first, second = world.ask("one"), world.ask("two")
    token = world.sign_in("fred")
    html = text(world.client.get("/approvals"))
    assert 'aria-label="2 waiting"' in html and 'aria-label="2 unread"' in html
    post(world, decide_url(first.request_id), token, decision="approve")
    assert 'aria-label="1 waiting"' in text(world.client.get("/approvals"))
    post(world, decide_url(second.request_id), token, decision="reject", comment="no")
    assert not re.search(r'aria-label="\d+ waiting"', text(world.client.get("/")))


def test_notification_list_and_mark_read(world):
    """Does the list show approval notifications with a link, and mark-all-read clear the badge (CSRF needed)?"""
    asked = world.ask("Chairs")
    token = world.sign_in("fred")
    html = text(world.client.get("/notifications"))
    assert "Approval needed" in html and "Chairs" in html and 'class="panel unread"' in html
    assert f'href="{world.record_url(asked.record.id)}"' in html
    assert world.client.post("/notifications/read", data={}).status_code == 400
    assert 'aria-label="1 unread"' in text(world.client.get("/notifications"))
    response = world.client.post("/notifications/read", data={"csrf_token": token})
    assert response.status_code == 303
    html = text(world.client.get("/notifications"))
    assert 'class="panel unread"' not in html and "unread" not in "".join(re.findall(r'aria-label="[^"]*"', html))
    assert world.db.read(lambda c: notifications.unread_count(c, world.ids["fred"])) == 0


def test_double_submit_has_one_effect(world):
    """Does the same approval posted twice record one decision, one history entry and no second notification?"""
    asked = world.ask()
    world.decide(asked.request_id, "fred")
    token = world.sign_in("bea")
    count = world.db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(models.notifications)).scalar())
    first = post(world, decide_url(asked.request_id), token, decision="approve", comment="fine")
    second = post(world, decide_url(asked.request_id), token, decision="approve", comment="fine")
    assert first.status_code == second.status_code == 303
    assert "You had already decided this; nothing changed." in text(world.client.get("/approvals"))
    assert [t for t in world.tasks(asked.request_id) if t[1] == "bea"] == [("board", "bea", "approved", "fine")]
    assert world.history(asked.record.id).count(("approved", world.ids["bea"])) == 1
    assert world.db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(models.notifications)).scalar()) == count


# -- the record page -----------------------------------------------------------------------------------------


def test_record_page_timeline_shows_steps_approvers_and_comments(world):
    """Does the timeline show each step (label, mode, status), who decided with what comment, and who is pending?"""
    asked = world.ask(comment="Please hurry")
    world.decide(asked.request_id, "fred", comment="Budget is there")
    world.decide(asked.request_id, "bea", comment="Agreed")
    world.sign_in("olga")
    html = text(world.client.get(world.record_url(asked.record.id)))
    assert "Approval requested: Submit" in html and "Now with: Board countersign." in html
    panel = html.split('id="approvals"')[1].split("</section>")[0]
    steps = panel.split('<ol class="ap-steps">')[1]
    assert steps.index("Finance check") < steps.index("Board countersign")
    assert "any one approves (or-sign)" in panel and "all must approve (countersign)" in panel
    assert "Fred" in panel and "Budget is there" in panel and "Agreed" in panel and "Please hurry" in panel
    assert re.search(r"Still pending: Ben", panel)
    fay = re.search(r'<li class="ap-approver task-voided">\s*<span class="who">Fay', panel)
    assert fay is not None, "fay's task ended when fred decided the any-one step"
    assert 'name="decision"' not in panel and "Withdraw the request" not in panel


def test_timeline_keeps_earlier_rounds_newest_first(world):
    """After a rejection and a new request, are both rounds shown, the newest first with its own history?"""
    asked = world.ask()
    world.decide(asked.request_id, "fred", approve=False, comment="Add quotes")
    alice = world.actor("alice")
    again = world.db.run(lambda c: approvals.request_approval(c, world.et, asked.record.id, "submit", actor=alice))
    world.sign_in("alice")
    html = text(world.client.get(world.record_url(asked.record.id)))
    rounds = re.findall(r'<li class="ap-round ap-round-(\w+)" id="round-(\d+)"', html)
    assert rounds == [("pending", str(again.request_id)), ("rejected", str(asked.request_id))]
    assert "Add quotes" in html and "round 2" in html


def test_action_buttons_only_for_those_allowed(world):
    """Approve/Reject for a pending approver only; Withdraw for the requester; nothing for others."""
    asked = world.ask()
    url = world.record_url(asked.record.id)
    world.sign_in("fred")
    html = text(world.client.get(url))
    assert 'name="decision" value="approve"' in html and "Withdraw the request" not in html
    assert "Add an approver to this step" in html and "Delegate your decision" in html
    assert "Send back to an earlier step" not in html  # the first step has nothing before it
    world.sign_in("alice")
    html = text(world.client.get(url))
    assert 'name="decision"' not in html and "Withdraw the request" in html and "Delegate your decision" not in html
    for name in ("olga", "bea"):
        world.sign_in(name)
        html = text(world.client.get(url))
        assert 'name="decision"' not in html and "Withdraw the request" not in html and "Add an approver" not in html
    world.decide(asked.request_id, "fred")
    world.sign_in("bea")
    html = text(world.client.get(url))
    assert 'name="decision" value="approve"' in html and "Send back to an earlier step" in html
    assert re.search(r'<select id="sb-step" name="to_step" required><option value="finance" selected>Finance check</option></select>', html)


def test_the_transition_button_asks_for_approval_through_the_dialog(world):
    """Does the approval transition say "Request approval", open a dialog, and create a request (state unchanged)?"""
    alice = world.actor("alice")
    rec = world.db.run(lambda c: records.create_record(c, world.et, {"purpose": "Desks", "amount": "300"}, actor=alice))
    token = world.sign_in("alice")
    url = world.record_url(rec.id)
    html = text(world.client.get(url))
    assert re.search(r'value="submit" hx-get="[^"]*transition=submit"[^>]*>Request approval: Submit…</button>', html)
    dialog = text(world.client.get(f"{url}/transition?transition=submit", headers=HX))
    assert "This step needs approval: Finance check → Board countersign." in dialog
    assert ">Request approval</button>" in dialog and 'name="comment"' in dialog
    response = post(world, f"{url}/transition", token, transition="submit", version=str(rec.version), comment="for the new hires")
    assert response.status_code == 303
    assert world.state(rec.id) == "draft"
    pending = world.db.read(lambda c: approvals.open_request_for(c, "buy", "request", rec.id))
    assert pending is not None and pending.comment == "for the new hires"
    html = text(world.client.get(url))
    assert "Waiting for the approval of “Submit”." in html and "for the new hires" in html


def test_changed_values_since_the_request_are_marked(world):
    """When a value the approvers saw changes, does the timeline show what they decided on?"""
    asked = world.ask()
    alice = world.actor("alice")
    world.db.run(
        lambda c: records.update_record(c, world.et, asked.record.id, {"note": "second supplier"}, actor=alice, expected_version=None)
    )
    world.sign_in("fred")
    html = text(world.client.get(world.record_url(asked.record.id)))
    assert "Changed since approval was asked" in html
    changed = html.split('class="snapshot-changed"')[1].split("</div>")[0]
    assert "Note" in changed and "second supplier" in changed and "Amount" not in changed


def test_send_back_add_approver_and_delegate(world):
    """Do send back (回退), add approver (加签) and delegate work for a pending approver, shown in the timeline?"""
    asked = world.ask()
    world.decide(asked.request_id, "fred")
    token = world.sign_in("bea")
    response = post(world, f"/approvals/{asked.request_id}/add-approver", token, user=str(world.ids["olga"]), next="/approvals")
    assert response.status_code == 303
    assert ("board", "olga", "pending", None) in world.tasks(asked.request_id)
    response = post(world, f"/approvals/{asked.request_id}/delegate", token, user=str(world.ids["fay"]))
    assert response.status_code == 303
    assert ("board", "bea", "delegated", None) in world.tasks(asked.request_id)
    assert ("board", "fay", "pending", None) in world.tasks(asked.request_id)
    html = text(world.client.get(world.record_url(asked.record.id)))
    assert "added by bea" in html and "delegated by bea" in html and "handed to Fay" in html
    token = world.sign_in("ben")
    empty = post(world, f"/approvals/{asked.request_id}/send-back", token, to_step="finance", comment=" ")
    assert empty.status_code == 422 and "Say why you send it back." in text(empty)
    later = post(world, f"/approvals/{asked.request_id}/send-back", token, to_step="board", comment="x")
    assert later.status_code == 422 and "earlier step" in text(later)
    response = post(world, f"/approvals/{asked.request_id}/send-back", token, to_step="finance", comment="Check the quote again")
    assert response.status_code == 303
    assert world.request(asked.request_id).current_step == 0
    world.sign_in("fred")
    assert f'action="{decide_url(asked.request_id)}"' in text(world.client.get("/approvals"))
    html = text(world.client.get(world.record_url(asked.record.id)))
    assert "voided: the request was sent back" in html


def test_a_second_add_or_an_unknown_person_is_refused_clearly(world):
    """Is adding someone already in the step, or no one, a 422 naming the problem, with nothing changed?"""
    asked = world.ask()
    token = world.sign_in("fred")
    before = world.snapshot(asked.request_id)
    response = post(world, f"/approvals/{asked.request_id}/add-approver", token, user=str(world.ids["fay"]))
    assert response.status_code == 422 and "is already an approver of this step" in text(response)
    response = post(world, f"/approvals/{asked.request_id}/delegate", token, user="nobody")
    assert response.status_code == 422 and "no active user" in text(response)
    assert world.snapshot(asked.request_id) == before


def test_send_back_add_and_delegate_respect_the_schema_flags(install, db, client):
    """Without send_back / add_approvers / delegate in the schema, are the endpoints refused (403) and hidden?"""
    document = copy.deepcopy(FLOW)
    approval = document["entities"]["request"]["workflow"]["transitions"][0]["approval"]
    approval.update({"send_back": False, "add_approvers": False, "delegate": False})
    world = build(install, db, client, document)
    asked = world.ask()
    world.decide(asked.request_id, "fred")
    token = world.sign_in("bea")
    html = text(world.client.get(world.record_url(asked.record.id)))
    assert 'name="decision" value="approve"' in html and "More actions" not in html
    before = world.snapshot(asked.request_id)
    for url, data, words in (
        ("send-back", {"to_step": "finance", "comment": "again"}, "does not allow sending back"),
        ("add-approver", {"user": str(world.ids["olga"])}, "does not allow adding approvers"),
        ("delegate", {"user": str(world.ids["olga"])}, "does not allow delegating"),
    ):
        response = post(world, f"/approvals/{asked.request_id}/{url}", token, **data)
        assert response.status_code == 403 and words in text(response), url
    assert world.snapshot(asked.request_id) == before


def test_hostile_text_is_escaped_in_the_inbox_and_the_timeline(world):
    """Are titles and comments with HTML shown as text in the inbox, the record page and the board?"""
    asked = world.ask(purpose=XSS, comment=XSS)
    world.decide(asked.request_id, "fred", comment=XSS)
    world.sign_in("bea")
    pages = [
        text(world.client.get("/approvals")),
        text(world.client.get(world.record_url(asked.record.id))),
        text(world.client.get("/a/buy/request/v/board")),
    ]
    for html in pages:
        assert "<img src=x" not in html and "<script>alert(2)" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert pages[1].count("&lt;img src=x onerror=alert(1)&gt;") >= 3  # title, request comment, decision comment


# -- board cards -----------------------------------------------------------------------------------------------


def test_board_cards_show_the_badge_and_approve_only_for_approvers(world):
    """Does every viewer see "Pending approval", and only the current approver the Approve/Reject form?"""
    asked = world.ask("Pending card")
    alice = world.actor("alice")
    plain = world.db.run(lambda c: records.create_record(c, world.et, {"purpose": "Plain card", "amount": "5"}, actor=alice))
    world.sign_in("olga")
    html = text(world.client.get("/a/buy/request/v/board"))
    card = re.search(rf'<li id="k{asked.record.id}".*?</li>', html, re.S).group(0)
    assert "Pending approval" in card and "appr-decide" not in card
    assert "Pending approval" not in re.search(rf'<li id="k{plain.id}".*?</li>', html, re.S).group(0)
    world.sign_in("fred")
    html = text(world.client.get("/a/buy/request/v/board"))
    card = re.search(rf'<li id="k{asked.record.id}".*?</li>', html, re.S).group(0)
    assert f'hx-post="{decide_url(asked.request_id)}"' in card and 'name="board" value="board"' in card
    assert 'value="approve"' in card and 'value="reject"' in card
    assert "appr-decide" not in re.search(rf'<li id="k{plain.id}".*?</li>', html, re.S).group(0)


def test_deciding_on_a_board_card_tells_the_board_which_columns_to_redraw(world):
    """Does an htmx decision from a card answer with a toast, the columns to refresh (where
    the card went) and the decider's new count of approvals waiting, for the top bar?"""
    asked = world.ask()
    other = world.ask("Another one")
    for request_id in (asked.request_id, other.request_id):
        world.decide(request_id, "fred")
        world.decide(request_id, "bea")
    token = world.sign_in("fred")
    refused = post(world, decide_url(asked.request_id), token, HX, decision="reject", board="board")
    assert refused.status_code == 403
    token = world.sign_in("ben")
    response = post(world, decide_url(asked.request_id), token, HX, decision="reject", board="board")
    assert response.status_code == 422 and world.request(asked.request_id).status == "pending"
    response = post(world, decide_url(asked.request_id), token, HX, decision="approve", board="board")
    assert response.status_code == 200
    events = json.loads(response.headers["HX-Trigger"])
    assert events["flowdeck:card-decided"] == {"record": asked.record.id, "columns": ["draft", "approved"]}
    assert events["flowdeck:toast"]["kind"] == "ok"
    assert events["flowdeck:counts"] == {"approvals": 1, "approvals_label": "1 waiting"}
    page = text(world.client.get("/approvals"))
    assert 'id="nav-approvals"' in page and '<span class="badge-count" aria-label="1 waiting">1</span>' in page
    assert world.state(asked.record.id) == "approved"
    column = text(world.client.get("/a/buy/request/v/board/column/approved?offset=0", headers=HX))
    assert f'id="k{asked.record.id}"' in column and "Pending approval" not in column


def test_board_marks_cost_one_query_whatever_the_number_of_cards(world, app):
    """Does a board with 6 pending cards run as many approval statements as one with 1?"""
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    engine = app.extensions["flowdeck"].db.engine
    counts = []
    world.ask("first")
    world.sign_in("fred")
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        for more in (0, 5):
            for i in range(more):
                world.ask(f"more {i}")
            statements.clear()
            html = text(world.client.get("/a/buy/request/v/board"))
            counts.append(sum(1 for s in statements if "fd_approval" in s))
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert html.count("appr-decide") == 6
    assert counts[0] == counts[1] == 2  # the top bar's count and the board's marks


def test_moving_a_card_onto_an_approval_transition_opens_the_request_dialog(world):
    """Does dropping a draft card on Approved open the approval dialog (with board=...), not move the card?"""
    alice = world.actor("alice")
    rec = world.db.run(lambda c: records.create_record(c, world.et, {"purpose": "Drag me", "amount": "9"}, actor=alice))
    token = world.sign_in("alice")
    response = post(world, f"/a/buy/request/{rec.id}/move", token, HX, view="board", to="approved", version=str(rec.version))
    assert response.status_code == 200
    url = json.loads(response.headers["HX-Trigger"])["flowdeck:move-dialog"]["url"]
    assert url == f"/a/buy/request/{rec.id}/transition?transition=submit&board=board"
    dialog = text(world.client.get(url, headers=HX))
    assert 'name="board" value="board"' in dialog and ">Request approval</button>" in dialog
    assert post(world, f"/a/buy/request/{rec.id}/transition", token, HX, transition="submit", version=str(rec.version), board="board")
    assert world.state(rec.id) == "draft"
    assert world.db.read(lambda c: approvals.open_request_for(c, "buy", "request", rec.id)) is not None
    again = post(world, f"/a/buy/request/{rec.id}/move", token, HX, view="board", to="approved", version=str(rec.version))
    assert again.status_code == 422 and "pending" in json.loads(again.headers["HX-Trigger"])["flowdeck:toast"]["message"]


def test_the_dialog_of_a_board_move_checks_the_hard_wip_limit_again(install, make_user, db, client):
    """When a move goes through the transition dialog (board=...), is a full column refused in that transaction?"""
    from tests.support.documents import board_app

    et = install(board_app()).entity("kb", "task")
    lead = make_user("lea", {"kb": ["lead"]})

    def add(state: str, title: str) -> records.Record:
        def work(conn: sa.Connection) -> records.Record:
            rec = records.create_record(conn, et, {"title": title, "hours": 1}, actor=lead)
            conn.execute(et.table.update().where(et.table.c.id == rec.id).values(state=state))
            return records.fetch_record(conn, et, rec.id)

        return db.run(work)

    add("working", "one")
    add("working", "two")  # "working" is full: a hard limit of 2
    waiting = add("review", "needs rework")
    login(client, "lea")
    token = csrf_token(client, f"/a/kb/task/{waiting.id}")
    move = client.post(
        f"/a/kb/task/{waiting.id}/move",
        data={"csrf_token": token, "view": "board", "to": "working", "version": str(waiting.version)},
        headers=HX,
    )
    assert move.status_code == 422 and "at its limit" in move.headers["HX-Trigger"]
    data = {"csrf_token": token, "transition": "rework", "version": str(waiting.version), "comment": "redo", "board": "board"}
    refused = client.post(f"/a/kb/task/{waiting.id}/transition", data=data)
    assert refused.status_code == 422 and "Working is at its limit of 2" in text(refused)
    assert db.read(lambda c: records.fetch_record(c, et, waiting.id)).state == "review"
    del data["board"]  # from the record page the board's limit does not apply
    assert client.post(f"/a/kb/task/{waiting.id}/transition", data=data).status_code == 303
    assert db.read(lambda c: records.fetch_record(c, et, waiting.id)).state == "working"
