"""The CloudTrail control plane driven by the stock AWS CLI and boto3."""

import json

import botocore.exceptions
import pytest

from conftest import MEMBER, MGMT, error_code

ARN = f"arn:aws:cloudtrail:us-east-1:{MGMT}:trail/org-audit"


def test_full_lifecycle_with_the_aws_cli(cairn):
    created, _ = cairn.aws(
        "cloudtrail", "create-trail", "--name", "org-audit", "--s3-bucket-name", "trail-logs",
        "--is-multi-region-trail", "--enable-log-file-validation",
    )
    assert created["Name"] == "org-audit"
    assert created["TrailARN"] == ARN
    assert created["IsMultiRegionTrail"] is True
    assert created["IncludeGlobalServiceEvents"] is True
    assert created["LogFileValidationEnabled"] is True
    assert "HomeRegion" not in created

    described, _ = cairn.aws("cloudtrail", "describe-trails")
    [t] = described["trailList"]
    assert t["HomeRegion"] == "us-east-1"
    assert t["HasCustomEventSelectors"] is False
    assert t["HasInsightSelectors"] is False
    assert "S3KeyPrefix" not in t and "KmsKeyId" not in t and "SnsTopicARN" not in t

    # The shadow copy, seen from another region.
    shadow, _ = cairn.aws("cloudtrail", "describe-trails", region="eu-west-1")
    assert [x["TrailARN"] for x in shadow["trailList"]] == [ARN]
    assert shadow["trailList"][0]["HomeRegion"] == "us-east-1"
    only_home, _ = cairn.aws("cloudtrail", "describe-trails", "--no-include-shadow-trails", region="eu-west-1")
    assert only_home["trailList"] == []
    by_arn, _ = cairn.aws("cloudtrail", "get-trail", "--name", ARN, region="eu-west-1")
    assert by_arn["Trail"]["TrailARN"] == ARN

    sel, _ = cairn.aws(
        "cloudtrail", "put-event-selectors", "--trail-name", "org-audit", "--advanced-event-selectors",
        json.dumps([
            {"Name": "mgmt", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
            {"Name": "s3 deletes", "FieldSelectors": [
                {"Field": "eventCategory", "Equals": ["Data"]},
                {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                {"Field": "eventName", "Equals": ["DeleteObject"]},
            ]},
        ]),
    )
    assert sel["TrailARN"] == ARN
    assert len(sel["AdvancedEventSelectors"]) == 2
    got, _ = cairn.aws("cloudtrail", "get-event-selectors", "--trail-name", "org-audit")
    assert got["AdvancedEventSelectors"] == sel["AdvancedEventSelectors"]
    assert "EventSelectors" not in got
    t, _ = cairn.aws("cloudtrail", "get-trail", "--name", "org-audit")
    assert t["Trail"]["HasCustomEventSelectors"] is True

    status, _ = cairn.aws("cloudtrail", "get-trail-status", "--name", "org-audit")
    assert status["IsLogging"] is False
    cairn.aws("cloudtrail", "start-logging", "--name", "org-audit")
    status, _ = cairn.aws("cloudtrail", "get-trail-status", "--name", "org-audit")
    assert status["IsLogging"] is True
    assert "StartLoggingTime" in status and status["TimeLoggingStarted"].endswith("Z")
    cairn.aws("cloudtrail", "stop-logging", "--name", ARN)
    status, _ = cairn.aws("cloudtrail", "get-trail-status", "--name", "org-audit")
    assert status["IsLogging"] is False and "StopLoggingTime" in status

    cairn.aws("cloudtrail", "add-tags", "--resource-id", ARN, "--tags-list", "Key=owner,Value=security", "Key=env")
    tags, _ = cairn.aws("cloudtrail", "list-tags", "--resource-id-list", ARN)
    assert tags["ResourceTagList"] == [{"ResourceId": ARN, "TagsList": [{"Key": "owner", "Value": "security"}, {"Key": "env"}]}]
    cairn.aws("cloudtrail", "remove-tags", "--resource-id", ARN, "--tags-list", "Key=env")
    tags, _ = cairn.aws("cloudtrail", "list-tags", "--resource-id-list", ARN)
    assert tags["ResourceTagList"][0]["TagsList"] == [{"Key": "owner", "Value": "security"}]

    updated, _ = cairn.aws(
        "cloudtrail", "update-trail", "--name", "org-audit", "--s3-key-prefix", "audit/",
        "--s3-bucket-name", "other-logs",
    )
    assert updated["S3KeyPrefix"] == "audit"
    assert updated["S3BucketName"] == "other-logs"

    listed, _ = cairn.aws("cloudtrail", "list-trails")
    assert listed["Trails"] == [{"TrailARN": ARN, "Name": "org-audit", "HomeRegion": "us-east-1"}]

    cairn.aws("cloudtrail", "delete-trail", "--name", "org-audit")
    described, _ = cairn.aws("cloudtrail", "describe-trails")
    assert described["trailList"] == []


def test_state_survives_a_restart(cairn):
    ct = cairn.client()
    ct.create_trail(Name="keep-me", S3BucketName="trail-logs", TagsList=[{"Key": "k", "Value": "v"}])
    ct.start_logging(Name="keep-me")
    cairn.restart()
    ct = cairn.client()
    t = ct.get_trail(Name="keep-me")["Trail"]
    assert t["S3BucketName"] == "trail-logs"
    assert ct.get_trail_status(Name="keep-me")["IsLogging"] is True
    assert ct.list_tags(ResourceIdList=[t["TrailARN"]])["ResourceTagList"][0]["TagsList"] == [{"Key": "k", "Value": "v"}]


def test_basic_selectors_default_and_replace(cairn):
    ct = cairn.client()
    ct.create_trail(Name="sel", S3BucketName="trail-logs")
    got = ct.get_event_selectors(TrailName="sel")
    assert got["EventSelectors"] == [
        {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": [], "ExcludeManagementEventSources": []}
    ]
    put = ct.put_event_selectors(
        TrailName="sel",
        EventSelectors=[{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True,
                         "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::trail-logs/"]}]}],
    )
    assert put["EventSelectors"][0]["ReadWriteType"] == "WriteOnly"
    got = ct.get_event_selectors(TrailName="sel")
    assert "AdvancedEventSelectors" not in got
    assert got["EventSelectors"][0]["DataResources"][0]["Values"] == ["arn:aws:s3:::trail-logs/"]


def test_insight_selectors(cairn):
    ct = cairn.client()
    ct.create_trail(Name="ins", S3BucketName="trail-logs")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ct.get_insight_selectors(TrailName="ins")
    assert error_code(e.value) == "InsightNotEnabledException"
    ct.put_insight_selectors(TrailName="ins", InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
    got = ct.get_insight_selectors(TrailName="ins")
    assert got["InsightSelectors"] == [{"InsightType": "ApiCallRateInsight"}]
    assert ct.get_trail(Name="ins")["Trail"]["HasInsightSelectors"] is True
    ct.put_event_selectors(TrailName="ins", EventSelectors=[{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ct.put_insight_selectors(TrailName="ins", InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
    assert error_code(e.value) == "InvalidInsightSelectorsException"
    ct.put_insight_selectors(TrailName="ins", InsightSelectors=[])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ct.get_insight_selectors(TrailName="ins")
    assert error_code(e.value) == "InsightNotEnabledException"


def test_organization_trail_seen_by_member_account(cairn):
    ct = cairn.client()
    arn = ct.create_trail(Name="org", S3BucketName="trail-logs", IsOrganizationTrail=True,
                          IsMultiRegionTrail=True)["TrailARN"]
    member = cairn.client(creds=cairn.member_credentials())
    # Names resolve in the caller's own account; members address the org trail by ARN.
    seen = member.describe_trails()["trailList"]
    assert [t["TrailARN"] for t in seen] == [arn]
    assert seen[0]["IsOrganizationTrail"] is True
    assert member.get_trail(Name=arn)["Trail"]["TrailARN"] == arn
    assert member.describe_trails(includeShadowTrails=False)["trailList"] == []
    member_eu = cairn.client(region="eu-west-1", creds=cairn.member_credentials())
    assert [t["TrailARN"] for t in member_eu.describe_trails()["trailList"]] == [arn]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        member.stop_logging(Name=arn)
    assert error_code(e.value) == "OperationNotPermittedException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        member.delete_trail(Name=arn)
    assert error_code(e.value) == "OperationNotPermittedException"
    # A member account cannot create organization trails.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        member.create_trail(Name="mine", S3BucketName="trail-logs", IsOrganizationTrail=True)
    assert error_code(e.value) == "NotOrganizationMasterAccountException"


def test_list_trails_across_regions(cairn):
    arns = set()
    for region in ["us-east-1", "us-east-2", "us-west-2"]:
        ct = cairn.client(region=region)
        for i in range(3):
            arns.add(ct.create_trail(Name=f"t-{region}-{i}", S3BucketName="trail-logs")["TrailARN"])
    listed, _ = cairn.aws("cloudtrail", "list-trails", region="eu-west-1")
    assert {t["TrailARN"] for t in listed["Trails"]} == arns
    # DescribeTrails shows only the region's own trails (none are multi-region).
    assert len(cairn.client(region="us-east-2").describe_trails()["trailList"]) == 3
