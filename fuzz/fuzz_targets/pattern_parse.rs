//! Parses arbitrary UTF-8 as a CloudWatch Logs filter pattern and, when it
//! parses, matches it (compiled and naive) against a fixed CloudTrail record
//! and a space-delimited text line. Must never panic.
#![no_main]

use cairn_pattern::{FilterPattern, PreparedEvent, naive};
use libfuzzer_sys::fuzz_target;

const RECORD: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"123456789012","arn":"arn:aws:iam::123456789012:root","accountId":"123456789012","sessionContext":{"attributes":{"mfaAuthenticated":"false","creationDate":"2023-07-10T11:42:18Z"}}},"eventTime":"2023-07-10T11:42:18Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","errorCode":"Client.UnauthorizedOperation","readOnly":true,"resources":[{"ARN":"arn:aws:s3:::b","type":"AWS::S3::Bucket"},{"ARN":"x","type":null}],"additionalEventData":{"MFAUsed":"No","bytes":1534,"ratio":0.5},"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012"}"#;
const LINE: &str =
    r#"127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(fp) = FilterPattern::parse(text) else {
        return;
    };
    let ev = PreparedEvent::new(RECORD);
    let hit = fp.matches_prepared(&ev);
    let line_hit = fp.matches(LINE);
    let _ = fp.extracted_values(LINE);
    // The naive interpreter is the oracle; bound its cost to short patterns.
    if text.len() <= 256 {
        assert_eq!(hit, naive::matches(fp.ast(), RECORD));
        assert_eq!(line_hit, naive::matches(fp.ast(), LINE));
    }
});
