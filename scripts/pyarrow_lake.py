#!/usr/bin/env python3
"""Rewrites a lake's event files as pyarrow writes them, for benchmarks on layouts flowlake
did not write.

Each organization-day of SOURCE (a lake `flowlake generate` wrote) is read whole, ordered by
(timestamp, event_id) and written to one file with `pyarrow.parquet.write_table` and
pyarrow's defaults but for the row-group size and codec a user would pick:
`row_group_size=65536, compression="zstd"` — dictionary encoding on every column, statistics
on every column, no bloom filters, strings as plain `string`. Variants other writers produce:

    defaults          as above
    plain             use_dictionary=False (every string column plain-encoded)
    no-string-stats   statistics only on the columns that are not strings (timestamp, value)

The catalog files (workflows.json, goals.json) are copied. Example:

    target/release/flowlake generate --out /work/bench/gen --orgs 4 --days 30 \\
        --events-per-day 172000 --seed 11 --sort-by time --codec zstd --no-bloom-filters
    scripts/pyarrow_lake.py --source /work/bench/gen --out /work/bench/pyarrow --variant defaults
"""

import argparse
import multiprocessing
import shutil
import sys
from pathlib import Path

VARIANTS = ("defaults", "plain", "no-string-stats")


def writer_options(variant, schema):
    import pyarrow as pa

    options = {"row_group_size": 65536, "compression": "zstd"}
    if variant == "plain":
        options["use_dictionary"] = False
    elif variant == "no-string-stats":
        def has_strings(t):
            return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_list(t)

        options["write_statistics"] = [f.name for f in schema if not has_strings(f.type)]
    return options


def plain_strings(table):
    """Strings as pyarrow users hold them (`string`), whatever view type the source had."""
    import pyarrow as pa

    def plain(t):
        if pa.types.is_string_view(t) or pa.types.is_large_string(t):
            return pa.string()
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            return pa.list_(pa.field("item", plain(t.value_type)))
        return t

    schema = pa.schema([f.with_type(plain(f.type)) for f in table.schema])
    return table.cast(schema)


def rewrite_day(job):
    import pyarrow as pa
    import pyarrow.parquet as pq

    source_day, target_day, variant = job
    files = sorted(f for f in source_day.glob("*.parquet") if not f.name.startswith((".", "_")))
    table = plain_strings(pa.concat_tables(pq.read_table(f) for f in files))
    table = table.sort_by([("timestamp", "ascending"), ("event_id", "ascending")])
    target_day.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, target_day / "part-0.parquet", **writer_options(variant, table.schema))
    return table.num_rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", type=Path, required=True, help="a lake written by `flowlake generate`")
    ap.add_argument("--out", type=Path, required=True, help="the lake to write (must not exist)")
    ap.add_argument("--variant", choices=VARIANTS, default="defaults")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    if args.out.exists():
        sys.exit(f"{args.out} exists; remove it first")
    jobs = []
    for org in sorted((args.source / "events").glob("organization_id=*")):
        for day in sorted(org.glob("date=*")):
            jobs.append((day, args.out / "events" / org.name / day.name, args.variant))
    for catalog in sorted(args.source.glob("*.json")):
        args.out.mkdir(parents=True, exist_ok=True)
        shutil.copy(catalog, args.out / catalog.name)
    with multiprocessing.Pool(args.jobs) as pool:
        rows = sum(pool.imap_unordered(rewrite_day, jobs))
    print(f"{args.out}: {len(jobs)} days, {rows} events, variant {args.variant}")


if __name__ == "__main__":
    main()
