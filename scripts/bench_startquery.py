#!/usr/bin/env python3
"""StartQuery over a local bucket (issue 15): the time from StartQuery to the last page of
GetQueryResults for a few queries over `events`, median of `--repeat` runs each.

Starts `cairn serve` (the binary given, so the same script times two builds), creates a local
bucket and a trail into it, ingests N synthetic events (`cairn ingest`), waits until the trail
has delivered them all, then times the queries through the CloudTrail Lake API (boto3). With
`--compact-wait S` it then waits S seconds (the server's compactor runs every
`CAIRN_LAKE_COMPACT_SECS`, set to 2 here) and times the queries again (the Parquet copy).

    python3 scripts/bench_startquery.py /work/bin/cairn-after-debug --events 20000
    python3 scripts/bench_startquery.py target/debug/cairn --events 20000 --compact-wait 10
"""

import argparse
import datetime
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid

import boto3
import botocore.config

ACCOUNT = "111111111111"
KEY = "AKIACAIRNBENCHROOT01"
SECRET = "cairn-bench-root-secret-0123456789abcdef"
CONFIG = f"""
version = 1
account_id = "{ACCOUNT}"
home_region = "us-east-1"
regions = ["us-east-1"]

[delivery]
interval = "1s"
"""
ALL = [{"Name": "management",
        "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]
# Bench events are dated before the server started, so the server's own audit events (which
# keep arriving) are left out by the WHERE clause and the counts are stable.
CUTOFF = "2026-01-01T00:00:00Z"
QUERIES = [
    ("count", f"SELECT count(*) AS n FROM events WHERE eventTime < '{CUTOFF}'"),
    ("top callers", "SELECT userIdentity.arn AS who, count(*) AS n FROM events "
     f"WHERE eventTime < '{CUTOFF}' GROUP BY 1 ORDER BY n DESC, who LIMIT 10"),
    ("one key", "SELECT eventName, count(*) AS n FROM events WHERE userIdentity.accessKeyId = "
     f"'AKIA0000000000000042' AND eventTime < '{CUTOFF}' GROUP BY 1 ORDER BY 1"),
]


def records(n):
    t0 = datetime.datetime(2025, 6, 1, tzinfo=datetime.timezone.utc)
    names = ["GetObject", "PutObject", "DescribeInstances", "AssumeRole", "ListBuckets"]
    for i in range(n):
        user = f"user{i % 97}"
        yield {
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "principalId": f"AIDA{i % 97:016d}",
                             "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
                             "accountId": ACCOUNT, "accessKeyId": f"AKIA{i % 211:016d}",
                             "userName": user},
            "eventTime": (t0 + datetime.timedelta(seconds=37 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": "ec2.amazonaws.com",
            "eventName": names[i % len(names)],
            "awsRegion": "us-east-1",
            "sourceIPAddress": f"198.51.100.{i % 250}",
            "userAgent": "bench/1.0",
            "requestParameters": {"instanceId": f"i-{i:017x}", "n": i},
            "responseElements": None,
            "requestID": str(uuid.uuid4()),
            "eventID": str(uuid.uuid4()),
            "readOnly": i % 3 == 0,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
        }


class Server:
    def __init__(self, binary, tmp):
        self.binary, self.data = binary, tmp / "data"
        self.config = tmp / "cairn.toml"
        self.config.write_text(CONFIG)
        self.env = dict(os.environ, CAIRN_ROOT_ACCESS_KEY_ID=KEY, CAIRN_ROOT_SECRET_ACCESS_KEY=SECRET,
                        CAIRN_LOG="warn", CAIRN_LAKE_COMPACT_SECS="2")
        self.proc = None

    def cli(self, *args):
        subprocess.run([self.binary, *args, "--data-dir", str(self.data), "--config",
                        str(self.config)], env=self.env, check=True, capture_output=True)

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data),
             "--config", str(self.config)],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            raise SystemExit(f"server did not start: {line!r}")
        self.endpoint = "http://" + line.split()[-1]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def client(self):
        return boto3.client("cloudtrail", region_name="us-east-1", endpoint_url=self.endpoint,
                            aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                            config=botocore.config.Config(retries={"max_attempts": 1}))


def run_query(ct, sql, timeout=600):
    """Seconds from StartQuery to the last page of GetQueryResults, and the rows."""
    t = time.perf_counter()
    qid = ct.start_query(QueryStatement=sql)["QueryId"]
    deadline = time.time() + timeout
    while True:
        r = ct.get_query_results(QueryId=qid)
        status = r["QueryStatus"]
        if status in ("FAILED", "CANCELLED", "TIMED_OUT"):
            raise SystemExit(f"query {status}: {r.get('ErrorMessage')}")
        if status == "FINISHED":
            rows = r.get("QueryResultRows", [])
            while r.get("NextToken"):
                r = ct.get_query_results(QueryId=qid, NextToken=r["NextToken"])
                rows += r.get("QueryResultRows", [])
            return time.perf_counter() - t, rows
        if time.time() > deadline:
            raise SystemExit("query timed out")
        time.sleep(0.01)


def count(ct):
    _, rows = run_query(ct, QUERIES[0][1])
    return int(rows[0][0]["n"]) if rows else 0


def time_queries(ct, repeat, label):
    out = {}
    for name, sql in QUERIES:
        times = [run_query(ct, sql)[0] for _ in range(repeat)]
        out[name] = statistics.median(times)
        print(f"{label:8} {name:12} median {out[name] * 1000:9.1f} ms  "
              f"(runs: {', '.join(f'{x * 1000:.0f}' for x in times)})", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary", help="path to the cairn binary to time")
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compact-wait", type=float, default=0.0,
                    help="after the JSON timings, wait this long for the compactor and time again")
    ap.add_argument("--json", help="write the medians (seconds) to this file")
    args = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cairn-bench-sq-"))
    server = Server(os.path.abspath(args.binary), tmp)
    result = {"binary": args.binary, "events": args.events}
    try:
        server.cli("bucket", "create", "bench-logs")
        server.start()
        ct = server.client()
        ct.create_trail(Name="bench", S3BucketName="bench-logs", IsMultiRegionTrail=True)
        ct.put_event_selectors(TrailName="bench", AdvancedEventSelectors=ALL)
        ct.start_logging(Name="bench")
        f = tmp / "records.ndjson"
        with f.open("w") as out:
            for r in records(args.events):
                out.write(json.dumps(r) + "\n")
        env = dict(server.env, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET,
                   AWS_ENDPOINT_URL=server.endpoint)
        t = time.time()
        subprocess.run([server.binary, "ingest", "-q", str(f)], env=env, check=True,
                       capture_output=True)
        deadline = time.time() + 600
        while (n := count(ct)) < args.events:
            if time.time() > deadline:
                raise SystemExit(f"only {n} of {args.events} events delivered")
            time.sleep(1)
        print(f"{args.events} events ingested and delivered in {time.time() - t:.1f} s", flush=True)
        result["json"] = time_queries(ct, args.repeat, "json")
        if args.compact_wait > 0:
            time.sleep(args.compact_wait)
            result["after_compaction"] = time_queries(ct, args.repeat, "compact")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
