//! `cairn bucket lifecycle`: put lifecycle rules on a bucket that lives on an external
//! S3-compatible service (`[buckets.<name>]` with `backend = "s3"`), so logs delivered there
//! are archived and expired like those in Cairn's local buckets, whose rules the lifecycle
//! worker applies itself.
//!
//! The rules file is the JSON document `aws s3api put-bucket-lifecycle-configuration
//! --lifecycle-configuration` takes (`{"Rules": [...]}`); it is sent as S3's XML.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use cairn_check::aws::Aws;
use cairn_check::aws::config::Settings;
use cairn_s3wire::xml::escape;
use cairn_server::config::Config;
use cairn_store::{BucketConfig, S3Config};
use serde_json::Value;

/// JSON list names whose XML form repeats the singular element.
const LISTS: &[(&str, &str)] = &[
    ("Rules", "Rule"),
    ("Transitions", "Transition"),
    (
        "NoncurrentVersionTransitions",
        "NoncurrentVersionTransition",
    ),
    ("Tags", "Tag"),
];

fn element(out: &mut String, name: &str, v: &Value) -> Result<()> {
    match v {
        Value::Object(m) => {
            let _ = write!(out, "<{name}>");
            for (k, v) in m {
                field(out, k, v)?;
            }
            let _ = write!(out, "</{name}>");
        }
        Value::String(s) => {
            let _ = write!(out, "<{name}>{}</{name}>", escape(s));
        }
        Value::Number(n) => {
            let _ = write!(out, "<{name}>{n}</{name}>");
        }
        Value::Bool(b) => {
            let _ = write!(out, "<{name}>{b}</{name}>");
        }
        Value::Null => {}
        Value::Array(_) => bail!("`{name}`: a list is not allowed here"),
    }
    Ok(())
}

fn field(out: &mut String, key: &str, v: &Value) -> Result<()> {
    match v {
        Value::Array(items) => {
            let Some((_, one)) = LISTS.iter().find(|(many, _)| *many == key) else {
                bail!("`{key}` is not a list in a lifecycle configuration");
            };
            for item in items {
                element(out, one, item)?;
            }
            Ok(())
        }
        // The AWS CLI accepts `"ID"` and S3's XML spells it `ID` too; everything else maps
        // one to one.
        _ => element(out, key, v),
    }
}

/// S3's `LifecycleConfiguration` XML for the AWS CLI's JSON document.
pub(crate) fn to_xml(doc: &Value) -> Result<String> {
    let rules = doc
        .get("Rules")
        .and_then(Value::as_array)
        .context("the lifecycle document needs a `Rules` list")?;
    if rules.is_empty() {
        bail!("the lifecycle document's `Rules` list is empty");
    }
    let mut out = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#,
    );
    field(&mut out, "Rules", &Value::Array(rules.clone()))?;
    out.push_str("</LifecycleConfiguration>");
    Ok(out)
}

fn secret_of(c: &S3Config) -> Result<(String, String)> {
    let key = match (&c.access_key_id, &c.access_key_id_env) {
        (Some(k), _) => k.clone(),
        (None, Some(var)) => std::env::var(var).with_context(|| format!("{var} is not set"))?,
        (None, None) => std::env::var("AWS_ACCESS_KEY_ID")
            .context("no access key: set access_key_id(_env) or AWS_ACCESS_KEY_ID")?,
    };
    let secret = match (&c.secret_access_key, &c.secret_access_key_env) {
        (Some(s), _) => s.expose().to_owned(),
        (None, Some(var)) => std::env::var(var).with_context(|| format!("{var} is not set"))?,
        (None, None) => std::env::var("AWS_SECRET_ACCESS_KEY")
            .context("no secret key: set secret_access_key(_env) or AWS_SECRET_ACCESS_KEY")?,
    };
    Ok((key, secret))
}

/// Puts the rules of `file` on the external bucket `name`.
pub(crate) fn put(config: &Config, name: &str, file: &Path) -> Result<()> {
    let Some(BucketConfig::S3(s3)) = config.buckets.get(name) else {
        bail!(
            "bucket {name} is not an S3 bucket of the configuration ([buckets.{name}] backend = \"s3\"); \
             for Cairn's local buckets use `aws s3api put-bucket-lifecycle-configuration` against Cairn"
        );
    };
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let doc: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a JSON document", file.display()))?;
    let xml = to_xml(&doc)?;
    let (key, secret) = secret_of(s3)?;
    let mut service_endpoints = std::collections::BTreeMap::new();
    if let Some(url) = &s3.endpoint_url {
        service_endpoints.insert("s3".to_owned(), url.clone());
    }
    let settings = Settings {
        credential: cairn_auth::Credential::long_term(
            key.as_str(),
            secret.as_str(),
            cairn_auth::Principal::Root {
                account_id: String::new(),
            },
        ),
        region: s3.region.clone(),
        endpoint_url: None,
        service_endpoints,
        credential_source: format!("[buckets.{name}]"),
    };
    let remote = s3.bucket.clone().unwrap_or_else(|| name.to_owned());
    let aws = Aws::new(settings).map_err(anyhow::Error::msg)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(aws.s3_put(
        &s3.region,
        "PutBucketLifecycleConfiguration",
        &remote,
        &[("lifecycle", String::new())],
        xml.into_bytes(),
    ))
    .map_err(|e| anyhow::anyhow!(e.describe()))?;
    println!(
        "put {} lifecycle rule(s) on {remote}",
        doc["Rules"].as_array().map_or(0, Vec::len)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_json_becomes_s3_xml() {
        let doc = serde_json::json!({"Rules": [{
            "ID": "archive-then-expire", "Status": "Enabled",
            "Filter": {"Prefix": "AWSLogs/"},
            "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}],
            "Expiration": {"Days": 2555},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 30}
        }]});
        assert_eq!(
            to_xml(&doc).unwrap(),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?><LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#,
                "<Rule><ID>archive-then-expire</ID><Status>Enabled</Status><Filter><Prefix>AWSLogs/</Prefix></Filter>",
                "<Transition><Days>90</Days><StorageClass>GLACIER</StorageClass></Transition>",
                "<Expiration><Days>2555</Days></Expiration>",
                "<NoncurrentVersionExpiration><NoncurrentDays>30</NoncurrentDays></NoncurrentVersionExpiration>",
                "</Rule></LifecycleConfiguration>"
            )
        );
    }

    #[test]
    fn bad_documents_are_refused() {
        assert!(to_xml(&serde_json::json!({})).is_err());
        assert!(to_xml(&serde_json::json!({"Rules": []})).is_err());
        assert!(to_xml(&serde_json::json!({"Rules": [{"Filter": {"Prefix": ["a"]}}]})).is_err());
        let x = to_xml(&serde_json::json!({"Rules": [{"ID": "a<&>"}]})).unwrap();
        assert!(x.contains("<ID>a&lt;&amp;&gt;</ID>"));
    }
}
