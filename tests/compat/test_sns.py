"""SNS through the stock AWS CLI and boto3: topics, the http(s) confirmation handshake as AWS
does it (a SubscriptionConfirmation POSTed to the endpoint, confirmed by visiting its
SubscribeURL), notifications whose signatures an independent verifier from PyPI accepts
(aws-sns-verifier), sns -> sqs delivery into a Cairn queue, topic policies across accounts,
and a notification that survives a restart in the middle of its retries."""

import http.server
import json
import queue
import signal
import threading
import time
import urllib.request

import botocore.exceptions
import pytest

from conftest import MEMBER, MGMT, error_code

import aws_sns_verifier.validator as aws_sns_verifier  # installed by scripts/test.sh


class Endpoint:
    """An http subscriber on 127.0.0.1:0: every POST body goes to a queue; the status it
    answers can be changed."""

    def __init__(self):
        self.messages = queue.Queue()
        self.status = 200
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(n)
                outer.messages.put((dict(self.headers), json.loads(body)))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, kind, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                headers, body = self.messages.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                break
            if body.get("Type") == kind:
                return headers, body
        raise AssertionError(f"no {kind} arrived")

    def close(self):
        self.server.shutdown()


@pytest.fixture
def endpoint():
    e = Endpoint()
    yield e
    e.close()


def verify(message, cairn):
    """aws-sns-verifier's own checks, with the two AWS-only parts pointed at Cairn: the
    certificate URL pattern (AWS's host) is Cairn's endpoint, and the issuer check (an
    Amazon-issued certificate) is replaced by loading the PEM Cairn serves at SigningCertURL.
    The canonical string and the SHA256withRSA check (SignatureVersion 2) are the verifier's."""
    v = aws_sns_verifier
    if message.get("Type") == "Notification":
        # SNS leaves `Subject` out when none was published (CloudTrail's file notifications);
        # the verifier's model requires the field, and an empty one is what its canonical
        # string skips, as SNS's does.
        message = {"Subject": "", **message}
    host = cairn.endpoint.removeprefix("http://").replace(".", r"\.")
    original = (v._DEFAULT_CERTIFICATE_URL_REGEX, v._validate_certificate)
    v._DEFAULT_CERTIFICATE_URL_REGEX = rf"^http://{host}/_cairn/sns-cert\.pem$"
    v._validate_certificate = lambda url: v._get_certificate(url).public_key()
    try:
        return v.validate_sns_signature(message, auto_confirm_subscription=False)
    finally:
        v._DEFAULT_CERTIFICATE_URL_REGEX, v._validate_certificate = original


def subscribe_confirmed(cairn, sns, topic, endpoint):
    pending = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)
    assert pending["SubscriptionArn"] == "pending confirmation"
    headers, conf = endpoint.next("SubscriptionConfirmation")
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert conf["TopicArn"] == topic and conf["Token"]
    verify(conf, cairn)
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [s["SubscriptionArn"] for s in subs] == ["PendingConfirmation"]
    # Confirm as a subscriber does: visit the SubscribeURL (unsigned GET).
    with urllib.request.urlopen(conf["SubscribeURL"]) as r:
        body = r.read().decode()
    assert "<ConfirmSubscriptionResult><SubscriptionArn>" in body
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert subs[0]["SubscriptionArn"].startswith(topic + ":")
    return subs[0]["SubscriptionArn"]


def test_handshake_publish_and_an_independent_signature_check(cairn, endpoint):
    sns = cairn.client("sns")
    topic = sns.create_topic(Name="alerts", Attributes={"DisplayName": "Alerts"},
                             Tags=[{"Key": "team", "Value": "sec"}])["TopicArn"]
    assert topic == f"arn:aws:sns:us-east-1:{MGMT}:alerts"
    sub_arn = subscribe_confirmed(cairn, sns, topic, endpoint)
    attrs = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attrs["DisplayName"] == "Alerts"
    assert attrs["SubscriptionsConfirmed"] == "1" and attrs["Owner"] == MGMT
    assert json.loads(attrs["Policy"])["Id"] == "__default_policy_ID"
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == [{"Key": "team", "Value": "sec"}]

    sent = sns.publish(TopicArn=topic, Message="disk almost full", Subject="warning",
                       MessageAttributes={"severity": {"DataType": "String", "StringValue": "high"}})
    headers, note = endpoint.next("Notification")
    assert note["MessageId"] == sent["MessageId"]
    assert note["Message"] == "disk almost full" and note["Subject"] == "warning"
    assert note["SignatureVersion"] == "2"
    assert note["MessageAttributes"]["severity"] == {"Type": "String", "Value": "high"}
    assert headers["x-amz-sns-subscription-arn"] == sub_arn
    checked = verify(note, cairn)
    assert checked.MessageId == sent["MessageId"]
    # A tampered message fails the same verifier.
    with pytest.raises(Exception):
        verify(dict(note, Message="disk is fine"), cairn)

    # The audit trail has the call and the messageId, never the message.
    events = cairn.events()
    pub = [e for e in events if e["eventName"] == "Publish"][-1]
    assert pub["eventSource"] == "sns.amazonaws.com"
    assert pub["responseElements"]["messageId"] == sent["MessageId"]
    assert "disk almost full" not in json.dumps(events)
    assert any(e["eventName"] == "ConfirmSubscription" for e in events)

    # The AWS CLI sees the same.
    out, _ = cairn.aws("sns", "list-topics")
    assert {"TopicArn": topic} in out["Topics"]
    out, _ = cairn.aws("sns", "list-subscriptions")
    assert out["Subscriptions"][0]["Endpoint"] == endpoint.url
    cairn.aws("sns", "unsubscribe", "--subscription-arn", sub_arn)
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_an_alarm_notifies_a_confirmed_http_subscriber_in_cloudwatchs_format(cairn, endpoint):
    sns, cw = cairn.client("sns"), cairn.client("cloudwatch")
    topic = sns.create_topic(Name="alarms")["TopicArn"]
    subscribe_confirmed(cairn, sns, topic, endpoint)
    cw.put_metric_alarm(AlarmName="root-usage", MetricName="RootUsage", Namespace="CIS",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanOrEqualToThreshold", AlarmActions=[topic])
    cw.set_alarm_state(AlarmName="root-usage", StateValue="ALARM", StateReason="test")
    _, note = endpoint.next("Notification", timeout=30)
    assert note["Subject"] == 'ALARM: "root-usage" in US East (N. Virginia)'
    alarm = json.loads(note["Message"])
    assert alarm["AlarmName"] == "root-usage" and alarm["NewStateValue"] == "ALARM"
    assert alarm["Trigger"]["MetricName"] == "RootUsage"
    verify(note, cairn)


def test_a_wrong_token_and_other_accounts_are_refused_and_recorded(cairn, endpoint):
    sns = cairn.client("sns")
    topic = sns.create_topic(Name="private")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)
    endpoint.next("SubscriptionConfirmation")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sns.confirm_subscription(TopicArn=topic, Token="0" * 64)
    assert error_code(e.value) == "InvalidParameter"

    member = cairn.client("sns", creds=cairn.member_credentials())
    with pytest.raises(botocore.exceptions.ClientError) as e:
        member.publish(TopicArn=topic, Message="from another account")
    assert error_code(e.value) == "AuthorizationError"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    denied = [ev for ev in cairn.events() if ev["eventName"] == "Publish"]
    assert denied[-1]["errorCode"] == "AuthorizationError"
    assert denied[-1]["recipientAccountId"] in (MGMT, MEMBER)

    # The topic policy lets the member account publish, and nothing else.
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MEMBER}:root"},
        "Action": "sns:Publish", "Resource": topic}]}
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy))
    assert member.publish(TopicArn=topic, Message="allowed now")["MessageId"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        member.delete_topic(TopicArn=topic)
    assert error_code(e.value) == "AuthorizationError"


def sns_may_send(queue_arn, topic):
    """The queue policy SQS needs before SNS delivers: sns.amazonaws.com, for `topic` only."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage", "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]})


def test_sns_to_sqs_delivers_the_signed_envelope_or_the_raw_message(cairn):
    sns, sqs = cairn.client("sns"), cairn.client("sqs")
    topic = sns.create_topic(Name="fanout")["TopicArn"]
    urls = {}
    for name in ("envelope", "raw"):
        urls[name] = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=urls[name], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.set_queue_attributes(QueueUrl=urls[name], Attributes={"Policy": sns_may_send(arn, topic)})
        attrs = {"RawMessageDelivery": "true"} if name == "raw" else {}
        sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attrs,
                            ReturnSubscriptionArn=True)
        assert sub["SubscriptionArn"].startswith(topic + ":")
    sent = sns.publish(TopicArn=topic, Message="object created", Subject="s3")

    def receive(url):
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        return got[0]["Body"]

    envelope = json.loads(receive(urls["envelope"]))
    assert envelope["Type"] == "Notification" and envelope["MessageId"] == sent["MessageId"]
    assert envelope["Message"] == "object created"
    verify(envelope, cairn)
    assert receive(urls["raw"]) == "object created"


def test_a_restart_in_the_middle_of_retries_still_delivers(cairn, endpoint):
    sns = cairn.client("sns")
    topic = sns.create_topic(Name="durable")["TopicArn"]
    subscribe_confirmed(cairn, sns, topic, endpoint)
    endpoint.status = 500
    sent = sns.publish(TopicArn=topic, Message="survives", Subject="restart")
    _, first = endpoint.next("Notification")
    assert first["MessageId"] == sent["MessageId"]
    # Killed while the notification is being retried: it was stored before Publish answered.
    cairn.stop(signal.SIGKILL)
    while not endpoint.messages.empty():
        endpoint.messages.get()
    endpoint.status = 200
    cairn.start()
    _, again = endpoint.next("Notification", timeout=30)
    assert again["MessageId"] == sent["MessageId"] and again["Message"] == "survives"
