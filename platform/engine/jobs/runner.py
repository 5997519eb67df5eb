"""Running jobs: one claimed job at a time, a pass over everything due (`flowdeck tick`),
and the worker loop (`flowdeck worker`, or the thread a web process runs when no worker
does) that sleeps until the next due job or a PostgreSQL NOTIFY wakes it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flowdeck.engine import calendar_changes as _calendar_kind  # noqa: F401 -- registers `calendars.recompute`
from flowdeck.engine import clock_refresh as _clock_kind  # noqa: F401 -- registers `formulas.clock`
from flowdeck.engine import reminders as _reminder_kind  # noqa: F401 -- registers the kinds the engine brings
from flowdeck.engine import schedules as _schedule_kind  # noqa: F401
from flowdeck.engine.approvals import timelimits as _approval_kinds  # noqa: F401 -- registers `approval.stage`
from flowdeck.engine.automations import runs as _automation_kinds  # noqa: F401 -- registers `automation.run`
from flowdeck.engine.channels import sending as _chat_kinds  # noqa: F401 -- registers the chat kinds
from flowdeck.engine.db import Database
from flowdeck.engine.jobs import digest as _digest_kinds  # noqa: F401 -- registers mail.digest and mail.held
from flowdeck.engine.jobs import mail as _builtin_kinds  # noqa: F401
from flowdeck.engine.jobs import queue
from flowdeck.engine.jobs.kinds import KINDS, JobContext, PermanentError, UnknownKind
from flowdeck.engine.messages import Translator
from flowdeck.engine.sla import timers as _sla_kinds  # noqa: F401 -- registers `sla.timer`
from flowdeck.engine.webhooks import outgoing as _webhook_kinds  # noqa: F401 -- registers webhook.deliver

log = logging.getLogger("flowdeck.jobs")
LEASE = dt.timedelta(minutes=5)
IDLE_SLEEP = 5.0
"""Seconds an idle worker sleeps at most between looks (PostgreSQL wakes it sooner)."""
BATCH = 10
"""Due jobs a worker claims per round trip in `run_due` and `serve` (one claim transaction
for ten jobs instead of ten). Each runs and finishes in a transaction of its own, except
jobs of `together` kinds, which share one (`_run_group`). The cost: a worker killed with a
batch in hand leaves up to ten jobs to wait for their lease, and a slow job delays the rest
of its batch (never beyond the lease: a job whose lease ran out while it waited is left for
the next claim)."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


@dataclass
class Runner:
    """What a process running jobs brings: its database, settings (mail), the catalogs'
    translator factory, and a clock (tests move it by hand)."""

    db: Database
    settings: dict[str, Any] = field(default_factory=dict)
    translator: Callable[[str], Translator] | None = None
    clock: Callable[[], dt.datetime] = queue.now_utc
    name: str = field(default_factory=worker_name)
    lease: dt.timedelta = LEASE
    kinds: tuple[str, ...] | None = None
    batch: int = BATCH
    _claimed: deque[queue.Claimed] = field(default_factory=deque, init=False, repr=False)

    def run_one(self) -> str | None:
        """Claim and run one due job; its new status, or None when nothing was due."""
        return self._run(self._next(1))

    def _next(self, batch: int) -> queue.Claimed | None:
        """The next job of the batch in hand whose lease still runs, else a new claim of up
        to `batch` due jobs (the first returned, the rest kept in hand)."""
        now = self.clock()
        while self._claimed:
            job = self._claimed.popleft()
            if now < job.started_at + self.lease:
                return job
            log.warning("job %s (%s): its lease ran out before its turn, left to the next claim", job.id, job.kind)
        claimed = self.db.run(lambda conn: queue.claim_many(conn, self.name, now=now, lease=self.lease, kinds=self.kinds, limit=batch))
        self._claimed.extend(claimed[1:])
        return claimed[0] if claimed else None

    def release(self) -> int:
        """Give the jobs claimed but not started back to the queue (a stopping worker)."""
        held, self._claimed = list(self._claimed), deque()
        return self.db.run(lambda conn: queue.release(conn, held)) if held else 0

    def _run(self, job: queue.Claimed | None) -> str | None:
        if job is None:
            return None
        kind = KINDS.get(job.kind)
        if kind is None:
            unknown = UnknownKind(job.kind)
            return self._failed(job, f"{type(unknown).__name__}: {unknown}", permanent=True)

        def work(conn: Any, prepared: Any) -> None:
            result = kind.handler(conn, job.payload, self._context(job, prepared))
            queue.finish(conn, job, result, now=self.clock())

        try:
            prepared = kind.prepare(self.db, job.payload, self._context(job)) if kind.prepare is not None else None
            self.db.run(lambda conn: work(conn, prepared))
        except queue.LeaseLost:
            log.warning("job %s (%s): lease lost, left to its new worker", job.id, job.kind)
            return "lost"
        except PermanentError as exc:
            return self._failed(job, f"{type(exc).__name__}: {exc}", permanent=True)
        except Exception as exc:
            log.exception("job %s (%s) attempt %s failed", job.id, job.kind, job.attempt)
            return self._failed(job, f"{type(exc).__name__}: {exc}")
        log.info("job %s (%s) done", job.id, job.kind)
        return "done"

    def _take(self, batch: int) -> list[queue.Claimed]:
        """The next job, and with it the jobs in hand right behind it whose kind runs
        `together` with it (whose lease still runs): one transaction for all of them."""
        first = self._next(batch)
        if first is None:
            return []
        group = [first]
        if not _together(first):
            return group
        now = self.clock()
        while self._claimed and _together(self._claimed[0]) and now < self._claimed[0].started_at + self.lease:
            group.append(self._claimed.popleft())
        return group

    def _run_group(self, jobs: list[queue.Claimed]) -> list[str]:
        """Run jobs of `together` kinds in one transaction, each handler followed by its
        `finish`: one commit for all of them or none (a crash leaves every one for its lease
        to end, as for one job). If any of them fails (its handler raises, its lease was
        lost), the whole transaction rolls back and the jobs run again one by one, each in
        its own transaction as any job does: a failure costs its batch a second pass, the
        common case costs no savepoint per job. A conflict of the whole transaction
        (deadlock, SQLite busy) is first retried whole by `Database.run`."""
        if len(jobs) == 1:
            return [self._run(jobs[0]) or "lost"]

        def work(conn: Any) -> None:
            for job in jobs:
                result = KINDS[job.kind].handler(conn, job.payload, self._context(job, together=True))
                queue.finish(conn, job, result, now=self.clock())

        try:
            self.db.run(work)
        except Exception as exc:
            log.info("a transaction of %s jobs failed (%s); they run one by one", len(jobs), type(exc).__name__)
            return [self._run(job) or "lost" for job in jobs]
        for job in jobs:
            log.info("job %s (%s) done", job.id, job.kind)
        return ["done"] * len(jobs)

    def _context(self, job: queue.Claimed, prepared: Any = None, *, together: bool = False) -> JobContext:
        return JobContext(
            now=self.clock(), job_id=job.id, attempt=job.attempt, settings=self.settings, translator=self.translator, prepared=prepared,
            together=together,
        )  # fmt: skip

    def _failed(self, job: queue.Claimed, error: str, *, permanent: bool = False) -> str:
        status = self.db.run(lambda conn: queue.fail(conn, job, error, now=self.clock(), permanent=permanent))
        return status or "lost"

    def run_due(self, *, limit: int = 10_000) -> dict[str, int]:
        """Run jobs until none is due (or `limit` ran): the counts per outcome."""
        counts: dict[str, int] = {}
        ran = 0
        while ran < limit:
            group = self._take(max(1, min(self.batch, limit - ran - len(self._claimed))))
            if not group:
                break
            for status in self._run_group(group):
                counts[status] = counts.get(status, 0) + 1
            ran += len(group)
        return counts

    def seconds_to_next(self) -> float:
        due = self.db.read(lambda conn: queue.next_due(conn, kinds=self.kinds))
        if due is None:
            return IDLE_SLEEP
        return max(0.0, min(IDLE_SLEEP, (due - self.clock()).total_seconds()))

    def serve(self, stop: threading.Event, *, periodic: Callable[[], None] | None = None, every: float = 60.0) -> None:
        """Run jobs until `stop` is set; `periodic` (overdue approvals) runs every `every` s."""
        waiter = _Waiter(self.db)
        last_periodic = 0.0
        try:
            while not stop.is_set():
                waiter.ensure()
                if periodic is not None and time.monotonic() - last_periodic >= every:
                    last_periodic = time.monotonic()
                    try:
                        periodic()
                    except Exception:
                        log.exception("periodic work failed")
                try:
                    group = self._take(self.batch)
                    if group:
                        self._run_group(group)
                        continue
                    waiter.wait(self.seconds_to_next(), stop)
                except Exception:
                    log.exception("the job worker's database call failed; trying again shortly")
                    stop.wait(IDLE_SLEEP)
        finally:
            waiter.close()
            try:
                self.release()
            except Exception:
                log.exception("could not give back the claimed jobs; they run again when their lease ends")


def _together(job: queue.Claimed) -> bool:
    kind = KINDS.get(job.kind)
    return kind is not None and kind.together and kind.prepare is None


class _Waiter:
    """Sleeps until woken: on PostgreSQL by LISTEN/NOTIFY (an enqueue wakes idle workers at
    once), elsewhere, or while the listening connection is down, by the timeout alone."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.connection: Any = None

    def ensure(self) -> None:
        """(Re)open the listening connection on PostgreSQL; a failure only means polling."""
        if self.db.dialect != "postgresql" or (self.connection is not None and not self.connection.closed):
            return
        import psycopg

        try:
            url = self.db.engine.url.set(drivername="postgresql")
            connection = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True, connect_timeout=5)
            try:
                connection.execute(f"LISTEN {queue.NOTIFY_CHANNEL}")
            except BaseException:
                connection.close()
                raise
            self.connection = connection
        except psycopg.Error:
            log.warning("cannot LISTEN for new jobs; looking every %s s instead", IDLE_SLEEP)
            self.connection = None

    def wait(self, seconds: float, stop: threading.Event) -> None:
        if self.connection is None:
            stop.wait(seconds)
            return
        try:
            for _ in self.connection.notifies(timeout=max(0.05, seconds), stop_after=1):
                break
        except Exception:
            log.warning("the LISTEN connection failed; it is opened again")
            self.close()
            stop.wait(min(seconds, IDLE_SLEEP))

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            finally:
                self.connection = None
