//! Memory after unload returns to within a bounded margin of before load,
//! and repeated load/unload cycles do not accumulate. One test in its own
//! binary so no other test's allocations move the figures.

use ezflow_core::audio;
use ezflow_core::engine::{DecodeOptions, EncoderWindow};
use ezflow_core::lifecycle::{ModelManager, UnloadPolicy};
use ezflow_core::memory;
use ezflow_testbed::assets::{asset, tiny_en};

const MIB: u64 = 1024 * 1024;

#[test]
fn unloading_gives_the_memory_back() {
    let samples = audio::load_clip(&asset("audio/schedule.wav"))
        .expect("clip")
        .into_samples();
    let options = DecodeOptions {
        language: None,
        threads: 2,
        window: EncoderWindow::Fitted,
    };
    let manager = ModelManager::new(tiny_en(), UnloadPolicy::Never);
    let before = memory::current().expect("smaps_rollup readable");

    let mut after_unload = Vec::new();
    for cycle in 0..3 {
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
    // No creep across cycles.
    assert!(
        after_unload[2] < after_unload[0] + 4 * MIB,
        "RSS after unload grew from {} to {} MiB over 3 cycles",
        after_unload[0] / MIB,
        after_unload[2] / MIB
    );
}
