//! Test assets made by `scripts/fetch-test-assets.sh` into
//! `target/test-assets` (or `$EZFLOW_TEST_ASSETS`): the real tiny.en model
//! imported to GGML by our own importer, the JFK clip, and labelled clips —
//! a `STEM.wav` with its words in `STEM.txt` (espeak-ng sentences, cuts of
//! the JFK clip).

use std::path::{Path, PathBuf};

/// The variable that points the tests at another assets directory.
pub const ASSETS_ENV: &str = "EZFLOW_TEST_ASSETS";

/// `target/test-assets`, or `$EZFLOW_TEST_ASSETS`.
pub fn assets_dir() -> PathBuf {
    std::env::var_os(ASSETS_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/test-assets"
            ))
        })
}

/// A file under the assets directory; fails the test with the fix when it is
/// missing.
pub fn asset(relative: &str) -> PathBuf {
    let path = assets_dir().join(relative);
    assert!(
        path.exists(),
        "test asset {} is missing: run scripts/fetch-test-assets.sh",
        path.display()
    );
    path
}

/// The tiny.en model, imported to GGML by our own importer.
pub fn tiny_en() -> PathBuf {
    asset("ggml-tiny.en.bin")
}

/// The 11 s JFK "ask not" clip (16 kHz mono).
pub fn jfk() -> PathBuf {
    asset("jfk.wav")
}

/// What is said in [`jfk`].
pub const JFK_TEXT: &str = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

/// A labelled espeak-ng sentence, `audio/NAME`: (audio path, reference text).
pub fn sentence(name: &str) -> (PathBuf, String) {
    labelled(&format!("audio/{name}"))
}

/// A labelled clip among the assets, `STEM.wav` with its words in
/// `STEM.txt`: (audio path, reference text).
pub fn labelled(stem: &str) -> (PathBuf, String) {
    let audio = asset(&format!("{stem}.wav"));
    let text = reference_text(&audio).unwrap_or_else(|e| panic!("reading the text of {stem}: {e}"));
    (audio, text)
}

/// The reference text of a labelled clip anywhere: the `.txt` beside the
/// audio file, trimmed.
pub fn reference_text(audio: &Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(audio.with_extension("txt"))?;
    Ok(text.trim().to_owned())
}
