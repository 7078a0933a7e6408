//! `/v1/stats` and the dashboard over a known set of events: counts per day
//! and type, per version and OS, nearest-rank median and p95 real-time
//! factor per model and device; the dashboard shows the same figures with
//! no markup from events; retention purges old events.

use ezflow_collector::RunningCollector;
use ezflow_testbed::collector::*;
use serde_json::{json, Value};

/// Thirty-four events over three days (see the expected stats below).
fn known_batches() -> Vec<Value> {
    let with = |mut e: Value, version: &str, os: &str, os_version: &str| {
        e["app_version"] = json!(version);
        e["os"] = json!(os);
        e["os_version"] = json!(os_version);
        e
    };
    // Today: 10 CPU transcriptions with base.en, RTF 0.10 … 1.00.
    let base_en = (1..=10)
        .map(|i| {
            event(
                &hour(0, 0),
                transcribed("base.en", false, f64::from(i) / 10.0),
            )
        })
        .collect();
    // Yesterday: 20 GPU transcriptions with tiny.en-q8_0, RTF 0.01 … 0.20,
    // sent in a scrambled order, from macOS with a pre-release version.
    let tiny = (1..=20)
        .map(|i| {
            let rtf = f64::from((i * 7) % 20 + 1) / 100.0;
            let e = event(&hour(1, 10), transcribed("tiny.en-q8_0", true, rtf));
            with(e, "0.2.0-rc.1+build_5", "macos", "14.5")
        })
        .collect();
    let windows = |e| with(e, "0.1.0", "windows", "10.0.22631");
    let others = vec![
        windows(event(&hour(0, 0), launched())),
        windows(event(
            &hour(0, 0),
            json!({"type": "app_launched", "surface": "cli"}),
        )),
        windows(event(&hour(1, 10), launched())),
        event(&hour(2, 10), downloaded("base.en")),
    ];
    vec![batch(1, base_en), batch(2, tiny), batch(3, others)]
}

fn start_with_known_events(dir: &std::path::Path) -> RunningCollector {
    let collector = RunningCollector::start(config(dir)).unwrap();
    let agent = agent();
    for b in known_batches() {
        let reply = post(&agent, &base_url(&collector), &b);
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    collector
}

#[test]
fn stats_aggregate_the_known_events() {
    let dir = tempfile::tempdir().unwrap();
    let collector = start_with_known_events(dir.path());
    let base = base_url(&collector);
    let agent = agent();
    let (d0, d1, d2) = (&hour(0, 0)[..10], &hour(1, 0)[..10], &hour(2, 0)[..10]);

    let reply = get(&agent, &format!("{base}/v1/stats?days=3"));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.content_type.starts_with("application/json"));
    assert_eq!(
        reply.json(),
        json!({
            "days": 3,
            "since": d2,
            "total_events": 34,
            "events_per_day": [
                {"day": d2, "type": "model_downloaded", "count": 1},
                {"day": d1, "type": "app_launched", "count": 1},
                {"day": d1, "type": "transcription_completed", "count": 20},
                {"day": d0, "type": "app_launched", "count": 2},
                {"day": d0, "type": "transcription_completed", "count": 10},
            ],
            "app_versions": [
                {"app_version": "0.2.0-rc.1+build_5", "count": 20},
                {"app_version": "0.1.0", "count": 14},
            ],
            "os": [
                {"os": "macos", "os_version": "14.5", "count": 20},
                {"os": "linux", "os_version": "12", "count": 11},
                {"os": "windows", "os_version": "10.0.22631", "count": 3},
            ],
            "transcriptions": [
                {"model": "base.en", "gpu": false, "count": 10,
                 "median_real_time_factor": 0.5, "p95_real_time_factor": 1.0},
                {"model": "tiny.en-q8_0", "gpu": true, "count": 20,
                 "median_real_time_factor": 0.1, "p95_real_time_factor": 0.19},
            ],
        })
    );

    // Two days: today and yesterday, so the download two days ago is out.
    let two = stats(&agent, &base, 2);
    assert_eq!(two["since"], d1);
    assert_eq!(two["total_events"], 33);
    assert_eq!(two["events_per_day"].as_array().unwrap().len(), 4);
    // The default is 30 days.
    let default = get(&agent, &format!("{base}/v1/stats")).json();
    assert_eq!(
        (default["days"].clone(), default["total_events"].clone()),
        (json!(30), json!(34))
    );

    for bad in ["0", "366", "abc", "-1", "2.5", ""] {
        let reply = get(&agent, &format!("{base}/v1/stats?days={bad}"));
        assert_eq!(reply.status, 400, "days={bad}: {reply:?}");
        assert!(reply.error().contains("days must be"), "{reply:?}");
    }
    collector.shutdown().unwrap();
}

#[test]
fn the_dashboard_shows_the_figures_and_only_its_own_markup() {
    let dir = tempfile::tempdir().unwrap();
    let collector = start_with_known_events(dir.path());
    let base = base_url(&collector);
    let reply = get(&agent(), &format!("{base}/?days=3"));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.content_type, "text/html");
    let page = reply.body;
    let d0 = &hour(0, 0)[..10];

    for expected in [
        "34 events in the last 3 days".to_owned(),
        "<tr><td>base.en</td><td>CPU</td><td class=\"n\">10</td>\
         <td class=\"n\">0.50</td><td class=\"n\">1.00</td></tr>"
            .to_owned(),
        "<tr><td>tiny.en-q8_0</td><td>GPU</td><td class=\"n\">20</td>\
         <td class=\"n\">0.10</td><td class=\"n\">0.19</td></tr>"
            .to_owned(),
        "<tr><th>day (UTC)</th><th>app_launched</th><th>model_downloaded</th>\
         <th>transcription_completed</th></tr>"
            .to_owned(),
        format!(
            "<tr><td>{d0}</td><td class=\"n\">2</td><td class=\"n\">0</td>\
             <td class=\"n\">10</td></tr>"
        ),
        "<tr><td>0.2.0-rc.1+build_5</td><td class=\"n\">20</td></tr>".to_owned(),
        "<tr><td>windows</td><td>10.0.22631</td><td class=\"n\">3</td></tr>".to_owned(),
    ] {
        assert!(page.contains(&expected), "missing {expected}\n{page}");
    }

    // Every tag on the page is one the dashboard writes itself.
    let allowed = [
        "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "form",
        "label", "input", "button", "table", "tr", "th", "td",
    ];
    for tag in page.split('<').skip(1) {
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
            .collect();
        assert!(
            allowed.contains(&name.as_str()),
            "unexpected <{name}> in\n{page}"
        );
    }
    assert_eq!(get(&agent(), &format!("{base}/?days=0")).status, 400);
    collector.shutdown().unwrap();
}

#[test]
fn events_older_than_the_retention_are_purged_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.retention_days = 2;
    let collector = RunningCollector::start(config.clone()).unwrap();
    let base = base_url(&collector);
    let agent = agent();
    // Five days old is still accepted (the schema allows 31), and stored
    // until the next purge.
    let old_and_new = batch(
        1,
        vec![
            event(&hour(5, 12), launched()),
            event(&hour(0, 0), launched()),
        ],
    );
    assert_eq!(
        post(&agent, &base, &old_and_new).json(),
        json!({"stored": 2})
    );
    assert_eq!(total_events(&agent, &base), 2);
    collector.shutdown().unwrap();

    let collector = RunningCollector::start(config).unwrap();
    let base = base_url(&collector);
    let stats = stats(&agent, &base, 365);
    assert_eq!(stats["total_events"], 1);
    assert_eq!(stats["events_per_day"][0]["day"], &hour(0, 0)[..10]);
    // The batch id outlives the events: a late retry is still a duplicate.
    assert_eq!(post(&agent, &base, &old_and_new).json()["duplicate"], true);
    collector.shutdown().unwrap();
    let db = database(dir.path());
    assert_eq!(count_rows(&db, "events"), 1);
    assert_eq!(count_rows(&db, "batches"), 1);
}
