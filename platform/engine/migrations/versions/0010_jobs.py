"""jobs: the durable job table the worker claims from (engine/jobs)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flowdeck.engine.sqltypes

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fd_jobs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=60), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('run_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=True),
    sa.Column('lease_token', sa.String(length=32), nullable=True),
    sa.Column('lease_until', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('worker', sa.String(length=100), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('result', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('created_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('started_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('finished_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_jobs')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_fd_jobs_dedupe_key'))
    )  # fmt: skip
    with op.batch_alter_table('fd_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_fd_jobs_due', ['status', 'run_at'], unique=False)
        batch_op.create_index('ix_fd_jobs_kind', ['kind', 'id'], unique=False)


def downgrade() -> None:
    op.drop_table('fd_jobs')
