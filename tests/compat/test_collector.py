"""A real SQS-driven S3 collector that none of us wrote reads Cairn's delivered CloudTrail files
unchanged: SAP's ECS LogForwarder (`sap-ecs-log-forwarder` on PyPI, SAP SE), the reference
consumer SAP ships for its LogServ object stores. It long-polls an SQS queue for S3
`ObjectCreated:Put` event notifications, fetches each object with boto3, gunzips it and writes
every line to its file sink. It is pointed at Cairn only through `AWS_ENDPOINT_URL` (no code of
its own changed, nothing patched), with the least-privilege credentials of an IAM user.

Two trails deliver into one bucket under two prefixes; the bucket's notification configuration
sends each new log file to a queue. The collector must write out exactly the delivered files
(each document it writes equal to the file read back through S3, record for record), and a
collector killed mid-batch and started again must lose nothing: the messages it had received
but not deleted come back when their visibility timeout (the collector's own 180 s) runs out.
`scripts/test.sh` installs the collector into `<target>/collector-venv`."""

import gzip
import json
import os
import pathlib
import signal
import string
import subprocess
import time
import uuid

import botocore.exceptions
import pytest

from conftest import CAIRN, CONFIG as BASE_CONFIG, MEMBER, MGMT, ROOT_KEY, ROOT_SECRET, Cairn, error_code
from test_security_lake import make_user, policy, stmt

HERE = pathlib.Path(__file__).resolve().parent
TEMPLATE = HERE / "fixtures" / "collector-config.json.tmpl"
# Beside the binary under test: scripts/test.sh builds both in the same target dir.
VENV = pathlib.Path(os.environ.get("CAIRN_COLLECTOR_VENV") or pathlib.Path(CAIRN).resolve().parents[1] / "collector-venv")
COLLECTOR = VENV / "bin" / "sap-ecs-log-forwarder"

BUCKET = "trail-logs"
REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1"]
TRAILS = {"alpha": "alpha", "beta": "beta"}  # trail name -> S3 key prefix
# The visibility timeout the collector asks for on every ReceiveMessage (its aws.py).
COLLECTOR_VISIBILITY = 180
# What it does with the queue: receive, delete, and send back a message whose file failed.
QUEUE_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:SendMessage"]

# The suite's server, with trails that deliver every second.
CONFIG = BASE_CONFIG + '\n[delivery]\ninterval = "1s"\n'


@pytest.fixture
def feed(tmp_path, request):
    """A Cairn whose trails deliver every second, and the bucket they deliver into."""
    assert COLLECTOR.exists(), f"{COLLECTOR} is missing: run ./scripts/test.sh (it installs the collector)"
    server = Cairn(tmp_path / "data", config=CONFIG)
    server.cli("bucket", "create", BUCKET)
    request.addfinalizer(server.stop)
    return server.start()


def make_queue(cairn, name="trail-files"):
    """The queue, with the policy AWS asks for before S3 may send to it."""
    sqs = cairn.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy({
        "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": f"arn:aws:s3:::{BUCKET}"},
                      "StringEquals": {"aws:SourceAccount": MGMT}},
    })})
    return url, arn


def notify(cairn, queue_arn):
    """One queue configuration per trail prefix: CloudTrail's log files, not its digests."""
    cairn.client("s3").put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
        "QueueConfigurations": [
            {"Id": f"{prefix}-logs", "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": f"{prefix}/AWSLogs/"},
                                                {"Name": "suffix", "Value": ".json.gz"}]}}}
            for prefix in TRAILS.values()
        ]})


def make_trails(cairn):
    ct = cairn.client()
    for name, prefix in TRAILS.items():
        ct.create_trail(Name=name, S3BucketName=BUCKET, S3KeyPrefix=prefix, IsMultiRegionTrail=True)
        ct.start_logging(Name=name)


def collector_user(cairn, queue_arn):
    """What the collector needs and nothing more: the queue's messages (SendMessage for its
    retry path) and the bucket's objects."""
    return make_user(cairn, "collector", stmt("Allow", QUEUE_ACTIONS, queue_arn),
                     stmt("Allow", "s3:GetObject", f"arn:aws:s3:::{BUCKET}/*"))


def ingest(cairn, tmp_path, per_region):
    """Management events in every region, through `cairn ingest`; returns their eventIDs."""
    ids, lines = set(), []
    for region in REGIONS:
        for _ in range(per_region):
            rid = str(uuid.uuid4())
            ids.add(rid)
            lines.append(json.dumps({
                "eventVersion": "1.11",
                "userIdentity": {"type": "Root", "principalId": MGMT, "arn": f"arn:aws:iam::{MGMT}:root",
                                 "accountId": MGMT},
                "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances",
                "awsRegion": region, "sourceIPAddress": "192.0.2.10", "userAgent": "collector-test",
                "requestParameters": None, "responseElements": None, "eventID": rid,
                "eventType": "AwsApiCall", "readOnly": True, "managementEvent": True,
                "recipientAccountId": MGMT, "eventCategory": "Management"}))
    f = tmp_path / f"batch-{uuid.uuid4().hex[:8]}.ndjson"
    f.write_text("\n".join(lines) + "\n")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ROOT_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
               AWS_ENDPOINT_URL=cairn.endpoint)
    subprocess.run([CAIRN, "ingest", "--quiet", str(f)], check=True, env=env, capture_output=True)
    return ids


class Bucket:
    """The delivered log files, read back through Cairn's S3 API (ListObjectsV2 and GetObject
    are data events, which these management-event trails do not deliver: reading them makes no
    new files)."""

    def __init__(self, cairn):
        self.s3 = cairn.client("s3")
        self.files = {}

    def refresh(self):
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for o in page.get("Contents", []):
                if o["Key"] not in self.files:
                    body = self.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
                    self.files[o["Key"]] = json.loads(gzip.decompress(body))["Records"]
        return self

    def ids(self):
        return {r["eventID"] for recs in self.files.values() for r in recs}

    def wait_for(self, ids, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if ids <= self.refresh().ids():
                return
            time.sleep(0.3)
        raise AssertionError(f"{len(ids - self.ids())} ingested records never delivered")

    def wait_quiet(self, quiet=3.5, timeout=30):
        """Until no new file has appeared for `quiet` seconds (several delivery intervals)."""
        deadline = time.time() + timeout
        count, since = len(self.refresh().files), time.time()
        while time.time() < deadline:
            time.sleep(0.5)
            n = len(self.refresh().files)
            if n != count:
                count, since = n, time.time()
            elif time.time() - since >= quiet:
                return
        recent = list(self.files)[-6:]  # in the order they appeared
        names = sorted({(r["eventSource"], r["eventName"]) for k in recent for r in self.files[k]})
        raise AssertionError(f"the trails kept delivering new files, of {names}")


class Collector:
    """`sap-ecs-log-forwarder`, unchanged, as its own process, configured from the template."""

    def __init__(self, cairn, workdir, queue_url, creds, name="cairn-trails"):
        self.cairn = cairn
        self.out = workdir / "out"
        self.out.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "config.json"
        self.config.write_text(string.Template(TEMPLATE.read_text()).substitute(
            name=name, queue_url=queue_url, bucket=BUCKET, access_key_id=creds[0],
            secret_access_key=creds[1], out_dir=str(self.out)))
        self.log = workdir / "collector.log"
        self.home = workdir / "home"
        self.home.mkdir(exist_ok=True)
        self.proc = None
        self.runs = 0

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            SAP_LOG_FORWARDER_CONFIG=str(self.config),
            HOME=str(self.home),
            AWS_ENDPOINT_URL=self.cairn.endpoint,
            AWS_CONFIG_FILE="/dev/null",
            AWS_SHARED_CREDENTIALS_FILE="/dev/null",
            AWS_EC2_METADATA_DISABLED="true",
            PYTHONUNBUFFERED="1",
        )
        self.runs += 1
        with open(self.log, "a") as log:
            log.write(f"---- run {self.runs}\n")
            self.proc = subprocess.Popen([str(COLLECTOR)], env=env, cwd=self.home,
                                         stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)

    def documents(self):
        """{S3 key: the log-file documents it wrote for that key} (its file sink mirrors the
        key, less `.gz`, and appends: a file read twice holds two documents), and how many
        writes the kill tore."""
        out, torn = {}, 0
        dec = json.JSONDecoder()
        for p in self.out.rglob("*"):
            if not p.is_file():
                continue
            docs = out.setdefault(str(p.relative_to(self.out)) + ".gz", [])
            text, pos = p.read_text(), 0
            while True:
                while pos < len(text) and text[pos].isspace():
                    pos += 1
                if pos >= len(text):
                    break
                try:
                    doc, pos = dec.raw_decode(text, pos)
                    docs.append(doc)
                except json.JSONDecodeError:
                    # A write cut by the kill: skip to the next whole document.
                    torn += 1
                    nxt = text.find('{"Records"', pos + 1)
                    if nxt < 0:
                        break
                    pos = nxt
        return out, torn

    def keys(self):
        return set(self.documents()[0])

    def log_text(self):
        return self.log.read_text() if self.log.exists() else ""


def wait_until(pred, timeout, what, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")


def drain(cairn, url):
    """The keys of the messages still in the queue (visible now or when their timeout ends)."""
    sqs, keys = cairn.client("sqs"), []
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    pending = int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
    deadline = time.time() + COLLECTOR_VISIBILITY + 30
    while len(keys) < pending and time.time() < deadline:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=5,
                                     VisibilityTimeout=900).get("Messages", []):
            keys += [r["s3"]["object"]["key"] for r in json.loads(m["Body"]).get("Records", [])]
    assert len(keys) == pending, f"{pending} messages pending, {len(keys)} received"
    return keys


def test_collector_receives_exactly_the_delivered_records_across_a_restart(feed, tmp_path):
    url, arn = make_queue(feed)
    notify(feed, arn)
    make_trails(feed)
    creds = collector_user(feed, arn)
    bucket = Bucket(feed)
    ingested = set()
    # Two rounds before the collector starts: more files queued than one ReceiveMessage takes.
    for _ in range(2):
        ids = ingest(feed, tmp_path, per_region=25)
        bucket.wait_for(ids)
        ingested |= ids
    col = Collector(feed, tmp_path / "collector", url, creds)
    try:
        col.start()
        # Kill it mid-batch: as soon as its first file is out, while it holds others invisible.
        wait_until(lambda: col.keys(), 60, lambda: "the collector's first file\n" + col.log_text())
        col.kill()
        at_kill, files_at_kill = col.keys(), set(bucket.refresh().files)
        assert 0 < len(at_kill) < len(files_at_kill), (len(at_kill), len(files_at_kill))
        # Files delivered while it is down wait in the queue.
        ids = ingest(feed, tmp_path, per_region=25)
        bucket.wait_for(ids)
        ingested |= ids
        bucket.wait_quiet()
        before = dict(bucket.files)
        assert ingested <= bucket.ids()
        col.start()
        # What it received before the kill comes back after the 180 s visibility timeout.
        started = time.time()
        wait_until(lambda: col.keys() >= set(before), COLLECTOR_VISIBILITY + 90,
                   "every file delivered before the restart at the collector", step=1)
        took = time.time() - started
        # Stop it while it waits on an empty queue, then let the last files land.
        time.sleep(1.5)
        col.kill()
        bucket.wait_quiet()
    finally:
        col.kill(signal.SIGTERM)
    docs, torn = col.documents()
    queued = drain(feed, url)
    # Every delivered file reached the collector or still waits in the queue (the files that
    # record the test's own last management calls); nothing else. The collector's queue calls
    # are data events these trails do not log, so they make no files of their own.
    assert set(docs) | set(queued) == set(bucket.files), "delivered files lost on the way"
    assert set(docs) >= set(before), "files delivered before the restart not all read"
    # Unchanged: each document it wrote is the delivered file, record for record.
    for key, written in docs.items():
        for doc in written:
            assert doc == {"Records": bucket.files[key]}, f"{key} arrived changed"
    # At-least-once: a file received, written and not yet deleted at the kill is read again
    # after the restart (two documents for its key). One ReceiveMessage holds at most 10.
    repeated = [k for k, written in docs.items() if len(written) > 1]
    records = sum(len(bucket.files[k]) for k in docs)
    print(f"collector: {len(bucket.files)} files delivered, {len(before)} before the restart, "
          f"{len(at_kill)} out before the kill, {len(docs)} read ({records} records), "
          f"{len(repeated)} read twice, {torn} torn writes, {len(queued)} still queued at the end; "
          f"the restart caught up in {took:.0f} s")
    assert len(repeated) <= 10, "more files read twice than one killed batch explains"
    assert torn == 0


def test_a_collector_without_rights_gets_nothing_and_is_recorded(feed, tmp_path):
    """The same collector with credentials that do not reach the feed: an IAM user with no
    policy, another account's user, and a user who may read the queue but not the bucket. None
    emits a record; each refusal is an audit event with its errorCode."""
    url, arn = make_queue(feed)
    notify(feed, arn)
    make_trails(feed)
    ingested = ingest(feed, tmp_path, per_region=5)
    Bucket(feed).wait_for(ingested)
    nobody = make_user(feed, "nobody")
    queue_only = make_user(feed, "queue-only", stmt("Allow", QUEUE_ACTIONS, arn))
    member_iam = feed.client("iam", creds=feed.member_credentials())
    member_iam.create_user(UserName="outsider")
    member_iam.put_user_policy(UserName="outsider", PolicyName="all",
                               PolicyDocument=policy(stmt("Allow", ["sqs:*", "s3:*"])))
    k = member_iam.create_access_key(UserName="outsider")["AccessKey"]
    outsider = (k["AccessKeyId"], k["SecretAccessKey"])

    cols = [Collector(feed, tmp_path / name, url, creds, name=name)
            for name, creds in [("nobody", nobody), ("outsider", outsider), ("queue-only", queue_only)]]

    def denied(name, user, account=MGMT):
        return [e for e in feed.events()
                if e["eventName"] == name and e.get("errorCode")
                and e["userIdentity"].get("userName") == user and e["userIdentity"].get("accountId") == account]

    try:
        for c in cols:
            c.start()
        wait_until(lambda: denied("ReceiveMessage", "nobody") and denied("ReceiveMessage", "outsider", MEMBER)
                   and denied("GetObject", "queue-only"), 60, "the three refusals in the audit trail", step=0.5)
    finally:
        for c in cols:
            c.kill(signal.SIGTERM)
    for c in cols:
        assert c.documents() == ({}, 0), f"{c.config.parent.name} emitted records"
    for name, user, account in [("ReceiveMessage", "nobody", MGMT), ("ReceiveMessage", "outsider", MEMBER),
                                ("GetObject", "queue-only", MGMT)]:
        ev = denied(name, user, account)[-1]
        assert ev["errorCode"] in ("AccessDenied", "AccessDeniedException"), ev
    # Going around the queue does not help: the same user is refused the file itself.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        feed.client("s3", creds=nobody).get_object(Bucket=BUCKET, Key=next(iter(Bucket(feed).refresh().files)))
    assert error_code(e.value) == "AccessDenied"
