//! Where accepted events live: the [`EventStore`] trait every backend
//! implements, the types it exchanges, and (in `worker`) the dedicated
//! thread that runs a store's blocking calls away from the async executor.
//!
//! The only backend today is [`sqlite::SqliteStore`]. A store receives
//! batches that already passed [`Batch::validate`](ezflow_telemetry_schema::Batch::validate),
//! and nothing else: no address, header or other request metadata reaches
//! this module, so no backend can store one.

pub mod sqlite;
pub(crate) mod worker;

use ezflow_telemetry_schema::{Batch, Hour};
use serde::Serialize;

use crate::retention::Cutoffs;
use crate::stats::Aggregates;

/// What inserting a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The batch was new; this many events were stored.
    Stored(usize),
    /// A batch with this id was stored before; nothing was stored now.
    Duplicate,
}

/// What a purge removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Purged {
    pub events: u64,
    pub batch_ids: u64,
}

/// A backend for accepted events. Every method blocks; the collector calls
/// them from one dedicated thread (`worker`), one call at a time, so an
/// implementation needs no locking of its own.
pub trait EventStore: Send {
    /// Stores a validated batch and remembers its id, all or nothing. A batch
    /// whose id is already remembered stores nothing and returns
    /// [`Inserted::Duplicate`]. `received` is the hour the collector got it
    /// (used only to forget the id later). Returning `Ok` means the batch is
    /// durable: the client is told it may delete it.
    fn insert_batch(&mut self, batch: &Batch, received: Hour) -> Result<Inserted, StoreError>;

    /// The aggregates of all events whose hour is at or after `since`
    /// (see [`crate::stats`] for what each one means).
    fn aggregates(&mut self, since: Hour) -> Result<Aggregates, StoreError>;

    /// Deletes events and remembered batch ids older than `cutoffs`.
    fn purge(&mut self, cutoffs: Cutoffs) -> Result<Purged, StoreError>;

    /// Succeeds when the backend answers a trivial query (for `/health`).
    fn check(&mut self) -> Result<(), StoreError>;

    /// Flushes and closes the backend; the last call a store gets.
    fn close(self: Box<Self>) -> Result<(), StoreError>;
}

/// A backend failure. Every message names the database (a file path, or a
/// URL for a network backend) so an operator knows where to look.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {location}: {reason}")]
    Open { location: String, reason: String },
    #[error("the database {location} cannot be used: {reason}")]
    Incompatible { location: String, reason: String },
    #[error("the database {location} failed: {reason}")]
    Failed { location: String, reason: String },
    #[error("the event store is not running")]
    Stopped,
}

/// The name a unit enum value has on the wire (`linux`, `x86_64`,
/// `under_5s`...), so stored values read exactly like the JSON that was
/// sent and the schema crate stays the only place that spells them.
pub(crate) fn wire_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        // Every type passed here is a fieldless enum, which serialises to a
        // string; anything else would be a programming error caught by tests.
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use ezflow_telemetry_schema::{Arch, AudioBucket, OsFamily};

    use super::wire_name;

    #[test]
    fn wire_names_match_the_schema_spelling() {
        assert_eq!(wire_name(&OsFamily::Macos), "macos");
        assert_eq!(wire_name(&Arch::X86_64), "x86_64");
        assert_eq!(wire_name(&AudioBucket::From5To15s), "5s_to_15s");
    }
}
