"""Issue 14, data at rest (items "At rest" and 15): a holder of a copy of the data directory
reads no event text, no secret and no signature from it, and the directory is private to the
server's user (0700 directories, 0600 files).

Every byte of every file under the data directory is searched (SQLite WAL files included;
nothing is decompressed: encrypted objects are opaque, and no gzip stream may exist at all)."""

import base64
import gzip
import json
import os
import pathlib
import shutil
import tarfile
import tempfile
import time
import urllib.request
import uuid

import botocore.config
import botocore.exceptions
import pytest

from conftest import CONFIG, MGMT, ROOT_KEY, ROOT_SECRET, Cairn, error_code
from test_s3 import ingest

REST_CONFIG = CONFIG + """
[delivery]
interval = "1s"
digest_period = "2s"
"""


@pytest.fixture
def server():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cairn-rest-"))
    # A loose umask, as on many hosts: the server must not inherit it.
    old = os.umask(0o022)
    try:
        c = Cairn(tmp / "data", config=REST_CONFIG)
        c.cli("bucket", "create", "trail-logs")
        c.start()
    finally:
        os.umask(old)
    try:
        yield c
    finally:
        c.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def files_under(root):
    out = []
    for dirpath, dirs, files in os.walk(root):
        out += [pathlib.Path(dirpath) / f for f in files]
    return out


def leaks(root, needles):
    """(file, needle) for every needle found in the raw bytes of any file under root."""
    hits = []
    for p in files_under(root):
        try:
            data = p.read_bytes()
        except OSError:
            continue
        for label, n in needles.items():
            if n and n in data:
                hits.append((str(p.relative_to(root)), label))
    return hits


def gzip_files(root):
    return [str(p.relative_to(root)) for p in files_under(root) if p.read_bytes()[:2] == b"\x1f\x8b"]


def loose_modes(root):
    bad = []
    if os.stat(root).st_mode & 0o077:
        bad.append((".", oct(os.stat(root).st_mode & 0o777)))
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = pathlib.Path(dirpath) / name
            m = os.lstat(p).st_mode
            if m & 0o077:
                bad.append((str(p.relative_to(root)), oct(m & 0o777)))
    return bad


def record(marker, user):
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": MGMT,
                         "arn": f"arn:aws:iam::{MGMT}:user/{user}", "userName": user},
        "eventTime": now, "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
        "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.10", "userAgent": marker + "-ingest-ua",
        "requestParameters": {"note": marker + "-ingest-param"}, "responseElements": None,
        "requestID": str(uuid.uuid4()), "eventID": str(uuid.uuid4()), "readOnly": False,
        "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": MGMT,
        "eventCategory": "Management",
    }


def client(c, service, marker, creds=None):
    key, secret = (creds or (ROOT_KEY, ROOT_SECRET))[:2]
    import boto3
    return boto3.client(service, region_name="us-east-1", endpoint_url=c.endpoint,
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        aws_session_token=(creds[2] if creds and len(creds) > 2 else None),
                        config=botocore.config.Config(retries={"max_attempts": 1}, signature_version="s3v4"
                                                      if service == "s3" else None,
                                                      user_agent_extra=marker + "-ua"))


def lookup_user(c, user):
    ct = c.client()
    return ct.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": user}])["Events"]


def test_item_15_data_dir_holds_no_event_text_secret_or_signature_and_is_private(server):
    c = server
    marker = "restmk" + uuid.uuid4().hex[:20]
    ingest_user = marker + "-ingest-user"
    ct = client(c, "cloudtrail", marker)
    logs = client(c, "logs", marker)
    logs.create_log_group(logGroupName="rest-group")
    ct.create_trail(Name="audit", S3BucketName="trail-logs", EnableLogFileValidation=True,
                    IsMultiRegionTrail=True,
                    CloudWatchLogsLogGroupArn=f"arn:aws:logs:us-east-1:{MGMT}:log-group:rest-group:*",
                    CloudWatchLogsRoleArn=f"arn:aws:iam::{MGMT}:role/CloudTrail_CloudWatchLogs")
    ct.start_logging(Name="audit")
    logs.create_log_stream(logGroupName="rest-group", logStreamName="app")
    logs.put_log_events(logGroupName="rest-group", logStreamName="app", logEvents=[
        {"timestamp": int(time.time() * 1000), "message": marker + "-put-log-event"}])

    # IAM: a user with an access key and the right to assume a role; a session from it.
    iam = client(c, "iam", marker)
    iam.create_user(UserName="rest-user")
    role = iam.create_role(RoleName="rest-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MGMT}:root"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]
    iam.put_user_policy(UserName="rest-user", PolicyName="assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role["Arn"]}]}))
    key = iam.create_access_key(UserName="rest-user")["AccessKey"]
    user_creds = (key["AccessKeyId"], key["SecretAccessKey"])
    session = client(c, "sts", marker, creds=user_creds).assume_role(
        RoleArn=role["Arn"], RoleSessionName=marker + "-session")["Credentials"]
    session_creds = (session["AccessKeyId"], session["SecretAccessKey"], session["SessionToken"])

    # Denied calls carry the marker in their request parameters (and user agent).
    for creds in (user_creds, session_creds):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            client(c, "cloudtrail", marker, creds=creds).delete_trail(Name=marker + "-denied-param")
        assert error_code(e.value) in ("AccessDeniedException", "AccessDenied")
    # A successful call with the marker in its request parameters.
    assert ct.describe_trails(trailNameList=[marker + "-ok-param"])["trailList"] == []

    # KMS: a key, a data key and an encryption context.
    kms = client(c, "kms", marker)
    kid = kms.create_key(Description="rest")["KeyMetadata"]["KeyId"]
    dk = kms.generate_data_key(KeyId=kid, KeySpec="AES_256", EncryptionContext={"ctx": marker + "-kms-ctx"})

    # S3: an object whose body is the marker, read back through a presigned URL.
    s3 = client(c, "s3", marker)
    s3.create_bucket(Bucket="rest-data")
    s3.put_object(Bucket="rest-data", Key="obj", Body=(marker + "-object-body").encode())
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "rest-data", "Key": "obj"}, ExpiresIn=600)
    with urllib.request.urlopen(url) as r:
        assert r.read() == (marker + "-object-body").encode()
    signature = url.split("X-Amz-Signature=")[1].split("&")[0]

    # PutAuditEvents and bulk ingest.
    ch = ct.create_channel(Name="app", Source="Custom", Destinations=[{"Type": "AWS_SERVICE", "Location": "cairn"}])
    body = json.dumps({"version": "1.0", "userIdentity": {"type": "CustomUser", "principalId": marker + "-pae-principal"},
                       "eventSource": "app.example.com", "eventName": "Login",
                       "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "UID": marker + "-pae-uid", "recipientAccountId": MGMT})
    resp = client(c, "cloudtrail-data", marker).put_audit_events(
        channelArn=ch["ChannelArn"], auditEvents=[{"id": "e1", "eventData": body}])
    assert [s["id"] for s in resp["successful"]] == ["e1"], resp
    ingest(c, [record(marker, ingest_user) for _ in range(5)])

    # Logs and digests delivered; event history answers an equality lookup.
    deadline = time.time() + 30
    while time.time() < deadline:
        listed = s3.list_objects_v2(Bucket="trail-logs").get("Contents", [])
        if any("CloudTrail-Digest" in o["Key"] for o in listed) and \
                any("/CloudTrail/" in o["Key"] for o in listed) and lookup_user(c, ingest_user):
            break
        time.sleep(0.5)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="trail-logs").get("Contents", [])]
    assert any("CloudTrail-Digest" in k for k in listed), listed
    delivered = b"".join(gzip.decompress(s3.get_object(Bucket="trail-logs", Key=k)["Body"].read())
                         for k in listed if "/CloudTrail/" in k)
    assert marker.encode() in delivered, "the marked events were delivered"
    assert len(lookup_user(c, ingest_user)) == 5
    # The monitor's log group got the trail's records and the PutLogEvents message.
    deadline = time.time() + 20
    while time.time() < deadline:
        found = logs.filter_log_events(logGroupName="rest-group", filterPattern=f'"{ingest_user}"')["events"]
        if found:
            break
        time.sleep(0.5)
    assert found, "trail records reached the log group"
    assert logs.get_log_events(logGroupName="rest-group", logStreamName="app")["events"][0]["message"] \
        == marker + "-put-log-event"
    # The journal still reads back as plaintext for its readers.
    assert any(marker in json.dumps(e) for e in c.events())

    # A restart reopens the encrypted journal, index and catalog.
    c.restart()
    assert len(lookup_user(c, ingest_user)) == 5
    names = [e["EventName"] for e in c.client().lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "DescribeTrails"}])["Events"]]
    assert names and set(names) == {"DescribeTrails"}
    assert any(marker + "-denied-param" in json.dumps(e) for e in c.events())
    c.stop()

    needles = {
        "marker": marker.encode(),
        "marker (utf-16)": marker.encode("utf-16-le"),
        "user secret": key["SecretAccessKey"].encode(),
        "session secret": session["SecretAccessKey"].encode(),
        "session token": session["SessionToken"].encode(),
        "presigned signature": signature.encode(),
        "root secret": ROOT_SECRET.encode(),
        "data key": dk["Plaintext"],
        "data key (base64)": base64.b64encode(dk["Plaintext"]),
    }
    assert leaks(c.data_dir, needles) == []
    assert gzip_files(c.data_dir) == []
    assert loose_modes(c.data_dir) == []
    c.start()


FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "plaintext-data-dir-v0.tar.gz"
FIXTURE_MARKER = "restmigfixture0000000000001"


def test_item_15_plaintext_data_dir_from_the_previous_version_is_migrated(tmp_path):
    """A data directory written by Cairn before issue 14 (commit eb78ea6: plaintext journal
    and history index) is opened, migrated, and its plaintext removed.

    The fixture was made with that commit's binary: `cairn bucket create trail-logs`,
    `cairn serve` with REST_CONFIG, three ingested `record(FIXTURE_MARKER, ...)` events seen
    by LookupEvents, a clean stop, then `tar czf` of the data directory.
    """
    marker = FIXTURE_MARKER
    user = marker + "-user"
    with tarfile.open(FIXTURE) as tf:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tf.extractall(tmp_path, **safe)
    c = Cairn(tmp_path / "data", config=REST_CONFIG)
    assert leaks(c.data_dir, {"m": marker.encode()}), "the fixture stores plaintext"
    c.start()
    try:
        # Old events are still there for every reader, new ones are added.
        assert len(lookup_user(c, user)) == 3
        ingest(c, [record(marker, user)])
        deadline = time.time() + 20
        while len(lookup_user(c, user)) < 4 and time.time() < deadline:
            time.sleep(0.3)
        assert len(lookup_user(c, user)) == 4
        assert sum(marker in json.dumps(e) for e in c.events()) >= 4
        # Plaintext journal segments go once every consumer has passed them.
        deadline = time.time() + 30
        while time.time() < deadline:
            c.stop()
            if not leaks(c.data_dir, {"m": marker.encode()}):
                break
            c.start()
            time.sleep(2)
        assert leaks(c.data_dir, {"m": marker.encode()}) == []
        assert loose_modes(c.data_dir) == []
    finally:
        c.stop()
