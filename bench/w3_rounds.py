"""W3 (the record page) against several servers in interleaved rounds, with each server's
own CPU time per request: how issue #10's last item was measured (docs/performance.md,
"The record page drawn with fewer template calls").

    PEERS_HOME=/work/shared/peers python3 bench/w3_rounds.py --rounds 8 \\
        --server floor=floor,http://127.0.0.1:8113,bench/.work/peers/.work/floor-gunicorn.pid \\
        --server before=flowdeck,http://127.0.0.1:8111,../perf-before/bench/.work/flowdeck/gunicorn.pid \\
        --server after=flowdeck,http://127.0.0.1:8112,bench/.work/flowdeck/gunicorn.pid

Each `--server NAME=ADAPTER,URL,PIDFILE` is already serving (gunicorn; PIDFILE its master's)
on its own copy of one instance (checkpoint the SQLite WAL before copying: copies that differ
there differ in cost). Per round the harness's W3 runs against each server in turn, the order
rotated (PEERS_HOME: the harness, as for `make bench`); around each run the workers' CPU time (utime + stime of the master's children, from
/proc) is read and divided by the run's requests. The first server is the one the others are
divided by. Prints one JSON line per round, then the medians; the machine's speed drifts, so
only numbers of one round are compared with each other.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid_file: str) -> float:
    """CPU time so far of the gunicorn master's worker processes."""
    master = int(Path(pid_file).read_text())
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            total += int(fields[11]) + int(fields[12])
    return total / TICK


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--server", action="append", required=True, help="NAME=ADAPTER,URL,PIDFILE")
    parser.add_argument("--peers", default=os.environ.get("PEERS_HOME") or str(REPO.parent / "shared" / "peers"))
    parser.add_argument("--records", default="10000")
    args = parser.parse_args()
    servers = {}
    for spec in args.server:
        name, rest = spec.split("=", 1)
        adapter, url, pid_file = rest.split(",")
        extra = [] if adapter == "floor" else ["--adapter-file", str(REPO / "bench" / "peer" / "flowdeck" / "adapter.py")]
        servers[name] = (["--adapter", adapter, *extra, "--base-url", url], pid_file)
    common = ["--only", "W3", "--lat-requests", "300", "--warmup", "20", "--duration", "2", "--records", args.records]
    names = list(servers)
    base = names[0]
    rows = []
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        row: dict[str, object] = {"round": r + 1, "order": order, "load": round(os.getloadavg()[0], 1)}
        for name in order:
            options, pid_file = servers[name]
            before = cpu_seconds(pid_file)
            run = subprocess.run(  # noqa: S603 -- the harness's bench.py
                [sys.executable, str(Path(args.peers) / "bench.py"), *options, *common], capture_output=True, text=True, check=True
            )
            w3 = json.loads(run.stdout)["workloads"]["W3_record"]
            latency = w3["latency_c1"]
            requests = 20 + latency["ok"] + w3["throughput_c4"]["ok"]
            row[name] = latency["median_ms"]
            row[name + "_min"] = latency["min_ms"]
            row[name + "_cpu"] = round((cpu_seconds(pid_file) - before) * 1000 / requests, 2)
        for name in names[1:]:
            row[name + "_ratio"] = round(float(row[name]) / float(row[base]), 2)  # type: ignore[arg-type]
            row[name + "_cpu_ratio"] = round(float(row[name + "_cpu"]) / float(row[base + "_cpu"]), 2)  # type: ignore[arg-type]
        rows.append(row)
        print(json.dumps(row), flush=True)
    keys = [k for k in rows[0] if k not in ("round", "order")]
    print(json.dumps({"median": {k: round(statistics.median(float(row[k]) for row in rows), 2) for k in keys}}))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
