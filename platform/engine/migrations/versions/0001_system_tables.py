"""system tables

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import flowdeck.engine.sqltypes
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "fd_apps",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "installed_at", flowdeck.engine.sqltypes.UTCDateTime(), nullable=False
        ),
        sa.Column("updated_at", flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_fd_apps")),
    )
    op.create_table(
        "fd_archived",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("app", sa.String(length=40), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("storage", sa.String(length=200), nullable=False),
        sa.Column(
            "definition",
            sa.JSON(),
            nullable=False,
        ),
        sa.Column("archived_in_version", sa.Integer(), nullable=False),
        sa.Column(
            "archived_at", flowdeck.engine.sqltypes.UTCDateTime(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fd_archived")),
        sa.UniqueConstraint(
            "app", "entity", "field", name=op.f("uq_fd_archived_app_entity_field")
        ),
    )
    op.create_table(
        "fd_counters",
        sa.Column("app", sa.String(length=40), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "app", "entity", "field", "period", name=op.f("pk_fd_counters")
        ),
    )
    op.create_table(
        "fd_meta",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_fd_meta")),
    )
    op.create_table(
        "fd_users",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("username", sa.String(length=60), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=True),
        sa.Column("created_at", flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fd_users")),
        sa.UniqueConstraint("email", name=op.f("uq_fd_users_email")),
        sa.UniqueConstraint("username", name=op.f("uq_fd_users_username")),
    )
    op.create_table(
        "fd_app_versions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("app", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "document",
            sa.JSON(),
            nullable=False,
        ),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column(
            "author_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["fd_users.id"],
            name=op.f("fk_fd_app_versions_author_id"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fd_app_versions")),
        sa.UniqueConstraint(
            "app", "version", name=op.f("uq_fd_app_versions_app_version")
        ),
    )
    op.create_table(
        "fd_attachments",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=120), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "created_by",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("created_at", flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["fd_users.id"],
            name=op.f("fk_fd_attachments_created_by"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fd_attachments")),
    )
    with op.batch_alter_table("fd_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fd_attachments_sha256"), ["sha256"], unique=False
        )

    op.create_table(
        "fd_comments",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("app", sa.String(length=40), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "author_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["fd_users.id"],
            name=op.f("fk_fd_comments_author_id"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fd_comments")),
    )
    with op.batch_alter_table("fd_comments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fd_comments_record", ["app", "entity", "record_id", "id"], unique=False
        )

    op.create_table(
        "fd_history",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("app", sa.String(length=40), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "actor_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("at", flowdeck.engine.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("transition", sa.String(length=40), nullable=True),
        sa.Column(
            "changes",
            sa.JSON().with_variant(
                postgresql.JSONB(astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["fd_users.id"],
            name=op.f("fk_fd_history_actor_id"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fd_history")),
    )
    with op.batch_alter_table("fd_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fd_history_record", ["app", "entity", "record_id", "id"], unique=False
        )

    op.create_table(
        "fd_role_grants",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("app", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["fd_users.id"],
            name=op.f("fk_fd_role_grants_user_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fd_role_grants")),
        sa.UniqueConstraint(
            "user_id", "app", "role", name=op.f("uq_fd_role_grants_user_id_app_role")
        ),
    )
    with op.batch_alter_table("fd_role_grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fd_role_grants_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("fd_role_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fd_role_grants_user_id"))

    op.drop_table("fd_role_grants")
    with op.batch_alter_table("fd_history", schema=None) as batch_op:
        batch_op.drop_index("ix_fd_history_record")

    op.drop_table("fd_history")
    with op.batch_alter_table("fd_comments", schema=None) as batch_op:
        batch_op.drop_index("ix_fd_comments_record")

    op.drop_table("fd_comments")
    with op.batch_alter_table("fd_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fd_attachments_sha256"))

    op.drop_table("fd_attachments")
    op.drop_table("fd_app_versions")
    op.drop_table("fd_users")
    op.drop_table("fd_meta")
    op.drop_table("fd_counters")
    op.drop_table("fd_archived")
    op.drop_table("fd_apps")
