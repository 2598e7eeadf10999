"""The request path's invariant, as a property test against a running `cairn serve`:

    after any signed request, either the server's state is unchanged or the journal holds an
    audit record for that request (matched by the request ID the server answered with).

Requests are drawn at random (seeded, so a failure is reproducible with the printed seed):
the operation and its service (CloudTrail, IAM, KMS, CloudWatch Logs, S3), the principal
(root or an ordinary IAM user), the signing region (enabled, another enabled one, one that is
not enabled), the way the resource is named (plain name, canonical ARN, a made-up partition,
another account) and padding of the request with junk parameters (none to ~9 MiB). They are
signed with botocore's own SigV4 signer and sent raw, so the body is exactly what we say.

`CAIRN_INVARIANT_CASES` and `CAIRN_INVARIANT_SEED` change the number of cases and the seed.
"""

import http.client
import json
import os
import random
import urllib.parse

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import MGMT, ROOT_KEY, ROOT_SECRET

CASES = int(os.environ.get("CAIRN_INVARIANT_CASES", "60"))
SEED = int(os.environ.get("CAIRN_INVARIANT_SEED", "20261207"))

REGIONS = ["us-east-1", "eu-west-1", "zz-hidden-1"]
PADDING = [0, 0, 0, 2_000, 300_000, 3_000_000, 9_500_000]
BIG = 1_000_000


def snapshot(cairn):
    """Everything a request in this test can change, read as root."""
    ct = cairn.client("cloudtrail")
    trails = ct.describe_trails(includeShadowTrails=False)["trailList"]
    state = {"trails": {}}
    for t in trails:
        status = ct.get_trail_status(Name=t["TrailARN"])
        selectors = ct.get_event_selectors(TrailName=t["TrailARN"])
        selectors.pop("ResponseMetadata", None)
        tags = ct.list_tags(ResourceIdList=[t["TrailARN"]])["ResourceTagList"]
        state["trails"][t["Name"]] = (
            json.dumps(t, sort_keys=True, default=str),
            status["IsLogging"],
            json.dumps(selectors, sort_keys=True, default=str),
            json.dumps(tags, sort_keys=True, default=str),
        )
    iam = cairn.client("iam")
    state["users"] = sorted(
        (u["Arn"], tuple(sorted(p["PolicyArn"] for p in
                                iam.list_attached_user_policies(UserName=u["UserName"])["AttachedPolicies"])))
        for u in iam.list_users()["Users"]
    )
    s3 = cairn.client("s3")
    state["buckets"] = {}
    for b in s3.list_buckets()["Buckets"]:
        versions = s3.list_object_versions(Bucket=b["Name"])
        state["buckets"][b["Name"]] = sorted(
            (v["Key"], v["VersionId"]) for v in versions.get("Versions", [])
        ) + sorted((m["Key"], m["VersionId"]) for m in versions.get("DeleteMarkers", []))
    kms = cairn.client("kms")
    state["aliases"] = sorted(
        (a["AliasName"], a.get("TargetKeyId")) for a in kms.list_aliases()["Aliases"]
    )
    state["keys"] = sorted(k["KeyId"] for k in kms.list_keys()["Keys"])
    logs = cairn.client("logs")
    state["log_groups"] = sorted(g["logGroupName"] for g in logs.describe_log_groups()["logGroups"])
    return state


def setup_world(cairn):
    """A logging trail and an ordinary IAM user who may do little, with an explicit Deny."""
    cairn.client("cloudtrail").create_trail(Name="audit", S3BucketName="trail-logs",
                                            IsMultiRegionTrail=True)
    cairn.client("cloudtrail").start_logging(Name="audit")
    iam = cairn.client("iam")
    iam.create_user(UserName="mallory", Path="/ops/")
    iam.put_user_policy(UserName="mallory", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["cloudtrail:*", "logs:*", "kms:Create*", "kms:List*",
                                             "iam:List*", "iam:Get*"], "Resource": "*"},
            {"Effect": "Deny", "Action": ["cloudtrail:StopLogging", "cloudtrail:DeleteTrail",
                                            "cloudtrail:UpdateTrail", "cloudtrail:PutEventSelectors"],
             "Resource": f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/audit"},
        ],
    }))
    key = iam.create_access_key(UserName="mallory")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def trail_ref(rng):
    return rng.choice([
        "audit",
        f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/audit",
        f"arn:x:cloudtrail:us-east-1:{MGMT}:trail/audit",
        "arn:aws:cloudtrail:us-east-1:222222222222:trail/audit",
        f"fuzz-{rng.randrange(1000)}",
    ])


def json_op(rng, pad):
    """(service, target, body) for a JSON-protocol call."""
    junk = {"Junk": "j" * pad} if pad else {}
    choice = rng.randrange(9)
    if choice == 0:
        return "cloudtrail", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.StopLogging", \
            {"Name": trail_ref(rng), **junk}
    if choice == 1:
        return "cloudtrail", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.StartLogging", \
            {"Name": trail_ref(rng), **junk}
    if choice == 2:
        return "cloudtrail", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.DeleteTrail", \
            {"Name": trail_ref(rng), **junk}
    if choice == 3:
        return "cloudtrail", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.PutEventSelectors", \
            {"TrailName": trail_ref(rng), "EventSelectors": [{"ReadWriteType": "ReadOnly"}], **junk}
    if choice == 4:
        return "cloudtrail", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.AddTags", \
            {"ResourceId": trail_ref(rng), "TagsList": [{"Key": "k", "Value": "j" * min(pad, 300)}]}
    if choice == 5:
        return "cloudtrail", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.CreateTrail", \
            {"Name": f"fuzz-{rng.randrange(1000)}", "S3BucketName": "other-logs", **junk}
    if choice == 6:
        return "kms", "TrentService.CreateKey", {"Description": "j" * min(pad, 8000)}
    if choice == 7:
        return "logs", "Logs_20140328.CreateLogGroup", \
            {"logGroupName": f"fuzz/{rng.randrange(1000)}", **({"tags": {"j": "j" * pad}} if pad else {})}
    return "cloudtrail", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.DescribeTrails", junk


def query_op(rng, pad):
    params = {"Version": "2010-05-08"}
    choice = rng.randrange(3)
    if choice == 0:
        params.update(Action="CreateUser", UserName=f"fuzz{rng.randrange(1000)}")
    elif choice == 1:
        params.update(Action="AttachUserPolicy", UserName="mallory",
                      PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    else:
        params.update(Action="DeleteUser", UserName=f"fuzz{rng.randrange(1000)}")
    if pad:
        params["Junk"] = "j" * pad
    return "iam", params


def s3_op(rng, pad):
    bucket = rng.choice(["trail-logs", "other-logs", f"fuzz-{rng.randrange(100)}"])
    choice = rng.randrange(3)
    if choice == 0:
        return "PUT", f"/{bucket}", b""
    if choice == 1:
        key = rng.choice(["k", "a/b.json", "x/../../escape"])
        return "PUT", f"/{bucket}/{urllib.parse.quote(key)}", b"o" * pad
    return "DELETE", f"/{bucket}/k", b""


def send(endpoint, creds, service, region, method, path, body, headers, query=""):
    host = endpoint.removeprefix("http://")
    url = f"{endpoint}{path}" + (f"?{query}" if query else "")
    req = AWSRequest(method=method, url=url, data=body, headers={"Host": host, **headers})
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(Credentials(*creds), service, region).add_auth(req)
    conn = http.client.HTTPConnection(host, timeout=60)
    try:
        conn.request(method, path + (f"?{query}" if query else ""), body=body,
                     headers=dict(req.headers.items()))
        resp = conn.getresponse()
        data = resp.read()
        rid = resp.getheader("x-amzn-requestid") or resp.getheader("x-amz-request-id")
        return resp.status, rid, data
    except (ConnectionError, http.client.HTTPException) as e:
        # A server may close the connection on an oversized body it refuses to read.
        return None, None, str(e).encode()
    finally:
        conn.close()


def one_request(rng, cairn, creds):
    region = rng.choice(REGIONS)
    pad = rng.choice(PADDING)
    kind = rng.randrange(4)
    if kind <= 1:
        service, target, doc = json_op(rng, pad)
        ctype = "application/x-amz-json-1.0" if service == "monitoring" else "application/x-amz-json-1.1"
        body = json.dumps(doc).encode()
        if service == "iam":
            region = "us-east-1"
        status, rid, data = send(cairn.endpoint, creds, service, region, "POST", "/", body,
                                 {"Content-Type": ctype, "X-Amz-Target": target})
        what = f"{service} {target.rsplit('.', 1)[-1]}"
    elif kind == 2:
        service, params = query_op(rng, pad)
        body = urllib.parse.urlencode(params).encode()
        status, rid, data = send(cairn.endpoint, creds, service, "us-east-1", "POST", "/", body,
                                 {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        what = f"iam {params['Action']}"
    else:
        method, path, body = s3_op(rng, pad)
        status, rid, data = send(cairn.endpoint, creds, "s3", region, method, path, body, {})
        what = f"s3 {method} {path}"
    return what, region, pad, status, rid, data


def recorded_request_ids(cairn):
    return {e.get("requestID") for e in cairn.events()}


def test_every_signed_request_is_recorded_or_changes_nothing(cairn):
    mallory = setup_world(cairn)
    root = (ROOT_KEY, ROOT_SECRET)
    rng = random.Random(SEED)
    failures = []
    bigs = 0
    before = snapshot(cairn)
    for i in range(CASES):
        creds = rng.choice([root, mallory, mallory])
        what, region, pad, status, rid, data = one_request(rng, cairn, creds)
        if pad >= BIG:
            bigs += 1
        after = snapshot(cairn)
        changed = after != before
        ids = recorded_request_ids(cairn)
        case = (f"case {i} (seed {SEED}): {what} as {'root' if creds == root else 'mallory'} "
                f"in {region}, padding {pad} -> {status} {data[:200]!r}")
        if status is not None and 200 <= status < 300 and rid not in ids:
            failures.append(f"{case}: succeeded with no audit record")
        elif changed and rid not in ids:
            failures.append(f"{case}: changed state with no audit record")
        if status == 500:
            failures.append(f"{case}: internal error")
        before = after
    assert bigs > 0, "the seed drew no oversized request; pick another"
    assert not failures, "\n".join(failures)
