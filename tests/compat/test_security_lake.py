"""Issue 14, the lake's part: SQL over delivered logs is authorized as the caller (item 6), and
every ingest call leaves a record of who sent the records (provenance). Black-box through boto3
against `cairn serve`; the lake side of item 13 (unsafe object keys) is a unit test in
crates/cairn-server/src/lake.rs, since the S3 API no longer accepts such keys."""

import base64
import gzip
import hashlib
import json
import time
import uuid

import botocore.exceptions
import pytest

from conftest import MEMBER, MGMT, error_code

BUCKET = "trail-logs"
LOG_KEY = f"AWSLogs/{MGMT}/CloudTrail/us-east-1/2026/01/01/{MGMT}_CloudTrail_us-east-1_20260101T0000Z_planted.json.gz"
MARKER = "LakeSecretMarker"


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def stmt(effect, action, resource="*"):
    return {"Effect": effect, "Action": action, "Resource": resource}


def make_user(cairn, name, *statements):
    iam = cairn.client("iam")
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def log_file(n=3):
    records = [{
        "eventVersion": "1.08", "eventTime": "2026-01-01T00:00:00Z", "eventSource": "s3.amazonaws.com",
        "eventName": MARKER, "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.1",
        "eventID": str(uuid.uuid4()), "eventType": "AwsApiCall", "recipientAccountId": MGMT,
        "userIdentity": {"type": "Root", "arn": f"arn:aws:iam::{MGMT}:root"},
    } for _ in range(n)]
    return gzip.compress(json.dumps({"Records": records}).encode())


def plant_kms_log(cairn):
    """A delivered log file encrypted under a customer key, as a trail with KmsKeyId writes it."""
    key_id = cairn.client("kms").create_key(Description="trail logs")["KeyMetadata"]["KeyId"]
    key_arn = f"arn:aws:kms:us-east-1:{MGMT}:key/{key_id}"
    cairn.client("s3").put_object(Bucket=BUCKET, Key=LOG_KEY, Body=log_file(),
                                  ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id)
    return key_arn


def run_query(ct, sql):
    """Starts `sql` and waits: (QueryId, rows) of a finished query."""
    qid = ct.start_query(QueryStatement=sql)["QueryId"]
    deadline = time.time() + 60
    while True:
        d = ct.describe_query(QueryId=qid)
        if d["QueryStatus"] not in ("QUEUED", "RUNNING"):
            break
        assert time.time() < deadline, d
        time.sleep(0.2)
    assert d["QueryStatus"] == "FINISHED", d
    rows = ct.get_query_results(QueryId=qid)["QueryResultRows"]
    return qid, [[list(c.values())[0] for c in r] for r in rows]


def denied_events(cairn, name):
    return [e for e in cairn.events()
            if e.get("eventName") == name and e.get("errorCode") == "AccessDeniedException"]


COUNT_SQL = f"SELECT count(*) AS n FROM events WHERE eventName = '{MARKER}'"


def test_item_6_start_query_reads_delivered_logs_only_as_the_caller(cairn):
    key_arn = plant_kms_log(cairn)
    bucket_objects = f"arn:aws:s3:::{BUCKET}/*"

    # Root reads the logs.
    root_ct = cairn.client()
    root_qid, rows = run_query(root_ct, COUNT_SQL)
    assert rows == [["3"]]

    # cloudtrail:* allowed, s3:* and kms:* explicitly denied: refused, and the refusal recorded.
    denied = make_user(cairn, "denied", stmt("Allow", "cloudtrail:*"),
                       stmt("Deny", "s3:*"), stmt("Deny", "kms:*"))
    ct = cairn.client(creds=denied)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ct.start_query(QueryStatement=COUNT_SQL)
    assert error_code(e.value) == "AccessDeniedException"
    assert LOG_KEY in str(e.value) and "s3:GetObject" in str(e.value), str(e.value)
    recorded = denied_events(cairn, "StartQuery")
    assert recorded and recorded[-1]["userIdentity"]["arn"].endswith("/denied"), recorded
    # Nor can it read the results of root's query over the same logs.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ct.get_query_results(QueryId=root_qid)
    assert error_code(e.value) == "QueryIdNotFoundException"

    # s3:GetObject without kms:Decrypt on the SSE-KMS key: refused too.
    s3_only = make_user(cairn, "s3only", stmt("Allow", "cloudtrail:*"),
                        stmt("Allow", "s3:GetObject", bucket_objects))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cairn.client(creds=s3_only).start_query(QueryStatement=COUNT_SQL)
    assert error_code(e.value) == "AccessDeniedException"
    assert "kms:Decrypt" in str(e.value), str(e.value)

    # cloudtrail:* + s3:GetObject on the bucket + kms:Decrypt on the key: rows.
    reader = make_user(cairn, "reader", stmt("Allow", "cloudtrail:*"),
                       stmt("Allow", "s3:GetObject", bucket_objects),
                       stmt("Allow", "kms:Decrypt", key_arn))
    _, rows = run_query(cairn.client(creds=reader), COUNT_SQL)
    assert rows == [["3"]]

    # The bucket policy counts as in S3: a Deny there refuses the same reader.
    cairn.client("s3").put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{MGMT}:user/reader"},
                       "Action": "s3:GetObject", "Resource": bucket_objects}]}))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cairn.client(creds=reader).start_query(QueryStatement=COUNT_SQL)
    assert error_code(e.value) == "AccessDeniedException"

    # A statement that does not read `events` does not need the logs.
    _, rows = run_query(cairn.client(creds=denied), "SELECT 1 AS one")
    assert rows == [["1"]]


def test_item_6_event_data_store_queries_need_start_query_on_the_store(cairn):
    root_ct = cairn.client()
    eds = root_ct.create_event_data_store(Name="investigations", RetentionPeriod=7)
    arn, eds_id = eds["EventDataStoreArn"], eds["EventDataStoreArn"].rsplit("/", 1)[1]
    sql = f"SELECT count(*) AS n FROM {eds_id}"
    run_query(root_ct, sql)

    # Allowed cloudtrail:* but denied StartQuery on this store (by its ARN): refused.
    user = make_user(cairn, "analyst", stmt("Allow", "cloudtrail:*"),
                     stmt("Deny", "cloudtrail:StartQuery", arn))
    ct = cairn.client(creds=user)
    for ref in (eds_id, arn):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ct.start_query(QueryStatement=f"SELECT count(*) AS n FROM {ref}")
        assert error_code(e.value) == "AccessDeniedException", ref
        assert arn in str(e.value)
    assert len(denied_events(cairn, "StartQuery")) >= 2
    # Naming the store by ID does not get around a Deny on its ARN.
    user3 = make_user(cairn, "analyst3", stmt("Allow", "cloudtrail:*"),
                      stmt("Deny", ["cloudtrail:GetEventDataStore", "cloudtrail:DeleteEventDataStore",
                                    "cloudtrail:UpdateEventDataStore"], arn))
    ct3 = cairn.client(creds=user3)
    for call in (lambda: ct3.get_event_data_store(EventDataStore=eds_id),
                 lambda: ct3.update_event_data_store(EventDataStore=eds_id, TerminationProtectionEnabled=False),
                 lambda: ct3.delete_event_data_store(EventDataStore=eds_id)):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert error_code(e.value) == "AccessDeniedException"
    assert root_ct.get_event_data_store(EventDataStore=eds_id)["TerminationProtectionEnabled"] is True
    # Denied reading another principal's query over the store too.
    root_qid, _ = run_query(root_ct, sql)
    user2 = make_user(cairn, "analyst2", stmt("Allow", "cloudtrail:*"),
                      stmt("Deny", "cloudtrail:GetQueryResults", arn))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cairn.client(creds=user2).get_query_results(QueryId=root_qid)
    assert error_code(e.value) == "AccessDeniedException"

    # The store's ID under a made-up partition or another account's ARN is not this store.
    for other in (arn.replace("arn:aws:", "arn:x:"), arn.replace(f":{MGMT}:", f":{MEMBER}:")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            root_ct.start_query(QueryStatement=f"SELECT count(*) FROM {other}")
        assert error_code(e.value) == "EventDataStoreNotFoundException", other

    # Another account cannot name this store, by ID or ARN.
    member_ct = cairn.client(creds=cairn.member_credentials())
    for ref in (eds_id, arn):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            member_ct.start_query(QueryStatement=f"SELECT count(*) FROM {ref}")
        assert error_code(e.value) == "EventDataStoreNotFoundException", ref


def ingest(cairn, creds, records):
    import urllib.request
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = json.dumps({"Records": records}).encode()
    req = AWSRequest(method="POST", url=cairn.endpoint + "/_cairn/ingest", data=body,
                     headers={"Content-Type": "application/json", "User-Agent": "provenance-test/1"})
    SigV4Auth(Credentials(*creds), "cloudtrail-data", "us-east-1").add_auth(req)
    r = urllib.request.Request(req.url, data=body, headers=dict(req.headers), method="POST")
    with urllib.request.urlopen(r) as resp:
        return json.loads(resp.read())


def alice_record(event_id=None):
    return {"eventVersion": "1.08", "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "eventSource": "example.cairn.dev", "eventName": "AliceDidIt", "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.7", "userAgent": "alice-laptop",
            "eventID": event_id or str(uuid.uuid4()), "eventType": "AwsApiCall",
            "recipientAccountId": MGMT,
            "userIdentity": {"type": "IAMUser", "userName": "alice",
                             "arn": f"arn:aws:iam::{MGMT}:user/alice"}}


def test_provenance_bulk_ingest_names_the_real_caller(cairn):
    loader = make_user(cairn, "loader", stmt("Allow", "cairn:BulkIngest"))
    dup = str(uuid.uuid4())
    out = ingest(cairn, loader, [alice_record(dup), alice_record(dup), alice_record(),
                                 dict(alice_record(), recipientAccountId=MEMBER)])
    assert out["accepted"] == 2 and out["duplicates"] == 1 and len(out["rejected"]) == 1, out
    events = cairn.events()
    claimed = [e for e in events if e.get("eventName") == "AliceDidIt"]
    assert len(claimed) == 2
    trace = [e for e in events if e.get("eventName") == "BulkIngest" and not e.get("errorCode")]
    assert len(trace) == 1, trace
    t = trace[0]
    assert t["eventSource"] == "cloudtrail-data.amazonaws.com"
    assert t["userIdentity"]["arn"] == f"arn:aws:iam::{MGMT}:user/loader"
    assert t["userIdentity"]["accessKeyId"] == loader[0]
    assert t["sourceIPAddress"] == "127.0.0.1" and t["userAgent"] == "provenance-test/1"
    assert t["requestParameters"] == {"recordsAccepted": 2, "recordsDuplicate": 1, "recordsRejected": 1}
    # The records' contents are not copied into the trace.
    assert "alice" not in json.dumps(t)


def test_provenance_put_audit_events_names_the_real_caller(cairn):
    ct = cairn.client()
    arn = ct.create_channel(Name="app-events", Source="Custom",
                            Destinations=[{"Type": "AWS_SERVICE", "Location": "cairn"}])["ChannelArn"]
    sender = make_user(cairn, "sender", stmt("Allow", "cloudtrail-data:PutAuditEvents", arn))
    data = cairn.client("cloudtrail-data", creds=sender)
    body = json.dumps({"version": "1.0", "userIdentity": {"type": "CustomUser", "principalId": "alice"},
                       "eventSource": "app.example.com", "eventName": "Login",
                       "eventTime": "2026-11-25T10:00:00Z", "UID": "u-1", "recipientAccountId": MGMT})
    resp = data.put_audit_events(channelArn=arn, auditEvents=[
        {"id": "ok-1", "eventData": body,
         "eventDataChecksum": base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()},
        {"id": "bad-sum", "eventData": body, "eventDataChecksum": base64.b64encode(b"x" * 32).decode()},
    ])
    assert [s["id"] for s in resp["successful"]] == ["ok-1"] and len(resp["failed"]) == 1
    trace = [e for e in cairn.events() if e.get("eventName") == "PutAuditEvents"]
    assert len(trace) == 1, trace
    t = trace[0]
    assert t["eventSource"] == "cloudtrail-data.amazonaws.com"
    assert t["userIdentity"]["arn"] == f"arn:aws:iam::{MGMT}:user/sender"
    assert t["requestParameters"] == {"channelArn": arn, "recordsAccepted": 1,
                                      "recordsDuplicate": 0, "recordsFailed": 1}
    assert "alice" not in json.dumps(t)
