"""mail delivery choices (immediately / daily digest / off, quiet hours, time zone) and the digests sent

Revision ID: 0020
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flowdeck.engine.sqltypes

revision = '0020'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fd_mail_prefs',
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('delivery', sa.String(length=12), nullable=False),
    sa.Column('digest_at', sa.Integer(), nullable=False),
    sa.Column('quiet_from', sa.Integer(), nullable=True),
    sa.Column('quiet_to', sa.Integer(), nullable=True),
    sa.Column('quiet_weekends', sa.Boolean(), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=True),
    sa.Column('updated_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['fd_users.id'], name=op.f('fk_fd_mail_prefs_user_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_fd_mail_prefs'))
    )  # fmt: skip
    op.create_table('fd_digest_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('notifications', sa.Integer(), nullable=False),
    sa.Column('covered_until', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('job_id', sa.BigInteger(), nullable=True),
    sa.Column('finished_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['fd_users.id'], name=op.f('fk_fd_digest_runs_user_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_digest_runs')),
    sa.UniqueConstraint('user_id', 'day', name=op.f('uq_fd_digest_runs_user_id_day'))
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table('fd_digest_runs')
    op.drop_table('fd_mail_prefs')
