//! What counts as old. Events are kept for the configured retention; batch
//! ids are kept at least as long as a client could still retry the batch
//! successfully, so a late retry is recognised as a duplicate instead of
//! being stored twice. The purge itself is the store's; when it runs (at
//! start, then hourly) is the server's.

use ezflow_telemetry_schema::{MAX_AGE_SECS, MAX_FUTURE_SECS};

/// How long a batch id must be remembered: a batch is accepted only while
/// its events are at most [`MAX_AGE_SECS`] old, and its events were at most
/// [`MAX_FUTURE_SECS`] ahead when first received, so after this long any
/// retry of it is refused as too old anyway. One hour more covers the
/// received time being stored by the hour.
pub const BATCH_ID_MEMORY_SECS: i64 = MAX_AGE_SECS + MAX_FUTURE_SECS + 3600;

/// Anything strictly before these instants (Unix seconds) is purged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    /// Events whose hour starts before this.
    pub events_before: i64,
    /// Batch ids received in an hour that starts before this.
    pub batch_ids_before: i64,
}

impl Cutoffs {
    /// The cutoffs at `now` (Unix seconds) for a retention of
    /// `retention_days`.
    pub fn at(now: i64, retention_days: u32) -> Cutoffs {
        let retention = i64::from(retention_days) * 86_400;
        Cutoffs {
            events_before: now - retention,
            batch_ids_before: now - retention.max(BATCH_ID_MEMORY_SECS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_ids_outlive_a_short_retention() {
        let now = 1_795_800_000;
        let c = Cutoffs::at(now, 2);
        assert_eq!(c.events_before, now - 2 * 86_400);
        assert_eq!(c.batch_ids_before, now - BATCH_ID_MEMORY_SECS);
        let c = Cutoffs::at(now, 90);
        assert_eq!(c.batch_ids_before, now - 90 * 86_400);
    }
}
