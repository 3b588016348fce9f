#!/usr/bin/env python3
"""flowlake against DuckDB on the same Parquet lake.

For each query of SPEC §3 (both targets, with and without step_data, a label filter,
1-day and 30-day intervals, with and without limit, basic and advanced) the same payload is
answered by `flowlake query --format csv` and by the DuckDB command-line binary running the
equivalent SQL over the same files (read_parquet with hive partitioning), alternating, as
whole processes; both outputs are checked to hold the same rows in the same order. Then the
floor (pyarrow decoding only the needed columns of the interval's files, in-process) and a
fixed 1-day query on the lake grown x1, x2, x4 outside that day.

`--mode arrow` compares engine against engine instead: `flowlake query --format arrow` as a
fresh process against DuckDB's Python module in this process (`con.sql(…).to_arrow_table()`
on a new connection per run, timed around that call alone). `--mode json` compares the API's
JSON (`--format json`, a fresh process) against DuckDB writing the same rows as a JSON array
(`COPY (…) TO … (FORMAT json, ARRAY true)`, in this process, into /dev/shm). Both check the
rows as the CSV mode does; neither measures the floor, peak RSS or the growth.

    pip install duckdb-cli duckdb pyarrow matplotlib
    target/release/flowlake generate --out /work/bench/lake --orgs 4 --days 30 \
        --events-per-day 170000 --seed 11
    scripts/compare_duckdb.py --lake /work/bench/lake --runs 5 --out bench-results

Writes <out>/results.json, <out>/table.md, <out>/queries.png and <out>/growth.png.
"""

import argparse
import csv
import datetime as dt
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FRESH = Path(tempfile.mkdtemp(prefix="flowlake-bench-"))


def duckdb_binary():
    import duckdb_cli  # pip install duckdb-cli

    return str(Path(duckdb_cli.__file__).parent / "duckdb")


def run_measured(argv, stdin_text=None):
    """Runs a whole process; returns (seconds, peak RSS in MiB, stdout bytes, stderr text)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin_text else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(stdin_text.encode() if stdin_text else None)
    seconds = time.perf_counter() - started
    # communicate() reaped the child; wait4 is not possible afterwards, so RSS comes from a
    # second, identical run only when asked (see peak_rss).
    return seconds, out, err.decode(errors="replace"), proc.returncode


def peak_rss_mib(argv, stdin_text=None):
    """Peak RSS of one run of the process, measured by /usr/bin/time (a child of Python would
    inherit Python's own high-water mark across exec)."""
    with tempfile.NamedTemporaryFile("r") as report:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report.name] + argv, input=stdin_text.encode() if stdin_text else None,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return int(report.read().strip().splitlines()[-1]) / 1024


# ---------------------------------------------------------------- the queries

def iso_us(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def sql_ts(moment):
    return "TIMESTAMPTZ '" + moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00'"


def sql_str(value):
    return "'" + value.replace("'", "''") + "'"


def sql_list(values):
    return ", ".join(sql_str(v) for v in values)


EVENT_FILTER_COLUMNS = {"label", "action", "category", "vendor", "source", "event_id", "visitor_id", "session_id",
                        "user_id", "view_uid", "page_url", "dim1", "dim2", "dim3", "dim4", "dim5", "browser_name",
                        "browser_version", "device_type", "os_name", "os_version", "geo_country", "geo_city",
                        "ip_organization"}


def event_files(lake, org, first_day, last_day):
    """The event files of the organization's days in [first_day, last_day], as SPEC §1 has a
    reader take them: a day with `_manifest.json` is exactly the files it names, otherwise
    every `*.parquet` not starting with `.` or `_` (so a compacted lake is read as flowlake
    reads it, without the replaced files still in their grace period)."""
    files = []
    for day in sorted((lake / "events" / f"organization_id={org}").glob("date=*")):
        if not first_day <= dt.date.fromisoformat(day.name[5:]) <= last_day:
            continue
        manifest = day / "_manifest.json"
        if manifest.exists():
            files += [day / name for name in json.loads(manifest.read_text())["files"]]
        else:
            files += [f for f in sorted(day.glob("*.parquet")) if not f.name.startswith((".", "_"))]
    return files


def to_sql(lake, org, workflow, payload, goals_file):
    """The SPEC §3 query as DuckDB SQL over the same files."""
    start, end = iso_us(payload["interval"]["start"]), iso_us(payload["interval"]["end"])
    first_day, last_day = start.astimezone(dt.timezone.utc).date(), end.astimezone(dt.timezone.utc).date()
    if any((lake / "events" / f"organization_id={org}").glob("date=*/_manifest.json")):
        files = "[" + ", ".join(sql_str(str(f)) for f in event_files(lake, org, first_day, last_day)) + "]"
    else:  # the glob, as the measurements before manifests existed ran it
        files = f"'{lake}/events/organization_id={org}/*/*.parquet'"
    source = (f"read_parquet({files}, hive_partitioning = true, "
              f"hive_types = {{'organization_id': VARCHAR, 'date': DATE}})")
    kind = workflow["type"]
    if kind == "interaction":
        wf_pred = f"category = 'widget' AND label IN ({sql_list(workflow['interaction_ids'])})"
        path_pred, action_col = "action = 'view' AND view_uid IS NOT NULL", "view_uid"
    elif kind == "web_navigation":
        wf_pred = "category = 'pageview' AND page_url IS NOT NULL"
        path_pred, action_col = "TRUE", "page_url"
    else:
        wf_pred = f"category = 'workflowReportingEvent' AND label = {sql_str(workflow['id'])}"
        path_pred, action_col = None, None
    steps = [(i, s["actions"]) for i, s in enumerate(payload.get("step_data") or []) if i > 0 and s.get("actions")]
    if path_pred is None:
        steps = []
    goal_preds = ["category = 'goal'", "action = 'trigger'"]
    for f in payload["filters"]:
        if f["property"] in EVENT_FILTER_COLUMNS:
            goal_preds.append(f"{f['property']} IN ({sql_list(f['values'])})")
        elif f["property"] == "room_ids":
            goal_preds.append(f"list_has_any(room_ids, [{sql_list(f['values'])}])")
        elif f["property"] == "properties":
            goal_preds.append(f"list_has_all(properties, [{sql_list(f['values'])}])")
    total = payload.get("target") == "affected_goal_total"
    parts = [
        f"e AS (SELECT * FROM {source} WHERE date BETWEEN DATE '{first_day}' AND DATE '{last_day}' "
        f"AND timestamp >= {sql_ts(start)} AND timestamp <= {sql_ts(end)})",
        f"w AS (SELECT session_id, timestamp, event_id, {action_col or 'NULL'} AS act, "
        f"{path_pred or 'FALSE'} AS on_path FROM e WHERE {wf_pred})",
        "entries AS (SELECT session_id, min(timestamp) AS entry_time FROM w GROUP BY session_id)",
    ]
    if steps:
        last = max(i for i, _ in steps)
        cond = " OR ".join(f"(step = {i} AND act IN ({sql_list(a)}))" for i, a in steps)
        parts.append("steps AS (SELECT session_id, act, row_number() OVER (PARTITION BY session_id "
                     "ORDER BY timestamp, event_id) AS step FROM w WHERE on_path)")
        parts.append(f"matched AS (SELECT session_id FROM steps WHERE step <= {last} AND ({cond}) "
                     f"GROUP BY session_id HAVING count(*) = {len(steps)})")
        parts.append("sessions AS (SELECT * FROM entries WHERE session_id IN (SELECT session_id FROM matched))")
    else:
        parts.append("sessions AS (SELECT * FROM entries)")
    parts.append(f"g AS (SELECT * FROM e WHERE {' AND '.join(goal_preds)})")
    related = ", (s.entry_time IS NOT NULL AND g.timestamp >= s.entry_time) AS workflow_related" if total else ""
    join = ("LEFT JOIN sessions s ON g.session_id = s.session_id" if total
            else "JOIN sessions s ON g.session_id = s.session_id AND g.timestamp >= s.entry_time")
    if payload.get("basic"):
        columns = ("g.timestamp AS time, g.label AS goal_id, n.name AS goal_name, g.value AS goal_value, "
                   "g.visitor_id, g.session_id, g.geo_country AS country, g.geo_city AS city, "
                   "g.device_type AS device, g.browser_name AS browser")
        join += (f" LEFT JOIN (SELECT id, name FROM read_json('{goals_file}') WHERE organization_id = "
                 f"{sql_str(org)}) n ON n.id = g.label")
    else:
        columns = "g.*"
    limit = f" LIMIT {payload['limit']}" if payload.get("limit") else ""
    return ("SET TimeZone = 'UTC';\nWITH " + ",\n".join(parts) +
            f"\nSELECT {columns}{related} FROM g {join}\nORDER BY g.timestamp, g.event_id{limit};\n")


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def keys_of(csv_bytes, basic):
    """(time, session_id, label, workflow_related) per row, in order: what both engines must
    agree on. Basic times are compared in milliseconds (flowlake truncates them)."""
    keys = []
    for r in csv.DictReader(io.StringIO(csv_bytes.decode())):
        text = (r["time"] if basic else r["timestamp"]).replace("Z", "+00:00").replace(" ", "T")
        if text[-3] in "+-" and text[-6] not in "+-":
            text += ":00"  # DuckDB prints +00
        us = (dt.datetime.fromisoformat(text) - EPOCH) // dt.timedelta(microseconds=1)
        keys.append((us // 1000 if basic else us, r["session_id"], r["goal_id"] if basic else r["label"],
                     r.get("workflow_related", "").lower()))
    return keys


def duckdb_cli_probe(duck):
    """A probe that runs SQL with the DuckDB binary `duck` and returns its rows as dicts."""
    def probe(sql):
        out = subprocess.run([duck, "-csv"], input=sql.encode(), capture_output=True, check=True).stdout.decode()
        return list(csv.DictReader(io.StringIO(out)))

    return probe


def step_actions(probe, lake, org, workflow, day):
    """The commonest (step 1, step 2) action pairs of the workflow's sessions with goals on one
    day, so that step_data constrains the answer without emptying it: step 1 may be either
    action of the two commonest pairs, step 2 must be the commonest pair's."""
    payload = {"filters": [], "interval": {"start": f"{day}T00:00:00Z", "end": f"{day}T23:59:59Z"}}
    sql = to_sql(lake, org, workflow, payload, lake / "goals.json")
    body = sql.split("\nSELECT")[0].replace("SET TimeZone = 'UTC';\n", "")
    sql = (f"SET TimeZone = 'UTC';\n{body},\nst AS (SELECT session_id, act, row_number() OVER (PARTITION BY session_id "
             "ORDER BY timestamp, event_id) AS step FROM w WHERE on_path)\n"
             "SELECT a.act AS a2, b.act AS a3, count(*) AS n FROM st a JOIN st b ON a.session_id = b.session_id "
             "AND a.step = 1 AND b.step = 2 JOIN (SELECT DISTINCT session_id FROM e WHERE category = 'goal' "
             "AND action = 'trigger') g ON g.session_id = a.session_id GROUP BY ALL ORDER BY n DESC, a2, a3 LIMIT 2;\n")
    pairs = [(r["a2"], r["a3"]) for r in probe(sql)]
    return [sorted({a2 for a2, _ in pairs}), [pairs[0][1]]]


def queries(lake, probe):
    """The benchmark's queries on `lake`; `probe` runs the SQL that picks their step actions
    (see duckdb_cli_probe)."""
    workflows = json.loads((lake / "workflows.json").read_text())
    org = workflows[0]["organization_id"]
    by_type = {}
    for w in workflows:
        if w["organization_id"] == org:
            by_type.setdefault(w["type"], w)
    goals = [g for g in json.loads((lake / "goals.json").read_text()) if g["organization_id"] == org]
    days = sorted(p.name[5:] for p in (lake / "events" / f"organization_id={org}").iterdir())
    first, last, mid = days[0], days[-1], days[len(days) // 2]
    month = {"start": f"{first}T00:00:00Z", "end": f"{last}T23:59:59.999Z"}
    one_day = {"start": f"{mid}T00:00:00Z", "end": f"{mid}T23:59:59.999Z"}
    inter, web, user = by_type["interaction"], by_type["web_navigation"], by_type["user_generated"]
    s2, s3 = step_actions(probe, lake, org, inter, mid)
    w2, w3 = step_actions(probe, lake, org, web, mid)
    steps = [{}, {"actions": s2}, {"actions": s3}]
    web_steps = [{}, {"actions": w2}, {"actions": w3}]
    label = {"property": "label", "values": [goals[0]["id"]]}
    q = [
        ("typical: 30d steps label limit1000 basic", inter, {"filters": [label], "step_data": steps, "interval": month, "limit": 1000, "basic": True}),
        # affected_goal, no filters, advanced, no limit: every goal trigger of the entered sessions
        ("30d no-steps advanced", inter, {"filters": [], "interval": month}),
        ("30d steps advanced", inter, {"filters": [], "step_data": steps, "interval": month}),
        ("30d total basic", inter, {"filters": [], "interval": month, "target": "affected_goal_total", "basic": True}),
        ("30d total label limit1000 advanced", inter, {"filters": [label], "interval": month, "target": "affected_goal_total", "limit": 1000}),
        ("1d steps advanced", inter, {"filters": [], "step_data": steps, "interval": one_day}),
        ("1d total label basic", inter, {"filters": [label], "interval": one_day, "target": "affected_goal_total", "basic": True}),
        ("30d web steps limit1000 basic", web, {"filters": [], "step_data": web_steps, "interval": month, "limit": 1000, "basic": True}),
        ("30d user_generated total advanced", user, {"filters": [], "interval": month, "target": "affected_goal_total"}),
        ("30d web label steps basic", web, {"filters": [label], "step_data": web_steps, "interval": month, "basic": True}),
        ("1d total limit100 advanced", inter, {"filters": [], "interval": one_day, "target": "affected_goal_total", "limit": 100}),
    ]
    return org, q, mid


def floor_seconds(lake, org, payload, runs):
    """pyarrow decoding the columns the answer needs, of the interval's files, in-process."""
    import pyarrow.parquet as pq

    start, end = iso_us(payload["interval"]["start"]).date(), iso_us(payload["interval"]["end"]).date()
    files = [str(f) for f in event_files(lake, org, start, end)]
    columns = ["timestamp", "event_id", "category", "action", "label", "session_id", "view_uid", "page_url", "dim5"]
    if payload.get("basic"):
        columns += ["value", "visitor_id", "geo_country", "geo_city", "device_type", "browser_name"]
    else:
        columns = None  # every column
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        for f in files:
            pq.read_table(f, columns=columns, use_threads=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def grown_lake(lake, factor, org):
    """The lake plus (factor-1) copies of every organization under new ids and 30 more days
    of the first organization, all hard links: the 1-day query's own folder is unchanged."""
    if factor == 1:
        return lake
    target = Path(f"{lake}-x{factor}")
    if target.exists():
        return target
    subprocess.run(["cp", "-al", str(lake), str(target)], check=True)
    events = target / "events"
    originals = sorted(p for p in events.iterdir())
    for copy in range(1, factor):
        for o in originals:
            new = events / (o.name[:-4] + f"{copy:04d}")  # other organization ids
            subprocess.run(["cp", "-al", str(o), str(new)], check=True)
        src = events / f"organization_id={org}"
        for d in sorted(src.iterdir()):
            day = dt.date.fromisoformat(d.name[5:]) + dt.timedelta(days=40 * copy)
            subprocess.run(["cp", "-al", str(d), str(src / f"date={day}")], check=True)
    return target


def duckdb_in_process(sql, mode):
    """DuckDB's Python module answers `sql` in this process: (seconds, the answer as an Arrow
    table or JSON bytes). A new connection per run; only the call that answers is timed."""
    import duckdb  # pip install duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    body = select_of(sql)
    if mode == "arrow":
        started = time.perf_counter()
        table = con.sql(body).to_arrow_table()
        return time.perf_counter() - started, table
    target = Path("/dev/shm") / f"flowlake-bench-{os.getpid()}.json"
    started = time.perf_counter()
    con.execute(f"COPY ({body}) TO '{target}' (FORMAT json, ARRAY true)")
    seconds = time.perf_counter() - started
    out = target.read_bytes()
    target.unlink()
    return seconds, out


KEY_COLUMNS = ["time", "timestamp", "session_id", "goal_id", "label", "workflow_related"]


def select_of(sql):
    """This script's SQL without its `SET TimeZone` line, for a connection that set it once."""
    prefix = "SET TimeZone = 'UTC';\n"
    assert sql.startswith(prefix)
    return sql[len(prefix):].strip().rstrip(";")


def arrow_key_csv(table):
    """An Arrow answer's key columns as CSV, the form keys_of reads."""
    import pyarrow.csv

    out = io.BytesIO()
    pyarrow.csv.write_csv(table.select([c for c in KEY_COLUMNS if c in table.column_names]), out)
    return out.getvalue()


def key_csv(answer, mode, who):
    """An answer of either engine in any mode as the CSV of its key columns, for keys_of."""
    if mode == "csv":
        return answer
    if mode == "arrow":
        import pyarrow.ipc

        return arrow_key_csv(pyarrow.ipc.open_stream(answer).read_all() if who == "fl" else answer)
    parsed = json.loads(answer)
    rows = parsed["data"] if who == "fl" else parsed
    text = io.StringIO()
    columns = [c for c in KEY_COLUMNS if rows and c in rows[0]]
    writer = csv.DictWriter(text, columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: str(row[c]).lower() if isinstance(row[c], bool) else row[c] for c in columns})
    return text.getvalue().encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lake", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", type=Path, default=REPO / "bench-results")
    ap.add_argument("--flowlake", default=str(REPO / "target/release/flowlake"))
    ap.add_argument("--only", help="run only queries whose name contains this")
    ap.add_argument("--skip-growth", action="store_true")
    ap.add_argument("--mode", choices=["csv", "arrow", "json"], default="csv",
                    help="csv: both command lines (the default); arrow, json: DuckDB in process")
    args = ap.parse_args()
    lake = args.lake.resolve()
    duck = duckdb_binary()
    args.out.mkdir(parents=True, exist_ok=True)
    org, qs, mid = queries(lake, duckdb_cli_probe(duck))
    if args.only:
        qs = [q for q in qs if args.only in q[0]]
    in_process = args.mode != "csv"
    results = []
    for name, workflow, payload in qs:
        pfile = FRESH / (name.replace(" ", "_").replace(":", "") + ".json")
        pfile.write_text(json.dumps(payload))
        sql = to_sql(lake, org, workflow, payload, lake / "goals.json")
        fl_argv = [args.flowlake, "query", "--lake", str(lake), "--org", org, "--workflow", workflow["id"],
                   "--payload", str(pfile), "--format", args.mode]
        dk_argv = [duck, "-csv"]
        fl_times, dk_times = [], []
        fl_out = dk_out = None
        for run in range(args.runs + 1):  # run 0 warms the page cache for both
            order = ["fl", "dk"] if run % 2 == 0 else ["dk", "fl"]
            for who in order:
                if who == "dk" and in_process:
                    seconds, out = duckdb_in_process(sql, args.mode)
                else:
                    argv, stdin = (fl_argv, None) if who == "fl" else (dk_argv, sql)
                    seconds, out, err, code = run_measured(argv, stdin)
                    if code != 0:
                        sys.exit(f"{who} failed on {name}: {err}")
                if who == "fl":
                    fl_out = fl_out if fl_out is not None else out
                    if run:
                        fl_times.append(seconds)
                else:
                    dk_out = dk_out if dk_out is not None else out
                    if run:
                        dk_times.append(seconds)
        basic = payload.get("basic")
        fk = keys_of(key_csv(fl_out, args.mode, "fl"), basic)
        dkk = keys_of(key_csv(dk_out, args.mode, "dk"), basic)
        same = fk == dkk
        if not same:
            for i, (a, b) in enumerate(zip(fk, dkk)):
                if a != b:
                    print(f"  first difference at row {i}: flowlake {a} duckdb {b}", file=sys.stderr)
                    break
        if in_process:
            fl_rss = dk_rss = floor = float("nan")
        else:
            fl_rss, dk_rss = peak_rss_mib(fl_argv), peak_rss_mib(dk_argv, sql)
            floor = floor_seconds(lake, org, payload, max(3, args.runs // 2))
        r = {"query": name, "mode": args.mode, "rows_flowlake": len(fk), "rows_duckdb": len(dkk),
             "same_rows": same, "flowlake_s": statistics.median(fl_times), "duckdb_s": statistics.median(dk_times),
             "floor_s": floor, "flowlake_rss_mib": fl_rss, "duckdb_rss_mib": dk_rss,
             "flowlake_runs": fl_times, "duckdb_runs": dk_times, "load": os.getloadavg()[0]}
        r["ratio"] = r["flowlake_s"] / r["duckdb_s"]
        results.append(r)
        print(f"{name:42s} rows {len(fk):7d} {'same' if same else 'DIFFERENT':9s} flowlake {r['flowlake_s']:.3f}s "
              f"duckdb {r['duckdb_s']:.3f}s ratio {r['ratio']:.2f} floor {floor:.3f}s "
              f"rss {fl_rss:.0f}/{dk_rss:.0f} MiB load {r['load']:.1f}", flush=True)

    growth = []
    if not args.skip_growth and not in_process:
        workflow = qs[0][1]
        payload = {"filters": [], "step_data": [{}], "interval": {"start": f"{mid}T00:00:00Z", "end": f"{mid}T23:59:59.999Z"}}
        pfile = FRESH / "growth.json"
        pfile.write_text(json.dumps(payload))
        for factor in (1, 2, 4):
            grown = grown_lake(lake, factor, org)
            argv = [args.flowlake, "query", "--lake", str(grown), "--org", org, "--workflow", workflow["id"],
                    "--payload", str(pfile), "--format", "csv"]
            run_measured(argv)
            times = [run_measured(argv)[0] for _ in range(args.runs)]
            growth.append({"factor": factor, "flowlake_s": statistics.median(times), "runs": times})
            print(f"1-day query on lake x{factor}: {statistics.median(times):.3f}s", flush=True)

    (args.out / "results.json").write_text(json.dumps({"lake": str(lake), "queries": results, "growth": growth}, indent=2))
    with open(args.out / "table.md", "w") as t:
        t.write("| query | rows | same rows | flowlake s | DuckDB s | ratio | floor s | RSS flowlake / DuckDB MiB |\n")
        t.write("|---|---:|---|---:|---:|---:|---:|---:|\n")
        for r in results:
            t.write(f"| {r['query']} | {r['rows_flowlake']} | {'yes' if r['same_rows'] else 'NO'} | {r['flowlake_s']:.3f} | "
                    f"{r['duckdb_s']:.3f} | {r['ratio']:.2f} | {r['floor_s']:.3f} | {r['flowlake_rss_mib']:.0f} / {r['duckdb_rss_mib']:.0f} |\n")
    plot(results, growth, args.out)
    shutil.rmtree(FRESH, ignore_errors=True)


def plot(results, growth, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if results:
        fig, ax = plt.subplots(figsize=(10, 5))
        names = [r["query"] for r in results]
        x = range(len(names))
        ax.bar([i - 0.27 for i in x], [r["flowlake_s"] for r in results], 0.27, label="flowlake")
        ax.bar(list(x), [r["duckdb_s"] for r in results], 0.27, label="DuckDB")
        ax.bar([i + 0.27 for i in x], [r["floor_s"] for r in results], 0.27, label="floor (pyarrow decode)")
        ax.set_xticks(list(x))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("median seconds (whole process)")
        ax.set_title("flowlake vs DuckDB, same Parquet files")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "queries.png", dpi=110)
    if growth:
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot([g["factor"] for g in growth], [g["flowlake_s"] for g in growth], marker="o")
        ax.set_xlabel("lake size (x, outside the queried day)")
        ax.set_ylabel("median seconds, fixed 1-day query")
        ax.set_ylim(bottom=0)
        ax.set_title("1-day query time vs lake size")
        fig.tight_layout()
        fig.savefig(out / "growth.png", dpi=110)


if __name__ == "__main__":
    main()
