//! What every Cairn crate shares, and nothing else: no crate here knows about HTTP, the
//! journal or the catalog.
//!
//! - [`AwsError`]: how a domain error tells the wire layer its AWS error code, its HTTP
//!   status and whether it is the server's fault. Each domain crate implements it for its own
//!   error type; `cairn-server` turns any `AwsError` into its wire error in one place.
//! - [`clock`]: wall-clock time as a dependency ([`Clock`], the system clock, a manual one).
//! - [`fs`]: the one atomic-write helper (temporary file, fsync, rename, fsync of the
//!   directory, every result checked).
//! - [`worker`]: the handle of a background loop (start, shutdown with a deadline, health).
//! - [`migrate`] (feature `sqlite`): the one migration runner for every SQLite file.
//! - [`secrets`] (feature `seal`): the master key, the keys derived from it, and the
//!   AES-256-GCM sealing of secrets at rest.
//! - [`seal`] (feature `seal`): the one AES-256-GCM routine (`nonce || ciphertext || tag`)
//!   behind every encrypted value at rest: journal frames, history records, monitor
//!   messages, catalog secrets.

pub mod clock;
pub mod fs;
#[cfg(feature = "sqlite")]
pub mod migrate;
#[cfg(feature = "seal")]
pub mod seal;
#[cfg(feature = "seal")]
pub mod secrets;
pub mod worker;

pub use clock::{Clock, ManualClock, SystemClock};
pub use worker::{Health, Worker};

/// An error that has an AWS wire form.
///
/// A domain error is either the caller's fault (a 4xx with an AWS error code whose message
/// the caller may read) or the server's (`is_internal`: its detail is logged and the caller
/// sees a generic message with an error id).
pub trait AwsError: std::error::Error {
    /// The AWS error code, e.g. `NotFoundException`.
    fn code(&self) -> &'static str;

    /// The HTTP status code. Defaults to 400 for client errors and 500 for internal ones.
    fn status(&self) -> u16 {
        if self.is_internal() { 500 } else { 400 }
    }

    /// Whether this is the server's fault. Its message is then not shown to the caller.
    fn is_internal(&self) -> bool;

    /// The message the caller sees (for client errors). Defaults to the `Display` form.
    fn message(&self) -> String {
        self.to_string()
    }
}
