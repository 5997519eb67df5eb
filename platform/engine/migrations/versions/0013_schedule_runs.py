"""schedule runs: each schedule occurrence that ran, was skipped or needs attention (engine/schedules)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flowdeck.engine.sqltypes

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fd_schedule_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('app', sa.String(length=40), nullable=False),
    sa.Column('schedule', sa.String(length=60), nullable=False),
    sa.Column('occurrence', sa.String(length=60), nullable=False),
    sa.Column('occurrence_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('records_created', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('actor_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('job_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('finished_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['fd_users.id'], name=op.f('fk_fd_schedule_runs_actor_id'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_schedule_runs')),
    sa.UniqueConstraint('app', 'schedule', 'occurrence', name=op.f('uq_fd_schedule_runs_app_schedule_occurrence'))
    )  # fmt: skip
    with op.batch_alter_table('fd_schedule_runs', schema=None) as batch_op:
        batch_op.create_index('ix_fd_schedule_runs_app_schedule_id', ['app', 'schedule', 'id'], unique=False)


def downgrade() -> None:
    op.drop_table('fd_schedule_runs')
