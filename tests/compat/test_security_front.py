"""Issue 14, the request path: every call leaves a bounded audit record or changes nothing
(item 1), requests signed for a region that is not enabled are refused and recorded (item 7),
unauthenticated bodies are never buffered and memory stays bounded (item 10), TLS makes
`aws:SecureTransport` true, and /metrics does not show other accounts' resource names.

Black box: a real `cairn serve`, driven with boto3, the AWS CLI, raw SigV4-signed requests
(botocore's signer) and raw sockets."""

import json
import os
import pathlib
import socket
import subprocess
import time
import urllib.error
import urllib.request

import boto3
import botocore.config
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import CAIRN, MGMT, ROOT_KEY, ROOT_SECRET, error_code

MIB = 1024 * 1024
AUDIT_EVENT_LIMIT = 256 * 1024


def signed_call(cairn, service, target, body, region="us-east-1", creds=None, path="/",
                content_type="application/x-amz-json-1.1"):
    """POSTs `body` signed with SigV4 (as botocore signs JSON APIs: no x-amz-content-sha256)."""
    key, secret = creds or (ROOT_KEY, ROOT_SECRET)
    url = cairn.endpoint + path
    headers = {"Content-Type": content_type}
    if target:
        headers["X-Amz-Target"] = target
    req = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(Credentials(key, secret), service, region).add_auth(req)
    raw = urllib.request.Request(url, data=body, headers=dict(req.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(raw, timeout=120) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for_events(cairn, pred, timeout=10):
    deadline = time.time() + timeout
    while True:
        found = [e for e in cairn.events() if pred(e)]
        if found or time.time() > deadline:
            return found
        time.sleep(0.2)


def iam_user_keys(cairn, name):
    iam = cairn.client("iam")
    iam.create_user(UserName=name)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return k["AccessKeyId"], k["SecretAccessKey"]


def test_item_1_padded_stop_logging_is_refused_and_recorded(cairn):
    ct = cairn.client()
    ct.create_trail(Name="audit", S3BucketName="trail-logs", IsMultiRegionTrail=True)
    ct.start_logging(Name="audit")

    # ~9 MiB of junk: over every control-plane limit, under the journal's record limit before
    # bounding. It must not run, and its refusal must be on record.
    body = json.dumps({"Name": "audit", "Junk": "x" * (9 * MIB)}).encode()
    status, answer = signed_call(cairn, "cloudtrail",
                                 "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.StopLogging",
                                 body)
    assert status == 413, answer[:300]
    assert json.loads(answer)["__type"] == "RequestEntityTooLarge"
    assert ct.get_trail_status(Name="audit")["IsLogging"] is True
    refused = wait_for_events(cairn, lambda e: e["eventName"] == "StopLogging"
                              and e.get("errorCode") == "RequestEntityTooLarge")
    assert len(refused) == 1
    assert refused[0]["additionalEventData"]["requestBodyBytes"] == len(body)
    assert refused[0]["userIdentity"]["type"] == "Root"

    # Under the body limit but over CloudTrail's 100 KB parameter limit: it runs, and its record
    # omits requestParameters, says so, and fits CloudTrail's 256 KB event limit.
    body = json.dumps({"Name": "audit", "Junk": "y" * (600 * 1024)}).encode()
    status, answer = signed_call(cairn, "cloudtrail",
                                 "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.StopLogging",
                                 body)
    assert status == 200, answer[:300]
    assert ct.get_trail_status(Name="audit")["IsLogging"] is False
    stopped = wait_for_events(cairn, lambda e: e["eventName"] == "StopLogging"
                              and "errorCode" not in e)
    assert len(stopped) == 1
    assert stopped[0]["requestParameters"] is None
    assert stopped[0]["additionalEventData"]["omitted"] is True
    assert "requestParameters" in stopped[0]["additionalEventData"]["omittedFields"]
    assert len(json.dumps(stopped[0])) < AUDIT_EVENT_LIMIT


def test_item_1_denied_padded_calls_leave_bounded_records(cairn):
    cairn.client().create_trail(Name="audit", S3BucketName="trail-logs")
    creds = iam_user_keys(cairn, "nobody")
    time.sleep(0.5)
    sizes = []
    for target in ("StopLogging", "DeleteTrail"):
        body = json.dumps({"Name": "audit", "Junk": "z" * (900 * 1024)}).encode()
        status, answer = signed_call(
            cairn, "cloudtrail",
            f"com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.{target}", body, creds=creds)
        assert status == 400 and json.loads(answer)["__type"] == "AccessDeniedException"
        denied = wait_for_events(cairn, lambda e: e["eventName"] == target
                                 and e.get("errorCode") == "AccessDeniedException")
        assert len(denied) == 1, target
        assert denied[0]["userIdentity"]["userName"] == "nobody"
        sizes.append(len(json.dumps(denied[0])))
    assert max(sizes) < AUDIT_EVENT_LIMIT, sizes
    # A denied IAM call with a padded query body is bounded the same way.
    body = ("Action=AttachUserPolicy&Version=2010-05-08&UserName=nobody"
            "&PolicyArn=arn%3Aaws%3Aiam%3A%3Aaws%3Apolicy%2FAdministratorAccess"
            "&Description=" + "q" * (900 * 1024)).encode()
    status, answer = signed_call(cairn, "iam", None, body, creds=creds,
                                 content_type="application/x-www-form-urlencoded")
    assert 400 <= status < 500, answer[:300]
    found = wait_for_events(cairn, lambda e: e["eventName"] == "AttachUserPolicy")
    assert len(found) == 1 and found[0].get("errorCode")
    assert len(json.dumps(found[0])) < AUDIT_EVENT_LIMIT
    assert cairn.client("iam").list_attached_user_policies(UserName="nobody")[
        "AttachedPolicies"] == []
    assert cairn.client().describe_trails()["trailList"][0]["Name"] == "audit"


HIDDEN = "zz-hidden-1"


def test_item_7_requests_signed_for_a_disabled_region_are_refused_and_recorded(cairn):
    s3_home = cairn.client("s3")
    s3_home.create_bucket(Bucket="data-bkt")
    s3 = cairn.client("s3", region=HIDDEN)
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="hidden-bkt")
    assert error_code(e.value) == "AuthorizationHeaderMalformed"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="data-bkt", Key="k", Body=b"hidden")
    assert error_code(e.value) == "AuthorizationHeaderMalformed"
    assert "hidden-bkt" not in [b["Name"] for b in s3_home.list_buckets()["Buckets"]]
    assert s3_home.list_objects_v2(Bucket="data-bkt").get("KeyCount", 0) == 0

    sts = cairn.client("sts", region=HIDDEN)
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=f"arn:aws:iam::{MGMT}:role/anything", RoleSessionName="hidden-session")
    assert error_code(e.value) == "InvalidClientTokenId"
    with pytest.raises(ClientError) as e:
        cairn.client("cloudtrail", region=HIDDEN).create_trail(Name="t", S3BucketName="trail-logs")
    assert error_code(e.value) == "UnrecognizedClientException"
    assert cairn.client().describe_trails()["trailList"] == []

    # Every attempt is on record, in the home region, with the region it asked for.
    for source, name, code in [
        ("s3.amazonaws.com", "CreateBucket", "AuthorizationHeaderMalformed"),
        ("s3.amazonaws.com", "PutObject", "AuthorizationHeaderMalformed"),
        ("sts.amazonaws.com", "AssumeRole", "InvalidClientTokenId"),
        ("cloudtrail.amazonaws.com", "CreateTrail", "UnrecognizedClientException"),
    ]:
        found = wait_for_events(cairn, lambda e: e["eventSource"] == source
                                and e["eventName"] == name and e.get("errorCode") == code)
        assert len(found) == 1, (source, name)
        assert found[0]["awsRegion"] == "us-east-1"
        assert found[0]["additionalEventData"]["requestedRegion"] == HIDDEN
    # Global services keep working.
    assert cairn.client("sts").get_caller_identity()["Account"] == MGMT
    cairn.client("iam").list_users()


def vm_rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def host_port(cairn):
    host, port = cairn.endpoint.removeprefix("http://").split(":")
    return host, int(port)


def test_item_10_unauthenticated_request_is_answered_before_its_body(cairn):
    host, port = host_port(cairn)
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(f"PUT /trail-logs/big HTTP/1.1\r\nHost: {host}:{port}\r\n"
                  f"Content-Length: {64 * MIB}\r\n\r\n".encode())
        s.settimeout(5)
        head = s.recv(4096).decode(errors="replace")
    assert head.startswith("HTTP/1.1 403"), head[:200]
    assert "MissingAuthenticationToken" in head or "Missing" in head


def test_item_10_stalled_unauthenticated_uploads_do_not_grow_memory(cairn):
    host, port = host_port(cairn)
    pid = cairn.proc.pid
    # Warm up (first requests allocate pools and caches).
    cairn.client().describe_trails()
    time.sleep(0.5)
    before = vm_rss_kib(pid)
    chunk = b"\0" * MIB
    socks = []
    try:
        for i in range(200):
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(f"PUT /trail-logs/obj{i} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                      f"Content-Length: {64 * MIB}\r\n\r\n".encode())
            s.setblocking(False)
            socks.append(s)
        # Push up to 1 MiB of body per connection, as far as the server lets it in, then stall.
        for _ in range(3):
            for s in socks:
                try:
                    s.send(chunk)
                except (BlockingIOError, OSError):
                    pass
            time.sleep(0.5)
        # Plus 200 slow-loris connections that never finish their request head.
        for i in range(200):
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\nX-Slow: ".encode())
            socks.append(s)
        time.sleep(2)
        after = vm_rss_kib(pid)
        # The server still answers promptly.
        t0 = time.time()
        cairn.client().describe_trails()
        assert time.time() - t0 < 5
    finally:
        for s in socks:
            s.close()
    growth_mib = (after - before) / 1024
    print(f"RSS before {before / 1024:.0f} MiB, after {after / 1024:.0f} MiB")
    assert growth_mib < 64, f"server RSS grew by {growth_mib:.0f} MiB"


def tls_files(tmp):
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True)
    return cert, key


def start_tls(cairn, cert, key):
    cairn.proc = subprocess.Popen(
        [CAIRN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(cairn.data_dir),
         "--config", str(cairn.config_path), "--tls-cert", str(cert), "--tls-key", str(key)],
        env=cairn.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = cairn.proc.stdout.readline()
    if not line.startswith("listening on "):
        cairn.proc.kill()
        raise AssertionError(f"TLS server did not start: {line!r} {cairn.proc.stderr.read()}")
    cairn.endpoint = "https://" + line.split()[-1]


def test_tls_makes_secure_transport_true(cairn, tmp_path):
    s3 = cairn.client("s3")
    s3.create_bucket(Bucket="tls-only")
    s3.put_bucket_policy(Bucket="tls-only", Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
            "Action": ["s3:PutObject", "s3:GetObject"],
            "Resource": "arn:aws:s3:::tls-only/*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    }))
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="tls-only", Key="plain", Body=b"x")
    assert error_code(e.value) == "AccessDenied"

    cert, key = tls_files(tmp_path)
    cairn.stop()
    start_tls(cairn, cert, key)
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=cairn.endpoint,
                      aws_access_key_id=ROOT_KEY, aws_secret_access_key=ROOT_SECRET,
                      verify=str(cert), config=botocore.config.Config(retries={"max_attempts": 1}))
    # Over HTTPS botocore streams uploads aws-chunked with a trailing CRC32.
    s3.put_object(Bucket="tls-only", Key="secure", Body=b"over tls")
    assert s3.get_object(Bucket="tls-only", Key="secure")["Body"].read() == b"over tls"
    obj = s3.head_object(Bucket="tls-only", Key="secure")
    assert obj["ContentLength"] == 8 and obj.get("ContentEncoding") in (None, "")
    # The AWS CLI works against it with a CA bundle.
    src = tmp_path / "upload.txt"
    src.write_bytes(b"from the cli " * 1000)
    cairn.aws("s3api", "put-object", "--bucket", "tls-only", "--key", "cli.txt",
              "--body", str(src), "--ca-bundle", str(cert))
    out, _ = cairn.aws("s3api", "list-objects-v2", "--bucket", "tls-only", "--ca-bundle", str(cert))
    assert sorted(o["Key"] for o in out["Contents"]) == ["cli.txt", "secure"]
    assert s3.get_object(Bucket="tls-only", Key="cli.txt")["Body"].read() == src.read_bytes()
    # Plain HTTP on the TLS port is not served.
    host, port = cairn.endpoint.removeprefix("https://").split(":")
    with pytest.raises(Exception):
        urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=5).read()


def test_metrics_hide_log_group_names_without_the_token(cairn):
    logs = cairn.client("logs", creds=cairn.member_credentials())
    logs.create_log_group(logGroupName="member-secret-group")
    logs.put_subscription_filter(logGroupName="member-secret-group", filterName="member-filter",
                                 filterPattern="", destinationArn="http://127.0.0.1:9/sink")
    page = urllib.request.urlopen(cairn.endpoint + "/metrics", timeout=5).read().decode()
    assert "cairn_journal_bytes" in page
    assert "member-secret-group" not in page and "member-filter" not in page
    wrong = urllib.request.Request(cairn.endpoint + "/metrics",
                                   headers={"Authorization": "Bearer guess"})
    assert "member-secret-group" not in urllib.request.urlopen(wrong, timeout=5).read().decode()

    # With CAIRN_METRICS_TOKEN set on the server, the token holder sees per-group labels.
    cairn.stop()
    os.environ["CAIRN_METRICS_TOKEN"] = "metrics-token-for-tests"
    try:
        cairn.start()
    finally:
        del os.environ["CAIRN_METRICS_TOKEN"]
    anonymous = urllib.request.urlopen(cairn.endpoint + "/metrics", timeout=5).read().decode()
    assert "member-secret-group" not in anonymous
    authorized = urllib.request.Request(cairn.endpoint + "/metrics",
                                        headers={"Authorization": "Bearer metrics-token-for-tests"})
    page = urllib.request.urlopen(authorized, timeout=5).read().decode()
    assert 'log_group="member-secret-group"' in page
