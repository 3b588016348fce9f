#!/usr/bin/env python3
"""flowlake's Python package against DuckDB's Python API, in process, on the same lake.

The queries of scripts/compare_duckdb.py (both targets, with and without step_data, a label
filter, short and long intervals, with and without limit, basic and advanced), each answered
by `flowlake.Lake.query` and by DuckDB running that script's SQL over the same files. Each
engine lives in a process of its own for the whole run, so that neither pays for process
start-up, catalog reads or imports per query, and each has its own memory high-water mark.
The two are asked in turn (the order alternating from one round to the next; round 0
warms both up and is not timed), the time measured inside the engine's process around the
call alone, answer as an Arrow table in hand. Both answers must hold the same rows in the
same order (compared as compare_duckdb.py compares them).

    pip install duckdb pyarrow        # and the flowlake package: cd python && maturin develop --release
    scripts/compare_duckdb_python.py --lake /work/bench/lake --runs 5 --out bench-results/python

Prints a table; with --out, writes <out>/results.json and <out>/table.md. The numbers mean
something only with a release build of the package (`maturin develop --release`).
"""

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare_duckdb  # noqa: E402  (the queries, their SQL and the row keys)


def high_water_mib():
    """This process's peak resident memory so far."""
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(status["VmHWM"].split()[0]) / 1024


def serve(conn, answer):
    """Answers the queries the parent sends, one at a time: (seconds, rows, keys, peak MiB)."""
    while (message := conn.recv()) is not None:
        query, want_keys = message
        try:
            started = time.perf_counter()
            table = answer(query)
            seconds = time.perf_counter() - started
            if want_keys:  # what compare_duckdb compares, from the columns that make the keys
                keys = compare_duckdb.keys_of(compare_duckdb.arrow_key_csv(table), query["payload"].get("basic"))
            else:
                keys = None
            conn.send(("ok", seconds, table.num_rows, keys, high_water_mib()))
        except Exception as error:  # reported to the parent, which stops
            conn.send(("error", f"{type(error).__name__}: {error}"))


def flowlake_engine(conn, lake):
    import flowlake

    opened = flowlake.Lake(lake)
    serve(conn, lambda q: opened.query(q["org"], q["workflow"], q["payload"]))


def duckdb_engine(conn, lake):
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    serve(conn, lambda q: con.sql(q["sql"]).to_arrow_table())


class Engine:
    """One engine in its own process."""

    def __init__(self, name, target, lake):
        self.name = name
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("spawn").Process(target=target, args=(child, str(lake)), daemon=True)
        self.process.start()

    def ask(self, query, want_keys):
        self.conn.send((query, want_keys))
        reply = self.conn.recv()
        if reply[0] != "ok":
            sys.exit(f"{self.name} failed on {query['name']}: {reply[1]}")
        return reply[1:]

    def stop(self):
        self.conn.send(None)
        self.process.join(timeout=30)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lake", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", type=Path, help="folder for results.json and table.md")
    ap.add_argument("--only", help="run only queries whose name contains this")
    args = ap.parse_args()
    lake = args.lake.resolve()

    import duckdb

    probing = duckdb.connect()  # step_actions' probes, in this process
    probing.execute("SET TimeZone = 'UTC'")
    org, listed, _ = compare_duckdb.queries(
        lake, lambda sql: probing.sql(compare_duckdb.select_of(sql)).to_arrow_table().to_pylist())
    queries = [{"name": name, "org": org, "workflow": workflow["id"], "payload": payload,
                "sql": compare_duckdb.select_of(compare_duckdb.to_sql(lake, org, workflow, payload, lake / "goals.json"))}
               for name, workflow, payload in listed if not args.only or args.only in name]

    engines = [Engine("flowlake", flowlake_engine, lake), Engine("duckdb", duckdb_engine, lake)]
    results = []
    try:
        for query in queries:
            times = {e.name: [] for e in engines}
            keys, rows, peak = {}, {}, {}
            for run in range(args.runs + 1):  # run 0 warms both up
                for engine in (engines if run % 2 == 0 else engines[::-1]):
                    seconds, count, got, mib = engine.ask(query, want_keys=run == 0)
                    if run == 0:
                        keys[engine.name], rows[engine.name] = got, count
                    else:
                        times[engine.name].append(seconds)
                    peak[engine.name] = mib
            same = keys["flowlake"] == keys["duckdb"]
            r = {"query": query["name"], "rows_flowlake": rows["flowlake"], "rows_duckdb": rows["duckdb"],
                 "same_rows": same, "flowlake_s": statistics.median(times["flowlake"]),
                 "duckdb_s": statistics.median(times["duckdb"]), "flowlake_runs": times["flowlake"],
                 "duckdb_runs": times["duckdb"], "flowlake_peak_mib": peak["flowlake"], "duckdb_peak_mib": peak["duckdb"]}
            r["ratio"] = r["flowlake_s"] / r["duckdb_s"]
            results.append(r)
            print(f"{r['query']:42s} rows {r['rows_flowlake']:7d} {'same' if same else 'DIFFERENT':9s} "
                  f"flowlake {r['flowlake_s']:.4f}s duckdb {r['duckdb_s']:.4f}s ratio {r['ratio']:.2f}", flush=True)
    finally:
        for engine in engines:
            engine.stop()

    table = ["| query | rows | same rows | flowlake s | DuckDB s | ratio |", "|---|---:|---|---:|---:|---:|"]
    table += [f"| {r['query']} | {r['rows_flowlake']} | {'yes' if r['same_rows'] else 'NO'} | {r['flowlake_s']:.4f} | "
              f"{r['duckdb_s']:.4f} | {r['ratio']:.2f} |" for r in results]
    peaks = (f"peak memory of the engine processes: flowlake {max(r['flowlake_peak_mib'] for r in results):.0f} MiB, "
             f"DuckDB {max(r['duckdb_peak_mib'] for r in results):.0f} MiB") if results else ""
    print("\n" + "\n".join(table) + "\n\n" + peaks)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps({"lake": str(lake), "runs": args.runs, "queries": results}, indent=2))
        (args.out / "table.md").write_text("\n".join(table) + "\n\n" + peaks + "\n")
    if not all(r["same_rows"] for r in results):
        sys.exit("the engines' answers differ")


if __name__ == "__main__":
    main()
