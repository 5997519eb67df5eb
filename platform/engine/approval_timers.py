"""Arming an approval step's escalation chain when the step opens: one job per stage, due
at the step's opening plus the stage's `after` (working time on its calendar, or clock
time), keyed by step, stage and due time, so a step is never swept for. The payload keeps
the opening (`opened`): a calendar change moves the stages from it (`approvals/moves.py`).

Kept out of `approvals/` because `approval_core.activate` arms, and the `approvals`
package imports `approval_core`. The job that runs a stage is `approvals/timelimits.py`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Connection

from flowdeck.engine.durations import add_duration
from flowdeck.engine.schema.model import ApprovalStep
from flowdeck.engine.timers import arm, stamp

STAGE_JOB = "approval.stage"


def stage_key(step_id: int, index: int, due: dt.datetime) -> str:
    """The job key of one stage of one opening of a step: the step's due time tells a step
    opened again (sent back) from the opening before it."""
    return f"appr:{step_id}:{index}:{stamp(due)}"


def arm_stages(conn: Connection, step_id: int, step: ApprovalStep, opened: dt.datetime, due: dt.datetime) -> int:
    """Arm every stage of the step's chain; how many jobs were new."""
    payload = {"step": step_id, "due": stamp(due), "opened": opened.isoformat()}
    jobs = [
        (stage_key(step_id, index, due), {**payload, "stage": index}, add_duration(opened, stage.after))
        for index, stage in enumerate(step.escalation)
    ]
    return arm(conn, STAGE_JOB, jobs)
