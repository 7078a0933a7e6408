//! A level meter: an input device held open to measure how loud it is,
//! for the settings window's microphone test. Nothing is recorded: every
//! ~50 ms of audio (and at most 20 a second of wall-clock time) becomes one [`Level`] (RMS and peak over all channels)
//! handed to the caller on the audio thread, and is then forgotten.
//!
//! It owns opening the device for that and closing it on drop. When the
//! meter stops is the app's decision (a one-shot deadline, a request).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, StreamTrait};

use super::{find_device, no_device_or, CaptureError};

/// How loud the last ~50 ms were, each from 0 to 1 (full scale).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Level {
    pub rms: f32,
    pub peak: f32,
}

/// Levels per second.
const LEVELS_PER_SECOND: u32 = 20;
/// The shortest wall-clock time between two levels. A device that delivers
/// audio faster than real time (a burst after a stall, a virtual device
/// with no clock) must not flood the listener: its audio is measured over
/// a longer window instead.
const MIN_INTERVAL: Duration = Duration::from_millis(1000 / LEVELS_PER_SECOND as u64);

/// Called on the audio thread with each level.
pub type OnLevel = Box<dyn FnMut(Level) + Send>;
/// Called at most once, on the audio thread, when the device fails.
pub type OnFailure = Box<dyn FnOnce(String) + Send>;

/// An input device open for measuring; closed when dropped.
pub struct LevelMeter {
    _stream: cpal::Stream,
    device: String,
}

impl std::fmt::Debug for LevelMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LevelMeter")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl LevelMeter {
    /// Opens `device` (`None`: the default input) and starts measuring.
    pub fn start(
        device: Option<&str>,
        on_level: OnLevel,
        on_failure: OnFailure,
    ) -> Result<LevelMeter, CaptureError> {
        let host = cpal::default_host();
        let input = find_device(&host, device)?;
        let name = input.name().unwrap_or_else(|_| "unnamed device".to_owned());
        let open_error = |reason: String| CaptureError::Open {
            device: name.clone(),
            reason,
        };
        let config = match input.default_input_config() {
            Ok(config) => config,
            Err(e) if device.is_none() => return Err(no_device_or(&host, &name, e)),
            Err(e) => return Err(open_error(e.to_string())),
        };
        let window = (config.sample_rate().0 / LEVELS_PER_SECOND).max(1) as usize
            * usize::from(config.channels().max(1));
        let state = Arc::new(Mutex::new(Window {
            size: window,
            count: 0,
            squares: 0.0,
            peak: 0.0,
            last: None,
            on_level,
            on_failure: Some(on_failure),
        }));
        use cpal::SampleFormat as F;
        let stream = match config.sample_format() {
            F::I16 => build::<i16>(&input, &config.config(), &state),
            F::I32 => build::<i32>(&input, &config.config(), &state),
            F::U16 => build::<u16>(&input, &config.config(), &state),
            F::U8 => build::<u8>(&input, &config.config(), &state),
            F::I8 => build::<i8>(&input, &config.config(), &state),
            F::F32 => build::<f32>(&input, &config.config(), &state),
            F::F64 => build::<f64>(&input, &config.config(), &state),
            other => {
                return Err(CaptureError::UnsupportedFormat {
                    device: name,
                    sample_format: other.to_string(),
                })
            }
        }
        .map_err(open_error)?;
        stream.play().map_err(|e| open_error(e.to_string()))?;
        drop(input);
        tracing::info!(device = %name, "level meter opened the microphone");
        Ok(LevelMeter {
            _stream: stream,
            device: name,
        })
    }

    /// The device's name.
    pub fn device(&self) -> &str {
        &self.device
    }
}

impl Drop for LevelMeter {
    fn drop(&mut self) {
        tracing::info!(device = %self.device, "level meter closed the microphone");
    }
}

/// The audio thread's running window.
struct Window {
    size: usize,
    count: usize,
    squares: f64,
    peak: f32,
    /// When the last level was handed over.
    last: Option<Instant>,
    on_level: OnLevel,
    on_failure: Option<OnFailure>,
}

impl Window {
    fn push(&mut self, sample: f32) {
        self.squares += f64::from(sample) * f64::from(sample);
        self.peak = self.peak.max(sample.abs());
        self.count += 1;
        if self.count >= self.size && self.last.is_none_or(|t| t.elapsed() >= MIN_INTERVAL) {
            self.last = Some(Instant::now());
            let rms = (self.squares / self.count as f64).sqrt() as f32;
            let level = Level {
                rms: rms.min(1.0),
                peak: self.peak.min(1.0),
            };
            self.count = 0;
            self.squares = 0.0;
            self.peak = 0.0;
            (self.on_level)(level);
        }
    }
}

fn build<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    state: &Arc<Mutex<Window>>,
) -> Result<cpal::Stream, String>
where
    T: cpal::SizedSample,
    f32: cpal::FromSample<T>,
{
    let data = Arc::clone(state);
    let errors = Arc::clone(state);
    device
        .build_input_stream(
            config,
            move |samples: &[T], _: &cpal::InputCallbackInfo| {
                let mut window = data.lock().unwrap_or_else(PoisonError::into_inner);
                for &s in samples {
                    window.push(<f32 as cpal::FromSample<T>>::from_sample_(s));
                }
            },
            move |error| {
                let failure = errors
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .on_failure
                    .take();
                if let Some(failure) = failure {
                    failure(error.to_string());
                }
            },
            None,
        )
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(size: usize, levels: &Arc<Mutex<Vec<Level>>>) -> Window {
        let levels = Arc::clone(levels);
        Window {
            size,
            count: 0,
            squares: 0.0,
            peak: 0.0,
            last: None,
            on_level: Box::new(move |l| levels.lock().expect("levels").push(l)),
            on_failure: None,
        }
    }

    #[test]
    fn audio_faster_than_real_time_gives_at_most_twenty_levels_a_second() {
        let levels = Arc::new(Mutex::new(Vec::new()));
        let mut w = window(100, &levels);
        // Ten windows' worth at once, as an unpaced device delivers them.
        for i in 0..1000 {
            w.push(if i % 2 == 0 { 0.5 } else { -0.5 });
        }
        assert_eq!(
            levels.lock().expect("levels").len(),
            1,
            "one level, not ten"
        );
        std::thread::sleep(MIN_INTERVAL + Duration::from_millis(10));
        for _ in 0..100 {
            w.push(0.25);
        }
        let seen = levels.lock().expect("levels").clone();
        assert_eq!(seen.len(), 2, "the next one once the interval passed");
        assert!((seen[0].rms - 0.5).abs() < 1e-6 && (seen[0].peak - 0.5).abs() < 1e-6);
        // The second covers everything since the first: the rest of the
        // burst at 0.5 and the quieter 0.25.
        assert!(seen[1].rms < 0.5 && seen[1].rms > 0.25, "{:?}", seen[1]);
    }
}
