"""The floor in one process, timed the way bench/inprocess.py times Flowdeck: wall and CPU
time per page (W1-W3, a direct WSGI call with the session cookie, as the floor's rawsql.py)
and per operation (W4, W5: the Flask test client GETs the form, the harness's parser reads
it, the test client POSTs it). Run by bench/run.py with the floor's venv, in its folder:

    cd bench/.work/peers/floor && ../.work/floor-venv/bin/python ../../../floor_inprocess.py

Needs fresh floor data (floor/setup.sh): W4 and W5 write. Prints one JSON object.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path[:0] = [".", ".."]  # the floor's modules, then the harness (bench.py, dataset.py)
import dataset  # noqa: E402
import webapp  # noqa: E402
from werkzeug.test import EnvironBuilder  # noqa: E402

import bench as driver  # noqa: E402


def stats(values: list[float]) -> dict[str, Any]:
    s = sorted(values)
    return {"runs": len(s), "median_ms": round(statistics.median(s), 3), "p95_ms": round(s[int(0.95 * (len(s) - 1))], 3)}


def main() -> None:
    records = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    app = webapp.create_app()
    adapter = driver.FloorAdapter(records)
    rng = random.Random(dataset.SEED)  # noqa: S311 -- the harness's W3 ids and W5 order
    ids = [rng.randint(1, records) for _ in range(100000)]
    moves = list(range(1, records + 1))
    rng.shuffle(moves)
    client = app.test_client()
    client.get("/records/new")
    cookie = "session=" + client.get_cookie("session").value

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        assert status.startswith("200"), status

    def page(path: str) -> None:
        body = app(EnvironBuilder(path=path, headers={"Cookie": cookie}).get_environ(), start_response)
        b"".join(body)
        if hasattr(body, "close"):
            body.close()

    def submit(url: str, form_id: str, fields_fn: Callable[[Any], dict[str, str]]) -> None:
        html = client.get(url).get_data(as_text=True)
        form = driver.find_form(html, form_id)
        response = client.post(
            form.attrs.get("action") or url, data=form.encode(fields_fn(form)), content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == 303, response.status_code

    count = {"W4": 0, "W5": 0}

    def w4(k: int) -> None:
        count["W4"] += 1
        rec = dataset.new_record(count["W4"])
        submit(adapter.create_form_url, adapter.create_form, lambda form: adapter.create_fields(rec, form))

    def w5(k: int) -> None:
        count["W5"] += 1
        submit(adapter.record_url(moves[count["W5"] % len(moves)]), adapter.transition_form, adapter.transition_fields)

    ops = {
        "W1_list": (lambda k: page(adapter.list_url(k % 5 + 1)), 200),
        "W2_grouped": (lambda k: page(adapter.grouped_url()), 200),
        "W3_record": (lambda k: page(adapter.record_url(ids[k])), 200),
        "W4_create": (w4, 100),
        "W5_transition": (w5, 100),
    }
    out = {"what": "the floor in one process: wall and CPU per page (WSGI call) or op (test client)", "workloads": {}}
    for name, (op, runs) in ops.items():
        for k in range(5):
            op(k)
        wall, cpu = [], []
        for k in range(runs):
            t0, c0 = time.perf_counter(), time.process_time()
            op(k)
            wall.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        out["workloads"][name] = {"app_ms": stats(wall), "app_cpu_ms": stats(cpu)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
