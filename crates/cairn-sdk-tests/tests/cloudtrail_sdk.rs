//! The official AWS SDK for Rust against `cairn serve`: a whole trail lifecycle and the typed
//! errors the SDK maps from CloudTrail's error codes.

use aws_credential_types::Credentials;
use aws_sdk_cloudtrail::Client;
use aws_sdk_cloudtrail::config::{BehaviorVersion, Region};
use aws_sdk_cloudtrail::types::{AdvancedEventSelector, AdvancedFieldSelector, Tag};
use cairn_sdk_tests::{ROOT_KEY, ROOT_SECRET, TestServer};

fn client(server: &TestServer, region: &str) -> Client {
    let conf = aws_sdk_cloudtrail::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(&server.endpoint)
        .credentials_provider(Credentials::from_keys(ROOT_KEY, ROOT_SECRET, None))
        .build();
    Client::from_conf(conf)
}

/// The field selector `field` Equals `[value]`.
fn equals(field: &str, value: &str) -> AdvancedFieldSelector {
    AdvancedFieldSelector::builder()
        .field(field)
        .equals(value)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trail_lifecycle_with_the_rust_sdk() {
    let server = TestServer::start(&["sdk-logs"]);
    let ct = client(&server, "us-east-1");
    let account = server.state.config.account_id.to_string();
    let created = ct
        .create_trail()
        .name("sdk-trail")
        .s3_bucket_name("sdk-logs")
        .is_multi_region_trail(true)
        .enable_log_file_validation(true)
        .tags_list(
            Tag::builder()
                .key("team")
                .value("platform")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let arn = created.trail_arn().unwrap().to_owned();
    assert_eq!(
        arn,
        format!("arn:aws:cloudtrail:us-east-1:{account}:trail/sdk-trail")
    );
    assert_eq!(created.is_multi_region_trail(), Some(true));
    assert_eq!(created.log_file_validation_enabled(), Some(true));

    // The shadow copy from another region.
    let west = client(&server, "us-west-2");
    let trails = west.describe_trails().send().await.unwrap();
    let list = trails.trail_list();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].home_region(), Some("us-east-1"));
    let none = west
        .describe_trails()
        .include_shadow_trails(false)
        .send()
        .await
        .unwrap();
    assert!(none.trail_list().is_empty());

    let sel = AdvancedEventSelector::builder()
        .name("deletes")
        .field_selectors(equals("eventCategory", "Data"))
        .field_selectors(equals("resources.type", "AWS::S3::Object"))
        .field_selectors(equals("eventName", "DeleteObject"))
        .build()
        .unwrap();
    ct.put_event_selectors()
        .trail_name(&arn)
        .advanced_event_selectors(sel.clone())
        .send()
        .await
        .unwrap();
    let got = ct
        .get_event_selectors()
        .trail_name("sdk-trail")
        .send()
        .await
        .unwrap();
    assert_eq!(got.advanced_event_selectors(), &[sel]);

    ct.start_logging().name("sdk-trail").send().await.unwrap();
    let st = ct
        .get_trail_status()
        .name("sdk-trail")
        .send()
        .await
        .unwrap();
    assert_eq!(st.is_logging(), Some(true));
    assert!(st.start_logging_time().is_some());
    ct.stop_logging().name("sdk-trail").send().await.unwrap();
    let st = ct.get_trail_status().name(&arn).send().await.unwrap();
    assert_eq!(st.is_logging(), Some(false));

    let tags = ct.list_tags().resource_id_list(&arn).send().await.unwrap();
    assert_eq!(tags.resource_tag_list()[0].tags_list()[0].key(), "team");

    let up = ct
        .update_trail()
        .name("sdk-trail")
        .s3_key_prefix("p")
        .send()
        .await
        .unwrap();
    assert_eq!(up.s3_key_prefix(), Some("p"));

    // Typed errors.
    let err = west
        .update_trail()
        .name("sdk-trail")
        .enable_log_file_validation(false)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_home_region_exception(), "{err:?}");
    let err = ct
        .get_trail()
        .name("missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_trail_not_found_exception(), "{err:?}");
    let err = ct
        .create_trail()
        .name("sdk-trail")
        .s3_bucket_name("sdk-logs")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_trail_already_exists_exception(), "{err:?}");
    let err = ct
        .create_trail()
        .name("other")
        .s3_bucket_name("nope-bucket")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_s3_bucket_does_not_exist_exception(), "{err:?}");

    ct.delete_trail().name("sdk-trail").send().await.unwrap();
    assert!(
        ct.describe_trails()
            .send()
            .await
            .unwrap()
            .trail_list()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_trails_paginates() {
    let server = TestServer::start(&["page-logs"]);
    let regions = [
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "eu-west-2",
        "eu-central-1",
        "ap-south-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ca-central-1",
    ];
    let mut want = Vec::new();
    for r in regions {
        let c = client(&server, r);
        for i in 0..5 {
            let out = c
                .create_trail()
                .name(format!("trail-{i}"))
                .s3_bucket_name("page-logs")
                .send()
                .await
                .unwrap();
            want.push(out.trail_arn().unwrap().to_owned());
        }
    }
    assert_eq!(want.len(), 55);
    let ct = client(&server, "us-east-1");
    let mut got = Vec::new();
    let mut pages = 0;
    let mut token = None;
    loop {
        let out = ct.list_trails().set_next_token(token).send().await.unwrap();
        pages += 1;
        got.extend(
            out.trails()
                .iter()
                .map(|t| t.trail_arn().unwrap().to_owned()),
        );
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(pages, 2, "55 trails are two pages of at most 50");
}
