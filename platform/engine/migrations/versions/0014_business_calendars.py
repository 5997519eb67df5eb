"""business calendars: fd_calendars and the days admins set apart (engine/calendars)

Revision ID: 0014
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flowdeck.engine.sqltypes

revision = '0014'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fd_calendars',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('name', sa.JSON(), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('week', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=True),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('complete_years', sa.JSON(), nullable=False),
    sa.Column('updated_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_calendars')),
    sa.UniqueConstraint('key', name=op.f('uq_fd_calendars_key'))
    )  # fmt: skip
    op.create_table('fd_calendar_days',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('calendar_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('working', sa.Boolean(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('origin', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['calendar_id'], ['fd_calendars.id'], name=op.f('fk_fd_calendar_days_calendar_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_calendar_days')),
    sa.UniqueConstraint('calendar_id', 'day', name=op.f('uq_fd_calendar_days_calendar_id_day'))
    )  # fmt: skip
    with op.batch_alter_table('fd_calendar_days', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fd_calendar_days_calendar_id'), ['calendar_id'], unique=False)


def downgrade() -> None:
    op.drop_table('fd_calendar_days')
    op.drop_table('fd_calendars')
