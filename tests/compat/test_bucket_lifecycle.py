"""`cairn bucket lifecycle`: the archive and expiry rules a trail bucket should carry, put on a
bucket of an external S3-compatible service (moto_server here) from the AWS CLI's JSON."""

import json

from conftest import CONFIG, Cairn

RULES = {"Rules": [{
    "ID": "archive-then-expire", "Status": "Enabled", "Filter": {"Prefix": "AWSLogs/"},
    "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}],
    "Expiration": {"Days": 2555},
    "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
}]}


def test_rules_reach_the_external_bucket(moto, tmp_path):
    s3 = moto.client()
    s3.create_bucket(Bucket="ext-trail-logs")
    server = Cairn(tmp_path / "data", config=CONFIG + moto.bucket_config("ext-trail-logs"))
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES))
    out = server.cli("bucket", "lifecycle", "ext-trail-logs", "--file", str(rules))
    assert "put 1 lifecycle rule(s) on ext-trail-logs" in out.stdout
    got = s3.get_bucket_lifecycle_configuration(Bucket="ext-trail-logs")["Rules"]
    assert len(got) == 1
    rule = got[0]
    assert rule["ID"] == "archive-then-expire" and rule["Status"] == "Enabled"
    assert rule["Filter"] == {"Prefix": "AWSLogs/"}
    assert rule["Transitions"][0]["Days"] == 90 and rule["Transitions"][0]["StorageClass"] == "GLACIER"
    assert rule["Expiration"]["Days"] == 2555
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30


def test_local_buckets_and_bad_documents_are_refused(moto, tmp_path):
    server = Cairn(tmp_path / "data", config=CONFIG + moto.bucket_config("ext-trail-logs"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"Rules": []}))
    out = server.cli("bucket", "lifecycle", "ext-trail-logs", "--file", str(bad), check=False)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == ["error: the lifecycle document's `Rules` list is empty"]
    good = tmp_path / "rules.json"
    good.write_text(json.dumps(RULES))
    out = server.cli("bucket", "lifecycle", "not-configured", "--file", str(good), check=False)
    assert out.returncode == 1 and "is not an S3 bucket of the configuration" in out.stderr
