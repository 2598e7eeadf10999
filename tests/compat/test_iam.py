"""IAM users, roles, STS sessions and policy enforcement, driven with boto3 and the AWS CLI.

Every test runs a real `cairn serve` (conftest.py). The root of the management account
(`ROOT_KEY`) sets things up; the users and sessions it creates then hit the APIs."""

import json
import pathlib
import shutil
import tempfile
import time
import uuid

import botocore.exceptions
import pytest

from conftest import CONFIG, MEMBER, MGMT, Cairn, error_code

READ_ONLY_CT = "arn:aws:iam::aws:policy/AWSCloudTrail_ReadOnlyAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def trust(principal_arn):
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": principal_arn},
                       "Action": "sts:AssumeRole"}],
    })


def allow(action, resource="*"):
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}],
    })


def make_user(cairn, name, policies=(), creds=None):
    iam = cairn.client("iam", creds=creds)
    iam.create_user(UserName=name)
    for arn in policies:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def session_creds(resp):
    c = resp["Credentials"]
    return c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]


def session_client(cairn, service, creds):
    import boto3
    import botocore.config
    key, secret, token = creds
    return boto3.client(
        service, region_name="us-east-1", endpoint_url=cairn.endpoint,
        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
        config=botocore.config.Config(retries={"max_attempts": 1}))


def make_trail(cairn, name="main"):
    ct = cairn.client()
    ct.create_trail(Name=name, S3BucketName="trail-logs")
    ct.start_logging(Name=name)
    return ct


def journal_events(cairn, name):
    return [e for e in cairn.events() if e["eventName"] == name]


def test_user_without_stop_logging_is_denied_and_the_attempt_is_recorded(cairn):
    make_trail(cairn)
    creds = make_user(cairn, "ops", [READ_ONLY_CT])
    ct = cairn.client(creds=creds)
    assert [t["Name"] for t in ct.describe_trails()["trailList"]] == ["main"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ct.stop_logging(Name="main")
    assert error_code(e.value) == "AccessDeniedException"
    msg = e.value.response["Error"]["Message"]
    assert f"arn:aws:iam::{MGMT}:user/ops" in msg and "cloudtrail:StopLogging" in msg
    assert f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/main" in msg
    assert cairn.client().get_trail_status(Name="main")["IsLogging"] is True

    # The denied attempt is in the trail's event history, with the caller's identity.
    deadline = time.time() + 20
    found = []
    while time.time() < deadline and not found:
        found = [
            json.loads(ev["CloudTrailEvent"])
            for ev in cairn.client().lookup_events(
                LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "StopLogging"}]
            )["Events"]
        ]
        if not found:
            time.sleep(0.2)
    assert len(found) == 1, "the denied StopLogging call is not in LookupEvents"
    rec = found[0]
    assert rec["errorCode"] == "AccessDeniedException"
    assert "not authorized to perform: cloudtrail:StopLogging" in rec["errorMessage"]
    ui = rec["userIdentity"]
    assert ui["type"] == "IAMUser" and ui["userName"] == "ops"
    assert ui["arn"] == f"arn:aws:iam::{MGMT}:user/ops"
    assert ui["principalId"].startswith("AIDA") and ui["accessKeyId"] == creds[0]
    assert ui["accountId"] == MGMT


def test_read_only_user_can_describe_but_not_create(cairn):
    make_trail(cairn)
    creds = make_user(cairn, "reader", [READ_ONLY])
    ct = cairn.client(creds=creds)
    assert ct.get_trail(Name="main")["Trail"]["Name"] == "main"
    assert ct.get_trail_status(Name="main")["IsLogging"] is True
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ct.create_trail(Name="second", S3BucketName="other-logs")
    assert error_code(e.value) == "AccessDeniedException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ct.delete_trail(Name="main")
    assert error_code(e.value) == "AccessDeniedException"
    iam = cairn.client("iam", creds=creds)
    assert "reader" in [u["UserName"] for u in iam.list_users()["Users"]]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.create_user(UserName="mallory")
    assert error_code(e.value) == "AccessDenied"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # A user with no policy at all can still ask who it is, and nothing else.
    nobody = make_user(cairn, "nobody")
    ident = cairn.client("sts", creds=nobody).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{MGMT}:user/nobody" and ident["Account"] == MGMT
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cairn.client(creds=nobody).describe_trails()
    assert error_code(e.value) == "AccessDeniedException"
    # An explicit deny wins over AdministratorAccess.
    boss = make_user(cairn, "boss", [ADMIN])
    cairn.client("iam").put_user_policy(
        UserName="boss", PolicyName="no-stop",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "cloudtrail:StopLogging", "Resource": "*"}]}))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cairn.client(creds=boss).stop_logging(Name="main")
    assert "explicit deny" in e.value.response["Error"]["Message"]
    cairn.client(creds=boss).describe_trails()


def test_assumed_role_identity_in_user_identity(cairn):
    make_trail(cairn)
    iam = cairn.client("iam")
    role = iam.create_role(RoleName="auditor", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{MGMT}:root"),
                           MaxSessionDuration=7200)["Role"]
    assert role["RoleId"].startswith("AROA") and role["Arn"] == f"arn:aws:iam::{MGMT}:role/auditor"
    # botocore decodes the URL-encoded trust policy into a dict
    assert iam.get_role(RoleName="auditor")["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Action"] == "sts:AssumeRole"
    iam.attach_role_policy(RoleName="auditor", PolicyArn=READ_ONLY_CT)
    creds = make_user(cairn, "alice")
    sts = cairn.client("sts", creds=creds)
    # The trust policy names only the account: the user also needs sts:AssumeRole.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1")
    assert error_code(e.value) == "AccessDenied"
    iam.put_user_policy(UserName="alice", PolicyName="assume", PolicyDocument=allow("sts:AssumeRole", role["Arn"]))
    resp = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="audit-session", DurationSeconds=900)
    assert resp["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{MGMT}:assumed-role/auditor/audit-session"
    assert resp["AssumedRoleUser"]["AssumedRoleId"] == f"{role['RoleId']}:audit-session"
    sc = session_creds(resp)
    assert sc[0].startswith("ASIA")
    me = session_client(cairn, "sts", sc).get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{MGMT}:assumed-role/auditor/audit-session"
    ct = session_client(cairn, "cloudtrail", sc)
    ct.describe_trails()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ct.stop_logging(Name="main")
    assert error_code(e.value) == "AccessDeniedException"
    assert f"assumed-role/auditor/audit-session" in e.value.response["Error"]["Message"]

    rec = [e for e in journal_events(cairn, "DescribeTrails") if e["userIdentity"]["type"] == "AssumedRole"][0]
    ui = rec["userIdentity"]
    assert ui["principalId"] == f"{role['RoleId']}:audit-session"
    assert ui["arn"] == f"arn:aws:sts::{MGMT}:assumed-role/auditor/audit-session"
    assert ui["accountId"] == MGMT and ui["accessKeyId"] == sc[0]
    issuer = ui["sessionContext"]["sessionIssuer"]
    assert issuer == {"type": "Role", "principalId": role["RoleId"], "arn": role["Arn"],
                      "accountId": MGMT, "userName": "auditor"}
    assert ui["sessionContext"]["attributes"]["mfaAuthenticated"] == "false"
    assert ui["sessionContext"]["attributes"]["creationDate"].endswith("Z")
    denied = [e for e in journal_events(cairn, "StopLogging") if e["userIdentity"]["type"] == "AssumedRole"]
    assert denied and denied[0]["errorCode"] == "AccessDeniedException"
    # The AssumeRole call itself is recorded by STS without the secret or the token.
    ar = [e for e in journal_events(cairn, "AssumeRole") if "errorCode" not in e][0]
    assert ar["eventSource"] == "sts.amazonaws.com"
    assert ar["userIdentity"]["userName"] == "alice"
    assert ar["responseElements"]["credentials"]["accessKeyId"] == sc[0]
    assert "sessionToken" not in ar["responseElements"]["credentials"]
    assert "secretAccessKey" not in ar["responseElements"]["credentials"]
    # Role chaining is capped at one hour; an MFA device the user does not have is refused.
    ssts = session_client(cairn, "sts", sc)
    iam.attach_role_policy(RoleName="auditor", PolicyArn=ADMIN)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ssts.assume_role(RoleArn=role["Arn"], RoleSessionName="chain", DurationSeconds=7200)
    assert error_code(e.value) == "ValidationError"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="mfa", SerialNumber="arn:aws:iam::111111111111:mfa/alice", TokenCode="123456")
    assert error_code(e.value) == "AccessDenied"
    assert e.value.response["Error"]["Message"] == "MultiFactorAuthentication failed with invalid MFA one time pass code."


def test_expired_session_token_is_rejected(tmp_path):
    config = CONFIG + "\n[iam]\nmin_session_seconds = 2\n"
    server = Cairn(tmp_path / "data", config=config).start()
    try:
        iam = server.client("iam")
        role = iam.create_role(RoleName="short", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{MGMT}:user/bob"))["Role"]
        iam.attach_role_policy(RoleName="short", PolicyArn=READ_ONLY_CT)
        bob = make_user(server, "bob")
        import boto3
        import botocore.config
        # botocore enforces AWS's 900 s minimum client-side; the test override is server-side
        sts = boto3.client(
            "sts", region_name="us-east-1", endpoint_url=server.endpoint,
            aws_access_key_id=bob[0], aws_secret_access_key=bob[1],
            config=botocore.config.Config(retries={"max_attempts": 1}, parameter_validation=False))
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sts.assume_role(RoleArn=role["Arn"], RoleSessionName="short", DurationSeconds=1)
        assert error_code(e.value) == "ValidationError"
        resp = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="short", DurationSeconds=4)
        expires = resp["Credentials"]["Expiration"].timestamp()
        sc = session_creds(resp)
        ct = session_client(server, "cloudtrail", sc)
        ct.describe_trails()  # valid now
        # a token that does not open for this key id is not a session at all
        bad = (sc[0], sc[1], sc[2][:-8] + ("A" * 8 if not sc[2].endswith("A" * 8) else "B" * 8))
        with pytest.raises(botocore.exceptions.ClientError) as e:
            session_client(server, "cloudtrail", bad).describe_trails()
        assert error_code(e.value) in ("UnrecognizedClientException", "InvalidClientTokenId")
        time.sleep(max(0.0, expires - time.time()) + 1.0)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ct.describe_trails()
        assert "ExpiredToken" in error_code(e.value)
        assert e.value.response["Error"]["Message"] == "The security token included in the request is expired"
        with pytest.raises(botocore.exceptions.ClientError) as e:
            session_client(server, "sts", sc).get_caller_identity()
        assert error_code(e.value) == "ExpiredToken"
    finally:
        server.stop()


def test_min_session_override_must_stay_within_aws_bounds(tmp_path):
    server = Cairn(tmp_path / "data", config=CONFIG + "\n[iam]\nmin_session_seconds = 0\n")
    out = server.cli("credentials", check=False)
    assert out.returncode != 0 and "min_session_seconds" in out.stderr


def test_cross_account_assume_role_needs_trust_and_identity_policy(cairn):
    member_iam = cairn.client("iam", creds=cairn.member_credentials())
    open_role = member_iam.create_role(
        RoleName="auditor", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{MGMT}:root"))["Role"]
    member_iam.attach_role_policy(RoleName="auditor", PolicyArn=READ_ONLY_CT)
    closed_role = member_iam.create_role(
        RoleName="closed", AssumeRolePolicyDocument=trust("arn:aws:iam::333333333333:root"))["Role"]
    assert open_role["Arn"] == f"arn:aws:iam::{MEMBER}:role/auditor"

    alice = make_user(cairn, "alice")
    sts = cairn.client("sts", creds=alice)
    # trust allows the management account, but alice's own policies do not allow it
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.assume_role(RoleArn=open_role["Arn"], RoleSessionName="x-acct")
    assert error_code(e.value) == "AccessDenied"
    cairn.client("iam").attach_user_policy(UserName="alice", PolicyArn=ADMIN)
    # identity allows everything, but the trust policy does not name this account
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.assume_role(RoleArn=closed_role["Arn"], RoleSessionName="x-acct")
    assert error_code(e.value) == "AccessDenied"
    # an unknown role is refused the same way
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.assume_role(RoleArn=f"arn:aws:iam::{MEMBER}:role/nope", RoleSessionName="x-acct")
    assert error_code(e.value) == "AccessDenied"
    # both sides allow
    sc = session_creds(sts.assume_role(RoleArn=open_role["Arn"], RoleSessionName="x-acct"))
    me = session_client(cairn, "sts", sc).get_caller_identity()
    assert me["Account"] == MEMBER
    assert me["Arn"] == f"arn:aws:sts::{MEMBER}:assumed-role/auditor/x-acct"
    # root users cannot assume roles (as in AWS)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cairn.client("sts").assume_role(RoleArn=open_role["Arn"], RoleSessionName="root")
    assert error_code(e.value) == "AccessDenied"
    # the member account's IAM is its own: the management root does not see its roles
    assert [r["RoleName"] for r in cairn.client("iam").list_roles()["Roles"]] == []


def test_secrets_never_in_catalog_files_or_audit_records(cairn):
    key_id, secret = make_user(cairn, "keeper", [ADMIN])
    iam = cairn.client("iam")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust(f"arn:aws:iam::{MGMT}:user/keeper"))["Role"]
    sc = session_creds(cairn.client("sts", creds=(key_id, secret)).assume_role(
        RoleArn=role["Arn"], RoleSessionName="s1"))
    session_client(cairn, "sts", sc).get_caller_identity()
    cairn.client(creds=(key_id, secret)).describe_trails()
    records = json.dumps(cairn.events())
    assert "CreateAccessKey" in records and key_id in records
    for needle in (secret, sc[1], sc[2]):
        assert needle not in records
    cairn.stop()
    for path in pathlib.Path(cairn.data_dir).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for needle in (secret, sc[1], sc[2]):
                assert needle.encode() not in data, f"a secret is stored in plain text in {path}"


def test_iam_api_with_the_aws_cli(cairn):
    out, _ = cairn.aws("iam", "create-user", "--user-name", "carol", "--path", "/team/")
    assert out["User"]["Arn"] == f"arn:aws:iam::{MGMT}:user/team/carol"
    assert out["User"]["UserId"].startswith("AIDA")
    _, p = cairn.aws("iam", "create-user", "--user-name", "carol", check=False)
    assert p.returncode != 0 and "EntityAlreadyExists" in p.stderr
    _, p = cairn.aws("iam", "get-user", "--user-name", "nobody", check=False)
    assert p.returncode != 0 and "NoSuchEntity" in p.stderr
    out, _ = cairn.aws("iam", "list-users", "--path-prefix", "/team/")
    assert [u["UserName"] for u in out["Users"]] == ["carol"]
    doc = allow(["cloudtrail:Describe*", "cloudtrail:Get*"])
    out, _ = cairn.aws("iam", "create-policy", "--policy-name", "ct-read", "--policy-document", doc)
    arn = out["Policy"]["Arn"]
    assert arn == f"arn:aws:iam::{MGMT}:policy/ct-read" and out["Policy"]["DefaultVersionId"] == "v1"
    _, p = cairn.aws("iam", "create-policy", "--policy-name", "bad", "--policy-document", '{"Statement":[]}', check=False)
    assert p.returncode != 0 and "MalformedPolicyDocument" in p.stderr
    cairn.aws("iam", "attach-user-policy", "--user-name", "carol", "--policy-arn", arn)
    out, _ = cairn.aws("iam", "list-attached-user-policies", "--user-name", "carol")
    assert out["AttachedPolicies"] == [{"PolicyName": "ct-read", "PolicyArn": arn}]
    out, _ = cairn.aws("iam", "list-entities-for-policy", "--policy-arn", arn)
    assert [u["UserName"] for u in out["PolicyUsers"]] == ["carol"]
    out, _ = cairn.aws("iam", "get-policy", "--policy-arn", arn)
    assert out["Policy"]["AttachmentCount"] == 1
    _, p = cairn.aws("iam", "delete-policy", "--policy-arn", arn, check=False)
    assert p.returncode != 0 and "DeleteConflict" in p.stderr
    out, _ = cairn.aws("iam", "list-policies", "--scope", "AWS")
    names = {p["PolicyName"] for p in out["Policies"]}
    assert {"AWSCloudTrail_FullAccess", "AWSCloudTrail_ReadOnlyAccess", "AdministratorAccess", "ReadOnlyAccess"} <= names
    cairn.aws("iam", "put-user-policy", "--user-name", "carol", "--policy-name", "inline", "--policy-document", doc)
    out, _ = cairn.aws("iam", "get-user-policy", "--user-name", "carol", "--policy-name", "inline")
    assert out["PolicyDocument"]["Statement"][0]["Action"] == ["cloudtrail:Describe*", "cloudtrail:Get*"]
    k1, _ = cairn.aws("iam", "create-access-key", "--user-name", "carol")
    cairn.aws("iam", "create-access-key", "--user-name", "carol")
    _, p = cairn.aws("iam", "create-access-key", "--user-name", "carol", check=False)
    assert p.returncode != 0 and "LimitExceeded" in p.stderr
    kid = k1["AccessKey"]["AccessKeyId"]
    secret = k1["AccessKey"]["SecretAccessKey"]
    out, _ = cairn.aws("iam", "get-access-key-last-used", "--access-key-id", kid)
    assert out["AccessKeyLastUsed"] == {"ServiceName": "N/A", "Region": "N/A"}
    ct = cairn.client(creds=(kid, secret))
    ct.describe_trails()
    out, _ = cairn.aws("iam", "get-access-key-last-used", "--access-key-id", kid)
    assert out["UserName"] == "carol"
    assert out["AccessKeyLastUsed"]["ServiceName"] == "cloudtrail"
    assert out["AccessKeyLastUsed"]["Region"] == "us-east-1" and "LastUsedDate" in out["AccessKeyLastUsed"]
    cairn.aws("iam", "update-access-key", "--user-name", "carol", "--access-key-id", kid, "--status", "Inactive")
    out, _ = cairn.aws("iam", "list-access-keys", "--user-name", "carol")
    assert {k["AccessKeyId"]: k["Status"] for k in out["AccessKeyMetadata"]}[kid] == "Inactive"
    with pytest.raises(botocore.exceptions.ClientError):
        ct.describe_trails()
    _, p = cairn.aws("iam", "delete-user", "--user-name", "carol", check=False)
    assert p.returncode != 0 and "DeleteConflict" in p.stderr
    for k in out["AccessKeyMetadata"]:
        cairn.aws("iam", "delete-access-key", "--user-name", "carol", "--access-key-id", k["AccessKeyId"])
    cairn.aws("iam", "detach-user-policy", "--user-name", "carol", "--policy-arn", arn)
    cairn.aws("iam", "delete-user-policy", "--user-name", "carol", "--policy-name", "inline")
    cairn.aws("iam", "delete-user", "--user-name", "carol")
    cairn.aws("iam", "delete-policy", "--policy-arn", arn)
    out, _ = cairn.aws("sts", "get-caller-identity")
    assert out == {"UserId": MGMT, "Account": MGMT, "Arn": f"arn:aws:iam::{MGMT}:root"}
    # The root user has no MFA device yet.
    out, _ = cairn.aws("iam", "list-mfa-devices")
    assert out["MFADevices"] == []
    ev = [e for e in cairn.events() if e["eventSource"] == "iam.amazonaws.com" and e["eventName"] == "CreateUser"]
    assert ev[0]["requestParameters"] == {"userName": "carol", "path": "/team/"}
    assert ev[0]["responseElements"]["user"]["userName"] == "carol"
    assert ev[0]["awsRegion"] == "us-east-1"
    assert ev[1]["errorCode"] == "EntityAlreadyExists"


def test_ingest_needs_permission_and_own_account(cairn):
    import urllib.error
    import urllib.request
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def record(account):
        return {"eventVersion": "1.08", "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "eventSource": "example.cairn.dev", "eventName": "Ping", "awsRegion": "us-east-1",
                "sourceIPAddress": "192.0.2.1", "userAgent": "test",
                "eventID": str(uuid.uuid4()),
                "eventType": "AwsApiCall", "recipientAccountId": account,
                "userIdentity": {"type": "Unknown"}}

    def ingest(creds, records):
        body = json.dumps({"Records": records}).encode()
        req = AWSRequest(method="POST", url=cairn.endpoint + "/_cairn/ingest", data=body,
                         headers={"Content-Type": "application/json"})
        SigV4Auth(Credentials(*creds), "cloudtrail-data", "us-east-1").add_auth(req)
        r = urllib.request.Request(req.url, data=body, headers=dict(req.headers), method="POST")
        try:
            with urllib.request.urlopen(r) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    plain = make_user(cairn, "plain")
    status, _ = ingest(plain, [record(MGMT)])
    assert status == 403
    denied = [e for e in cairn.events() if e["eventName"] == "BulkIngest"]
    assert denied and denied[0]["errorCode"] == "AccessDeniedException"
    cairn.client("iam").put_user_policy(UserName="plain", PolicyName="ingest", PolicyDocument=allow("cairn:BulkIngest"))
    status, out = ingest(plain, [record(MGMT), record(MEMBER)])
    assert status == 200 and out["accepted"] == 1 and len(out["rejected"]) == 1, out
    cairn.client("iam").put_user_policy(UserName="plain", PolicyName="any", PolicyDocument=allow("cairn:IngestForAnyAccount"))
    status, out = ingest(plain, [record(MEMBER)])
    assert status == 200 and out["accepted"] == 1, out


def run_cairn(*args, env_extra=None):
    import os
    import subprocess
    from conftest import CAIRN
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([CAIRN, *args], env=env, capture_output=True, text=True, timeout=60)


def test_policy_simulate_offline_and_from_the_server(cairn, tmp_path):
    pol = tmp_path / "mfa-stop.json"
    pol.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "StopWithMfa", "Effect": "Allow", "Action": "cloudtrail:StopLogging", "Resource": "*",
         "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}},
        {"Sid": "Read", "Effect": "Allow", "Action": "cloudtrail:Describe*", "Resource": "*"}]}))
    trail = f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/main"
    base = ["policy", "simulate", "--principal", f"arn:aws:iam::{MGMT}:user/ops",
            "--action", "cloudtrail:StopLogging", "--resource", trail, "--policy-file", str(pol)]
    out = run_cairn(*base, "--context", "aws:MultiFactorAuthPresent=false")
    assert out.returncode == 0, out.stderr
    assert "decision: IMPLICIT DENY" in out.stdout
    assert "StopWithMfa" in out.stdout and "aws:MultiFactorAuthPresent" in out.stdout
    out = run_cairn(*base, "--context", "aws:MultiFactorAuthPresent=true", "--json")
    assert json.loads(out.stdout)["decision"] == "Allow"
    out = run_cairn("policy", "simulate", "--principal", "arn:aws:s3:::x", "--action", "s3:GetObject")
    assert out.returncode == 1 and out.stderr.startswith("error:") and len(out.stderr.strip().splitlines()) == 1

    make_user(cairn, "ops", [READ_ONLY_CT])
    cairn.client("iam").put_user_policy(UserName="ops", PolicyName="no-stop", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Sid": "NoStop", "Effect": "Deny", "Action": "cloudtrail:StopLogging", "Resource": "*"}]}))
    from conftest import ROOT_KEY, ROOT_SECRET
    env = {"AWS_ACCESS_KEY_ID": ROOT_KEY, "AWS_SECRET_ACCESS_KEY": ROOT_SECRET}
    remote = ["policy", "simulate", "--server", "--endpoint-url", cairn.endpoint,
              "--principal", f"arn:aws:iam::{MGMT}:user/ops", "--resource", trail]
    out = run_cairn(*remote, "--action", "cloudtrail:DescribeTrails", env_extra=env)
    assert out.returncode == 0, out.stderr
    assert "decision: ALLOW" in out.stdout and "AWSCloudTrail_ReadOnlyAccess" in out.stdout
    out = run_cairn(*remote, "--action", "cloudtrail:StopLogging", env_extra=env)
    assert "decision: EXPLICIT DENY" in out.stdout and "NoStop" in out.stdout


ORG_CONFIG = f"""
version = 1
account_id = "{MGMT}"
home_region = "us-east-1"
regions = ["us-east-1", "eu-west-1"]

[organization]
id = "o-cairntest01"
member_accounts = ["{MEMBER}", "333333333333"]
"""


def test_init_org_layout(tmp_path):
    server = Cairn(tmp_path / "data", config=ORG_CONFIG).start()
    try:
        out = server.cli("iam", "init-org", "--endpoint-url", server.endpoint)
        assert f"created role arn:aws:iam::{MGMT}:role/OrganizationAdmin" in out.stdout
        assert f"created bucket cairn-trail-logs-{MEMBER}" in out.stdout
        assert "created role arn:aws:iam::333333333333:role/SecurityAuditor" in out.stdout
        again = server.cli("iam", "init-org", "--endpoint-url", server.endpoint)
        assert "already exists" in again.stdout
        # an organization trail into the log-archive bucket
        ct = server.client()
        ct.create_trail(Name="org", S3BucketName=f"cairn-trail-logs-{MEMBER}", IsOrganizationTrail=True,
                        IsMultiRegionTrail=True)
        # the auditor role is assumable from the management account and reads but cannot change
        iam = server.client("iam")
        auditor_arn = "arn:aws:iam::333333333333:role/SecurityAuditor"
        iam.create_user(UserName="auditor")
        iam.put_user_policy(UserName="auditor", PolicyName="assume",
                            PolicyDocument=allow("sts:AssumeRole", auditor_arn))
        key = iam.create_access_key(UserName="auditor")["AccessKey"]
        sts = server.client("sts", creds=(key["AccessKeyId"], key["SecretAccessKey"]))
        sc = session_creds(sts.assume_role(RoleArn=auditor_arn, RoleSessionName="audit"))
        sct = session_client(server, "cloudtrail", sc)
        sct.describe_trails()
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sct.stop_logging(Name=f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/org")
        assert error_code(e.value) == "AccessDeniedException"
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sct.delete_trail(Name=f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/org")
        assert error_code(e.value) == "AccessDeniedException"
        # a workload (log-archive member) principal cannot assume the auditor role
        member_iam = server.client("iam", creds=server.member_credentials())
        member_iam.create_user(UserName="w")
        member_iam.attach_user_policy(UserName="w", PolicyArn=ADMIN)
        k = member_iam.create_access_key(UserName="w")["AccessKey"]
        with pytest.raises(botocore.exceptions.ClientError) as e:
            server.client("sts", creds=(k["AccessKeyId"], k["SecretAccessKey"])).assume_role(
                RoleArn=auditor_arn, RoleSessionName="wk")
        assert error_code(e.value) == "AccessDenied"
    finally:
        server.stop()


def test_init_org_needs_two_members(cairn):
    out = cairn.cli("iam", "init-org", "--endpoint-url", cairn.endpoint, check=False)
    assert out.returncode == 1 and "security" in out.stderr


# -- virtual MFA devices and AssumeRole with MFA ------------------------------------------------

def totp(secret_b32, step):
    """RFC 6238 TOTP (HMAC-SHA1, 6 digits), computed independently of the server."""
    import base64
    import hashlib
    import hmac
    import struct
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1_000_000)


def test_virtual_mfa_device_and_assume_role_with_mfa(cairn):
    iam = cairn.client("iam")
    creds = make_user(cairn, "dana")
    serial = f"arn:aws:iam::{MGMT}:mfa/dana-phone"
    dev = iam.create_virtual_mfa_device(VirtualMFADeviceName="dana-phone")["VirtualMFADevice"]
    assert dev["SerialNumber"] == serial
    seed = dev["Base32StringSeed"].decode()  # botocore decodes the blob's base64
    assert len(seed) == 32 and set(seed) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.create_virtual_mfa_device(VirtualMFADeviceName="dana-phone")
    assert error_code(e.value) == "EntityAlreadyExists"
    assert iam.list_mfa_devices(UserName="dana")["MFADevices"] == []

    step = int(time.time()) // 30
    # Two codes that are not consecutive do not enable the device.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.enable_mfa_device(UserName="dana", SerialNumber=serial,
                              AuthenticationCode1=totp(seed, step - 1),
                              AuthenticationCode2=totp(seed, step - 3))
    assert error_code(e.value) == "InvalidAuthenticationCode"
    # Enabled with the AWS CLI, with two consecutive past codes (later steps stay unused).
    cairn.aws("iam", "enable-mfa-device", "--user-name", "dana", "--serial-number", serial,
              "--authentication-code1", totp(seed, step - 2),
              "--authentication-code2", totp(seed, step - 1))
    listed = iam.list_mfa_devices(UserName="dana")["MFADevices"]
    assert [(d["UserName"], d["SerialNumber"]) for d in listed] == [("dana", serial)]
    assert listed[0]["EnableDate"].year >= 2024
    # The user lists its own devices without naming itself.
    mine = cairn.client("iam", creds=creds)
    iam.put_user_policy(UserName="dana", PolicyName="self", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:ListMFADevices",
             "Resource": f"arn:aws:iam::{MGMT}:user/dana"},
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
    assert [d["SerialNumber"] for d in mine.list_mfa_devices()["MFADevices"]] == [serial]

    # A role whose trust policy requires MFA.
    doc = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MGMT}:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]}
    role = iam.create_role(RoleName="breakglass", AssumeRolePolicyDocument=json.dumps(doc))["Role"]
    iam.attach_role_policy(RoleName="breakglass", PolicyArn=READ_ONLY_CT)
    sts = cairn.client("sts", creds=creds)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="no-mfa")
    assert error_code(e.value) == "AccessDenied"
    # A wrong code is refused with AWS's message.
    wrong = "%06d" % ((int(totp(seed, step)) + 1) % 1_000_000)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="bad-mfa",
                        SerialNumber=serial, TokenCode=wrong)
    assert error_code(e.value) == "AccessDenied"
    assert e.value.response["Error"]["Message"] == \
        "MultiFactorAuthentication failed with invalid MFA one time pass code."
    # The right code works once.
    code = totp(seed, step + 1 if int(time.time()) // 30 > step else step)
    resp = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="with-mfa",
                           SerialNumber=serial, TokenCode=code)
    sc = session_creds(resp)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="replay",
                        SerialNumber=serial, TokenCode=code)
    assert error_code(e.value) == "AccessDenied"
    # Another user cannot use dana's device.
    other = make_user(cairn, "eve")
    iam.put_user_policy(UserName="eve", PolicyName="assume", PolicyDocument=allow("sts:AssumeRole"))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cairn.client("sts", creds=other).assume_role(
            RoleArn=role["Arn"], RoleSessionName="eve", SerialNumber=serial,
            TokenCode=totp(seed, int(time.time()) // 30 + 1))
    assert error_code(e.value) == "AccessDenied"

    # The MFA session's calls show mfaAuthenticated true, and the condition key holds for it.
    session_client(cairn, "cloudtrail", sc).describe_trails()
    rec = [e for e in journal_events(cairn, "DescribeTrails")
           if e["userIdentity"]["type"] == "AssumedRole"
           and e["userIdentity"]["arn"].endswith("/breakglass/with-mfa")]
    assert rec, "the MFA session's call is not recorded"
    assert rec[0]["userIdentity"]["sessionContext"]["attributes"]["mfaAuthenticated"] == "true"
    # The AssumeRole audit record never holds the one-time code.
    ar = [e for e in journal_events(cairn, "AssumeRole")
          if e["requestParameters"].get("roleSessionName") == "with-mfa"][0]
    assert "tokenCode" not in ar["requestParameters"]
    assert ar["requestParameters"]["serialNumber"] == serial
    en = [e for e in cairn.events() if e["eventName"] == "EnableMFADevice" and "errorCode" not in e][0]
    assert "authenticationCode1" not in en["requestParameters"]
    assert "authenticationCode2" not in en["requestParameters"]
    cv = [e for e in cairn.events() if e["eventName"] == "CreateVirtualMFADevice"][0]
    assert seed not in json.dumps(cv)

    # Deactivated, the device no longer authenticates and can then be deleted.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert error_code(e.value) == "DeleteConflict"
    iam.deactivate_mfa_device(UserName="dana", SerialNumber=serial)
    assert iam.list_mfa_devices(UserName="dana")["MFADevices"] == []
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="after",
                        SerialNumber=serial, TokenCode=totp(seed, int(time.time()) // 30 + 1))
    assert error_code(e.value) == "AccessDenied"
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert error_code(e.value) == "NoSuchEntity"
