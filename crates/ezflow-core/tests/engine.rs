//! The engine on the real whisper.cpp with the real tiny.en model (imported
//! by our importer): accuracy on real and synthetic speech, silence, trimming
//! offsets, state reuse, and every bad model or language.

#[path = "support/assets.rs"]
mod assets;

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use assets::{asset, jfk, sentence, tiny_en, word_error_rate, JFK_TEXT};
use ezflow_core::audio;
use ezflow_core::engine::{DecodeOptions, EncoderWindow, EngineError, LoadedModel};
use ezflow_core::settings::Language;

/// One loaded model shared by the tests of this file (loading is the slow
/// part; whisper's state is reused across clips, as in the app).
fn model() -> std::sync::MutexGuard<'static, LoadedModel> {
    static MODEL: OnceLock<Mutex<LoadedModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| Mutex::new(LoadedModel::load(&tiny_en()).expect("tiny.en loads")))
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn options() -> DecodeOptions {
    DecodeOptions {
        language: Language::AUTO,
        threads: 2,
        window: EncoderWindow::Fitted,
    }
}

fn transcribe(path: &Path, options: &DecodeOptions) -> ezflow_core::engine::Transcript {
    let clip = audio::load_clip(path).expect("clip decodes");
    model()
        .transcribe(clip.samples(), options)
        .expect("transcribes")
}

#[test]
fn jfk_clip_is_transcribed_word_for_word() {
    let t = transcribe(&jfk(), &options());
    assert_eq!(word_error_rate(JFK_TEXT, &t.text), 0.0, "got: {}", t.text);
    assert_eq!(t.language.as_deref(), Some("en"));
    assert!(!t.report.fell_back_to_full_window);
    assert!(
        t.report.audio_ctx < 1500,
        "an 11 s clip needs less than the full window"
    );
    // Segments are in order, inside the clip, and make up the text.
    let mut last_end = 0.0;
    for s in &t.segments {
        assert!(
            s.start.as_secs_f64() >= last_end - 0.01 && s.end >= s.start,
            "{s:?}"
        );
        assert!(s.end.as_secs_f64() <= 11.1, "{s:?}");
        last_end = s.end.as_secs_f64();
    }
    let joined: Vec<&str> = t.segments.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(joined.join(" "), t.text);
}

#[test]
fn synthetic_sentences_are_transcribed_accurately() {
    let mut total = 0.0;
    let names = ["schedule", "note", "letter"];
    for name in names {
        let (audio, text) = sentence(name);
        let t = transcribe(&audio, &options());
        let wer = word_error_rate(&text, &t.text);
        assert!(
            wer <= 0.15,
            "{name}: WER {wer:.2}: {:?} vs {text:?}",
            t.text
        );
        total += wer;
    }
    assert!(
        total / names.len() as f64 <= 0.08,
        "mean WER {}",
        total / 3.0
    );
}

/// The short-window guards keep 1-2 s clips as accurate as the full window.
#[test]
fn short_clips_are_as_accurate_as_the_full_window() {
    let mut clips: Vec<String> = ["jfk_a", "jfk_b", "jfk_c", "jfk_d"]
        .iter()
        .map(|n| format!("jfk-clips/{n}"))
        .collect();
    clips.extend(
        [
            "short_works",
            "short_call",
            "short_thanks",
            "short_noon",
            "short_done",
            "short_send",
            "short_good",
            "short_lunch",
        ]
        .iter()
        .map(|n| format!("audio/{n}")),
    );
    let full = DecodeOptions {
        window: EncoderWindow::Full,
        ..options()
    };
    let (mut fitted_errors, mut full_errors) = (0.0, 0.0);
    for clip in &clips {
        let audio = asset(&format!("{clip}.wav"));
        let text = std::fs::read_to_string(asset(&format!("{clip}.txt"))).expect("reference");
        let fitted = transcribe(&audio, &options());
        let reference = transcribe(&audio, &full);
        assert_eq!(reference.report.audio_ctx, 1500);
        let (a, b) = (
            word_error_rate(&text, &fitted.text),
            word_error_rate(&text, &reference.text),
        );
        eprintln!(
            "{clip}: fitted {a:.2} {:?} | full {b:.2} {:?}",
            fitted.text, reference.text
        );
        fitted_errors += a;
        full_errors += b;
    }
    let n = clips.len() as f64;
    assert!(
        fitted_errors / n <= full_errors / n + 0.02,
        "fitted window mean WER {:.3} vs full window {:.3}",
        fitted_errors / n,
        full_errors / n
    );
}

#[test]
fn silence_gives_an_empty_transcript() {
    for name in ["audio/silence_3s.wav", "audio/room_tone_3s.wav"] {
        let t = transcribe(&asset(name), &options());
        assert_eq!(t.text, "", "{name}");
        assert!(t.segments.is_empty(), "{name}");
        assert_eq!(t.report.speech_seconds, None, "{name}");
    }
    // Not a single sample: still no text, no error.
    let t = model().transcribe(&[], &options()).expect("empty clip");
    assert_eq!(t.text, "");
}

#[test]
fn leading_silence_is_trimmed_and_timestamps_stay_on_the_clip() {
    let padded = transcribe(&asset("audio/schedule_padded.wav"), &options());
    let (_, text) = sentence("schedule");
    assert!(
        word_error_rate(&text, &padded.text) <= 0.15,
        "{}",
        padded.text
    );
    let speech = padded.report.speech_seconds.expect("speech found");
    assert!(
        speech < 4.0,
        "the 1.5 s pads were trimmed: {speech} s decoded"
    );
    let first = padded.segments.first().expect("a segment");
    // Speech starts at 1.5 s in the file; the segment time is on the file's
    // clock, not the trimmed clip's.
    assert!(
        (1.0..=1.8).contains(&first.start.as_secs_f64()),
        "first segment starts at {:?}",
        first.start
    );
}

#[test]
fn every_format_gives_the_same_words() {
    let (_, text) = sentence("schedule");
    for name in [
        "schedule_44k1_stereo.flac",
        "schedule_48k_stereo.mp3",
        "schedule_22k05.ogg",
        "schedule_48k_s24.wav",
        "schedule_16k_3ch.wav",
    ] {
        let t = transcribe(&asset(&format!("audio/{name}")), &options());
        assert!(
            word_error_rate(&text, &t.text) <= 0.15,
            "{name}: {:?}",
            t.text
        );
    }
}

#[test]
fn the_state_is_reused_without_growing_memory() {
    let clip = audio::load_clip(&asset("audio/schedule.wav")).expect("clip");
    let mut model = model();
    let first = model.transcribe(clip.samples(), &options()).expect("first");
    let before = ezflow_core::memory::current().expect("memory readable");
    for _ in 0..5 {
        let again = model.transcribe(clip.samples(), &options()).expect("again");
        assert_eq!(again.text, first.text, "same clip, same state, same text");
    }
    let after = ezflow_core::memory::current().expect("memory readable");
    let grown = after.rss.saturating_sub(before.rss);
    assert!(
        grown < 8 * 1024 * 1024,
        "5 more transcriptions grew RSS by {} KiB",
        grown / 1024
    );
}

#[test]
fn an_english_only_model_refuses_another_language() {
    let clip = audio::load_clip(&asset("audio/schedule.wav")).expect("clip");
    let german = DecodeOptions {
        language: "de".parse().expect("de is a language"),
        ..options()
    };
    match model().transcribe(clip.samples(), &german) {
        Err(EngineError::EnglishOnlyModel { language, .. }) => assert_eq!(language, "de"),
        other => panic!("expected EnglishOnlyModel, got {other:?}"),
    }
    let english = DecodeOptions {
        language: "en".parse().expect("en"),
        ..options()
    };
    assert!(model().transcribe(clip.samples(), &english).is_ok());
}

#[test]
fn bad_model_files_are_reported_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");

    let missing = dir.path().join("ggml-nothing.bin");
    match LoadedModel::load(&missing) {
        Err(e @ EngineError::ModelMissing { .. }) => {
            assert!(e.to_string().contains("ggml-nothing.bin"), "{e}")
        }
        other => panic!("expected ModelMissing, got {other:?}"),
    }

    let truncated = dir.path().join("ggml-truncated.bin");
    let bytes = std::fs::read(tiny_en()).expect("model bytes");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    match LoadedModel::load(&truncated) {
        Err(e @ EngineError::InvalidModel(_)) => {
            let message = e.to_string();
            assert!(message.contains("ggml-truncated.bin"), "{message}");
        }
        other => panic!("expected InvalidModel for a truncated file, got {other:?}"),
    }

    let garbage = dir.path().join("ggml-garbage.bin");
    std::fs::write(&garbage, b"this is not a whisper model at all, just text").expect("write");
    assert!(matches!(
        LoadedModel::load(&garbage),
        Err(EngineError::InvalidModel(_))
    ));

    let audio_as_model = asset("audio/schedule.wav");
    assert!(matches!(
        LoadedModel::load(&audio_as_model),
        Err(EngineError::InvalidModel(_))
    ));
}
