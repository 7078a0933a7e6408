//! Audio in, Whisper's input out: a [`Clip`] of 16 kHz mono `f32` samples.
//!
//! This module owns turning audio into what Whisper consumes: decoding common
//! files (WAV, FLAC, MP3, OGG/Vorbis, through symphonia), mixing any channel
//! layout down to mono, resampling any rate to [`WHISPER_SAMPLE_RATE`] (rubato),
//! and finding where the speech is in a clip (an energy detector, see
//! [`speech_bounds`]) so leading and trailing silence need not be transcribed.
//!
//! It must not capture from devices, run Whisper, or decide what a silent clip
//! means to the user: the microphone hands its samples to [`clip_from_samples`],
//! and the engine decides that a silent clip is an empty transcript.

mod decode;
mod resample;
pub mod speech;

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use decode::MAX_FILE_SECONDS;
pub use speech::{is_silent, speech_bounds};

/// The sample rate Whisper's models were trained on; every [`Clip`] is at this rate.
pub const WHISPER_SAMPLE_RATE: u32 = 16_000;

/// The formats [`load_clip`] reads, as said to users when a file is not one of them.
pub const SUPPORTED_FORMATS: &str = "WAV, FLAC, MP3 and OGG/Vorbis";

/// A piece of audio ready for Whisper: mono, 16 kHz, `f32` samples nominally in -1..1.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    samples: Vec<f32>,
    source: SourceInfo,
}

/// What a clip was made from, before it was mixed down and resampled.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    /// The container the audio came in.
    pub container: Container,
    /// The codec's short name as symphonia names it (`pcm_s16le`, `flac`, `mp3`,
    /// `vorbis`, …), or `pcm_f32` for samples handed over in memory.
    pub codec: String,
    /// The source's sample rate in Hz.
    pub sample_rate: u32,
    /// The source's channel count (the clip is their average).
    pub channels: u16,
    /// The source's length in frames (samples per channel) at its own rate.
    pub frames: u64,
}

/// The container a clip's audio came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Container {
    Wav,
    Flac,
    Mp3,
    Ogg,
    /// Samples handed over in memory (the microphone), not a file.
    Samples,
}

impl Container {
    /// The name users know the format by.
    pub fn name(self) -> &'static str {
        match self {
            Container::Wav => "WAV",
            Container::Flac => "FLAC",
            Container::Mp3 => "MP3",
            Container::Ogg => "Ogg",
            Container::Samples => "raw samples",
        }
    }
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl SourceInfo {
    /// The source's own length, at its own rate.
    pub fn duration(&self) -> Duration {
        frames_to_duration(self.frames, self.sample_rate)
    }
}

/// Why audio could not be turned into a [`Clip`]. File errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("cannot read audio file {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is {what}, not an audio file; give a WAV, FLAC, MP3 or OGG file", path.display())]
    NotAFile { path: PathBuf, what: &'static str },
    #[error(
        "{} is longer than {} hours, the most EZ Flow transcribes from one file; \
         split it first (for example `sox FILE part.wav trim 0 3600 : newfile : restart`)",
        path.display(),
        max_seconds / 3600
    )]
    TooLong { path: PathBuf, max_seconds: u64 },
    #[error("audio file {} is empty (0 bytes)", path.display())]
    Empty { path: PathBuf },
    #[error("{} has no audio track", path.display())]
    NoAudioTrack { path: PathBuf },
    #[error("cannot read {}: {what}; EZ Flow reads {SUPPORTED_FORMATS}", path.display())]
    Unsupported { path: PathBuf, what: String },
    #[error("{} is damaged and cannot be decoded: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("{} contains no audio: it decodes to zero samples", path.display())]
    NoAudio { path: PathBuf },
    #[error("invalid audio samples: {reason}")]
    InvalidSamples { reason: String },
    #[error("cannot convert {origin} from {sample_rate} Hz to 16 kHz: {reason}")]
    Resample {
        origin: String,
        sample_rate: u32,
        reason: String,
    },
}

impl AudioError {
    /// The file the error is about, when it is about a file.
    pub fn path(&self) -> Option<&Path> {
        match self {
            AudioError::Unreadable { path, .. }
            | AudioError::NotAFile { path, .. }
            | AudioError::TooLong { path, .. }
            | AudioError::Empty { path }
            | AudioError::NoAudioTrack { path }
            | AudioError::Unsupported { path, .. }
            | AudioError::Corrupt { path, .. }
            | AudioError::NoAudio { path } => Some(path),
            AudioError::InvalidSamples { .. } | AudioError::Resample { .. } => None,
        }
    }
}

/// Decodes an audio file into a 16 kHz mono clip.
///
/// The format is recognised by content (the extension only breaks ties), any
/// sample rate and channel count is accepted, channels are averaged and the
/// result is resampled with a band-limited FFT resampler. A packet that fails to
/// decode is skipped (logged at debug level); I/O and container errors are fatal.
/// A file that decodes to silence is a valid clip, not an error.
pub fn load_clip(path: &Path) -> Result<Clip, AudioError> {
    let decoded = decode::decode_file(path)?;
    tracing::debug!(
        path = %path.display(),
        container = %decoded.source.container,
        codec = %decoded.source.codec,
        sample_rate = decoded.source.sample_rate,
        channels = decoded.source.channels,
        seconds = decoded.source.duration().as_secs_f64(),
        "decoded audio file"
    );
    Ok(Clip {
        samples: decoded.samples,
        source: decoded.source,
    })
}

/// Makes a clip from interleaved samples (the microphone's path).
///
/// `interleaved` holds `channels` samples per frame at `sample_rate`. No samples
/// at all gives an empty clip, which is silent, as a recording that caught
/// nothing is.
pub fn clip_from_samples(
    interleaved: &[f32],
    sample_rate: u32,
    channels: u16,
) -> Result<Clip, AudioError> {
    if sample_rate == 0 {
        return Err(AudioError::InvalidSamples {
            reason: "the sample rate is 0 Hz".to_owned(),
        });
    }
    if channels == 0 {
        return Err(AudioError::InvalidSamples {
            reason: "the channel count is 0".to_owned(),
        });
    }
    let width = usize::from(channels);
    if !interleaved.len().is_multiple_of(width) {
        return Err(AudioError::InvalidSamples {
            reason: format!(
                "{} samples are not a whole number of {channels}-channel frames",
                interleaved.len()
            ),
        });
    }
    let frames = interleaved.len() / width;
    let to_whisper_error = |reason: String| AudioError::Resample {
        origin: "recorded audio".to_owned(),
        sample_rate,
        reason,
    };
    let mut resampler =
        resample::ToWhisperRate::new(sample_rate, frames).map_err(to_whisper_error)?;
    // Mix a block at a time so a long recording never needs a second full-length buffer.
    const BLOCK_FRAMES: usize = 4096;
    let mut mono = Vec::with_capacity(BLOCK_FRAMES.min(frames));
    for block in interleaved.chunks(BLOCK_FRAMES * width) {
        mono.clear();
        if width == 1 {
            mono.extend(block.iter().map(|&s| finite_or_zero(s)));
        } else {
            let scale = 1.0 / f32::from(channels);
            mono.extend(
                block
                    .chunks_exact(width)
                    .map(|frame| frame.iter().map(|&s| finite_or_zero(s)).sum::<f32>() * scale),
            );
        }
        resampler.push(&mono).map_err(to_whisper_error)?;
    }
    let samples = resampler.finish().map_err(to_whisper_error)?;
    Ok(Clip {
        samples,
        source: SourceInfo {
            container: Container::Samples,
            codec: "pcm_f32".to_owned(),
            sample_rate,
            channels,
            frames: frames as u64,
        },
    })
}

impl Clip {
    /// The 16 kHz mono samples.
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }

    /// Takes the samples out of the clip.
    pub fn into_samples(self) -> Vec<f32> {
        self.samples
    }

    /// The clip's length in samples at 16 kHz.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The clip's length.
    pub fn duration(&self) -> Duration {
        frames_to_duration(self.samples.len() as u64, WHISPER_SAMPLE_RATE)
    }

    /// What the clip was made from.
    pub fn source(&self) -> &SourceInfo {
        &self.source
    }

    /// Where the speech is, as a range of sample indices with a margin kept
    /// around it; `None` when there is no speech at all. See [`speech_bounds`].
    pub fn speech_bounds(&self) -> Option<Range<usize>> {
        speech_bounds(&self.samples)
    }

    /// The speech part of the clip with leading and trailing silence cut off
    /// (margins kept); `None` when the clip is silent.
    pub fn trimmed(&self) -> Option<&[f32]> {
        self.speech_bounds().map(|range| &self.samples[range])
    }

    /// Whether the clip holds no speech at all. See [`is_silent`].
    pub fn is_silent(&self) -> bool {
        is_silent(&self.samples)
    }
}

/// Decoders and callers can hand over NaN or infinities (a damaged float WAV);
/// one would poison every filter output downstream, so it becomes silence.
#[inline]
fn finite_or_zero(sample: f32) -> f32 {
    if sample.is_finite() {
        sample
    } else {
        0.0
    }
}

fn frames_to_duration(frames: u64, sample_rate: u32) -> Duration {
    if sample_rate == 0 {
        return Duration::ZERO;
    }
    let rate = u64::from(sample_rate);
    let whole = frames / rate;
    let nanos = (frames % rate) * 1_000_000_000 / rate;
    Duration::new(whole, nanos as u32)
}
