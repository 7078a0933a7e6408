//! The engine's stage spans on the real whisper.cpp with the real tiny.en
//! model: every stage of a transcription runs in a span that records its
//! duration, and the spans add up to the reported timings.
//!
//! One test in its own binary: run beside the engine tests (other threads of
//! one process, without a subscriber), this test's own subscriber missed the
//! encode and decode spans, although they were there when it ran alone. A
//! callsite's interest is cached for all threads; which thread meets it
//! first decides it, not the engine.

use ezflow_core::audio;
use ezflow_core::engine::{DecodeOptions, LoadedModel};
use ezflow_testbed::assets::{asset, tiny_en};

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
    let options = DecodeOptions {
        threads: 2,
        ..DecodeOptions::default()
    };
    let t = tracing::subscriber::with_default(log.clone(), || {
        LoadedModel::load(&tiny_en())
            .expect("tiny.en loads")
            .transcribe(clip.samples(), &options)
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
