"""Work done later, on Flowdeck's own database: a durable job table (`queue`), the kinds of
job (`kinds`), the runner and worker loop (`runner`), and the kinds the engine brings
(`mail`: notification mail; the runner imports them). docs/architecture.md says why this
is not Celery, RQ, Huey, procrastinate or pgqueuer."""
