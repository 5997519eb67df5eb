"""sessions saved views notifications

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flowdeck.engine.sqltypes


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('fd_notifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('app', sa.String(length=40), nullable=True),
    sa.Column('entity', sa.String(length=40), nullable=True),
    sa.Column('record_id', sa.BigInteger(), nullable=True),
    sa.Column('actor_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=True),
    sa.Column('created_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('read_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('emailed_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['fd_users.id'], name=op.f('fk_fd_notifications_actor_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['fd_users.id'], name=op.f('fk_fd_notifications_user_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_notifications')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_fd_notifications_dedupe_key'))
    )
    with op.batch_alter_table('fd_notifications', schema=None) as batch_op:
        batch_op.create_index('ix_fd_notifications_user_unread', ['user_id', 'read_at', 'id'], unique=False)

    op.create_table('fd_saved_views',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('app', sa.String(length=40), nullable=False),
    sa.Column('entity', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('created_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['fd_users.id'], name=op.f('fk_fd_saved_views_user_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_saved_views')),
    sa.UniqueConstraint('user_id', 'app', 'entity', 'name', name=op.f('uq_fd_saved_views_user_id_app_entity_name'))
    )
    with op.batch_alter_table('fd_saved_views', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fd_saved_views_user_id'), ['user_id'], unique=False)

    op.create_table('fd_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_seen_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['fd_users.id'], name=op.f('fk_fd_sessions_user_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_sessions'))
    )
    with op.batch_alter_table('fd_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fd_sessions_user_id'), ['user_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('fd_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fd_sessions_user_id'))

    op.drop_table('fd_sessions')
    with op.batch_alter_table('fd_saved_views', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fd_saved_views_user_id'))

    op.drop_table('fd_saved_views')
    with op.batch_alter_table('fd_notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_fd_notifications_user_unread')

    op.drop_table('fd_notifications')

