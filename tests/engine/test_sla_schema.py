"""The `slas` keyword: a sound definition builds `Entity.slas` with a version that ignores the
label; every mistake is reported at its JSON path."""

from __future__ import annotations

from flowdeck.engine.schema.loader import check_document, load_app
from tests.support.sla_apps import desk


def _problems(doc):
    return {p.path: str(p.message) for p in check_document(doc)}


def test_definitions_build_with_versions_that_ignore_labels():
    """Are conditions, goals and warnings parsed, and is a relabelled SLA the same version while a new goal is not?"""
    entity = load_app(desk()).entity("ticket")
    response, resolution = entity.slas
    assert (response.start.on, response.stop.event, response.stop.roles, response.warning) == ("created", "comment", ("agent",), 75)
    assert resolution.pause.states == ("waiting_requester",) and len(resolution.goals) == 3
    relabelled, regoaled = desk(), desk()
    relabelled["entities"]["ticket"]["slas"][1]["label"] = "Fix time"
    regoaled["entities"]["ticket"]["slas"][1]["goals"][0]["duration"]["working_hours"] = 2
    assert load_app(relabelled).entity("ticket").slas[1].version == resolution.version
    assert load_app(regoaled).entity("ticket").slas[1].version != resolution.version


def test_mistakes_are_reported_at_their_paths():
    """Are unknown states and roles, bad expressions, misplaced parts, an unreachable goal, a
    bad duration, a duplicate key and an out-of-range warning each reported where they are?"""
    doc = desk()
    slas = doc["entities"]["ticket"]["slas"]
    slas[0]["stop"] = {"event": "comment", "roles": ["boss"], "on": "created"}
    slas[1]["start"] = {"states": ["nwe"]}
    slas[1]["pause"] = {"when": "priority =="}
    slas[1]["goals"] = [{"duration": {"working_hours": 4, "calendar": "mars"}}, {"when": "nope == 1", "duration": {"hours": 1}}]
    slas.append({**slas[1], "key": "response"})
    problems = _problems(doc)
    assert {
        "entities.ticket.slas[0].stop.on",
        "entities.ticket.slas[0].stop.roles[0]",
        "entities.ticket.slas[1].start.states[0]",
        "entities.ticket.slas[1].pause.when",
        "entities.ticket.slas[1].goals[0]",
        "entities.ticket.slas[1].goals[0].duration.calendar",
        "entities.ticket.slas[1].goals[1].when",
        "entities.ticket.slas[2].key",
    } <= set(problems)
    assert "unknown state “nwe”" in problems["entities.ticket.slas[1].start.states[0]"]
    assert problems["entities.ticket.slas[1].goals[0]"] == "a goal without “when” always holds: it must be the last"
    shape = desk()
    shape["entities"]["ticket"]["slas"][1]["warning"] = 100
    shape["entities"]["ticket"]["slas"][0]["roles"] = []
    assert {"entities.ticket.slas[1].warning", "entities.ticket.slas[0].roles"} <= set(_problems(shape))
    no_workflow = desk()
    del no_workflow["entities"]["ticket"]["workflow"]
    assert "entities.ticket.slas[1].pause.states[0]" in _problems(no_workflow)
