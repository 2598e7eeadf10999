"""The built-in SQS through the stock AWS CLI and boto3: queues, messages with attributes,
long polls, dead-letter queues, errors as SDKs map them, queue policies across accounts, and
messages that survive a restart and stay out of the audit trail."""

import json
import time

import botocore.exceptions
import pytest

from conftest import MEMBER, MGMT, error_code


def test_a_message_round_trip_with_boto3(cairn):
    sqs = cairn.client("sqs")
    url = sqs.create_queue(QueueName="collector", Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
    assert url.endswith(f"/{MGMT}/collector")
    assert sqs.get_queue_url(QueueName="collector")["QueueUrl"] == url
    assert url in sqs.list_queues(QueueNamePrefix="coll")["QueueUrls"]
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody="hello",
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "s3-event"},
            "size": {"DataType": "Number", "StringValue": "42"},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
        },
    )
    assert sent["MD5OfMessageBody"] == "5d41402abc4b2a76b9719d911017c592"
    got = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
    )["Messages"]
    assert [m["Body"] for m in got] == ["hello"]
    m = got[0]
    assert m["MessageId"] == sent["MessageId"]
    assert m["MessageAttributes"]["raw"]["BinaryValue"] == b"\x00\x01\xff"
    assert m["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert m["Attributes"]["ApproximateReceiveCount"] == "1"
    assert m["Attributes"]["SenderId"] == MGMT
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert attrs["QueueArn"] == f"arn:aws:sqs:us-east-1:{MGMT}:collector"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    time.sleep(5.2)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []


def test_errors_map_to_the_sdk_exceptions(cairn):
    sqs = cairn.client("sqs")
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as e:
        sqs.get_queue_url(QueueName="absent")
    assert error_code(e.value) == "AWS.SimpleQueueService.NonExistentQueue"
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "1"})
    assert error_code(e.value) == "QueueAlreadyExists"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert error_code(e.value) == "InvalidParameterValue"
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sqs.create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true"})
    assert error_code(e.value) == "AWS.SimpleQueueService.UnsupportedOperation"


def cli_sqs(cairn, *args):
    """`aws sqs ...`: AWS CLI v1 pins SQS to `queue.amazonaws.com` unless `--endpoint-url` is
    given on the command line (it ignores `AWS_ENDPOINT_URL` for SQS)."""
    return cairn.aws("--endpoint-url", cairn.endpoint, "sqs", *args)


def test_long_poll_dead_letter_and_the_cli(cairn):
    out, _ = cli_sqs(cairn, "create-queue", "--queue-name", "dlq")
    dlq_arn = f"arn:aws:sqs:us-east-1:{MGMT}:dlq"
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})
    src, _ = cli_sqs(cairn, "create-queue", "--queue-name", "src",
                       "--attributes", json.dumps({"RedrivePolicy": policy, "VisibilityTimeout": "1"}))
    cli_sqs(cairn, "send-message", "--queue-url", src["QueueUrl"], "--message-body", "poison")
    first, _ = cli_sqs(cairn, "receive-message", "--queue-url", src["QueueUrl"])
    assert first["Messages"][0]["Body"] == "poison"
    time.sleep(1.1)
    # The second receive finds it past maxReceiveCount: it moves to the dead-letter queue.
    again, _ = cli_sqs(cairn, "receive-message", "--queue-url", src["QueueUrl"])
    assert again.get("Messages", []) == []
    dead, _ = cli_sqs(cairn, "receive-message", "--queue-url", out["QueueUrl"],
                        "--wait-time-seconds", "2")
    assert dead["Messages"][0]["Body"] == "poison"
    sources, _ = cli_sqs(cairn, "list-dead-letter-source-queues", "--queue-url", out["QueueUrl"])
    assert sources["queueUrls"] == [src["QueueUrl"]]
    # An empty long poll waits its time, then answers with no messages.
    started = time.monotonic()
    empty, _ = cli_sqs(cairn, "receive-message", "--queue-url", src["QueueUrl"],
                         "--wait-time-seconds", "2")
    assert empty.get("Messages", []) == []
    assert time.monotonic() - started >= 1.9


def test_another_account_needs_the_queue_policy_and_its_denial_is_recorded(cairn):
    sqs = cairn.client("sqs")
    url = sqs.create_queue(QueueName="shared")["QueueUrl"]
    member = cairn.client("sqs", creds=cairn.member_credentials())
    with pytest.raises(botocore.exceptions.ClientError) as e:
        member.send_message(QueueUrl=url, MessageBody="from outside")
    assert error_code(e.value) == "AccessDenied"
    denied = [ev for ev in cairn.events()
              if ev["eventName"] == "SendMessage" and ev.get("errorCode")]
    assert denied and denied[-1]["recipientAccountId"] in (MGMT, MEMBER)
    assert denied[-1]["userIdentity"]["accountId"] == MEMBER
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MEMBER}:root"},
                       "Action": "sqs:SendMessage",
                       "Resource": f"arn:aws:sqs:us-east-1:{MGMT}:shared"}],
    })})
    member.send_message(QueueUrl=url, MessageBody="from outside")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        member.receive_message(QueueUrl=url)
    assert error_code(e.value) == "AccessDenied"
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "from outside"


def test_messages_survive_a_restart_sealed_and_unrecorded(cairn):
    sqs = cairn.client("sqs")
    url = sqs.create_queue(QueueName="durable")["QueueUrl"]
    secret = "card 4111 1111 1111 1111"
    sqs.send_message(QueueUrl=url, MessageBody=secret)
    cairn.restart()
    sqs = cairn.client("sqs")
    got = sqs.receive_message(QueueUrl=url)["Messages"]
    assert got[0]["Body"] == secret
    cairn.stop()
    for path in cairn.data_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    cairn.start()
    trail = json.dumps(cairn.events())
    assert "SendMessage" in trail and secret not in trail
