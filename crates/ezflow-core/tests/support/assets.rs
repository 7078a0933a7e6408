//! Test assets made by `scripts/fetch-test-assets.sh` (the real tiny.en
//! model, the JFK clip, labelled espeak-ng speech), and word-level scoring of
//! transcripts against their reference text.
//!
//! Included by test files with `#[path = "support/assets.rs"] mod assets;`.
#![allow(dead_code)]

use std::path::PathBuf;

/// `target/test-assets`, or `$EZFLOW_TEST_ASSETS`.
pub fn assets_dir() -> PathBuf {
    std::env::var_os("EZFLOW_TEST_ASSETS")
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

/// The 11 s JFK "ask not" clip.
pub fn jfk() -> PathBuf {
    asset("jfk.wav")
}

pub const JFK_TEXT: &str = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";

/// A labelled espeak-ng sentence: (audio path, reference text).
pub fn sentence(name: &str) -> (PathBuf, String) {
    labelled(&format!("audio/{name}"))
}

/// A labelled clip among the assets, `STEM.wav` with its words in
/// `STEM.txt`: (audio path, reference text).
pub fn labelled(stem: &str) -> (PathBuf, String) {
    let audio = asset(&format!("{stem}.wav"));
    let text = std::fs::read_to_string(asset(&format!("{stem}.txt")))
        .unwrap_or_else(|e| panic!("reading the text of {stem}: {e}"));
    (audio, text.trim().to_owned())
}

/// Lower case, punctuation removed, numbers as words for the few that occur
/// in our sentences, single spaces.
pub fn normalize(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| c.is_whitespace() || c == '-')
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .map(|w| match w.as_str() {
            "1" => "one".to_owned(),
            "2" => "two".to_owned(),
            "3" => "three".to_owned(),
            "4" => "four".to_owned(),
            "5" => "five".to_owned(),
            _ => w,
        })
        .collect()
}

/// Word error rate: word-level edit distance over the reference length.
pub fn word_error_rate(reference: &str, hypothesis: &str) -> f64 {
    let r = normalize(reference);
    let h = normalize(hypothesis);
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    let mut previous: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut current = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            let substitution = previous[j] + usize::from(rw != hw);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[h.len()] as f64 / r.len() as f64
}

#[test]
fn word_error_rate_counts_edits() {
    assert_eq!(word_error_rate("a b c d", "a b c d"), 0.0);
    assert_eq!(word_error_rate("a b c d", "a x c d"), 0.25);
    assert_eq!(word_error_rate("a b c d", "a c d"), 0.25);
    assert_eq!(word_error_rate("a b c d", "a b c d e f"), 0.5);
    assert_eq!(word_error_rate("Hello, World!", "hello world"), 0.0);
}
