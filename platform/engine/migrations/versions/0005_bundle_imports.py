"""bundle imports: which app versions came from a configuration bundle, and the base of
the three-way merge of the next upgrade from the same source

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flowdeck.engine.sqltypes


revision = '0005'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fd_bundle_imports',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('app', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('bundle_source', sa.String(length=80), nullable=False),
    sa.Column('bundle_version', sa.Integer(), nullable=False),
    sa.Column('bundle_checksum', sa.String(length=64), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('user_map', sa.JSON(), nullable=False),
    sa.Column('imported_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('imported_at', flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['imported_by'], ['fd_users.id'], name=op.f('fk_fd_bundle_imports_imported_by'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fd_bundle_imports'))
    )
    with op.batch_alter_table('fd_bundle_imports', schema=None) as batch_op:
        batch_op.create_index('ix_fd_bundle_imports_app', ['app', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('fd_bundle_imports', schema=None) as batch_op:
        batch_op.drop_index('ix_fd_bundle_imports_app')

    op.drop_table('fd_bundle_imports')
