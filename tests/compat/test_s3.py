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
    assert code_of(cl.create_multipart_upload, Bucket="photos", Key="big")[0] == "NotImplemented"

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
