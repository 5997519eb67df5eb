"""audit log (written once: triggers refuse UPDATE and DELETE), sign-in failures counted
in the database (shared by every worker), one-time password reset links, and the flag of a
temporary password that must be changed at the next sign-in

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flowdeck.engine.sqltypes


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# Audit entries are evidence: no statement may change or remove one, whatever code runs.
NO_CHANGES = {
    'sqlite': [
        "CREATE TRIGGER fd_audit_no_update BEFORE UPDATE ON fd_audit BEGIN SELECT RAISE(ABORT, 'audit entries cannot be changed'); END",
        "CREATE TRIGGER fd_audit_no_delete BEFORE DELETE ON fd_audit BEGIN SELECT RAISE(ABORT, 'audit entries cannot be removed'); END",
    ],
    'postgresql': [
        "CREATE FUNCTION fd_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'audit entries cannot be changed or removed'; END $$",
        "CREATE TRIGGER fd_audit_no_change BEFORE UPDATE OR DELETE ON fd_audit FOR EACH ROW EXECUTE FUNCTION fd_audit_refuse()",
        "CREATE TRIGGER fd_audit_no_truncate BEFORE TRUNCATE ON fd_audit FOR EACH STATEMENT EXECUTE FUNCTION fd_audit_refuse()",
    ],
}
DROP_NO_CHANGES = {
    'sqlite': ["DROP TRIGGER fd_audit_no_update", "DROP TRIGGER fd_audit_no_delete"],
    'postgresql': [
        "DROP TRIGGER fd_audit_no_truncate ON fd_audit",
        "DROP TRIGGER fd_audit_no_change ON fd_audit",
        "DROP FUNCTION fd_audit_refuse()",
    ],
}


def upgrade() -> None:
    op.create_table('fd_audit',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('actor_id', sa.BigInteger(), nullable=True),
    sa.Column('actor_name', sa.String(length=60), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.Column('target', sa.String(length=200), nullable=True),
    sa.Column('message', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_audit'))
    )
    with op.batch_alter_table('fd_audit', schema=None) as batch_op:
        batch_op.create_index('ix_fd_audit_action', ['action', 'id'], unique=False)
        batch_op.create_index('ix_fd_audit_actor', ['actor_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fd_audit_at'), ['at'], unique=False)

    op.create_table('fd_signin_failures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_signin_failures'))
    )
    with op.batch_alter_table('fd_signin_failures', schema=None) as batch_op:
        batch_op.create_index('ix_fd_signin_failures_key', ['scope', 'key', 'at'], unique=False)

    op.create_table('fd_password_resets',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('used_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['fd_users.id'], name=op.f('fk_fd_password_resets_created_by'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['fd_users.id'], name=op.f('fk_fd_password_resets_user_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_password_resets'))
    )
    with op.batch_alter_table('fd_password_resets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fd_password_resets_user_id'), ['user_id'], unique=False)

    op.add_column('fd_users', sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(), nullable=False))
    for statement in NO_CHANGES[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP_NO_CHANGES[op.get_bind().dialect.name]:
        op.execute(statement)
    # Not batch mode: on SQLite it would recreate fd_users, and dropping the old table with
    # foreign keys on deletes every row that references a user with ON DELETE CASCADE
    # (notifications, sessions, ...). SQLite 3.35+ drops a plain column in place.
    op.drop_column('fd_users', 'must_change_password')

    with op.batch_alter_table('fd_password_resets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fd_password_resets_user_id'))

    op.drop_table('fd_password_resets')
    with op.batch_alter_table('fd_signin_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_fd_signin_failures_key')

    op.drop_table('fd_signin_failures')
    with op.batch_alter_table('fd_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fd_audit_at'))
        batch_op.drop_index('ix_fd_audit_actor')
        batch_op.drop_index('ix_fd_audit_action')

    op.drop_table('fd_audit')
