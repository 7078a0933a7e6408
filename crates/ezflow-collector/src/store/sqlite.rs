//! The SQLite backend of [`EventStore`]: one database file in WAL mode, a
//! `batches` table of remembered batch ids and an `events` table with one
//! row per event field (and nothing else), created on first start and
//! versioned with `PRAGMA user_version` for later migrations.
//!
//! `synchronous = FULL`: in WAL mode, `NORMAL` may lose the last commits on
//! a power cut or OS crash. A 200 tells the client to delete its copy of the
//! batch, so a commit must reach the disk before we answer; `FULL` syncs the
//! WAL on every commit, which costs one fsync per batch, a price a collector
//! receiving at most a few batches per client per minute easily pays.

use std::path::Path;
use std::time::Duration;

use ezflow_telemetry_schema::{Batch, EventKind, Hour};
use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};

use super::{wire_name, EventStore, Inserted, Purged, StoreError};
use crate::retention::Cutoffs;
use crate::stats::{Aggregates, DayCount, OsCount, TranscriptionStats, VersionCount};

/// The schema this code writes; stored as `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 1;

/// Version 1. `hour` and `received_hour` are Unix seconds of the start of an
/// hour (UTC). Text columns hold the wire spelling of each value. The
/// columns of one event type are NULL for the others.
const SCHEMA_V1: &str = "
CREATE TABLE batches (
    batch_id      TEXT    NOT NULL PRIMARY KEY,
    received_hour INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX batches_received_hour ON batches (received_hour);

CREATE TABLE events (
    id               INTEGER PRIMARY KEY,
    hour             INTEGER NOT NULL,
    app_version      TEXT    NOT NULL,
    os               TEXT    NOT NULL,
    os_version       TEXT    NOT NULL,
    arch             TEXT    NOT NULL,
    type             TEXT    NOT NULL,
    surface          TEXT,
    audio            TEXT,
    model            TEXT,
    gpu              INTEGER,
    real_time_factor REAL
) STRICT;
CREATE INDEX events_hour ON events (hour);
";

/// Events stored in a SQLite file.
pub struct SqliteStore {
    conn: Connection,
    location: String,
}

impl SqliteStore {
    /// Opens `path`, creating the file and the schema if needed. Fails, naming
    /// the file, when it cannot be opened or written, is not a SQLite
    /// database, holds someone else's tables, or was written by a newer
    /// collector.
    pub fn open(path: &Path, busy_timeout: Duration) -> Result<SqliteStore, StoreError> {
        let location = path.display().to_string();
        let open_error = |reason: String| StoreError::Open {
            location: location.clone(),
            reason,
        };
        if path.is_dir() {
            return Err(open_error("it is a directory".to_owned()));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(path, flags).map_err(|e| open_error(e.to_string()))?;
        conn.busy_timeout(busy_timeout)
            .map_err(|e| open_error(e.to_string()))?;
        // The first statement that reads the file: a file of garbage fails
        // here with "file is not a database".
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|e| open_error(e.to_string()))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(open_error(format!(
                "cannot use WAL journal mode (the file system gave {mode:?})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| open_error(e.to_string()))?;
        let mut store = SqliteStore { conn, location };
        store.migrate()?;
        Ok(store)
    }

    fn failed(&self, error: rusqlite::Error) -> StoreError {
        StoreError::Failed {
            location: self.location.clone(),
            reason: error.to_string(),
        }
    }

    /// Brings the schema to [`SCHEMA_VERSION`].
    fn migrate(&mut self) -> Result<(), StoreError> {
        let location = self.location.clone();
        let open_error = |e: rusqlite::Error| StoreError::Open {
            location: location.clone(),
            reason: e.to_string(),
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(open_error)?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(open_error)?;
        match version {
            0 => {
                let objects: i64 = tx
                    .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
                    .map_err(open_error)?;
                if objects > 0 {
                    return Err(StoreError::Incompatible {
                        location: location.clone(),
                        reason: "it holds tables but no collector schema version; \
                                 is it another program's database?"
                            .to_owned(),
                    });
                }
                tx.execute_batch(SCHEMA_V1).map_err(open_error)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                    .map_err(open_error)?;
            }
            SCHEMA_VERSION => {}
            newer => {
                return Err(StoreError::Incompatible {
                    location: location.clone(),
                    reason: format!(
                        "its schema version is {newer}, newer than this collector's \
                         {SCHEMA_VERSION}; run a newer collector"
                    ),
                });
            }
        }
        tx.commit().map_err(open_error)
    }

    fn try_insert(&mut self, batch: &Batch, received: Hour) -> rusqlite::Result<Inserted> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let new = tx.execute(
            "INSERT INTO batches (batch_id, received_hour) VALUES (?1, ?2)
             ON CONFLICT (batch_id) DO NOTHING",
            params![batch.batch_id, received.unix()],
        )?;
        if new == 0 {
            // Dropping the transaction rolls it back; nothing was written.
            return Ok(Inserted::Duplicate);
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (hour, app_version, os, os_version, arch, type,
                                     surface, audio, model, gpu, real_time_factor)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for event in &batch.events {
                let (surface, audio, model, gpu, rtf) = match &event.event {
                    EventKind::AppLaunched { surface } => {
                        (Some(wire_name(surface)), None, None, None, None)
                    }
                    EventKind::TranscriptionCompleted {
                        audio,
                        model,
                        gpu,
                        real_time_factor,
                    } => (
                        None,
                        Some(wire_name(audio)),
                        Some(model.as_str()),
                        Some(*gpu),
                        Some(*real_time_factor),
                    ),
                    EventKind::ModelDownloaded { model } => {
                        (None, None, Some(model.as_str()), None, None)
                    }
                };
                insert.execute(params![
                    event.hour.unix(),
                    event.app_version,
                    wire_name(&event.os),
                    event.os_version,
                    wire_name(&event.arch),
                    event.event.name(),
                    surface,
                    audio,
                    model,
                    gpu,
                    rtf,
                ])?;
            }
        }
        tx.commit()?;
        Ok(Inserted::Stored(batch.events.len()))
    }

    fn try_aggregates(&mut self, since: Hour) -> rusqlite::Result<Aggregates> {
        let since = since.unix();
        let events_per_day = self
            .conn
            .prepare_cached(
                "SELECT date(hour, 'unixepoch') AS day, type, count(*) FROM events
                 WHERE hour >= ?1 GROUP BY day, type ORDER BY day, type",
            )?
            .query_map([since], |row| {
                Ok(DayCount {
                    day: row.get(0)?,
                    event_type: row.get(1)?,
                    count: row.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let app_versions = self
            .conn
            .prepare_cached(
                "SELECT app_version, count(*) AS n FROM events WHERE hour >= ?1
                 GROUP BY app_version ORDER BY n DESC, app_version",
            )?
            .query_map([since], |row| {
                Ok(VersionCount {
                    app_version: row.get(0)?,
                    count: row.get(1)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let os = self
            .conn
            .prepare_cached(
                "SELECT os, os_version, count(*) AS n FROM events WHERE hour >= ?1
                 GROUP BY os, os_version ORDER BY n DESC, os, os_version",
            )?
            .query_map([since], |row| {
                Ok(OsCount {
                    os: row.get(0)?,
                    os_version: row.get(1)?,
                    count: row.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        // Nearest-rank percentiles (see `crate::stats::nearest_rank`):
        // rank ceil(p * n / 100) = (p * n + 99) / 100 in integer arithmetic.
        let transcriptions = self
            .conn
            .prepare_cached(
                "WITH ranked AS (
                     SELECT model, gpu, real_time_factor AS rtf,
                            row_number() OVER (PARTITION BY model, gpu
                                               ORDER BY real_time_factor) AS rank,
                            count(*) OVER (PARTITION BY model, gpu) AS n
                     FROM events
                     WHERE type = 'transcription_completed' AND hour >= ?1
                 )
                 SELECT model, gpu, max(n),
                        max(CASE WHEN rank = (50 * n + 99) / 100 THEN rtf END),
                        max(CASE WHEN rank = (95 * n + 99) / 100 THEN rtf END)
                 FROM ranked GROUP BY model, gpu ORDER BY model, gpu",
            )?
            .query_map([since], |row| {
                Ok(TranscriptionStats {
                    model: row.get(0)?,
                    gpu: row.get(1)?,
                    count: row.get(2)?,
                    median_real_time_factor: row.get(3)?,
                    p95_real_time_factor: row.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Aggregates {
            events_per_day,
            app_versions,
            os,
            transcriptions,
        })
    }

    fn try_purge(&mut self, cutoffs: Cutoffs) -> rusqlite::Result<Purged> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let events = tx.execute(
            "DELETE FROM events WHERE hour < ?1",
            [cutoffs.events_before],
        )?;
        let batch_ids = tx.execute(
            "DELETE FROM batches WHERE received_hour < ?1",
            [cutoffs.batch_ids_before],
        )?;
        tx.commit()?;
        Ok(Purged {
            events: events as u64,
            batch_ids: batch_ids as u64,
        })
    }
}

impl EventStore for SqliteStore {
    fn insert_batch(&mut self, batch: &Batch, received: Hour) -> Result<Inserted, StoreError> {
        self.try_insert(batch, received).map_err(|e| self.failed(e))
    }

    fn aggregates(&mut self, since: Hour) -> Result<Aggregates, StoreError> {
        self.try_aggregates(since).map_err(|e| self.failed(e))
    }

    fn purge(&mut self, cutoffs: Cutoffs) -> Result<Purged, StoreError> {
        self.try_purge(cutoffs).map_err(|e| self.failed(e))
    }

    fn check(&mut self) -> Result<(), StoreError> {
        // Reads the schema and a table's root page, so an unreadable file
        // fails here.
        self.conn
            .query_row(
                "SELECT count(*) FROM (SELECT 1 FROM batches LIMIT 1)",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map(|_| ())
            .map_err(|e| self.failed(e))
    }

    fn close(self: Box<Self>) -> Result<(), StoreError> {
        let location = self.location;
        self.conn.close().map_err(|(_, e)| StoreError::Failed {
            location,
            reason: format!("closing: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use ezflow_telemetry_schema::{Arch, AudioBucket, Event, OsFamily, SCHEMA_VERSION};

    use super::*;
    use crate::stats::nearest_rank;

    fn transcription(hour: Hour, model: &str, gpu: bool, rtf: f64) -> Event {
        Event {
            hour,
            app_version: "0.1.0".into(),
            os: OsFamily::Linux,
            os_version: "12".into(),
            arch: Arch::X86_64,
            event: EventKind::TranscriptionCompleted {
                audio: AudioBucket::Under5s,
                model: model.into(),
                gpu,
                real_time_factor: rtf,
            },
        }
    }

    fn batch(n: u32, events: Vec<Event>) -> Batch {
        Batch {
            schema: SCHEMA_VERSION,
            batch_id: format!("{n:032x}"),
            events,
        }
    }

    fn open(dir: &tempfile::TempDir) -> SqliteStore {
        SqliteStore::open(&dir.path().join("t.sqlite3"), Duration::from_secs(1)).unwrap()
    }

    #[test]
    fn percentiles_in_sql_match_the_nearest_rank_definition() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir);
        let hour = Hour::containing(1_795_800_000);
        // Group sizes 1..=23 with values in a scrambled order, so both the
        // odd/even cases and the sort are exercised.
        let mut expected = Vec::new();
        for n in 1..=23u32 {
            let model = format!("m{n:02}");
            let mut values: Vec<f64> = (0..n)
                .map(|i| f64::from((i * 37 + n * 11) % 97 + 1) / 100.0)
                .collect();
            let events = values
                .iter()
                .map(|&v| transcription(hour, &model, n % 2 == 0, v))
                .collect();
            store.insert_batch(&batch(n, events), hour).unwrap();
            values.sort_by(f64::total_cmp);
            let at = |p| values[nearest_rank(u64::from(n), p) as usize - 1];
            expected.push((model, u64::from(n), at(50), at(95)));
        }
        let got = store.aggregates(hour).unwrap().transcriptions;
        assert_eq!(got.len(), expected.len());
        for (g, (model, n, median, p95)) in got.iter().zip(&expected) {
            assert_eq!(&g.model, model);
            assert_eq!(g.count, *n, "{model}");
            assert_eq!(g.median_real_time_factor, *median, "{model}");
            assert_eq!(g.p95_real_time_factor, *p95, "{model}");
        }
    }

    #[test]
    fn duplicates_store_nothing_and_purge_honours_both_cutoffs() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir);
        let old = Hour::containing(1_795_800_000 - 10 * 86_400);
        let new = Hour::containing(1_795_800_000);
        let b = batch(1, vec![transcription(old, "tiny", false, 0.5)]);
        assert_eq!(store.insert_batch(&b, old), Ok(Inserted::Stored(1)));
        assert_eq!(store.insert_batch(&b, old), Ok(Inserted::Duplicate));
        let b2 = batch(2, vec![transcription(new, "tiny", false, 0.5)]);
        assert_eq!(store.insert_batch(&b2, new), Ok(Inserted::Stored(1)));

        let cutoffs = Cutoffs {
            events_before: new.unix(),
            batch_ids_before: old.unix(),
        };
        assert_eq!(
            store.purge(cutoffs).unwrap(),
            Purged {
                events: 1,
                batch_ids: 0
            }
        );
        // The id is still remembered, so a late retry stays a duplicate.
        assert_eq!(store.insert_batch(&b, new), Ok(Inserted::Duplicate));
        let cutoffs = Cutoffs {
            events_before: new.unix(),
            batch_ids_before: new.unix(),
        };
        assert_eq!(store.purge(cutoffs).unwrap().batch_ids, 1);
        Box::new(store).close().unwrap();
    }

    #[test]
    fn a_newer_schema_or_a_foreign_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite3");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE notes (x TEXT);").unwrap();
        }
        let err = SqliteStore::open(&path, Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(matches!(err, StoreError::Incompatible { .. }), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );

        let path = dir.path().join("newer.sqlite3");
        drop(SqliteStore::open(&path, Duration::from_secs(1)).unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 2)
            .unwrap();
        let err = SqliteStore::open(&path, Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(err.to_string().contains("schema version is 2"), "{err}");
    }
}
