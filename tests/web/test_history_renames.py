"""History written before a field was renamed (`was`): the record page shows it under the
field's current label, and a rule that hides the renamed field hides its old entries too."""

from __future__ import annotations

import re
from typing import Any

from flowdeck.engine import records
from tests.support.documents import minimal_app
from tests.support.web import signed_in, text, url


def doc(key: str, **extra: Any) -> dict[str, Any]:
    document = minimal_app(
        fields={"title": {"type": "text", "required": True}, key: {"type": "decimal", "label": {"en": "Effort", "zh": "工作量"}, **extra}}
    )
    document["entities"]["task"]["workflow"]["rules"] = [{"roles": ["member"], "hidden": [key]}]
    return document


def change_labels(html: str) -> list[str]:
    return re.findall(r'<span class="change-label">([^<]*)</span>', html)


def test_history_before_a_rename_shows_the_current_label(client, db, install, make_user):
    """Does an entry that changed `estimate` show "Effort" once the field is `effort` with
    `was: estimate`, and stay hidden from a role that may not see the field?"""
    lead = make_user("lea", {"demo": ["lead"]})
    make_user("mo", {"demo": ["member"]})
    task = install(doc("estimate")).entity("demo", "task")
    rec = db.run(lambda c: records.create_record(c, task, {"title": "a"}, actor=lead))
    db.run(lambda c: records.update_record(c, task, rec.id, {"estimate": "4"}, actor=lead, expected_version=1))
    renamed = install(doc("effort", was="estimate")).entity("demo", "task")
    db.run(lambda c: records.update_record(c, renamed, rec.id, {"effort": "5"}, actor=lead, expected_version=2))
    signed_in(client, "lea")
    html = text(client.get(url(rec.id)))
    assert change_labels(html).count("Effort") == 2
    assert "estimate" not in change_labels(html)
    member = client.application.test_client()
    signed_in(member, "mo")
    hidden = text(member.get(url(rec.id)))
    assert "Effort" not in change_labels(hidden) and "estimate" not in change_labels(hidden)
    assert "4.00" not in hidden


def test_history_follows_a_field_renamed_twice(client, db, install, make_user):
    """After `estimate` -> `effort` -> `work` (the document keeping only the last `was`),
    does an entry that changed `estimate` still show the field's label?"""
    lead = make_user("lea", {"demo": ["lead"]})
    task = install(doc("estimate")).entity("demo", "task")
    rec = db.run(lambda c: records.create_record(c, task, {"title": "a"}, actor=lead))
    db.run(lambda c: records.update_record(c, task, rec.id, {"estimate": "4"}, actor=lead, expected_version=1))
    install(doc("effort", was="estimate"))
    install(doc("work", was="effort"))
    install(doc("work"))
    signed_in(client, "lea")
    html = text(client.get(url(rec.id)))
    assert change_labels(html).count("Effort") == 1
    assert "estimate" not in change_labels(html)
