"""Issue 14, S3 / KMS / IAM / MFA items: each attack an insider with ordinary credentials
could make against today's main, replayed black-box with boto3 against `cairn serve`.
Every test fails on the server before the fix and passes after it, and checks that the
attempt itself is in the journal (`cairn events tail`) with its error code."""

import base64
import hashlib
import hmac
import json
import re
import struct
import time
import urllib.error
import urllib.parse
import urllib.request

import botocore.exceptions
import pytest
from botocore.auth import S3SigV4QueryAuth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import MGMT, ROOT_KEY, ROOT_SECRET, error_code

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


# -- helpers -----------------------------------------------------------------------------------

def totp(secret_b32, step):
    """RFC 6238 TOTP (HMAC-SHA1, 6 digits), computed independently of the server."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1_000_000)


class Device:
    """A TOTP device whose codes are handed out once each, newest step first allowed, as
    the server accepts them (the current 30 s step or one on either side, never twice)."""

    def __init__(self, serial, secret, last):
        self.serial, self.secret, self.last = serial, secret, last

    def code(self):
        while True:
            now = int(time.time()) // 30
            step = max(self.last + 1, now - 1)
            if step <= now + 1 and (step < now + 1 or time.time() % 30 < 25):
                self.last = step
                return totp(self.secret, step)
            time.sleep(1)

    def header(self):
        return f"{self.serial} {self.code()}"

    def wrong(self):
        """A code that is valid for no step the server would look at."""
        now = int(time.time()) // 30
        valid = {totp(self.secret, s) for s in range(now - 2, now + 3)}
        n = 0
        while "%06d" % n in valid:
            n += 1
        return "%06d" % n


def root_device(cairn):
    """The account root's virtual MFA device (`cairn mfa enable`)."""
    out = cairn.cli("mfa", "enable", "--account", MGMT, "--no-qr").stdout
    serial = re.search(r"^serial: (\S+)$", out, re.M).group(1)
    uri = re.search(r"^uri: (\S+)$", out, re.M).group(1)
    secret = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]
    step = int(time.time()) // 30
    cairn.cli("mfa", "enable", "--account", MGMT, "--serial", serial,
              "--code", totp(secret, step - 2), "--code", totp(secret, step - 1))
    return Device(serial, secret, step - 1)


def user_device(cairn, user, name):
    """A virtual MFA device enabled for IAM user `user` (by root, through IAM)."""
    iam = cairn.client("iam")
    dev = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    seed = dev["Base32StringSeed"].decode()
    step = int(time.time()) // 30
    iam.enable_mfa_device(UserName=user, SerialNumber=dev["SerialNumber"],
                          AuthenticationCode1=totp(seed, step - 2),
                          AuthenticationCode2=totp(seed, step - 1))
    return Device(dev["SerialNumber"], seed, step - 1)


def presigned_get(cairn, service, path, creds, expires=600):
    """A SigV4 presigned GET URL (query-string authentication), as SDKs make them."""
    req = AWSRequest(method="GET", url=cairn.endpoint + path)
    auth = S3SigV4QueryAuth if service == "s3" else SigV4QueryAuth
    auth(Credentials(*creds), service, "us-east-1", expires=expires).add_auth(req)
    return req.prepare().url


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*"):
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def make_user(cairn, name, *statements, path="/"):
    iam = cairn.client("iam")
    user = iam.create_user(UserName=name, Path=path)["User"]
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy(*statements))
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return user, (k["AccessKeyId"], k["SecretAccessKey"])


def refused(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    return error_code(e.value)


def recorded(cairn, name, code=None, source=None):
    """Journal records of `name` (with `errorCode` `code` when given)."""
    return [e for e in cairn.events()
            if e["eventName"] == name and (code is None or e.get("errorCode") == code)
            and (source is None or e["eventSource"] == source)]


def versions(s3, bucket, prefix):
    return [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket, Prefix=prefix).get("Versions", [])]


# -- item 3 ------------------------------------------------------------------------------------

def test_item_3_mfa_delete_takes_only_the_owner_roots_own_device(cairn):
    """A user who may manage its own MFA device must not be able to turn MFA delete on (or
    off) nor permanently delete log versions with its own code: AWS allows that only to the
    bucket owner's root user, with the root's device."""
    s3 = cairn.client("s3")
    b = "trail-logs"
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    _, creds = make_user(cairn, "mallory", allow("s3:*"),
                         allow(["iam:CreateVirtualMFADevice", "iam:EnableMFADevice"]))
    mine = user_device(cairn, "mallory", "mallory-phone")
    ms3 = cairn.client("s3", creds=creds)
    # Mallory, with its own valid code: refused.
    assert refused(ms3.put_bucket_versioning, Bucket=b, MFA=mine.header(),
                   VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"}) == "AccessDenied"
    # Root, with the user's device rather than its own: refused too.
    assert refused(s3.put_bucket_versioning, Bucket=b, MFA=mine.header(),
                   VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"}) == "AccessDenied"
    assert s3.get_bucket_versioning(Bucket=b).get("MFADelete") != "Enabled"
    # Root with its own device turns MFA delete on.
    root = root_device(cairn)
    s3.put_bucket_versioning(Bucket=b, MFA=root.header(),
                             VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=b)["MFADelete"] == "Enabled"
    vid = s3.put_object(Bucket=b, Key="AWSLogs/evidence.json.gz", Body=b"evidence")["VersionId"]
    # Mallory cannot permanently delete the version, nor turn MFA delete off, with its code.
    assert refused(ms3.delete_object, Bucket=b, Key="AWSLogs/evidence.json.gz", VersionId=vid,
                   MFA=mine.header()) == "AccessDenied"
    out = ms3.delete_objects(Bucket=b, MFA=mine.header(), Delete={
        "Objects": [{"Key": "AWSLogs/evidence.json.gz", "VersionId": vid}]})
    assert [e["Code"] for e in out.get("Errors", [])] == ["AccessDenied"], out
    assert refused(ms3.put_bucket_versioning, Bucket=b, MFA=mine.header(),
                   VersioningConfiguration={"Status": "Enabled", "MFADelete": "Disabled"}) == "AccessDenied"
    assert versions(s3, b, "AWSLogs/evidence") == [vid]
    assert s3.get_bucket_versioning(Bucket=b)["MFADelete"] == "Enabled"
    # Every attempt is on record, as the caller who made it.
    denied = recorded(cairn, "PutBucketVersioning", "AccessDenied")
    assert len(denied) == 3
    assert {e["userIdentity"]["type"] for e in denied} == {"IAMUser", "Root"}
    assert [e["userIdentity"]["userName"] for e in recorded(cairn, "DeleteObject", "AccessDenied")] == ["mallory"]
    # The owner's root with its own code still can.
    s3.delete_object(Bucket=b, Key="AWSLogs/evidence.json.gz", VersionId=vid, MFA=root.header())
    assert versions(s3, b, "AWSLogs/evidence") == []


# -- item 4 ------------------------------------------------------------------------------------

LIFECYCLE = {"Rules": [{"ID": "sweep", "Status": "Enabled", "Filter": {"Prefix": ""},
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]}


def test_item_4_lifecycle_cannot_get_around_mfa_delete(cairn):
    """AWS refuses a lifecycle configuration on a bucket with MFA delete, and MFA delete on a
    bucket with a lifecycle configuration (`InvalidBucketState`)."""
    s3 = cairn.client("s3")
    root = root_device(cairn)
    b = "trail-logs"
    s3.put_bucket_versioning(Bucket=b, MFA=root.header(),
                             VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration=LIFECYCLE)
    assert error_code(e.value) == "InvalidBucketState"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert refused(s3.get_bucket_lifecycle_configuration, Bucket=b) == "NoSuchLifecycleConfiguration"
    # The other order: lifecycle first, then MFA delete.
    other = "other-logs"
    s3.put_bucket_versioning(Bucket=other, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(Bucket=other, LifecycleConfiguration=LIFECYCLE)
    assert refused(s3.put_bucket_versioning, Bucket=other, MFA=root.header(), VersioningConfiguration={
        "Status": "Enabled", "MFADelete": "Enabled"}) == "InvalidBucketState"
    assert s3.get_bucket_versioning(Bucket=other).get("MFADelete") != "Enabled"
    assert [e["requestParameters"]["bucketName"] for e in
            recorded(cairn, "PutBucketLifecycle", "InvalidBucketState")] == [b]
    assert len(recorded(cairn, "PutBucketVersioning", "InvalidBucketState")) == 1


# -- item 5 ------------------------------------------------------------------------------------

def test_item_5_presigned_url_signatures_stay_out_of_audit_records(cairn):
    """A presigned URL's signature, credential and session token never enter an audit
    record (S3 and STS alike): whoever reads the logs must not be able to replay it."""
    s3 = cairn.client("s3")
    s3.put_object(Bucket="trail-logs", Key="report.csv", Body=b"secret report")
    iam = cairn.client("iam")
    role = iam.create_role(RoleName="reader", AssumeRolePolicyDocument=policy({
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MGMT}:root"},
        "Action": "sts:AssumeRole"}))["Role"]
    iam.attach_role_policy(RoleName="reader", PolicyArn=ADMIN)
    _, creds = make_user(cairn, "alice", allow("sts:AssumeRole", role["Arn"]))
    c = cairn.client("sts", creds=creds).assume_role(
        RoleArn=role["Arn"], RoleSessionName="presign")["Credentials"]
    session = (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    urls = [presigned_get(cairn, "s3", "/trail-logs/report.csv", session),
            presigned_get(cairn, "s3", "/trail-logs/report.csv", (ROOT_KEY, ROOT_SECRET)),
            presigned_get(cairn, "sts", "/?Action=GetCallerIdentity&Version=2011-06-15", session)]
    bodies = [urllib.request.urlopen(u, timeout=10).read() for u in urls]
    assert bodies[0] == bodies[1] == b"secret report"
    assert b"assumed-role/reader/presign" in bodies[2]
    secrets = {c["SessionToken"]}
    for u in urls:
        q = urllib.parse.parse_qs(urllib.parse.urlparse(u).query)
        assert "X-Amz-Signature" in q
        secrets |= {q["X-Amz-Signature"][0], q["X-Amz-Credential"][0]}
    events = cairn.events()
    text = json.dumps(events)
    for s in secrets:
        assert s not in text, s
    gets = [e for e in events if e["eventName"] == "GetObject"]
    assert len(gets) == 2
    for e in gets:
        p = e["requestParameters"]
        assert p["key"] == "report.csv" and p["X-Amz-Expires"] == "600"
        assert not {"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token"} & set(p)
    assert recorded(cairn, "GetCallerIdentity", source="sts.amazonaws.com")


# -- item 8 ------------------------------------------------------------------------------------

def test_item_8_update_alias_needs_permission_on_the_current_key(cairn):
    """A user allowed kms:CreateKey and kms:UpdateAlias on its own key only cannot repoint
    alias/trail-logs (which names another key) at its own key: AWS authorizes UpdateAlias on
    the alias, the current target key and the new one."""
    kms = cairn.client("kms")
    trail_key = kms.create_key(Description="trail logs")["KeyMetadata"]
    kms.create_alias(AliasName="alias/trail-logs", TargetKeyId=trail_key["KeyId"])
    user, creds = make_user(cairn, "mallory", allow("kms:CreateKey"),
                            allow("kms:UpdateAlias", f"arn:aws:kms:us-east-1:{MGMT}:alias/*"))
    mk = cairn.client("kms", creds=creds)
    # Its own key, whose key policy gives it everything.
    own = mk.create_key(Description="mine", Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MGMT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "kms:*", "Resource": "*"},
    ))["KeyMetadata"]
    assert refused(mk.update_alias, AliasName="alias/trail-logs", TargetKeyId=own["KeyId"]) \
        == "AccessDeniedException"
    assert refused(mk.delete_alias, AliasName="alias/trail-logs") == "AccessDeniedException"
    [a] = [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == "alias/trail-logs"]
    assert a["TargetKeyId"] == trail_key["KeyId"]
    denied = recorded(cairn, "UpdateAlias", "AccessDeniedException")
    assert len(denied) == 1 and denied[0]["userIdentity"]["userName"] == "mallory"
    assert trail_key["Arn"] in denied[0]["errorMessage"]
    assert recorded(cairn, "DeleteAlias", "AccessDeniedException")
    # The root, allowed on the alias and both keys, may move it.
    kms.update_alias(AliasName="alias/trail-logs", TargetKeyId=own["KeyId"])
    [a] = [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == "alias/trail-logs"]
    assert a["TargetKeyId"] == own["KeyId"]


# -- item 12 -----------------------------------------------------------------------------------

def test_item_12_user_path_is_part_of_the_principal_arn(cairn):
    """A bucket-policy Deny naming the ARN IAM returned for a user with a path applies to
    it: the path is kept in the principal's ARN for authorization, the audit record's
    userIdentity and GetCallerIdentity."""
    user, creds = make_user(cairn, "opsuser", allow("s3:*"), path="/ops/")
    arn = f"arn:aws:iam::{MGMT}:user/ops/opsuser"
    assert user["Arn"] == arn
    s3 = cairn.client("s3")
    s3.put_bucket_policy(Bucket="other-logs", Policy=policy({
        "Sid": "NoOps", "Effect": "Deny", "Principal": {"AWS": arn}, "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::other-logs/*"}))
    us3 = cairn.client("s3", creds=creds)
    assert refused(us3.put_object, Bucket="other-logs", Key="x", Body=b"x") == "AccessDenied"
    assert refused(us3.get_object, Bucket="other-logs", Key="x") == "NoSuchKey"
    us3.put_object(Bucket="trail-logs", Key="x", Body=b"x")
    assert cairn.client("sts", creds=creds).get_caller_identity()["Arn"] == arn
    [denied] = recorded(cairn, "PutObject", "AccessDenied")
    assert denied["userIdentity"]["arn"] == arn and denied["userIdentity"]["userName"] == "opsuser"
    assert arn in denied["errorMessage"]
    assert all(e["userIdentity"]["arn"] == arn for e in cairn.events()
               if e["userIdentity"].get("userName") == "opsuser")


# -- item 13 -----------------------------------------------------------------------------------

def test_item_13_copy_object_validates_keys(cairn):
    """CopyObject applies PutObject's key rules to the destination key (and the source)."""
    s3 = cairn.client("s3")
    s3.put_object(Bucket="trail-logs", Key="a/b.json", Body=b"{}")
    for bad in ["x/../../escape.json", "x/./y", "x//y"]:
        assert refused(s3.copy_object, Bucket="trail-logs", Key=bad,
                       CopySource={"Bucket": "trail-logs", "Key": "a/b.json"}) == "InvalidArgument", bad
    assert refused(s3.put_object, Bucket="trail-logs", Key="x/../../escape.json", Body=b"{}") \
        == "InvalidArgument"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="trail-logs").get("Contents", [])]
    assert keys == ["a/b.json"]
    assert len(recorded(cairn, "CopyObject", "InvalidArgument")) == 3
    # A good key still copies.
    s3.copy_object(Bucket="trail-logs", Key="c/d.json", CopySource={"Bucket": "trail-logs", "Key": "a/b.json"})
    assert s3.get_object(Bucket="trail-logs", Key="c/d.json")["Body"].read() == b"{}"


# -- item 15 -----------------------------------------------------------------------------------

def test_item_15_delete_objects_checks_governance_bypass_per_key(cairn):
    """DeleteObjects authorizes s3:BypassGovernanceRetention on each object's ARN: a Deny on
    the log prefix holds although the bypass is allowed on the rest of the bucket."""
    s3 = cairn.client("s3")
    b = "locked-logs"
    s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}}})
    log = s3.put_object(Bucket=b, Key="AWSLogs/log.json.gz", Body=b"log")["VersionId"]
    tmp = s3.put_object(Bucket=b, Key="scratch/tmp", Body=b"tmp")["VersionId"]
    _, creds = make_user(cairn, "cleaner", allow("s3:*", [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"]),
                         {"Effect": "Deny", "Action": "s3:BypassGovernanceRetention",
                          "Resource": f"arn:aws:s3:::{b}/AWSLogs/*"})
    out = cairn.client("s3", creds=creds).delete_objects(
        Bucket=b, BypassGovernanceRetention=True,
        Delete={"Objects": [{"Key": "AWSLogs/log.json.gz", "VersionId": log},
                            {"Key": "scratch/tmp", "VersionId": tmp}]})
    assert [(e["Key"], e["Code"]) for e in out.get("Errors", [])] == [("AWSLogs/log.json.gz", "AccessDenied")]
    assert [d["Key"] for d in out.get("Deleted", [])] == ["scratch/tmp"]
    assert versions(s3, b, "AWSLogs/") == [log]
    assert versions(s3, b, "scratch/") == []
    [rec] = recorded(cairn, "DeleteObjects")
    assert rec["userIdentity"]["userName"] == "cleaner"


def test_item_15_mfa_codes_have_an_attempt_limit(cairn):
    """After 5 wrong codes a device refuses every code for a while (even the right one), so
    six digits cannot be guessed; each refused attempt is on record."""
    s3 = cairn.client("s3")
    root = root_device(cairn)
    b = "trail-logs"
    s3.put_bucket_versioning(Bucket=b, MFA=root.header(),
                             VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"})
    vid = s3.put_object(Bucket=b, Key="AWSLogs/x.json.gz", Body=b"x")["VersionId"]
    for _ in range(5):
        assert refused(s3.delete_object, Bucket=b, Key="AWSLogs/x.json.gz", VersionId=vid,
                       MFA=f"{root.serial} {root.wrong()}") == "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.delete_object(Bucket=b, Key="AWSLogs/x.json.gz", VersionId=vid, MFA=root.header())
    assert error_code(e.value) == "AccessDenied"
    assert "too many failed MFA attempts" in e.value.response["Error"]["Message"]
    assert versions(s3, b, "AWSLogs/x") == [vid]
    assert len(recorded(cairn, "DeleteObject", "AccessDenied")) == 6
    # The IAM side (AssumeRole with MFA) is limited the same way, per device.
    _, creds = make_user(cairn, "dana", allow("sts:AssumeRole"))
    dev = user_device(cairn, "dana", "dana-phone")
    role = cairn.client("iam").create_role(RoleName="mfa-role", AssumeRolePolicyDocument=policy({
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MGMT}:root"}, "Action": "sts:AssumeRole"}))["Role"]
    sts = cairn.client("sts", creds=creds)
    for _ in range(5):
        assert refused(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="mfa-session",
                       SerialNumber=dev.serial, TokenCode=dev.wrong()) == "AccessDenied"
    assert refused(sts.assume_role, RoleArn=role["Arn"], RoleSessionName="mfa-session",
                   SerialNumber=dev.serial, TokenCode=dev.code()) == "AccessDenied"
    assert len(recorded(cairn, "AssumeRole", "AccessDenied")) == 6
