"""Cairn's S3 endpoint for its local buckets, driven by the stock AWS CLI and boto3: buckets
and objects, versioning and delete markers, MFA delete, object lock, lifecycle, bucket
policies and public access blocks, encryption at rest, data events of the log bucket, and
`aws cloudtrail validate-logs` against Cairn alone (no other server)."""

import base64
import datetime
import gzip
import hashlib
import hmac
import http.client
import json
import os
import pathlib
import re
import shutil
import sqlite3
import struct
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions
import pytest

from conftest import CAIRN, MEMBER, MGMT, ROOT_KEY, ROOT_SECRET, Cairn, error_code

FAST = """
[delivery]
interval = "1s"
digest_period = "2s"

[lifecycle]
interval = "1s"
day = "1s"
"""


def config(extra=FAST):
    from conftest import CONFIG
    return CONFIG + extra


@pytest.fixture
def s3env():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cairn-s3-"))
    c = Cairn(tmp / "data", config=config())
    c.cli("bucket", "create", "trail-logs")
    c.cli("bucket", "create", "other-logs")
    c.start()
    try:
        yield c
    finally:
        c.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def s3(c, creds=None):
    return c.client("s3", creds=creds)


def aws_raw(c, *args, env_extra=None, check=True):
    """Runs the AWS CLI against Cairn alone; returns (returncode, stdout + stderr)."""
    env = dict(os.environ)
    env.update(AWS_ACCESS_KEY_ID=ROOT_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
               AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=c.endpoint, AWS_MAX_ATTEMPTS="1",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    env.pop("AWS_PROFILE", None)
    env.update(env_extra or {})
    out = subprocess.run(["aws", *args], env=env, capture_output=True, text=True, timeout=300)
    if check and out.returncode != 0:
        raise AssertionError(f"aws {args} failed ({out.returncode}): {out.stderr}")
    return out.returncode, out.stdout + out.stderr


def code_of(fn, *args, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(*args, **kwargs)
    return error_code(e.value), e.value.response["ResponseMetadata"]["HTTPStatusCode"]


# -- TOTP (RFC 6238) from the otpauth:// secret ------------------------------------------------

def totp(secret_b32, step):
    pad = "=" * (-len(secret_b32) % 8)
    key = base64.b32decode(secret_b32 + pad)
    mac = hmac.new(key, struct.pack(">q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1_000_000)


def mfa_device(c):
    out = c.cli("mfa", "enable", "--account", MGMT).stdout
    serial = re.search(r"^serial: (\S+)$", out, re.M).group(1)
    uri = re.search(r"^uri: (\S+)$", out, re.M).group(1)
    assert uri.startswith("otpauth://totp/")
    assert "\u2580" in out or "\u2584" in out or "\u2588" in out, "a QR code is printed"
    secret = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]
    step = int(time.time()) // 30
    # Two consecutive (past) codes activate it; later steps stay free for requests.
    c.cli("mfa", "enable", "--account", MGMT, "--serial", serial,
          "--code", totp(secret, step - 2), "--code", totp(secret, step - 1))
    return serial, secret, step


# -- basics ------------------------------------------------------------------------------------

def test_buckets_objects_and_errors(s3env):
    c = s3env
    cl = s3(c)
    cl.create_bucket(Bucket="photos")
    assert code_of(cl.create_bucket, Bucket="photos")[0] == "BucketAlreadyOwnedByYou"
    assert code_of(cl.create_bucket, Bucket="Bad_Name")[0] == "InvalidBucketName"
    cl.head_bucket(Bucket="photos")
    names = [b["Name"] for b in cl.list_buckets()["Buckets"]]
    assert {"photos", "trail-logs", "other-logs"} <= set(names)
    assert cl.get_bucket_location(Bucket="photos")["LocationConstraint"] in (None, "")

    body = os.urandom(5000)
    put = cl.put_object(Bucket="photos", Key="a/b c+d.bin", Body=body,
                        Metadata={"Owner": "alice"}, ContentType="image/png")
    assert put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    assert put["ServerSideEncryption"] == "AES256"
    got = cl.get_object(Bucket="photos", Key="a/b c+d.bin")
    assert got["Body"].read() == body
    assert got["Metadata"] == {"owner": "alice"}
    assert got["ContentType"] == "image/png"
    part = cl.get_object(Bucket="photos", Key="a/b c+d.bin", Range="bytes=10-19")
    assert part["Body"].read() == body[10:20]
    assert part["ContentRange"] == "bytes 10-19/5000"
    head = cl.head_object(Bucket="photos", Key="a/b c+d.bin")
    assert head["ContentLength"] == 5000

    cl.copy_object(Bucket="photos", Key="copy", CopySource={"Bucket": "photos", "Key": "a/b c+d.bin"})
    assert cl.get_object(Bucket="photos", Key="copy")["Body"].read() == body

    for k in ["x/1", "x/2", "x/3", "y/1", "z"]:
        cl.put_object(Bucket="photos", Key=k, Body=k.encode())
    page = cl.list_objects(Bucket="photos", Prefix="x/", MaxKeys=2)
    assert [o["Key"] for o in page["Contents"]] == ["x/1", "x/2"]
    assert page["IsTruncated"]
    page2 = cl.list_objects(Bucket="photos", Prefix="x/", Marker="x/2")
    assert [o["Key"] for o in page2["Contents"]] == ["x/3"]
    top = cl.list_objects(Bucket="photos", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "x/", "y/"]
    assert [o["Key"] for o in top["Contents"]] == ["copy", "z"]
    v2 = cl.list_objects_v2(Bucket="photos", MaxKeys=3)
    assert v2["KeyCount"] == 3 and v2["IsTruncated"]
    rest = cl.list_objects_v2(Bucket="photos", ContinuationToken=v2["NextContinuationToken"])
    assert len(rest["Contents"]) == 4  # seven objects in all

    res = cl.delete_objects(Bucket="photos", Delete={"Objects": [{"Key": "x/1"}, {"Key": "x/2"}]})
    assert sorted(d["Key"] for d in res["Deleted"]) == ["x/1", "x/2"]
    cl.delete_object(Bucket="photos", Key="z")

    assert code_of(cl.get_object, Bucket="photos", Key="nope") == ("NoSuchKey", 404)
    assert code_of(cl.get_object, Bucket="nobucket", Key="k") == ("NoSuchBucket", 404)
    assert code_of(cl.delete_bucket, Bucket="photos") == ("BucketNotEmpty", 409)
    assert code_of(cl.put_bucket_acl, Bucket="photos", ACL="private") == ("NotImplemented", 501)
    # Multipart upload is served (test_s3_multipart.py); copying a part is not.
    up = cl.create_multipart_upload(Bucket="photos", Key="big")["UploadId"]
    assert code_of(cl.upload_part_copy, Bucket="photos", Key="big", UploadId=up, PartNumber=1,
                   CopySource={"Bucket": "photos", "Key": "z"})[0] == "NotImplemented"
    cl.abort_multipart_upload(Bucket="photos", Key="big", UploadId=up)
    # SSE-KMS under a key the built-in KMS does not have: S3's KMS.NotFoundException.
    assert code_of(cl.put_object, Bucket="photos", Key="kms", Body=b"x",
                   ServerSideEncryption="aws:kms", SSEKMSKeyId="alias/logs") == ("KMS.NotFoundException", 400)
    enc = cl.get_bucket_encryption(Bucket="photos")["ServerSideEncryptionConfiguration"]
    assert enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    # The AWS CLI's high-level commands.
    f = c.data_dir.parent / "hello.txt"
    f.write_text("hello from aws s3 cp\n")
    aws_raw(c, "s3", "cp", str(f), "s3://photos/cli/hello.txt")
    _, out = aws_raw(c, "s3", "ls", "s3://photos/cli/")
    assert "hello.txt" in out
    dst = c.data_dir.parent / "back.txt"
    aws_raw(c, "s3", "cp", "s3://photos/cli/hello.txt", str(dst))
    assert dst.read_text() == "hello from aws s3 cp\n"

    # Empty the bucket, then delete it.
    for o in cl.list_objects(Bucket="photos")["Contents"]:
        cl.delete_object(Bucket="photos", Key=o["Key"])
    cl.delete_bucket(Bucket="photos")
    assert code_of(cl.head_bucket, Bucket="photos")[1] == 404


def signed(c, method, host, path, body=b""):
    """A SigV4-signed raw request sent to the server with an arbitrary Host header."""
    creds = botocore.credentials.Credentials(ROOT_KEY, ROOT_SECRET)
    url = f"http://{host}{path}"
    req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body)
    botocore.auth.S3SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    port = urllib.parse.urlparse(c.endpoint).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = dict(req.headers.items())
    headers["Host"] = host
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    return r.status, r.read()


def test_virtual_host_addressing(s3env):
    c = s3env
    port = urllib.parse.urlparse(c.endpoint).port
    status, body = signed(c, "PUT", f"trail-logs.localhost:{port}", "/vh/key.txt", b"virtual")
    assert status == 200, body
    status, body = signed(c, "GET", f"trail-logs.localhost:{port}", "/vh/key.txt")
    assert (status, body) == (200, b"virtual")
    assert s3(c).get_object(Bucket="trail-logs", Key="vh/key.txt")["Body"].read() == b"virtual"
    status, body = signed(c, "GET", f"trail-logs.localhost:{port}", "/?list-type=2")
    assert status == 200 and b"<Key>vh/key.txt</Key>" in body


# -- versioning, MFA delete, object lock ----------------------------------------------------

def test_versioning_delete_markers_and_version_listing(s3env):
    cl = s3(s3env)
    b = "trail-logs"
    assert "Status" not in cl.get_bucket_versioning(Bucket=b)
    cl.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    assert cl.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"
    v1 = cl.put_object(Bucket=b, Key="doc", Body=b"one")["VersionId"]
    v2 = cl.put_object(Bucket=b, Key="doc", Body=b"two")["VersionId"]
    assert v1 != v2 and "null" not in (v1, v2)
    d = cl.delete_object(Bucket=b, Key="doc")
    assert d["DeleteMarker"] is True
    marker = d["VersionId"]
    err = code_of(cl.get_object, Bucket=b, Key="doc")
    assert err == ("NoSuchKey", 404)
    assert cl.get_object(Bucket=b, Key="doc", VersionId=v1)["Body"].read() == b"one"
    assert code_of(cl.get_object, Bucket=b, Key="doc", VersionId=marker)[1] == 405
    assert code_of(cl.get_object, Bucket=b, Key="doc", VersionId="nope")[0] == "NoSuchVersion"
    lv = cl.list_object_versions(Bucket=b, Prefix="doc")
    assert [v["VersionId"] for v in lv["Versions"]] == [v2, v1]
    assert [m["VersionId"] for m in lv["DeleteMarkers"]] == [marker]
    assert lv["DeleteMarkers"][0]["IsLatest"] is True
    assert "Contents" not in cl.list_objects(Bucket=b, Prefix="doc")
    # Removing the delete marker brings the newest version back.
    cl.delete_object(Bucket=b, Key="doc", VersionId=marker)
    assert cl.get_object(Bucket=b, Key="doc")["Body"].read() == b"two"
    # Permanently deleting a version (no MFA delete yet).
    cl.delete_object(Bucket=b, Key="doc", VersionId=v1)
    assert [v["VersionId"] for v in cl.list_object_versions(Bucket=b, Prefix="doc")["Versions"]] == [v2]
    # Paging through versions with markers.
    for i in range(3):
        cl.put_object(Bucket=b, Key="page", Body=str(i).encode())
    seen, kw = [], {}
    while True:
        p = cl.list_object_versions(Bucket=b, Prefix="page", MaxKeys=1, **kw)
        seen += [v["VersionId"] for v in p.get("Versions", [])]
        if not p["IsTruncated"]:
            break
        kw = {"KeyMarker": p["NextKeyMarker"], "VersionIdMarker": p["NextVersionIdMarker"]}
    assert len(seen) == 3 and len(set(seen)) == 3
    # Suspended: puts land on the null version.
    cl.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
    cl.put_object(Bucket=b, Key="page", Body=b"null-1")
    cl.put_object(Bucket=b, Key="page", Body=b"null-2")
    vs = cl.list_object_versions(Bucket=b, Prefix="page")["Versions"]
    assert [v["VersionId"] for v in vs].count("null") == 1 and len(vs) == 4


def test_mfa_delete_needs_the_right_code(s3env):
    c = s3env
    cl = s3(c)
    b = "trail-logs"
    serial, secret, step = mfa_device(c)
    _, out = aws_raw(c, "s3api", "put-bucket-versioning", "--bucket", b,
                     "--versioning-configuration", "Status=Enabled,MFADelete=Enabled", check=False)
    assert "AccessDenied" in out, out
    code = totp(secret, step)
    aws_raw(c, "s3api", "put-bucket-versioning", "--bucket", b, "--mfa", f"{serial} {code}",
            "--versioning-configuration", "Status=Enabled,MFADelete=Enabled")
    vc = cl.get_bucket_versioning(Bucket=b)
    assert vc["Status"] == "Enabled" and vc["MFADelete"] == "Enabled"
    vid = cl.put_object(Bucket=b, Key="AWSLogs/evidence.json.gz", Body=b"evidence")["VersionId"]
    # Missing code, wrong code, a reused code: refused.
    assert code_of(cl.delete_object, Bucket=b, Key="AWSLogs/evidence.json.gz", VersionId=vid)[0] == "AccessDenied"
    wrong = "%06d" % ((int(totp(secret, step + 1)) + 1) % 1_000_000)
    assert code_of(cl.delete_object, Bucket=b, Key="AWSLogs/evidence.json.gz", VersionId=vid,
                   MFA=f"{serial} {wrong}")[0] == "AccessDenied"
    assert code_of(cl.delete_object, Bucket=b, Key="AWSLogs/evidence.json.gz", VersionId=vid,
                   MFA=f"{serial} {code}")[0] == "AccessDenied"
    assert cl.get_object(Bucket=b, Key="AWSLogs/evidence.json.gz")["Body"].read() == b"evidence"
    # A delete without version id only adds a delete marker: allowed without MFA.
    cl.delete_object(Bucket=b, Key="AWSLogs/evidence.json.gz")
    # The right, fresh code permanently deletes the version.
    cl.delete_object(Bucket=b, Key="AWSLogs/evidence.json.gz", VersionId=vid,
                     MFA=f"{serial} {totp(secret, step + 1)}")
    versions = cl.list_object_versions(Bucket=b, Prefix="AWSLogs/evidence").get("Versions", [])
    assert versions == []
    assert serial in c.cli("mfa", "list", "--account", MGMT).stdout


def test_object_lock_refuses_overwrite_and_delete(s3env):
    cl = s3(s3env)
    b = "locked-logs"
    cl.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    assert cl.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"
    cl.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    cfg = cl.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"]
    assert cfg["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 1}
    vid = cl.put_object(Bucket=b, Key="log.json.gz", Body=b"original")["VersionId"]
    ret = cl.get_object_retention(Bucket=b, Key="log.json.gz")["Retention"]
    assert ret["Mode"] == "GOVERNANCE"
    assert code_of(cl.put_object, Bucket=b, Key="log.json.gz", Body=b"tampered") == ("AccessDenied", 403)
    assert code_of(cl.delete_object, Bucket=b, Key="log.json.gz", VersionId=vid) == ("AccessDenied", 403)
    assert cl.get_object(Bucket=b, Key="log.json.gz")["Body"].read() == b"original"
    # Compliance retention cannot be shortened, even with the governance bypass.
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
    cl.put_object_retention(Bucket=b, Key="log.json.gz", BypassGovernanceRetention=True,
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until})
    sooner = until - datetime.timedelta(days=1)
    assert code_of(cl.put_object_retention, Bucket=b, Key="log.json.gz", BypassGovernanceRetention=True,
                   Retention={"Mode": "COMPLIANCE", "RetainUntilDate": sooner})[0] == "AccessDenied"
    assert code_of(cl.delete_object, Bucket=b, Key="log.json.gz", VersionId=vid,
                   BypassGovernanceRetention=True)[0] == "AccessDenied"
    # Governance retention yields to the bypass header.
    g = cl.put_object(Bucket=b, Key="gov", Body=b"g")["VersionId"]
    cl.delete_object(Bucket=b, Key="gov", VersionId=g, BypassGovernanceRetention=True)
    # Versioning cannot be suspended on a lock bucket.
    assert code_of(cl.put_bucket_versioning, Bucket=b,
                   VersioningConfiguration={"Status": "Suspended"})[0] == "InvalidRequest"


# -- lifecycle --------------------------------------------------------------------------------

def test_lifecycle_worker_expires_and_archives(s3env):
    cl = s3(s3env)
    b = "trail-logs"
    cl.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [
        {"ID": "expire-tmp", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled",
         "Expiration": {"Days": 2}},
        {"ID": "archive", "Filter": {"Prefix": "arch/"}, "Status": "Enabled",
         "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}]},
    ]})
    rules = cl.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]
    assert [r["ID"] for r in rules] == ["expire-tmp", "archive"]
    body = json.dumps({"Records": [{"n": i} for i in range(200)]}).encode()
    cl.put_object(Bucket=b, Key="tmp/a", Body=b"short-lived")
    cl.put_object(Bucket=b, Key="arch/b", Body=body)
    cl.put_object(Bucket=b, Key="keep/c", Body=b"kept")
    deadline = time.time() + 20
    expired = archived = False
    while time.time() < deadline and not (expired and archived):
        time.sleep(0.5)
        try:
            cl.head_object(Bucket=b, Key="tmp/a")
        except botocore.exceptions.ClientError:
            expired = True
        archived = cl.head_object(Bucket=b, Key="arch/b").get("StorageClass") == "GLACIER"
    assert expired and archived
    assert cl.get_object(Bucket=b, Key="arch/b")["Body"].read() == body
    assert cl.get_object(Bucket=b, Key="keep/c")["Body"].read() == b"kept"
    cl.delete_bucket_lifecycle(Bucket=b)
    assert code_of(cl.get_bucket_lifecycle_configuration, Bucket=b)[0] == "NoSuchLifecycleConfiguration"


# -- bucket policies --------------------------------------------------------------------------

DELIVERY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow",
         "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:GetBucketAcl",
         "Resource": "arn:aws:s3:::trail-logs",
         "Condition": {"StringEquals": {"aws:SourceArn": f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/main"}}},
        {"Sid": "AWSCloudTrailWrite", "Effect": "Allow",
         "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::trail-logs/AWSLogs/{MGMT}/*",
         "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control",
                                        "aws:SourceArn": f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/main"}}},
    ],
}


def test_bucket_policy_cross_account_and_delivery(s3env):
    c = s3env
    cl = s3(c)
    member = s3(c, creds=c.member_credentials())
    b = "trail-logs"
    cl.put_object(Bucket=b, Key="AWSLogs/x.json.gz", Body=b"log")
    assert code_of(member.list_objects, Bucket=b) == ("AccessDenied", 403)
    assert code_of(member.get_object, Bucket=b, Key="AWSLogs/x.json.gz")[0] == "AccessDenied"
    assert code_of(cl.get_bucket_policy, Bucket=b)[0] == "NoSuchBucketPolicy"
    bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                   "Resource": f"arn:aws:s3:::{b}/*"}]}
    assert code_of(cl.put_bucket_policy, Bucket=b, Policy=json.dumps(bad))[0] == "MalformedPolicy"
    assert code_of(cl.put_bucket_policy, Bucket=b, Policy="{not json")[0] == "MalformedPolicy"

    # A policy naming the security account lets it read, not write; the CloudTrail delivery
    # statements keep a trail able to deliver.
    policy = json.loads(json.dumps(DELIVERY_POLICY))
    policy["Statement"] += [
        {"Sid": "SecurityRead", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MEMBER}:root"},
         "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"]},
        {"Sid": "NoDeletes", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
         "Resource": f"arn:aws:s3:::{b}/*"},
    ]
    cl.put_bucket_policy(Bucket=b, Policy=json.dumps(policy))
    assert json.loads(cl.get_bucket_policy(Bucket=b)["Policy"]) == policy
    assert [o["Key"] for o in member.list_objects(Bucket=b)["Contents"]] == ["AWSLogs/x.json.gz"]
    assert member.get_object(Bucket=b, Key="AWSLogs/x.json.gz")["Body"].read() == b"log"
    assert code_of(member.put_object, Bucket=b, Key="AWSLogs/x.json.gz", Body=b"x")[0] == "AccessDenied"
    assert code_of(cl.delete_object, Bucket=b, Key="AWSLogs/x.json.gz")[0] == "AccessDenied"

    ct = c.client()
    ct.create_trail(Name="main", S3BucketName=b)
    # A trail the policy does not name cannot deliver there.
    err = code_of(ct.create_trail, Name="other", S3BucketName=b)
    assert err[0] == "InsufficientS3BucketPolicyException"
    # A prefix outside the granted path is refused on update too.
    assert code_of(ct.update_trail, Name="main", S3KeyPrefix="elsewhere")[0] == \
        "InsufficientS3BucketPolicyException"

    # Public access block: a policy granting everyone is refused.
    cl.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True})
    pab = cl.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"]
    assert pab["BlockPublicPolicy"] is True
    public = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                                                      "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{b}/*"}]}
    assert code_of(cl.put_bucket_policy, Bucket=b, Policy=json.dumps(public))[0] == "AccessDenied"
    cl.delete_bucket_policy(Bucket=b)
    assert code_of(member.list_objects, Bucket=b)[0] == "AccessDenied"


# -- the log bucket end to end ------------------------------------------------------------------

def record(i, marker):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": MGMT,
                         "arn": f"arn:aws:iam::{MGMT}:user/alice", "userName": "alice"},
        "eventTime": now, "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
        "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.10", "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"marker": marker, "n": i}, "responseElements": None,
        "requestID": str(uuid.uuid4()), "eventID": str(uuid.uuid4()), "readOnly": False,
        "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": MGMT,
        "eventCategory": "Management",
    }


def ingest(c, records):
    f = c.data_dir.parent / f"batch-{uuid.uuid4().hex}.ndjson"
    f.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ROOT_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
               AWS_ENDPOINT_URL=c.endpoint)
    out = subprocess.run([CAIRN, "ingest", "--quiet", str(f)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr


def keys(cl, bucket, prefix):
    out = []
    for page in cl.get_paginator("list_objects").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out


def grep_tree(root, needle):
    hits = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = pathlib.Path(dirpath) / name
            try:
                if needle in p.read_bytes():
                    hits.append(str(p))
            except OSError:
                pass
    return hits


def test_validate_logs_against_cairn_alone_and_no_plaintext_at_rest(s3env):
    c = s3env
    cl = s3(c)
    ct = c.client()
    trail_arn = f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/audited"
    ct.create_trail(Name="audited", S3BucketName="trail-logs", EnableLogFileValidation=True)
    ct.start_logging(Name="audited")
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    marker = "cairn-plaintext-marker-" + uuid.uuid4().hex
    for round_ in range(4):
        ingest(c, [record(i, marker) for i in range(round_ * 5, round_ * 5 + 5)])
        time.sleep(2.2)
    time.sleep(3)
    ct.stop_logging(Name="audited")
    time.sleep(4)
    logs = keys(cl, "trail-logs", f"AWSLogs/{MGMT}/CloudTrail/")
    digests = keys(cl, "trail-logs", f"AWSLogs/{MGMT}/CloudTrail-Digest/")
    assert logs and len(digests) >= 3, (logs, digests)
    meta = cl.head_object(Bucket="trail-logs", Key=digests[0])
    assert meta["Metadata"]["signature-algorithm"] == "SHA256withRSA"
    assert meta["ServerSideEncryption"] == "AES256"

    def validate():
        return aws_raw(c, "cloudtrail", "validate-logs", "--trail-arn", trail_arn,
                       "--start-time", start.strftime("%Y-%m-%dT%H:%M:%SZ"), "--verbose",
                       check=False)

    def cairn_validate():
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ROOT_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
                   AWS_ENDPOINT_URL=c.endpoint)
        return subprocess.run(
            [CAIRN, "validate", "--trail-arn", trail_arn, "--quiet",
             "--start-time", start.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "--data-dir", str(c.data_dir), "--config", str(c.config_path)],
            env=env, capture_output=True, text=True, timeout=120)

    rc, out = validate()
    assert rc == 0, out
    assert "INVALID" not in out, out
    # `cairn validate` reads the same (encrypted) local bucket straight from the data dir.
    v = cairn_validate()
    assert v.returncode == 0, v.stdout + v.stderr
    assert f"{len(digests)}/{len(digests)} digest files valid" in out, out
    assert f"{len(logs)}/{len(logs)} log files valid" in out, out

    # Encryption at rest: neither a delivered log's plaintext nor its gzip bytes are on disk.
    found_marker = None
    for k in logs:
        gz = cl.get_object(Bucket="trail-logs", Key=k)["Body"].read()
        plain = gzip.decompress(gz)
        if marker.encode() in plain:
            found_marker = k
        assert not grep_tree(c.data_dir, marker.encode()), "event text is readable at rest"
        assert not grep_tree(c.data_dir, plain), "a delivered log's plaintext is on disk"
        assert not grep_tree(c.data_dir, gz), "a delivered log's gzip bytes are on disk"
        assert not grep_tree(c.data_dir, gz[len(gz) // 2:len(gz) // 2 + 32])
    assert found_marker, "the marker events were delivered"

    # Tampering through the S3 API is caught by the stock validator.
    victim = logs[len(logs) // 2]
    doc = json.loads(gzip.decompress(cl.get_object(Bucket="trail-logs", Key=victim)["Body"].read()))
    doc["Records"][0]["eventName"] = "Tampered"
    cl.put_object(Bucket="trail-logs", Key=victim, Body=gzip.compress(json.dumps(doc).encode()))
    rc, out = validate()
    assert rc == 1, out
    assert f"Log file\ts3://trail-logs/{victim}\tINVALID: hash value doesn't match" in out, out
    v = cairn_validate()
    assert v.returncode == 1 and f"{victim}\tINVALID" in v.stdout + v.stderr, v.stdout + v.stderr

    # Tampering at rest: one byte of another log's encrypted body flipped on disk. The store
    # refuses to decrypt it (AES-GCM); `cairn validate` counts that file INVALID and goes on.
    victim2 = next(k for k in logs if k != victim)
    db = sqlite3.connect(f"file:{c.data_dir / 'buckets' / 'vault.sqlite'}?mode=ro", uri=True)
    blob_id, compressed = db.execute(
        "SELECT blob_id, compressed FROM versions WHERE bucket = ? AND key = ? AND is_latest = 1",
        ("trail-logs", victim2)).fetchone()
    db.close()
    name = blob_id + (".gz" if compressed else "")
    body = next(pathlib.Path(d) / name for d, _, files in os.walk(c.data_dir / "buckets")
                if name in files)
    raw = bytearray(body.read_bytes())
    raw[len(raw) // 2] ^= 1
    body.write_bytes(bytes(raw))
    v = cairn_validate()
    out = v.stdout + v.stderr
    assert v.returncode == 1, out
    assert f"{victim2}\tINVALID" in out and f"{victim}\tINVALID" in out, out


def test_data_events_of_the_log_bucket_reach_a_selecting_trail(s3env):
    c = s3env
    cl = s3(c)
    member = s3(c, creds=c.member_credentials())
    ct = c.client()
    ct.create_trail(Name="main", S3BucketName="trail-logs")
    ct.start_logging(Name="main")
    ct.create_trail(Name="watch", S3BucketName="other-logs")
    ct.put_event_selectors(TrailName="watch", AdvancedEventSelectors=[{
        "Name": "reads and writes of log files",
        "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::trail-logs/"]},
        ]}])
    ct.start_logging(Name="watch")
    deadline = time.time() + 20
    logs = []
    while time.time() < deadline and not logs:
        time.sleep(0.5)
        logs = keys(cl, "trail-logs", f"AWSLogs/{MGMT}/CloudTrail/")
    assert logs, "the main trail delivered a log file"
    victim = logs[0]
    cl.get_object(Bucket="trail-logs", Key=victim)
    assert code_of(member.put_object, Bucket="trail-logs", Key=victim, Body=b"forged")[0] == "AccessDenied"
    assert code_of(member.delete_object, Bucket="trail-logs", Key=victim)[0] == "AccessDenied"
    arn = f"arn:aws:s3:::trail-logs/{victim}"
    wanted = {"GetObject", "PutObject", "DeleteObject"}
    found = {}
    deadline = time.time() + 20
    while time.time() < deadline and set(found) != wanted:
        time.sleep(1)
        for k in keys(cl, "other-logs", f"AWSLogs/{MGMT}/CloudTrail/"):
            recs = json.loads(gzip.decompress(cl.get_object(Bucket="other-logs", Key=k)["Body"].read()))["Records"]
            for r in recs:
                # The watch trail takes only data events on trail-logs objects: its own
                # deliveries into other-logs and our reads of other-logs are not among them.
                assert r["eventCategory"] == "Data", r
                assert any(res["ARN"].startswith("arn:aws:s3:::trail-logs/")
                           for res in r.get("resources", [])), r
                if any(res["ARN"] == arn for res in r.get("resources", [])):
                    found[r["eventName"]] = r
    assert set(found) == wanted, found.keys()
    get = found["GetObject"]
    assert get["eventSource"] == "s3.amazonaws.com"
    assert get["managementEvent"] is False and get["readOnly"] is True
    assert get["requestParameters"]["bucketName"] == "trail-logs"
    assert get["requestParameters"]["key"] == victim
    types = {res["type"]: res["ARN"] for res in get["resources"]}
    assert types == {"AWS::S3::Object": arn, "AWS::S3::Bucket": "arn:aws:s3:::trail-logs"}
    for name in ("PutObject", "DeleteObject"):
        r = found[name]
        assert r["errorCode"] == "AccessDenied" and r["readOnly"] is False
        assert r["userIdentity"]["accountId"] == MEMBER
        assert r["recipientAccountId"] == MGMT
