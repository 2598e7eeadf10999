"""LookupEvents over the journal-fed index, compared with a brute-force scan."""

import datetime
import json
import os
import subprocess
import time
import uuid

import pytest

from conftest import CAIRN, ROOT_KEY, ROOT_SECRET, Cairn
from pipeline_oracle import category, real_records

ACCOUNT = "123837392027"
CONFIG = f"""
version = 1
account_id = "{ACCOUNT}"
regions = ["us-east-1", "us-west-2"]
"""


def username(r):
    ui = r.get("userIdentity", {})
    t = ui.get("type")
    if t == "Root":
        return "root"
    if t == "IAMUser":
        return ui.get("userName") or ui.get("arn")
    if t == "AssumedRole":
        arn = ui.get("arn", "")
        return arn.rsplit("/", 1)[-1] if "/" in arn else ui.get("principalId", "").split(":")[-1]
    return None


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hist")
    c = Cairn(tmp / "data", config=CONFIG)
    c.start()
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    recs = []
    for i, (_, r) in enumerate(x for x in real_records() if x[0] == "invictus"):
        r = dict(r)
        r["eventTime"] = (now - datetime.timedelta(minutes=3 * i + 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        r["eventID"] = str(uuid.uuid4())
        recs.append(r)
    f = tmp / "recent.ndjson"
    f.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ROOT_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET, AWS_ENDPOINT_URL=c.endpoint)
    subprocess.run([CAIRN, "ingest", "-q", str(f)], env=env, check=True, capture_output=True)
    ct = c.client()
    deadline = time.time() + 30
    while time.time() < deadline:
        ids = {e["EventId"] for e in ct.lookup_events(MaxResults=50)["Events"]}
        if recs[0]["eventID"] in ids:
            break
        time.sleep(0.3)
    time.sleep(1)
    yield c, recs
    c.stop()


def walk(ct, **kw):
    out = []
    for page in ct.get_paginator("lookup_events").paginate(**kw):
        out += page["Events"]
    return out


def expected(recs, pred, start=None, end=None):
    sel = [r for r in recs if category(r) == "Management" and pred(r)]
    if start:
        sel = [r for r in sel if r["eventTime"] >= start]
    if end:
        sel = [r for r in sel if r["eventTime"] <= end]
    return sorted(sel, key=lambda r: r["eventTime"], reverse=True)


def ids(events, recs=None):
    """Event IDs in order; with `recs`, only those of ingested records (the server's own
    API calls, such as these LookupEvents, are in the history too)."""
    keep = None if recs is None else {r["eventID"] for r in recs}
    return [e["EventId"] for e in events if keep is None or e["EventId"] in keep]


@pytest.mark.parametrize("key,pick,pred", [
    ("EventName", lambda r: r["eventName"], lambda v: lambda r: r["eventName"] == v),
    ("EventSource", lambda r: r["eventSource"], lambda v: lambda r: r["eventSource"] == v),
    ("ReadOnly", lambda r: "true" if r.get("readOnly") else "false", lambda v: lambda r: ("true" if r.get("readOnly") else "false") == v and "readOnly" in r),
    ("EventId", lambda r: r["eventID"], lambda v: lambda r: r["eventID"] == v),
    ("AccessKeyId", lambda r: r["userIdentity"].get("accessKeyId"), lambda v: lambda r: r["userIdentity"].get("accessKeyId") == v),
    ("Username", username, lambda v: lambda r: username(r) == v),
])
def test_lookup_by_attribute_matches_a_scan(history, key, pick, pred):
    c, recs = history
    ct = c.client()
    values = sorted({pick(r) for r in recs if pick(r)})
    for v in values[:: max(1, len(values) // 6)][:6]:
        want = expected(recs, pred(v))
        got = walk(ct, LookupAttributes=[{"AttributeKey": key, "AttributeValue": v}])
        assert ids(got, recs) == [r["eventID"] for r in want], f"{key}={v}"
        for e in got[:3]:
            assert json.loads(e["CloudTrailEvent"])["eventID"] == e["EventId"]


def test_time_window_pagination_and_errors(history):
    c, recs = history
    ct = c.client()
    times = sorted(r["eventTime"] for r in recs)
    start, end = times[len(times) // 4], times[len(times) // 2]
    to_dt = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    got = walk(ct, StartTime=to_dt(start), EndTime=to_dt(end), PaginationConfig={"PageSize": 7})
    assert ids(got, recs) == [r["eventID"] for r in expected(recs, lambda r: True, start, end)]
    page = ct.lookup_events(MaxResults=5)
    assert len(page["Events"]) == 5 and "NextToken" in page
    for code, kw in [
        ("InvalidLookupAttributesException", dict(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "a"}, {"AttributeKey": "EventName", "AttributeValue": "b"}])),
        ("InvalidTimeRangeException", dict(StartTime=to_dt(end), EndTime=to_dt(start))),
        ("InvalidMaxResultsException", dict(MaxResults=51)),
        ("InvalidNextTokenException", dict(NextToken="bogus")),
        ("InvalidNextTokenException", dict(NextToken=page["NextToken"], LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "x"}])),
    ]:
        with pytest.raises(Exception) as e:
            ct.lookup_events(**kw)
        assert e.value.response["Error"]["Code"] == code
