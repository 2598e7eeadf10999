//! The catalog's contract, as the control plane and the pipeline use it.
//!
//! Each method is one atomic operation of the backing store; callers on the async runtime use
//! `spawn_blocking`. [`crate::conformance::run`] is the executable form of the contract.

use crate::model::Trail;
use crate::sqlite::{BatchRow, CatalogError, DigestChainRow, PartitionId, SigningKeyRow};

/// Trails, their configuration versions by journal position, and `PutAuditEvents` channels.
pub trait TrailStore: Send + Sync {
    /// All trails (no particular order).
    fn trails(&self) -> Result<Vec<Trail>, CatalogError>;
    /// Inserts or replaces a trail (identity: account, home region, name).
    fn put_trail(&self, t: &Trail) -> Result<(), CatalogError>;
    /// Deletes a trail; returns whether it existed.
    fn delete_trail(&self, account: &str, region: &str, name: &str) -> Result<bool, CatalogError>;
    /// The stored trail configuration versions, ascending `from_seq`.
    fn trail_versions(&self) -> Result<Vec<(u64, Vec<Trail>)>, CatalogError>;
    /// Stores the trail set in force from `from_seq` on (replacing one stored for the same
    /// position).
    fn put_trail_version(&self, from_seq: u64, trails: &[Trail]) -> Result<(), CatalogError>;
    /// Deletes the versions that start before `from_seq`; returns how many.
    fn prune_trail_versions(&self, from_seq: u64) -> Result<usize, CatalogError>;
    /// Stores (inserts or replaces) a channel document.
    fn put_channel(
        &self,
        arn: &str,
        account: &str,
        region: &str,
        doc: &str,
    ) -> Result<(), CatalogError>;
    /// Deletes a channel; returns whether it existed.
    fn delete_channel(&self, arn: &str) -> Result<bool, CatalogError>;
    /// Every channel document, ascending ARN.
    fn channels(&self) -> Result<Vec<String>, CatalogError>;
}

/// Delivery batches (the intent to store one log file, then its outcome) and digest chains.
pub trait BatchStore: Send + Sync {
    /// Records a sealed batch (state `pending`); returns its id, greater than every id
    /// returned before.
    fn insert_batch(&self, b: &BatchRow, created: i64) -> Result<i64, CatalogError>;
    /// Marks a batch delivered.
    fn complete_batch(
        &self,
        id: i64,
        delivered: i64,
        sha256: &str,
        oldest: Option<i64>,
        newest: Option<i64>,
    ) -> Result<(), CatalogError>;
    /// Batches not yet delivered, ascending id.
    fn pending_batches(&self) -> Result<Vec<BatchRow>, CatalogError>;
    /// Per partition, the last journal sequence number already sealed into a batch.
    fn partition_watermarks(&self) -> Result<Vec<(PartitionId, u64)>, CatalogError>;
    /// Unix time of the latest delivered batch of a partition.
    fn latest_delivery(&self, partition: &PartitionId) -> Result<Option<i64>, CatalogError>;
    /// Delivered batches of one partition whose delivery time is in `[from, to)`, ascending id.
    fn delivered_batches(
        &self,
        partition: &PartitionId,
        from: i64,
        to: i64,
    ) -> Result<Vec<BatchRow>, CatalogError>;
    /// Batches of a partition still waiting for upload.
    fn pending_batch_count(&self, partition: &PartitionId) -> Result<i64, CatalogError>;
    /// The highest batch id of a partition (0 when none).
    fn max_batch_id(&self, partition: &PartitionId) -> Result<i64, CatalogError>;
    /// Every digest chain, ascending partition.
    fn digest_chains(&self) -> Result<Vec<DigestChainRow>, CatalogError>;
    /// Stores a chain state and, atomically with it, lists `members` in `digest_key`; fails
    /// as a whole when a member is already listed.
    fn put_digest_chain(
        &self,
        row: &DigestChainRow,
        digest_key: &str,
        members: &[i64],
    ) -> Result<(), CatalogError>;
    /// Delivered, unlisted batches of a partition with `id > floor` and
    /// `chain_start <= delivered < end`, and the floor to store once they are listed: the
    /// highest id below which every batch of the partition is settled (listed, or delivered
    /// before `chain_start`). Both come from one read, so a batch sealed meanwhile is never
    /// skipped.
    fn undigested_batches(
        &self,
        partition: &PartitionId,
        floor: i64,
        chain_start: i64,
        end: i64,
    ) -> Result<(Vec<BatchRow>, i64), CatalogError>;
}

/// Digest signing keys (the private half sealed by the caller).
pub trait KeyStore: Send + Sync {
    /// Stores a new key; `AlreadyExists` on a duplicate (region, fingerprint).
    fn insert_signing_key(&self, k: &SigningKeyRow) -> Result<(), CatalogError>;
    /// The keys of `region` whose validity overlaps `[from, to]`, oldest first.
    fn signing_keys(
        &self,
        region: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<SigningKeyRow>, CatalogError>;
    /// The newest key of `region` (latest validity start).
    fn latest_signing_key(&self, region: &str) -> Result<Option<SigningKeyRow>, CatalogError>;
}

/// The whole catalog contract.
pub trait CatalogStore: TrailStore + BatchStore + KeyStore {}

impl<T: TrailStore + BatchStore + KeyStore> CatalogStore for T {}
