"""Automations: rules of the app document that run by themselves when something happens to
a record. `triggers.py` and `actions.py` are the registries (one entry per trigger and per
action type, each owning its document check, its matching or running and its admin label);
`listener.py` turns events into queued runs in the writer's transaction; `runs.py` runs them
as jobs; `trials.py` is the admin's test run; `listing.py` the admin pages' queries.

Importing this package imports none of them, so the document loader can use the registries
without loading the listener (which needs the loader).
"""
