"""Pages of a filtered list (records, the user directory, the audit log, jobs, automation
runs, webhook deliveries): one rule for how many pages a total makes and which page a
request may show, so every list pages the same way."""

from __future__ import annotations


def page_count(total: int, per_page: int) -> int:
    """How many pages `total` rows make; an empty list still has its one (empty) page."""
    return max(1, -(-total // per_page))


def clamp(page: int, total: int, per_page: int) -> int:
    """`page` moved into 1..page_count: a page past the end shows the last one."""
    return max(1, min(page, page_count(total, per_page)))


class Paged:
    """For a page dataclass with `total` and `per_page` fields: its number of pages."""

    total: int
    per_page: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.per_page)
