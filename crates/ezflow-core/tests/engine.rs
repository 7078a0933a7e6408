//! The engine on the real whisper.cpp with the real tiny.en model (imported
//! by our importer): accuracy on real and synthetic speech, silence, trimming
//! offsets, state reuse, and every bad model or language.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use ezflow_core::audio;
use ezflow_core::engine::{DecodeOptions, EncoderWindow, EngineError, LoadedModel};
use ezflow_testbed::assets::{asset, jfk, labelled, sentence, tiny_en, JFK_TEXT};
use ezflow_testbed::wer::word_error_rate;

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
        language: None,
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
        let (audio, text) = labelled(clip);
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
        language: Some("de"),
        ..options()
    };
    match model().transcribe(clip.samples(), &german) {
        Err(EngineError::EnglishOnlyModel { language, .. }) => assert_eq!(language, "de"),
        other => panic!("expected EnglishOnlyModel, got {other:?}"),
    }
    let english = DecodeOptions {
        language: Some("en"),
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

/// Plausible stage timings: every stage ran and took time, and the stages
/// inside whisper.cpp add up to (at most) the time spent in whisper.cpp.
fn assert_stage_timings_plausible(report: &ezflow_core::engine::DecodeReport, what: &str) {
    assert!(report.trim_ms > 0.0, "{what}: {report:?}");
    assert!(report.mel_ms > 0.0, "{what}: {report:?}");
    assert!(report.encode_ms > 0.0, "{what}: {report:?}");
    assert!(report.decode_ms > 0.0, "{what}: {report:?}");
    let inside = report.mel_ms + report.encode_ms + report.decode_ms;
    // `whisper_ms` is rounded down to whole milliseconds, the stages are not.
    let whisper_ms = report.whisper_ms as f64 + 1.0;
    assert!(
        report.encode_ms + report.decode_ms <= whisper_ms && inside <= whisper_ms,
        "{what}: stages add up to more than the time in whisper.cpp: {report:?}"
    );
    // The engine's own work around the passes is tiny: the stages account
    // for most of the time in whisper.cpp (with room for the test machine
    // pausing the thread between them).
    assert!(
        inside >= 0.75 * report.whisper_ms as f64,
        "{what}: the stages miss part of the time in whisper.cpp: {report:?}"
    );
}

#[test]
fn stage_timings_are_reported_and_serialised() {
    for clip in ["jfk-clips/jfk_c.wav", "audio/schedule.wav"] {
        let t = transcribe(&asset(clip), &options());
        assert!(!t.text.is_empty(), "{clip}");
        assert_stage_timings_plausible(&t.report, clip);
    }
    // The full window is one pass too. It runs on a model of its own: a
    // full-window pass may fall back to sampling at a higher temperature,
    // which draws from the state's random generator (whisper.cpp seeds it
    // once per state), and that would change what later full-window passes
    // on the shared model decode in other tests.
    let full = DecodeOptions {
        window: EncoderWindow::Full,
        ..options()
    };
    let clip = audio::load_clip(&asset("jfk-clips/jfk_b.wav")).expect("clip");
    let t = LoadedModel::load(&tiny_en())
        .expect("tiny.en loads")
        .transcribe(clip.samples(), &full)
        .expect("transcribes");
    assert_eq!(t.report.audio_ctx, 1500);
    assert_stage_timings_plausible(&t.report, "full window");

    // `ezflow transcribe --json` serialises the report as is.
    let json = serde_json::to_value(&t.report).expect("serialises");
    for field in ["trim_ms", "mel_ms", "encode_ms", "decode_ms", "whisper_ms"] {
        assert!(
            json[field].as_f64().is_some_and(|ms| ms > 0.0),
            "{field} missing or not positive in {json}"
        );
    }
}

#[test]
fn a_silent_clip_spends_nothing_in_whisper() {
    for name in ["audio/silence_3s.wav", "audio/room_tone_3s.wav"] {
        let t = transcribe(&asset(name), &options());
        let r = &t.report;
        assert_eq!(
            (r.mel_ms, r.encode_ms, r.decode_ms, r.whisper_ms),
            (0.0, 0.0, 0.0, 0),
            "{name}: {r:?}"
        );
        assert!(r.trim_ms > 0.0, "finding no speech in 3 s is timed: {r:?}");
    }
}

/// A `tracing` subscriber that keeps every span it is shown: name, parent
/// and the `duration_ms` it recorded. The engine's real spans are recorded;
/// nothing of the engine is replaced.
mod span_log {
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    #[derive(Debug, Clone)]
    pub struct SpanRecord {
        pub name: &'static str,
        /// Index of the parent span in the log.
        pub parent: Option<usize>,
        pub duration_ms: Option<f64>,
    }

    #[derive(Default)]
    struct Inner {
        spans: Vec<SpanRecord>,
        /// Entered spans, innermost last (one thread only).
        stack: Vec<usize>,
    }

    #[derive(Clone, Default)]
    pub struct SpanLog(Arc<Mutex<Inner>>);

    impl SpanLog {
        pub fn spans(&self) -> Vec<SpanRecord> {
            self.0.lock().unwrap().spans.clone()
        }
    }

    struct DurationField<'a>(&'a mut Option<f64>);

    impl Visit for DurationField<'_> {
        fn record_f64(&mut self, field: &Field, value: f64) {
            if field.name() == "duration_ms" {
                *self.0 = Some(value);
            }
        }
        fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
    }

    fn index(id: &Id) -> usize {
        id.into_u64() as usize - 1
    }

    impl Subscriber for SpanLog {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }

        fn new_span(&self, attributes: &Attributes<'_>) -> Id {
            let mut inner = self.0.lock().unwrap();
            let parent = match attributes.parent() {
                Some(id) => Some(index(id)),
                None if attributes.is_contextual() => inner.stack.last().copied(),
                None => None,
            };
            let mut duration_ms = None;
            attributes.record(&mut DurationField(&mut duration_ms));
            inner.spans.push(SpanRecord {
                name: attributes.metadata().name(),
                parent,
                duration_ms,
            });
            Id::from_u64(inner.spans.len() as u64)
        }

        fn record(&self, span: &Id, values: &Record<'_>) {
            let mut inner = self.0.lock().unwrap();
            let record = &mut inner.spans[index(span)];
            values.record(&mut DurationField(&mut record.duration_ms));
        }

        fn record_follows_from(&self, _: &Id, _: &Id) {}

        fn event(&self, _: &Event<'_>) {}

        fn enter(&self, span: &Id) {
            self.0.lock().unwrap().stack.push(index(span));
        }

        fn exit(&self, span: &Id) {
            let mut inner = self.0.lock().unwrap();
            let index = index(span);
            if let Some(at) = inner.stack.iter().rposition(|&s| s == index) {
                inner.stack.remove(at);
            }
        }
    }
}

#[test]
fn each_stage_runs_in_a_span_that_records_its_duration() {
    let clip = audio::load_clip(&asset("jfk-clips/jfk_d.wav")).expect("clip");
    let log = span_log::SpanLog::default();
    let t = tracing::subscriber::with_default(log.clone(), || {
        model().transcribe(clip.samples(), &options())
    })
    .expect("transcribes");
    let spans = log.spans();
    let children = |parent: usize, name: &str| -> Vec<(usize, f64)> {
        spans
            .iter()
            .enumerate()
            .filter(|(_, s)| s.parent == Some(parent) && s.name == name)
            .map(|(i, s)| {
                let ms = s
                    .duration_ms
                    .unwrap_or_else(|| panic!("span {name} recorded no duration_ms"));
                (i, ms)
            })
            .collect()
    };
    let roots: Vec<usize> = (0..spans.len())
        .filter(|&i| spans[i].name == "transcribe")
        .collect();
    assert_eq!(roots.len(), 1, "one transcribe span: {spans:?}");
    let root = roots[0];
    let total = spans[root]
        .duration_ms
        .expect("transcribe records its duration");
    assert!(
        total >= t.report.whisper_ms as f64,
        "{total} vs {:?}",
        t.report
    );

    let trim = children(root, "trim");
    assert_eq!(trim.len(), 1, "{spans:?}");
    assert_eq!(trim[0].1, t.report.trim_ms);

    let passes = children(root, "decode_pass");
    let expected_passes = if t.report.fell_back_to_full_window {
        2
    } else {
        1
    };
    assert_eq!(passes.len(), expected_passes, "{spans:?}");
    let (mut mel, mut encode, mut decode) = (0.0, 0.0, 0.0);
    for &(pass, pass_ms) in &passes {
        let stage = |name: &str| -> f64 {
            let found = children(pass, name);
            assert_eq!(found.len(), 1, "one {name} span per pass: {spans:?}");
            found[0].1
        };
        let (m, e, d) = (stage("mel"), stage("encode"), stage("decode"));
        assert!(m > 0.0 && e > 0.0 && d > 0.0, "{m} {e} {d}");
        assert!(m + e + d <= pass_ms + 0.01, "{m} + {e} + {d} > {pass_ms}");
        mel += m;
        encode += e;
        decode += d;
    }
    let close = |a: f64, b: f64| (a - b).abs() < 0.01;
    assert!(
        close(mel, t.report.mel_ms)
            && close(encode, t.report.encode_ms)
            && close(decode, t.report.decode_ms),
        "spans {mel} {encode} {decode} vs report {:?}",
        t.report
    );
}
