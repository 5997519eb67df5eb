"""watchers: who follows a record, and whether a user's notifications are also mailed

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flowdeck.engine.sqltypes

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fd_watchers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('app', sa.String(length=40), nullable=False),
    sa.Column('entity', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('following', sa.Boolean(), nullable=False),
    sa.Column('created_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['fd_users.id'], name=op.f('fk_fd_watchers_user_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_watchers')),
    sa.UniqueConstraint('app', 'entity', 'record_id', 'user_id', name=op.f('uq_fd_watchers_app_entity_record_id_user_id'))
    )  # fmt: skip
    with op.batch_alter_table('fd_watchers', schema=None) as batch_op:
        batch_op.create_index('ix_fd_watchers_user', ['user_id'], unique=False)
    # A plain ADD COLUMN: a batch (copy-and-move) of fd_users on SQLite would fire the
    # ON DELETE CASCADE of every table referencing it.
    op.add_column('fd_users', sa.Column('mail_notifications', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    op.drop_column('fd_users', 'mail_notifications')
    op.drop_table('fd_watchers')
