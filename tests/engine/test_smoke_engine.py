"""A first end-to-end pass through the engine: install, create, transition, query."""

from flowdeck.engine import query, records, workflow
from tests.support.documents import minimal_app


def test_create_and_transition_a_record(install, make_user, db):
    """Can a lead create a task and move it through its workflow?"""
    registry = install(minimal_app())
    et = registry.entity("demo", "task")
    lead = make_user("lea", {"demo": ["lead"]})
    rec = db.run(lambda c: records.create_record(c, et, {"title": "Write docs"}, actor=lead))
    assert rec.state == "todo"
    rec = db.run(lambda c: workflow.transition_record(c, et, rec.id, "start", actor=lead, expected_version=rec.version))
    assert rec.state == "doing"
    page = db.read(lambda c: query.query_records(c, et, query.Query(filter={"state": "doing"}), actor=lead))
    assert [r["id"] for r in page.rows] == [rec.id]
