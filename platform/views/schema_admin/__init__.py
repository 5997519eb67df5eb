"""Admins change apps in the browser: the JSON editor with live validation and hints, the
visual builder, a preview of the form and board, the review of the migration plan with its
questions, applying, versions (diff, rollback) and configuration bundles (download,
upload and import).

Every route is `admin_required` and every POST carries the CSRF token. Views stay thin:
load the app (404), check (403), call the engine, render; the document edits are the
engine's authoring commands (engine/schema/authoring), each builder form mapped to its
command by the table in `forms`. The edited document lives in the page (a textarea) until
it is applied: the builder, the preview and the review post it, and nothing is written
before "Apply" (or "Import"), which calls the engine once (`apps.apply_document`,
`versions.rollback`, `bundles.import_bundle`) in one transaction.

URLs (blueprint `schema_admin`, prefix `/admin/apps`):

    GET  /                              index: installed apps
    GET  /<app>/edit[?version=N]        editor (current document, or version N's)
    POST /<app>/edit                    editor showing the posted text (back from review)
    POST /<app>/check                   JSON: problems with lines, hints at the cursor
    POST /<app>/hints                   JSON: hints at the cursor only
    POST /<app>/builder                 a builder action on the posted text: the editor again
    POST /<app>/preview                 the entity's create form and board from the text
    POST /<app>/review                  migration plan, questions and diff (nothing written)
    POST /<app>/apply                   apply with the answers -> 303 to the new version
    GET  /<app>/versions                versions list, with a diff form
    GET  /<app>/versions/diff?a=&b=     difference between two versions
    GET  /<app>/versions/<v>            one version's document and its changes
    GET  /<app>/versions/<v>/rollback   review of a rollback to version v
    POST /<app>/export                  download the bundle (options records, files)
    GET  /import, POST /import          upload a bundle
    GET  /import/<token>, POST ...      the import plan, the answers, and the import

Modules: `blueprint` (the blueprint, template helpers), `documents` (the app and the posted
text), `checking` (problems on their lines, hints), `editor` (apps page, editor, live
checks), `model` (what the builder panel shows), `forms` (builder form -> command),
`builder`, `preview`, `review` (review and apply), `versions`, `bundles`.
"""

from flowdeck.views.schema_admin import builder, bundles, editor, preview, review, versions
from flowdeck.views.schema_admin.blueprint import bp

__all__ = ["bp", "builder", "bundles", "editor", "preview", "review", "versions"]
