"""A trail's SNS notifications (SnsTopicName) and S3 event notifications to SNS topics, with
the stock SDK: CloudTrail's topic-policy check on CreateTrail, one signed notification per
delivered log file at a confirmed http subscriber (checked by an independent verifier), the
notification fields of GetTrailStatus, and S3 events published to a topic that feeds a queue."""

import json
import time

import botocore.exceptions
import pytest

from conftest import MGMT, error_code
from test_sns import Endpoint, sns_may_send, subscribe_confirmed, verify

BUCKET = "trail-notes"



@pytest.fixture
def endpoint():
    e = Endpoint()
    yield e
    e.close()


def publish_policy(topic, service, source_arn):
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AWSCloudTrailSNSPolicy",
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "SNS:Publish",
            "Resource": topic,
            "Condition": {"ArnLike": {"aws:SourceArn": source_arn}},
        }],
    })


def test_a_trail_notifies_a_confirmed_http_subscriber_of_each_log_file(fast, endpoint):
    s3, sns, ct = fast.client("s3"), fast.client("sns"), fast.client()
    s3.create_bucket(Bucket=BUCKET)
    topic = sns.create_topic(Name="trail-files")["TopicArn"]
    trail_arn = f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/noted"
    # The default topic policy does not let CloudTrail publish: refused as CloudTrail does.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ct.create_trail(Name="noted", S3BucketName=BUCKET, SnsTopicName="trail-files")
    assert error_code(e.value) == "InsufficientSnsTopicPolicyException"
    assert "SNS Topic does not exist or the topic policy is incorrect!" in str(e.value)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ct.create_trail(Name="noted", S3BucketName=BUCKET, SnsTopicName="no-such-topic")
    assert error_code(e.value) == "InsufficientSnsTopicPolicyException"
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy",
                             AttributeValue=publish_policy(topic, "cloudtrail.amazonaws.com", trail_arn))
    made = ct.create_trail(Name="noted", S3BucketName=BUCKET, SnsTopicName="trail-files")
    assert made["SnsTopicARN"] == topic and made["SnsTopicName"] == "trail-files"
    subscribe_confirmed(fast, sns, topic, endpoint)
    ct.start_logging(Name="noted")
    ct.describe_trails()  # a record, so a log file follows
    headers, note = endpoint.next("Notification", timeout=60)
    assert headers["x-amz-sns-topic-arn"] == topic
    verify(note, fast)
    msg = json.loads(note["Message"])
    assert msg["s3Bucket"] == BUCKET
    [key] = msg["s3ObjectKey"]
    assert f"/AWSLogs/{MGMT}/CloudTrail/us-east-1/" in "/" + key and key.endswith(".json.gz")
    s3.head_object(Bucket=BUCKET, Key=key)  # the file it names is there
    status = ct.get_trail_status(Name="noted")
    assert status["LatestNotificationTime"] >= status["StartLoggingTime"]
    assert status["LatestNotificationAttemptSucceeded"] == "true"
    assert "LatestNotificationError" not in status
    # A policy that no longer lets CloudTrail publish shows up as the notification error.
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy",
                             AttributeValue=publish_policy(topic, "cloudtrail.amazonaws.com", "arn:aws:cloudtrail:us-east-1:1:trail/other"))
    deadline = time.time() + 60
    while time.time() < deadline:
        ct.describe_trails()
        status = ct.get_trail_status(Name="noted")
        if status.get("LatestNotificationError"):
            break
        time.sleep(1)
    assert status["LatestNotificationError"] == "AuthorizationError"
    assert status["LatestNotificationAttemptSucceeded"] == "false"


def test_s3_events_published_to_a_topic_reach_its_queue(cairn):
    s3, sns, sqs = cairn.client("s3"), cairn.client("sns"), cairn.client("sqs")
    s3.create_bucket(Bucket=BUCKET)
    topic = sns.create_topic(Name="s3-events")["TopicArn"]
    url = sqs.create_queue(QueueName="from-topic")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": sns_may_send(qarn, topic)})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    config = {"TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration=config)
    assert error_code(e.value) == "InvalidArgument", "a topic S3 may not publish to is refused"
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy",
                             AttributeValue=publish_policy(topic, "s3.amazonaws.com", f"arn:aws:s3:::{BUCKET}"))
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration=config)
    got = s3.get_bucket_notification_configuration(Bucket=BUCKET)["TopicConfigurations"]
    assert got[0]["TopicArn"] == topic
    s3.put_object(Bucket=BUCKET, Key="AWSLogs/x.json.gz", Body=b"{}")
    deadline, msgs = time.time() + 30, []
    while not msgs and time.time() < deadline:
        msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
    assert msgs, "the event reached the topic's queue"
    record = json.loads(msgs[0]["Body"])["Records"][0]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["object"]["key"] == "AWSLogs/x.json.gz"
