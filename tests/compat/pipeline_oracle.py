"""An independent model of which records a trail delivers, written from the spec
(selectors-and-filters.md §1-§3, cloudtrail-formats.md §3) for the selector shapes the tests
use. It shares no code with Cairn."""

import glob
import json
import pathlib

DATA = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data" / "cloudtrail"
GLOBAL = {"iam.amazonaws.com", "sts.amazonaws.com", "cloudfront.amazonaws.com", "route53.amazonaws.com",
          "organizations.amazonaws.com", "signin.amazonaws.com", "waf.amazonaws.com",
          "shield.amazonaws.com", "globalaccelerator.amazonaws.com"}
S3_OBJECT_APIS = {"GetObject", "PutObject", "DeleteObject", "DeleteObjects", "HeadObject", "CopyObject",
                  "ListObjects", "ListObjectsV2", "GetObjectAcl", "PutObjectAcl", "GetObjectTagging",
                  "PutObjectTagging", "RestoreObject", "UploadPart", "CreateMultipartUpload",
                  "CompleteMultipartUpload", "AbortMultipartUpload", "SelectObjectContent",
                  "GetObjectAttributes", "ListParts", "GetObjectRetention", "PutObjectRetention",
                  "GetObjectLegalHold", "PutObjectLegalHold", "DeleteObjectTagging"}


OTRF_RAW = sorted(glob.glob(str(DATA / "otrf-security-datasets" / "*.json")))


def real_records():
    """Every shared record, as (source, record); otrf records get their eventTime back."""
    out = []
    for f in sorted(glob.glob(str(DATA / "invictus-ir-sigma-aws" / "*.json"))):
        out += [("invictus", r) for r in json.load(open(f))["Records"]]
    for f in sorted(glob.glob(str(DATA / "otrf-security-datasets" / "*.json"))):
        for l in open(f):
            if l.strip():
                r = json.loads(l)
                # The lab's Logstash export moved eventTime into @timestamp; put it back so
                # the records are valid CloudTrail again (the raw lines are tested as rejects).
                if "eventTime" not in r and "@timestamp" in r:
                    r["eventTime"] = r["@timestamp"][:19] + "Z"
                out.append(("otrf", r))
    for l in open(DATA / "aws-docs-examples" / "cloudtrail_user_guide_examples.ndjson"):
        if l.strip():
            out.append(("docs", json.loads(l)["record"]))
    return out


def category(r):
    if "eventCategory" in r:
        return r["eventCategory"]
    if r.get("eventType") == "AwsCloudTrailInsight":
        return "Insight"
    if r.get("managementEvent") is False:
        return "Data"
    if r.get("eventSource") == "s3.amazonaws.com" and r.get("eventName") in S3_OBJECT_APIS:
        return "Data"
    if r.get("eventSource") == "lambda.amazonaws.com" and r.get("eventName") == "Invoke":
        return "Data"
    return "Management"


def is_global(r):
    return r.get("awsRegion") == "us-east-1" and r.get("eventSource") in GLOBAL


def field(r, name):
    cur = r
    for part in name.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return cur


def field_ok(fs, value):
    sel = [(op, v) for op in ("Equals", "StartsWith", "EndsWith") for v in fs.get(op, [])]
    des = [(op, v) for op in ("NotEquals", "NotStartsWith", "NotEndsWith") for v in fs.get(op, [])]
    if value is None:
        return not sel

    def hit(op, v):
        return {"Equals": value == v, "NotEquals": value == v, "StartsWith": value.startswith(v),
                "NotStartsWith": value.startswith(v), "EndsWith": value.endswith(v),
                "NotEndsWith": value.endswith(v)}[op]
    if any(hit(op, v) for op, v in des):
        return False
    return any(hit(op, v) for op, v in sel) if sel else True


def advanced_match(selectors, r):
    cat = category(r)
    for s in selectors:
        ok = True
        res_fields = [fs for fs in s["FieldSelectors"] if fs["Field"].startswith("resources.")]
        for fs in s["FieldSelectors"]:
            f = fs["Field"]
            if f.startswith("resources."):
                continue
            v = cat if f == "eventCategory" else field(r, f)
            if not field_ok(fs, v):
                ok = False
                break
        if ok and res_fields:
            key = {"resources.type": "type", "resources.ARN": "ARN"}
            ok = any(all(field_ok(fs, res.get(key[fs["Field"]]) or (res.get("ARNPrefix") if fs["Field"] == "resources.ARN" else None))
                         for fs in res_fields) for res in (r.get("resources") or []))
        if ok:
            return True
    return False


def delivered_by(trail, r, org_accounts):
    """trail: dict(account, home, multi, org, global_, selectors (advanced) or None = default)."""
    region, acct = r.get("awsRegion"), r.get("recipientAccountId")
    if trail["multi"]:
        if region is None:
            return False
    elif region != trail["home"]:
        return False
    if not (acct == trail["account"] or (trail["org"] and acct in org_accounts)):
        return False
    if is_global(r) and not trail["global_"]:
        return False
    if trail["selectors"] is None:
        return category(r) == "Management"
    return advanced_match(trail["selectors"], r)
