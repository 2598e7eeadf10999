#!/usr/bin/env python3
"""SQL benchmark (issue 8): the investigation queries with `cairn query` over delivered JSON log
files and over their Parquet copy, against DuckDB over the same JSON files and the same Parquet
files, in the same run.

Generates N events (default 1,000,000; `--events`) from the shared real records, varied like the
history benchmark (eventID, eventTime over 90 days, user names, role sessions, access keys), as
gzip `{"Records":[...]}` log files of 2,000 records in CloudTrail's layout, then times each query
(best of `--repeat` runs, wall clock; `cairn query` as a process, DuckDB in process).

    cargo build --release -p cairn
    python3 scripts/bench_sql.py --events 1000000 [--cairn target/release/cairn] [--dir /tmp/x]
"""

import argparse
import datetime
import glob
import gzip
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import duckdb

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "cloudtrail"
ACCOUNT = "123456789012"
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
     "SELECT eventID, eventName FROM events WHERE json_get(requestParameters, 'bucketName') = 'mordor-bucket-exfil'",
     "SELECT r->>'eventID', r->>'eventName' FROM ev WHERE r->'requestParameters'->>'bucketName' = 'mordor-bucket-exfil'",
     "SELECT eventID, eventName FROM pq WHERE json_extract_string(requestParameters, '$.bucketName') = 'mordor-bucket-exfil'"),
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


def templates():
    out = []
    for f in sorted(glob.glob(str(DATA / "invictus-ir-sigma-aws" / "*.json"))):
        out += json.load(open(f))["Records"]
    for f in sorted(glob.glob(str(DATA / "otrf-security-datasets" / "*.json"))):
        for line in open(f):
            if line.strip():
                r = json.loads(line)
                if "eventTime" not in r and "@timestamp" in r:
                    r["eventTime"] = r["@timestamp"][:19] + "Z"
                out.append(r)
    for line in open(DATA / "aws-docs-examples" / "cloudtrail_user_guide_examples.ndjson"):
        if line.strip():
            out.append(json.loads(line)["record"])
    return [r for r in out if isinstance(r.get("eventName"), str)]


def generate(root, n):
    tpl = [json.dumps(t) for t in templates()]
    end = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
    span = 90 * 86400
    batch, files = [], 0
    for i in range(n):
        r = json.loads(tpl[i % len(tpl)])
        t = end - datetime.timedelta(seconds=span * (n - 1 - i) // max(n, 1))
        r["eventID"] = f"{i & 0xffffffff:08x}-0000-4{i % 4096:03x}-8{(i // 4096) % 4096:03x}-{(i * 2654435761) % (1 << 48):012x}"
        r["eventTime"] = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        r["awsRegion"] = "us-east-1"
        r["recipientAccountId"] = ACCOUNT
        u = i % 500
        ui = r.get("userIdentity")
        if isinstance(ui, dict):
            if ui.get("type") == "IAMUser":
                ui["userName"] = f"user-{u}"
                ui["arn"] = f"arn:aws:iam::{ACCOUNT}:user/user-{u}"
            elif ui.get("type") == "AssumedRole":
                ui["arn"] = f"arn:aws:sts::{ACCOUNT}:assumed-role/role-{u % 20}/session-{u}"
            if "accessKeyId" in ui:
                ui["accessKeyId"] = f"AKIA{i % 5000:016d}"
        batch.append(r)
        if len(batch) == PER_FILE or i == n - 1:
            day = t.strftime("%Y/%m/%d")
            d = root / "AWSLogs" / ACCOUNT / "CloudTrail" / "us-east-1" / day
            d.mkdir(parents=True, exist_ok=True)
            name = f"{ACCOUNT}_CloudTrail_us-east-1_{t.strftime('%Y%m%dT%H%MZ')}_{files:016d}.json.gz"
            with gzip.open(d / name, "wt", compresslevel=6) as f:
                json.dump({"Records": batch}, f)
            batch, files = [], files + 1
    return files


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cairn", default=os.environ.get("CAIRN_BIN") or str(
        pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "cairn"))
    ap.add_argument("--dir")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    base = pathlib.Path(args.dir or tempfile.mkdtemp(prefix="cairn-sqlbench-"))
    logs, pq = base / "logs", base / "parquet"
    try:
        if not logs.exists():
            t = time.perf_counter()
            files = generate(logs, args.events)
            print(f"generated {args.events:,} events in {files} files in {time.perf_counter() - t:.1f}s")
        size = sum(p.stat().st_size for p in logs.rglob("*.json.gz"))
        print(f"delivered JSON: {size / 1e6:.1f} MB gzip")

        def cairn(*a):
            out = subprocess.run([args.cairn, "query", "-q", "--format", "csv", *a],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(out.stderr)
            return out.stdout

        shutil.rmtree(pq, ignore_errors=True)
        t = time.perf_counter()
        cairn("--bucket-path", str(logs), "--parquet-dir", str(pq), "--compact", "SELECT 1")
        compact_s = time.perf_counter() - t
        psize = sum(p.stat().st_size for p in pq.rglob("*.parquet"))
        print(f"compaction to Parquet: {compact_s:.1f}s, {psize / 1e6:.1f} MB")

        con = duckdb.connect()
        con.execute(f"CREATE VIEW ev AS SELECT unnest(Records) AS r FROM "
                    f"read_json('{logs}/**/*.json.gz', columns={{Records: 'JSON[]'}})")
        con.execute(f"CREATE VIEW pq AS SELECT * FROM read_parquet('{pq}/**/*.parquet', hive_partitioning=false)")
        print(f"duckdb {duckdb.__version__}, {args.events:,} events, best of {args.repeat}\n")
        print("| query | DuckDB JSON s | cairn JSON s | cairn JSON / DuckDB JSON | DuckDB Parquet s | "
              "cairn Parquet s | cairn Parquet / DuckDB Parquet | cairn Parquet / DuckDB JSON |")
        print("|---|---|---|---|---|---|---|---|")
        for name, csql, dsql, psql in QUERIES:
            dj = best(lambda: con.execute(dsql).fetchall(), args.repeat)
            cj = best(lambda: cairn("--bucket-path", str(logs), csql), args.repeat)
            dp = best(lambda: con.execute(psql).fetchall(), args.repeat)
            cp = best(lambda: cairn("--bucket-path", str(logs), "--parquet-dir", str(pq), csql), args.repeat)
            print(f"| {name} | {dj:.2f} | {cj:.2f} | {cj / dj:.2f} | {dp:.3f} | {cp:.3f} | {cp / dp:.2f} | {cp / dj:.3f} |")
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
