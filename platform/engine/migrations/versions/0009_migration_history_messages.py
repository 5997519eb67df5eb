"""migration history as messages: the history entries a schema change and a bundle import
wrote as English text become the message JSON the engine writes now

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09

Records moved out of a removed state or option, values converted or cleared by a type
change, approval requests withdrawn by a schema change (fd_history.comment held a fixed
English text) and records imported from a bundle ("imported from bundle SOURCE (record #N
there)") now keep that in fd_history.message, the comment empty: the texts are the
engine's own and few, so they are recognised exactly (by action and text), in one UPDATE
each, or by one pattern for the imports. Any other text stays as it was. Downgrading writes
the English text back.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

MessageJSON = sa.JSON(none_as_null=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

_history = sa.table(
    'fd_history', sa.column('id', BigId), sa.column('action', sa.String), sa.column('comment', sa.Text),
    sa.column('message', MessageJSON),
)  # fmt: skip

FIXED = {
    'migrated': (
        'state migrated by schema change', 'option migrated by schema change', 'option cleared by schema change',
        'value converted by schema change', 'value cleared by schema change',
    ),
    'withdrawn': ('withdrawn by schema change',),
}  # fmt: skip
"""The texts the migration planner wrote, by the action of their entries (msgid = text)."""
IMPORTED = 'imported from bundle %(source)s (record #%(id)s there)'
_IMPORTED = re.compile(r'imported from bundle (?P<source>.+) \(record #(?P<id>\d+) there\)', re.S)
BATCH = 500


def upgrade() -> None:
    conn = op.get_bind()
    h = _history
    for action, texts in FIXED.items():
        for text in texts:
            conn.execute(h.update().where((h.c.action == action) & (h.c.comment == text)).values(message={'id': text}, comment=None))
    rows = conn.execute(
        sa.select(h.c.id, h.c.comment).where((h.c.action == 'imported') & h.c.comment.like('imported from bundle %') & h.c.message.is_(None))
    ).all()
    updates = []
    for row_id, text in rows:
        found = _IMPORTED.fullmatch(text)
        if found is not None:
            message = {'id': IMPORTED, 'params': {'source': found['source'], 'id': int(found['id'])}}
            updates.append({'b_id': row_id, 'v_message': message})
    _update(conn, updates, h.update().where(h.c.id == sa.bindparam('b_id')).values(message=sa.bindparam('v_message'), comment=None))


def downgrade() -> None:
    conn = op.get_bind()
    h = _history
    known = {text for texts in FIXED.values() for text in texts} | {IMPORTED}
    rows = conn.execute(sa.select(h.c.id, h.c.message).where(h.c.action.in_([*FIXED, 'imported']) & h.c.message.is_not(None))).all()
    updates = [{'b_id': i, 'v_comment': text_of(m)} for i, m in rows if isinstance(m, dict) and m.get('id') in known]
    _update(conn, updates, h.update().where(h.c.id == sa.bindparam('b_id')).values(comment=sa.bindparam('v_comment'), message=None))


def text_of(message: dict[str, Any]) -> str:
    """The English text of a stored message (its msgid with its parameters)."""
    try:
        return str(message['id']) % (message.get('params') or {})
    except (KeyError, TypeError, ValueError):
        return str(message['id'])


def _update(conn: sa.Connection, rows: list[dict[str, Any]], statement: Any) -> None:
    for start in range(0, len(rows), BATCH):
        conn.execute(statement, rows[start : start + BATCH])
