"""List pages: columns, sorting, filters, search, paging, column chooser, saved views, CSV."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowdeck.engine import query as engine_query
from flowdeck.engine import records, workflow
from flowdeck.views import boards, lists
from tests.support.web import csrf_token, login

XSS = "<img src=x onerror=alert(1)>"
LIST_STATEMENTS = re.compile(
    r"FROM (track__ticket\S*|fd_saved_views)|^SELECT fd_users.id, fd_users.display_name|ORDER BY fd_users.display_name"
)


def tracker_document() -> dict:
    return {
        "key": "track",
        "label": {"en": "Tracker", "zh": "跟踪"},
        "roles": {"lead": {"label": "Lead"}, "member": {"label": "Member"}, "viewer": {"label": "Viewer"}},
        "entities": {
            "ticket": {
                "label": {"en": "Ticket", "zh": "工单"},
                "plural": {"en": "Tickets", "zh": "工单"},
                "fields": {
                    "title": {"type": "text", "required": True},
                    "priority": {"type": "select", "options": ["low", "normal", "high"]},
                    "tags": {"type": "multiselect", "options": ["ui", "db", "api"]},
                    "assignee": {"type": "user"},
                    "due": {"type": "date"},
                    "points": {"type": "integer"},
                    "cost": {"type": "money", "currency": "CNY"},
                    "urgent": {"type": "boolean"},
                    "notes": {"type": "markdown"},
                },
                "permissions": {"read": ["lead", "member"], "create": ["lead"]},
                "workflow": {
                    "states": {"new": {"category": "todo"}, "doing": {"category": "doing"}, "done": {"category": "done"}},
                    "transitions": [{"key": "start", "from": "new", "to": "doing"}, {"key": "finish", "from": "doing", "to": "done"}],
                },
                "views": {
                    "open": {
                        "type": "list",
                        "label": {"en": "Open", "zh": "未完成"},
                        "filter": {"state": ["new", "doing"]},
                        "sort": ["due"],
                        "columns": ["title", "state", "priority", "assignee", "due", "points"],
                        "page_size": 5,
                    },
                    "all": {"type": "list", "sort": ["-points"], "columns": ["title", "priority", "tags", "points", "cost", "urgent"]},
                },
            }
        },
    }


# title, priority, tags, assignee (lead/member/None), due, points, cost, urgent, transitions
ROWS = [
    ("Alpha disk", "high", ["db"], "lead", "2026-03-01", 8, "1234.5", True, []),
    ("Bravo", "low", [], "member", "2026-03-05", 3, None, False, ["start"]),
    ("Charlie disk", "normal", ["ui", "db"], None, None, 5, "20", False, ["start", "finish"]),
    ("Delta", "high", ["api"], "member", "2026-02-20", 1, "7", True, []),
    ("Echo", "low", ["ui"], "lead", "2026-04-10", 13, None, False, ["start"]),
    ("Foxtrot", "normal", [], None, "2026-01-15", 2, "0.5", False, []),
    ("Golf", "high", ["db", "api"], "lead", "2026-05-01", 21, "99", False, ["start", "finish"]),
    ("Hotel", None, [], None, None, None, None, None, []),
]


@pytest.fixture
def tracker(install, make_user, db, client):
    registry = install(tracker_document())
    et = registry.entity("track", "ticket")
    lead = make_user("lea", {"track": ["lead"]})
    member = make_user("max", {"track": ["member"]})
    people = {"lead": lead.user_id, "member": member.user_id, None: None}

    def seed(conn):
        for title, priority, tags, who, due, points, cost, urgent, steps in ROWS:
            values = {"title": title, "priority": priority, "tags": tags, "assignee": people[who], "due": due, "points": points}
            values.update({"cost": cost, "urgent": urgent})
            record = records.create_record(conn, et, {k: v for k, v in values.items() if v is not None}, actor=lead)
            for step in steps:
                workflow.transition_record(conn, et, record.id, step, actor=lead)

    db.run(seed)
    login(client, "lea")
    return SimpleNamespace(et=et, lead=lead, member=member, client=client)


class _Table(HTMLParser):
    """Headers, aria-sort and cell texts of the page's list table."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[str] = []
        self.sorted: dict[str, str] = {}
        self.rows: list[list[str]] = []
        self.links: list[str] = []
        self._cell: list[str] | None = None
        self._in_table = False
        self._aria: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "table" and "listgrid" in (attributes.get("class") or ""):
            self._in_table = True
        if not self._in_table:
            return
        if tag == "tr":
            self._row: list[str] = []
        elif tag in ("td", "th"):
            self._cell = []
            self._aria = attributes.get("aria-sort")
        elif tag == "a" and attributes.get("class") == "title":
            self.links.append(attributes["href"])

    def handle_endtag(self, tag):
        if not self._in_table:
            return
        if tag == "table":
            self._in_table = False
        elif tag in ("td", "th") and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            if tag == "th":
                self.headers.append(text)
                if self._aria:
                    self.sorted[text] = self._aria
            else:
                self._row.append(text)
            self._cell = None
        elif tag == "tr" and getattr(self, "_row", None):
            self.rows.append(self._row)

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


class _ListForm(HTMLParser):
    """The name/value pairs a browser sends for the filter bar (`#listform` and its `form=` inputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[tuple[str, str]] = []
        self._inside = False
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._inside = a.get("id") == "listform"
        mine = self._inside or a.get("form") == "listform"
        if tag == "input" and mine and a.get("name"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.pairs.append((a["name"], a.get("value") or ""))
        elif tag == "select" and mine:
            self._select, self._options = a["name"], []
        elif tag == "option" and self._select:
            self._options.append((a.get("value") or "", "selected" in a))

    def handle_endtag(self, tag):
        if tag == "form":
            self._inside = False
        elif tag == "select" and self._select:
            chosen = [v for v, selected in self._options if selected] or [self._options[0][0]]
            self.pairs.append((self._select, chosen[0]))
            self._select = None


def form_pairs(html: str) -> list[tuple[str, str]]:
    parser = _ListForm()
    parser.feed(html)
    return parser.pairs


def table(html: str) -> _Table:
    parser = _Table()
    parser.feed(html)
    return parser


def titles(client, url: str) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return [row[0] for row in table(response.get_data(as_text=True)).rows]


def test_view_renders_its_columns_and_filter(tracker):
    """Does a list view show its columns, its default filter and sort, and link rows to records?"""
    response = tracker.client.get("/a/track/ticket/v/open?per_page=50")
    html = response.get_data(as_text=True)
    grid = table(html)
    assert grid.headers == ["Title", "State", "Priority", "Assignee", "Due", "Points"]
    assert [r[0] for r in grid.rows] == ["Foxtrot", "Delta", "Alpha disk", "Bravo", "Echo", "Hotel"]
    assert grid.rows[0][1] == "New" and grid.rows[2][3] == "Lea"
    assert all(re.fullmatch(r"/a/track/ticket/\d+", link) for link in grid.links)
    assert 'href="/a/track/ticket/new"' in html


def test_entity_index_shows_the_first_view(tracker):
    """Does the entity's address show its first view (with or without the trailing slash)?"""
    for url in ("/a/track/ticket/", "/a/track/ticket"):
        assert table(tracker.client.get(url).get_data(as_text=True)).headers[0:3] == ["Title", "State", "Priority"]


def test_entity_without_views_gets_a_generated_list(install, make_user, client, db):
    """Does an entity without views list its title, state and first fields, newest first?"""
    document = tracker_document()
    del document["entities"]["ticket"]["views"]
    et = install(document).entity("track", "ticket")
    lead = make_user("lea", {"track": ["lead"]})
    db.run(lambda c: [records.create_record(c, et, {"title": t}, actor=lead) for t in ("one", "two")])
    login(client, "lea")
    grid = table(client.get("/a/track/ticket/").get_data(as_text=True))
    assert grid.headers == ["Title", "State", "Priority", "Tags", "Assignee", "Due"]
    assert [r[0] for r in grid.rows] == ["two", "one"]
    token = csrf_token(client, "/a/track/ticket/")
    response = client.post(
        "/a/track/ticket/saved-views", data={"csrf_token": token, "name": "Ones", "view": "", "query": "title__contains=one"}
    )
    assert response.headers["Location"] == "/a/track/ticket/?title__contains=one"
    assert [r[0] for r in table(client.get(response.headers["Location"]).get_data(as_text=True)).rows] == ["one"]


def test_sorting_toggles_both_ways(tracker):
    """Does a column sort ascending, then descending, marked with aria-sort?"""
    up = tracker.client.get("/a/track/ticket/v/all?sort=points").get_data(as_text=True)
    grid = table(up)
    assert [r[0] for r in grid.rows][:3] == ["Delta", "Foxtrot", "Bravo"]
    assert grid.sorted == {"Points": "ascending"}
    assert '<a href="/a/track/ticket/v/all">Points' in up  # descending is the view's own sort
    assert '<a href="/a/track/ticket/v/all?sort=title">Title' in up
    assert titles(tracker.client, "/a/track/ticket/v/all?sort=-points")[:2] == ["Golf", "Echo"]
    assert titles(tracker.client, "/a/track/ticket/v/all?sort=title")[0] == "Alpha disk"
    grid = table(tracker.client.get("/a/track/ticket/v/all?sort=-title").get_data(as_text=True))
    assert grid.rows[0][0] == "Hotel" and grid.sorted == {"Title": "descending"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("priority=high&priority=low", {"Alpha disk", "Bravo", "Delta", "Echo", "Golf"}),
        ("state=done", {"Charlie disk", "Golf"}),
        ("state=new&state=doing&priority=high", {"Alpha disk", "Delta"}),
        ("tags=db", {"Alpha disk", "Charlie disk", "Golf"}),
        ("assignee=me", {"Alpha disk", "Echo", "Golf"}),
        ("title__contains=DISK", {"Alpha disk", "Charlie disk"}),
        ("points__gte=5&points__lte=13", {"Alpha disk", "Charlie disk", "Echo"}),
        ("cost__gte=20", {"Alpha disk", "Charlie disk", "Golf"}),
        ("due__gte=2026-03-01&due__lte=2026-04-10", {"Alpha disk", "Bravo", "Echo"}),
        ("urgent=1", {"Alpha disk", "Delta"}),
        ("urgent=0", {"Bravo", "Charlie disk", "Echo", "Foxtrot", "Golf"}),
        ("due__empty=1", {"Charlie disk", "Hotel"}),
        ("priority__empty=0&tags__empty=1", {"Bravo", "Foxtrot"}),
        ("created_by=me&title__contains=o", {"Bravo", "Echo", "Foxtrot", "Golf", "Hotel"}),
    ],
)
def test_each_filter_kind(tracker, query, expected):
    """Do choice, state, many-valued, user, text, number, money, date, boolean and empty filters select the right rows?"""
    assert set(titles(tracker.client, f"/a/track/ticket/v/all?{query}")) == expected


def test_url_filter_replaces_the_view_default_for_that_field(tracker):
    """Does `state=` clear the open view's state filter while its sort stays?"""
    assert len(titles(tracker.client, "/a/track/ticket/v/open?per_page=50")) == 6
    assert len(titles(tracker.client, "/a/track/ticket/v/open?per_page=50&state=")) == 8


@pytest.mark.parametrize(
    "condition",
    [
        {"state": ["new", "doing"]},
        {"title": "Alpha disk"},
        {"assignee": "$me", "due": {"gte": "2026-01-01", "lte": "2026-04-01"}},
        {"points": {"gte": 3}, "urgent": False},
        {"tags": "db", "priority": {"empty": False}},
        {"state_category": ["todo"]},
        {"due": {"gte": "today-3000"}, "priority": {"ne": "low"}},
    ],
)
def test_sending_the_filter_bar_unchanged_keeps_the_list(install, make_user, db, client, condition):
    """Does applying the filter bar as shown keep the view's own filter and give back the view's plain address?"""
    document = tracker_document()
    document["entities"]["ticket"]["views"] = {"v": {"type": "list", "filter": condition, "sort": ["title"]}}
    et = install(document).entity("track", "ticket")
    lead = make_user("lea", {"track": ["lead"]})
    db.run(lambda c: [records.create_record(c, et, {"title": t}, actor=lead) for t in ("Alpha disk", "Bravo")])
    login(client, "lea")
    page = client.get("/a/track/ticket/v/v").get_data(as_text=True)
    response = client.get("/a/track/ticket/v/v?" + urlencode(form_pairs(page)), headers={"HX-Request": "true"})
    assert response.headers["HX-Push-Url"] == "/a/track/ticket/v/v"
    assert table(response.get_data(as_text=True)).rows == table(page).rows


def test_filter_bar_offers_a_control_per_field_kind(tracker):
    """Does the filter bar hold multi-choice, user (with me), contains, ranges, yes/no and empty controls?"""
    html = tracker.client.get("/a/track/ticket/v/open?priority=high").get_data(as_text=True)
    assert 'name="state" value="new" checked' in html and 'name="state" value="done">' in html
    assert 'name="priority" value="high" checked' in html
    assert '<option value="me">Me</option>' in html
    assert 'name="title__contains"' in html and 'name="notes__contains"' in html
    assert 'type="number" name="points__gte"' in html and 'type="date" name="due__lte"' in html
    assert 'name="urgent"' in html and 'name="due__empty"' in html
    assert "Priority:</span> High" in html


def test_search(tracker):
    """Does the search box find records by words in their text fields?"""
    assert set(titles(tracker.client, "/a/track/ticket/v/all?q=disk")) == {"Alpha disk", "Charlie disk"}
    assert titles(tracker.client, "/a/track/ticket/v/all?q=nothing-like-this") == ["No records match."]
    assert titles(tracker.client, "/a/track/ticket/v/all?q=" + "9" * 30) == ["No records match."]
    assert set(titles(tracker.client, "/a/track/ticket/v/all?q=disk%00&title__contains=%00alpha")) == {"Alpha disk"}


def test_pagination(tracker):
    """Do pages hold page-size rows, show the total and page links, and clamp past the end?"""
    response = tracker.client.get("/a/track/ticket/v/all?per_page=3&page=2&sort=-points")
    html = response.get_data(as_text=True)
    assert [r[0] for r in table(html).rows] == ["Charlie disk", "Bravo", "Foxtrot"]  # points 5, 3, 2
    assert "4–6 of 8" in html
    assert 'href="/a/track/ticket/v/all?per_page=3&amp;page=3"' in html
    assert 'aria-current="page">2</span>' in html
    assert titles(tracker.client, "/a/track/ticket/v/all?per_page=3&page=99") == ["Delta", "Hotel"]


def test_benchmark_style_query(tracker):
    """Does the harness's query shape (states, a choice, sort, page size, page) work as one URL?"""
    url = "/a/track/ticket/v/all?state=new&state=doing&priority=high&priority=low&sort=due&per_page=2&page=2"
    assert titles(tracker.client, url) == ["Bravo", "Echo"]


def test_column_chooser(tracker):
    """Does `cols` pick and order the columns, keep a link to the record, and name unknown ones?"""
    grid = table(tracker.client.get("/a/track/ticket/v/all?cols=points,title").get_data(as_text=True))
    assert grid.headers == ["Points", "Title"]
    grid = table(tracker.client.get("/a/track/ticket/v/all?cols=points,due").get_data(as_text=True))
    assert grid.headers == ["#", "Points", "Due"] and grid.rows[0][0].startswith("#")
    html = tracker.client.get("/a/track/ticket/v/all?cols=points,bogus").get_data(as_text=True)
    assert "no column “bogus”" in html
    assert 'name="cols" value="points" checked' in html and 'name="cols" value="notes">' in html


def test_invalid_parameters_show_messages(tracker):
    """Do bad filter values, unknown fields and bad sorts give messages on a working page?"""
    response = tracker.client.get("/a/track/ticket/v/all?points__gte=abc&priority=urgent&nope=1&sort=notes&page=x&due__between=1")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for text in (
        "Points: must be a whole number",
        "Priority: &#34;urgent&#34; is not one of the options",
        "“nope”",
        "sorted by “notes”",
        "“due__between”",
    ):
        assert text in html
    assert len(table(html).rows) == 8


_PARAM_KEYS = st.sampled_from(
    [
        "q",
        "sort",
        "cols",
        "page",
        "per_page",
        "state",
        "state_category",
        "priority",
        "tags",
        "assignee",
        "due__gte",
        "due__lte",
        "points__gte",
        "cost__lte",
        "title__contains",
        "urgent",
        "notes__empty",
        "created_at__lte",
        "created_by",
        "nope",
        "title__zz",
    ]
)
_PARAM_VALUES = st.one_of(
    st.sampled_from(
        ["", "me", "high", "new", "1", "0", "-points", "title,points", "today-3", "2026-02-30", "9" * 25, "²", "<b>", "a\x00b"]
    ),
    st.text(max_size=12),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_PARAM_KEYS, _PARAM_VALUES), max_size=6))
def test_any_query_string_gives_a_page(tracker, pairs):
    """Does any mix of known and unknown parameters and odd values give a page (never a 500)?"""
    query = urlencode(pairs)
    assert tracker.client.get(f"/a/track/ticket/v/open?{query}").status_code == 200
    assert tracker.client.get(f"/a/track/ticket/export.csv?{query}").status_code == 200


def test_htmx_gets_only_the_results_and_the_canonical_url(tracker):
    """Does an htmx request get the results block alone, with the canonical URL to push?"""
    response = tracker.client.get(
        "/a/track/ticket/v/open?state=new&state=doing&priority=high&title__contains=&sort=due&per_page=5&cols=title&cols=state&cols=priority&cols=assignee&cols=due&cols=points",
        headers={"HX-Request": "true"},
    )
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="results"')
    assert "<html" not in html
    assert response.headers["HX-Push-Url"] == "/a/track/ticket/v/open?priority=high"
    assert "HX-Request" in response.headers["Vary"]
    # the heading, the view tabs and the filter count outside the results follow along
    assert '<span id="filter-count" class="count" hx-swap-oob="true">2</span>' in html
    assert '<ul id="viewtabs" class="viewtabs" hx-swap-oob="true">' in html and 'id="list-heading" hx-swap-oob="true"' in html


def test_values_are_escaped(tracker, db):
    """Are HTML-looking values, filter texts and view names shown as text everywhere?"""
    db.run(lambda c: records.create_record(c, tracker.et, {"title": XSS, "notes": XSS}, actor=tracker.lead))
    html = tracker.client.get("/a/track/ticket/v/all?title__contains=<script>x").get_data(as_text=True)
    assert "<script>x" not in html and "&lt;script&gt;x" in html
    html = tracker.client.get("/a/track/ticket/v/all?cols=title,notes").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html
    token = csrf_token(tracker.client, "/a/track/ticket/v/all")
    tracker.client.post("/a/track/ticket/saved-views", data={"csrf_token": token, "name": XSS, "view": "all", "query": ""})
    html = tracker.client.get("/a/track/ticket/v/all").get_data(as_text=True)
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


# -- saved views ----------------------------------------------------------------------------


def save(client, name, query, view="open"):
    token = csrf_token(client, f"/a/track/ticket/v/{view}")
    return client.post("/a/track/ticket/saved-views", data={"csrf_token": token, "name": name, "view": view, "query": query})


def test_saved_views_can_be_created_listed_opened_and_deleted(tracker):
    """Can a user save a filtered list, find it in the view switcher, open it and delete it?"""
    response = save(tracker.client, "My high ones", "priority=high&page=4&bogus__x=1")
    assert response.status_code == 303
    assert response.headers["Location"] == "/a/track/ticket/v/open?priority=high"
    html = tracker.client.get("/a/track/ticket/v/open?priority=high").get_data(as_text=True)
    assert '<h1 id="list-heading">My high ones</h1>' in html
    assert re.search(r'<a href="/a/track/ticket/v/open\?priority=high" aria-current="page"[^>]*>My high ones</a>', html)
    assert titles(tracker.client, "/a/track/ticket/v/open?priority=high") == ["Delta", "Alpha disk"]
    saved_id = re.search(r"/saved-views/(\d+)/delete", html).group(1)
    assert save(tracker.client, "My high ones", "priority=low").status_code == 303
    assert 'href="/a/track/ticket/v/open?priority=low"' in tracker.client.get("/a/track/ticket/v/open").get_data(as_text=True)
    token = csrf_token(tracker.client, "/a/track/ticket/v/open")
    response = tracker.client.post(
        f"/a/track/ticket/saved-views/{saved_id}/delete", data={"csrf_token": token, "next": "/a/track/ticket/v/open?priority=low"}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/a/track/ticket/v/open"
    assert "My high ones" not in tracker.client.get("/a/track/ticket/v/open").get_data(as_text=True)


def test_saved_views_are_private(tracker, client, app):
    """Can another user neither see nor delete someone's saved view?"""
    save(tracker.client, "Lea's view", "priority=high")
    html = tracker.client.get("/a/track/ticket/v/open").get_data(as_text=True)
    saved_id = re.search(r"/saved-views/(\d+)/delete", html).group(1)
    other = app.test_client()
    login(other, "max")
    html = other.get("/a/track/ticket/v/open").get_data(as_text=True)
    assert "Lea&#39;s view" not in html and "saved-views/" + saved_id not in html
    token = csrf_token(other, "/a/track/ticket/v/open")
    assert other.post(f"/a/track/ticket/saved-views/{saved_id}/delete", data={"csrf_token": token}).status_code == 404
    assert "Lea&#39;s view" in tracker.client.get("/a/track/ticket/v/open").get_data(as_text=True)


def test_saving_needs_the_csrf_token_and_a_name(tracker):
    """Is a save without the CSRF token refused, and a blank name answered with a message?"""
    response = tracker.client.post("/a/track/ticket/saved-views", data={"name": "x", "view": "open", "query": ""})
    assert response.status_code == 400
    assert save(tracker.client, "Tab\tand\x00nul", "").headers["Location"] == "/a/track/ticket/v/open"
    assert "Tab and nul" in tracker.client.get("/a/track/ticket/v/open").get_data(as_text=True)
    response = save(tracker.client, "   ", "priority=high")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "give the view a name" in html and 'name="priority" value="high" checked' in html
    assert 'id="listform" class="listbar" method="get" action="/a/track/ticket/v/open"' in html


# -- CSV -----------------------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def _normal(text: str) -> str:
    return " ".join(text.replace(",", " ").split())


def test_csv_export_is_exactly_what_is_shown(tracker):
    """Does the export hold the page's columns, filters, sort and displayed values, on all pages?"""
    query = "priority=high&priority=normal&sort=-due&cols=title,priority,tags,points,cost,urgent,state"
    page = tracker.client.get(f"/a/track/ticket/v/all?{query}&per_page=2").get_data(as_text=True)
    assert f'href="/a/track/ticket/export.csv?view=all&amp;{query.replace("&", "&amp;")}"' in page
    shown = [table(tracker.client.get(f"/a/track/ticket/v/all?{query}&per_page=2&page={p}").get_data(as_text=True)) for p in (1, 2, 3)]
    response = tracker.client.get(f"/a/track/ticket/export.csv?view=all&{query}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(r'attachment; filename="track-ticket-all-\d{4}-\d{2}-\d{2}\.csv"', response.headers["Content-Disposition"])
    rows = read_csv(response)
    assert rows[0] == shown[0].headers
    assert [[_normal(c) for c in row] for row in rows[1:]] == [[_normal(c) for c in row] for grid in shown for row in grid.rows]
    assert rows[1] == ["Golf", "High", "Db, Api", "21", "¥99.00", "No", "Done"]
    assert rows[-1] == ["Charlie disk", "Normal", "Ui, Db", "5", "¥20.00", "No", "Done"]  # no due date: last


def test_csv_neutralises_formulas_and_keeps_chinese(tracker, db):
    """Are cells starting with = + - @ made inert, while numbers and Chinese text stay as they are?"""
    for title in ('=HYPERLINK("http://x")', "+1+2", "-cmd", "@SUM(A1)", "中文标题"):
        db.run(lambda c, t=title: records.create_record(c, tracker.et, {"title": t, "points": -4}, actor=tracker.lead))
    rows = read_csv(tracker.client.get("/a/track/ticket/export.csv?view=all&points=-4&sort=title&cols=title,points"))
    assert rows[1:] == [["'+1+2", "-4"], ["'-cmd", "-4"], ['\'=HYPERLINK("http://x")', "-4"], ["'@SUM(A1)", "-4"], ["中文标题", "-4"]]
    assert lists.safe_cell("-12.5") == "-12.5" and lists.safe_cell("-1+cmd") == "'-1+cmd"


def test_csv_export_is_capped_with_a_note(tracker, monkeypatch):
    """Does an export over the cap stop there, say so on the page and in a header?"""
    monkeypatch.setattr(lists, "EXPORT_LIMIT", 3)
    monkeypatch.setattr(engine_query, "MAX_PAGE_SIZE", 2)
    response = tracker.client.get("/a/track/ticket/export.csv?view=all")
    assert len(read_csv(response)) == 4
    assert response.headers["X-Flowdeck-Export-Truncated"] == "3 of 8"
    assert "the first 3 rows only" in tracker.client.get("/a/track/ticket/v/all").get_data(as_text=True)


# -- access, errors, other view types, performance ------------------------------------------


def test_users_without_read_permission_are_refused(tracker, make_user, client):
    """Is a role without read permission refused the list, the export and saving (403)?"""
    make_user("vic", {"track": ["viewer"]})
    login(client, "vic")
    assert client.get("/a/track/ticket/").status_code == 403
    assert client.get("/a/track/ticket/v/open").status_code == 403
    assert client.get("/a/track/ticket/export.csv").status_code == 403
    token = csrf_token(client, "/")
    assert client.post("/a/track/ticket/saved-views", data={"csrf_token": token, "name": "x", "query": ""}).status_code == 403


def test_member_without_create_permission_gets_no_new_button(tracker, client, app):
    """Is the New button left out for a user who may not create records?"""
    other = app.test_client()
    login(other, "max")
    html = other.get("/a/track/ticket/v/open").get_data(as_text=True)
    assert "/a/track/ticket/new" not in html


def test_unknown_view_is_404(tracker):
    """Do an unknown view and an export of an unknown view answer 404?"""
    assert tracker.client.get("/a/track/ticket/v/nope").status_code == 404
    assert tracker.client.get("/a/track/ticket/export.csv?view=nope").status_code == 404


def test_board_views_are_rendered_by_the_board_module(install, make_user, client, monkeypatch):
    """Does a board view go to boards.render_board with the entity, view and actor?"""
    document = tracker_document()
    document["entities"]["ticket"]["views"]["board"] = {"type": "board", "group_by": "state"}
    install(document)
    make_user("lea", {"track": ["lead"]})
    login(client, "lea")
    calls = []
    monkeypatch.setattr(boards, "render_board", lambda et, view, actor: calls.append((et.entity.key, view.key, actor.username)) or "board!")
    assert client.get("/a/track/ticket/v/board").get_data(as_text=True) == "board!"
    assert calls == [("ticket", "board", "lea")]


def test_fields_hidden_by_rules_are_not_shown(install, make_user, client, db):
    """Are fields hidden from a role by a field rule blank in the list and absent from its choosers?"""
    document = tracker_document()
    document["entities"]["ticket"]["workflow"]["rules"] = [
        {"roles": ["member"], "hidden": ["points"]},
        {"states": ["doing"], "hidden": ["due"]},
    ]
    et = install(document).entity("track", "ticket")
    lead = make_user("lea", {"track": ["lead"]})
    make_user("max", {"track": ["member"]})
    db.run(lambda c: records.create_record(c, et, {"title": "secret", "points": 99, "due": "2026-01-01"}, actor=lead))
    login(client, "max")
    html = client.get("/a/track/ticket/v/all?cols=title,points,due").get_data(as_text=True)
    assert table(html).headers == ["Title", "Due"] and 'value="points"' not in html
    assert "no column “points”" in html


def test_statement_count_does_not_grow_with_rows(tracker, app):
    """Does a page of 8 rows run as many list statements as a page of 1 (no per-row queries)?"""
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    engine = app.extensions["flowdeck"].db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        counts = []
        for per_page in (1, 8):
            statements.clear()
            tracker.client.get(f"/a/track/ticket/v/all?per_page={per_page}&cols=title,tags,assignee,points,state")
            # the first table named (the count reads its table in a subquery: capped)
            counts.append([re.search(r"FROM (\w+)", s).group(1) for s in statements if LIST_STATEMENTS.search(s)])
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert counts[0] == counts[1]
    # count, page, tags, assignee names, the filter bar's people, saved views
    assert counts[1] == ["track__ticket", "track__ticket", "track__ticket__tags", "fd_users", "fd_users", "fd_saved_views"]


def test_every_field_type_shows_in_the_list_and_the_csv(install, make_user, client, db):
    """Do references, autonumbers, line items, formulas, links and many-valued users show as text (page and CSV)?"""
    document = {
        "key": "shop",
        "label": "Shop",
        "roles": {"clerk": {"label": "Clerk"}},
        "entities": {
            "customer": {"label": "Customer", "fields": {"name": {"type": "text", "required": True}}},
            "order": {
                "label": "Order",
                "title": "subject",
                "fields": {
                    "number": {"type": "autonumber", "format": "OR-{####}"},
                    "subject": {"type": "text", "required": True},
                    "customer": {"type": "reference", "to": "customer"},
                    "watchers": {"type": "user", "many": True},
                    "site": {"type": "url"},
                    "mail": {"type": "email"},
                    "share": {"type": "percent"},
                    "placed": {"type": "datetime"},
                    "lines": {"type": "table", "fields": {"qty": {"type": "integer"}, "price": {"type": "money"}}},
                    "total": {"type": "computed", "formula": "sum(lines.price)", "result": "money"},
                },
            },
        },
    }
    registry = install(document)
    clerk = make_user("cleo", {"shop": ["clerk"]})
    other = make_user("olga", {"shop": ["clerk"]})

    def seed(conn):
        customer = records.create_record(conn, registry.entity("shop", "customer"), {"name": XSS}, actor=clerk)
        values = {
            "subject": "First",
            "customer": customer.id,
            "watchers": [clerk.user_id, other.user_id],
            "site": "https://example.com/a?b=<c>",
        }
        values.update({"mail": "a@example.com", "share": "12.5", "placed": "2026-03-01T08:30:00Z", "lines": [{"qty": 2, "price": "3.5"}]})
        records.create_record(conn, registry.entity("shop", "order"), values, actor=clerk)

    db.run(seed)
    login(client, "cleo")
    cols = "number,subject,customer,watchers,site,mail,share,placed,lines,total"
    html = client.get(f"/a/shop/order/?cols={cols}").get_data(as_text=True)
    grid = table(html)
    assert grid.headers == ["Number", "Subject", "Customer", "Watchers", "Site", "Mail", "Share", "Placed", "Total"]
    assert "no column “lines”" in html  # line items have no column
    row = grid.rows[0]
    assert row[0] == "OR-0001" and row[2] == XSS and row[3] == "Cleo, Olga" and row[6] == "12.5%" and row[8] == "¥3.50"
    assert "<img src=x" not in html and 'href="https://example.com/a?b=&lt;c&gt;"' in html
    csv_rows = read_csv(client.get(f"/a/shop/order/export.csv?cols={cols}"))
    assert [_normal(c) for c in csv_rows[1]] == [_normal(c) for c in row]
