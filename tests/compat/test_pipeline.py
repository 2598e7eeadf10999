"""The event pipeline end to end: records in through `cairn ingest` and PutAuditEvents, log
files out in each trail's bucket, in CloudTrail's layout, each selected record exactly once."""

import copy
import gzip
import json
import os
import re
import signal
import subprocess
import time
import uuid

import boto3
import pytest

from conftest import CAIRN, MGMT, ROOT_KEY, ROOT_SECRET, Cairn, MotoS3
from pipeline_oracle import OTRF_RAW, delivered_by, real_records

ORG_MEMBERS = ["123456789123", "111122223333", "123456789012", "838185438692"]
INGEST_ACCOUNT = "123837392027"

PIPELINE_CONFIG = f"""
version = 1
account_id = "{INGEST_ACCOUNT}"
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
S3_DELETES = [
    {"Name": "deletes", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]},
        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
        {"Field": "eventName", "Equals": ["DeleteObject"]}]},
]


def synthetic_deletes():
    """Real S3 GetObject data events turned into DeleteObject calls (the shared records hold no
    DeleteObject data event), so the delete-only selector has something to keep."""
    out = []
    for src, r in real_records():
        if r.get("eventName") == "GetObject" and r.get("eventCategory") == "Data":
            d = copy.deepcopy(r)
            d["eventName"] = "DeleteObject"
            d["readOnly"] = False
            d["eventID"] = str(uuid.uuid4())
            d["recipientAccountId"] = INGEST_ACCOUNT
            out.append(d)
    assert out, "the shared data has S3 GetObject data events"
    return out


def accepted_form(r):
    """The record as ingest accepts it: missing recipient → the caller's account."""
    r = dict(r)
    r.setdefault("recipientAccountId", INGEST_ACCOUNT)
    return r


def canon(r, drop_id=False):
    r = dict(r)
    if drop_id:
        r.pop("eventID", None)
    return json.dumps(r, sort_keys=True)


def read_bucket(cairn, bucket):
    """{key: records} of every log file in a bucket, through the backend the bucket uses."""
    files = {}
    moto = getattr(cairn, "moto", None)
    if moto is not None:
        s3 = moto.client()
        for page in s3.get_paginator("list_objects").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                data = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                files[o["Key"]] = json.loads(gzip.decompress(data))["Records"]
        return files
    keys = cairn.cli("bucket", "ls", bucket).stdout.split()
    for k in keys:
        data = subprocess.run(
            [CAIRN, "bucket", "get", bucket, k, "--data-dir", str(cairn.data_dir), "--config", str(cairn.config_path)],
            capture_output=True, check=True).stdout
        files[k] = json.loads(gzip.decompress(data))["Records"]
    return files


KEY = re.compile(
    r"^(?:(?P<prefix>.+)/)?AWSLogs/(?:(?P<org>o-[a-z0-9]+)/)?(?P<acct>\d{12})/CloudTrail/(?P<region>[a-z0-9-]+)/"
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P=acct)_CloudTrail_(?P=region)_(?P<ts>\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz$")


def wait_delivered(cairn, trail_names, region="us-east-1", timeout=30):
    ct = cairn.client(region=region)
    deadline = time.time() + timeout
    while time.time() < deadline:
        statuses = [ct.get_trail_status(Name=n) for n in trail_names]
        if all(s.get("LatestDeliveryTime") for s in statuses):
            time.sleep(2.5)  # one more interval for stragglers
            return
        time.sleep(0.3)
    raise AssertionError("no delivery within the timeout")


BUCKETS = ["all-logs", "east2-logs", "delete-logs", "org-logs"]


@pytest.fixture(params=["local", "s3"])
def pipeline(request):
    """A server whose four trail buckets are local (embedded default) or on a real
    S3-compatible server (moto_server on loopback)."""
    import pathlib
    import shutil
    import tempfile
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cairn-pipe-"))
    moto = None
    config = PIPELINE_CONFIG
    if request.param == "s3":
        moto = MotoS3().start()
        for b in BUCKETS:
            moto.client().create_bucket(Bucket=b)
            config += moto.bucket_config(b)
    c = Cairn(tmp / "data", config=config)
    c.moto = moto
    if moto is None:
        for b in BUCKETS:
            c.cli("bucket", "create", b)
    c.start()
    try:
        yield c
    finally:
        c.stop()
        if moto:
            moto.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def make_trails(cairn):
    ct = cairn.client()
    ct.create_trail(Name="everything", S3BucketName="all-logs", IsMultiRegionTrail=True, S3KeyPrefix="cairn")
    ct.put_event_selectors(TrailName="everything", AdvancedEventSelectors=ALL_EVENTS)
    east2 = cairn.client(region="us-east-2")
    east2.create_trail(Name="east2-only", S3BucketName="east2-logs")
    ct.create_trail(Name="s3-deletes", S3BucketName="delete-logs", IsMultiRegionTrail=True)
    ct.put_event_selectors(TrailName="s3-deletes", AdvancedEventSelectors=S3_DELETES)
    ct.create_trail(Name="org-wide", S3BucketName="org-logs", IsMultiRegionTrail=True, IsOrganizationTrail=True)
    for name, c in [("everything", ct), ("east2-only", east2), ("s3-deletes", ct), ("org-wide", ct)]:
        c.start_logging(Name=name)
    return {
        "all-logs": dict(account=INGEST_ACCOUNT, home="us-east-1", multi=True, org=False, global_=True, selectors=ALL_EVENTS),
        "east2-logs": dict(account=INGEST_ACCOUNT, home="us-east-2", multi=False, org=False, global_=True, selectors=None),
        "delete-logs": dict(account=INGEST_ACCOUNT, home="us-east-1", multi=True, org=False, global_=True, selectors=S3_DELETES),
        "org-logs": dict(account=INGEST_ACCOUNT, home="us-east-1", multi=True, org=True, global_=True, selectors=None),
    }


def test_every_record_lands_in_exactly_the_right_buckets(pipeline, tmp_path):
    trails = make_trails(pipeline)
    records = [r for _, r in real_records()] + synthetic_deletes()
    # Split the input: half as gzip'd CloudTrail log files, half as NDJSON.
    half = len(records) // 2
    f1 = tmp_path / "part1.json.gz"
    f1.write_bytes(gzip.compress(json.dumps({"Records": records[:half]}).encode()))
    f2 = tmp_path / "part2.ndjson"
    f2.write_text("\n".join(json.dumps(r) for r in records[half:]) + "\n")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ROOT_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
               AWS_ENDPOINT_URL=pipeline.endpoint)
    out = subprocess.run([CAIRN, "ingest", "--quiet", str(f1), str(f2)], capture_output=True, text=True, env=env)
    # The one shared record without awsRegion is refused, with its location.
    no_region = [r for r in records if not r.get("awsRegion")]
    assert out.returncode == (1 if no_region else 0), out.stderr
    assert f"{len(no_region)} rejected" in out.stdout, out.stdout
    accepted, seen_ids = [], set()
    for r in records:
        if not r.get("awsRegion"):
            continue
        # The AWS docs examples reuse some eventIDs: the first copy wins, the others are
        # duplicates and never delivered.
        if "eventID" in r:
            if r["eventID"] in seen_ids:
                continue
            seen_ids.add(r["eventID"])
        accepted.append(r)
    wait_delivered(pipeline, ["everything", "s3-deletes", "org-wide"])
    wait_delivered(pipeline, ["east2-only"], region="us-east-2")

    org_accounts = set(ORG_MEMBERS) | {INGEST_ACCOUNT}
    for bucket, trail in trails.items():
        files = read_bucket(pipeline, bucket)
        got = []
        for key, recs in files.items():
            m = KEY.match(key)
            assert m, f"bad key layout: {key}"
            assert (m["prefix"] == "cairn") == (bucket == "all-logs"), key
            assert (m["org"] == "o-cairntest01") == (bucket == "org-logs"), key
            for r in recs:
                assert r.get("recipientAccountId", INGEST_ACCOUNT) == m["acct"], key
                assert r["awsRegion"] == m["region"], key
            got += recs
        # Cairn's own control-plane calls (after StartLogging) are delivered too; set them apart.
        ingested_ids = {r.get("eventID") for r in accepted}
        own = [r for r in got if r.get("userIdentity", {}).get("accessKeyId") == ROOT_KEY and r.get("eventID") not in ingested_ids]
        got = [r for r in got if r not in own]
        want = [r for r in accepted if delivered_by(trail, accepted_form(r), org_accounts)]
        # Records that arrived without an eventID were given one; compare them without it.
        no_id = {canon(r) for r in want if "eventID" not in r}
        got_c = sorted(canon(r, drop_id=canon(r, drop_id=True) in {canon(w, True) for w in want if "eventID" not in w}) for r in got)
        want_c = sorted(canon(r, drop_id="eventID" not in r) for r in want)
        if len(got) != len(want):
            gs = {canon(r, True) for r in got}
            missing = [r for r in want if canon(r, True) not in gs][:5]
            ws = {canon(r, True) for r in want}
            extra = [r for r in got if canon(r, True) not in ws][:5]
            print("MISSING", json.dumps(missing)[:3000])
            print("EXTRA", json.dumps(extra)[:3000])
        assert len(got) == len(want), f"{bucket}: {len(got)} delivered, {len(want)} expected"
        assert got_c == want_c, f"{bucket}: delivered records differ from the selected ones"
        assert no_id is not None
        if bucket == "delete-logs":
            assert len(want) == len(synthetic_deletes())
    # The raw otrf export (no eventTime) is refused record by record, naming the field.
    out = subprocess.run([CAIRN, "ingest", "--quiet", *OTRF_RAW], capture_output=True, text=True, env=env)
    assert out.returncode == 1 and "103 rejected" in out.stdout, out.stdout
    assert "FieldNotFound" in out.stderr and "eventTime" in out.stderr and "(further rejections" in out.stderr
    # A second import of the same files is all duplicates: nothing is delivered twice.
    out = subprocess.run([CAIRN, "ingest", "--quiet", str(f1)], capture_output=True, text=True, env=env)
    assert "0 records" in out.stdout and "duplicates skipped" in out.stdout, out.stdout


def test_put_audit_events_through_a_channel(pipeline):
    ct = pipeline.client()
    ct.create_trail(Name="activity", S3BucketName="all-logs")
    ct.start_logging(Name="activity")
    ch = ct.create_channel(Name="app-events", Source="Custom",
                           Destinations=[{"Type": "AWS_SERVICE", "Location": "cairn"}])
    arn = ch["ChannelArn"]
    assert ct.get_channel(Channel=arn)["Name"] == "app-events"
    assert [c["ChannelArn"] for c in ct.list_channels()["Channels"]] == [arn]
    data = pipeline.client("cloudtrail-data")
    good = {"version": "1.0", "userIdentity": {"type": "CustomUser", "principalId": "alice"},
            "eventSource": "app.example.com", "eventName": "Login", "eventTime": "2026-11-25T10:00:00Z",
            "UID": "u-1", "recipientAccountId": INGEST_ACCOUNT}
    import base64
    import hashlib
    body = json.dumps(good)
    resp = data.put_audit_events(channelArn=arn, auditEvents=[
        {"id": "ok-1", "eventData": body,
         "eventDataChecksum": base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()},
        {"id": "bad-sum", "eventData": body, "eventDataChecksum": base64.b64encode(b"x" * 32).decode()},
        {"id": "bad-recipient", "eventData": json.dumps(dict(good, recipientAccountId="999999999999"))},
        {"id": "missing", "eventData": json.dumps({k: v for k, v in good.items() if k != "eventName"})},
    ])
    assert [s["id"] for s in resp["successful"]] == ["ok-1"]
    failed = {f["id"]: f["errorCode"] for f in resp["failed"]}
    assert failed == {"bad-sum": "InvalidChecksum", "bad-recipient": "InvalidRecipient", "missing": "FieldNotFound"}
    event_id = resp["successful"][0]["eventID"]
    with pytest.raises(data.exceptions.ChannelNotFound):
        data.put_audit_events(channelArn=arn.replace(arn.rsplit("/", 1)[1], str(uuid.uuid4())),
                              auditEvents=[{"id": "x", "eventData": body}])
    with pytest.raises(data.exceptions.DuplicatedAuditEventId):
        data.put_audit_events(channelArn=arn, auditEvents=[{"id": "x", "eventData": body}, {"id": "x", "eventData": body}])
    wait_delivered(pipeline, ["activity"])
    delivered = [r for recs in read_bucket(pipeline, "all-logs").values() for r in recs]
    mine = [r for r in delivered if r.get("eventID") == event_id]
    assert len(mine) == 1
    assert mine[0]["eventCategory"] == "ActivityAuditLog"
    assert mine[0]["eventData"]["eventName"] == "Login"
    assert mine[0]["metadata"]["channelARN"] == arn
    ct.delete_channel(Channel=arn)
    assert ct.list_channels()["Channels"] == []


def test_events_while_stopped_are_not_delivered(pipeline, tmp_path):
    ct = pipeline.client()
    ct.create_trail(Name="stopper", S3BucketName="all-logs")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ROOT_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET, AWS_ENDPOINT_URL=pipeline.endpoint)

    def one(name):
        r = {"eventVersion": "1.11", "userIdentity": {"type": "Root", "principalId": INGEST_ACCOUNT,
             "arn": f"arn:aws:iam::{INGEST_ACCOUNT}:root", "accountId": INGEST_ACCOUNT},
             "eventTime": "2026-11-25T10:00:00Z", "eventSource": "ec2.amazonaws.com", "eventName": name,
             "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.1", "requestParameters": None,
             "responseElements": None, "eventID": str(uuid.uuid4()), "eventType": "AwsApiCall",
             "managementEvent": True, "recipientAccountId": INGEST_ACCOUNT, "eventCategory": "Management"}
        f = tmp_path / f"{name}.ndjson"
        f.write_text(json.dumps(r) + "\n")
        subprocess.run([CAIRN, "ingest", "-q", str(f)], check=True, env=env, capture_output=True)
    one("BeforeStart")
    time.sleep(1.5)
    ct.start_logging(Name="stopper")
    time.sleep(1.5)
    one("WhileLogging")
    wait_delivered(pipeline, ["stopper"])
    ct.stop_logging(Name="stopper")
    time.sleep(1.5)
    one("AfterStop")
    time.sleep(3)
    names = [r["eventName"] for recs in read_bucket(pipeline, "all-logs").values() for r in recs]
    assert "WhileLogging" in names
    assert "BeforeStart" not in names and "AfterStop" not in names
