"""Issue 14, trails and delivery: the trail guarantees hold against an insider with ordinary
credentials (items 2, 9, 11 and 14). Black-box through boto3 and the `cairn` CLI against a real
`cairn serve`; every refused attempt is also looked up in the journal."""

import gzip
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import CAIRN, CONFIG, MEMBER, MGMT, ROOT_KEY, ROOT_SECRET, Cairn, error_code

TRAIL_ARN = f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/audit"
ROLE_ARN = f"arn:aws:iam::{MGMT}:role/CloudTrail_CloudWatchLogs"


def recorded(cairn, event_name, codes):
    """Audit events of `event_name` whose errorCode is one of `codes`."""
    return [e for e in cairn.events() if e.get("eventName") == event_name and e.get("errorCode") in codes]


def user_with_policy(cairn, name, statements):
    iam = cairn.client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def read_bucket(cairn, bucket):
    """Every record of every log file in a local bucket."""
    out = []
    keys = cairn.cli("bucket", "ls", bucket).stdout.split()
    for k in keys:
        if "/CloudTrail/" not in k:
            continue
        data = subprocess.run(
            [CAIRN, "bucket", "get", bucket, k, "--data-dir", str(cairn.data_dir), "--config",
             str(cairn.config_path)], capture_output=True, check=True, env=cairn.env()).stdout
        out.extend(json.loads(gzip.decompress(data))["Records"])
    return out


@pytest.fixture
def fast_delivery():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cairn-sec-trails-"))
    server = Cairn(tmp / "data", config=CONFIG + '\n[delivery]\ninterval = "1s"\n')
    server.cli("bucket", "create", "trail-logs")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# -- item 2 -----------------------------------------------------------------------------------

def test_item_2_made_up_partition_does_not_bypass_deny(cairn):
    ct = cairn.client()
    ct.create_trail(Name="audit", S3BucketName="trail-logs")
    ct.start_logging(Name="audit")
    creds = user_with_policy(cairn, "ops", [
        {"Effect": "Allow", "Action": "cloudtrail:*", "Resource": "*"},
        {"Sid": "KeepTheTrail", "Effect": "Deny",
         "Action": ["cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "cloudtrail:UpdateTrail",
                    "cloudtrail:PutEventSelectors"],
         "Resource": TRAIL_ARN},
    ])
    ops = cairn.client(creds=creds)
    # The deny works on the plain name and on the real ARN.
    for name in ("audit", TRAIL_ARN):
        with pytest.raises(ClientError) as e:
            ops.stop_logging(Name=name)
        assert error_code(e.value) == "AccessDeniedException"
    refused = {"AccessDeniedException", "CloudTrailARNInvalidException", "TrailNotFoundException"}
    for bogus in (f"arn:x:cloudtrail:us-east-1:{MGMT}:trail/audit",
                  f"arn:aws-cn:cloudtrail:us-east-1:{MGMT}:trail/audit",
                  f"arn:aws:cloudtrailx:us-east-1:{MGMT}:trail/audit"):
        calls = [
            ("StopLogging", lambda: ops.stop_logging(Name=bogus)),
            ("DeleteTrail", lambda: ops.delete_trail(Name=bogus)),
            ("UpdateTrail", lambda: ops.update_trail(Name=bogus, S3BucketName="other-logs")),
            ("PutEventSelectors", lambda: ops.put_event_selectors(
                TrailName=bogus, EventSelectors=[{"ReadWriteType": "ReadOnly"}])),
        ]
        for event_name, call in calls:
            with pytest.raises(ClientError) as e:
                call()
            assert error_code(e.value) in refused, (bogus, event_name, e.value)
    status = ct.get_trail_status(Name="audit")
    assert status["IsLogging"] is True
    trail = ct.get_trail(Name="audit")["Trail"]
    assert trail["S3BucketName"] == "trail-logs"
    assert ct.get_event_selectors(TrailName="audit")["EventSelectors"][0]["ReadWriteType"] == "All"
    for event_name in ("StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"):
        assert len(recorded(cairn, event_name, refused)) >= 3, event_name


# -- item 9 -----------------------------------------------------------------------------------

def monitor_cli(cairn, creds, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=creds[0], AWS_SECRET_ACCESS_KEY=creds[1],
               AWS_ENDPOINT_URL=cairn.endpoint, AWS_DEFAULT_REGION="us-east-1")
    return subprocess.run([CAIRN, "monitor", *args], env=env, capture_output=True, text=True, timeout=60)


def test_item_9_other_accounts_alarm_topic_is_refused(cairn):
    root = (ROOT_KEY, ROOT_SECRET)
    out = monitor_cli(cairn, root, "create-topic", "security-ops")
    assert out.returncode == 0, out.stderr
    topic = json.loads(out.stdout)["topicArn"]
    assert f":{MGMT}:" in topic
    member = cairn.member_credentials()
    # Subscribing to another account's topic (it has no topic policy granting that account).
    out = monitor_cli(cairn, member, "subscribe", topic, "--protocol", "http",
                      "--endpoint", "http://127.0.0.1:9/steal")
    assert out.returncode != 0
    assert "AuthorizationError" in out.stderr, out.stderr
    out = monitor_cli(cairn, root, "topics")
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)["topics"]
    assert all(t["subscriptions"] == [] for t in listed if t["topicArn"] == topic)
    assert recorded(cairn, "Subscribe", {"AuthorizationError"})
    # An alarm of the member account may not notify the management account's topic either.
    cw = cairn.client("cloudwatch", creds=member)
    with pytest.raises(ClientError) as e:
        cw.put_metric_alarm(AlarmName="spam", Namespace="X", MetricName="m", Statistic="Sum", Period=60,
                            EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanOrEqualToThreshold",
                            AlarmActions=[topic])
    assert error_code(e.value) == "AuthorizationError"
    assert cw.describe_alarms(AlarmNames=["spam"])["MetricAlarms"] == []
    assert recorded(cairn, "PutMetricAlarm", {"AuthorizationError"})
    # The owner still subscribes to and alarms on its own topic.
    out = monitor_cli(cairn, root, "subscribe", topic, "--protocol", "http", "--endpoint", "http://127.0.0.1:9/ok")
    assert out.returncode == 0, out.stderr
    cairn.client("cloudwatch").put_metric_alarm(
        AlarmName="own", Namespace="X", MetricName="m", Statistic="Sum", Period=60, EvaluationPeriods=1,
        Threshold=0, ComparisonOperator="GreaterThanOrEqualToThreshold", AlarmActions=[topic])


# -- item 11 ----------------------------------------------------------------------------------

def test_item_11_trail_refuses_other_accounts_log_group_and_bucket(cairn):
    member = cairn.member_credentials()
    cairn.client("logs", creds=member).create_log_group(logGroupName="member-group")
    cairn.client("s3", creds=member).create_bucket(Bucket="member-logs")
    ct = cairn.client()
    foreign_group = f"arn:aws:logs:us-east-1:{MEMBER}:log-group:member-group:*"
    with pytest.raises(ClientError) as e:
        ct.create_trail(Name="leaky", S3BucketName="trail-logs", CloudWatchLogsLogGroupArn=foreign_group,
                        CloudWatchLogsRoleArn=ROLE_ARN)
    assert error_code(e.value) == "InvalidCloudWatchLogsLogGroupArnException"
    with pytest.raises(ClientError) as e:
        ct.create_trail(Name="leaky", S3BucketName="member-logs")
    assert error_code(e.value) == "InsufficientS3BucketPolicyException"
    ct.create_trail(Name="kept", S3BucketName="trail-logs")
    with pytest.raises(ClientError) as e:
        ct.update_trail(Name="kept", CloudWatchLogsLogGroupArn=foreign_group, CloudWatchLogsRoleArn=ROLE_ARN)
    assert error_code(e.value) == "InvalidCloudWatchLogsLogGroupArnException"
    with pytest.raises(ClientError) as e:
        ct.update_trail(Name="kept", S3BucketName="member-logs")
    assert error_code(e.value) == "InsufficientS3BucketPolicyException"
    trail = ct.get_trail(Name="kept")["Trail"]
    assert trail["S3BucketName"] == "trail-logs" and "CloudWatchLogsLogGroupArn" not in trail
    assert [t["Name"] for t in ct.describe_trails()["trailList"]] == ["kept"]
    assert len(recorded(cairn, "CreateTrail", {"InvalidCloudWatchLogsLogGroupArnException",
                                               "InsufficientS3BucketPolicyException"})) == 2
    assert len(recorded(cairn, "UpdateTrail", {"InvalidCloudWatchLogsLogGroupArnException",
                                               "InsufficientS3BucketPolicyException"})) == 2


def delivery_policy(bucket):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:GetBucketAcl",
         "Resource": f"arn:aws:s3:::{bucket}"},
        {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/{MGMT}/*",
         "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}},
    ]})


def test_item_11_delivery_stops_when_the_owner_withdraws_consent(fast_delivery):
    cairn = fast_delivery
    member = cairn.member_credentials()
    s3m = cairn.client("s3", creds=member)
    s3m.create_bucket(Bucket="member-logs")
    s3m.put_bucket_policy(Bucket="member-logs", Policy=delivery_policy("member-logs"))
    ct = cairn.client()
    # With the owner's consent, a cross-account bucket works (as in AWS).
    ct.create_trail(Name="shared", S3BucketName="member-logs")
    s3m.delete_bucket_policy(Bucket="member-logs")
    ct.start_logging(Name="shared")
    for _ in range(3):
        ct.describe_trails()
    deadline = time.time() + 20
    status = {}
    while time.time() < deadline:
        status = ct.get_trail_status(Name="shared")
        if status.get("LatestDeliveryError"):
            break
        time.sleep(0.3)
    assert status.get("LatestDeliveryError") == "AccessDenied", status
    assert "LatestDeliveryTime" not in status
    listed = s3m.list_objects_v2(Bucket="member-logs").get("Contents", [])
    assert [o["Key"] for o in listed if "/CloudTrail/" in o["Key"]] == []
    # Consent given again: the held records are delivered, none lost.
    s3m.put_bucket_policy(Bucket="member-logs", Policy=delivery_policy("member-logs"))
    deadline = time.time() + 40
    while time.time() < deadline and not ct.get_trail_status(Name="shared").get("LatestDeliveryTime"):
        time.sleep(0.3)
    keys = [o["Key"] for o in s3m.list_objects_v2(Bucket="member-logs").get("Contents", [])]
    assert any("/CloudTrail/" in k for k in keys), keys


# -- item 14 ----------------------------------------------------------------------------------

def test_item_14_stop_logging_is_delivered_under_load(fast_delivery):
    cairn = fast_delivery
    ct = cairn.client()
    ct.create_trail(Name="audit", S3BucketName="trail-logs")
    stop = threading.Event()
    errors = []

    def reader():
        c = cairn.client()
        while not stop.is_set():
            try:
                c.describe_trails()
                c.get_trail_status(Name="audit")
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    calls = []  # (eventName, requestId)
    try:
        for _ in range(8):
            r = ct.start_logging(Name="audit")
            calls.append(("StartLogging", r["ResponseMetadata"]["RequestId"]))
            time.sleep(0.15)
            r = ct.stop_logging(Name=TRAIL_ARN)
            calls.append(("StopLogging", r["ResponseMetadata"]["RequestId"]))
            time.sleep(0.15)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    # Every call was journaled.
    journaled = {e.get("requestID") for e in cairn.events()}
    assert all(rid in journaled for _, rid in calls)
    # ... and delivered: the trail was logging when each StartLogging was recorded, and
    # CloudTrail delivers the StopLogging call that stops a trail.
    missing = calls
    deadline = time.time() + 30
    while time.time() < deadline:
        delivered = {(r.get("eventName"), r.get("requestID")) for r in read_bucket(cairn, "trail-logs")}
        missing = [c for c in calls if c not in delivered]
        if not missing:
            break
        time.sleep(1)
    assert not missing, f"{len(missing)} of {len(calls)} Start/StopLogging calls never delivered: {missing}"
    # Calls made once the trail is stopped stay undelivered.
    time.sleep(2.5)
    before = len(read_bucket(cairn, "trail-logs"))
    rid = ct.describe_trails()["ResponseMetadata"]["RequestId"]
    time.sleep(3)
    after = read_bucket(cairn, "trail-logs")
    assert len(after) == before
    assert rid not in {r.get("requestID") for r in after}
