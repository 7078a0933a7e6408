//! Microphone capture: a [`Recording`] holds the input device open for as long
//! as it runs, and not a moment longer.
//!
//! This module owns finding the input device (the default one, or one named in
//! settings), opening it in its own default format, collecting its audio while
//! the user speaks, and closing it on stop, cancel or drop, so the system's
//! microphone indicator is on exactly while EZ Flow records and no thread is
//! left behind. The audio thread's side (buffering, conversion, the
//! max-duration cut-off, judging stream errors) is in `capture/sink.rs`.
//!
//! It must not resample, decide when to record, or transcribe: the captured
//! mono samples go to [`audio::clip_from_samples`] at stop (timed, in a
//! `resample` span), and the app decides what a recording means.
//!
//! A [`LevelMeter`] (`capture/meter.rs`) opens a device the same way to
//! show how loud it is, keeping nothing.
//!
//! `on_end` runs on the audio thread. It must return quickly and must not wait
//! for the thread that owns the [`Recording`] (that thread may be closing the
//! stream, which waits for the audio thread): send a message and return.

mod meter;
mod sink;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use crate::audio::{self, AudioError, Clip};
use crate::timing::timed;
pub use meter::{Level, LevelMeter, OnFailure, OnLevel};
use sink::Sink;

/// The default longest recording.
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(5 * 60);

/// How to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureOptions {
    /// The input device's name as [`input_devices`] lists it; `None` is the
    /// system's default input.
    pub device: Option<String>,
    /// The recording ends by itself ([`EndReason::MaxDuration`]) when it holds
    /// this much audio; the buffer for it is reserved up front.
    pub max_duration: Duration,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        Self {
            device: None,
            max_duration: DEFAULT_MAX_DURATION,
        }
    }
}

/// Why a recording ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The owner stopped it.
    Stopped,
    /// It held `max_duration` of audio; later audio was not kept.
    MaxDuration,
    /// The device failed or went away (the backend's reason).
    DeviceLost(String),
}

/// The device's own format, as the recording received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFormat {
    pub sample_rate: u32,
    pub channels: u16,
    /// The sample type's short name (`f32`, `i16`, `u16`, `i32`, …).
    pub sample_format: String,
}

/// What a finished recording captured.
#[derive(Debug, Clone, PartialEq)]
pub struct CapturedAudio {
    /// 16 kHz mono; empty when nothing was captured.
    pub clip: Clip,
    pub ended_by: EndReason,
    /// The device's name.
    pub device: String,
    pub format: InputFormat,
    /// How long converting the recording to the 16 kHz mono clip took
    /// (resampling from the device's rate), after the device was closed.
    pub resample: Duration,
}

/// Why capture could not start or finish. Each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("no microphone found; connect one or pick a device in settings: {reason}")]
    NoDevice { reason: String },
    #[error(
        "microphone \"{name}\" not found; pick one of the available devices in settings: {}",
        list_names(available)
    )]
    UnknownDevice {
        name: String,
        available: Vec<String>,
    },
    #[error(
        "cannot open microphone \"{device}\" (is another program using it, or is access \
         denied?): {reason}"
    )]
    Open { device: String, reason: String },
    #[error(
        "microphone \"{device}\" delivers {sample_format} samples, which EZ Flow cannot \
         read; pick another device in settings"
    )]
    UnsupportedFormat {
        device: String,
        sample_format: String,
    },
    #[error(
        "cannot reserve memory for {seconds} s of audio from \"{device}\"; lower the \
         maximum recording length"
    )]
    TooLong { device: String, seconds: u64 },
    #[error("cannot list microphones: {reason}")]
    List { reason: String },
    #[error("cannot convert the recording: {0}")]
    Convert(#[from] AudioError),
}

fn list_names(names: &[String]) -> String {
    if names.is_empty() {
        "none available".to_owned()
    } else {
        names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The names of the input devices, as [`CaptureOptions::device`] takes them.
///
/// Listing opens each device briefly to ask what it can do; none stays open.
pub fn input_devices() -> Result<Vec<String>, CaptureError> {
    let host = cpal::default_host();
    let devices = host.input_devices().map_err(|e| CaptureError::List {
        reason: e.to_string(),
    })?;
    let mut names = Vec::new();
    for device in devices {
        match device.name() {
            Ok(name) if !names.contains(&name) => names.push(name),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "input device without a name skipped"),
        }
    }
    Ok(names)
}

/// The name of the system's default input device, if there is one.
pub fn default_input_device() -> Option<String> {
    cpal::default_host()
        .default_input_device()
        .and_then(|device| device.name().ok())
}

/// A recording in progress: the device is open until it is stopped, cancelled
/// or dropped.
pub struct Recording {
    /// Dropping the stream closes the device and joins its audio thread.
    stream: Option<cpal::Stream>,
    sink: Arc<Sink>,
    device: String,
    format: InputFormat,
    started: Instant,
    span: tracing::Span,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("device", &self.device)
            .field("format", &self.format)
            .field("frames", &self.sink.frames())
            .finish_non_exhaustive()
    }
}

impl Recording {
    /// Opens the device and starts recording.
    ///
    /// `on_end` is called at most once, on the audio thread, when the
    /// recording ends by itself: [`EndReason::MaxDuration`] or
    /// [`EndReason::DeviceLost`]. The device stays open until [`stop`](Self::stop)
    /// (which then returns the audio), [`cancel`](Self::cancel) or drop. It is
    /// not called when the owner stops or cancels.
    pub fn start(
        options: &CaptureOptions,
        on_end: impl FnOnce(EndReason) + Send + 'static,
    ) -> Result<Recording, CaptureError> {
        let host = cpal::default_host();
        let device = find_device(&host, options.device.as_deref())?;
        let name = device
            .name()
            .unwrap_or_else(|_| "unnamed device".to_owned());
        let open_error = |reason: String| CaptureError::Open {
            device: name.clone(),
            reason,
        };
        let config = match device.default_input_config() {
            Ok(config) => config,
            Err(e) if options.device.is_none() => return Err(no_device_or(&host, &name, e)),
            Err(e) => return Err(open_error(e.to_string())),
        };
        let format = InputFormat {
            sample_rate: config.sample_rate().0,
            channels: config.channels(),
            sample_format: config.sample_format().to_string(),
        };
        // Paced by the user (it lasts as long as they speak): the app's
        // slow-operation log must not time it as an operation.
        let span = tracing::info_span!(
            "capture",
            paced_by_user = true,
            device = %name,
            rate = format.sample_rate,
            channels = format.channels,
            format = %format.sample_format,
        );
        let limit = frames_for(options.max_duration, format.sample_rate);
        let sink = Sink::new(limit, format.channels, Box::new(on_end), span.clone())
            .map(Arc::new)
            .map_err(|_| CaptureError::TooLong {
                device: name.clone(),
                seconds: options.max_duration.as_secs(),
            })?;
        let stream = build_stream(&device, &config.config(), config.sample_format(), &sink)
            .map_err(|e| match e {
                BuildError::Unsupported(sample_format) => CaptureError::UnsupportedFormat {
                    device: name.clone(),
                    sample_format,
                },
                BuildError::Backend(reason) => open_error(reason),
            })?;
        stream.play().map_err(|e| open_error(e.to_string()))?;
        // The stream owns the open capture handle now; the device value may
        // hold the device's other direction open (cpal opens both to list
        // devices), which must not stay open while recording.
        drop(device);
        let started = Instant::now();
        span.in_scope(|| {
            tracing::info!(
                max_seconds = options.max_duration.as_secs_f64(),
                "microphone opened, recording"
            )
        });
        Ok(Recording {
            stream: Some(stream),
            sink,
            device: name,
            format,
            started,
            span,
        })
    }

    /// Closes the device and returns what was captured, as a 16 kHz mono clip
    /// (empty if nothing arrived). After a lost device this is the audio from
    /// before the loss, and `ended_by` says why it ended.
    pub fn stop(mut self) -> Result<CapturedAudio, CaptureError> {
        let _entered = self.span.clone().entered();
        self.close();
        let ended_by = self.sink.end_reason().unwrap_or(EndReason::Stopped);
        let samples = self.sink.take_samples();
        let captured = samples.len();
        let (clip, resample) = timed_to_clip(&samples, self.format.sample_rate)?;
        drop(samples);
        tracing::info!(
            seconds = clip.duration().as_secs_f64(),
            frames = captured,
            resample_ms = resample.as_secs_f64() * 1000.0,
            discarded_frames = self.sink.discarded(),
            wall_seconds = self.started.elapsed().as_secs_f64(),
            ?ended_by,
            "recording stopped, microphone closed"
        );
        Ok(CapturedAudio {
            clip,
            ended_by,
            device: std::mem::take(&mut self.device),
            format: self.format.clone(),
            resample,
        })
    }

    /// Closes the device and discards the audio.
    pub fn cancel(mut self) {
        let _entered = self.span.clone().entered();
        self.close();
        let frames = self.sink.take_samples().len();
        tracing::info!(
            seconds = frames as f64 / f64::from(self.format.sample_rate),
            "recording cancelled, microphone closed, audio discarded"
        );
    }

    /// Wall-clock time since the device was opened.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// How much audio has been kept so far (at most the max duration).
    pub fn captured(&self) -> Duration {
        Duration::from_secs_f64(self.sink.frames() as f64 / f64::from(self.format.sample_rate))
    }

    /// The device's name.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// The format the device delivers.
    pub fn format(&self) -> &InputFormat {
        &self.format
    }

    /// Closes the stream: the audio thread is joined, the device handle closed.
    fn close(&mut self) {
        drop(self.stream.take());
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if self.stream.is_some() {
            let _entered = self.span.clone().entered();
            self.close();
            tracing::info!("recording dropped, microphone closed, audio discarded");
        }
    }
}

/// The device named in the options, or the default input.
fn find_device(host: &cpal::Host, name: Option<&str>) -> Result<cpal::Device, CaptureError> {
    let Some(name) = name else {
        return host
            .default_input_device()
            .ok_or_else(|| CaptureError::NoDevice {
                reason: "the system reports no default input device".to_owned(),
            });
    };
    let devices = host.input_devices().map_err(|e| CaptureError::List {
        reason: e.to_string(),
    })?;
    let mut available = Vec::new();
    for device in devices {
        match device.name() {
            Ok(n) if n == name => return Ok(device),
            Ok(n) if !available.contains(&n) => available.push(n),
            _ => {}
        }
    }
    Err(CaptureError::UnknownDevice {
        name: name.to_owned(),
        available,
    })
}

/// The default input failed to open: say "no microphone" when there is no
/// input device at all, and the backend's reason otherwise.
fn no_device_or(
    host: &cpal::Host,
    name: &str,
    error: cpal::DefaultStreamConfigError,
) -> CaptureError {
    let any_input = host
        .input_devices()
        .map(|mut devices| devices.next().is_some())
        .unwrap_or(false);
    if any_input {
        CaptureError::Open {
            device: name.to_owned(),
            reason: error.to_string(),
        }
    } else {
        CaptureError::NoDevice {
            reason: format!("the default input \"{name}\" cannot be opened ({error})"),
        }
    }
}

/// The captured mono samples at the device's rate as a 16 kHz clip; nothing
/// captured is an empty clip.
fn to_clip(samples: &[f32], device_rate: u32) -> Result<Clip, AudioError> {
    audio::clip_from_samples(samples, device_rate, 1)
}

/// [`to_clip`] in a debug-level `resample` span that records how long it took
/// as its `duration_ms` field; returns the clip and that time.
fn timed_to_clip(samples: &[f32], device_rate: u32) -> Result<(Clip, Duration), AudioError> {
    let span = tracing::debug_span!(
        "resample",
        from_hz = device_rate,
        frames = samples.len(),
        duration_ms = tracing::field::Empty,
    );
    let (clip, took) = timed(span, || to_clip(samples, device_rate));
    Ok((clip?, took))
}

/// Frames for `duration` at `rate`, rounded up.
fn frames_for(duration: Duration, rate: u32) -> usize {
    (duration.as_secs_f64() * f64::from(rate)).ceil() as usize
}

enum BuildError {
    Unsupported(String),
    Backend(String),
}

fn build_stream(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    sample_format: cpal::SampleFormat,
    sink: &Arc<Sink>,
) -> Result<cpal::Stream, BuildError> {
    use cpal::SampleFormat as F;
    match sample_format {
        F::I8 => build::<i8>(device, config, sink),
        F::I16 => build::<i16>(device, config, sink),
        F::I24 => build::<cpal::I24>(device, config, sink),
        F::I32 => build::<i32>(device, config, sink),
        F::I64 => build::<i64>(device, config, sink),
        F::U8 => build::<u8>(device, config, sink),
        F::U16 => build::<u16>(device, config, sink),
        F::U32 => build::<u32>(device, config, sink),
        F::U64 => build::<u64>(device, config, sink),
        F::F32 => build::<f32>(device, config, sink),
        F::F64 => build::<f64>(device, config, sink),
        other => Err(BuildError::Unsupported(other.to_string())),
    }
}

fn build<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    sink: &Arc<Sink>,
) -> Result<cpal::Stream, BuildError>
where
    T: cpal::SizedSample,
    f32: cpal::FromSample<T>,
{
    let data_sink = Arc::clone(sink);
    let error_sink = Arc::clone(sink);
    device
        .build_input_stream(
            config,
            move |data: &[T], _: &cpal::InputCallbackInfo| data_sink.push(data),
            move |error| error_sink.error(error),
            None,
        )
        .map_err(|e| BuildError::Backend(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The app may start a recording on one thread and stop it on another
    /// (cpal's stream is `Send` on Linux; not every backend promises it).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_recording_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<Recording>();
    }

    #[test]
    fn nothing_captured_is_an_empty_clip() {
        let clip = to_clip(&[], 48_000).expect("an empty recording is not an error");
        assert!(clip.is_empty());
        assert_eq!(clip.duration(), Duration::ZERO);
    }

    #[test]
    fn resampling_is_timed() {
        // One second at 48 kHz: a real conversion, so it takes some time.
        let samples: Vec<f32> = (0..48_000).map(|i| (i as f32 * 0.05).sin() * 0.1).collect();
        let (clip, took) = timed_to_clip(&samples, 48_000).expect("converts");
        assert_eq!(clip.len(), 16_000);
        assert!(took > Duration::ZERO);
        let (empty, _) = timed_to_clip(&[], 48_000).expect("nothing captured converts");
        assert!(empty.is_empty());
    }

    #[test]
    fn frames_round_up() {
        assert_eq!(frames_for(Duration::from_secs(2), 48_000), 96_000);
        assert_eq!(frames_for(Duration::from_micros(1), 16_000), 1);
        assert_eq!(frames_for(Duration::ZERO, 16_000), 0);
    }

    #[test]
    fn errors_are_one_line_and_say_what_to_do() {
        let unknown = CaptureError::UnknownDevice {
            name: "USB Mic".into(),
            available: vec!["default".into(), "HDA Intel PCH".into()],
        };
        assert_eq!(
            unknown.to_string(),
            "microphone \"USB Mic\" not found; pick one of the available devices in settings: \
             \"default\", \"HDA Intel PCH\""
        );
        let none = CaptureError::UnknownDevice {
            name: "x".into(),
            available: vec![],
        };
        assert!(none.to_string().ends_with("none available"), "{none}");
        for e in [
            unknown,
            none,
            CaptureError::NoDevice { reason: "r".into() },
            CaptureError::Open {
                device: "d".into(),
                reason: "busy".into(),
            },
        ] {
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
}
