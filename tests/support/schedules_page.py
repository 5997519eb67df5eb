"""Reading the admin's Schedules page in tests: one panel, and the moments it lists."""

from __future__ import annotations

import datetime as dt
import re


def section(page: str, anchor: str) -> str:
    """The panel of one schedule or scheduled automation."""
    start = page.index(f'id="{anchor}"')
    return page[start : page.index("</section>", start)]


def occurrences(page: str, anchor: str) -> list[dt.datetime]:
    """The moments listed under "Next occurrences" of one panel."""
    listed = re.search(r'<ol class="occurrences">(.*?)</ol>', section(page, anchor), re.S)
    assert listed is not None
    return [dt.datetime.fromisoformat(m) for m in re.findall(r'<time datetime="([^"]+)"', listed.group(1))]
