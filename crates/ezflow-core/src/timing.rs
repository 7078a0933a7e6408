//! Timing one stage of a dictation: runs it inside its `tracing` span and
//! records how long it took as the span's `duration_ms` field, so the log
//! and the slow-operation warning see the same figure the caller gets back.

use std::time::{Duration, Instant};

use tracing::Span;

/// Runs `f` inside `span`, records how long it took as the span's
/// `duration_ms` field (the span must declare it), and returns both.
pub(crate) fn timed<T>(span: Span, f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let value = span.in_scope(f);
    let took = started.elapsed();
    span.record("duration_ms", millis(took));
    (value, took)
}

/// Milliseconds, to the microsecond.
pub(crate) fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}
