"""The record page's repeated parts, drawn in Python: the field rows of its sections and
the history timeline.

Jinja costs a call, a test and an escape per piece of output; these two loops were most of
the record page's (about 190 pieces a page, two thirds of its CPU: issue #10's W3, see
docs/performance.md). The frame of each section and row (heading, label, `data-field`,
wide or not, how its value is drawn) depends only on the entity, the language and which
fields the reader may see, so it is worked out once per schema generation and kept in the
registry's memo; a page then joins the frames with its values. Every value is escaped
here as the template escaped it (`escape` leaves the `Markup` of `display.show` and of the
Markdown renderer as it is); hidden fields never reach these functions (`load_page` leaves
them out of the sections and of the history).
"""

from __future__ import annotations

from flask import render_template
from markupsafe import Markup, escape

from flowdeck.engine.fieldtypes import types_in
from flowdeck.engine.schema.model import Entity, Field, Label
from flowdeck.views.display import show
from flowdeck.views.i18n import datetimeformat, lang, say, tr
from flowdeck.views.i18n import gettext as _
from flowdeck.views.lifecycle import registry
from flowdeck.views.markdown import render_markdown
from flowdeck.views.record_page import Event, RecordPage
from flowdeck.views.sla_badges import BADGED, sla_cell

PLAIN, MARKDOWN, TABLE = 0, 1, 2
"""How a row draws its value: through `display.show`, as Markdown, as a table of items."""
FRAMES_KEPT = 1024
"""Section layouts kept per registry (entities × languages × sets of visible fields)."""
Row = tuple[Field, str, int]
Frame = tuple[str, tuple[Row, ...]]


def _frames(entity: Entity, page: RecordPage) -> tuple[Frame, ...]:
    """Each visible section's opening (heading and list) and its rows' openings (label and
    `data-field`), with how each row's value is drawn: the same for every record whose
    reader sees the same fields in the same language."""
    key = ("record-frames", entity.app, entity.key, lang(), tuple(tuple(f.key for f in s.fields) for s in page.sections))
    memo = registry().memo
    found = memo.get(key)
    if found is None:
        if len(memo) > FRAMES_KEPT:
            memo.clear()
        found = memo[key] = tuple(
            _frame(i, section.label, section.fields, len(page.sections)) for i, section in enumerate(page.sections, 1)
        )
    return found  # type: ignore[return-value]


def _frame(index: int, label: Label | None, fields: tuple[Field, ...], count: int) -> Frame:
    if label is not None:
        head = f'<section class="panel record-section" aria-labelledby="rs-{index}">\n<h2 id="rs-{index}">{escape(tr(label))}</h2>'
    else:
        word = _("More")
        more = f"<h2>{escape(word)}</h2>" if count > 1 else ""
        head = f'<section class="panel record-section">\n{more}'
    rows = []
    for fld in fields:
        how = MARKDOWN if fld.type == "markdown" else (TABLE if fld.is_table else PLAIN)
        wide = " wide" if how != PLAIN else ""
        rows.append((fld, f'<div class="fieldrow{wide}" data-field="{escape(fld.key)}">\n<dt>{escape(tr(fld.label))}</dt>\n<dd>', how))
    return head + '\n<dl class="fieldlist">\n', tuple(rows)


def _value(fld: Field, how: int, page: RecordPage) -> Markup | str:
    value = page.record.values.get(fld.key)
    if fld.sla is not None and fld.measure in BADGED:
        return sla_cell(page.ctx.slas, page.record.id, fld) or '<span class="muted">—</span>'
    if value is None and fld.key in page.formula_problems:
        return f'<span class="muted">—</span> <span class="formula-problem">{escape(say(page.formula_problems[fld.key]))}</span>'
    if value is None or value == [] or value == "":
        return '<span class="muted">—</span>'
    if how == MARKDOWN:
        return f'<div class="markdown" hx-disable>{escape(render_markdown(value))}</div>'
    if how == TABLE:
        return render_template(
            "records/_items.html", items_field=fld, items_rows=value, items_ctx=page.ctx, show_value=show, NUMBER_TYPES=types_in("number")
        )
    return escape(show(fld, value, page.ctx))


def sections(entity: Entity, page: RecordPage) -> Markup:
    """The record's visible fields, section by section (`records/show.html`'s main column)."""
    out: list[str] = []
    for head, rows in _frames(entity, page):
        out.append(head)
        for fld, opening, how in rows:
            out += (opening, _value(fld, how, page), "</dd>\n</div>\n")
        out.append("</dl>\n</section>\n")
    return Markup("".join(out))  # noqa: S704 -- frames and values escaped above


def _other_actions() -> dict[str, str]:
    """The approval flow's history actions, in the reader's language."""
    return {
        "approved": _("approved"),
        "rejected": _("rejected"),
        "withdrawn": _("withdrew the approval request for"),
        "sent_back": _("sent back"),
        "approver_added": _("added an approver to"),
        "delegated": _("delegated"),
        "overdue": _("flagged as overdue"),
        "approval_requested": _("asked for approval of"),
        "auto_approved": _("was approved automatically for"),
        "escalated": _("escalated"),
        "self_excluded": _("noted that the requester cannot approve"),
        "approval_reset": _("reset the approvals of"),
        "late_decision": _("voted after the decision on"),
        "handed_over": _("handed over a task of"),
        "handover_failed": _("could not hand over a task of"),
        "reminded": _("reminded the approvers of"),
        "admins_notified": _("told the app admins about"),
        "step_skipped": _("skipped a step of"),
    }


def _what(event: Event) -> str:
    """What the actor did, after their name in the event's heading."""
    action = event.action
    if action == "create":
        return escape(_("created this"))
    if action == "transition":
        did = _("did")
        return f'{escape(did)} <span class="step">{escape(event.transition)}</span>'
    if action == "update":
        return escape(_("changed"))
    if action == "delete":
        return escape(_("deleted this"))
    words = escape(_other_actions().get(action, action))
    return f'{words} <span class="step">{escape(event.transition)}</span>' if event.transition else words


def _changes(event: Event) -> str:
    to = _("to")
    arrow = "" if event.action == "create" else f' <span aria-hidden="true">→</span><span class="visually-hidden">{escape(to)}</span>'
    items = []
    for change in event.changes:
        old = "" if event.action == "create" else f" <del>{escape(change.old or '—')}</del>{arrow}"
        items.append(f'<li><span class="change-label">{escape(change.label)}</span>{old} <ins>{escape(change.new or "—")}</ins></li>\n')
    listed = '<ul class="changes">\n' + "".join(items) + "</ul>\n"
    if event.action == "create" and len(event.changes) > 3:
        summary = escape(_("%(n)d values set", n=len(event.changes)))
        return f'<details class="initial"><summary>{summary}</summary>{listed}</details>\n'
    return listed


def timeline(events: list[Event]) -> Markup:
    """The history's entries, newest first (`records/show.html`'s history panel)."""
    if not events:
        return Markup('<li class="muted">%s</li>\n') % _("No history yet.")
    out = []
    for event in events:
        message = f' <span class="event-message muted">{escape(say(event.message))}</span>' if event.message else ""
        out.append(
            f'<li class="event event-{escape(event.action)}">\n<div class="event-head">\n<strong>{escape(event.actor)}</strong>\n'
            f'{_what(event)}{message}\n<time datetime="{event.at.isoformat()}">{escape(datetimeformat(event.at, "short"))}</time>\n</div>\n'
        )
        if event.comment:
            out.append(f'<blockquote class="event-comment">{escape(event.comment)}</blockquote>\n')
        if event.changes:
            out.append(_changes(event))
        out.append("</li>\n")
    return Markup("".join(out))  # noqa: S704 -- every value escaped above
