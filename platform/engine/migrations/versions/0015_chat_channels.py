"""chat channels: WeCom, DingTalk and Feishu group bots and their delivery log (engine/channels)

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flowdeck.engine.sqltypes

revision = '0015'
down_revision = '0010'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('fd_chat_channels',
    sa.Column('id', _ID, nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('platform', sa.String(length=20), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('secret', sa.String(length=200), nullable=True),
    sa.Column('language', sa.String(length=10), nullable=False),
    sa.Column('per_minute', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('tokens', sa.Float(), nullable=False),
    sa.Column('tokens_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('digest_due', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_chat_channels')),
    sa.UniqueConstraint('key', name=op.f('uq_fd_chat_channels_key'))
    )  # fmt: skip
    op.create_table('fd_chat_deliveries',
    sa.Column('id', _ID, nullable=False),
    sa.Column('channel_id', _ID, nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('title_json', sa.JSON(none_as_null=True), nullable=False),
    sa.Column('body_json', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('link', sa.String(length=1000), nullable=True),
    sa.Column('digest_id', _ID, nullable=True),
    sa.Column('created_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('sent_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('response', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['channel_id'], ['fd_chat_channels.id'], name=op.f('fk_fd_chat_deliveries_channel_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_chat_deliveries'))
    )  # fmt: skip
    with op.batch_alter_table('fd_chat_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_fd_chat_deliveries_channel', ['channel_id', 'status', 'id'], unique=False)


def downgrade() -> None:
    op.drop_table('fd_chat_deliveries')
    op.drop_table('fd_chat_channels')
