"""SLA cycles: each SLA clock of a record (started, paused, stopped, warned, breached)

Revision ID: 0017
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import flowdeck.engine.sqltypes

revision = '0017'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fd_sla_cycles',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('app', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.BigInteger(), nullable=False),
    sa.Column('sla', sa.String(length=64), nullable=False),
    sa.Column('cycle', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('goal', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('goal_seconds', sa.BigInteger(), nullable=False),
    sa.Column('calendar', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('running_since', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('used_seconds', sa.BigInteger(), nullable=False),
    sa.Column('due_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('warn_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('warned_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('breached_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('stopped_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_sla_cycles')),
    sa.UniqueConstraint('app', 'entity', 'record_id', 'sla', 'cycle', name=op.f('uq_fd_sla_cycles_app_entity_record_id_sla_cycle'))
    )  # fmt: skip
    with op.batch_alter_table('fd_sla_cycles', schema=None) as batch_op:
        batch_op.create_index('ix_fd_sla_cycles_due', ['app', 'entity', 'sla', 'due_at'], unique=False)


def downgrade() -> None:
    op.drop_table('fd_sla_cycles')
