"""S3 event notifications to SQS with boto3, the way SIEM collectors read CloudTrail: a
bucket's configuration is checked against the queue policy, every log and digest file a trail
delivers produces exactly one S3-format message, and a server killed mid-stream loses none and
repeats none."""

import json
import signal
import time
import urllib.parse

import botocore.exceptions
import pytest

from conftest import MGMT, error_code

BUCKET = "trail-feed"



def queue_policy(queue_arn, bucket=BUCKET, account=MGMT):
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {
                "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"},
                "StringEquals": {"aws:SourceAccount": account},
            },
        }],
    })


def feed(cairn, prefix="AWSLogs/"):
    """A bucket whose ObjectCreated events under `prefix` go to a queue; returns the queue url."""
    s3, sqs = cairn.client("s3"), cairn.client("sqs")
    s3.create_bucket(Bucket=BUCKET)
    url = sqs.create_queue(QueueName="ct-feed")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    config = {"QueueConfigurations": [{
        "Id": "cloudtrail",
        "QueueArn": arn,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
    }]}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration=config)
    assert error_code(e.value) == "InvalidArgument", "a queue S3 may not send to is refused"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": queue_policy(arn)})
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration=config)
    got = s3.get_bucket_notification_configuration(Bucket=BUCKET)["QueueConfigurations"]
    assert [(c["Id"], c["QueueArn"], c["Events"]) for c in got] == [("cloudtrail", arn, ["s3:ObjectCreated:*"])]
    return url


def drain(cairn, url, idle=3.0):
    """Every message until the queue stays empty for `idle` seconds: [(key, record)]."""
    sqs = cairn.client("sqs")
    out, last = [], time.time()
    while time.time() - last < idle:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for m in msgs:
            body = json.loads(m["Body"])
            if body.get("Event") != "s3:TestEvent":
                for r in body["Records"]:
                    out.append((urllib.parse.unquote_plus(r["s3"]["object"]["key"]), r))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            last = time.time()
    return out


def keys_in(cairn, prefix="AWSLogs/"):
    pages = cairn.client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


def wait_for_files(cairn, n, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        keys = keys_in(cairn)
        if len(keys) >= n:
            return keys
        time.sleep(0.5)
    raise AssertionError(f"fewer than {n} delivered files within {timeout}s")


def test_every_delivered_log_and_digest_file_is_announced_once(fast):
    url = feed(fast)
    ct = fast.client()
    ct.create_trail(Name="feed", S3BucketName=BUCKET, EnableLogFileValidation=True, IsMultiRegionTrail=True)
    ct.start_logging(Name="feed")
    s3 = fast.client("s3")
    s3.put_object(Bucket=BUCKET, Key="outside/prefix.txt", Body=b"not announced")
    # Calls that make records, so log files follow.
    for _ in range(3):
        ct.describe_trails()
        time.sleep(1.2)
    wait_for_files(fast, 3)
    time.sleep(2)
    got = drain(fast, url)
    keys = [k for k, _ in got]
    assert len(keys) == len(set(keys)), "no file is announced twice"
    assert sorted(keys) == keys_in(fast), "exactly the delivered files are announced"
    assert any("/CloudTrail/" in k and k.endswith(".json.gz") for k in keys)
    for key, r in got:
        assert r["eventSource"] == "aws:s3" and r["eventName"] == "ObjectCreated:Put"
        assert r["s3"]["bucket"]["name"] == BUCKET
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert r["s3"]["object"]["size"] == head["ContentLength"]
        assert r["s3"]["object"]["eTag"] == head["ETag"].strip('"')


def test_a_killed_server_loses_and_repeats_no_event(fast):
    url = feed(fast, prefix="")
    s3 = fast.client("s3")
    for i in range(40):
        s3.put_object(Bucket=BUCKET, Key=f"burst/{i:03}.json", Body=b"{}")
    fast.stop(sig=signal.SIGKILL)
    fast.start()
    s3 = fast.client("s3")  # the restarted server listens on a new port
    for i in range(40, 50):
        s3.put_object(Bucket=BUCKET, Key=f"burst/{i:03}.json", Body=b"{}")
    got = drain(fast, url)
    keys = sorted(k for k, _ in got)
    assert keys == [f"burst/{i:03}.json" for i in range(50)]
    # Sequencers grow with the events of the bucket.
    seqs = [int(r["s3"]["object"]["sequencer"], 16) for _, r in got]
    assert len(set(seqs)) == 50


def test_removals_and_delete_markers_reach_a_removal_queue(cairn):
    s3, sqs = cairn.client("s3"), cairn.client("sqs")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    url = sqs.create_queue(QueueName="removals")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": queue_policy(arn)})
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={"QueueConfigurations": [
        {"QueueArn": arn, "Events": ["s3:ObjectRemoved:*"]}]})
    v = s3.put_object(Bucket=BUCKET, Key="a b.txt", Body=b"x")["VersionId"]
    marker = s3.delete_object(Bucket=BUCKET, Key="a b.txt")["VersionId"]
    s3.delete_object(Bucket=BUCKET, Key="a b.txt", VersionId=v)
    got = drain(cairn, url, idle=2.0)
    assert [(k, r["eventName"], r["s3"]["object"]["versionId"]) for k, r in got] == [
        ("a b.txt", "ObjectRemoved:DeleteMarkerCreated", marker),
        ("a b.txt", "ObjectRemoved:Delete", v),
    ]
    # An empty configuration removes it: no more events.
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={})
    assert s3.get_bucket_notification_configuration(Bucket=BUCKET).get("QueueConfigurations") is None
    s3.delete_object(Bucket=BUCKET, Key="a b.txt", VersionId=marker)
    assert drain(cairn, url, idle=1.5) == []
