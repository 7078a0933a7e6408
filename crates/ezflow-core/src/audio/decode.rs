//! Reading an audio file: recognising its format, decoding it with symphonia,
//! averaging its channels, and streaming the mono result into the resampler.
//!
//! Owns the mapping from what can go wrong with a file to [`AudioError`]s that
//! name the file and say what to do. It must not interpret the audio (no
//! trimming or level changes): it returns what the file holds.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use symphonia::core::audio::{AudioBuffer, AudioBufferRef, Signal};
use symphonia::core::codecs::{self, CodecType, DecoderOptions};
use symphonia::core::conv::IntoSample;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use symphonia::core::sample::Sample;

use super::resample::ToWhisperRate;
use super::{finite_or_zero, AudioError, Container, SourceInfo};

/// The decoded, resampled file.
pub(crate) struct Decoded {
    pub(crate) samples: Vec<f32>,
    pub(crate) source: SourceInfo,
}

/// Capacity reserved up front is capped at this many seconds of 16 kHz output, so
/// a header claiming an absurd length cannot make us allocate gigabytes.
const MAX_RESERVE_SECONDS: u64 = 60 * 60;

/// The longest audio file decoded, so that no input can ask for unbounded
/// memory or time: two hours of 16 kHz samples are 460 MB.
pub const MAX_FILE_SECONDS: u64 = 2 * 60 * 60;

pub(crate) fn decode_file(path: &Path) -> Result<Decoded, AudioError> {
    decode_at_most(path, MAX_FILE_SECONDS)
}

/// [`decode_file`] with another length limit (tests use a short one).
fn decode_at_most(path: &Path, max_seconds: u64) -> Result<Decoded, AudioError> {
    let unreadable = |source: io::Error| AudioError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let corrupt = |reason: String| AudioError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let unsupported = |what: String| AudioError::Unsupported {
        path: path.to_owned(),
        what,
    };

    let metadata = std::fs::metadata(path).map_err(unreadable)?;
    if let Some(what) = crate::file_kind::not_a_regular_file(&metadata) {
        return Err(AudioError::NotAFile {
            path: path.to_owned(),
            what,
        });
    }
    if metadata.len() == 0 {
        return Err(AudioError::Empty {
            path: path.to_owned(),
        });
    }
    let mut file = File::open(path).map_err(unreadable)?;
    let sniffed = identify(&mut file).map_err(unreadable)?;
    file.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    let container = match sniffed {
        Sniffed::Supported(container) => container,
        Sniffed::Foreign(what) => return Err(unsupported(format!("it is {what}"))),
        Sniffed::Unknown => {
            let extension = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            let named = extension.as_deref().and_then(container_for_extension);
            return Err(unsupported(match named {
                Some(named) => format!(
                    "its content is not {named} (as its name suggests) nor any other \
                     audio format EZ Flow recognises"
                ),
                None => "its content is not an audio format EZ Flow recognises".to_owned(),
            }));
        }
    };

    let mut hint = Hint::new();
    hint.with_extension(container_extension(container));
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    // Gapless mode trims MP3 and Vorbis encoder delay and padding, so the clip is
    // as long as what was recorded and nothing is shifted.
    let format_options = FormatOptions {
        enable_gapless: true,
        ..Default::default()
    };
    let probed = symphonia::default::get_probe()
        .format(&hint, stream, &format_options, &MetadataOptions::default())
        .map_err(|e| match e {
            SymphoniaError::IoError(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                corrupt(format!("the {container} header is cut short"))
            }
            SymphoniaError::IoError(e) => unreadable(e),
            SymphoniaError::Unsupported(what) => {
                unsupported(format!("this kind of {container} file ({what})"))
            }
            other => corrupt(format!("its {container} header is invalid ({other})")),
        })?;
    let mut format = probed.format;

    let Some(track) = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != codecs::CODEC_TYPE_NULL)
    else {
        return Err(AudioError::NoAudioTrack {
            path: path.to_owned(),
        });
    };
    let track_id = track.id;
    let params = track.codec_params.clone();
    let registry = symphonia::default::get_codecs();
    let codec = match registry.get_codec(params.codec) {
        Some(descriptor) => descriptor.short_name.to_owned(),
        None => {
            return Err(unsupported(format!(
                "it holds {} ({container} container)",
                codec_name(params.codec)
            )))
        }
    };
    let mut decoder = registry
        .make(&params, &DecoderOptions::default())
        .map_err(|e| match e {
            SymphoniaError::Unsupported(what) => {
                unsupported(format!("this kind of {codec} audio ({what})"))
            }
            other => corrupt(format!("its {codec} stream cannot be set up ({other})")),
        })?;

    let mut stream_state: Option<StreamState> = None;
    let mut mono: Vec<f32> = Vec::new();
    let mut skipped_packets = 0usize;
    let mut last_skip_reason = String::new();
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            Err(SymphoniaError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(SymphoniaError::ResetRequired) => {
                // A chained stream (a second Ogg stream glued on): dictation files
                // do not have them, so the first stream is the clip.
                tracing::warn!(path = %path.display(), "audio stream changes mid-file; reading only the first part");
                break;
            }
            Err(SymphoniaError::IoError(e)) => return Err(unreadable(e)),
            Err(e) => {
                return Err(corrupt(format!(
                    "its {container} structure is broken ({e})"
                )))
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        let buffer = match decoder.decode(&packet) {
            Ok(buffer) => buffer,
            // One bad packet loses a few milliseconds; the rest of the clip is still
            // worth transcribing.
            Err(SymphoniaError::DecodeError(reason)) => {
                skipped_packets += 1;
                reason.clone_into(&mut last_skip_reason);
                tracing::debug!(path = %path.display(), ts = packet.ts(), reason, "skipping undecodable packet");
                continue;
            }
            Err(SymphoniaError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                skipped_packets += 1;
                "packet cut short".clone_into(&mut last_skip_reason);
                tracing::debug!(path = %path.display(), ts = packet.ts(), "skipping truncated packet");
                continue;
            }
            Err(e) => {
                return Err(corrupt(format!(
                    "its {codec} audio cannot be decoded ({e})"
                )))
            }
        };
        let spec = *buffer.spec();
        let state = match stream_state.as_mut() {
            Some(state) => state,
            None => {
                let reserve = params
                    .n_frames
                    .unwrap_or(0)
                    .min(MAX_RESERVE_SECONDS * u64::from(spec.rate));
                let resampler =
                    ToWhisperRate::new(spec.rate, reserve as usize).map_err(|reason| {
                        AudioError::Resample {
                            origin: path.display().to_string(),
                            sample_rate: spec.rate,
                            reason,
                        }
                    })?;
                stream_state.insert(StreamState {
                    sample_rate: spec.rate,
                    channels: spec.channels.count() as u16,
                    frames: 0,
                    resampler,
                })
            }
        };
        if spec.rate != state.sample_rate {
            return Err(corrupt(format!(
                "its sample rate changes from {} Hz to {} Hz partway through",
                state.sample_rate, spec.rate
            )));
        }
        mono.clear();
        mix_to_mono(&buffer, &mut mono);
        state.frames += mono.len() as u64;
        if state.frames > max_seconds * u64::from(state.sample_rate) {
            return Err(AudioError::TooLong {
                path: path.to_owned(),
                max_seconds,
            });
        }
        state
            .resampler
            .push(&mono)
            .map_err(|reason| AudioError::Resample {
                origin: path.display().to_string(),
                sample_rate: state.sample_rate,
                reason,
            })?;
    }

    let Some(state) = stream_state.filter(|s| s.frames > 0) else {
        if skipped_packets > 0 {
            return Err(corrupt(format!(
                "none of its {skipped_packets} {codec} packets could be decoded ({last_skip_reason})"
            )));
        }
        return Err(AudioError::NoAudio {
            path: path.to_owned(),
        });
    };
    if skipped_packets > 0 {
        tracing::warn!(
            path = %path.display(),
            skipped_packets,
            reason = %last_skip_reason,
            "skipped undecodable audio packets; the clip has gaps"
        );
    }
    let sample_rate = state.sample_rate;
    let samples = state
        .resampler
        .finish()
        .map_err(|reason| AudioError::Resample {
            origin: path.display().to_string(),
            sample_rate,
            reason,
        })?;
    Ok(Decoded {
        samples,
        source: SourceInfo {
            container,
            codec,
            sample_rate,
            channels: state.channels,
            frames: state.frames,
        },
    })
}

struct StreamState {
    sample_rate: u32,
    channels: u16,
    frames: u64,
    resampler: ToWhisperRate,
}

/// Recognises the file's format from its first bytes, looking past an ID3v2 tag
/// (MP3s carry one, and so do some FLAC and AAC files).
fn identify(file: &mut File) -> io::Result<Sniffed> {
    let mut head = [0u8; 16];
    let len = read_head(file, &mut head)?;
    let head = &head[..len];
    let Some(tag_len) = id3v2_len(head) else {
        return Ok(sniff(head));
    };
    file.seek(SeekFrom::Start(tag_len))?;
    let mut inner = [0u8; 16];
    let len = read_head(file, &mut inner)?;
    Ok(match sniff(&inner[..len]) {
        // What follows the tag is usually an MP3 frame, but MP3 files in the
        // wild may have junk or padding there; symphonia resynchronises.
        Sniffed::Unknown => Sniffed::Supported(Container::Mp3),
        known => known,
    })
}

/// The length of the ID3v2 tag `head` starts with, header and footer included.
fn id3v2_len(head: &[u8]) -> Option<u64> {
    if !head.starts_with(b"ID3") || head.len() < 10 {
        return None;
    }
    // The size is "syncsafe": four 7-bit groups.
    let size = head[6..10]
        .iter()
        .fold(0u64, |size, &b| (size << 7) | u64::from(b & 0x7F));
    let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + size + footer)
}

fn read_head(file: &mut File, head: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn mix_to_mono(buffer: &AudioBufferRef<'_>, mono: &mut Vec<f32>) {
    match buffer {
        AudioBufferRef::U8(b) => mix_planes(b, mono),
        AudioBufferRef::U16(b) => mix_planes(b, mono),
        AudioBufferRef::U24(b) => mix_planes(b, mono),
        AudioBufferRef::U32(b) => mix_planes(b, mono),
        AudioBufferRef::S8(b) => mix_planes(b, mono),
        AudioBufferRef::S16(b) => mix_planes(b, mono),
        AudioBufferRef::S24(b) => mix_planes(b, mono),
        AudioBufferRef::S32(b) => mix_planes(b, mono),
        AudioBufferRef::F32(b) => mix_planes(b, mono),
        AudioBufferRef::F64(b) => mix_planes(b, mono),
    }
}

/// Averages the channel planes into `mono`, converting to `f32` on the way.
fn mix_planes<S>(buffer: &AudioBuffer<S>, mono: &mut Vec<f32>)
where
    S: Sample + IntoSample<f32>,
{
    let frames = buffer.frames();
    let channels = buffer.spec().channels.count();
    mono.resize(frames, 0.0);
    for channel in 0..channels {
        for (m, &s) in mono.iter_mut().zip(buffer.chan(channel)) {
            *m += finite_or_zero(s.into_sample());
        }
    }
    if channels > 1 {
        let scale = 1.0 / channels as f32;
        mono.iter_mut().for_each(|m| *m *= scale);
    }
}

enum Sniffed {
    Supported(Container),
    /// A format we recognise but do not read, named for the user.
    Foreign(&'static str),
    Unknown,
}

/// Recognises the format from the first bytes. Symphonia's own probe scans
/// far into a file for anything resembling a marker, and random bytes nearly
/// always contain an MP3 frame sync somewhere, so it would "decode" garbage;
/// checking the start of the file first keeps a broken file an error.
fn sniff(head: &[u8]) -> Sniffed {
    let starts = |magic: &[u8]| head.starts_with(magic);
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if starts(b"RIFF") {
        return if at(8, b"WAVE") {
            Sniffed::Supported(Container::Wav)
        } else {
            Sniffed::Foreign("a RIFF file that is not WAV (an AVI video, perhaps)")
        };
    }
    if starts(b"fLaC") {
        return Sniffed::Supported(Container::Flac);
    }
    if starts(b"OggS") {
        return Sniffed::Supported(Container::Ogg);
    }
    if is_mp3_frame_header(head) {
        return Sniffed::Supported(Container::Mp3);
    }
    let foreign = if starts(b"RIFX") {
        "a big-endian WAV (RIFX) file"
    } else if starts(b"RF64") || starts(b"BW64") {
        "an RF64/BW64 (64-bit WAV) file"
    } else if starts(b"FORM") {
        "an AIFF file"
    } else if at(4, b"ftyp") {
        "an MP4/M4A file (AAC or ALAC)"
    } else if starts(&[0x1A, 0x45, 0xDF, 0xA3]) {
        "a WebM/Matroska file"
    } else if starts(b"caff") {
        "a Core Audio (CAF) file"
    } else if starts(b"#!AMR") {
        "an AMR file"
    } else if starts(b"wvpk") {
        "a WavPack file"
    } else if starts(b"MAC ") {
        "a Monkey's Audio (APE) file"
    } else if starts(b".snd") {
        "a Sun/NeXT AU file"
    } else if starts(b"MThd") {
        "a MIDI file (notes, not recorded sound)"
    } else if head.len() >= 2 && head[0] == 0xFF && head[1] & 0xF6 == 0xF0 {
        "an AAC (ADTS) file"
    } else {
        return Sniffed::Unknown;
    };
    Sniffed::Foreign(foreign)
}

/// An MPEG audio Layer III frame header: sync, a valid version, layer III, and a
/// valid bit rate and sample rate index.
fn is_mp3_frame_header(head: &[u8]) -> bool {
    let [b0, b1, b2, ..] = *head else {
        return false;
    };
    let sync = b0 == 0xFF && b1 & 0xE0 == 0xE0;
    let version_valid = (b1 >> 3) & 0b11 != 0b01;
    let layer_three = (b1 >> 1) & 0b11 == 0b01;
    let bitrate_valid = b2 >> 4 != 0b1111;
    let rate_valid = (b2 >> 2) & 0b11 != 0b11;
    sync && version_valid && layer_three && bitrate_valid && rate_valid
}

fn container_for_extension(extension: &str) -> Option<Container> {
    match extension {
        "wav" | "wave" => Some(Container::Wav),
        "flac" => Some(Container::Flac),
        "mp3" => Some(Container::Mp3),
        "ogg" | "oga" => Some(Container::Ogg),
        _ => None,
    }
}

fn container_extension(container: Container) -> &'static str {
    match container {
        Container::Wav => "wav",
        Container::Flac => "flac",
        Container::Mp3 => "mp3",
        Container::Ogg | Container::Samples => "ogg",
    }
}

/// Names codecs symphonia knows of but this build does not decode.
fn codec_name(codec: CodecType) -> String {
    let name = match codec {
        codecs::CODEC_TYPE_OPUS => "Opus",
        codecs::CODEC_TYPE_SPEEX => "Speex",
        codecs::CODEC_TYPE_AAC => "AAC",
        codecs::CODEC_TYPE_ALAC => "ALAC",
        codecs::CODEC_TYPE_WAVPACK => "WavPack",
        codecs::CODEC_TYPE_MONKEYS_AUDIO => "Monkey's Audio",
        _ => return format!("audio in a codec EZ Flow cannot decode (symphonia codec {codec})"),
    };
    format!("{name} audio")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16-bit mono WAV of `seconds` of a quiet tone at 8 kHz.
    fn tone_wav(path: &Path, seconds: u32) {
        let rate = 8000u32;
        let samples = rate * seconds;
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"RIFF");
        bytes.extend_from_slice(&(36 + samples * 2).to_le_bytes());
        bytes.extend_from_slice(b"WAVEfmt ");
        bytes.extend_from_slice(&16u32.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&rate.to_le_bytes());
        bytes.extend_from_slice(&(rate * 2).to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&16u16.to_le_bytes());
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&(samples * 2).to_le_bytes());
        for i in 0..samples {
            let v = ((f64::from(i) * 0.05).sin() * 1000.0) as i16;
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        std::fs::write(path, bytes).expect("write the test WAV");
    }

    #[test]
    fn a_file_longer_than_the_limit_is_refused_while_decoding() {
        let path = std::env::temp_dir().join(format!("ezflow-too-long-{}.wav", std::process::id()));
        tone_wav(&path, 3);
        let within = decode_at_most(&path, 3).expect("3 s is within a 3 s limit");
        assert_eq!(within.samples.len(), 3 * 16_000);
        match decode_at_most(&path, 2) {
            Err(AudioError::TooLong { max_seconds: 2, .. }) => {}
            Err(e) => panic!("expected TooLong, got {e}"),
            Ok(_) => panic!("a 3 s file passed a 2 s limit"),
        }
        std::fs::remove_file(&path).expect("remove the test WAV");
    }
}
