"""automation runs and rule state (engine/automations)

Revision ID: 0011
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flowdeck.engine.sqltypes

revision = '0011'
down_revision = '0013'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('fd_automation_runs',
    sa.Column('id', BigId, nullable=False),
    sa.Column('app', sa.String(length=60), nullable=False),
    sa.Column('rule', sa.String(length=60), nullable=False),
    sa.Column('entity', sa.String(length=60), nullable=False),
    sa.Column('record_id', BigId, nullable=True),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('depth', sa.Integer(), nullable=False),
    sa.Column('actor_id', BigId, nullable=True),
    sa.Column('inputs', sa.JSON(none_as_null=True), nullable=False),
    sa.Column('changes', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('error', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('job_id', BigId, nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('created_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('finished_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_automation_runs'))
    )  # fmt: skip
    with op.batch_alter_table('fd_automation_runs', schema=None) as batch_op:
        batch_op.create_index('ix_fd_automation_runs_rule', ['app', 'rule', 'id'], unique=False)
        batch_op.create_index('ix_fd_automation_runs_record', ['app', 'entity', 'record_id'], unique=False)
        batch_op.create_index('ix_fd_automation_runs_status', ['status', 'id'], unique=False)
    op.create_table('fd_automation_state',
    sa.Column('app', sa.String(length=60), nullable=False),
    sa.Column('rule', sa.String(length=60), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('paused_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('cursor', sa.JSON(none_as_null=True), nullable=True),
    sa.PrimaryKeyConstraint('app', 'rule', name=op.f('pk_fd_automation_state'))
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table('fd_automation_state')
    op.drop_table('fd_automation_runs')
