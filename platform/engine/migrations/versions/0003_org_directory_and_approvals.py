"""org directory and approvals

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flowdeck.engine.sqltypes


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('fd_departments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('name_zh', sa.String(length=120), nullable=True),
    sa.Column('parent_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('head_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['head_id'], ['fd_users.id'], name=op.f('fk_fd_departments_head_id'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['parent_id'], ['fd_departments.id'], name=op.f('fk_fd_departments_parent_id'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_departments')),
    sa.UniqueConstraint('key', name=op.f('uq_fd_departments_key'))
    )
    op.create_table('fd_approval_requests',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('app', sa.String(length=40), nullable=False),
    sa.Column('entity', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.BigInteger(), nullable=False),
    sa.Column('transition', sa.String(length=40), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('requester_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('from_state', sa.String(length=40), nullable=True),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.Column('snapshot_version', sa.Integer(), nullable=False),
    sa.Column('current_step', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('decided_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['requester_id'], ['fd_users.id'], name=op.f('fk_fd_approval_requests_requester_id'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_approval_requests'))
    )
    with op.batch_alter_table('fd_approval_requests', schema=None) as batch_op:
        batch_op.create_index('ix_fd_approval_requests_record', ['app', 'entity', 'record_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_fd_approval_requests_requester_id'), ['requester_id'], unique=False)

    op.create_table('fd_approval_steps',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('request_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('quorum', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('due_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('escalated_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('completed_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['fd_approval_requests.id'], name=op.f('fk_fd_approval_steps_request_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_approval_steps')),
    sa.UniqueConstraint('request_id', 'position', name=op.f('uq_fd_approval_steps_request_id_position'))
    )
    with op.batch_alter_table('fd_approval_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fd_approval_steps_request_id'), ['request_id'], unique=False)

    op.create_table('fd_approval_tasks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('step_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('request_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('approver_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('origin', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('decided_version', sa.Integer(), nullable=True),
    sa.Column('created_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('decided_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['approver_id'], ['fd_users.id'], name=op.f('fk_fd_approval_tasks_approver_id'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['request_id'], ['fd_approval_requests.id'], name=op.f('fk_fd_approval_tasks_request_id'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['step_id'], ['fd_approval_steps.id'], name=op.f('fk_fd_approval_tasks_step_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_approval_tasks')),
    sa.UniqueConstraint('step_id', 'approver_id', name=op.f('uq_fd_approval_tasks_step_id_approver_id'))
    )
    with op.batch_alter_table('fd_approval_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_fd_approval_tasks_inbox', ['approver_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_fd_approval_tasks_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fd_approval_tasks_step_id'), ['step_id'], unique=False)

    # fd_users is referenced by almost every table: no copy-and-move batch on SQLite (its
    # DROP TABLE would fire ON DELETE CASCADE); SQLite can add a column with an inline FK.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE fd_users ADD COLUMN department_id INTEGER CONSTRAINT fk_fd_users_department_id REFERENCES fd_departments (id) ON DELETE SET NULL")
        op.execute("ALTER TABLE fd_users ADD COLUMN manager_id INTEGER CONSTRAINT fk_fd_users_manager_id REFERENCES fd_users (id) ON DELETE SET NULL")
    else:
        op.add_column("fd_users", sa.Column("department_id", sa.BigInteger(), nullable=True))
        op.add_column("fd_users", sa.Column("manager_id", sa.BigInteger(), nullable=True))
        op.create_foreign_key(op.f("fk_fd_users_manager_id"), "fd_users", "fd_users", ["manager_id"], ["id"], ondelete="SET NULL")
        op.create_foreign_key(op.f("fk_fd_users_department_id"), "fd_users", "fd_departments", ["department_id"], ["id"], ondelete="SET NULL")
    op.create_index(op.f("ix_fd_users_department_id"), "fd_users", ["department_id"], unique=False)




def downgrade() -> None:

    op.drop_index(op.f("ix_fd_users_department_id"), table_name="fd_users")
    with op.batch_alter_table("fd_users", schema=None) as batch_op:
        batch_op.drop_column("manager_id")
        batch_op.drop_column("department_id")

    with op.batch_alter_table('fd_approval_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fd_approval_tasks_step_id'))
        batch_op.drop_index(batch_op.f('ix_fd_approval_tasks_request_id'))
        batch_op.drop_index('ix_fd_approval_tasks_inbox')

    op.drop_table('fd_approval_tasks')
    with op.batch_alter_table('fd_approval_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fd_approval_steps_request_id'))

    op.drop_table('fd_approval_steps')
    with op.batch_alter_table('fd_approval_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fd_approval_requests_requester_id'))
        batch_op.drop_index('ix_fd_approval_requests_record')

    op.drop_table('fd_approval_requests')
    op.drop_table('fd_departments')

