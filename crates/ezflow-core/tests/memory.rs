//! Memory after unload returns to within a bounded margin of before load,
//! and repeated load/unload cycles do not accumulate. One test in its own
//! binary so no other test's allocations move the figures, and without the
//! test harness (`harness = false`): its `main` sets the heap up first
//! thing, before any thread exists, as `ezflow`'s own `main` does.

use ezflow_core::audio;
use ezflow_core::engine::{DecodeOptions, EncoderWindow};
use ezflow_core::lifecycle::{ModelManager, UnloadPolicy};
use ezflow_core::memory;
use ezflow_testbed::assets::{asset, tiny_en};

const MIB: u64 = 1024 * 1024;

fn main() {
    memory::use_one_heap_arena();
    unloading_gives_the_memory_back();
    println!("test unloading_gives_the_memory_back ... ok");
}

fn unloading_gives_the_memory_back() {
    let samples = audio::load_clip(&asset("audio/schedule.wav"))
        .expect("clip")
        .into_samples();
    let options = DecodeOptions {
        language: None,
        threads: 2,
        window: EncoderWindow::Fitted,
        ..DecodeOptions::default()
    };
    let manager = ModelManager::new(tiny_en(), UnloadPolicy::Never);
    let before = memory::current().expect("smaps_rollup readable");

    let mut after_unload = Vec::new();
    for cycle in 0..4 {
        manager.transcribe(&samples, &options).expect("transcribes");
        let loaded = memory::current().expect("memory");
        manager.unload();
        let unloaded = memory::current().expect("memory");
        eprintln!(
            "cycle {cycle}: before {} MiB, loaded {} MiB, unloaded {} MiB (RSS; PSS {} / {} / {})",
            before.rss / MIB,
            loaded.rss / MIB,
            unloaded.rss / MIB,
            before.pss / MIB,
            loaded.pss / MIB,
            unloaded.pss / MIB
        );
        // The model (74 MB of weights plus its state) really was in memory.
        assert!(
            loaded.rss > before.rss + 60 * MIB,
            "loaded model should add > 60 MiB"
        );
        // ...and is gone again, give or take whisper.cpp's small globals.
        assert!(
            unloaded.rss < before.rss + 16 * MIB,
            "after unload RSS is {} MiB above before load",
            (unloaded.rss.saturating_sub(before.rss)) / MIB
        );
        after_unload.push(unloaded.rss);
    }
    // No creep across cycles. It crept by a few MiB a cycle (9, 13, 15, 18)
    // while whisper.cpp's worker threads each found a heap arena of their
    // own; see `memory::use_one_heap_arena`.
    assert!(
        after_unload[3] < after_unload[0] + 4 * MIB,
        "RSS after unload grew from {} to {} MiB over 4 cycles",
        after_unload[0] / MIB,
        after_unload[3] / MIB
    );
}
