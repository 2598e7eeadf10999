"""Issue #6's layout, end to end: the log-archive account owns the trail bucket, a workload
account cannot read, overwrite or delete its logs, and the security account's auditor role
can read them but not delete them. Every denied attempt is in the audit trail as an S3 data
event carrying the caller's identity and `errorCode`."""

import gzip
import json

import botocore.exceptions
import pytest

from conftest import MEMBER, MGMT, Cairn, error_code

SECURITY = "333333333333"
WORKLOAD = "444444444444"
BUCKET = f"cairn-trail-logs-{MEMBER}"
AUDITOR = f"arn:aws:iam::{SECURITY}:role/SecurityAuditor"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
LOG_KEY = f"AWSLogs/{MGMT}/CloudTrail/us-east-1/2026/12/06/{MGMT}_CloudTrail_us-east-1_20261206T0000Z_x.json.gz"

CONFIG = f"""
version = 1
account_id = "{MGMT}"
home_region = "us-east-1"
regions = ["us-east-1"]

[organization]
id = "o-cairntest01"
member_accounts = ["{MEMBER}", "{SECURITY}", "{WORKLOAD}"]
"""


def root_of(server, account):
    out = server.cli("credentials", "--account", account).stdout
    kv = dict(line.removeprefix("export ").split("=", 1)
              for line in out.splitlines() if line.startswith("export "))
    return kv["AWS_ACCESS_KEY_ID"], kv["AWS_SECRET_ACCESS_KEY"]


def s3_client(server, key, secret, token=None):
    import boto3
    import botocore.config
    return boto3.client("s3", region_name="us-east-1", endpoint_url=server.endpoint,
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        aws_session_token=token,
                        config=botocore.config.Config(retries={"max_attempts": 1},
                                                      s3={"addressing_style": "path"}))


def denied(fn, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(**kw)
    assert error_code(e.value) == "AccessDenied", e.value.response
    return e.value


@pytest.fixture
def layout(tmp_path):
    server = Cairn(tmp_path / "data", config=CONFIG).start()
    try:
        out = server.cli("iam", "init-org", "--endpoint-url", server.endpoint,
                         "--log-archive-account", MEMBER, "--security-account", SECURITY)
        assert f"created bucket {BUCKET}" in out.stdout, out.stdout
        # The log-archive account lets CloudTrail deliver (its documented policy) and the
        # security account's auditor role read; nobody else is named.
        archive = s3_client(server, *root_of(server, MEMBER))
        archive.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow",
                 "Principal": {"Service": "cloudtrail.amazonaws.com"},
                 "Action": "s3:GetBucketAcl", "Resource": f"arn:aws:s3:::{BUCKET}"},
                {"Sid": "AWSCloudTrailWrite", "Effect": "Allow",
                 "Principal": {"Service": "cloudtrail.amazonaws.com"},
                 "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{BUCKET}/AWSLogs/*",
                 "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}},
                {"Sid": "AuditorsRead", "Effect": "Allow", "Principal": {"AWS": AUDITOR},
                 "Action": ["s3:GetObject", "s3:ListBucket"],
                 "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]},
            ],
        }))
        body = gzip.compress(json.dumps({"Records": [{"eventName": "StopLogging"}]}).encode())
        archive.put_object(Bucket=BUCKET, Key=LOG_KEY, Body=body)
        yield server, body
    finally:
        server.stop()


def test_workload_account_cannot_read_overwrite_or_delete_the_logs(layout):
    server, body = layout
    # The strongest principal of the workload account: its root and an administrator user.
    wroot = root_of(server, WORKLOAD)
    iam = server.client("iam", creds=wroot)
    iam.create_user(UserName="deployer")
    iam.attach_user_policy(UserName="deployer", PolicyArn=ADMIN)
    k = iam.create_access_key(UserName="deployer")["AccessKey"]
    for creds in (wroot, (k["AccessKeyId"], k["SecretAccessKey"])):
        s3 = s3_client(server, *creds)
        denied(s3.get_object, Bucket=BUCKET, Key=LOG_KEY)
        denied(s3.put_object, Bucket=BUCKET, Key=LOG_KEY, Body=b"forged")
        denied(s3.delete_object, Bucket=BUCKET, Key=LOG_KEY)
        denied(s3.list_objects, Bucket=BUCKET)
    # The log is untouched.
    archive = s3_client(server, *root_of(server, MEMBER))
    assert archive.get_object(Bucket=BUCKET, Key=LOG_KEY)["Body"].read() == body
    # Each denied attempt is recorded, with who tried it.
    events = [e for e in server.events()
              if e.get("eventSource") == "s3.amazonaws.com" and e.get("errorCode") == "AccessDenied"]
    by_caller = {(e["userIdentity"].get("arn"), e["eventName"]) for e in events}
    for arn in (f"arn:aws:iam::{WORKLOAD}:root", f"arn:aws:iam::{WORKLOAD}:user/deployer"):
        for name in ("GetObject", "PutObject", "DeleteObject"):
            assert (arn, name) in by_caller, (arn, name, sorted(by_caller))
    get = next(e for e in events if e["eventName"] == "GetObject")
    assert get["eventCategory"] == "Data" and get["managementEvent"] is False
    assert {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{BUCKET}/{LOG_KEY}"} in [
        {"type": r["type"], "ARN": r["ARN"]} for r in get["resources"]]


def test_security_auditor_role_reads_but_cannot_delete(layout):
    server, body = layout
    iam = server.client("iam")
    iam.create_user(UserName="auditor")
    iam.put_user_policy(UserName="auditor", PolicyName="assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": AUDITOR}]}))
    k = iam.create_access_key(UserName="auditor")["AccessKey"]
    sts = server.client("sts", creds=(k["AccessKeyId"], k["SecretAccessKey"]))
    c = sts.assume_role(RoleArn=AUDITOR, RoleSessionName="incident-42")["Credentials"]
    s3 = s3_client(server, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    assert s3.get_object(Bucket=BUCKET, Key=LOG_KEY)["Body"].read() == body
    assert [o["Key"] for o in s3.list_objects(Bucket=BUCKET)["Contents"]] == [LOG_KEY]
    denied(s3.delete_object, Bucket=BUCKET, Key=LOG_KEY)
    denied(s3.put_object, Bucket=BUCKET, Key=LOG_KEY, Body=b"forged")
    archive = s3_client(server, *root_of(server, MEMBER))
    assert archive.get_object(Bucket=BUCKET, Key=LOG_KEY)["Body"].read() == body
    # The read and the refused delete are in the trail under the role session's identity.
    mine = [e for e in server.events() if e.get("eventSource") == "s3.amazonaws.com"
            and e["userIdentity"].get("type") == "AssumedRole"]
    assert {(e["eventName"], e.get("errorCode")) for e in mine} >= {
        ("GetObject", None), ("DeleteObject", "AccessDenied")}
    session = mine[0]["userIdentity"]
    assert session["arn"] == f"arn:aws:sts::{SECURITY}:assumed-role/SecurityAuditor/incident-42"
    assert session["sessionContext"]["sessionIssuer"]["arn"] == AUDITOR
