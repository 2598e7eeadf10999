"""Log file integrity end to end: Cairn writes signed, chained digests into a bucket on a real
S3-compatible server (moto_server), and the STOCK `aws cloudtrail validate-logs` — pointed at
Cairn for CloudTrail calls and at moto for objects — accepts a long run (many digest periods,
a restart, key rotations, a StopLogging final digest) and rejects each kind of tampering."""

import datetime
import gzip
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import CAIRN, ROOT_KEY, ROOT_SECRET, Cairn, MotoS3

ACCOUNT = "111111111111"
BUCKET = "digest-logs"
PREFIX = "audit"
TRAIL = "audited"
REGIONS = ["us-east-1", "us-west-2"]
ARN = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/{TRAIL}"

CONFIG = f"""
version = 1
account_id = "{ACCOUNT}"
home_region = "us-east-1"
regions = {json.dumps(REGIONS)}

[delivery]
interval = "1s"
digest_period = "2s"
key_rotation = "8s"
"""


@pytest.fixture
def env():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cairn-digest-"))
    moto = MotoS3().start()
    moto.client().create_bucket(Bucket=BUCKET)
    c = Cairn(tmp / "data", config=CONFIG + moto.bucket_config(BUCKET))
    c.moto = moto
    c.start()
    try:
        yield c
    finally:
        c.stop()
        moto.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def record(region, i):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": ACCOUNT,
                         "arn": f"arn:aws:iam::{ACCOUNT}:user/alice", "userName": "alice"},
        "eventTime": now,
        "eventSource": "ec2.amazonaws.com",
        "eventName": "DescribeInstances" if i % 2 else "RunInstances",
        "awsRegion": region,
        "sourceIPAddress": "192.0.2.10",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"n": i},
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": bool(i % 2),
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }


def ingest(cairn, records, tmp):
    f = tmp / f"batch-{uuid.uuid4().hex}.ndjson"
    f.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ROOT_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
               AWS_ENDPOINT_URL=cairn.endpoint)
    out = subprocess.run([CAIRN, "ingest", "--quiet", str(f)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr


def validate_logs(cairn, region, start, extra=()):
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID=ROOT_KEY,
        AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL_CLOUDTRAIL=cairn.endpoint,
        AWS_ENDPOINT_URL_S3=cairn.moto.endpoint,
        AWS_MAX_ATTEMPTS="1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        env.pop(k, None)
    out = subprocess.run(
        ["aws", "cloudtrail", "validate-logs", "--trail-arn", ARN, "--region", region,
         "--start-time", start.strftime("%Y-%m-%dT%H:%M:%SZ"), "--verbose", *extra],
        env=env, capture_output=True, text=True, timeout=300)
    return out.returncode, out.stdout + out.stderr


def objects(cairn, folder, region):
    s3 = cairn.moto.client()
    prefix = f"{PREFIX}/AWSLogs/{ACCOUNT}/{folder}/{region}/"
    keys = []
    for page in s3.get_paginator("list_objects").paginate(Bucket=BUCKET, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def get(cairn, key):
    o = cairn.moto.client().get_object(Bucket=BUCKET, Key=key)
    return o["Body"].read(), o["Metadata"]


def put(cairn, key, body, metadata):
    cairn.moto.client().put_object(Bucket=BUCKET, Key=key, Body=body, Metadata=metadata)


def lines(out, kind, verdict):
    return [l for l in out.splitlines() if l.startswith(kind + "\t") and l.endswith("\t" + verdict)]


DIGEST_KEY = re.compile(
    rf"^{PREFIX}/AWSLogs/{ACCOUNT}/CloudTrail-Digest/(?P<r>[a-z0-9-]+)/\d{{4}}/\d{{2}}/\d{{2}}/"
    rf"{ACCOUNT}_CloudTrail-Digest_(?P=r)_{TRAIL}_us-east-1_\d{{8}}T\d{{6}}Z\.json\.gz$")


def test_validate_logs_accepts_a_long_run_and_rejects_tampering(env, tmp_path):
    cairn = env
    ct = cairn.client()
    ct.create_trail(Name=TRAIL, S3BucketName=BUCKET, S3KeyPrefix=PREFIX, IsMultiRegionTrail=True,
                    EnableLogFileValidation=True)
    ct.start_logging(Name=TRAIL)
    t1 = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)

    # Many digest periods with events between them, a restart in the middle; the 8 s key
    # rotation gives several keys per region.
    for round_ in range(16):
        if round_ == 8:
            cairn.restart()
        if round_ % 3 != 2:  # some periods stay empty
            ingest(cairn, [record(REGIONS[i % 2], i) for i in range(round_, round_ + 5)], tmp_path)
        time.sleep(2.2)
    time.sleep(3)  # last files delivered and listed
    ct = cairn.client()  # the restarted server listens on a new port
    status = ct.get_trail_status(Name=TRAIL)
    assert status.get("LatestDigestDeliveryTime"), status
    assert "LatestDigestDeliveryError" not in status, status
    ct.stop_logging(Name=TRAIL)
    time.sleep(4)  # the final digest

    # Keys rotated and are all published.
    keys = ct.list_public_keys(StartTime=t1 - datetime.timedelta(hours=1),
                               EndTime=datetime.datetime.now(datetime.timezone.utc))["PublicKeyList"]
    assert len(keys) >= 3, keys
    for k in keys:
        assert hashlib.md5(k["Value"]).hexdigest() == k["Fingerprint"]

    totals = {}
    for region in REGIONS:
        digests = objects(cairn, "CloudTrail-Digest", region)
        logs = objects(cairn, "CloudTrail", region)
        assert all(DIGEST_KEY.match(k) for k in digests), digests
        assert len(digests) >= 15, digests
        assert logs, region
        fps = {json.loads(gzip.decompress(get(cairn, k)[0]))["digestPublicKeyFingerprint"]
               for k in digests}
        assert len(fps) >= 3, fps  # signed across key rotations
        listed = [f["s3Object"] for k in digests
                  for f in json.loads(gzip.decompress(get(cairn, k)[0]))["logFiles"]]
        assert sorted(listed) == sorted(logs), "every log file in exactly one digest"
        rc, out = validate_logs(cairn, region, t1)
        assert rc == 0, out
        assert "INVALID" not in out, out
        assert len(lines(out, "Digest file", "valid")) == len(digests), out
        assert len(lines(out, "Log file", "valid")) == len(logs), out
        assert f"{len(digests)}/{len(digests)} digest files valid" in out, out
        assert f"{len(logs)}/{len(logs)} log files valid" in out, out
        totals[region] = (digests, logs)

    digests, logs = totals["us-east-1"]
    digests.sort()
    middle_digest = digests[len(digests) // 2]
    victim_log = logs[len(logs) // 2]

    def expect_invalid(key, kind, reason):
        rc, out = validate_logs(cairn, "us-east-1", t1)
        assert rc == 1, out
        assert f"{kind}\ts3://{BUCKET}/{key}\tINVALID: {reason}" in out, out
        return out

    # 1. A log file changed.
    body, meta = get(cairn, victim_log)
    doc = json.loads(gzip.decompress(body))
    doc["Records"][0]["eventName"] = "Tampered"
    put(cairn, victim_log, gzip.compress(json.dumps(doc).encode()), meta)
    expect_invalid(victim_log, "Log file", "hash value doesn't match")
    # 2. A log file deleted.
    cairn.moto.client().delete_object(Bucket=BUCKET, Key=victim_log)
    expect_invalid(victim_log, "Log file", "not found")
    put(cairn, victim_log, body, meta)
    assert validate_logs(cairn, "us-east-1", t1)[0] == 0

    # 3. A digest changed (metadata kept).
    dbody, dmeta = get(cairn, middle_digest)
    ddoc = json.loads(gzip.decompress(dbody))
    changed = dict(ddoc, newestEventTime="2001-01-01T00:00:00Z")
    put(cairn, middle_digest, gzip.compress(json.dumps(changed).encode()), dmeta)
    expect_invalid(middle_digest, "Digest file", "signature verification failed")
    # 4. A digest deleted.
    cairn.moto.client().delete_object(Bucket=BUCKET, Key=middle_digest)
    expect_invalid(middle_digest, "Digest file", "not found")
    # 5. A forged digest: a log file dropped, re-signed with another key under the real
    #    fingerprint (the string to sign of §7.1 over the forged bytes).
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = dict(ddoc, logFiles=ddoc["logFiles"][1:])
    raw = json.dumps(forged, separators=(",", ":")).encode()
    to_sign = "\n".join([forged["digestEndTime"], f"{BUCKET}/{middle_digest}",
                         hashlib.sha256(raw).hexdigest(),
                         forged["previousDigestSignature"] or "null"]).encode()
    sig = forger.sign(to_sign, padding.PKCS1v15(), hashes.SHA256()).hex()
    put(cairn, middle_digest, gzip.compress(raw), dict(dmeta, signature=sig))
    expect_invalid(middle_digest, "Digest file", "signature verification failed")
    # ... and with the forger's own fingerprint: no such public key.
    from cryptography.hazmat.primitives import serialization
    der = forger.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.PKCS1)
    forged2 = dict(forged, digestPublicKeyFingerprint=hashlib.md5(der).hexdigest())
    raw2 = json.dumps(forged2, separators=(",", ":")).encode()
    to_sign2 = "\n".join([forged2["digestEndTime"], f"{BUCKET}/{middle_digest}",
                          hashlib.sha256(raw2).hexdigest(),
                          forged2["previousDigestSignature"] or "null"]).encode()
    sig2 = forger.sign(to_sign2, padding.PKCS1v15(), hashes.SHA256()).hex()
    put(cairn, middle_digest, gzip.compress(raw2), dict(dmeta, signature=sig2))
    expect_invalid(middle_digest, "Digest file",
                   f"public key not found in region us-east-1 for fingerprint {forged2['digestPublicKeyFingerprint']}")
    # Restored: valid again.
    put(cairn, middle_digest, dbody, dmeta)
    rc, out = validate_logs(cairn, "us-east-1", t1)
    assert rc == 0, out


def test_list_public_keys_contract(env):
    cairn = env
    ct = cairn.client()
    ct.create_trail(Name=TRAIL, S3BucketName=BUCKET, EnableLogFileValidation=True)
    ct.start_logging(Name=TRAIL)
    deadline = time.time() + 15
    keys = []
    while time.time() < deadline and not keys:
        keys = ct.list_public_keys()["PublicKeyList"]
        time.sleep(0.3)
    assert keys, "a key is published once validation runs"
    k = keys[0]
    assert len(k["Value"]) == 270 and k["Value"][:2] == b"\x30\x82"  # PKCS#1 RSAPublicKey DER
    assert k["ValidityEndTime"] - k["ValidityStartTime"] == datetime.timedelta(seconds=8)
    # The AWS CLI sees the base64 text.
    body, _ = cairn.aws("cloudtrail", "list-public-keys")
    assert body["PublicKeyList"][0]["Value"].startswith("MIIBCgKCAQEA")
    # Region-scoped: the trail is single-region, so another region has no key.
    assert cairn.client(region="us-west-2").list_public_keys()["PublicKeyList"] == []
    now = datetime.datetime.now(datetime.timezone.utc)
    with pytest.raises(Exception) as e:
        ct.list_public_keys(StartTime=now, EndTime=now - datetime.timedelta(hours=1))
    assert e.value.response["Error"]["Code"] == "InvalidTimeRangeException"
    old = ct.list_public_keys(StartTime=now - datetime.timedelta(days=400),
                              EndTime=now - datetime.timedelta(days=399))["PublicKeyList"]
    assert old == []
