"""The built-in KMS through the stock AWS CLI and boto3: every operation, key state and error;
key policies across accounts; SSE-KMS of a trail's log and digest files on a real S3 API
(moto); and no plaintext data key anywhere in the data directory."""

import base64
import gzip
import json
import pathlib
import shutil
import tempfile
import time

import botocore.exceptions
import pytest

from conftest import MEMBER, MGMT, Cairn, MotoS3, error_code


def aws_error(out):
    """The error code the CLI printed (`An error occurred (Code) when calling ...`)."""
    err = out.stderr
    assert out.returncode != 0, out.stdout
    start = err.index("(") + 1
    return err[start:err.index(")", start)]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_key_lifecycle_with_the_cli(cairn, tmp_path):
    key, _ = cairn.aws("kms", "create-key", "--description", "trail logs",
                       "--tags", "TagKey=team,TagValue=sec")
    meta = key["KeyMetadata"]
    key_id, arn = meta["KeyId"], meta["Arn"]
    assert arn == f"arn:aws:kms:us-east-1:{MGMT}:key/{key_id}"
    assert (meta["KeyState"], meta["Enabled"], meta["KeySpec"], meta["KeyUsage"]) == (
        "Enabled", True, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    assert meta["Description"] == "trail logs" and meta["AWSAccountId"] == MGMT

    # Aliases: create, resolve, list, reject bad and reserved names, duplicates.
    cairn.aws("kms", "create-alias", "--alias-name", "alias/trail-logs", "--target-key-id", key_id)
    for ref in [key_id, arn, "alias/trail-logs", f"arn:aws:kms:us-east-1:{MGMT}:alias/trail-logs"]:
        got, _ = cairn.aws("kms", "describe-key", "--key-id", ref)
        assert got["KeyMetadata"]["KeyId"] == key_id, ref
    aliases, _ = cairn.aws("kms", "list-aliases")
    assert [(a["AliasName"], a["TargetKeyId"], a["AliasArn"]) for a in aliases["Aliases"]] == [
        ("alias/trail-logs", key_id, f"arn:aws:kms:us-east-1:{MGMT}:alias/trail-logs")]
    assert cairn.aws("kms", "list-aliases", "--key-id", key_id)[0]["Aliases"][0]["AliasName"] == "alias/trail-logs"
    for name, code in [("alias/aws/s3", "NotAuthorizedException"),
                       ("alias/has space", "InvalidAliasNameException"),
                       ("alias/trail-logs", "AlreadyExistsException")]:
        _, out = cairn.aws("kms", "create-alias", "--alias-name", name, "--target-key-id", key_id, check=False)
        assert aws_error(out) == code, name
    _, out = cairn.aws("kms", "describe-key", "--key-id", "alias/missing", check=False)
    assert aws_error(out) == "NotFoundException"
    _, out = cairn.aws("kms", "describe-key", "--key-id", "1234abcd-12ab-34cd-56ef-1234567890ab", check=False)
    assert aws_error(out) == "NotFoundException"
    # Keys are regional: the same id is unknown in another region.
    _, out = cairn.aws("kms", "describe-key", "--key-id", key_id, region="us-west-2", check=False)
    assert aws_error(out) == "NotFoundException"
    keys, _ = cairn.aws("kms", "list-keys")
    assert keys["Keys"] == [{"KeyId": key_id, "KeyArn": arn}]

    # Encrypt/Decrypt by alias, with an encryption context.
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"attack at dawn")
    enc, _ = cairn.aws("kms", "encrypt", "--key-id", "alias/trail-logs", "--plaintext", f"fileb://{secret}",
                       "--encryption-context", "purpose=test")
    assert enc["KeyId"] == arn and enc["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = tmp_path / "blob.bin"
    blob.write_bytes(base64.b64decode(enc["CiphertextBlob"]))
    dec, _ = cairn.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{blob}",
                       "--encryption-context", "purpose=test")
    assert base64.b64decode(dec["Plaintext"]) == b"attack at dawn" and dec["KeyId"] == arn
    for ctx in [[], ["--encryption-context", "purpose=other"], ["--encryption-context", "purpose=test,x=y"]]:
        _, out = cairn.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{blob}", *ctx, check=False)
        assert aws_error(out) == "InvalidCiphertextException", ctx
    other, _ = cairn.aws("kms", "create-key")
    _, out = cairn.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{blob}", "--encryption-context",
                       "purpose=test", "--key-id", other["KeyMetadata"]["KeyId"], check=False)
    assert aws_error(out) == "IncorrectKeyException"
    tampered = bytearray(blob.read_bytes())
    tampered[-1] ^= 1
    (tmp_path / "bad.bin").write_bytes(bytes(tampered))
    _, out = cairn.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{tmp_path / 'bad.bin'}",
                       "--encryption-context", "purpose=test", check=False)
    assert aws_error(out) == "InvalidCiphertextException"

    # Data keys.
    dk, _ = cairn.aws("kms", "generate-data-key", "--key-id", "alias/trail-logs", "--key-spec", "AES_256")
    assert len(base64.b64decode(dk["Plaintext"])) == 32 and dk["KeyId"] == arn
    (tmp_path / "dk.bin").write_bytes(base64.b64decode(dk["CiphertextBlob"]))
    back, _ = cairn.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{tmp_path / 'dk.bin'}")
    assert back["Plaintext"] == dk["Plaintext"]
    dk16, _ = cairn.aws("kms", "generate-data-key", "--key-id", key_id, "--number-of-bytes", "16")
    assert len(base64.b64decode(dk16["Plaintext"])) == 16
    wp, _ = cairn.aws("kms", "generate-data-key-without-plaintext", "--key-id", key_id, "--key-spec", "AES_128")
    assert "Plaintext" not in wp and wp["CiphertextBlob"]
    _, out = cairn.aws("kms", "generate-data-key", "--key-id", key_id, check=False)
    assert aws_error(out) == "ValidationException"

    # Disabled: no crypto; enable restores.
    cairn.aws("kms", "disable-key", "--key-id", key_id)
    assert cairn.aws("kms", "describe-key", "--key-id", key_id)[0]["KeyMetadata"]["KeyState"] == "Disabled"
    for args in [["decrypt", "--ciphertext-blob", f"fileb://{blob}", "--encryption-context", "purpose=test"],
                 ["encrypt", "--key-id", key_id, "--plaintext", f"fileb://{secret}"],
                 ["generate-data-key", "--key-id", key_id, "--key-spec", "AES_256"],
                 ["enable-key-rotation", "--key-id", key_id]]:
        _, out = cairn.aws("kms", *args, check=False)
        assert aws_error(out) == "DisabledException", args
    cairn.aws("kms", "enable-key", "--key-id", key_id)
    cairn.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{blob}", "--encryption-context", "purpose=test")

    # Scheduled deletion: invalid state for everything; cancel leaves it Disabled (as AWS).
    _, out = cairn.aws("kms", "schedule-key-deletion", "--key-id", key_id, "--pending-window-in-days", "31",
                       check=False)
    assert aws_error(out) == "ValidationException"
    _, out = cairn.aws("kms", "cancel-key-deletion", "--key-id", key_id, check=False)
    assert aws_error(out) == "KMSInvalidStateException"
    before = time.time()
    sched, _ = cairn.aws("kms", "schedule-key-deletion", "--key-id", key_id, "--pending-window-in-days", "7")
    assert sched["KeyId"] == arn and sched["KeyState"] == "PendingDeletion" and sched["PendingWindowInDays"] == 7
    desc = cairn.aws("kms", "describe-key", "--key-id", key_id)[0]["KeyMetadata"]
    assert desc["KeyState"] == "PendingDeletion"
    # The CLI prints DeletionDate as an ISO string, boto3 as a datetime: check through boto3.
    deletion = cairn.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["DeletionDate"].timestamp()
    assert before + 7 * 86400 - 5 <= deletion <= time.time() + 7 * 86400 + 5
    for args in [["decrypt", "--ciphertext-blob", f"fileb://{blob}", "--encryption-context", "purpose=test"],
                 ["encrypt", "--key-id", key_id, "--plaintext", f"fileb://{secret}"],
                 ["enable-key", "--key-id", key_id], ["disable-key", "--key-id", key_id],
                 ["schedule-key-deletion", "--key-id", key_id]]:
        _, out = cairn.aws("kms", *args, check=False)
        assert aws_error(out) == "KMSInvalidStateException", args
    cancelled, _ = cairn.aws("kms", "cancel-key-deletion", "--key-id", key_id)
    assert cancelled["KeyId"] == arn
    assert cairn.aws("kms", "describe-key", "--key-id", key_id)[0]["KeyMetadata"]["KeyState"] == "Disabled"
    cairn.aws("kms", "enable-key", "--key-id", key_id)

    # Rotation: status, period bounds, on-demand rotation keeps old ciphertexts readable.
    st, _ = cairn.aws("kms", "get-key-rotation-status", "--key-id", key_id)
    assert st["KeyRotationEnabled"] is False
    _, out = cairn.aws("kms", "enable-key-rotation", "--key-id", key_id, "--rotation-period-in-days", "2561",
                       check=False)
    assert aws_error(out) == "ValidationException"
    cairn.aws("kms", "enable-key-rotation", "--key-id", key_id, "--rotation-period-in-days", "180")
    st, _ = cairn.aws("kms", "get-key-rotation-status", "--key-id", key_id)
    assert st["KeyRotationEnabled"] is True and st["RotationPeriodInDays"] == 180 and st["KeyId"] == arn
    cairn.aws("kms", "rotate-key-on-demand", "--key-id", key_id)
    dec, _ = cairn.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{blob}", "--encryption-context",
                       "purpose=test")
    assert base64.b64decode(dec["Plaintext"]) == b"attack at dawn", "old ciphertext after rotation"
    enc2, _ = cairn.aws("kms", "encrypt", "--key-id", key_id, "--plaintext", f"fileb://{secret}")
    assert base64.b64decode(enc2["CiphertextBlob"]) != blob.read_bytes()
    cairn.aws("kms", "disable-key-rotation", "--key-id", key_id)
    assert cairn.aws("kms", "get-key-rotation-status", "--key-id", key_id)[0]["KeyRotationEnabled"] is False

    # Key policies.
    pol, _ = cairn.aws("kms", "get-key-policy", "--key-id", key_id, "--policy-name", "default")
    doc = json.loads(pol["Policy"])
    assert doc["Statement"][0]["Principal"]["AWS"] == f"arn:aws:iam::{MGMT}:root"
    assert doc["Statement"][0]["Action"] == "kms:*"
    _, out = cairn.aws("kms", "put-key-policy", "--key-id", key_id, "--policy-name", "default",
                       "--policy", '{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}', check=False)
    assert aws_error(out) == "MalformedPolicyDocumentException"
    doc["Statement"][0]["Sid"] = "Root"
    cairn.aws("kms", "put-key-policy", "--key-id", key_id, "--policy-name", "default", "--policy", json.dumps(doc))
    assert json.loads(cairn.aws("kms", "get-key-policy", "--key-id", key_id)[0]["Policy"])["Statement"][0]["Sid"] == "Root"

    # Tags.
    tags, _ = cairn.aws("kms", "list-resource-tags", "--key-id", key_id)
    assert tags["Tags"] == [{"TagKey": "team", "TagValue": "sec"}]
    cairn.aws("kms", "tag-resource", "--key-id", key_id, "--tags", "TagKey=env,TagValue=prod")
    cairn.aws("kms", "untag-resource", "--key-id", key_id, "--tag-keys", "team")
    assert cairn.aws("kms", "list-resource-tags", "--key-id", key_id)[0]["Tags"] == [
        {"TagKey": "env", "TagValue": "prod"}]

    # Delete the alias; the key stays.
    cairn.aws("kms", "delete-alias", "--alias-name", "alias/trail-logs")
    _, out = cairn.aws("kms", "delete-alias", "--alias-name", "alias/trail-logs", check=False)
    assert aws_error(out) == "NotFoundException"
    assert cairn.aws("kms", "list-aliases")[0]["Aliases"] == []

    # An operation this server does not build answers UnsupportedOperationException by name.
    _, out = cairn.aws("kms", "list-grants", "--key-id", key_id, check=False)
    assert aws_error(out) == "UnsupportedOperationException" and "ListGrants" in out.stderr


def test_keys_survive_a_restart_and_list_keys_pages(cairn):
    kms = cairn.client("kms")
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/keep", TargetKeyId=key["KeyId"])
    blob = kms.encrypt(KeyId="alias/keep", Plaintext=b"persisted")["CiphertextBlob"]
    cairn.restart()
    kms = cairn.client("kms")
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"persisted"
    assert kms.describe_key(KeyId="alias/keep")["KeyMetadata"]["Arn"] == key["Arn"]
    # ListKeys pages with Limit/Marker.
    for _ in range(2):
        kms.create_key()
    first = kms.list_keys(Limit=2)
    assert first["Truncated"] is True and len(first["Keys"]) == 2
    rest = kms.list_keys(Limit=2, Marker=first["NextMarker"])
    assert rest["Truncated"] is False and len(rest["Keys"]) == 1
    assert len({k["KeyId"] for k in first["Keys"] + rest["Keys"]}) == 3


def test_key_policy_governs_other_accounts(cairn):
    kms = cairn.client("kms")
    key = kms.create_key()["KeyMetadata"]
    member = cairn.client("kms", creds=cairn.member_credentials())
    # By bare id the key is not even visible from another account; by ARN the default key
    # policy (this account's root only) denies.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        member.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert error_code(e.value) == "NotFoundException"
    blob = kms.encrypt(KeyId=key["Arn"], Plaintext=b"owner data")["CiphertextBlob"]
    for call in [lambda: member.encrypt(KeyId=key["Arn"], Plaintext=b"x"),
                 lambda: member.decrypt(CiphertextBlob=blob),
                 lambda: member.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256")]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert error_code(e.value) == "AccessDeniedException"
        assert f"arn:aws:iam::{MEMBER}:root" in e.value.response["Error"]["Message"]
    # Management is never cross-account.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        member.disable_key(KeyId=key["Arn"])
    assert error_code(e.value) == "NotFoundException"
    # Grant the member kms:Encrypt only, with a condition on the encryption context.
    policy = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    policy["Statement"].append({
        "Sid": "MemberEncrypt", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MEMBER}:root"},
        "Action": "kms:Encrypt", "Resource": "*",
        "Condition": {"StringEquals": {"kms:EncryptionContext:team": "blue"}}})
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    out = member.encrypt(KeyId=key["Arn"], Plaintext=b"x", EncryptionContext={"team": "blue"})
    assert out["KeyId"] == key["Arn"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        member.encrypt(KeyId=key["Arn"], Plaintext=b"x", EncryptionContext={"team": "red"})
    assert error_code(e.value) == "AccessDeniedException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        member.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"team": "blue"})
    assert error_code(e.value) == "AccessDeniedException", "Encrypt was granted, not Decrypt"
    # The owner still decrypts what the member encrypted.
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"team": "blue"})["Plaintext"] == b"x"
    # The lockout safety check: a policy that would stop the caller from ever changing it
    # again is refused unless explicitly bypassed; once bypassed, it binds the owner too.
    locked = dict(policy)
    locked["Statement"] = policy["Statement"] + [{
        "Sid": "NoPolicyChanges", "Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{MGMT}:root"},
        "Action": "kms:PutKeyPolicy", "Resource": "*"}]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(locked))
    assert error_code(e.value) == "MalformedPolicyDocumentException"
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(locked),
                       BypassPolicyLockoutSafetyCheck=True)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    assert error_code(e.value) == "AccessDeniedException"


def test_no_plaintext_in_the_data_dir_or_the_audit_trail(cairn):
    kms = cairn.client("kms")
    key = kms.create_key()["KeyMetadata"]
    dk = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext={"obj": "1"})
    plaintext_key = dk["Plaintext"]
    marker = b"cairn-kms-plaintext-marker-0123456789"
    enc = kms.encrypt(KeyId=key["KeyId"], Plaintext=marker)
    assert kms.decrypt(CiphertextBlob=enc["CiphertextBlob"])["Plaintext"] == marker
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"obj": "1"})["Plaintext"] == plaintext_key
    # The calls are audited as kms.amazonaws.com events, without Plaintext or CiphertextBlob.
    events = [e for e in cairn.events() if e["eventSource"] == "kms.amazonaws.com"]
    names = [e["eventName"] for e in events]
    for name in ["CreateKey", "GenerateDataKey", "Encrypt", "Decrypt"]:
        assert name in names, names
    text = json.dumps(events)
    for needle in [b64(plaintext_key), b64(marker), b64(dk["CiphertextBlob"]), b64(enc["CiphertextBlob"])]:
        assert needle not in text
    crypto = [e for e in events if e["eventName"] in ("Encrypt", "Decrypt", "GenerateDataKey")]
    assert all(e["readOnly"] is True and e.get("responseElements") is None for e in crypto)
    gdk = next(e for e in events if e["eventName"] == "GenerateDataKey")
    assert gdk["requestParameters"]["keyId"] == key["KeyId"]
    assert gdk["requestParameters"]["encryptionContext"] == {"obj": "1"}
    # Nothing in the data directory holds the data key or the marker, raw or base64.
    cairn.stop()
    files = [p for p in cairn.data_dir.rglob("*") if p.is_file()]
    assert any(p.name == "kms.db" for p in files)
    for p in files:
        data = p.read_bytes()
        for needle in [plaintext_key, b64(plaintext_key).encode(), marker, b64(marker).encode()]:
            assert needle not in data, p
    cairn.start()


TRAIL_CONFIG = f"""
version = 1
account_id = "{MGMT}"
home_region = "us-east-1"
regions = ["us-east-1"]

[delivery]
interval = "1s"
digest_period = "2s"
"""


@pytest.fixture
def on_moto():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="cairn-kms-"))
    moto = MotoS3().start()
    moto.client().create_bucket(Bucket="enc-logs")
    c = Cairn(tmp / "data", config=TRAIL_CONFIG + moto.bucket_config("enc-logs"))
    c.moto = moto
    c.start()
    try:
        yield c
    finally:
        c.stop()
        moto.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def cloudtrail_statement(trail_arn):
    """The statement CloudTrail's documentation asks a key policy to have."""
    return {
        "Sid": "Allow CloudTrail to encrypt logs", "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "kms:GenerateDataKey*",
        "Resource": "*",
        "Condition": {
            "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": [f"arn:aws:cloudtrail:*:{MGMT}:trail/*"]},
            "StringEquals": {"aws:SourceArn": trail_arn}},
    }


def start_encrypted_trail(kms, ct, key, name, bucket):
    """Lets CloudTrail use `key` for trail `name` (the statement AWS documents), then creates
    and starts the trail delivering to `bucket` under SSE-KMS with validation on; its ARN."""
    trail_arn = f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/{name}"
    policy = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    policy["Statement"].append(cloudtrail_statement(trail_arn))
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    ct.create_trail(Name=name, S3BucketName=bucket, KmsKeyId=key["Arn"],
                    EnableLogFileValidation=True)
    ct.start_logging(Name=name)
    return trail_arn


def test_trail_with_kms_key_writes_sse_kms_logs_and_digests(on_moto):
    cairn = on_moto
    kms, ct = cairn.client("kms"), cairn.client()
    key = kms.create_key(Description="cloudtrail")["KeyMetadata"]
    kms.create_alias(AliasName="alias/cloudtrail", TargetKeyId=key["KeyId"])
    trail_arn = f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/encrypted"

    def create(key_id):
        return ct.create_trail(Name="encrypted", S3BucketName="enc-logs", KmsKeyId=key_id,
                               EnableLogFileValidation=True)

    for key_id, code in [("alias/nope", "KmsKeyNotFoundException"),
                         ("arn:aws:kms:us-west-2:%s:key/%s" % (MGMT, key["KeyId"]), "KmsKeyNotFoundException"),
                         ("not a key", "InvalidKmsKeyIdException"),
                         ("alias/cloudtrail", "InsufficientEncryptionPolicyException")]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            create(key_id)
        assert error_code(e.value) == code, key_id
    policy = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    policy["Statement"].append(cloudtrail_statement(trail_arn))
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create("alias/cloudtrail")
    assert error_code(e.value) == "KmsException"
    kms.enable_key(KeyId=key["KeyId"])
    created = create("alias/cloudtrail")
    assert created["KmsKeyId"] == key["Arn"]
    assert ct.describe_trails(trailNameList=["encrypted"])["trailList"][0]["KmsKeyId"] == key["Arn"]
    # A policy for another trail's ARN does not qualify this one.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ct.create_trail(Name="other", S3BucketName="enc-logs", KmsKeyId=key["Arn"])
    assert error_code(e.value) == "InsufficientEncryptionPolicyException"

    ct.start_logging(Name="encrypted")
    for _ in range(3):
        ct.describe_trails()
        kms.list_keys()
    deadline = time.time() + 40
    s3 = cairn.moto.client()
    logs, digests = [], []
    while time.time() < deadline:
        keys = [o["Key"] for page in s3.get_paginator("list_objects").paginate(Bucket="enc-logs")
                for o in page.get("Contents", [])]
        logs = [k for k in keys if "/CloudTrail/" in k]
        digests = [k for k in keys if "/CloudTrail-Digest/" in k]
        if logs and len(digests) >= 2:
            break
        time.sleep(0.5)
    assert logs and len(digests) >= 2, (logs, digests)
    for k in logs + digests:
        head = s3.head_object(Bucket="enc-logs", Key=k)
        assert head["ServerSideEncryption"] == "aws:kms", k
        assert head["SSEKMSKeyId"] == key["Arn"], k
    # The files are still CloudTrail's: a log holds this server's own records.
    body = gzip.decompress(s3.get_object(Bucket="enc-logs", Key=logs[0])["Body"].read())
    assert json.loads(body)["Records"]
    # Removing the key (empty KmsKeyId) returns the trail to the bucket's default encryption.
    ct.update_trail(Name="encrypted", KmsKeyId="")
    assert "KmsKeyId" not in ct.describe_trails(trailNameList=["encrypted"])["trailList"][0]


@pytest.fixture
def fast_cairn(tmp_path):
    from conftest import CONFIG
    c = Cairn(tmp_path / "data", config=CONFIG + '\n[delivery]\ninterval = "1s"\ndigest_period = "1s"\n')
    c.cli("bucket", "create", "trail-logs")
    c.start()
    try:
        yield c
    finally:
        c.stop()


def test_sse_kms_in_a_local_bucket(fast_cairn):
    """The built-in KMS is the local buckets' SSE-KMS key service: S3 PutObject with aws:kms
    and a trail's KmsKeyId both encrypt under the customer key (they answered NotImplemented /
    failed delivery before the KMS was wired to the vault)."""
    cairn = fast_cairn
    kms, s3, ct = cairn.client("kms"), cairn.client("s3"), cairn.client()
    key = kms.create_key(Description="local bucket")["KeyMetadata"]
    put = s3.put_object(Bucket="trail-logs", Key="doc", Body=b"secret report",
                        ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"])
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == key["Arn"]
    got = s3.get_object(Bucket="trail-logs", Key="doc")
    assert got["Body"].read() == b"secret report" and got["SSEKMSKeyId"] == key["Arn"]
    # A disabled key cannot decrypt what it encrypted.
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(botocore.exceptions.ClientError):
        s3.get_object(Bucket="trail-logs", Key="doc")
    kms.enable_key(KeyId=key["KeyId"])

    start_encrypted_trail(kms, ct, key, "local-enc", "trail-logs")
    deadline = time.time() + 60
    logs = []
    while time.time() < deadline and not logs:
        ct.describe_trails()
        logs = [o["Key"] for o in s3.list_objects_v2(Bucket="trail-logs", Prefix="AWSLogs/").get("Contents", [])
                if "/CloudTrail/" in o["Key"]]
        time.sleep(0.5)
    assert logs, ct.get_trail_status(Name="local-enc")
    head = s3.head_object(Bucket="trail-logs", Key=logs[0])
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key["Arn"]
    assert json.loads(gzip.decompress(s3.get_object(Bucket="trail-logs", Key=logs[0])["Body"].read()))["Records"]


def test_offline_validate_opens_sse_kms_files_of_a_configured_local_bucket(tmp_path):
    """A configured `backend = "local"` bucket is a vault bucket (ADR 0011), so a trail's
    KmsKeyId encrypts its files there too: `cairn validate --data-dir` reads them offline,
    unwrapping their data keys through the built-in KMS of the data directory."""
    import os
    import re
    import subprocess

    from conftest import CAIRN, CONFIG, ROOT_KEY, ROOT_SECRET
    c = Cairn(tmp_path / "data", config=CONFIG + '\n[delivery]\ninterval = "1s"\ndigest_period = "1s"\n'
              '\n[buckets.cfg-logs]\nbackend = "local"\n')
    c.start()
    try:
        kms, s3, ct = c.client("kms"), c.client("s3"), c.client()
        key = kms.create_key(Description="configured bucket")["KeyMetadata"]
        trail_arn = start_encrypted_trail(kms, ct, key, "cfg-enc", "cfg-logs")
        deadline = time.time() + 60
        logs, digests = [], []
        while time.time() < deadline and not (logs and len(digests) >= 2):
            ct.describe_trails()
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket="cfg-logs", Prefix="AWSLogs/").get("Contents", [])]
            logs = [k for k in keys if "/CloudTrail/" in k]
            digests = [k for k in keys if "/CloudTrail-Digest/" in k]
            time.sleep(0.5)
        assert logs and len(digests) >= 2, ct.get_trail_status(Name="cfg-enc")
        assert s3.head_object(Bucket="cfg-logs", Key=logs[0])["ServerSideEncryption"] == "aws:kms"
        # A configured bucket is now served by the S3 endpoint like any vault bucket: another
        # account's caller is refused on it as on the others.
        member = c.client("s3", creds=c.member_credentials())
        for call in (lambda: member.list_objects_v2(Bucket="cfg-logs"),
                     lambda: member.get_object(Bucket="cfg-logs", Key=logs[0])):
            with pytest.raises(botocore.exceptions.ClientError) as denied:
                call()
            assert denied.value.response["Error"]["Code"] == "AccessDenied"
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ROOT_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
                   AWS_ENDPOINT_URL=c.endpoint)
        v = subprocess.run([CAIRN, "validate", "--trail-arn", trail_arn, "--start-time", "2020-01-01T00:00:00Z",
                            "--data-dir", str(c.data_dir), "--config", str(c.config_path)],
                           env=env, capture_output=True, text=True, timeout=120)
        assert v.returncode == 0, v.stdout + v.stderr
        for what in ("digest files", "log files"):
            m = re.search(rf"(\d+)/(\d+) {what} valid", v.stdout)
            assert m and m.group(1) == m.group(2) and int(m.group(1)) >= 1, v.stdout
    finally:
        c.stop()


def test_s3_reads_and_writes_of_sse_kms_objects_need_the_key(fast_cairn):
    """Issue #5: S3 GetObject of an SSE-KMS object needs kms:Decrypt on its key, PutObject
    needs kms:GenerateDataKey; a disabled key answers KMS.DisabledException; the denied
    read is a data event with errorCode in a trail selecting the bucket's objects."""
    cairn = fast_cairn
    cairn.cli("bucket", "create", "watch-logs")
    kms, s3, ct, iam = (cairn.client(s) for s in ("kms", "s3", "cloudtrail", "iam"))
    ct.create_trail(Name="watch", S3BucketName="watch-logs")
    ct.put_event_selectors(TrailName="watch", AdvancedEventSelectors=[{
        "Name": "objects of trail-logs",
        "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::trail-logs/"]},
        ]}])
    ct.start_logging(Name="watch")

    key = kms.create_key(Description="reader test")["KeyMetadata"]
    s3.put_object(Bucket="trail-logs", Key="secret.json", Body=b"classified",
                  ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"])
    s3.put_object(Bucket="trail-logs", Key="plain.json", Body=b"open")

    iam.create_user(UserName="reader")
    iam.put_user_policy(UserName="reader", PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                       "Resource": "arn:aws:s3:::trail-logs/*"}]}))
    ak = iam.create_access_key(UserName="reader")["AccessKey"]
    reader = cairn.client("s3", creds=(ak["AccessKeyId"], ak["SecretAccessKey"]))
    user_arn = f"arn:aws:iam::{MGMT}:user/reader"

    # s3:GetObject alone reads SSE-S3 objects but not SSE-KMS ones; HEAD decrypts nothing.
    assert reader.get_object(Bucket="trail-logs", Key="plain.json")["Body"].read() == b"open"
    assert reader.head_object(Bucket="trail-logs", Key="secret.json")["ServerSideEncryption"] == "aws:kms"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        reader.get_object(Bucket="trail-logs", Key="secret.json")
    assert error_code(e.value) == "AccessDenied"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    msg = e.value.response["Error"]["Message"]
    assert user_arn in msg and "kms:Decrypt" in msg and key["Arn"] in msg, msg
    # Writing under the key needs kms:GenerateDataKey; so does copying into it.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        reader.put_object(Bucket="trail-logs", Key="new.json", Body=b"x",
                          ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"])
    assert error_code(e.value) == "AccessDenied" and "kms:GenerateDataKey" in e.value.response["Error"]["Message"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        reader.copy_object(Bucket="trail-logs", Key="copy.json",
                           CopySource={"Bucket": "trail-logs", "Key": "secret.json"})
    assert error_code(e.value) == "AccessDenied" and "kms:Decrypt" in e.value.response["Error"]["Message"]

    # The key policy grants the user: reads and writes succeed.
    policy = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    policy["Statement"].append({
        "Sid": "reader", "Effect": "Allow", "Principal": {"AWS": user_arn},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
        "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}})
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    assert reader.get_object(Bucket="trail-logs", Key="secret.json")["Body"].read() == b"classified"
    reader.put_object(Bucket="trail-logs", Key="new.json", Body=b"x",
                      ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"])
    # The key policy's kms:ViaService condition holds only through S3: direct KMS use is denied.
    blob = s3.get_object(Bucket="trail-logs", Key="new.json")["Body"].read()
    assert blob == b"x"
    reader_kms = cairn.client("kms", creds=(ak["AccessKeyId"], ak["SecretAccessKey"]))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        reader_kms.encrypt(KeyId=key["Arn"], Plaintext=b"direct")
    assert error_code(e.value) == "AccessDeniedException"

    # A disabled key refuses even an allowed reader, with S3's KMS error code.
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        reader.get_object(Bucket="trail-logs", Key="secret.json")
    assert error_code(e.value) == "KMS.DisabledException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    kms.enable_key(KeyId=key["KeyId"])
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket="trail-logs", Key="secret.json")
    assert error_code(e.value) == "KMS.KMSInvalidStateException"
    kms.cancel_key_deletion(KeyId=key["KeyId"])

    # The denied read reached the watching trail as a data event with its errorCode.
    arn = "arn:aws:s3:::trail-logs/secret.json"
    denied = []
    deadline = time.time() + 60
    while time.time() < deadline and not denied:
        time.sleep(1)
        listed = s3.list_objects_v2(Bucket="watch-logs", Prefix=f"AWSLogs/{MGMT}/CloudTrail/")
        for o in listed.get("Contents", []):
            recs = json.loads(gzip.decompress(
                s3.get_object(Bucket="watch-logs", Key=o["Key"])["Body"].read()))["Records"]
            denied += [r for r in recs if r["eventName"] == "GetObject"
                       and r.get("errorCode") == "AccessDenied"
                       and any(res["ARN"] == arn for res in r.get("resources", []))]
    assert denied, "the denied SSE-KMS read is not in the trail"
    r = denied[0]
    assert r["eventCategory"] == "Data" and r["managementEvent"] is False
    assert r["userIdentity"]["arn"] == user_arn
    assert "kms:Decrypt" in r["errorMessage"]
