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

/// The samples of a 16-bit PCM mono WAV file (the JFK clip and the
/// espeak-ng sentences are), as f32 in -1..1, for tests that cannot link
/// the core library's decoder. Panics on anything else.
pub fn pcm16_mono_wav(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert!(
        bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE",
        "{} is not a WAV file",
        path.display()
    );
    let mut at = 12;
    let mut format = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]])
            as usize;
        let body = &bytes[at + 8..(at + 8 + len).min(bytes.len())];
        if id == b"fmt " {
            let tag = u16::from_le_bytes([body[0], body[1]]);
            let channels = u16::from_le_bytes([body[2], body[3]]);
            let bits = u16::from_le_bytes([body[14], body[15]]);
            format = Some((tag, channels, bits));
        } else if id == b"data" {
            assert_eq!(
                format,
                Some((1, 1, 16)),
                "{} is not 16-bit PCM mono",
                path.display()
            );
            return body
                .chunks_exact(2)
                .map(|s| f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0)
                .collect();
        }
        at += 8 + len + (len & 1);
    }
    panic!("{} has no data chunk", path.display())
}
