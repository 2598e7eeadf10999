//! The crate's one error type, with Amazon SQS's error codes.

/// Why an SQS operation failed. [`cairn_core::AwsError::code`] gives the error code of SQS's
/// JSON protocol; [`SqsError::query_code`] the older query-protocol code that SQS also sends
/// (`x-amzn-query-error`) and that SDKs in query-compatible mode surface.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqsError {
    /// No queue of that name (or URL) in this account and region.
    #[error("The specified queue does not exist.")]
    QueueDoesNotExist,
    /// A queue of that name exists with different attributes.
    #[error("A queue already exists with the same name and a different value for attribute {0}")]
    QueueNameExists(String),
    /// The name was used by a queue deleted less than 60 seconds ago.
    #[error(
        "You must wait 60 seconds after deleting a queue before you can create another queue with the same name."
    )]
    QueueDeletedRecently,
    /// An attribute name SQS does not know.
    #[error("Unknown Attribute {0}.")]
    InvalidAttributeName(String),
    /// An attribute value out of range or of the wrong shape.
    #[error("Invalid value for the parameter {name}. Reason: {reason}")]
    InvalidAttributeValue {
        /// The attribute.
        name: String,
        /// Why.
        reason: String,
    },
    /// A request parameter out of range or of the wrong shape.
    #[error("Value {value} for parameter {name} is invalid. Reason: {reason}")]
    InvalidParameterValue {
        /// The parameter.
        name: String,
        /// What was given.
        value: String,
        /// Why.
        reason: String,
    },
    /// A required parameter is missing.
    #[error("The request must contain the parameter {0}.")]
    MissingParameter(String),
    /// The message body holds characters SQS does not allow.
    #[error(
        "Invalid characters found in the message body: only #x9, #xA, #xD, #x20 to #xD7FF, #xE000 to #xFFFD and #x10000 to #x10FFFF are allowed."
    )]
    InvalidMessageContents,
    /// The receipt handle is not one this queue gave.
    #[error("The input receipt handle \"{0}\" is not a valid receipt handle.")]
    ReceiptHandleIsInvalid(String),
    /// The message is not in flight (not received, or its visibility timeout expired).
    #[error("Message does not exist or is not available for visibility timeout change.")]
    MessageNotInflight,
    /// A batch request with no entries.
    #[error("There should be at least one {0} in the request.")]
    EmptyBatchRequest(String),
    /// More than ten entries in a batch.
    #[error("Maximum number of entries per request are 10. You have sent {0}.")]
    TooManyEntriesInBatchRequest(usize),
    /// Two batch entries with one id.
    #[error("Id {0} repeated.")]
    BatchEntryIdsNotDistinct(String),
    /// A batch entry id of the wrong shape.
    #[error(
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."
    )]
    InvalidBatchEntryId,
    /// The batch's messages together are over the queue's maximum message size.
    #[error("Batch requests cannot be longer than {0} bytes.")]
    BatchRequestTooLong(usize),
    /// PurgeQueue again within 60 seconds.
    #[error("Only one PurgeQueue operation on {0} is allowed every 60 seconds.")]
    PurgeQueueInProgress(String),
    /// A quota is exceeded (tags per queue, in-flight messages).
    #[error("{0}")]
    OverLimit(String),
    /// An SQS feature this server does not build (FIFO queues, message move tasks).
    #[error("{0} is not implemented by this Cairn server")]
    NotImplemented(String),
    /// The database failed.
    #[error("sqs database: {0}")]
    Storage(String),
    /// A sealed message could not be opened (wrong key, corrupted row).
    #[error("sqs message at rest: {0}")]
    Crypto(String),
}

impl SqsError {
    /// The query-protocol error code (`x-amzn-query-error`) of this error.
    pub fn query_code(&self) -> &'static str {
        query_code_of(cairn_core::AwsError::code(self))
    }
}

/// The query-protocol error code SQS sends (`x-amzn-query-error`) for a JSON error code; codes
/// that are the same in both protocols come back unchanged.
pub fn query_code_of(code: &'static str) -> &'static str {
    match code {
        "QueueDoesNotExist" => "AWS.SimpleQueueService.NonExistentQueue",
        "AccessDeniedException" => "AccessDenied",
        "QueueNameExists" => "QueueAlreadyExists",
        "QueueDeletedRecently" => "AWS.SimpleQueueService.QueueDeletedRecently",
        "MessageNotInflight" => "AWS.SimpleQueueService.MessageNotInflight",
        "EmptyBatchRequest" => "AWS.SimpleQueueService.EmptyBatchRequest",
        "TooManyEntriesInBatchRequest" => "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "BatchEntryIdsNotDistinct" => "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        "InvalidBatchEntryId" => "AWS.SimpleQueueService.InvalidBatchEntryId",
        "BatchRequestTooLong" => "AWS.SimpleQueueService.BatchRequestTooLong",
        "PurgeQueueInProgress" => "AWS.SimpleQueueService.PurgeQueueInProgress",
        "UnsupportedOperation" => "AWS.SimpleQueueService.UnsupportedOperation",
        other => other,
    }
}

impl cairn_core::AwsError for SqsError {
    fn code(&self) -> &'static str {
        match self {
            Self::QueueDoesNotExist => "QueueDoesNotExist",
            Self::QueueNameExists(_) => "QueueNameExists",
            Self::QueueDeletedRecently => "QueueDeletedRecently",
            Self::InvalidAttributeName(_) => "InvalidAttributeName",
            Self::InvalidAttributeValue { .. } => "InvalidAttributeValue",
            Self::InvalidParameterValue { .. } => "InvalidParameterValue",
            Self::MissingParameter(_) => "MissingParameter",
            Self::InvalidMessageContents => "InvalidMessageContents",
            Self::ReceiptHandleIsInvalid(_) => "ReceiptHandleIsInvalid",
            Self::MessageNotInflight => "MessageNotInflight",
            Self::EmptyBatchRequest(_) => "EmptyBatchRequest",
            Self::TooManyEntriesInBatchRequest(_) => "TooManyEntriesInBatchRequest",
            Self::BatchEntryIdsNotDistinct(_) => "BatchEntryIdsNotDistinct",
            Self::InvalidBatchEntryId => "InvalidBatchEntryId",
            Self::BatchRequestTooLong(_) => "BatchRequestTooLong",
            Self::PurgeQueueInProgress(_) => "PurgeQueueInProgress",
            Self::OverLimit(_) => "OverLimit",
            Self::NotImplemented(_) => "UnsupportedOperation",
            Self::Storage(_) | Self::Crypto(_) => "InternalError",
        }
    }

    fn is_internal(&self) -> bool {
        matches!(self, Self::Storage(_) | Self::Crypto(_))
    }
}

impl From<rusqlite::Error> for SqsError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

impl From<cairn_core::migrate::MigrateError> for SqsError {
    fn from(e: cairn_core::migrate::MigrateError) -> Self {
        Self::Storage(format!("sqs.db: {e}"))
    }
}

/// An [`SqsError::InvalidParameterValue`].
pub(crate) fn invalid_param(name: &str, value: impl ToString, reason: &str) -> SqsError {
    SqsError::InvalidParameterValue {
        name: name.to_owned(),
        value: value.to_string(),
        reason: reason.to_owned(),
    }
}
