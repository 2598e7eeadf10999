//! Policy evaluation time per request, with parsing of the same documents as
//! the baseline measured in the same run (evaluation never re-parses).
//!
//! * `eval/full_access_describe_trails`: an IAM user with
//!   `AWSCloudTrail_FullAccess` calls `cloudtrail:DescribeTrails`.
//! * `eval/cross_account_get_object`: a user in another account calls
//!   `s3:GetObject` on a log-archive bucket whose policy has 10 statements
//!   with conditions on `aws:SourceArn`, `s3:x-amz-acl` and
//!   `aws:PrincipalOrgID`; the user's identity policy allows S3 reads.
//! * `parse/*`: `Policy::parse` of those documents (the baseline).

use std::hint::black_box;

use cairn_policy::{Policy, PolicySet, PrincipalInfo, Request, evaluate, managed, simulate};
use criterion::{Criterion, criterion_group, criterion_main};

const ARCHIVE: &str = "111122223333";
const WORKLOAD: &str = "444455556666";

fn bucket_policy() -> String {
    let mut statements = Vec::new();
    for i in 0..4 {
        statements.push(format!(
            r#"{{"Sid":"CloudTrailWrite{i}","Effect":"Allow","Principal":{{"Service":"cloudtrail.amazonaws.com"}},
               "Action":"s3:PutObject","Resource":"arn:aws:s3:::log-archive/AWSLogs/{i}0000000000{i}/*",
               "Condition":{{"StringEquals":{{"s3:x-amz-acl":"bucket-owner-full-control",
                 "aws:SourceArn":"arn:aws:cloudtrail:us-east-1:{i}0000000000{i}:trail/org"}}}}}}"#
        ));
    }
    statements.push(r#"{"Sid":"CloudTrailAcl","Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},
        "Action":"s3:GetBucketAcl","Resource":"arn:aws:s3:::log-archive",
        "Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:cloudtrail:*:*:trail/*"}}}"#.to_owned());
    statements.push(
        r#"{"Sid":"DenyInsecure","Effect":"Deny","Principal":"*","Action":"s3:*",
        "Resource":["arn:aws:s3:::log-archive","arn:aws:s3:::log-archive/*"],
        "Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#
            .to_owned(),
    );
    statements.push(
        r#"{"Sid":"DenyWrongAcl","Effect":"Deny","Principal":"*","Action":"s3:PutObject",
        "Resource":"arn:aws:s3:::log-archive/*",
        "Condition":{"StringNotEquals":{"s3:x-amz-acl":"bucket-owner-full-control"}}}"#
            .to_owned(),
    );
    statements.push(r#"{"Sid":"DenyOutsideOrg","Effect":"Deny","Principal":"*","Action":"s3:GetObject",
        "Resource":"arn:aws:s3:::log-archive/*",
        "Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-exampleorg"},"Bool":{"aws:PrincipalIsAWSService":"false"}}}"#.to_owned());
    statements.push(r#"{"Sid":"OrgRead","Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:ListBucket"],
        "Resource":["arn:aws:s3:::log-archive","arn:aws:s3:::log-archive/*"],
        "Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-exampleorg"}}}"#.to_owned());
    statements.push(r#"{"Sid":"SecurityRead","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:role/SecurityAudit"},
        "Action":"s3:GetObject","Resource":"arn:aws:s3:::log-archive/*",
        "Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:athena:*:999988887777:*"}}}"#.to_owned());
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

const READER_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::log-archive","arn:aws:s3:::log-archive/*"]}]}"#;

fn bench(c: &mut Criterion) {
    // (a) same account, FullAccess, DescribeTrails.
    let full_text = managed::AWS_CLOUDTRAIL_FULL_ACCESS.document;
    let full = PolicySet {
        identity: vec![(
            "AWSCloudTrail_FullAccess".into(),
            Policy::parse(full_text).unwrap(),
        )],
        ..PolicySet::default()
    };
    let describe = Request::new(
        PrincipalInfo::user(&format!("arn:aws:iam::{ARCHIVE}:user/alice")),
        "cloudtrail:DescribeTrails",
        "*",
    )
    .with_context("aws:SourceIp", "10.1.2.3")
    .with_context("aws:SecureTransport", true);
    assert!(evaluate(&describe, &full).is_allowed());

    // (b) cross account, 10-statement bucket policy with conditions.
    let bucket_text = bucket_policy();
    let cross = PolicySet {
        identity: vec![("reader".into(), Policy::parse(READER_POLICY).unwrap())],
        resource: Some(("log-archive".into(), Policy::parse(&bucket_text).unwrap())),
        ..PolicySet::default()
    };
    assert_eq!(cross.resource.as_ref().unwrap().1.statements().len(), 10);
    let get = Request::new(
        PrincipalInfo::user(&format!("arn:aws:iam::{WORKLOAD}:user/analyst"))
            .with_org_id("o-exampleorg"),
        "s3:GetObject",
        &format!(
            "arn:aws:s3:::log-archive/AWSLogs/{WORKLOAD}/CloudTrail/us-east-1/2024/05/01/x.json.gz"
        ),
    )
    .with_resource_account(ARCHIVE)
    .with_context("aws:SecureTransport", true)
    .with_context("aws:SourceIp", "10.1.2.3")
    .with_context("aws:CurrentTime", "2024-05-01T12:00:00Z");
    assert!(
        evaluate(&get, &cross).is_allowed(),
        "{}",
        evaluate(&get, &cross).reason
    );

    let mut g = c.benchmark_group("eval");
    g.bench_function("full_access_describe_trails", |b| {
        b.iter(|| evaluate(black_box(&describe), black_box(&full)))
    });
    g.bench_function("cross_account_get_object", |b| {
        b.iter(|| evaluate(black_box(&get), black_box(&cross)))
    });
    g.bench_function("cross_account_get_object_simulate", |b| {
        b.iter(|| simulate(black_box(&get), black_box(&cross)))
    });
    g.finish();

    let mut g = c.benchmark_group("parse");
    g.bench_function("full_access", |b| {
        b.iter(|| Policy::parse(black_box(full_text)).unwrap())
    });
    g.bench_function("bucket_policy_10_statements", |b| {
        b.iter(|| Policy::parse(black_box(&bucket_text)).unwrap())
    });
    g.bench_function("cross_account_set", |b| {
        b.iter(|| {
            (
                Policy::parse(black_box(READER_POLICY)).unwrap(),
                Policy::parse(black_box(&bucket_text)).unwrap(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
