"""Demo users and records for the bundled `project` and `operations` apps (`flowdeck init
--demo`, `make run`, the browser tests).

The content is data (`data/*.json`, read by `content.py`): the people and their
organisation, and each app's records with the steps that bring them to where they are,
in Chinese and English as a mixed team writes them. `loader.py` writes it through the
engine's public services as the demo users themselves; `timeline.py` keeps every date
relative to the day of the load.
"""

from flowdeck.demo.content import DEMO_DEPARTMENTS, DEMO_PLACEMENT, DEMO_USERS, MARKER_PROJECT
from flowdeck.demo.loader import DEMO_PASSWORD, DemoSummary, load_demo

__all__ = ["DEMO_DEPARTMENTS", "DEMO_PASSWORD", "DEMO_PLACEMENT", "DEMO_USERS", "MARKER_PROJECT", "DemoSummary", "load_demo"]
