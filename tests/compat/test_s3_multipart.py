"""S3 multipart upload against a real `cairn serve`: `aws s3 cp` of a 100 MB file in and out
(SSE-S3 and an SSE-KMS bucket default), boto3's low-level calls and their S3 errors, and an
ordinary user kept out of another's upload, with the refusals in the journal."""

import hashlib
import json
import os
import subprocess

import botocore.exceptions
import pytest

from conftest import ROOT_KEY, ROOT_SECRET, error_code

MIB = 1024 * 1024


def aws_s3(c, *args):
    """The AWS CLI's `s3` commands against Cairn, as the root."""
    env = dict(os.environ)
    env.update(AWS_ACCESS_KEY_ID=ROOT_KEY, AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
               AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=c.endpoint, AWS_MAX_ATTEMPTS="1",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    env.pop("AWS_PROFILE", None)
    out = subprocess.run(["aws", "s3", *args], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
    return h.hexdigest()


def refused(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    return error_code(e.value)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("mpu") / "big.bin"
    with open(p, "wb") as f:
        for _ in range(100):
            f.write(os.urandom(MIB))
    return p


def round_trip(c, bucket, src, tmp):
    aws_s3(c, "cp", str(src), f"s3://{bucket}/big.bin")
    back = tmp / f"{bucket}.back"
    aws_s3(c, "cp", f"s3://{bucket}/big.bin", str(back))
    assert sha256(back) == sha256(src)
    head = c.client("s3").head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == src.stat().st_size
    # The CLI uploads 8 MiB parts: 13 of them; S3's ETag names the count.
    assert head["ETag"].strip('"').endswith("-13"), head["ETag"]
    return head


def test_aws_s3_cp_100mb_sse_s3_round_trip(cairn, big_file, tmp_path):
    s3 = cairn.client("s3")
    s3.create_bucket(Bucket="mpu-s3")
    head = round_trip(cairn, "mpu-s3", big_file, tmp_path)
    assert head["ServerSideEncryption"] == "AES256"
    names = [e["eventName"] for e in cairn.events()]
    for n in ("CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"):
        assert n in names, n
    assert s3.list_multipart_uploads(Bucket="mpu-s3").get("Uploads", []) == []


def test_aws_s3_cp_100mb_sse_kms_bucket_default(cairn, big_file, tmp_path):
    s3 = cairn.client("s3")
    s3.create_bucket(Bucket="mpu-kms")
    key = cairn.client("kms").create_key(Description="multipart")["KeyMetadata"]
    s3.put_bucket_encryption(Bucket="mpu-kms", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["Arn"]}}]})
    head = round_trip(cairn, "mpu-kms", big_file, tmp_path)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key["Arn"]


def test_low_level_calls_and_errors(cairn):
    s3 = cairn.client("s3")
    s3.create_bucket(Bucket="mpu-ll")
    up = s3.create_multipart_upload(Bucket="mpu-ll", Key="k", ContentType="text/plain",
                                    Metadata={"who": "test"})["UploadId"]
    one = os.urandom(5 * MIB)
    e1 = s3.upload_part(Bucket="mpu-ll", Key="k", UploadId=up, PartNumber=1, Body=one)["ETag"]
    e2 = s3.upload_part(Bucket="mpu-ll", Key="k", UploadId=up, PartNumber=2, Body=b"tail")["ETag"]
    assert e1.strip('"') == hashlib.md5(one).hexdigest()
    parts = s3.list_parts(Bucket="mpu-ll", Key="k", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts] == [(1, e1, 5 * MIB), (2, e2, 4)]
    page = s3.list_parts(Bucket="mpu-ll", Key="k", UploadId=up, MaxParts=1)
    assert page["IsTruncated"] and page["NextPartNumberMarker"] == 1
    ups = s3.list_multipart_uploads(Bucket="mpu-ll")["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in ups] == [("k", up)]

    def complete(*parts):
        return s3.complete_multipart_upload(
            Bucket="mpu-ll", Key="k", UploadId=up,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]})

    with pytest.raises(botocore.exceptions.ClientError) as e:
        complete((1, '"0123456789abcdef0123456789abcdef"'), (2, e2))
    assert error_code(e.value) == "InvalidPart"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        complete((2, e2), (1, e1))
    assert error_code(e.value) == "InvalidPartOrder"
    done = complete((1, e1), (2, e2))
    digest = hashlib.md5(bytes.fromhex(e1.strip('"')) + bytes.fromhex(e2.strip('"'))).hexdigest()
    assert done["ETag"] == f'"{digest}-2"'
    got = s3.get_object(Bucket="mpu-ll", Key="k")
    assert got["Body"].read() == one + b"tail"
    assert got["ContentType"] == "text/plain" and got["Metadata"] == {"who": "test"}
    assert refused(s3.list_parts, Bucket="mpu-ll", Key="k", UploadId=up) == "NoSuchUpload"

    # Abort: the parts go, the upload is unknown afterwards.
    up2 = s3.create_multipart_upload(Bucket="mpu-ll", Key="gone")["UploadId"]
    s3.upload_part(Bucket="mpu-ll", Key="gone", UploadId=up2, PartNumber=1, Body=b"x" * 1000)
    s3.abort_multipart_upload(Bucket="mpu-ll", Key="gone", UploadId=up2)
    assert refused(s3.upload_part, Bucket="mpu-ll", Key="gone", UploadId=up2, PartNumber=1,
                   Body=b"y") == "NoSuchUpload"
    assert refused(s3.head_object, Bucket="mpu-ll", Key="gone") == "404"
    mpu_dir = cairn.data_dir / "buckets" / ".vault" / "mpu"
    leftovers = [p for p in mpu_dir.rglob("*") if p.is_file()] if mpu_dir.exists() else []
    # Only the completed object's two parts remain on disk.
    assert len(leftovers) == 2, leftovers


def test_an_ordinary_user_cannot_upload_parts_or_complete(cairn):
    s3 = cairn.client("s3")
    s3.create_bucket(Bucket="mpu-owner")
    up = s3.create_multipart_upload(Bucket="mpu-owner", Key="k")["UploadId"]
    e1 = s3.upload_part(Bucket="mpu-owner", Key="k", UploadId=up, PartNumber=1, Body=b"mine")["ETag"]
    iam = cairn.client("iam")
    iam.create_user(UserName="mallory")
    # Allowed to list, not to write.
    iam.put_user_policy(UserName="mallory", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Resource": "*",
                       "Action": ["s3:ListBucket", "s3:ListBucketMultipartUploads"]}]}))
    k = iam.create_access_key(UserName="mallory")["AccessKey"]
    m = cairn.client("s3", creds=(k["AccessKeyId"], k["SecretAccessKey"]))
    assert [u["UploadId"] for u in m.list_multipart_uploads(Bucket="mpu-owner")["Uploads"]] == [up]
    assert refused(m.create_multipart_upload, Bucket="mpu-owner", Key="k") == "AccessDenied"
    assert refused(m.upload_part, Bucket="mpu-owner", Key="k", UploadId=up, PartNumber=1,
                   Body=b"evil") == "AccessDenied"
    assert refused(m.complete_multipart_upload, Bucket="mpu-owner", Key="k", UploadId=up,
                   MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]}) == "AccessDenied"
    assert refused(m.abort_multipart_upload, Bucket="mpu-owner", Key="k",
                   UploadId=up) == "AccessDenied"
    assert refused(m.list_parts, Bucket="mpu-owner", Key="k", UploadId=up) == "AccessDenied"
    user_arn = iam.get_user(UserName="mallory")["User"]["Arn"]
    denied = {e["eventName"] for e in cairn.events()
              if e.get("errorCode") == "AccessDenied" and e["userIdentity"].get("arn") == user_arn}
    assert {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
            "AbortMultipartUpload", "ListParts"} <= denied, denied
    # The owner's upload is untouched.
    s3.complete_multipart_upload(Bucket="mpu-owner", Key="k", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]})
    assert s3.get_object(Bucket="mpu-owner", Key="k")["Body"].read() == b"mine"
