"""Real-time monitoring end to end: a trail streams into a log group, the CIS pack's alarms
fire on a root console sign-in and a StopLogging call, and a local HTTP subscriber receives
the notifications."""

import datetime
import http.server
import json
import os
import subprocess
import threading
import time
import urllib.request
import uuid

import pytest

from conftest import CAIRN, MGMT, ROOT_KEY, ROOT_SECRET, error_code
from pipeline_oracle import real_records

GROUP = "CloudTrail/audit"
GROUP_ARN = f"arn:aws:logs:us-east-1:{MGMT}:log-group:{GROUP}:*"
ROLE_ARN = f"arn:aws:iam::{MGMT}:role/CloudTrail_CloudWatchLogs_Role"


class Subscriber(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Subscriber.received.append((time.time(), dict(self.headers), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


@pytest.fixture
def subscriber():
    Subscriber.received = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Subscriber)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/", Subscriber.received
    srv.shutdown()


def root_console_login():
    [r] = [r for src, r in real_records() if src == "docs" and r.get("eventName") == "ConsoleLogin"
           and r.get("userIdentity", {}).get("type") == "Root"][:1]
    r = dict(r)
    r["eventTime"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    r["eventID"] = str(uuid.uuid4())
    r["recipientAccountId"] = MGMT
    r["userIdentity"] = dict(r["userIdentity"], accountId=MGMT, arn=f"arn:aws:iam::{MGMT}:root")
    return r


def test_cis_alarms_fire_and_notify(cairn, subscriber, tmp_path):
    url, received = subscriber
    logs = cairn.client("logs")
    cw = cairn.client("cloudwatch")
    ct = cairn.client()
    logs.create_log_group(logGroupName=GROUP)
    with pytest.raises(Exception) as e:
        ct.create_trail(Name="bad-group", S3BucketName="trail-logs",
                        CloudWatchLogsLogGroupArn=f"arn:aws:logs:us-east-1:{MGMT}:log-group:nope:*",
                        CloudWatchLogsRoleArn=ROLE_ARN)
    assert error_code(e.value) == "InvalidCloudWatchLogsLogGroupArnException"
    t = ct.create_trail(Name="monitored", S3BucketName="trail-logs", IsMultiRegionTrail=True,
                        CloudWatchLogsLogGroupArn=GROUP_ARN, CloudWatchLogsRoleArn=ROLE_ARN)
    assert t["CloudWatchLogsLogGroupArn"] == GROUP_ARN
    ct.start_logging(Name="monitored")
    ct.create_trail(Name="other", S3BucketName="other-logs")
    ct.start_logging(Name="other")

    env = dict(os.environ, AWS_ACCESS_KEY_ID=ROOT_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
               AWS_ENDPOINT_URL=cairn.endpoint)
    out = subprocess.run([CAIRN, "monitor", "enable", "cis", "--log-group", GROUP, "--subscribe", url],
                         env=env, capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    assert len(report["metricFilters"]) == 14 and len(report["alarms"]) == 14
    filters = logs.describe_metric_filters(logGroupName=GROUP)["metricFilters"]
    assert len(filters) == 14
    assert any(f["filterPattern"] == '{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType !="AwsServiceEvent"}' for f in filters)

    f = tmp_path / "login.ndjson"
    f.write_text(json.dumps(root_console_login()) + "\n")
    t0 = time.time()
    subprocess.run([CAIRN, "ingest", "-q", str(f)], env=env, check=True, capture_output=True)
    t_stop = time.time()
    ct.stop_logging(Name="other")

    deadline = time.time() + 15
    while time.time() < deadline and len(received) < 2:
        time.sleep(0.05)
    assert len(received) >= 2, f"notifications received: {received}"
    alarms = {}
    for at, headers, body in received:
        assert body["Type"] == "Notification" and body["SignatureVersion"] == "2"
        msg = json.loads(body["Message"])
        assert msg["NewStateValue"] == "ALARM"
        alarms[msg["AlarmName"]] = at
    names = sorted(alarms)
    assert any("CloudWatch.1" in n for n in names) and any("CloudWatch.5" in n for n in names), names
    # Every call here is made with root credentials, so root usage (CloudWatch.1) may already
    # fire on the API calls before the console sign-in; StopLogging is the only trail change
    # after the pack was enabled, so its alarm times the path from call to notification.
    stop_latency = min(v for k, v in alarms.items() if "CloudWatch.5" in k) - t_stop
    print(f"StopLogging call to CloudWatch.5 notification: {stop_latency * 1000:.0f} ms")
    assert stop_latency < 5
    root_hits = logs.filter_log_events(logGroupName=GROUP, filterPattern=[
        f["filterPattern"] for f in filters if "Root" in f["filterPattern"]][0])["events"]
    assert any(json.loads(e["message"])["eventName"] == "ConsoleLogin" for e in root_hits)
    in_alarm = [a["AlarmName"] for a in cw.describe_alarms(StateValue="ALARM")["MetricAlarms"]]
    assert any("CloudWatch.1" in n for n in in_alarm) and any("CloudWatch.5" in n for n in in_alarm)
    found = logs.filter_log_events(logGroupName=GROUP, filterPattern='{ $.eventName = "StopLogging" }')["events"]
    assert len(found) == 1 and json.loads(found[0]["message"])["requestParameters"]["name"] == "other"
    streams = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=GROUP)["logStreams"]]
    assert f"{MGMT}_CloudTrail_us-east-1" in streams

    page = urllib.request.urlopen(cairn.endpoint + "/metrics", timeout=5).read().decode()
    assert "cairn_journal_bytes" in page and 'cairn_consumer_lag_events{consumer="monitor"}' in page


class SmtpSink:
    """A minimal SMTP server on 127.0.0.1 that keeps every message it receives."""

    def __init__(self):
        import socketserver
        self.messages = []
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                w = lambda line: self.wfile.write(line.encode() + b"\r\n")
                w("220 sink ESMTP")
                mail = {"rcpt": [], "data": ""}
                while True:
                    line = self.rfile.readline().decode(errors="replace")
                    if not line:
                        return
                    cmd = line.strip().upper()
                    if cmd.startswith("EHLO") or cmd.startswith("HELO"):
                        w("250-sink")
                        w("250 8BITMIME")
                    elif cmd.startswith("MAIL FROM"):
                        mail["from"] = line.strip()[10:]
                        w("250 ok")
                    elif cmd.startswith("RCPT TO"):
                        mail["rcpt"].append(line.strip()[8:])
                        w("250 ok")
                    elif cmd == "DATA":
                        w("354 go ahead")
                        data = []
                        while True:
                            l = self.rfile.readline().decode(errors="replace")
                            if l in (".\r\n", ".\n", ""):
                                break
                            data.append(l)
                        mail["data"] = "".join(data)
                        sink.messages.append(dict(mail))
                        mail = {"rcpt": [], "data": ""}
                        w("250 queued")
                    elif cmd == "QUIT":
                        w("221 bye")
                        return
                    else:
                        w("250 ok")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def test_alarm_email_through_the_configured_smtp_relay(tmp_path):
    from conftest import CONFIG, Cairn
    sink = SmtpSink()
    c = Cairn(tmp_path / "data", config=CONFIG + f"""
[notifications.smtp]
host = "127.0.0.1"
port = {sink.port}
from = "Cairn <cairn@example.com>"
""")
    c.cli("bucket", "create", "trail-logs")
    c.cli("bucket", "create", "other-logs")
    c.start()
    try:
        ct, logs = c.client(), c.client("logs")
        logs.create_log_group(logGroupName=GROUP)
        ct.create_trail(Name="monitored", S3BucketName="trail-logs", CloudWatchLogsLogGroupArn=GROUP_ARN,
                        CloudWatchLogsRoleArn=ROLE_ARN)
        ct.start_logging(Name="monitored")
        ct.create_trail(Name="other", S3BucketName="other-logs")
        ct.start_logging(Name="other")
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ROOT_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
                   AWS_ENDPOINT_URL=c.endpoint)
        run = lambda *a: json.loads(subprocess.run([CAIRN, "monitor", *a], env=env, capture_output=True,
                                                   text=True, check=True).stdout)
        topic = run("create-topic", "security-ops")["topicArn"]
        run("subscribe", topic, "--protocol", "email", "--endpoint", "secops@example.com")
        run("enable", "cis", "--log-group", GROUP, "--topic", "security-ops")
        listed = run("topics")["topics"]
        assert any(t["topicArn"] == topic and t["subscriptions"][0]["protocol"] == "email" for t in listed)
        ct.stop_logging(Name="other")
        deadline = time.time() + 15
        while time.time() < deadline and not any("CloudWatch.5" in m["data"] for m in sink.messages):
            time.sleep(0.1)
        mails = [m for m in sink.messages if "CloudWatch.5" in m["data"]]
        assert mails, f"no CloudWatch.5 e-mail among {len(sink.messages)} messages"
        m = mails[0]
        assert "<secops@example.com>" in m["rcpt"][0]
        assert "Subject: ALARM:" in m["data"] and "From: Cairn <cairn@example.com>" in m["data"]
    finally:
        c.stop()
        sink.stop()
