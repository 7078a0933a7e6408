//! The audio-thread side of a recording: where the device's buffers go.
//!
//! It owns the preallocated sample buffer, the conversion of any sample type
//! to `f32` mono at the device's rate, the max-duration cut-off, ending the
//! recording on a stream error, and calling the owner's `on_end` at most
//! once. It must not open or close devices, resample, block, or allocate
//! while the device delivers audio: the buffer is reserved before the stream
//! starts, and the one lock in it is only ever tried.

use std::collections::TryReserveError;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::EndReason;

/// What the owner is told when the recording ends by itself.
pub(super) type OnEnd = Box<dyn FnOnce(EndReason) + Send + 'static>;

/// State shared between the device callbacks and the [`Recording`](super::Recording).
///
/// While the stream runs only the callbacks touch `samples`; the owner reads
/// it after the stream (and so every callback) is gone.
pub(super) struct Sink {
    /// Mono samples at the device rate; capacity is `limit`, never exceeded.
    samples: Mutex<Vec<f32>>,
    /// The most frames the recording may hold (max duration at the device rate).
    limit: usize,
    /// Interleaved channels per frame in the device's buffers.
    channels: usize,
    /// Frames kept so far, readable without the lock.
    frames: AtomicUsize,
    /// Frames the device delivered that were not kept (past the limit, or the
    /// buffer was busy, which should never happen).
    discarded: AtomicUsize,
    /// Set once, by the first end (max duration or lost device).
    ended: AtomicBool,
    end: Mutex<Option<EndReason>>,
    on_end: Mutex<Option<OnEnd>>,
    /// The recording's span, for what the audio thread logs.
    span: tracing::Span,
}

impl Sink {
    /// Reserves room for `limit` mono frames up front, so the audio callback
    /// never allocates. Pages are only touched as audio arrives.
    pub(super) fn new(
        limit: usize,
        channels: u16,
        on_end: OnEnd,
        span: tracing::Span,
    ) -> Result<Sink, TryReserveError> {
        let mut samples = Vec::new();
        samples.try_reserve_exact(limit)?;
        Ok(Sink {
            samples: Mutex::new(samples),
            limit,
            channels: usize::from(channels.max(1)),
            frames: AtomicUsize::new(0),
            discarded: AtomicUsize::new(0),
            ended: AtomicBool::new(false),
            end: Mutex::new(None),
            on_end: Mutex::new(Some(on_end)),
            span,
        })
    }

    /// One buffer of interleaved samples from the device (the audio thread).
    pub(super) fn push<T>(&self, data: &[T])
    where
        T: cpal::Sample,
        f32: cpal::FromSample<T>,
    {
        let delivered = data.len() / self.channels;
        if self.ended.load(Ordering::Acquire) {
            self.discarded.fetch_add(delivered, Ordering::Relaxed);
            return;
        }
        // Never wait on the audio thread: the owner only locks after the
        // stream is closed, so this succeeds unless something is badly wrong.
        let Ok(mut samples) = self.samples.try_lock() else {
            self.discarded.fetch_add(delivered, Ordering::Relaxed);
            return;
        };
        let room = self.limit - samples.len();
        let kept = delivered.min(room);
        if self.channels == 1 {
            samples.extend(data[..kept].iter().map(|&s| finite_or_zero(s.to_sample())));
        } else {
            let scale = 1.0 / self.channels as f32;
            samples.extend(data.chunks_exact(self.channels).take(kept).map(|frame| {
                frame
                    .iter()
                    .map(|&s| finite_or_zero(s.to_sample()))
                    .sum::<f32>()
                    * scale
            }));
        }
        let full = samples.len() >= self.limit;
        self.frames.store(samples.len(), Ordering::Release);
        drop(samples);
        if kept < delivered {
            self.discarded
                .fetch_add(delivered - kept, Ordering::Relaxed);
        }
        if full {
            self.finish(EndReason::MaxDuration);
        }
    }

    /// An error reported by the stream (the audio side) ends the recording
    /// as [`EndReason::DeviceLost`]; the audio from before it is kept.
    ///
    /// Overruns do not come here on ALSA (cpal recovers them itself), and
    /// what does come (an unplugged device, a failed read) means the stream
    /// cannot be trusted any more: later audio could have gaps the user never
    /// hears about. Later errors are ignored.
    pub(super) fn error(&self, error: cpal::StreamError) {
        if self.ended.load(Ordering::Acquire) {
            return;
        }
        let reason = match error {
            cpal::StreamError::BackendSpecific { err } => err.description,
            cpal::StreamError::DeviceNotAvailable => {
                "the device is no longer available (unplugged?)".to_owned()
            }
        };
        self.span
            .in_scope(|| tracing::warn!(%reason, "microphone stream failed"));
        self.finish(EndReason::DeviceLost(reason));
    }

    /// Ends the recording once: records why and calls `on_end`.
    fn finish(&self, reason: EndReason) {
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        self.span.in_scope(|| {
            tracing::info!(?reason, frames = self.frames(), "recording ended by itself")
        });
        *lock(&self.end) = Some(reason.clone());
        let on_end = lock(&self.on_end).take();
        if let Some(on_end) = on_end {
            on_end(reason);
        }
    }

    /// Frames kept so far.
    pub(super) fn frames(&self) -> usize {
        self.frames.load(Ordering::Acquire)
    }

    /// Frames delivered but not kept.
    pub(super) fn discarded(&self) -> usize {
        self.discarded.load(Ordering::Relaxed)
    }

    /// Why the recording ended by itself, if it did.
    pub(super) fn end_reason(&self) -> Option<EndReason> {
        lock(&self.end).clone()
    }

    /// Takes the samples; call only once the stream is closed.
    pub(super) fn take_samples(&self) -> Vec<f32> {
        std::mem::take(&mut *lock(&self.samples))
    }
}

/// A poisoned lock here only means a callback panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn finite_or_zero(sample: f32) -> f32 {
    if sample.is_finite() {
        sample
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    //! The sink without a device: conversion, the cut-off, the single `on_end`,
    //! and error judgement. The device path is in `tests/capture.rs`.

    use super::*;
    use std::sync::mpsc;

    fn sink(limit: usize, channels: u16) -> (Sink, mpsc::Receiver<EndReason>) {
        let (tx, rx) = mpsc::channel();
        let sink = Sink::new(
            limit,
            channels,
            Box::new(move |reason| {
                let _ = tx.send(reason);
            }),
            tracing::Span::none(),
        )
        .unwrap();
        (sink, rx)
    }

    #[test]
    fn converts_every_sample_type_to_f32() {
        let (s, _) = sink(100, 1);
        s.push::<i16>(&[0, i16::MAX, i16::MIN]);
        s.push::<u16>(&[32768, u16::MAX, 0]);
        s.push::<i32>(&[0, i32::MIN]);
        s.push::<u8>(&[128]);
        s.push::<i8>(&[i8::MIN]);
        s.push::<f64>(&[0.25]);
        s.push::<f32>(&[-0.5, f32::NAN, f32::INFINITY]);
        let got = s.take_samples();
        let want = [
            0.0, 1.0, -1.0, 0.0, 1.0, -1.0, 0.0, -1.0, 0.0, -1.0, 0.25, -0.5, 0.0, 0.0,
        ];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-4, "{got:?}");
        }
    }

    #[test]
    fn mixes_channels_to_their_average() {
        let (s, _) = sink(100, 2);
        s.push::<f32>(&[1.0, 0.0, 0.5, 0.5, -1.0, 1.0]);
        assert_eq!(s.take_samples(), vec![0.5, 0.5, 0.0]);
        assert_eq!(s.frames(), 3);
    }

    #[test]
    fn stops_at_the_limit_and_ends_once() {
        let (s, rx) = sink(5, 2);
        let capacity = lock(&s.samples).capacity();
        s.push::<f32>(&[0.1; 6]); // 3 frames
        assert!(rx.try_recv().is_err(), "not at the limit yet");
        s.push::<f32>(&[0.2; 8]); // 4 frames, 2 fit
        s.push::<f32>(&[0.3; 8]); // all past the limit
        assert_eq!(rx.try_recv(), Ok(EndReason::MaxDuration));
        assert!(rx.try_recv().is_err(), "on_end fires once");
        assert_eq!(s.frames(), 5);
        assert_eq!(s.discarded(), 2 + 4);
        assert_eq!(s.end_reason(), Some(EndReason::MaxDuration));
        let samples = s.take_samples();
        assert_eq!(samples.len(), 5);
        assert_eq!(samples.capacity(), capacity, "the buffer never grew");
        assert!((samples[4] - 0.2).abs() < 1e-6);
    }

    #[test]
    fn an_exact_fill_ends_at_once() {
        let (s, rx) = sink(4, 1);
        s.push::<f32>(&[0.0; 4]);
        assert_eq!(rx.try_recv(), Ok(EndReason::MaxDuration));
    }

    #[test]
    fn a_stream_error_means_the_device_is_lost() {
        let (s, rx) = sink(100, 1);
        s.push::<f32>(&[0.1; 10]);
        s.error(backend("snd_pcm_readi failed: I/O error"));
        s.error(backend("second"));
        s.push::<f32>(&[0.1; 10]);
        assert_eq!(
            rx.try_recv(),
            Ok(EndReason::DeviceLost(
                "snd_pcm_readi failed: I/O error".into()
            ))
        );
        assert!(rx.try_recv().is_err(), "on_end fires once");
        assert_eq!(s.frames(), 10, "nothing is kept after the device is lost");
        assert_eq!(s.take_samples().len(), 10, "what came before is kept");
    }

    #[test]
    fn an_unplugged_device_is_lost() {
        let (s, rx) = sink(100, 1);
        s.error(cpal::StreamError::DeviceNotAvailable);
        assert!(matches!(rx.try_recv(), Ok(EndReason::DeviceLost(_))));
        s.push::<f32>(&[0.1; 10]);
        assert_eq!(s.frames(), 0);
        assert_eq!(s.discarded(), 10);
    }

    #[test]
    fn max_duration_after_loss_does_not_fire_again() {
        let (s, rx) = sink(4, 1);
        s.error(cpal::StreamError::DeviceNotAvailable);
        s.push::<f32>(&[0.0; 8]);
        assert!(matches!(rx.try_recv(), Ok(EndReason::DeviceLost(_))));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn an_error_after_max_duration_changes_nothing() {
        let (s, rx) = sink(4, 1);
        s.push::<f32>(&[0.0; 8]);
        s.error(cpal::StreamError::DeviceNotAvailable);
        assert_eq!(rx.try_recv(), Ok(EndReason::MaxDuration));
        assert!(rx.try_recv().is_err());
        assert_eq!(s.end_reason(), Some(EndReason::MaxDuration));
    }

    fn backend(description: &str) -> cpal::StreamError {
        cpal::StreamError::BackendSpecific {
            err: cpal::BackendSpecificError {
                description: description.to_owned(),
            },
        }
    }
}
