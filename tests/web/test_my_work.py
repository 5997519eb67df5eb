"""My work: what waits on me (approvals and records I can move on), assigned, created."""

from flowdeck.engine import approvals, records, workflow
from tests.support.documents import minimal_app
from tests.support.web import login


def _app():
    doc = minimal_app()
    fields = doc["entities"]["task"]["fields"]
    fields["owner"] = {"type": "user"}
    fields["helpers"] = {"type": "user", "many": True}
    doc["entities"]["task"]["workflow"]["transitions"].append(
        {"key": "sign_off", "from": "doing", "to": "done", "approval": {"steps": [{"key": "lead", "approvers": {"role": "lead"}}]}}
    )
    return doc


def test_waiting_lists_approvals_and_each_record_once(client, install, make_user, db):
    """Does "Waiting on me" show my pending approvals, and a record assigned to me twice only once?"""
    et = install(_app()).entity("demo", "task")
    lead = make_user("lea", {"demo": ["lead"]})
    member = make_user("max", {"demo": ["member"]})
    mine = db.run(
        lambda c: records.create_record(c, et, {"title": "Twice mine", "owner": lead.user_id, "helpers": [lead.user_id]}, actor=lead)
    )
    asked = db.run(lambda c: records.create_record(c, et, {"title": "Please sign off"}, actor=member))
    db.run(lambda c: workflow.transition_record(c, et, asked.id, "start", actor=member))
    db.run(lambda c: approvals.request_approval(c, et, asked.id, "sign_off", actor=member))
    login(client, "lea")
    html = client.get("/my").get_data(as_text=True)
    waiting = html[html.index("Waiting on me") : html.index("Assigned to me")]
    assert "Please sign off" in waiting and "Your approval" in waiting
    assert waiting.count("Twice mine") == 1
    assigned = html[html.index("Assigned to me") : html.index("Created by me")]
    assert assigned.count("Twice mine") == 1 and mine.id
