//! `GET`/`PUT /b?notification`: a bucket's S3 event notification configuration.
//!
//! As S3 does, a configuration is accepted only when every destination exists and its
//! policy lets `s3.amazonaws.com` deliver there for this bucket (`aws:SourceArn` = the
//! bucket's ARN, `aws:SourceAccount` = its owner); otherwise `InvalidArgument` "Unable to
//! validate the following destination configurations". Each queue destination then receives
//! S3's `s3:TestEvent` message.

use cairn_s3wire::notification::{Destination, NotificationConfiguration};
use cairn_sqs::{QueueId, SendMessage};
use cairn_vault::{DocKind, VaultError};

use super::{BucketCtx, S3Error, S3Response, bucket_arn};

/// `GetBucketNotificationConfiguration`: the stored document, or an empty one.
pub(super) fn get_bucket_notification(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize_bucket("s3:GetBucketNotification")?;
    let doc = match cx.vault().get_doc(&cx.b.name, DocKind::Notification) {
        Ok(doc) => doc,
        Err(VaultError::NoSuchConfiguration { .. }) => {
            NotificationConfiguration::default().to_xml()
        }
        Err(e) => return Err(e.into()),
    };
    Ok(S3Response::xml(doc))
}

/// `PutBucketNotificationConfiguration`: checks every destination, stores the document
/// (an empty one removes the configuration) and sends each queue S3's test event.
pub(super) fn put_bucket_notification(cx: &BucketCtx<'_>) -> Result<S3Response, S3Error> {
    cx.authorize_bucket("s3:PutBucketNotification")?;
    let config = NotificationConfiguration::parse(&cx.req.body).map_err(|e| {
        let status = if e.code == "NotImplemented" { 501 } else { 400 };
        S3Error::new(status, e.code, e.message)
    })?;
    let unreachable: Vec<&str> = config
        .rules
        .iter()
        .map(|r| &r.destination)
        .filter(|d| !may_deliver(cx, d))
        .map(Destination::arn)
        .collect();
    if !unreachable.is_empty() {
        return Err(S3Error::invalid_argument(format!(
            "Unable to validate the following destination configurations: {}",
            unreachable.join(", ")
        )));
    }
    if config.rules.is_empty() {
        cx.vault().delete_doc(&cx.b.name, DocKind::Notification)?;
        return Ok(S3Response::empty(200));
    }
    cx.vault()
        .put_doc(&cx.b.name, DocKind::Notification, &config.to_xml())?;
    let mut tested = std::collections::BTreeSet::new();
    for rule in &config.rules {
        if let Destination::Queue(arn) = &rule.destination
            && tested.insert(arn.as_str())
            && let Some(id) = QueueId::from_arn(arn)
        {
            let body = crate::s3::notify::test_event(&cx.b.name, &cx.req.request_id, cx.req.now);
            // The configuration is stored; a test event that cannot be sent is only logged.
            if let Err(e) = cx.state.sqs.send_message(
                &id,
                &SendMessage {
                    body,
                    sender_id: crate::s3::notify::SENDER_ID.to_owned(),
                    ..SendMessage::default()
                },
            ) {
                tracing::warn!(queue = %arn, error = %e, "s3:TestEvent not sent");
            }
        }
    }
    Ok(S3Response::empty(200))
}

/// Whether the destination exists and its policy lets S3 deliver this bucket's events.
fn may_deliver(cx: &BucketCtx<'_>, d: &Destination) -> bool {
    match d {
        Destination::Queue(arn) => {
            let Some(id) = QueueId::from_arn(arn) else {
                return false;
            };
            let Ok(queue) = cx.state.sqs.get_queue(&id) else {
                return false;
            };
            queue.attributes.policy.as_deref().is_some_and(|policy| {
                crate::authz::service_may(
                    policy,
                    "s3.amazonaws.com",
                    "sqs:SendMessage",
                    (arn, &id.account),
                    (&bucket_arn(&cx.b.name), &cx.b.account),
                )
            })
        }
        Destination::Topic(arn) => {
            cx.state
                .monitor
                .can_publish(arn, "s3.amazonaws.com", &bucket_arn(&cx.b.name))
        }
    }
}
