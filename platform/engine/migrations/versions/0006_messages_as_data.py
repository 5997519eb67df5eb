"""messages as data: history entries, approval task notes and notifications keep what the
system says as message JSON (a msgid and its parameters, worded in the reader's language
when shown), apart from the person's own words

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

New columns: fd_history.message, fd_approval_tasks.note_json, fd_notifications.message_json
(fd_notifications.message, the text of before, may now be empty).

The rows written before are converted where their English is one the engine wrote (the
formats of the approval services up to this revision): the message goes to the new column,
the person's comment (a decision's, a send-back's, a request's) stays in `comment` as typed,
the old text is cleared. Step and transition labels are looked up by their English text in
each app's current document, so they read in both languages; a label no longer there is
kept as its English text. Anything not recognised stays as it was (shown as it is).
Downgrading writes the messages back as English text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

MessageJSON = sa.JSON(none_as_null=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

_history = sa.table(
    'fd_history', sa.column('id', BigId), sa.column('app', sa.String), sa.column('entity', sa.String),
    sa.column('action', sa.String), sa.column('transition', sa.String), sa.column('changes', sa.JSON),
    sa.column('comment', sa.Text), sa.column('message', MessageJSON),
)  # fmt: skip
_tasks = sa.table(
    'fd_approval_tasks', sa.column('id', BigId), sa.column('request_id', BigId), sa.column('note', sa.Text),
    sa.column('note_json', MessageJSON),
)  # fmt: skip
_requests = sa.table(
    'fd_approval_requests', sa.column('id', BigId), sa.column('app', sa.String), sa.column('entity', sa.String),
    sa.column('transition', sa.String),
)  # fmt: skip
_notifications = sa.table(
    'fd_notifications', sa.column('id', BigId), sa.column('app', sa.String), sa.column('entity', sa.String),
    sa.column('message', sa.Text), sa.column('message_json', MessageJSON),
)  # fmt: skip
_apps = sa.table('fd_apps', sa.column('key', sa.String), sa.column('version', sa.Integer))
_versions = sa.table('fd_app_versions', sa.column('app', sa.String), sa.column('version', sa.Integer), sa.column('document', sa.JSON))
_users = sa.table('fd_users', sa.column('id', BigId), sa.column('display_name', sa.String))


def upgrade() -> None:
    with op.batch_alter_table('fd_history', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message', MessageJSON, nullable=True))
    with op.batch_alter_table('fd_approval_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note_json', MessageJSON, nullable=True))
    with op.batch_alter_table('fd_notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_json', MessageJSON, nullable=True))
        batch_op.alter_column('message', existing_type=sa.Text(), nullable=True)
    conn = op.get_bind()
    labels = Labels(conn)
    _convert_history(conn, labels)
    _convert_notes(conn, labels)
    _convert_notifications(conn, labels)


def downgrade() -> None:
    from flowdeck.engine.messages import Message

    conn = op.get_bind()

    def english(data: Any) -> str:
        return str(Message.from_json(data))

    rows = conn.execute(sa.select(_history.c.id, _history.c.message, _history.c.comment).where(_history.c.message.is_not(None))).all()
    _update(conn, _history, [{'b_id': i, 'comment': english(m) + (f': {c}' if c else '')} for i, m, c in rows])
    rows = conn.execute(sa.select(_tasks.c.id, _tasks.c.note_json).where(_tasks.c.note_json.is_not(None))).all()
    _update(conn, _tasks, [{'b_id': i, 'note': english(m)} for i, m in rows])
    rows = conn.execute(sa.select(_notifications.c.id, _notifications.c.message_json).where(_notifications.c.message_json.is_not(None))).all()
    _update(conn, _notifications, [{'b_id': i, 'message': english(m)[:2000]} for i, m in rows])
    with op.batch_alter_table('fd_notifications', schema=None) as batch_op:
        batch_op.alter_column('message', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('message_json')
    with op.batch_alter_table('fd_approval_tasks', schema=None) as batch_op:
        batch_op.drop_column('note_json')
    with op.batch_alter_table('fd_history', schema=None) as batch_op:
        batch_op.drop_column('message')


# -- messages, as the engine stores them (engine/messages.py: Message.to_json) --------------------


def msg(msgid: str, **params: Any) -> dict[str, Any]:
    return {'id': msgid, 'params': params} if params else {'id': msgid}


def _humanize(key: str) -> str:
    return key.replace('_', ' ').capitalize()


def _label(value: Any, key: str) -> dict[str, Any]:
    """A document's label as a message parameter (Label.of with the key as fallback)."""
    if isinstance(value, Mapping) and value:
        return {'label': {str(k): str(v) for k, v in value.items()}}
    return {'label': {'en': value if isinstance(value, str) and value else _humanize(key)}}


def _english(text: str) -> dict[str, Any]:
    """A label known only by its English text (no longer in the document)."""
    return {'label': {'en': text}}


class Labels:
    """Transition and approval-step labels of each app's current document, by English text
    and by key, per (app, entity)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.transitions: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.steps: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
        self.step_keys: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
        documents = conn.execute(
            sa.select(_versions.c.app, _versions.c.document).join(
                _apps, (_apps.c.key == _versions.c.app) & (_apps.c.version == _versions.c.version)
            )
        ).all()
        for app, document in documents:
            for entity, spec in _items(document, 'entities'):
                for transition in (spec.get('workflow') or {}).get('transitions') or []:
                    if isinstance(transition, Mapping) and isinstance(transition.get('key'), str):
                        self._add(app, entity, transition)

    def _add(self, app: str, entity: str, transition: Mapping[str, Any]) -> None:
        key = transition['key']
        label = _label(transition.get('label'), key)
        self.transitions.setdefault((app, entity), {}).setdefault(label['label'].get('en', ''), label)
        steps = ((transition.get('approval') or {}) if isinstance(transition.get('approval'), Mapping) else {}).get('steps') or []
        for step in steps:
            if isinstance(step, Mapping) and isinstance(step.get('key'), str):
                step_label = _label(step.get('label'), step['key'])
                self.steps.setdefault((app, entity, key), {}).setdefault(step_label['label'].get('en', ''), step_label)
                self.step_keys.setdefault((app, entity, key), {})[step['key']] = step_label

    def transition(self, app: str | None, entity: str | None, text: str) -> dict[str, Any]:
        return self.transitions.get((app or '', entity or ''), {}).get(text) or _english(text)

    def step(self, app: str | None, entity: str | None, transition: str | None, text: str) -> dict[str, Any]:
        """A step by its English label: of `transition`, else of any transition of the entity."""
        for found in self._step_tables(app, entity, transition):
            if text in found:
                return found[text]
        return _english(text)

    def known_step(self, app: str, entity: str, transition: str | None, text: str) -> dict[str, Any] | None:
        return next((found[text] for found in self._step_tables(app, entity, transition) if text in found), None)

    def step_by_key(self, app: str, entity: str, transition: str, key: str) -> dict[str, Any]:
        return self.step_keys.get((app, entity, transition), {}).get(key) or _english(key)

    def _step_tables(self, app: str | None, entity: str | None, transition: str | None) -> Iterator[dict[str, dict[str, Any]]]:
        if transition is not None:
            yield self.steps.get((app or '', entity or '', transition), {})
        yield from (table for (a, e, _), table in self.steps.items() if (a, e) == (app, entity))


def _items(document: Any, key: str) -> list[tuple[str, Mapping[str, Any]]]:
    found = document.get(key) if isinstance(document, Mapping) else None
    return [(k, v) for k, v in found.items() if isinstance(v, Mapping)] if isinstance(found, Mapping) else []


def _update(conn: sa.Connection, table: sa.TableClause, rows: list[dict[str, Any]]) -> None:
    """Rows of (b_id, column values), grouped by the columns they set."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(k for k in row if k != 'b_id')), []).append(row)
    for columns, group in groups.items():
        statement = table.update().where(table.c.id == sa.bindparam('b_id')).values({c: sa.bindparam(f'v_{c}') for c in columns})
        params = [{'b_id': row['b_id'], **{f'v_{c}': row[c] for c in columns}} for row in group]
        for start in range(0, len(params), 500):
            conn.execute(statement, params[start : start + 500])


# -- history -----------------------------------------------------------------------------------------

_STEP_EVENTS: dict[str, list[tuple[re.Pattern[str], str]]] = {
    'escalated': [
        (re.compile(r"(?P<step>.+): no approver found; sent to the requester's superior", re.S),
         "step “%(step)s”: no approver found; sent to the requester's superior"),
        (re.compile(r'(?P<step>.+): no approver found; sent to the fallback role (?P<role>\S+)', re.S),
         'step “%(step)s”: no approver found; sent to the fallback role %(role)s'),
    ],
    'self_excluded': [
        (re.compile(r'(?P<step>.+): the requester cannot approve their own request', re.S),
         'step “%(step)s”: the requester cannot approve their own request'),
    ],
    'overdue': [(re.compile(r'(?P<step>.+) is overdue', re.S), 'step “%(step)s”')],
}  # fmt: skip
_AUTO = re.compile(r'(?P<step>.+?): approver already approved step (?P<earlier>\S+); approved automatically', re.S)
_NOT_NEEDED = re.compile(r'(?P<comment>.*) \(steps not needed: (?P<steps>.+)\)', re.S)
_BACK = re.compile(r'back to (?P<step>.+?): (?P<comment>.*)', re.S)


def _history_row(row: Any, labels: Labels) -> tuple[dict[str, Any] | None, str | None] | None:
    """(message, comment) of an old entry whose English the approval services wrote, else None."""
    text, action, app, entity, transition = row.comment, row.action, row.app, row.entity, row.transition
    if action == 'approved' and text == 'every step was approved at once':
        return msg('every step was approved at once'), None
    if action == 'approval_reset' and text == 'the record was edited while approval was pending; approvals start again':
        return msg('the record was edited while approval was pending; approvals start again'), None
    if action in ('approved', 'rejected') and not row.changes and transition:
        return _decision(app, entity, transition, text, labels)
    if action == 'transition' and text == 'approved' and transition and (app, entity, transition) in labels.steps:
        return None, None  # what the approval services wrote when an approved transition ran
    if action == 'sent_back':
        for english, label in sorted(labels.steps.get((app, entity, transition or ''), {}).items(), key=lambda kv: -len(kv[0])):
            if text.startswith(f'back to {english}: '):
                return msg('back to %(step)s', step=label), text[len(f'back to {english}: ') :] or None
        found = _BACK.fullmatch(text)
        if found:
            step = labels.step_keys.get((app, entity, transition or ''), {}).get(found['step']) or _english(found['step'])
            return msg('back to %(step)s', step=step), found['comment'] or None
        return None
    if action == 'auto_approved':
        found = _AUTO.fullmatch(text)
        if found:
            step = labels.step(app, entity, transition, found['step'])
            earlier = labels.step_by_key(app, entity, transition or '', found['earlier'])
            return msg('step “%(step)s”: already approved step “%(earlier)s” in this round', step=step, earlier=earlier), None
        return None
    if action == 'approval_requested':
        found = _NOT_NEEDED.fullmatch(text)
        if found:
            steps = [labels.step(app, entity, transition, s) for s in found['steps'].split(', ')]
            return msg('steps not needed: %(steps)s', steps={'list': steps}), found['comment'] or None
        return None
    for pattern, msgid in _STEP_EVENTS.get(action, []):
        found = pattern.fullmatch(text)
        if found:
            params = {k: v for k, v in found.groupdict().items() if k != 'step'}
            return msg(msgid, step=labels.step(app, entity, transition, found['step']), **params), None
    return None


def _decision(app: str, entity: str, transition: str, text: str, labels: Labels) -> tuple[dict[str, Any], str | None] | None:
    """A decision's entry: "<step>" or "<step>: <comment>" (a step whose English label is known)."""
    whole = labels.known_step(app, entity, transition, text)
    if whole is not None:
        return msg('step “%(step)s”', step=whole), None
    for english, label in sorted(labels.steps.get((app, entity, transition), {}).items(), key=lambda kv: -len(kv[0])):
        if text.startswith(f'{english}: '):
            return msg('step “%(step)s”', step=label), text[len(english) + 2 :] or None
    return None


def _convert_history(conn: sa.Connection, labels: Labels) -> None:
    actions = (
        'approved', 'rejected', 'transition', 'sent_back', 'auto_approved', 'approval_requested', 'approval_reset',
        'escalated', 'self_excluded', 'overdue',
    )  # fmt: skip
    h = _history
    query = (
        sa.select(h.c.id, h.c.app, h.c.entity, h.c.action, h.c.transition, h.c.changes, h.c.comment)
        .where(h.c.comment.is_not(None) & h.c.action.in_(actions))
        .order_by(h.c.id)
    )
    updates = []
    for row in conn.execute(query).all():
        found = _history_row(row, labels)
        if found is not None:
            updates.append({'b_id': row.id, 'message': found[0], 'comment': found[1]})
    _update(conn, h, updates)


# -- approval task notes -------------------------------------------------------------------------------

_FIXED_NOTES = {
    'no longer required': msg('no longer required'),
    'sent back': msg('voided: the request was sent back'),
    'added: step overdue': msg('added because the step was overdue'),
    'no approver found for this step; escalated': msg("escalated: nobody was found for this step, so the requester's superior decides"),
    'no approver found; taken from the fallback role': msg('nobody was found for this step; taken from the fallback role'),
}
_BY = re.compile(r'(?P<how>added|delegated) by (?P<name>.+)', re.S)
_TO = re.compile(r'delegated to user (?P<id>\d+)')
_REPEAT = re.compile(r'already approved step (?P<step>\S+) in this round')


def _convert_notes(conn: sa.Connection, labels: Labels) -> None:
    t, r = _tasks, _requests
    rows = conn.execute(
        sa.select(t.c.id, t.c.note, r.c.app, r.c.entity, r.c.transition).join(r, r.c.id == t.c.request_id).where(t.c.note.is_not(None))
    ).all()
    names: Callable[[int], str | None] = _names(conn, [int(m['id']) for row in rows if (m := _TO.fullmatch(row.note))])
    updates = []
    for row in rows:
        note = _FIXED_NOTES.get(row.note)
        if note is None and (found := _BY.fullmatch(row.note)):
            note = msg(f'{found["how"]} by %(name)s', name=found['name'])
        elif note is None and (found := _TO.fullmatch(row.note)) and (name := names(int(found['id']))) is not None:
            note = msg('handed to %(name)s', name=name)
        elif note is None and (found := _REPEAT.fullmatch(row.note)):
            step = labels.step_by_key(row.app, row.entity, row.transition, found['step'])
            note = msg('approved automatically: already approved step “%(step)s” in this round', step=step)
        if note is not None:
            updates.append({'b_id': row.id, 'note_json': note, 'note': None})
    _update(conn, t, updates)


def _names(conn: sa.Connection, ids: list[int]) -> Callable[[int], str | None]:
    found = dict(conn.execute(sa.select(_users.c.id, _users.c.display_name).where(_users.c.id.in_(set(ids)))).all()) if ids else {}
    return lambda user_id: found.get(user_id)


# -- notifications -----------------------------------------------------------------------------------------

_NOTICES = [
    (re.compile(r'Approval needed: (?P<transition>.+?) of record #(?P<id>\d+) \(added by (?P<user>.+)\)', re.S),
     'Approval needed: %(transition)s of record #%(id)s (added by %(user)s)'),
    (re.compile(r'Approval needed: (?P<transition>.+?) of record #(?P<id>\d+) \(delegated by (?P<user>.+)\)', re.S),
     'Approval needed: %(transition)s of record #%(id)s (delegated by %(user)s)'),
    (re.compile(r'Approval needed: (?P<transition>.+?) of “(?P<title>.*)” \((?P<step>.+)\)', re.S),
     'Approval needed: %(transition)s of “%(title)s” (%(step)s)'),
    (re.compile(r'Approved: (?P<transition>.+?) of “(?P<title>.*)”', re.S), 'Approved: %(transition)s of “%(title)s”'),
    (re.compile(r'Rejected: (?P<transition>.+?) of “(?P<title>.*?)”: (?P<comment>.*)', re.S),
     'Rejected: %(transition)s of “%(title)s”: %(comment)s'),
    (re.compile(r'Withdrawn: the approval request for record #(?P<id>\d+) no longer needs you'),
     'Withdrawn: the approval request for record #%(id)s no longer needs you'),
    (re.compile(r'Overdue approval: (?P<step>.+) for record #(?P<id>\d+)', re.S), 'Overdue approval: %(step)s for record #%(id)s'),
    (re.compile(r'“(?P<title>.*)” was edited while waiting for approval: earlier approvals were reset', re.S),
     '“%(title)s” was edited while waiting for approval: earlier approvals were reset'),
]  # fmt: skip


def _notice(app: str | None, entity: str | None, text: str, labels: Labels) -> dict[str, Any] | None:
    for pattern, msgid in _NOTICES:
        found = pattern.fullmatch(text)
        if found is None:
            continue
        params: dict[str, Any] = {}
        for name, value in found.groupdict().items():
            if name == 'transition':
                params[name] = labels.transition(app, entity, value)
            elif name == 'step':
                params[name] = labels.step(app, entity, None, value)
            else:
                params[name] = int(value) if name == 'id' else value
        return msg(msgid, **params)
    return None


def _convert_notifications(conn: sa.Connection, labels: Labels) -> None:
    n = _notifications
    updates = []
    for row in conn.execute(sa.select(n.c.id, n.c.app, n.c.entity, n.c.message).where(n.c.message.is_not(None)).order_by(n.c.id)).all():
        said = _notice(row.app, row.entity, row.message, labels)
        if said is not None:
            updates.append({'b_id': row.id, 'message_json': said, 'message': None})
    _update(conn, n, updates)
