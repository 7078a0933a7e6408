//! A microphone for tests that is a real ALSA capture device, fed from a
//! file. There is no sound card here, so an ALSA configuration makes the
//! default capture device alsa-lib's `file` plugin reading raw audio (a
//! clip at 44.1 kHz, padded with silence) over the `null` plugin, behind a
//! `plug` that converts the sample format and channel count to what cpal
//! opens it with (f32 stereo 44.1 kHz). A recording then goes through
//! alsa-lib, cpal's ALSA backend and its audio thread as from a microphone.
//!
//! The configuration is self-contained (it does not include the system's
//! `alsa.conf`), so no sound card, `~/.asoundrc` or PipeWire/PulseAudio
//! plugin of the machine shows up. alsa-lib reads it from
//! [`ALSA_CONFIG_ENV`], which is process-wide: give it to a child process
//! (the app, or a test binary run again), never set it in a test process.
//!
//! The `null` plugin does not pace in real time: the whole file arrives in a
//! few milliseconds. Past the end of the file the `file` plugin repeats
//! stale buffer contents, so pad the clip with silence beyond every
//! recording length used.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The variable alsa-lib reads its configuration file's path from.
pub const ALSA_CONFIG_ENV: &str = "ALSA_CONFIG_PATH";
/// The device's rate: what cpal asks a device that can do any rate for.
/// `plug` converts format and channels but not the rate: alsa-lib's rate
/// converter over the `file` plugin delivers noise (a 16 kHz file came
/// through with a correlation of 0.02 to the clip).
pub const DEVICE_RATE: u32 = 44_100;
/// The raw audio file the device reads, in the directory given.
pub const AUDIO_FILE: &str = "microphone.raw";
/// The ALSA configuration file, in the directory given.
pub const CONFIG_FILE: &str = "asound.conf";

/// Which device the configuration makes the default capture device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// `plug` → `file` (the clip as raw S16_LE mono) → `null`.
    Clip,
    /// The same behind a `linear` plugin that only accepts integer samples,
    /// so cpal opens it with i16 rather than f32.
    ClipAsIntegers,
    /// The clip as raw FLOAT_LE stereo, exactly what cpal asks for, so no
    /// conversion sits between cpal and the `file` plugin, whose output is a
    /// pipe to `head`: once `head` has had this much audio and exited, the
    /// plugin's write fails and so does the read it was part of — a device
    /// that breaks mid-recording, as an unplugged USB microphone does.
    /// (Behind a converting `plug` the failure is only logged by alsa-lib
    /// and never reaches the client; with a pipe, its conversion path
    /// stalled instead of failing.)
    BreakingAfter(Duration),
    /// An empty configuration: no input device at all.
    None,
}

/// A file-fed microphone written into a directory.
#[derive(Debug, Clone)]
pub struct FileMicrophone {
    /// The ALSA configuration, for [`ALSA_CONFIG_ENV`].
    pub config: PathBuf,
    /// The raw audio the device reads.
    pub audio: PathBuf,
}

impl FileMicrophone {
    /// Writes `device` into `dir`: `clip` (16 kHz mono samples, such as
    /// `ezflow_core::audio::load_clip` gives) at the device's rate followed
    /// by `padding` of silence, and the configuration that reads it.
    pub fn write(dir: &Path, device: Device, clip: &[f32], padding: Duration) -> FileMicrophone {
        let audio = dir.join(AUDIO_FILE);
        let config = dir.join(CONFIG_FILE);
        let mut samples = upsample_to_device_rate(clip);
        let silence = (padding.as_secs_f64() * f64::from(DEVICE_RATE)).round() as usize;
        samples.resize(samples.len() + silence, 0.0);
        std::fs::write(&audio, raw_bytes(&samples, device)).expect("write the microphone's audio");
        std::fs::write(&config, alsa_config(device, &audio))
            .expect("write the microphone's ALSA configuration");
        FileMicrophone { config, audio }
    }
}

/// The bytes `head` lets through before a [`Device::BreakingAfter`] breaks.
fn break_after_bytes(after: Duration) -> usize {
    // FLOAT_LE stereo: 8 bytes a frame.
    (after.as_secs_f64() * f64::from(DEVICE_RATE)).round() as usize * 8
}

/// `samples` as the device's file format: FLOAT_LE stereo for the breaking
/// device, S16_LE mono otherwise.
fn raw_bytes(samples: &[f32], device: Device) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(samples.len() * 8);
    for &s in samples {
        match device {
            Device::BreakingAfter(_) => {
                bytes.extend_from_slice(&s.to_le_bytes());
                bytes.extend_from_slice(&s.to_le_bytes());
            }
            _ => {
                let v = (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
                bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    bytes
}

/// The ALSA configuration for `device`, reading `audio`.
fn alsa_config(device: Device, audio: &Path) -> String {
    let file_device = |output: &str, format: &str, channels: u32| {
        format!(
            r#"# A microphone made of a file: `file` serves capture from `infile`
# (raw, in the slave's format) over `null`, which does not pace in real time.
pcm.ezflow_file {{
    type file
    slave.pcm {{ type null }}
    file "{output}"
    infile "{infile}"
    format "raw"
}}
# `plug` converts format and channels for the client; the rate must already
# be the client's (44.1 kHz for cpal), or the result is noise.
pcm.ezflow_mic {{
    type plug
    slave {{
        pcm "ezflow_file"
        format {format}
        rate {DEVICE_RATE}
        channels {channels}
    }}
}}
"#,
            infile = audio.display()
        )
    };
    match device {
        Device::Clip => format!(
            "{}pcm.default \"ezflow_mic\"\n",
            file_device("/dev/null", "S16_LE", 1)
        ),
        Device::ClipAsIntegers => format!(
            r#"{}pcm.default {{
    type linear
    slave {{ pcm "ezflow_mic" format S32_LE }}
}}
"#,
            file_device("/dev/null", "S16_LE", 1)
        ),
        Device::BreakingAfter(after) => format!(
            "{}pcm.default \"ezflow_mic\"\n",
            file_device(
                &format!("|head -c {} >/dev/null", break_after_bytes(after)),
                "FLOAT_LE",
                2
            )
        ),
        Device::None => "# no devices\n".to_owned(),
    }
}

/// 16 kHz to the device's 44.1 kHz with a band-limited resampler, aligned
/// sample for sample.
pub fn upsample_to_device_rate(input: &[f32]) -> Vec<f32> {
    use rubato::{FftFixedInOut, Resampler};
    let mut resampler = FftFixedInOut::<f32>::new(16_000, DEVICE_RATE as usize, 1_600, 1)
        .expect("a 16 kHz to 44.1 kHz resampler");
    let chunk = resampler.input_frames_next();
    let delay = resampler.output_delay();
    let wanted = input.len() * DEVICE_RATE as usize / 16_000;
    let mut out = Vec::with_capacity(wanted + delay + 3 * resampler.output_frames_max());
    let mut padded = input.to_vec();
    padded.resize(input.len().next_multiple_of(chunk) + 2 * chunk, 0.0);
    for block in padded.chunks(chunk) {
        let block_out = resampler.process(&[block], None).expect("resample");
        out.extend_from_slice(&block_out[0]);
    }
    out.drain(..delay);
    out.truncate(wanted);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaking_device_lets_four_seconds_through() {
        // As the capture tests and the app's tests have used: 4 s of f32
        // stereo at 44.1 kHz.
        assert_eq!(
            break_after_bytes(Duration::from_secs(4)),
            4 * DEVICE_RATE as usize * 2 * 4
        );
    }

    #[test]
    fn a_second_of_clip_and_padding_is_written_at_the_device_rate() {
        let dir = tempfile::tempdir().expect("temp dir");
        let clip = vec![0.25f32; 16_000];
        let mic = FileMicrophone::write(dir.path(), Device::Clip, &clip, Duration::from_secs(1));
        let bytes = std::fs::read(&mic.audio).expect("the audio file");
        assert_eq!(bytes.len(), 2 * 2 * DEVICE_RATE as usize);
        let config = std::fs::read_to_string(&mic.config).expect("the configuration");
        assert!(
            config.contains(&mic.audio.display().to_string()),
            "{config}"
        );
        assert!(config.contains("pcm.default \"ezflow_mic\""), "{config}");
    }
}
