//! Traffic: many clients posting at once all get stored exactly, and one
//! client over its rate limit gets 429 with `Retry-After` and has nothing
//! stored for the refused batch.

use ezflow_collector::RunningCollector;
use ezflow_telemetry_schema::Hour;
use ezflow_testbed::collector::*;
use serde_json::json;

const THREADS: u64 = 16;
const BATCHES_PER_THREAD: u64 = 40;

#[test]
fn concurrent_small_batches_are_all_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    // On: loopback is one client, so the limit must be out of reach.
    config.rate_limit_per_minute = 1_000_000;
    let collector = RunningCollector::start(config).unwrap();
    let base = base_url(&collector);
    let now = Hour::now().to_string();

    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (base, now) = (base.clone(), now.clone());
            std::thread::spawn(move || {
                let agent = agent();
                let mut sent = 0;
                for i in 0..BATCHES_PER_THREAD {
                    let n = t * BATCHES_PER_THREAD + i;
                    let count = (n % 5 + 1) as usize;
                    let events = (0..count)
                        .map(|k| event(&now, transcribed("small", k % 2 == 0, 0.25)))
                        .collect();
                    let reply = post(&agent, &base, &batch(n, events));
                    assert_eq!(reply.status, 200, "batch {n}: {reply:?}");
                    assert_eq!(reply.json(), json!({ "stored": count }));
                    sent += count as u64;
                }
                sent
            })
        })
        .collect();
    let sent: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();

    // 640 batches of 1 to 5 events, 128 of each size.
    assert_eq!(
        sent,
        (THREADS * BATCHES_PER_THREAD / 5) * (1 + 2 + 3 + 4 + 5)
    );
    assert_eq!(total_events(&agent(), &base), sent);
    collector.shutdown().unwrap();
    let db = database(dir.path());
    assert_eq!(count_rows(&db, "events") as u64, sent);
    assert_eq!(
        count_rows(&db, "batches") as u64,
        THREADS * BATCHES_PER_THREAD
    );
}

#[test]
fn a_client_over_its_rate_limit_gets_429_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.rate_limit_per_minute = 3;
    let collector = RunningCollector::start(config).unwrap();
    let base = base_url(&collector);
    let agent = agent();

    for n in 0..3 {
        let reply = post(&agent, &base, &valid_batch(n));
        assert_eq!(reply.status, 200, "batch {n}: {reply:?}");
    }
    let reply = post(&agent, &base, &valid_batch(3));
    assert_eq!(reply.status, 429, "{reply:?}");
    assert!(reply.error().contains("too many batches"), "{reply:?}");
    // One token per 20 s at 3 a minute.
    let retry: u64 = reply
        .retry_after
        .as_deref()
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=20).contains(&retry), "{retry}");

    // Reading is not limited.
    assert_eq!(total_events(&agent, &base), 9);
    collector.shutdown().unwrap();
    let conn = rusqlite::Connection::open(database(dir.path())).unwrap();
    let limited: i64 = conn
        .query_row(
            "SELECT count(*) FROM batches WHERE batch_id = ?1",
            [batch_id(3)],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(limited, 0);
    assert_eq!(count_rows(&database(dir.path()), "events"), 9);
}
