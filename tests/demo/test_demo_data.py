"""The demo's data files (platform/demo/data): everything they name exists in the bundled app
documents, among the demo people, or earlier in the data."""

import datetime as dt

import pytest

from flowdeck.demo import DEMO_DEPARTMENTS, DEMO_PLACEMENT, DEMO_USERS, MARKER_PROJECT
from flowdeck.demo.content import APPS, records
from flowdeck.demo.timeline import Timeline
from flowdeck.engine.apps import bundled_documents, read_document
from flowdeck.engine.schema.loader import load_app

USERNAMES = {username for username, _, _ in DEMO_USERS}
TIMELINE = Timeline(dt.date(2026, 11, 20), dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC))


def _apps():
    return {path.stem: load_app(read_document(path)) for path in bundled_documents()}


def _value_problems(fld, value, where, refs, app):
    """What is wrong with one value of the data for its field (users and references by name)."""
    items = value if fld.is_many and isinstance(value, list) else [value]
    problems = []
    for item in items:
        if item is None:
            continue
        if fld.type == "user" and item not in USERNAMES:
            problems.append(f"{where}: {item!r} is not a demo user")
        elif fld.type == "reference" and refs.get(item) != fld.to:
            problems.append(f"{where}: {item!r} is not an earlier {app}.{fld.to} record of the data")
        elif fld.type in ("select", "multiselect") and fld.option(item) is None:
            problems.append(f"{where}: {item!r} is not an option of {fld.key}")
        elif fld.value_type in ("date", "datetime") and not (isinstance(item, dict) and all(k.startswith("$") for k in item)):
            problems.append(f"{where}: {item!r} is not relative to today")
    return problems


def _values_problems(entity, values, where, refs, app):
    problems = []
    for key, value in values.items():
        fld = entity.field(key)
        if fld is None:
            problems.append(f"{where}: {entity.key} has no field {key!r}")
        elif fld.is_table:
            for n, row in enumerate(value):
                for column, item in row.items():
                    child = next((c for c in fld.fields if c.key == column), None)
                    if child is None:
                        problems.append(f"{where}.{key}[{n}]: no column {column!r}")
                    else:
                        problems += _value_problems(child, item, f"{where}.{key}[{n}].{column}", refs, app)
        else:
            problems += _value_problems(fld, value, f"{where}.{key}", refs, app)
    return problems


def _step_problems(entity, step, where):
    action, problems = step["do"], []
    if step["by"] not in USERNAMES:
        problems.append(f"{where}: {step['by']!r} is not a demo user")
    if action in ("edit", "decide:yes", "decide:no"):
        return problems
    key = action.removeprefix("ask:")
    transition = entity.workflow.transition(key) if entity.workflow else None
    if transition is None:
        problems.append(f"{where}: {entity.key} has no transition {key!r}")
    elif action.startswith("ask:") and transition.approval is None:
        problems.append(f"{where}: {key} of {entity.key} needs no approval to ask for")
    return problems


@pytest.mark.parametrize("app_key", APPS)
def test_every_demo_record_fits_its_bundled_app(app_key):
    """Does every demo record name an entity, fields, options, columns and transitions of the bundled
    app, demo users, and references to earlier demo records of the right entity?"""
    app = _apps()[app_key]
    refs: dict[str, str] = {}
    problems = []
    for n, item in enumerate(records(app_key)):
        where = f"{app_key}[{n}] {item.get('ref', item['entity'])}"
        entity = app.entity(item["entity"])
        if entity is None:
            problems.append(f"{where}: {app_key} has no entity {item['entity']!r}")
            continue
        if item["by"] not in USERNAMES:
            problems.append(f"{where}: {item['by']!r} is not a demo user")
        problems += _values_problems(entity, item["values"], where, refs, app_key)
        for s, step in enumerate(item.get("steps", ())):
            problems += _step_problems(entity, step, f"{where} step {s}")
            problems += _values_problems(entity, step.get("values", {}), f"{where} step {s}", refs, app_key)
        if "ref" in item:
            assert item["ref"] not in refs, f"{where}: ref used twice"
            refs[item["ref"]] = entity.key
    assert problems == []


def _markers(value):
    """Relative-time markers left in a value after resolving it."""
    if isinstance(value, list):
        return [m for item in value for m in _markers(item)]
    if isinstance(value, dict):
        return [value] if any(str(k).startswith("$") for k in value) else [m for item in value.values() for m in _markers(item)]
    return []


@pytest.mark.parametrize("app_key", APPS)
def test_every_demo_time_resolves_relative_to_today(app_key):
    """Does every record's and step's moment, and every relative date or time value, resolve against the day of the load?"""
    for item in records(app_key):
        for moment in [item["at"], *(step["at"] for step in item.get("steps", ()))]:
            assert TIMELINE.moment(moment) <= TIMELINE.now
        values = [item["values"], *(step.get("values", {}) for step in item.get("steps", ()))]
        assert _markers(TIMELINE.value(values)) == []


def test_demo_people_fit_the_apps_and_the_organisation():
    """Do the demo users hold roles the bundled apps define, and do departments and managers name demo people in a tree?"""
    apps = _apps()
    for username, _, grants in DEMO_USERS:
        for app_key, roles in grants.items():
            assert set(roles) <= {r.key for r in apps[app_key].roles}, username
    seen: set[str] = set()
    for key, _, name_zh, parent, head in DEMO_DEPARTMENTS:
        assert name_zh and head in USERNAMES and (parent is None or parent in seen), key
        seen.add(key)
    for username, (department, manager) in DEMO_PLACEMENT.items():
        assert username in USERNAMES and department in seen and (manager is None or manager in USERNAMES)


def test_the_marker_project_is_in_the_data():
    """Is the project whose presence means "already loaded" one of the demo projects?"""
    assert [item for item in records("project") if item["entity"] == "project" and item["values"]["name"] == MARKER_PROJECT]
