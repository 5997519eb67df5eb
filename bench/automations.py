"""Automations, issue #13: the cost of rules that do not match on W4-like creates and
W5-like transitions, in one process, same run, as a ratio.

    .venv/bin/python bench/automations.py [--url sqlite:////tmp/x.db] [--ops 1000] [--rounds 5]

Two apps with the same entity are applied to one fresh database: `plain` has no rules,
`ruled` has five enabled rules on that entity (created, updated, field_changed, transition,
comment_added) whose conditions do not hold. The two alternate every 25 records, in
turns of swapped order (so the drift of a busy machine and the database's own checkpoints
hit both alike): 25 creates, then one transition of each of those records; `--rounds` times
`--ops` records each. Output: one JSON object with the operations per second of each and the
ratio ruled / plain (the issue asks for >= 0.9).

With `--drain N`: N records of a third app whose rule matches every create (set a field,
create a follow-up record) are created in a burst, then one in-process worker
(`Runner.run_due`, as `flowdeck tick` does) drains their runs: the seconds it takes (the
issue asks for 10,000 in <= 120 s on SQLite on a 2-core machine).
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from flowdeck.engine import records, workflow
from flowdeck.engine.apps import apply_document
from flowdeck.engine.db import Database
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from flowdeck.engine.system import upgrade_system_tables

TICKET = {
    "fields": {
        "title": {"type": "text", "required": True},
        "priority": {"type": "select", "options": ["low", "normal", "high"], "default": "normal"},
        "points": {"type": "integer"},
        "note": {"type": "text"},
    },
    "workflow": {
        "states": {"open": {"category": "todo"}, "doing": {"category": "doing"}, "done": {"category": "done"}},
        "transitions": [{"key": "start", "from": "open", "to": "doing"}],
    },
}
NEVER = "priority == 'never'"
RULES = [
    {
        "key": "r_created",
        "entity": "ticket",
        "trigger": {"on": "created"},
        "condition": NEVER,
        "actions": [{"do": "set", "fields": {"note": "'x'"}}],
    },
    {
        "key": "r_updated",
        "entity": "ticket",
        "trigger": {"on": "updated"},
        "condition": NEVER,
        "actions": [{"do": "set", "fields": {"note": "'x'"}}],
    },
    {
        "key": "r_field",
        "entity": "ticket",
        "trigger": {"on": "field_changed", "fields": ["state"]},
        "condition": "new.points == -1",
        "actions": [{"do": "set", "fields": {"note": "'x'"}}],
    },
    {
        "key": "r_moved",
        "entity": "ticket",
        "trigger": {"on": "transition", "transitions": ["start"]},
        "condition": NEVER,
        "actions": [{"do": "set", "fields": {"note": "'x'"}}],
    },
    {"key": "r_comment", "entity": "ticket", "trigger": {"on": "comment_added"}, "actions": [{"do": "set", "fields": {"note": "'x'"}}]},
]


def document(key: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"key": key, "label": key, "roles": {"member": {}}, "entities": {"ticket": copy.deepcopy(TICKET)}, "automations": rules}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default=None)
    ap.add_argument("--ops", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--drain", type=int, default=0, help="records created in a burst with a matching rule, then drained")
    args = ap.parse_args()
    url = args.url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    db = Database(url)
    upgrade_system_tables(db)
    system = Actor.system()
    for key, rules in (("plain", []), ("ruled", RULES)):
        apply_document(db, document(key, rules), actor=system)
    registry = Catalog(db).current()
    tables = {key: registry.entity(key, "ticket") for key in ("plain", "ruled")}
    spent = {key: {"W4_create": 0.0, "W5_transition": 0.0} for key in tables}
    done = {key: 0 for key in tables}
    chunk = 25
    for round_ in range(args.rounds * args.ops // chunk):
        order = list(tables.items()) if round_ % 2 == 0 else list(reversed(tables.items()))
        for key, et in order:
            started = time.perf_counter()
            ids = [
                db.run(lambda c, i=i, et=et: records.create_record(c, et, {"title": f"t{i}", "points": i}, actor=system).id)
                for i in range(chunk)
            ]
            spent[key]["W4_create"] += time.perf_counter() - started
            started = time.perf_counter()
            for record_id in ids:
                db.run(lambda c, r=record_id, et=et: workflow.transition_record(c, et, r, "start", actor=system))
            spent[key]["W5_transition"] += time.perf_counter() - started
            done[key] += chunk
    out: dict[str, Any] = {"url": db.dialect, "ops_per_round": args.ops, "rounds": args.rounds, "rules": len(RULES)}
    for workload in ("W4_create", "W5_transition"):
        plain, ruled = (done[k] / spent[k][workload] for k in ("plain", "ruled"))
        out[workload] = {"plain_ops_s": round(plain, 1), "five_rules_ops_s": round(ruled, 1), "ratio": round(ruled / plain, 3)}
    if args.drain:
        out["drain"] = drain(db, args.drain)
    db.dispose()
    print(json.dumps(out, indent=2))


MATCHING = [
    {"key": "follow", "entity": "ticket", "trigger": {"on": "created"}, "rate_limit": 10000,
     "actions": [{"do": "set", "fields": {"note": "'seen'"}},
                 {"do": "create", "entity": "ticket", "values": {"title": "'follow ' + title", "priority": "'low'"}}],
     "condition": "priority == 'normal'"},
]  # fmt: skip


def drain(db: Database, count: int) -> dict[str, Any]:
    """Create `count` records whose rule matches, in batches of 500, then drain the runs."""
    system = Actor.system()
    apply_document(db, document("drained", MATCHING), actor=system)
    et = Catalog(db).current().entity("drained", "ticket")
    started = time.perf_counter()
    for start in range(0, count, 500):
        db.run(lambda c, s=start: [records.create_record(c, et, {"title": f"t{i}"}, actor=system) for i in range(s, min(count, s + 500))])
    created = time.perf_counter() - started
    started = time.perf_counter()
    outcome = Runner(db).run_due(limit=count * 2)
    drained = time.perf_counter() - started
    return {
        "records": count,
        "create_s": round(created, 1),
        "drain_s": round(drained, 1),
        "runs_per_s": round(count / drained, 1),
        "jobs": outcome,
    }


if __name__ == "__main__":
    main()
