"""The list query string: parsing, writing back, and merging with a view's own settings."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowdeck.engine.schema.loader import load_app
from flowdeck.views.listquery import CONTROL_PARAMS, FieldFilter, ListArgs, parse_args, resolve, to_pairs, to_query
from tests.support.documents import minimal_app

BENCH_QUERY = "state=new&state=triaged&state=in_progress&state=review&priority=high&sort=due_date&per_page=50&page=3"


def _entity(view: dict | None = None, **overrides):
    """The minimal app's task entity, with one view "v" when `view` is given."""
    if view is not None:
        overrides["views"] = {"v": view}
    document = minimal_app(**overrides)
    return load_app(document, name="demo").get_entity("task")


def _setup(view: dict | None = None, **overrides):
    entity = _entity(view or {"type": "list"}, **overrides)
    return entity, entity.view("v")


def _args(query: str) -> ListArgs:
    args, problems = parse_args(parse_qsl(query, keep_blank_values=True))
    assert problems == []
    return args


def test_the_benchmark_query_parses():
    """Does the harness's W1 query read as states, priority, sort, page size and page?"""
    args = _args(BENCH_QUERY)
    assert args.filters == {
        "state": FieldFilter(values=("new", "triaged", "in_progress", "review")),
        "priority": FieldFilter(values=("high",)),
    }
    assert (args.sort, args.per_page, args.page) == (("due_date",), 50, 3)
    assert to_query(args) == BENCH_QUERY


def test_operators_and_controls_parse():
    """Are __gte, __lte, __contains, __empty, q, cols (both spellings) read as meant?"""
    args = _args("estimate__gte=2&estimate__lte=5&title__contains=disk&priority__empty=1&q=a%20%20b&cols=title,state&cols=estimate")
    assert args.filters["estimate"] == FieldFilter(gte="2", lte="5")
    assert args.filters["title"] == FieldFilter(contains="disk")
    assert args.filters["priority"] == FieldFilter(empty="1")
    assert args.q == "a b"
    assert args.cols == ("title", "state", "estimate")


def test_unreadable_parameters_become_messages():
    """Do a bad operator, a bad page number and a bad empty flag give messages, not errors?"""
    pairs = [("title__like", "x"), ("page", "0"), ("per_page", "9" * 30), ("due__empty", "maybe"), ("Bad-Key", "1")]
    args, problems = parse_args(pairs)
    assert len(problems) == 5
    assert args.page == 1 and args.per_page is None and args.filters == {"due": FieldFilter()}


def test_a_field_named_like_a_control_uses_the_in_spelling():
    """Can a field called "page" still be filtered, through `page__in`?"""
    args = ListArgs(filters={"page": FieldFilter(values=("3",))}, page=2)
    pairs = to_pairs(args)
    assert ("page__in", "3") in pairs and ("page", "2") in pairs
    assert parse_args(pairs)[0] == args


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=12)
_key = st.from_regex(r"[a-z][a-z0-9]{0,6}(_[a-z0-9]{1,4}){0,2}", fullmatch=True)
_filter = st.builds(
    FieldFilter,
    values=st.lists(_text, max_size=3, unique=True).map(tuple),
    gte=st.one_of(st.just(""), _text),
    lte=st.one_of(st.just(""), _text),
    contains=st.one_of(st.just(""), _text),
    empty=st.sampled_from(["", "0", "1"]),
)
_args_strategy = st.builds(
    ListArgs,
    filters=st.dictionaries(_key, _filter, max_size=4),
    q=st.one_of(st.just(""), _text),
    sort=st.lists(st.tuples(st.sampled_from(["", "-"]), _key).map("".join), max_size=3, unique_by=lambda s: s).map(tuple),
    cols=st.lists(_key, max_size=4, unique=True).map(tuple),
    per_page=st.one_of(st.none(), st.integers(1, 500)),
    page=st.integers(1, 10_000),
)


@settings(max_examples=300, deadline=None)
@given(_args_strategy)
def test_round_trip(args):
    """Does writing any list state as a query string and reading it back give it again?"""
    again, problems = parse_args(parse_qsl(to_query(args), keep_blank_values=True))
    assert problems == []
    assert again == args


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.sampled_from(CONTROL_PARAMS), _key, st.text(max_size=20)), st.text(max_size=20)), max_size=8))
def test_parsing_never_fails(pairs):
    """Does any query string at all parse without raising?"""
    args, problems = parse_args(pairs)
    assert isinstance(args, ListArgs) and isinstance(problems, list)


# -- resolving against an entity and its view ---------------------------------------------


def test_the_view_filter_applies_unless_the_url_names_the_field():
    """Does the view's filter hold for fields the URL leaves alone, and yield to those it names?"""
    entity, view = _setup({"type": "list", "filter": {"state": ["todo", "doing"], "priority": "high"}})
    spec = resolve(entity, view, _args("priority=low"))
    assert spec.query.filter == {"state": ["todo", "doing"], "priority": {"eq": "low"}}
    assert to_query(spec.canonical) == "priority=low"
    cleared = resolve(entity, view, _args("priority="))
    assert cleared.query.filter == {"state": ["todo", "doing"]}
    assert to_query(cleared.canonical) == "priority="


def test_the_canonical_url_leaves_out_what_equals_the_view():
    """Are settings equal to the view's (in any order) left out of the canonical query?"""
    entity, view = _setup({"type": "list", "filter": {"state": ["todo", "doing"]}, "sort": ["-estimate"], "page_size": 20})
    spec = resolve(entity, view, _args("state=doing&state=todo&sort=-estimate&per_page=20&priority=&title__contains="))
    assert to_query(spec.canonical) == ""
    assert spec.query.per_page == 20 and spec.query.sort == ("-estimate",)


def test_state_category_defaults_show_as_states():
    """Does a view filtered by state category offer those states in the filter bar?"""
    entity, view = _setup({"type": "list", "filter": {"state_category": ["doing"]}})
    spec = resolve(entity, view, ListArgs())
    assert spec.form["state"].values == ("doing", "review")
    assert spec.query.filter == {"state_category": ["doing"]}
    overridden = resolve(entity, view, _args("state=done"))
    assert overridden.query.filter == {"state": {"eq": "done"}}


def test_unshowable_view_conditions_are_kept_fixed():
    """Is a view condition the bar cannot show (e.g. "not equal") kept, and removable?"""
    entity, view = _setup({"type": "list", "filter": {"priority": {"ne": "low"}}})
    spec = resolve(entity, view, ListArgs())
    assert spec.fixed == {"priority": {"ne": "low"}}
    assert "priority" not in spec.form
    removed = resolve(entity, view, _args("priority="))
    assert removed.query.filter == {} and removed.fixed == {}


def test_values_are_typed_and_checked():
    """Are numbers, options and states typed for the engine, and bad ones reported by field?"""
    entity, view = _setup()
    spec = resolve(entity, view, _args("estimate__gte=1.5&priority=high&state=todo"))
    assert str(spec.query.filter["estimate"]["gte"]) == "1.50"
    assert spec.messages == ()
    bad = resolve(entity, view, _args("estimate__gte=abc&priority=urgent&state=gone&nope=1&title__gte=a"))
    assert bad.query.filter == {}
    text = " ".join(bad.messages)
    for expected in ("Estimate", "Priority", "gone", "nope", "Title"):
        assert expected in text
    assert "estimate__gte=abc" in to_query(bad.canonical)


def test_date_time_bounds_are_whole_local_days():
    """Does `created_at__lte=<day>` include that whole day in the instance's time zone?"""
    entity, view = _setup()
    tz = dt.timezone(dt.timedelta(hours=8))
    spec = resolve(entity, view, _args("created_at__gte=2026-03-01&created_at__lte=2026-03-01"), tz=tz)
    condition = spec.query.filter["created_at"]
    assert condition["gte"] == dt.datetime(2026, 2, 28, 16, tzinfo=dt.UTC)
    assert condition["lt"] == dt.datetime(2026, 3, 1, 16, tzinfo=dt.UTC)


def test_odd_digits_do_not_break_anything():
    """Do superscript or full-width digits in numbers and ids give messages, not crashes?"""
    args, problems = parse_args([("page", "²"), ("per_page", "５０")])
    assert args.page == 1 and args.per_page is None and len(problems) == 2
    entity, view = _setup()
    spec = resolve(entity, view, _args("estimate__gte=²&id=²"))
    assert spec.query.filter == {} and len(spec.messages) == 2


def test_user_me_and_relative_dates():
    """Do `me` and `today-7` pass through for the engine to resolve per request?"""
    entity, view = _setup(fields={"title": {"type": "text"}, "owner": {"type": "user"}, "due": {"type": "date"}})
    spec = resolve(entity, view, _args("owner=me&due__gte=today-7"))
    assert spec.query.filter == {"owner": {"eq": "$me"}, "due": {"gte": "today-7"}}


@pytest.mark.parametrize(
    ("query", "columns", "message"),
    [
        ("", ("title", "state", "priority", "estimate"), False),
        ("cols=estimate,priority", ("id", "estimate", "priority"), False),
        ("cols=title,bogus", ("title",), True),
    ],
)
def test_columns_always_link_to_the_record(query, columns, message):
    """Do chosen columns keep their order, gain the id when the title is left out, and report unknown ones?"""
    entity, view = _setup()
    spec = resolve(entity, view, _args(query))
    assert spec.columns == columns
    assert bool(spec.messages) == message


def test_sorting_by_an_unsortable_column_is_refused_politely():
    """Does a sort the engine cannot do fall back to the view's sort with a message?"""
    entity, view = _setup({"type": "list", "sort": ["-id"]}, fields={"title": {"type": "text"}, "notes": {"type": "markdown"}})
    spec = resolve(entity, view, _args("sort=notes"))
    assert spec.query.sort == ("-id",) and spec.messages
