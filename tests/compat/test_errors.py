"""Every invalid input of the spec's error tables returns CloudTrail's error code."""

import datetime
import json
import urllib.error
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions
import pytest

from conftest import MGMT, ROOT_KEY, ROOT_SECRET, error_code

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."


def expect(code, fn, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(**kwargs)
    assert error_code(e.value) == code, e.value.response
    assert e.value.response["Error"]["Message"], "every error carries a message"
    return e.value


@pytest.fixture
def ct(cairn):
    return cairn.client()


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 129, "-abc", "abc-", "my-_namespace", "my--namespace", "a..b", "192.168.5.4", "has space"],
)
def test_invalid_trail_names(ct, name):
    expect("InvalidTrailNameException", ct.create_trail, Name=name, S3BucketName="trail-logs")


CREATE_ERRORS = [
    ("S3BucketDoesNotExistException", dict(S3BucketName="no-such-bucket")),
    ("InvalidS3BucketNameException", dict(S3BucketName="Bad_Bucket")),
    ("InvalidS3PrefixException", dict(S3KeyPrefix="p" * 201)),
    ("InvalidParameterCombinationException", dict(IsMultiRegionTrail=True, IncludeGlobalServiceEvents=False)),
    ("InsufficientSnsTopicPolicyException", dict(SnsTopicName="no-such-topic")),
    ("InvalidKmsKeyIdException", dict(KmsKeyId="not a key")),
    ("KmsKeyNotFoundException", dict(KmsKeyId="alias/missing")),
    ("InvalidCloudWatchLogsLogGroupArnException", dict(CloudWatchLogsLogGroupArn="nope", CloudWatchLogsRoleArn=f"arn:aws:iam::{MGMT}:role/r")),
    ("InvalidCloudWatchLogsRoleArnException", dict(CloudWatchLogsLogGroupArn=f"arn:aws:logs:us-east-1:{MGMT}:log-group:g:*", CloudWatchLogsRoleArn="nope")),
    ("InvalidParameterCombinationException", dict(CloudWatchLogsLogGroupArn=f"arn:aws:logs:us-east-1:{MGMT}:log-group:g:*")),
    ("InvalidTagParameterException", dict(TagsList=[{"Key": "a"}, {"Key": "a"}])),
    ("TagsLimitExceededException", dict(TagsList=[{"Key": f"k{i}"} for i in range(51)])),
]


@pytest.mark.parametrize("code,extra", CREATE_ERRORS, ids=[c for c, _ in CREATE_ERRORS])
def test_create_trail_errors(ct, code, extra):
    args = dict(Name="trail-1", S3BucketName="trail-logs")
    args.update(extra)
    expect(code, ct.create_trail, **args)
    # nothing was half-created
    assert ct.describe_trails()["trailList"] == []


def test_duplicates_and_quota(cairn, ct):
    ct.create_trail(Name="dup", S3BucketName="trail-logs")
    expect("TrailAlreadyExistsException", ct.create_trail, Name="dup", S3BucketName="trail-logs")
    for i in range(4):
        ct.create_trail(Name=f"quota-{i}", S3BucketName="trail-logs")
    expect("MaximumNumberOfTrailsExceededException", ct.create_trail, Name="quota-5", S3BucketName="trail-logs")
    # A multi-region trail counts in every region: none fits now anywhere.
    other = cairn.client(region="eu-west-1")
    expect("MaximumNumberOfTrailsExceededException", other.create_trail, Name="everywhere",
           S3BucketName="trail-logs", IsMultiRegionTrail=True)
    # A multi-region trail's name is taken in every region.
    ct.delete_trail(Name="quota-0")
    ct.create_trail(Name="global", S3BucketName="trail-logs", IsMultiRegionTrail=True)
    expect("TrailAlreadyExistsException", other.create_trail, Name="global", S3BucketName="trail-logs")


def test_not_found_and_arn_errors(ct):
    expect("TrailNotFoundException", ct.get_trail, Name="missing")
    expect("TrailNotFoundException", ct.get_trail_status, Name="missing")
    expect("TrailNotFoundException", ct.delete_trail, Name="missing")
    expect("TrailNotFoundException", ct.start_logging, Name=f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/missing")
    expect("CloudTrailARNInvalidException", ct.get_trail, Name="arn:aws:cloudtrail:us-east-1:123:trail/x")
    expect("CloudTrailARNInvalidException", ct.get_trail, Name="arn:aws:s3:::bucket")
    expect("InvalidTrailNameException", ct.get_trail, Name="x")


def test_home_region_rule(cairn, ct):
    arn = ct.create_trail(Name="home", S3BucketName="trail-logs", IsMultiRegionTrail=True)["TrailARN"]
    eu = cairn.client(region="eu-west-1")
    assert eu.get_trail(Name="home")["Trail"]["TrailARN"] == arn  # read from a shadow is fine
    for fn, kwargs in [
        (eu.update_trail, dict(Name="home", EnableLogFileValidation=True)),
        (eu.delete_trail, dict(Name=arn)),
        (eu.start_logging, dict(Name=arn)),
        (eu.stop_logging, dict(Name="home")),
        (eu.put_event_selectors, dict(TrailName="home", EventSelectors=[{"ReadWriteType": "All"}])),
        (eu.put_insight_selectors, dict(TrailName="home", InsightSelectors=[])),
        (eu.add_tags, dict(ResourceId=arn, TagsList=[{"Key": "k"}])),
    ]:
        expect("InvalidHomeRegionException", fn, **kwargs)


SELECTOR_ERRORS = [
    dict(EventSelectors=[{"ReadWriteType": "read-only"}]),
    dict(EventSelectors=[{"ReadWriteType": "All"}] * 6),
    dict(EventSelectors=[{"DataResources": [{"Type": "AWS::EC2::Instance", "Values": ["arn:aws:ec2"]}]}]),
    dict(EventSelectors=[{"DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::b/{i}" for i in range(251)]}]}]),
    dict(EventSelectors=[{"ExcludeManagementEventSources": ["ec2.amazonaws.com"]}]),
    dict(EventSelectors=[{"ReadWriteType": "All"}], AdvancedEventSelectors=[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]),
    dict(AdvancedEventSelectors=[{"FieldSelectors": [{"Field": "eventName", "Equals": ["x"]}]}]),
    dict(AdvancedEventSelectors=[{"FieldSelectors": [{"Field": "eventCategory", "StartsWith": ["Man"]}]}]),
    dict(AdvancedEventSelectors=[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]}]),
    dict(AdvancedEventSelectors=[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}, {"Field": "resources.ARN", "StartsWith": [f"arn:aws:s3:::b{i}/" for i in range(500)]}]}]),
    dict(AdvancedEventSelectors=[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "nosuchfield", "Equals": ["x"]}]}]),
    dict(AdvancedEventSelectors=[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, {"Field": "readOnly", "Equals": ["yes"]}]}]),
]


@pytest.mark.parametrize("sel", SELECTOR_ERRORS)
def test_invalid_event_selectors(ct, sel):
    ct.create_trail(Name="sel", S3BucketName="trail-logs")
    before = ct.get_event_selectors(TrailName="sel")
    expect("InvalidEventSelectorsException", ct.put_event_selectors, TrailName="sel", **sel)
    after = ct.get_event_selectors(TrailName="sel")
    before.pop("ResponseMetadata"), after.pop("ResponseMetadata")
    assert before == after, "a refused PutEventSelectors changes nothing"


def test_tag_errors(ct):
    arn = ct.create_trail(Name="tagged", S3BucketName="trail-logs")["TrailARN"]
    expect("ResourceNotFoundException", ct.add_tags, ResourceId=f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/nope", TagsList=[{"Key": "k"}])
    expect("ResourceTypeNotSupportedException", ct.add_tags, ResourceId="arn:aws:s3:::bucket", TagsList=[{"Key": "k"}])
    expect("CloudTrailARNInvalidException", ct.add_tags, ResourceId="tagged", TagsList=[{"Key": "k"}])
    ct.add_tags(ResourceId=arn, TagsList=[{"Key": f"k{i}"} for i in range(50)])
    expect("TagsLimitExceededException", ct.add_tags, ResourceId=arn, TagsList=[{"Key": "one-more"}])
    expect("InvalidParameterException", ct.list_tags, ResourceIdList=[arn] * 21)


def test_insight_errors(ct):
    ct.create_trail(Name="ins", S3BucketName="trail-logs")
    expect("InvalidInsightSelectorsException", ct.put_insight_selectors, TrailName="ins",
           InsightSelectors=[{"InsightType": "ApiCallRateInsight", "EventCategories": ["Data"]}])


def test_bad_next_token(ct):
    expect("InvalidNextTokenException", ct.list_trails, NextToken="garbage")


def test_unbuilt_operations_say_so(ct):
    e = expect("UnsupportedOperationException", ct.list_dashboards)
    assert "ListDashboards" in e.response["Error"]["Message"]
    assert "not implemented" in e.response["Error"]["Message"]


def test_organization_errors_without_membership(cairn):
    member = cairn.client(creds=cairn.member_credentials())
    expect("NotOrganizationMasterAccountException", member.create_trail, Name="org-by-member", S3BucketName="trail-logs",
           IsOrganizationTrail=True)


# -- authentication ----------------------------------------------------------------------

def raw_call(cairn, op, body, *, key=ROOT_KEY, secret=ROOT_SECRET, sign=True, when=None, presign=False):
    url = cairn.endpoint + "/"
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + op}
    req = botocore.awsrequest.AWSRequest(method="POST", url=url, data=json.dumps(body).encode(), headers=headers)
    if sign:
        creds = botocore.credentials.Credentials(key, secret)
        auth = (botocore.auth.SigV4QueryAuth(creds, "cloudtrail", "us-east-1", expires=300)
                if presign else botocore.auth.SigV4Auth(creds, "cloudtrail", "us-east-1"))
        if when is not None:
            orig = botocore.auth.get_current_datetime
            botocore.auth.get_current_datetime = lambda: when
            try:
                auth.add_auth(req)
            finally:
                botocore.auth.get_current_datetime = orig
        else:
            auth.add_auth(req)
    prepared = req.prepare()
    data = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    r = urllib.request.Request(prepared.url, data=data, headers=dict(prepared.headers), method="POST")
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_authentication_errors(cairn):
    status, body = raw_call(cairn, "DescribeTrails", {}, sign=False)
    assert (status, body["__type"]) == (403, "MissingAuthenticationToken")
    status, body = raw_call(cairn, "DescribeTrails", {}, secret="wrong-secret-wrong-secret")
    assert (status, body["__type"]) == (403, "SignatureDoesNotMatch")
    status, body = raw_call(cairn, "DescribeTrails", {}, key="AKIAUNKNOWNUNKNOWN00")
    assert (status, body["__type"]) == (403, "InvalidClientTokenId")
    old = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(hours=1)
    status, body = raw_call(cairn, "DescribeTrails", {}, when=old)
    assert body["__type"] == "RequestExpired", body
    status, body = raw_call(cairn, "DescribeTrails", {})
    assert (status, body) == (200, {"trailList": []})


def test_presigned_requests(cairn):
    status, body = raw_call(cairn, "DescribeTrails", {}, presign=True)
    assert (status, body) == (200, {"trailList": []})
    old = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(hours=1)
    status, body = raw_call(cairn, "DescribeTrails", {}, presign=True, when=old)
    assert status == 403 or status == 400
    assert body["__type"] in ("RequestExpired", "AccessDenied"), body
