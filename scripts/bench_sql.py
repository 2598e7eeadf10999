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

Before/after a change: `--baseline OLD_BIN --no-duckdb` times the old binary's `cairn query`
over the same files in the same run, alternating old and new on each repetition, and prints
the new/old ratio per query (JSON and Parquet); each binary compacts its own Parquet copy.
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import tempfile
import time


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
    ap.add_argument("--baseline", metavar="OLD_BIN",
                    help="time this older cairn binary too, alternating with --cairn (before/after)")
    ap.add_argument("--no-duckdb", action="store_true",
                    help="with --baseline: compare the two cairn binaries only")
    args = ap.parse_args()
    if args.baseline:
        return before_after(args)
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

        import duckdb

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


def before_after(args):
    """Times `--baseline` (old) and `--cairn` (new) over the same generated files, alternating the
    two on every repetition so that the machine's load falls on both alike; prints best-of-N
    wall times and new/old ratios, JSON and Parquet."""
    if not args.no_duckdb:
        raise SystemExit("--baseline needs --no-duckdb (DuckDB is the baseline of the plain run)")
    base = pathlib.Path(args.dir or tempfile.mkdtemp(prefix="cairn-sqlbench-"))
    logs = base / "logs"
    bins = {"old": args.baseline, "new": args.cairn}
    try:
        if not logs.exists():
            subprocess.run([args.cairn, "bench", "gen-logs", "--events", str(args.events),
                            "--per-file", str(PER_FILE), "--out", str(logs),
                            "--templates", str(DATA)], check=True)

        def run(which, *a):
            out = subprocess.run([bins[which], "query", "-q", "--format", "csv", *a],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"{which}: {out.stderr}")
            return out.stdout

        pq = {}
        for which in bins:
            pq[which] = base / f"parquet-{which}"
            shutil.rmtree(pq[which], ignore_errors=True)
            t = time.perf_counter()
            run(which, "--bucket-path", str(logs), "--parquet-dir", str(pq[which]), "--compact",
                "SELECT 1")
            print(f"{which}: compaction to Parquet {time.perf_counter() - t:.1f}s")
        print(f"\n{args.events:,} events, best of {args.repeat}, old and new alternating\n")
        print("| query | rows | old JSON s | new JSON s | new/old | old Parquet s | new Parquet s | new/old |")
        print("|---|---|---|---|---|---|---|---|")
        for name, csql, _, _ in QUERIES:
            if args.only and name not in args.only:
                continue
            times = {(w, k): [] for w in bins for k in ("json", "pq")}
            counts = set()
            for _ in range(args.repeat):
                for w in bins:
                    for k, extra in (("json", []), ("pq", ["--parquet-dir", str(pq[w])])):
                        t = time.perf_counter()
                        out = run(w, "--bucket-path", str(logs), *extra, csql)
                        times[(w, k)].append(time.perf_counter() - t)
                        counts.add(rows(out))
            if len(counts) != 1:
                raise SystemExit(f"{name}: old and new disagree on the number of rows: {counts}")
            b = {key: min(v) for key, v in times.items()}
            print(f"| {name} | {counts.pop()} | {b[('old', 'json')]:.2f} | {b[('new', 'json')]:.2f} | "
                  f"{b[('new', 'json')] / b[('old', 'json')]:.2f} | {b[('old', 'pq')]:.3f} | "
                  f"{b[('new', 'pq')]:.3f} | {b[('new', 'pq')] / b[('old', 'pq')]:.2f} |")
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
