#!/usr/bin/env python3
"""flowlake's writer against DuckDB's COPY on the same inputs.

The events of a generated lake are exported once by DuckDB to NDJSON (timestamps as RFC 3339
`Z`, as a tracking pipeline's dump would be), to CSV (lists as JSON array text, the form
`ingest` reads) and to gzip NDJSON. Each input is then loaded, as whole processes,
alternating, into day-partitioned Parquet:

- by DuckDB: `COPY (SELECT *, CAST(timestamp AS DATE) AS date FROM read_json(…)) TO …
  (FORMAT parquet, PARTITION_BY (organization_id, date))` (read_csv for CSV), types detected
  by DuckDB, no checks beyond its parsing, rows in input order;
- by `flowlake ingest` into an empty lake: every row checked (SPEC §1: UUIDs, required
  columns, timestamps in range, finite numbers, lists without null elements), idempotence
  per (organization, day, event_id), files sorted by category, label, action and time with
  row groups cut at label runs, page statistics and bloom filters.

The medians of the timed runs (after a warm-up of each) give the ratio flowlake / DuckDB.
Then the peak RSS of ingest (`/usr/bin/time`) on growing prefixes of the NDJSON.

    pip install duckdb-cli
    cargo build --release
    target/release/flowlake generate --out /work/bench/writers-lake --orgs 1 --days 10 \\
        --events-per-day 200000 --seed 11
    scripts/compare_duckdb_writers.py --lake /work/bench/writers-lake --work /work/bench/writers \\
        --runs 5 --out bench-results

Writes <out>/writers.json and <out>/writers.md.
"""

import argparse
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


def duckdb_binary():
    if os.environ.get("DUCKDB"):
        return os.environ["DUCKDB"]
    import duckdb_cli  # pip install duckdb-cli

    return str(Path(duckdb_cli.__file__).parent / "duckdb")


def run(argv, what):
    """Runs a whole process; returns its wall seconds, its CPU seconds (user + system, all
    threads) and stdout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{what} failed ({status}): {err.read().decode(errors='replace')}")
        return seconds, usage.ru_utime + usage.ru_stime, out.read().decode(errors="replace")


def peak_rss_mib(argv):
    """Peak RSS of one run, measured by /usr/bin/time (not inherited from Python)."""
    with tempfile.NamedTemporaryFile("r") as report:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report.name] + argv,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return int(report.read().strip().splitlines()[-1]) / 1024


def export(duck, lake, work):
    """The lake's events as NDJSON, CSV and gzip NDJSON (once; kept in `work`)."""
    source = f"read_parquet('{lake}/events/*/*/*.parquet', hive_partitioning = true)"
    select = (f"SELECT organization_id, strftime(timestamp, '%Y-%m-%dT%H:%M:%S.%fZ') AS timestamp, "
              f"* EXCLUDE (organization_id, date, timestamp) FROM {source}")
    csv_select = select.replace("* EXCLUDE (organization_id, date, timestamp)",
                                "* EXCLUDE (organization_id, date, timestamp, properties, room_ids), "
                                "to_json(properties) AS properties, to_json(room_ids) AS room_ids")
    files = {
        "ndjson": (work / "events.ndjson", f"COPY ({select}) TO '{{}}' (FORMAT json)"),
        "csv": (work / "events.csv", f"COPY ({csv_select}) TO '{{}}' (FORMAT csv, HEADER)"),
        "ndjson.gz": (work / "events.ndjson.gz", f"COPY ({select}) TO '{{}}' (FORMAT json, COMPRESSION gzip)"),
    }
    for kind, (path, copy) in files.items():
        if not path.exists():
            partial = path.with_name(path.name + ".partial")
            seconds, _, _ = run([duck, "-c", "SET TimeZone='UTC'; " + copy.format(partial)], f"export {kind}")
            partial.rename(path)
            print(f"exported {path.name}: {path.stat().st_size / 1e6:.0f} MB in {seconds:.1f} s", flush=True)
    return {kind: path for kind, (path, _) in files.items()}


def duckdb_copy(duck, kind, path, out):
    reader = "read_csv" if kind == "csv" else "read_json"
    return [duck, "-c",
            f"SET TimeZone='UTC'; COPY (SELECT *, CAST(timestamp AS DATE) AS date FROM {reader}('{path}')) "
            f"TO '{out}' (FORMAT parquet, PARTITION_BY (organization_id, date))"]


def flowlake_ingest(flowlake, path, lake):
    return [flowlake, "ingest", "--lake", str(lake), str(path)]


def fresh(folder):
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def rows_of(path):
    with open(path, "rb") as f:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b""))
    return lines - (1 if path.suffix == ".csv" else 0)


def compare(duck, flowlake, inputs, work, runs, rows):
    results = []
    target = work / "out"
    for kind, path in inputs.items():
        times = {"dk": [], "fl": []}
        cpu = {"dk": [], "fl": []}
        for attempt in range(runs + 1):  # attempt 0 warms the page cache for both
            order = ["fl", "dk"] if attempt % 2 else ["dk", "fl"]
            for who in order:
                fresh(target)
                if who == "dk":
                    argv = duckdb_copy(duck, kind, path, target / "duck")
                else:
                    argv = flowlake_ingest(flowlake, path, target)
                seconds, used, out = run(argv, f"{who} {kind}")
                if who == "fl" and attempt == 0:
                    print(out.splitlines()[0], flush=True)
                if attempt:
                    times[who].append(seconds)
                    cpu[who].append(used)
        shutil.rmtree(target, ignore_errors=True)
        row = {
            "input": kind, "bytes": path.stat().st_size, "rows": rows,
            "duckdb_s": statistics.median(times["dk"]), "flowlake_s": statistics.median(times["fl"]),
            "duckdb_cpu_s": statistics.median(cpu["dk"]), "flowlake_cpu_s": statistics.median(cpu["fl"]),
            "duckdb_runs": times["dk"], "flowlake_runs": times["fl"],
            "load_average": os.getloadavg()[0],
        }
        row["ratio"] = row["flowlake_s"] / row["duckdb_s"]
        print(f"{kind}: DuckDB {row['duckdb_s']:.2f} s ({row['duckdb_cpu_s']:.1f} s CPU), flowlake "
              f"{row['flowlake_s']:.2f} s ({row['flowlake_cpu_s']:.1f} s CPU), ratio {row['ratio']:.2f}", flush=True)
        results.append(row)
    return results


def memory(duck, flowlake, ndjson, work, rows):
    """Peak RSS of ingest (and of DuckDB's COPY) on the first quarter, half and all of the NDJSON."""
    points = []
    target = work / "out"
    for share in (0.25, 0.5, 1.0):
        part = work / f"prefix-{share}.ndjson"
        count = int(rows * share)
        if share < 1.0:
            with open(ndjson, "rb") as src, open(part, "wb") as dst:
                for i, line in enumerate(src):
                    if i == count:
                        break
                    dst.write(line)
        else:
            part = ndjson
        fresh(target)
        fl = peak_rss_mib(flowlake_ingest(flowlake, part, target))
        fresh(target)
        dk = peak_rss_mib(duckdb_copy(duck, "ndjson", part, target / "duck"))
        points.append({"rows": count, "bytes": part.stat().st_size, "flowlake_mib": fl, "duckdb_mib": dk})
        print(f"{count} rows: ingest peak RSS {fl:.0f} MiB, DuckDB {dk:.0f} MiB", flush=True)
        if part != ndjson:
            part.unlink()
    shutil.rmtree(target, ignore_errors=True)
    return points


def table(results, points):
    lines = ["| input | size | DuckDB COPY | flowlake ingest | flowlake / DuckDB | DuckDB rows/s | flowlake rows/s | CPU s DuckDB / flowlake |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        rate = lambda s: f"{r['rows'] / s:,.0f}"
        lines.append(f"| {r['input']} | {r['bytes'] / 1e6:,.0f} MB | {r['duckdb_s']:.2f} s | {r['flowlake_s']:.2f} s "
                     f"| **{r['ratio']:.2f}** | {rate(r['duckdb_s'])} | {rate(r['flowlake_s'])} "
                     f"| {r['duckdb_cpu_s']:.1f} / {r['flowlake_cpu_s']:.1f} |")
    lines += ["", "| NDJSON rows | size | ingest peak RSS | DuckDB COPY peak RSS |", "|---:|---:|---:|---:|"]
    for p in points:
        lines.append(f"| {p['rows']:,} | {p['bytes'] / 1e6:,.0f} MB | {p['flowlake_mib']:.0f} MiB | {p['duckdb_mib']:.0f} MiB |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lake", type=Path, required=True, help="a lake whose events are exported")
    ap.add_argument("--work", type=Path, required=True, help="where the exports and outputs go")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", type=Path, default=REPO / "bench-results")
    ap.add_argument("--flowlake", default=str(REPO / "target/release/flowlake"))
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-timing", action="store_true")
    args = ap.parse_args()
    duck = duckdb_binary()
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    inputs = export(duck, args.lake.resolve(), args.work.resolve())
    rows = rows_of(inputs["ndjson"])
    results = [] if args.skip_timing else compare(duck, args.flowlake, inputs, args.work.resolve(), args.runs, rows)
    points = [] if args.skip_memory else memory(duck, args.flowlake, inputs["ndjson"], args.work.resolve(), rows)
    (args.out / "writers.json").write_text(json.dumps({"results": results, "memory": points}, indent=2))
    (args.out / "writers.md").write_text(table(results, points))
    print(table(results, points))


if __name__ == "__main__":
    main()
