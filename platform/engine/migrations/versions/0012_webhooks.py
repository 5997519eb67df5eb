"""webhooks: outgoing endpoints and their deliveries, incoming hooks and their calls (engine/webhooks)

Revision ID: 0012
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flowdeck.engine.sqltypes

revision = '0012'
down_revision = '0014'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = flowdeck.engine.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table('fd_webhook_endpoints',
    sa.Column('id', ID, nullable=False),
    sa.Column('app', sa.String(length=40), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('entities', sa.JSON(), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('disabled_json', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('disabled_at', WHEN(), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('failing_since', WHEN(), nullable=True),
    sa.Column('created_by', ID, nullable=True),
    sa.Column('created_at', WHEN(), nullable=False),
    sa.Column('updated_at', WHEN(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['fd_users.id'], name=op.f('fk_fd_webhook_endpoints_created_by'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_webhook_endpoints'))
    )  # fmt: skip
    op.create_index(op.f('ix_fd_webhook_endpoints_app'), 'fd_webhook_endpoints', ['app'], unique=False)
    op.create_table('fd_webhook_deliveries',
    sa.Column('id', ID, nullable=False),
    sa.Column('endpoint_id', ID, nullable=False),
    sa.Column('app', sa.String(length=40), nullable=False),
    sa.Column('event_type', sa.String(length=60), nullable=False),
    sa.Column('message_id', sa.String(length=60), nullable=False),
    sa.Column('entity', sa.String(length=40), nullable=True),
    sa.Column('record_id', sa.BigInteger(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('replay_of', sa.BigInteger(), nullable=True),
    sa.Column('created_at', WHEN(), nullable=False),
    sa.Column('last_attempt_at', WHEN(), nullable=True),
    sa.Column('next_attempt_at', WHEN(), nullable=True),
    sa.Column('request_headers', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('response_code', sa.Integer(), nullable=True),
    sa.Column('response_headers', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('response_body', sa.Text(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['endpoint_id'], ['fd_webhook_endpoints.id'], name=op.f('fk_fd_webhook_deliveries_endpoint_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_webhook_deliveries'))
    )  # fmt: skip
    op.create_index('ix_fd_webhook_deliveries_endpoint', 'fd_webhook_deliveries', ['endpoint_id', 'id'], unique=False)
    op.create_index('ix_fd_webhook_deliveries_app', 'fd_webhook_deliveries', ['app', 'id'], unique=False)
    op.create_table('fd_webhook_hooks',
    sa.Column('id', ID, nullable=False),
    sa.Column('app', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('token_hint', sa.String(length=8), nullable=False),
    sa.Column('entity', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=12), nullable=False),
    sa.Column('mapping', sa.JSON(), nullable=False),
    sa.Column('match_field', sa.String(length=40), nullable=True),
    sa.Column('match_path', sa.String(length=200), nullable=True),
    sa.Column('transition', sa.String(length=40), nullable=True),
    sa.Column('run_as', ID, nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_by', ID, nullable=True),
    sa.Column('created_at', WHEN(), nullable=False),
    sa.Column('updated_at', WHEN(), nullable=False),
    sa.ForeignKeyConstraint(['run_as'], ['fd_users.id'], name=op.f('fk_fd_webhook_hooks_run_as'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by'], ['fd_users.id'], name=op.f('fk_fd_webhook_hooks_created_by'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_webhook_hooks')),
    sa.UniqueConstraint('key', name=op.f('uq_fd_webhook_hooks_key'))
    )  # fmt: skip
    op.create_index(op.f('ix_fd_webhook_hooks_app'), 'fd_webhook_hooks', ['app'], unique=False)
    op.create_table('fd_webhook_calls',
    sa.Column('id', ID, nullable=False),
    sa.Column('hook_id', ID, nullable=False),
    sa.Column('at', WHEN(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('record_id', sa.BigInteger(), nullable=True),
    sa.Column('error_json', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('remote_addr', sa.String(length=64), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['hook_id'], ['fd_webhook_hooks.id'], name=op.f('fk_fd_webhook_calls_hook_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_webhook_calls'))
    )  # fmt: skip
    op.create_index('ix_fd_webhook_calls_hook', 'fd_webhook_calls', ['hook_id', 'at'], unique=False)


def downgrade() -> None:
    op.drop_table('fd_webhook_calls')
    op.drop_table('fd_webhook_hooks')
    op.drop_table('fd_webhook_deliveries')
    op.drop_table('fd_webhook_endpoints')
