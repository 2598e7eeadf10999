//! Cairn's built-in queue service: Amazon SQS standard queues, so that the collectors security
//! teams already run (which poll an SQS queue for S3 `ObjectCreated` events, then fetch the
//! file) read Cairn unchanged.
//!
//! - Queues per account and region, with SQS's attributes, ranges and defaults
//!   ([`QueueAttributes`]), tags, and the 60-second rules of SQS (a deleted name, a purge).
//! - Messages are durable once sent (SQLite, WAL, `synchronous=FULL`) and sealed at rest
//!   (AES-256-GCM under the key the server derives from its master key). Delivery is
//!   at least once and, as SQS standard queues promise, ordered on a best-effort basis: a queue
//!   hands out its messages in the order they were sent.
//! - A received message is invisible for the visibility timeout, then received again unless
//!   deleted with the receipt handle of its latest receive. After `maxReceiveCount` receives a
//!   queue with a redrive policy moves it to its dead-letter queue instead.
//! - Long polling is the caller's loop: [`Sqs::subscribe`] wakes it when a message may have
//!   become receivable, [`Sqs::next_visible_in_ms`] says when a delayed or in-flight one will.
//!
//! The crate is synchronous, like `cairn-kms`: the server calls it on the blocking pool. It
//! knows nothing of HTTP, queue URLs or authorization.

mod attributes;
mod db;
mod error;
mod message;
mod queue;
mod receipt;
#[cfg(test)]
mod tests;

pub use attributes::{MAX_MESSAGE_SIZE, QueueAttributes, READ_ONLY, RedrivePolicy, SETTABLE};
pub use error::{SqsError, query_code_of};
pub use message::{
    MAX_ATTRIBUTES, MessageAttribute, MessageAttributes, check_attributes, md5_of_attributes,
    md5_of_body, valid_text,
};
pub use queue::{
    DEDUPE_WINDOW_MS, Queue, QueueId, ReceiveOptions, Received, SendMessage, Sent, Sqs,
    check_batch_ids, validate_queue_name,
};
