"""`make bench`: the floor and Flowdeck through the shared peer harness, back to back, then
the in-process and raw SQL breakdown of both, a side-by-side table and the target ratios.

    make bench                                  # N=10000, SQLite
    N=1000000 FLOWDECK_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/flowdeck_bench make bench
    BENCH_ARGS="--duration 5 --lat-requests 50" make bench     # a quick try (extra bench.py options)
    SKIP_FLOOR=1 / SKIP_BREAKDOWN=1 / PROFILE=0                # leave a part out
    SUMMARY_ONLY=1 RESULTS=bench/results/<run> make bench       # only remake that run's summary

Environment: N (default 10000), PEERS_HOME (the harness, default ../shared/peers beside the
repository), PORT (default 8101), FLOWDECK_BENCH_DATABASE_URL (PostgreSQL for Flowdeck; the
floor is SQLite only), BENCH_ARGS, RESULTS (default bench/results/<UTC time>-N<N>-<database>).

The harness folder is read-only for us, and its run.sh keeps its venv, databases and logs in
its own `.work/`: so the harness is copied unchanged (every file but `.work/` and `results/`)
to bench/.work/peers/ and run from there. The steps:

1. `run.sh floor` then `run.sh <repo>/bench/peer/flowdeck` (each: setup with N records,
   serve on 127.0.0.1:$PORT with gunicorn, W1-W5, stop), JSON into RESULTS;
2. fresh data again for both, then the floor's own `floor/rawsql.py` (raw SQL of its W1-W3
   statements, its app in-process) and `bench/inprocess.py` (Flowdeck in-process, the raw SQL
   of the statements each workload sends, pyinstrument profiles: text in RESULTS/profiles,
   HTML in bench/.work/profiles);
3. `summary.md` / `summary.json` in RESULTS: the harness's table of both runs, the ratios
   against the targets of issue 6, and the layers (HTTP, in-process, raw SQL) per workload.
"""

from __future__ import annotations

import datetime as dt
import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PEER = REPO / "bench" / "peer" / "flowdeck"
WORK = REPO / "bench" / ".work"
# Targets (issue 6), as ratios measured in one run against the floor.
LATENCY_MAX = 2.5  # W1-W3: Flowdeck's median latency at most 2.5x the floor's
THROUGHPUT_MIN = 1 / 2.4  # W4-W5: Flowdeck's throughput at least 1/2.4 of the floor's
PAGE_WEIGHT_MAX = 2.0  # the 500-card board: at most 2x the floor's bytes
P50_MAX_MS = 50  # at 1,000,000 records on PostgreSQL: list and board p50 at most 50 ms...
RAW_SQL_MAX = 1.5  # ...and at most 1.5x the raw SQL of the same queries
READS = ("W1_list", "W2_grouped", "W3_record")
WRITES = ("W4_create", "W5_transition")


def log(message: str) -> None:
    print(f"== {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, env: dict[str, str] | None = None, stdout: Any = None, cwd: Path | None = None) -> None:
    log(" ".join(str(c) for c in cmd))
    subprocess.run(cmd, env=env, stdout=stdout, cwd=cwd, check=True)  # noqa: S603 -- our own scripts


def copy_harness(source: Path, target: Path) -> Path:
    """A writable copy of the harness (code only), its own `.work/` kept between runs."""
    if not (source / "run.sh").is_file() or not (source / "bench.py").is_file():
        raise SystemExit(f"no peer harness at {source}: set PEERS_HOME")
    target.mkdir(parents=True, exist_ok=True)
    for item in target.iterdir():
        if item.name != ".work":
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    ignore = shutil.ignore_patterns(".work", "results", "__pycache__")
    for item in source.iterdir():
        if item.name in (".work", "results", "__pycache__"):
            continue
        if item.is_dir():
            shutil.copytree(item, target / item.name, ignore=ignore)
        else:
            shutil.copy2(item, target / item.name)
    for folder, _dirs, files in os.walk(target):  # the source is read-only; the copy must not be
        if ".work" not in Path(folder).relative_to(target).parts:
            for name in [".", *files]:
                path = Path(folder, name)
                path.chmod(path.stat().st_mode | 0o200)
    compare = filecmp.dircmp(source, target, ignore=[".work", "results", "__pycache__"])
    if compare.diff_files or compare.left_only:
        raise SystemExit(f"the harness copy differs from {source}: {compare.diff_files + compare.left_only}")
    return target


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def phase(result: dict[str, Any], workload: str, name: str) -> dict[str, Any]:
    return result.get("workloads", {}).get(workload, {}).get(name) or {}


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def met(value: bool | None) -> str:
    return "n/a" if value is None else ("yes" if value else "NO")


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value}{unit}"


def targets(
    floor: dict[str, Any], flowdeck: dict[str, Any], floor_raw: dict[str, Any] | None, ours: dict[str, Any] | None
) -> list[dict[str, Any]]:
    rows = []
    for w in READS:
        f, d = phase(floor, w, "latency_c1").get("median_ms"), phase(flowdeck, w, "latency_c1").get("median_ms")
        r = ratio(d, f)
        rows.append({"target": f"{w} median latency (c=1) <= {LATENCY_MAX}x floor", "floor": f, "flowdeck": d, "ratio": r,
                     "met": r is not None and r <= LATENCY_MAX})  # fmt: skip
    for w in WRITES:
        f, d = phase(floor, w, "throughput_c4").get("throughput_per_s"), phase(flowdeck, w, "throughput_c4").get("throughput_per_s")
        r = ratio(d, f)
        rows.append({"target": f"{w} throughput (c=4) >= 1/2.4 ({THROUGHPUT_MIN:.3f}) of floor", "floor": f, "flowdeck": d, "ratio": r,
                     "met": r is not None and r >= THROUGHPUT_MIN})  # fmt: skip
    f_bytes = ((floor_raw or {}).get("wsgi_in_process") or {}).get("W2_grouped", {}).get("body_bytes_last_run")
    d_bytes = ((ours or {}).get("workloads") or {}).get("W2_grouped", {}).get("body_bytes")
    r = ratio(d_bytes, f_bytes)
    rows.append({"target": f"W2 board page weight (500 cards) <= {PAGE_WEIGHT_MAX}x floor bytes", "floor": f_bytes, "flowdeck": d_bytes,
                 "ratio": r, "met": r is not None and r <= PAGE_WEIGHT_MAX})  # fmt: skip
    for row in rows:
        if row["ratio"] is None:
            row["met"] = None
    return rows


def absolute(
    flowdeck: dict[str, Any], ours: dict[str, Any] | None, floor: dict[str, Any], floor_raw: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Issue 6's targets for 1,000,000 records on PostgreSQL (shown for every run):
    list and board p50 <= 50 ms, and within 1.5x of the raw SQL of the same queries.

    Beside them, what the ratio is made of: the page's time above its SQL (`above_sql`, in
    ms), and the same ratio for the floor when it ran (its HTTP median over the raw SQL of
    its own statements): how far a bare Flask page is from its SQL on this machine."""
    rows = []
    for w in ("W1_list", "W2_grouped"):
        p50 = phase(flowdeck, w, "latency_c1").get("median_ms")
        raw = (((ours or {}).get("workloads") or {}).get(w, {}).get("raw_sql_ms") or {}).get("all", {}).get("median_ms")
        r = ratio(p50, raw)
        floor_p50 = phase(floor, w, "latency_c1").get("median_ms")
        floor_sql = ((floor_raw or {}).get("workloads") or {}).get(w, {}).get("median_ms")
        rows.append({"target": f"{w} p50 <= {P50_MAX_MS} ms; <= {RAW_SQL_MAX}x raw SQL (all statements)", "p50": p50, "raw_sql": raw,
                     "ratio": r, "met": None if p50 is None or r is None else p50 <= P50_MAX_MS and r <= RAW_SQL_MAX,
                     "above_sql": None if p50 is None or raw is None else round(p50 - raw, 2),
                     "floor_ratio": ratio(floor_p50, floor_sql)})  # fmt: skip
    return rows


def layers(
    floor: dict[str, Any],
    flowdeck: dict[str, Any],
    floor_raw: dict[str, Any] | None,
    ours: dict[str, Any] | None,
    floor_cpu: dict[str, Any] | None,
) -> list[str]:
    """Markdown rows: per workload, each layer's time for the floor and for Flowdeck."""
    out = [
        "| workload | HTTP median ms (c=1; W4/W5: op at c=4) | in-process ms | in-process CPU ms (ratio) | raw SQL ms: all statements"
        " | raw SQL ms: record data only | statements (data) / transactions | page bytes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for w in READS + WRITES:
        http_phase = "latency_c1" if w in READS else "throughput_c4"
        f_http, d_http = phase(floor, w, http_phase).get("median_ms"), phase(flowdeck, w, http_phase).get("median_ms")
        fr = (floor_raw or {}).get("workloads", {}).get(w, {})
        fw = ((floor_raw or {}).get("wsgi_in_process") or {}).get(w, {})
        fc = ((floor_cpu or {}).get("workloads") or {}).get(w, {})
        dw = ((ours or {}).get("workloads") or {}).get(w, {})
        kinds = [s["kind"] for s in dw.get("statements", [])]
        f_stmts = fr.get("statements")
        cells = [
            f"{fmt(f_http)} / {fmt(d_http)}",
            f"{fmt(fc.get('app_ms', {}).get('median_ms', fw.get('median_ms')))} / {fmt(dw.get('app_ms', {}).get('median_ms'))}",
            f"{fmt(fc.get('app_cpu_ms', {}).get('median_ms'))} / {fmt(dw.get('app_cpu_ms', {}).get('median_ms'))}"
            f" ({fmt(ratio(dw.get('app_cpu_ms', {}).get('median_ms'), fc.get('app_cpu_ms', {}).get('median_ms')))}x)",
            f"{fmt(fr.get('median_ms'))} / {fmt(dw.get('raw_sql_ms', {}).get('all', {}).get('median_ms'))}",
            f"{fmt(fr.get('median_ms'))} / {fmt(dw.get('raw_sql_ms', {}).get('data', {}).get('median_ms'))}",
            f"{fmt(f_stmts)} / {len(kinds)} ({kinds.count('data')}) / {fmt(dw.get('transactions'))}" if dw else "n/a",
            f"{fmt(fw.get('body_bytes_last_run'))} / {fmt(dw.get('body_bytes'))}",
        ]
        out.append(f"| {w} (floor / flowdeck) | " + " | ".join(cells) + " |")
    return out


def main() -> None:
    n = os.environ.get("N", "10000")
    port = os.environ.get("PORT", "8101")
    pg = os.environ.get("FLOWDECK_BENCH_DATABASE_URL", "")
    database = "postgresql" if pg else "sqlite"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%MZ")
    results = Path(os.environ.get("RESULTS") or REPO / "bench" / "results" / f"{stamp}-N{n}-{database}").resolve()
    results.mkdir(parents=True, exist_ok=True)
    source = Path(os.environ.get("PEERS_HOME") or (REPO.parent / "shared" / "peers")).resolve()
    harness = copy_harness(source, WORK / "peers")
    extra = os.environ.get("BENCH_ARGS", "").split()
    env = {k: v for k, v in os.environ.items() if k not in ("FLOWDECK_INSTANCE", "FLOWDECK_DATABASE_URL", "PEERS_HOME", "VIRTUAL_ENV")}
    env.update(N=n, PORT=port, RESULTS=str(results), PYTHON=env.get("PYTHON", "python3"))
    load_start = os.getloadavg()
    log(f"results in {results}; harness {source} (copied to {harness}); N={n}; flowdeck on {database}; load average {load_start}")

    summary_only = bool(os.environ.get("SUMMARY_ONLY"))
    # 1. the harness, back to back
    if summary_only:
        log("SUMMARY_ONLY: remaking the summary of the results already there")
    elif not os.environ.get("SKIP_FLOOR"):
        run([str(harness / "run.sh"), "floor", *extra], env=env)
    if not summary_only:
        run([str(harness / "run.sh"), str(PEER), *extra], env=env)

    # 2. the breakdown on fresh data
    floor_raw_path, ours_path = results / "floor-rawsql.json", results / "flowdeck-inprocess.json"
    floor_cpu_path, add_field_path = results / "floor-inprocess.json", results / "add-field.json"
    if not os.environ.get("SKIP_BREAKDOWN") and not summary_only:
        if not os.environ.get("SKIP_FLOOR"):
            floor_env = dict(env, PYTHONPATH=str(harness))
            run([str(harness / "floor" / "setup.sh")], env=floor_env)
            floor_python = str(harness / ".work" / "floor-venv" / "bin" / "python")
            with floor_raw_path.open("w") as out:
                run([floor_python, "rawsql.py", "--records", n], env=floor_env, stdout=out, cwd=harness / "floor")
            run([str(harness / "floor" / "setup.sh")], env=floor_env)
            with floor_cpu_path.open("w") as out:
                run([floor_python, str(REPO / "bench" / "floor_inprocess.py"), n], env=floor_env, stdout=out, cwd=harness / "floor")
        peer_env = dict(env, PEERS_HOME=str(harness))
        run([str(PEER / "setup.sh")], env=peer_env)
        html = WORK / "profiles" / results.name  # large: kept out of the repository
        profile = [] if os.environ.get("PROFILE") == "0" else ["--profile", str(results / "profiles"), "--profile-html", str(html)]
        script = f'source "{PEER}/env.sh" && exec "$VENV/bin/python" "{REPO}/bench/inprocess.py" --records {n} ' + " ".join(profile)
        with ours_path.open("w") as out:
            run(["bash", "-c", script], env=peer_env, stdout=out)
        add_field = f'source "{PEER}/env.sh" && exec "$VENV/bin/python" "{REPO}/bench/add_field.py"'
        with add_field_path.open("w") as out:
            run(["bash", "-c", add_field], env=peer_env, stdout=out)

    # 3. the summary
    floor_path = next(iter(sorted(results.glob("floor-20*.json"))), None)  # run.sh names them PEER-<UTC date>.json
    ours_http = next(iter(sorted(results.glob("flowdeck-20*.json"))), None)
    floor = load(floor_path) if floor_path else {}
    flowdeck = load(ours_http) if ours_http else {}
    floor_raw = load(floor_raw_path) if floor_raw_path.exists() and floor_raw_path.stat().st_size else None
    ours = load(ours_path) if ours_path.exists() and ours_path.stat().st_size else None
    floor_cpu = load(floor_cpu_path) if floor_cpu_path.exists() and floor_cpu_path.stat().st_size else None
    table = subprocess.run(  # noqa: S603 -- the harness's table.py
        [sys.executable, str(harness / "table.py"), *[str(p) for p in (floor_path, ours_http) if p]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    checks = targets(floor, flowdeck, floor_raw, ours)
    scale = absolute(flowdeck, ours, floor, floor_raw)
    added = load(add_field_path) if add_field_path.exists() and add_field_path.stat().st_size else None
    if added:
        seconds = added["add_optional_field_s"]
        scale.append({"target": f"adding a field to the entity ({added['records']:,} records) < 1 s", "p50": seconds * 1000,
                      "raw_sql": None, "ratio": None, "met": seconds < 1, "above_sql": None, "floor_ratio": None})  # fmt: skip
    lines = [
        f"# Benchmark {results.name}: N={n}, Flowdeck on {database}",
        "",
        f"Load average at start {load_start[0]:.2f} / {load_start[1]:.2f} / {load_start[2]:.2f}, at end "
        + "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())
        + f" (machine: {os.cpu_count()} cores).",
        "",
        "## The harness, same run",
        "",
        table.rstrip(),
        "",
        "## Targets (issue 6): Flowdeck ÷ floor",
        "",
        "| target | floor | flowdeck | ratio | met |",
        "|---|---|---|---|---|",
        *[f"| {c['target']} | {fmt(c['floor'])} | {fmt(c['flowdeck'])} | {fmt(c['ratio'])} | {met(c['met'])} |" for c in checks],
        "",
        "Issue 6's targets at 1,000,000 records on PostgreSQL (shown for every run):",
        "",
        "| target | HTTP p50 ms (adding a field: apply ms) | raw SQL ms | ratio | met | p50 above the raw SQL ms"
        " | the floor's p50 ÷ its raw SQL, same run |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {c['target']} | {fmt(c['p50'])} | {fmt(c['raw_sql'])} | {fmt(c['ratio'])} | {met(c['met'])} | {fmt(c['above_sql'])}"
            f" | {fmt(c['floor_ratio'])} |"
            for c in scale
        ],
        "",
        "## Layers: floor / Flowdeck",
        "",
        *layers(floor, flowdeck, floor_raw, ours, floor_cpu),
        "",
        "In-process (`bench/floor_inprocess.py`, `bench/inprocess.py`): W1-W3 pages (the floor: a WSGI call; Flowdeck: Flask's",
        "test client), W4/W5 operations through the test client (GET + parse + POST, as the harness); CPU = process time.",
        "Raw SQL: the floor's statements for W1-W3 (its `rawsql.py`); Flowdeck's",
        "statements one page/operation sends, replayed through the DBAPI alone (all, and those on the entity's tables",
        "and history). Statements: floor's per page / Flowdeck's per page or operation (data ones) / transactions.",
        "",
    ]
    summary = "\n".join(lines)
    (results / "summary.md").write_text(summary, encoding="utf-8")
    (results / "summary.json").write_text(
        json.dumps(
            {"stamp": stamp, "records": int(n), "database": database, "targets": checks, "at_scale": scale, "load_start": load_start},
            indent=2,
        ),
        encoding="utf-8",
    )
    print(summary)
    log(f"saved {results.relative_to(REPO) if results.is_relative_to(REPO) else results}")


if __name__ == "__main__":
    main()
