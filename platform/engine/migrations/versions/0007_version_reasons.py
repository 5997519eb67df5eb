"""version reasons: why a version was applied, as the system's reason (a message kept as
JSON, worded in the reader's language) apart from the admin's own words

Rows written before keep their text in `message`, except the reasons the system wrote
itself, which move to `reason`: "bundled app", "rollback to vN" and "imported from bundle
SOURCE version N".

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_VERSIONS = sa.table(
    'fd_app_versions',
    sa.column('id', sa.Integer()),
    sa.column('message', sa.Text()),
    sa.column('reason', sa.JSON()),
)
_ROLLBACK = re.compile(r'rollback to v(\d+)')
_IMPORTED = re.compile(r'imported from bundle (\S+) version (\d+)')


def reason_of(text: str | None) -> dict[str, Any] | None:
    """The stored form of a message the system wrote as text, or None for the admin's words."""
    if text is None:
        return None
    if text == 'bundled app':
        return {'id': 'bundled app'}
    found = _ROLLBACK.fullmatch(text)
    if found is not None:
        return {'id': 'rollback to v%(version)s', 'params': {'version': int(found[1])}}
    found = _IMPORTED.fullmatch(text)
    if found is not None:
        return {'id': 'imported from bundle %(source)s version %(version)s', 'params': {'source': found[1], 'version': int(found[2])}}
    return None


def text_of(reason: Any) -> str:
    """The English text of a stored reason (for going back to the text column)."""
    params = reason.get('params') or {}
    try:
        return str(reason['id']) % params
    except (KeyError, TypeError, ValueError):
        return str(reason['id'])


def upgrade() -> None:
    with op.batch_alter_table('fd_app_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.select(_VERSIONS.c.id, _VERSIONS.c.message).where(_VERSIONS.c.message.is_not(None))).all()
    for row_id, text in rows:
        reason = reason_of(text)
        if reason is not None:
            conn.execute(_VERSIONS.update().where(_VERSIONS.c.id == row_id).values(reason=reason, message=None))


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(_VERSIONS.c.id, _VERSIONS.c.reason).where(_VERSIONS.c.reason.is_not(None))).all()
    for row_id, reason in rows:
        if reason is None:
            continue
        conn.execute(_VERSIONS.update().where(_VERSIONS.c.id == row_id).values(message=text_of(reason)))
    with op.batch_alter_table('fd_app_versions', schema=None) as batch_op:
        batch_op.drop_column('reason')
