//! Receipt handles: which message of which queue, and which receive of it. Opaque to callers
//! (URL-safe base64); a handle from an earlier receive of the same message no longer matches.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::SqsError;

/// The parts of a receipt handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Receipt {
    /// The queue's row id.
    pub queue: i64,
    /// The message's sequence number.
    pub seq: i64,
    /// Random per receive.
    pub nonce: String,
}

impl Receipt {
    /// A handle for a new receive of message `seq` of queue `queue`.
    pub(crate) fn new(queue: i64, seq: i64) -> Receipt {
        Receipt {
            queue,
            seq,
            nonce: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// The handle's text.
    pub(crate) fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}:{}", self.queue, self.seq, self.nonce))
    }

    /// Parses a handle; anything this server did not make is `ReceiptHandleIsInvalid`.
    pub(crate) fn decode(text: &str) -> Result<Receipt, SqsError> {
        let bad = || SqsError::ReceiptHandleIsInvalid(text.to_owned());
        let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let mut parts = raw.splitn(3, ':');
        let (Some(q), Some(s), Some(n)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let (Ok(queue), Ok(seq)) = (q.parse(), s.parse()) else {
            return Err(bad());
        };
        if n.len() != 32 || !n.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(Receipt {
            queue,
            seq,
            nonce: n.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_strangers() {
        let r = Receipt::new(3, 42);
        assert_eq!(Receipt::decode(&r.encode()).expect("own handle"), r);
        assert_ne!(
            Receipt::new(3, 42).nonce,
            r.nonce,
            "each receive gets its own handle"
        );
        for bad in [
            "",
            "x",
            "!!!",
            &URL_SAFE_NO_PAD.encode("1:2"),
            &URL_SAFE_NO_PAD.encode("a:2:00"),
        ] {
            assert!(matches!(
                Receipt::decode(bad),
                Err(SqsError::ReceiptHandleIsInvalid(_))
            ));
        }
    }
}
