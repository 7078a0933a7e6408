//! The model lifecycle on the real engine and model: lazy load,
//! single-flight, idle unload with the one-shot deadline, the "never" and
//! "immediately" policies, explicit unload, model change, and load failure.
//! Waits are blocking receives on the event channel with a generous upper
//! bound, never sleeps in a loop.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use ezflow_core::audio;
use ezflow_core::engine::{DecodeOptions, EncoderWindow};
use ezflow_core::lifecycle::{
    LifecycleError, LifecycleEvent, ModelManager, ModelState, UnloadPolicy, UnloadReason,
};
use ezflow_testbed::assets::{asset, tiny_en};
use ezflow_testbed::wer::word_error_rate;

const PATIENCE: Duration = Duration::from_secs(30);

fn options() -> DecodeOptions {
    DecodeOptions {
        language: None,
        threads: 1,
        window: EncoderWindow::Fitted,
        ..DecodeOptions::default()
    }
}

fn clip() -> Vec<f32> {
    audio::load_clip(&asset("audio/schedule.wav"))
        .expect("clip")
        .into_samples()
}

const SCHEDULE: &str = "Please schedule the meeting for Tuesday afternoon.";

fn drain(events: &Receiver<LifecycleEvent>) -> Vec<LifecycleEvent> {
    events.try_iter().collect()
}

fn wait_for_unload(events: &Receiver<LifecycleEvent>) -> UnloadReason {
    loop {
        match events.recv_timeout(PATIENCE) {
            Ok(LifecycleEvent::Unloaded { reason, .. }) => return reason,
            Ok(_) => continue,
            Err(e) => panic!("no Unloaded event within {PATIENCE:?}: {e}"),
        }
    }
}

/// `racers` threads released at once by a barrier, each asking for a
/// transcription; their results in spawn order.
fn race(
    manager: &Arc<ModelManager>,
    samples: &Arc<Vec<f32>>,
    racers: usize,
) -> Vec<Result<String, LifecycleError>> {
    let barrier = Arc::new(Barrier::new(racers));
    // Spawn them all before joining any: a lazy spawn-then-join would leave
    // the barrier waiting forever.
    let handles: Vec<_> = (0..racers)
        .map(|_| {
            let (manager, samples, barrier) = (
                Arc::clone(manager),
                Arc::clone(samples),
                Arc::clone(&barrier),
            );
            std::thread::spawn(move || {
                barrier.wait();
                manager.transcribe(&samples, &options()).map(|t| t.text)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("racer thread"))
        .collect()
}

#[test]
fn the_model_loads_on_first_use_not_before() {
    let manager = ModelManager::new(tiny_en(), UnloadPolicy::Never);
    let events = manager.subscribe();
    assert!(!manager.is_loaded());
    let status = manager.status();
    assert_eq!(status.state, ModelState::Unloaded);
    assert_eq!(status.loads, 0);
    assert!(
        drain(&events).is_empty(),
        "nothing happens before a request"
    );

    let t = manager
        .transcribe(&clip(), &options())
        .expect("transcribes");
    assert!(word_error_rate(SCHEDULE, &t.text) <= 0.15, "{}", t.text);
    assert!(manager.is_loaded());
    assert_eq!(manager.status().loads, 1);
    let seen = drain(&events);
    assert!(
        matches!(seen[0], LifecycleEvent::LoadStarted { .. }),
        "{seen:?}"
    );
    assert!(matches!(seen[1], LifecycleEvent::Loaded { .. }), "{seen:?}");
    assert_eq!(seen.len(), 2, "{seen:?}");

    // A second request reuses the loaded model.
    manager.transcribe(&clip(), &options()).expect("again");
    assert_eq!(manager.status().loads, 1);
    assert!(drain(&events).is_empty());
}

#[test]
fn concurrent_first_requests_share_one_load() {
    let manager = Arc::new(ModelManager::new(tiny_en(), UnloadPolicy::Never));
    let events = manager.subscribe();
    let samples = Arc::new(clip());
    let texts: Vec<String> = race(&manager, &samples, 4)
        .into_iter()
        .map(|r| r.expect("transcribes"))
        .collect();
    assert_eq!(manager.status().loads, 1, "exactly one load");
    let starts = drain(&events)
        .into_iter()
        .filter(|e| matches!(e, LifecycleEvent::LoadStarted { .. }))
        .count();
    assert_eq!(starts, 1);
    assert!(texts.iter().all(|t| t == &texts[0]), "{texts:?}");
}

#[test]
fn an_idle_model_is_unloaded_after_the_timeout_and_reloads_transparently() {
    let manager = ModelManager::new(tiny_en(), UnloadPolicy::After(Duration::from_millis(300)));
    let events = manager.subscribe();
    let first = manager.transcribe(&clip(), &options()).expect("first");
    assert_eq!(wait_for_unload(&events), UnloadReason::Idle);
    assert!(!manager.is_loaded());
    assert_eq!(manager.status().state, ModelState::Unloaded);

    let second = manager
        .transcribe(&clip(), &options())
        .expect("after unload");
    assert_eq!(second.text, first.text);
    assert_eq!(manager.status().loads, 2, "reloaded once");
    assert_eq!(wait_for_unload(&events), UnloadReason::Idle);
}

#[test]
fn each_use_pushes_the_idle_deadline_back() {
    let manager = ModelManager::new(tiny_en(), UnloadPolicy::After(Duration::from_secs(2)));
    let events = manager.subscribe();
    let samples = clip();
    manager.transcribe(&samples, &options()).expect("first");
    // Uses in quick succession, each well inside the 2 s deadline, keep the
    // model loaded: one load for all of them.
    for _ in 0..3 {
        manager.transcribe(&samples, &options()).expect("again");
    }
    assert_eq!(manager.status().loads, 1);
    assert_eq!(wait_for_unload(&events), UnloadReason::Idle);
}

#[test]
fn never_keeps_the_model_and_immediately_drops_it_after_each_use() {
    let never = ModelManager::new(tiny_en(), UnloadPolicy::Never);
    let events = never.subscribe();
    never.transcribe(&clip(), &options()).expect("transcribes");
    match events.recv_timeout(Duration::from_secs(2)) {
        Err(RecvTimeoutError::Timeout) => {}
        other => {
            let rest = drain(&events);
            assert!(
                !rest
                    .iter()
                    .chain(other.as_ref().ok())
                    .any(|e| matches!(e, LifecycleEvent::Unloaded { .. })),
                "never must not unload: {other:?} {rest:?}"
            );
        }
    }
    assert!(never.is_loaded());

    let immediately = ModelManager::new(tiny_en(), UnloadPolicy::Immediately);
    let events = immediately.subscribe();
    immediately
        .transcribe(&clip(), &options())
        .expect("transcribes");
    // Unloaded before transcribe() returned: the event is already queued.
    assert!(!immediately.is_loaded());
    let seen = drain(&events);
    assert!(
        matches!(
            seen.last(),
            Some(LifecycleEvent::Unloaded {
                reason: UnloadReason::Idle,
                ..
            })
        ),
        "{seen:?}"
    );
    immediately
        .transcribe(&clip(), &options())
        .expect("reloads");
    assert_eq!(immediately.status().loads, 2);
}

#[test]
fn changing_the_policy_retimes_an_idle_model() {
    let manager = ModelManager::new(tiny_en(), UnloadPolicy::Never);
    let events = manager.subscribe();
    manager
        .transcribe(&clip(), &options())
        .expect("transcribes");
    assert!(manager.is_loaded());
    manager.set_unload_policy(UnloadPolicy::After(Duration::from_millis(200)));
    assert_eq!(wait_for_unload(&events), UnloadReason::Idle);
}

#[test]
fn unload_on_request_and_on_model_change() {
    let manager = ModelManager::new(tiny_en(), UnloadPolicy::Never);
    let events = manager.subscribe();
    manager
        .transcribe(&clip(), &options())
        .expect("transcribes");
    manager.unload();
    assert!(!manager.is_loaded());
    assert_eq!(wait_for_unload(&events), UnloadReason::Requested);

    manager.transcribe(&clip(), &options()).expect("reloads");
    // The same model under another path (a copy) counts as another model.
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("ggml-copy.bin");
    std::fs::copy(tiny_en(), &copy).expect("copy");
    manager.set_model(copy.clone());
    assert_eq!(wait_for_unload(&events), UnloadReason::ModelChanged);
    manager
        .transcribe(&clip(), &options())
        .expect("loads the new file");
    assert_eq!(manager.status().model, copy);
    assert_eq!(manager.status().loads, 3);
}

#[test]
fn preload_loads_in_the_background_once() {
    let manager = ModelManager::new(tiny_en(), UnloadPolicy::Never);
    let events = manager.subscribe();
    manager.preload();
    manager.preload();
    loop {
        match events.recv_timeout(PATIENCE) {
            Ok(LifecycleEvent::Loaded { .. }) => break,
            Ok(_) => continue,
            Err(e) => panic!("preload did not finish: {e}"),
        }
    }
    manager
        .transcribe(&clip(), &options())
        .expect("uses the preloaded model");
    assert_eq!(manager.status().loads, 1);
}

#[test]
fn a_failed_load_is_reported_to_every_waiter_and_retried_later() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("ggml-broken.bin");
    let bytes = std::fs::read(tiny_en()).expect("model");
    std::fs::write(&broken, &bytes[..4096]).expect("write");

    let manager = Arc::new(ModelManager::new(broken.clone(), UnloadPolicy::Never));
    let events = manager.subscribe();
    let samples = Arc::new(clip());
    let results = race(&manager, &samples, 3);
    for r in &results {
        match r {
            Err(LifecycleError::Load(e)) => {
                assert!(e.to_string().contains("ggml-broken.bin"), "{e}")
            }
            other => panic!("expected a load error, got {other:?}"),
        }
    }
    // Racers that arrived during the failed load share it; one that arrived
    // after it may try again. Never one load each without need.
    assert!(manager.status().loads <= 3);
    let failures = drain(&events)
        .into_iter()
        .filter(|e| matches!(e, LifecycleEvent::LoadFailed { .. }))
        .count();
    assert_eq!(failures as u64, manager.status().loads);

    // Fix the file: the next request loads it.
    std::fs::copy(tiny_en(), &broken).expect("repair");
    manager
        .transcribe(&samples, &options())
        .expect("loads after repair");
    assert!(manager.is_loaded());
}
