"""The harness's workloads against several servers in interleaved rounds, with each server's
own CPU time per request or operation: how issue #10 was compared (docs/performance.md,
"The record page drawn with fewer template calls" for W3; "List and create against the floor
and the code before issue #10" for W1 and W4).

    PEERS_HOME=bench/.work/peers python3 bench/rounds.py --workload W4 --rounds 8 \\
        --server floor=floor,http://127.0.0.1:8113,bench/.work/peers/.work/floor-gunicorn.pid \\
        --server before=flowdeck,http://127.0.0.1:8111,/tmp/before/bench/.work/flowdeck/gunicorn.pid \\
        --server main=flowdeck,http://127.0.0.1:8112,bench/.work/flowdeck/gunicorn.pid

Each `--server NAME=ADAPTER,URL,PIDFILE` is already serving (gunicorn; PIDFILE its master's)
on its own instance loaded with the same records (checkpoint the SQLite WAL before copying
one: copies that differ there differ in cost). Per round each `--workload` runs against each
server in turn, the order rotated (PEERS_HOME: the harness, as for `make bench`); around each
run the workers' CPU time (utime + stime of the master's children, from /proc) is read and
divided by the run's requests (W1-W3) or operations (W4, W5: a GET of the form and its POST).
The first server is the one the others are divided by: W1-W3 by median latency at c=1 (a
ratio over 1 is slower), W4 and W5 by throughput at c=4 (a share under 1 is slower). Prints
one JSON line per round and workload, then the medians per workload; the machine's speed
drifts, so only numbers of one round are compared with each other.
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
KEYS = {"W1": "W1_list", "W2": "W2_grouped", "W3": "W3_record", "W4": "W4_create", "W5": "W5_transition"}
WARMUP = 20


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


def measure(result: dict, workload: str) -> tuple[float, float, int]:
    """(the compared figure, the fastest request's ms or 0, requests or operations served)."""
    found = result["workloads"][KEYS[workload]]
    throughput = found["throughput_c4"]
    if workload in ("W4", "W5"):
        return throughput["throughput_per_s"], throughput["min_ms"], throughput["ok"]
    latency = found["latency_c1"]
    return latency["median_ms"], latency["min_ms"], WARMUP + latency["ok"] + throughput["ok"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workload", action="append", choices=sorted(KEYS), help="one or more (default W3)")
    parser.add_argument("--server", action="append", required=True, help="NAME=ADAPTER,URL,PIDFILE")
    parser.add_argument("--peers", default=os.environ.get("PEERS_HOME") or str(REPO.parent / "shared" / "peers"))
    parser.add_argument("--records", default="10000")
    parser.add_argument("--lat-requests", default="300", help="W1-W3: requests of the c=1 phase")
    parser.add_argument("--duration", default="2", help="seconds of the c=4 phase")
    args = parser.parse_args()
    workloads = args.workload or ["W3"]
    servers = {}
    for spec in args.server:
        name, rest = spec.split("=", 1)
        adapter, url, pid_file = rest.split(",")
        extra = [] if adapter == "floor" else ["--adapter-file", str(REPO / "bench" / "peer" / "flowdeck" / "adapter.py")]
        servers[name] = (["--adapter", adapter, *extra, "--base-url", url], pid_file)
    names = list(servers)
    base = names[0]
    rows: dict[str, list[dict[str, object]]] = {w: [] for w in workloads}
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for workload in workloads:
            common = ["--only", workload, "--lat-requests", args.lat_requests, "--warmup", str(WARMUP), "--duration", args.duration]
            row: dict[str, object] = {"workload": workload, "round": r + 1, "order": order, "load": round(os.getloadavg()[0], 1)}
            for name in order:
                options, pid_file = servers[name]
                before = cpu_seconds(pid_file)
                run = subprocess.run(  # noqa: S603 -- the harness's bench.py
                    [sys.executable, str(Path(args.peers) / "bench.py"), *options, *common, "--records", args.records],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                result = json.loads(run.stdout)
                value, fastest, served = measure(result, workload)
                row[name] = value
                row[name + "_min"] = fastest
                row[name + "_cpu"] = round((cpu_seconds(pid_file) - before) * 1000 / max(served, 1), 2)
                row[name + "_errors"] = sum(p.get("errors", 0) for p in result["workloads"][KEYS[workload]].values())
            for name in names[1:]:
                row[name + "_ratio"] = round(float(row[name]) / float(row[base]), 2)  # type: ignore[arg-type]
                row[name + "_cpu_ratio"] = round(float(row[name + "_cpu"]) / float(row[base + "_cpu"]), 2)  # type: ignore[arg-type]
            rows[workload].append(row)
            print(json.dumps(row), flush=True)
    for workload, found in rows.items():
        keys = [k for k in found[0] if k not in ("workload", "round", "order")]
        medians = {k: round(statistics.median(float(row[k]) for row in found), 2) for k in keys}  # type: ignore[arg-type]
        print(json.dumps({"workload": workload, "median": medians}))


if __name__ == "__main__":
    main()
