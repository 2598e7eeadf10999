#!/usr/bin/env python3
"""SQL benchmark (issue 8): the investigation queries with `cairn query` over delivered JSON log
files and over their Parquet copy, against DuckDB over the same JSON files and the same Parquet
files, in the same run.

Generates N events (default 1,000,000; `--events`) with `cairn bench gen-logs`: the shared real
records with varied eventID, eventTime over 90 days, user names, role sessions and access keys
(the generator of the history benchmark), as gzip `{"Records":[...]}` log files of 2,000 records
in CloudTrail's layout. Then times each query (best of `--repeat` runs, wall clock; `cairn query`
as a process, DuckDB in process).

    cargo build --release -p cairn
    python3 scripts/bench_sql.py --events 1000000 [--cairn target/release/cairn] [--dir /tmp/x]
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import duckdb

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "cloudtrail"
PER_FILE = 2000

QUERIES = [
    ("top callers",
     "SELECT userIdentity.arn AS who, count(*) AS n FROM events WHERE userIdentity.arn IS NOT NULL "
     "GROUP BY userIdentity.arn ORDER BY n DESC, who LIMIT 10",
     "SELECT r->'userIdentity'->>'arn' AS who, count(*) AS n FROM ev WHERE who IS NOT NULL "
     "GROUP BY who ORDER BY n DESC, who LIMIT 10",
     "SELECT userIdentity.arn AS who, count(*) AS n FROM pq WHERE who IS NOT NULL "
     "GROUP BY who ORDER BY n DESC, who LIMIT 10"),
    ("failed calls by user",
     "SELECT userIdentity.arn, errorCode, count(*) FROM events WHERE errorCode IS NOT NULL GROUP BY 1, 2",
     "SELECT r->'userIdentity'->>'arn', r->>'errorCode' AS e, count(*) FROM ev WHERE e IS NOT NULL GROUP BY 1, 2",
     "SELECT userIdentity.arn, errorCode, count(*) FROM pq WHERE errorCode IS NOT NULL GROUP BY 1, 2"),
    ("events on a resource",
     "SELECT eventID, eventName FROM events WHERE json_get(requestParameters, 'bucketName') = 'stratus-red-team-ctlr-bucket-zqfsvooxqj'",
     "SELECT r->>'eventID', r->>'eventName' FROM ev WHERE r->'requestParameters'->>'bucketName' = 'stratus-red-team-ctlr-bucket-zqfsvooxqj'",
     "SELECT eventID, eventName FROM pq WHERE json_extract_string(requestParameters, '$.bucketName') = 'stratus-red-team-ctlr-bucket-zqfsvooxqj'"),
    ("console logins without MFA",
     "SELECT eventID, userIdentity.arn FROM events WHERE eventName = 'ConsoleLogin' "
     "AND json_get(additionalEventData, 'MFAUsed') = 'No'",
     "SELECT r->>'eventID', r->'userIdentity'->>'arn' FROM ev WHERE r->>'eventName' = 'ConsoleLogin' "
     "AND r->'additionalEventData'->>'MFAUsed' = 'No'",
     "SELECT eventID, userIdentity.arn FROM pq WHERE eventName = 'ConsoleLogin' "
     "AND json_extract_string(additionalEventData, '$.MFAUsed') = 'No'"),
    ("activity of one access key",
     "SELECT eventSource, eventName, count(*) FROM events WHERE userIdentity.accessKeyId = 'AKIA0000000000000042' GROUP BY 1, 2",
     "SELECT r->>'eventSource', r->>'eventName', count(*) FROM ev "
     "WHERE r->'userIdentity'->>'accessKeyId' = 'AKIA0000000000000042' GROUP BY 1, 2",
     "SELECT eventSource, eventName, count(*) FROM pq WHERE userIdentity.accessKeyId = 'AKIA0000000000000042' GROUP BY 1, 2"),
]


LAST = {}


def best(fn, repeat):
    """Best wall time of `repeat` runs of fn; fn's last result is kept in LAST["out"]."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        LAST["out"] = fn()
        times.append(time.perf_counter() - t)
    return min(times)


def rows(out):
    """Result rows of a DuckDB fetchall() or of `cairn query --format csv` output."""
    return len(out) if isinstance(out, list) else max(len(out.splitlines()) - 1, 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cairn", default=os.environ.get("CAIRN_BIN") or str(
        pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "cairn"))
    ap.add_argument("--dir")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--json-repeat", type=int,
                    help="runs of the queries over JSON (default: --repeat); at 10 M events one "
                         "DuckDB JSON run takes minutes")
    ap.add_argument("--only", action="append", metavar="QUERY",
                    help="run only this query (by name; repeatable)")
    ap.add_argument("--parquet-only", action="store_true",
                    help="time only the Parquet columns (the JSON columns print as nan)")
    ap.add_argument("--reuse-parquet", action="store_true",
                    help="keep a Parquet copy already in --dir (made by an earlier run) instead of "
                         "compacting again")
    args = ap.parse_args()
    base = pathlib.Path(args.dir or tempfile.mkdtemp(prefix="cairn-sqlbench-"))
    logs, pq = base / "logs", base / "parquet"
    try:
        if not logs.exists():
            # Generated in Rust (cairn_logfile::synth, the events of the history benchmark too).
            subprocess.run([args.cairn, "bench", "gen-logs", "--events", str(args.events),
                            "--per-file", str(PER_FILE), "--out", str(logs),
                            "--templates", str(DATA)], check=True)
        size = sum(p.stat().st_size for p in logs.rglob("*.json.gz"))
        print(f"delivered JSON: {size / 1e6:.1f} MB gzip")

        def cairn(*a):
            out = subprocess.run([args.cairn, "query", "-q", "--format", "csv", *a],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(out.stderr)
            return out.stdout

        if args.reuse_parquet and (pq / "_cairn_manifest.json").exists():
            print("compaction to Parquet: reused the copy of an earlier run")
        else:
            shutil.rmtree(pq, ignore_errors=True)
            t = time.perf_counter()
            cairn("--bucket-path", str(logs), "--parquet-dir", str(pq), "--compact", "SELECT 1")
            print(f"compaction to Parquet: {time.perf_counter() - t:.1f}s")
        psize = sum(p.stat().st_size for p in pq.rglob("*.parquet"))
        print(f"Parquet copy: {psize / 1e6:.1f} MB")
        # What every `cairn query` pays before scanning: process start, listing the files,
        # loading the manifest, planning.
        startup = best(lambda: cairn("--bucket-path", str(logs), "--parquet-dir", str(pq),
                                     "SELECT 1"), args.repeat)
        print(f"cairn query start-up (SELECT 1 over the same source): {startup:.3f}s")

        con = duckdb.connect()
        con.execute(f"CREATE VIEW ev AS SELECT unnest(Records) AS r FROM "
                    f"read_json('{logs}/**/*.json.gz', columns={{Records: 'JSON[]'}})")
        con.execute(f"CREATE VIEW pq AS SELECT * FROM read_parquet('{pq}/**/*.parquet', hive_partitioning=false)")
        jrep = args.json_repeat or args.repeat
        print(f"duckdb {duckdb.__version__}, {args.events:,} events, best of {jrep} (JSON) "
              f"and {args.repeat} (Parquet)\n")
        print("| query | rows | DuckDB JSON s | cairn JSON s | cairn JSON / DuckDB JSON | DuckDB Parquet s | "
              "cairn Parquet s | cairn Parquet / DuckDB Parquet | cairn Parquet / DuckDB JSON |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, csql, dsql, psql in QUERIES:
            if args.only and name not in args.only:
                continue
            counts = []
            dj = cj = float("nan")
            if not args.parquet_only:
                dj = best(lambda: con.execute(dsql).fetchall(), jrep)
                counts.append(rows(LAST["out"]))
                cj = best(lambda: cairn("--bucket-path", str(logs), csql), jrep)
                counts.append(rows(LAST["out"]))
            dp = best(lambda: con.execute(psql).fetchall(), args.repeat)
            counts.append(rows(LAST["out"]))
            cp = best(lambda: cairn("--bucket-path", str(logs), "--parquet-dir", str(pq), csql), args.repeat)
            counts.append(rows(LAST["out"]))
            if len(set(counts)) != 1:
                raise SystemExit(f"{name}: the engines disagree on the number of rows: {counts}")
            print(f"| {name} | {counts[0]} | {dj:.2f} | {cj:.2f} | {cj / dj:.2f} | {dp:.3f} | {cp:.3f} | {cp / dp:.2f} | {cp / dj:.3f} |")
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
