"""Screenshots of pages the browser tests open: docs/screenshots/, only when asked for."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


SITE_ADMIN = "site.admin"
"""The administrator the `admin_server` fixture adds to the demo server."""


def screenshots_wanted() -> bool:
    return os.environ.get("FLOWDECK_SCREENSHOTS") == "1"


def save_screenshot(page: Any, name: str) -> Path | None:
    """Save the viewport as docs/screenshots/<name>.png (only with FLOWDECK_SCREENSHOTS=1).
    Written to a temporary file first, so a failed run never leaves half a PNG."""
    if not screenshots_wanted():
        return None
    assert re.fullmatch(r"[a-z0-9-]+", name), name
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.png"
    temporary = SCREENSHOTS / f"{name}.tmp.png"
    page.screenshot(path=str(temporary), full_page=False, animations="disabled", caret="hide")
    shutil.move(temporary, target)
    return target
