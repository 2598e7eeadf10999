"""SQL over events (`cairn query`, the CloudTrail Lake API) compared with DuckDB reading the same
delivered log files and the same Parquet copy, on the shared real records."""

import datetime
import gzip
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import duckdb
import pytest

from conftest import CAIRN, ROOT_KEY, ROOT_SECRET, Cairn, error_code
from pipeline_oracle import real_records

ACCOUNT = "123837392027"
ORG_MEMBERS = ["123456789123", "111122223333", "123456789012", "838185438692"]
CONFIG = f"""
version = 1
account_id = "{ACCOUNT}"
home_region = "us-east-1"
regions = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1"]

[organization]
id = "o-cairntest01"
member_accounts = {json.dumps(ORG_MEMBERS)}

[delivery]
interval = "1s"
"""
ALL_EVENTS = [
    {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
    {"Name": "s3 objects", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]},
        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}]},
]
ACCESS_KEY = "AKIATFQR7NSC8Q4X20BJ"  # the most active key in the shared records
RESOURCE = "arn:aws:s3:::mordor-bucket-exfil"  # placeholder: replaced by the fixture's pick

# Investigation queries: (name, Cairn SQL over table T, DuckDB SQL over view ev (JSON-extracted
# columns), DuckDB SQL over view pq (the Parquet copy, typed columns)).
QUERIES = [
    (
        "top callers",
        "SELECT userIdentity.arn AS who, count(*) AS n FROM T WHERE userIdentity.arn IS NOT NULL "
        "GROUP BY userIdentity.arn ORDER BY n DESC, who LIMIT 10",
        "SELECT arn, count(*) AS n FROM ev WHERE arn IS NOT NULL GROUP BY arn ORDER BY n DESC, arn LIMIT 10",
        "SELECT userIdentity.arn AS who, count(*) AS n FROM pq WHERE userIdentity.arn IS NOT NULL "
        "GROUP BY who ORDER BY n DESC, who LIMIT 10",
    ),
    (
        "failed calls by user",
        "SELECT userIdentity.arn AS who, errorCode, count(*) AS n FROM T WHERE errorCode IS NOT NULL "
        "GROUP BY userIdentity.arn, errorCode",
        "SELECT arn, errorCode, count(*) FROM ev WHERE errorCode IS NOT NULL GROUP BY arn, errorCode",
        "SELECT userIdentity.arn, errorCode, count(*) FROM pq WHERE errorCode IS NOT NULL "
        "GROUP BY userIdentity.arn, errorCode",
    ),
    (
        "events on a resource",
        "SELECT DISTINCT eventID, eventName FROM (SELECT eventID, eventName, unnest(resources) AS r FROM T) "
        "WHERE r['ARN'] = '{resource}'",
        "SELECT DISTINCT eventID, eventName FROM ev WHERE list_contains(resource_arns, '{resource}')",
        "SELECT DISTINCT eventID, eventName FROM (SELECT eventID, eventName, unnest(resources) AS r FROM pq) "
        "WHERE r.ARN = '{resource}'",
    ),
    (
        "console logins without MFA",
        "SELECT eventID, userIdentity.arn, recipientAccountId FROM T WHERE eventName = 'ConsoleLogin' "
        "AND json_get(additionalEventData, 'MFAUsed') = 'No'",
        "SELECT eventID, arn, recipientAccountId FROM ev WHERE eventName = 'ConsoleLogin' AND mfaUsed = 'No'",
        "SELECT eventID, userIdentity.arn, recipientAccountId FROM pq WHERE eventName = 'ConsoleLogin' "
        "AND json_extract_string(additionalEventData, '$.MFAUsed') = 'No'",
    ),
    (
        "activity of one access key",
        f"SELECT eventSource, eventName, count(*) AS n FROM T WHERE userIdentity.accessKeyId = '{ACCESS_KEY}' "
        "GROUP BY eventSource, eventName",
        f"SELECT eventSource, eventName, count(*) FROM ev WHERE accessKeyId = '{ACCESS_KEY}' "
        "GROUP BY eventSource, eventName",
        f"SELECT eventSource, eventName, count(*) FROM pq WHERE userIdentity.accessKeyId = '{ACCESS_KEY}' "
        "GROUP BY eventSource, eventName",
    ),
    (
        "counts per account and day",
        "SELECT recipientAccountId, date_trunc('day', eventTime) AS d, count(*) FROM T GROUP BY 1, 2",
        "SELECT recipientAccountId, date_trunc('day', CAST(eventTime AS TIMESTAMP)), count(*) FROM ev GROUP BY 1, 2",
        "SELECT recipientAccountId, date_trunc('day', CAST(eventTime AS TIMESTAMP)), count(*) FROM pq GROUP BY 1, 2",
    ),
]


# The shared records are all older than this; the server's own events (audit records of the
# tests' API calls, data events of its own deliveries) are newer and keep arriving in the trail
# bucket and the store while the tests run, so both sides leave them out.
START = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def over(table):
    """The Cairn SQL's table T: the shared records only."""
    return f" (SELECT * FROM {table} WHERE eventTime < '{START}') AS t"


def norm(rows):
    """Rows as a sorted list of tuples of strings (None stays None); day timestamps as dates."""
    out = []
    for r in rows:
        t = []
        for v in (r.values() if isinstance(r, dict) else r):
            if v is None or v == "":
                t.append(None)
            else:
                s = str(v)
                # Timestamps: DuckDB prints "2023-07-10 00:00:00", Cairn "2023-07-10T00:00:00Z".
                if len(s) >= 19 and s[4] == "-" and s[10] in " T" and s[13] == ":":
                    s = s[:10] + " " + s[11:19]
                t.append(s)
        out.append(tuple(t))
    return sorted(out, key=lambda x: tuple((v is None, v or "") for v in x))


def duck_json(con, files_glob):
    con.execute(f"""
        CREATE OR REPLACE VIEW ev AS SELECT
          r->>'eventID' AS eventID, r->>'eventName' AS eventName, r->>'eventSource' AS eventSource,
          r->>'eventTime' AS eventTime, r->>'recipientAccountId' AS recipientAccountId,
          r->>'errorCode' AS errorCode,
          r->'userIdentity'->>'arn' AS arn, r->'userIdentity'->>'accessKeyId' AS accessKeyId,
          r->'additionalEventData'->>'MFAUsed' AS mfaUsed,
          CAST(json_extract_string(r, '$.resources[*].ARN') AS VARCHAR[]) AS resource_arns
        FROM (SELECT unnest(Records) AS r FROM read_json('{files_glob}', columns={{Records: 'JSON[]'}}))
        WHERE (r->>'eventTime') < '{START}'
    """)


@pytest.fixture(scope="module")
def lake():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cairn-lake-"))
    c = Cairn(tmp / "data", config=CONFIG)
    c.cli("bucket", "create", "all-logs")
    c.start()
    try:
        ct = c.client()
        ct.create_trail(Name="everything", S3BucketName="all-logs", IsMultiRegionTrail=True,
                        IsOrganizationTrail=True)
        ct.put_event_selectors(TrailName="everything", AdvancedEventSelectors=ALL_EVENTS)
        ct.start_logging(Name="everything")
        # Ten years of retention: the shared records are from 2023 (older rows are not visible).
        eds, _ = c.aws("cloudtrail", "create-event-data-store", "--name", "investigations",
                       "--retention-period", "3653",
                       "--advanced-event-selectors", json.dumps(ALL_EVENTS))
        recs = []
        for _, r in real_records():
            if not r.get("awsRegion"):
                continue  # the one shared record without a region is refused by ingest
            r = dict(r)
            r.setdefault("recipientAccountId", ACCOUNT)
            recs.append(r)
        f = tmp / "records.ndjson"
        f.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ROOT_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
                   AWS_ENDPOINT_URL=c.endpoint)
        subprocess.run([CAIRN, "ingest", "-q", str(f)], env=env, check=True, capture_output=True)
        # Delivered when the bucket's count stops changing.
        last, stable, deadline = -1, 0, time.time() + 90
        while time.time() < deadline:
            n = int(json.loads(query_cli("--data-dir", str(c.data_dir), "--format", "json",
                                         "SELECT count(*) AS n FROM" + over("events")))[0]["n"])
            stable = stable + 1 if n == last and n > 0 else 0
            last = n
            if stable >= 6:
                break
            time.sleep(0.5)
        assert last > 2000, last
        # Export the delivered objects as plain files (what `aws s3 sync` of the bucket gives).
        export = tmp / "export"
        keys = c.cli("bucket", "ls", "all-logs").stdout.split()
        for k in keys:
            data = subprocess.run(
                [CAIRN, "bucket", "get", "all-logs", k, "--data-dir", str(c.data_dir),
                 "--config", str(c.config_path)], capture_output=True, check=True).stdout
            p = export / k
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        con = duckdb.connect()
        duck_json(con, f"{export}/**/*.json.gz")
        (resource,) = con.execute(
            "SELECT a FROM (SELECT unnest(resource_arns) AS a FROM ev) GROUP BY a ORDER BY count(*) DESC, a LIMIT 1"
        ).fetchone()
        c.lake = dict(tmp=tmp, export=export, con=con, eds=eds, resource=resource, delivered=last)
        yield c
    finally:
        c.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def query_cli(*args, check=True):
    out = subprocess.run([CAIRN, "query", "-q", *args], capture_output=True, text=True, timeout=120)
    if check:
        assert out.returncode == 0, out.stderr
        return out.stdout
    return out


def cairn_rows(*args, sql):
    return json.loads(query_cli("--format", "json", *args, sql))


def api_rows(c, sql, page=None):
    ct = c.client()
    qid = ct.start_query(QueryStatement=sql)["QueryId"]
    deadline = time.time() + 60
    while True:
        d = ct.describe_query(QueryId=qid)
        if d["QueryStatus"] not in ("QUEUED", "RUNNING"):
            break
        assert time.time() < deadline
        time.sleep(0.2)
    assert d["QueryStatus"] == "FINISHED", d
    rows, kw = [], {}
    while True:
        if page:
            kw["MaxQueryResults"] = page
        r = ct.get_query_results(QueryId=qid, **kw)
        for row in r["QueryResultRows"]:
            rows.append([list(cell.values())[0] for cell in row])
        if "NextToken" not in r:
            return rows, qid
        kw["NextToken"] = r["NextToken"]


@pytest.mark.parametrize("name,cairn_sql,duck_sql,_pq", QUERIES, ids=[q[0] for q in QUERIES])
def test_cli_over_delivered_json_matches_duckdb(lake, name, cairn_sql, duck_sql, _pq):
    L = lake.lake
    duck = L["con"].execute(duck_sql.format(resource=L["resource"])).fetchall()
    assert duck, f"{name}: the oracle found nothing; the query proves nothing"
    sql = cairn_sql.replace(" T", over("events")).format(resource=L["resource"])
    got = cairn_rows("--bucket-path", str(L["export"]), sql=sql)
    assert norm(got) == norm(duck)
    # The same through the server's data directory (its local bucket, read offline).
    got = cairn_rows("--data-dir", str(lake.data_dir), sql=sql)
    assert norm(got) == norm(duck)


@pytest.mark.parametrize("name,cairn_sql,duck_sql,pq_sql", QUERIES, ids=[q[0] for q in QUERIES])
def test_parquet_copy_matches_duckdb_over_json_and_parquet(lake, name, cairn_sql, duck_sql, pq_sql):
    L = lake.lake
    pdir = L["tmp"] / "parquet"
    sql = cairn_sql.replace(" T", over("events")).format(resource=L["resource"])
    got = cairn_rows("--bucket-path", str(L["export"]), "--parquet-dir", str(pdir), "--compact", sql=sql)
    manifest = json.loads((pdir / "_cairn_manifest.json").read_text())
    assert manifest["parquet"] and manifest["absorbed"]
    duck = L["con"].execute(duck_sql.format(resource=L["resource"])).fetchall()
    assert norm(got) == norm(duck)
    # DuckDB reads the Parquet copy itself and gets the same answers.
    con = duckdb.connect()
    con.execute(f"CREATE VIEW pq AS SELECT * FROM read_parquet('{pdir}/**/*.parquet', hive_partitioning=false) "
                f"WHERE eventTime < TIMESTAMPTZ '{START}'")
    assert norm(con.execute(pq_sql.format(resource=L["resource"])).fetchall()) == norm(duck)


@pytest.mark.parametrize("name,cairn_sql,duck_sql,_pq", QUERIES, ids=[q[0] for q in QUERIES])
def test_lake_api_over_the_event_data_store(lake, name, cairn_sql, duck_sql, _pq):
    """The event data store (same selectors as the trail, but only the caller's account) gives
    DuckDB's answers restricted to that account."""
    L = lake.lake
    eds_id = L["eds"]["EventDataStoreArn"].rsplit("/", 1)[1]
    con = L["con"]
    # The store keeps the account's events within its retention period (3653 days, by eventTime:
    # a few AWS documentation examples are older).
    cutoff = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=3653)).strftime("%Y-%m-%dT%H:%M:%SZ")
    in_store = f"recipientAccountId = '{ACCOUNT}' AND eventTime >= '{cutoff}'"
    duck_acct = duck_sql.replace("FROM ev ", f"FROM (SELECT * FROM ev WHERE {in_store}) ev ").format(
        resource=L["resource"])
    expected = con.execute(duck_acct).fetchall()
    # Wait for the store's consumer to have every event of the account.
    n_acct = con.execute(f"SELECT count(*) FROM ev WHERE {in_store}").fetchone()[0]
    deadline = time.time() + 30
    while True:
        rows, _ = api_rows(lake, f"SELECT count(*) FROM {over(eds_id)}")
        if int(rows[0][0]) == n_acct or time.time() > deadline:
            break
        time.sleep(0.5)
    assert int(rows[0][0]) == n_acct
    sql = cairn_sql.replace(" T", over(eds_id)).format(resource=L["resource"])
    rows, _ = api_rows(lake, sql, page=7)
    assert norm(rows) == norm(expected)
    # By ARN too, and `events` is the caller's delivered files.
    arn_sql = cairn_sql.replace(" T", over(L['eds']['EventDataStoreArn'])).format(resource=L["resource"])
    rows, _ = api_rows(lake, arn_sql)
    assert norm(rows) == norm(expected)
    rows, _ = api_rows(lake, cairn_sql.replace(" T", over("events")).format(resource=L["resource"]))
    assert norm(rows) == norm(con.execute(duck_sql.format(resource=L["resource"])).fetchall())


def test_bad_sql_and_missing_stores(lake):
    ct = lake.client()
    eds_id = lake.lake["eds"]["EventDataStoreArn"].rsplit("/", 1)[1]
    with pytest.raises(Exception) as e:
        ct.start_query(QueryStatement=f"SELECT eventName FROM {eds_id} WHERE eventName = = 'x'")
    assert error_code(e.value) == "InvalidQueryStatementException"
    assert "Line: 1, Column" in str(e.value)
    with pytest.raises(Exception) as e:
        ct.start_query(QueryStatement="SELECT * FROM 00000000-1111-2222-3333-444444444444")
    assert error_code(e.value) == "EventDataStoreNotFoundException"
    with pytest.raises(Exception) as e:
        ct.start_query(QueryStatement=f"DROP TABLE {eds_id}")
    assert error_code(e.value) == "InvalidQueryStatementException"
    with pytest.raises(Exception) as e:
        ct.get_query_results(QueryId="00000000-1111-2222-3333-444444444444")
    assert error_code(e.value) == "QueryIdNotFoundException"
    # The CLI: one error line with the position, exit 1.
    out = query_cli("--bucket-path", str(lake.lake["export"]), "SELEC eventName FROM events", check=False)
    assert out.returncode == 1
    assert out.stderr.startswith("error:") and "Line: 1, Column" in out.stderr
    out = query_cli("--bucket-path", str(lake.lake["export"]), "SELECT * FROM nowhere", check=False)
    assert out.returncode == 1 and "nowhere" in out.stderr and "not found" in out.stderr


def test_event_data_store_lifecycle_with_the_aws_cli(lake):
    c = lake
    eds, _ = c.aws("cloudtrail", "create-event-data-store", "--name", "short-lived",
                   "--retention-period", "30")
    arn = eds["EventDataStoreArn"]
    assert eds["Status"] == "ENABLED" and eds["TerminationProtectionEnabled"] is True
    assert eds["RetentionPeriod"] == 30 and eds["MultiRegionEnabled"] is True
    assert eds["AdvancedEventSelectors"][0]["FieldSelectors"] == [
        {"Field": "eventCategory", "Equals": ["Management"]}]
    got, _ = c.aws("cloudtrail", "get-event-data-store", "--event-data-store", arn)
    assert got["Name"] == "short-lived"
    listed, _ = c.aws("cloudtrail", "list-event-data-stores")
    assert {"investigations", "short-lived"} <= {s["Name"] for s in listed["EventDataStores"]}
    _, out = c.aws("cloudtrail", "create-event-data-store", "--name", "short-lived", check=False)
    assert "EventDataStoreAlreadyExistsException" in out.stderr
    # Queries: start, describe, results (paged by the CLI), list, cancel a finished one.
    q, _ = c.aws("cloudtrail", "start-query", "--query-statement",
                 f"SELECT eventName, count(*) AS n FROM {lake.lake['eds']['EventDataStoreArn']} "
                 "GROUP BY eventName ORDER BY n DESC, eventName LIMIT 5")
    qid = q["QueryId"]
    for _ in range(100):
        d, _ = c.aws("cloudtrail", "describe-query", "--query-id", qid)
        if d["QueryStatus"] not in ("QUEUED", "RUNNING"):
            break
        time.sleep(0.2)
    assert d["QueryStatus"] == "FINISHED" and d["QueryString"].startswith("SELECT eventName")
    assert d["QueryStatistics"]["EventsScanned"] > 0
    res, _ = c.aws("cloudtrail", "get-query-results", "--query-id", qid)
    assert res["QueryStatus"] == "FINISHED" and len(res["QueryResultRows"]) == 5
    assert [list(cell) for cell in res["QueryResultRows"][0]] == [["eventName"], ["n"]]
    assert res["QueryStatistics"]["TotalResultsCount"] == 5
    lq, _ = c.aws("cloudtrail", "list-queries", "--event-data-store", lake.lake["eds"]["EventDataStoreArn"])
    assert qid in [x["QueryId"] for x in lq["Queries"]]
    _, out = c.aws("cloudtrail", "cancel-query", "--query-id", qid, check=False)
    assert "InactiveQueryException" in out.stderr
    # Deletion: termination protection first, then PENDING_DELETION, which takes no queries.
    _, out = c.aws("cloudtrail", "delete-event-data-store", "--event-data-store", arn, check=False)
    assert "EventDataStoreTerminationProtectedException" in out.stderr
    upd, _ = c.aws("cloudtrail", "update-event-data-store", "--event-data-store", arn,
                   "--no-termination-protection-enabled")
    assert upd["TerminationProtectionEnabled"] is False
    c.aws("cloudtrail", "delete-event-data-store", "--event-data-store", arn)
    got, _ = c.aws("cloudtrail", "get-event-data-store", "--event-data-store", arn)
    assert got["Status"] == "PENDING_DELETION"
    _, out = c.aws("cloudtrail", "start-query", "--query-statement", f"SELECT count(*) FROM {arn}", check=False)
    assert "InactiveEventDataStoreException" in out.stderr
    _, out = c.aws("cloudtrail", "get-event-data-store", "--event-data-store",
                   "00000000-1111-2222-3333-444444444444", check=False)
    assert "EventDataStoreNotFoundException" in out.stderr


def test_cli_through_the_server_and_output_formats(lake):
    eds_id = lake.lake["eds"]["EventDataStoreArn"].rsplit("/", 1)[1]
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ROOT_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET)
    sql = f"SELECT eventName, count(*) AS n FROM {over(eds_id)} GROUP BY eventName ORDER BY n DESC, eventName LIMIT 3"
    out = subprocess.run([CAIRN, "query", "--endpoint-url", lake.endpoint, "--format", "csv", sql],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "eventName,n" and len(lines) == 4
    offline = query_cli("--data-dir", str(lake.data_dir), "--format", "csv", sql)
    assert offline.splitlines() == lines
    table = query_cli("--data-dir", str(lake.data_dir), "--format", "table", sql)
    assert "| eventName" in table and "3 row(s)" in table
