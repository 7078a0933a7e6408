//! Audio decoding, resampling and speech finding on real files.
//!
//! The clips come from `scripts/make-test-audio.sh` (espeak-ng speech turned into
//! every supported format by sox, flac, lame and oggenc); its `manifest.tsv` holds
//! what sox measured of each file, which is what the decoder is held to.
//! Synthetic tones are made in the tests where exact numbers are wanted.

use std::f64::consts::PI;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ezflow_core::audio::speech::{FRAME_SAMPLES, LEAD_MARGIN_MS, TRAIL_MARGIN_MS};
use ezflow_core::audio::{
    clip_from_samples, is_silent, load_clip, speech_bounds, AudioError, Clip, Container,
    WHISPER_SAMPLE_RATE,
};

const RATE: f64 = WHISPER_SAMPLE_RATE as f64;

/// The generated clips, `audio/` among the test assets.
fn audio_dir() -> PathBuf {
    ezflow_testbed::assets::asset("audio/manifest.tsv")
        .parent()
        .expect("the manifest is in a directory")
        .to_path_buf()
}

/// One line of the manifest: what sox measured of a generated clip.
#[derive(Debug)]
struct Asset {
    file: String,
    duration_s: f64,
    sample_rate: u32,
    channels: u16,
    /// Where the speech starts and ends in seconds, for clips where that is known;
    /// `Some(None)` for clips known to hold no speech.
    speech: Option<Option<(f64, f64)>>,
}

fn manifest() -> Vec<Asset> {
    let path = audio_dir().join("manifest.tsv");
    let text = fs::read_to_string(&path).expect("read manifest.tsv");
    let parse = |field: &str| -> f64 {
        field
            .parse()
            .unwrap_or_else(|_| panic!("bad number {field:?} in {}", path.display()))
    };
    text.lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 6, "bad manifest line {line:?}");
            let speech = match (fields[4], fields[5]) {
                ("-", "-") => None,
                ("none", "none") => Some(None),
                (start, end) => Some(Some((parse(start), parse(end)))),
            };
            Asset {
                file: fields[0].to_owned(),
                duration_s: parse(fields[1]),
                sample_rate: parse(fields[2]) as u32,
                channels: parse(fields[3]) as u16,
                speech,
            }
        })
        .collect()
}

fn asset(name: &str) -> Asset {
    manifest()
        .into_iter()
        .find(|a| a.file == name)
        .unwrap_or_else(|| {
            panic!("{name} is not in the test audio manifest: rerun scripts/fetch-test-assets.sh")
        })
}

fn load(name: &str) -> Clip {
    let path = audio_dir().join(name);
    load_clip(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Amplitude of the `freq` component of `x` (16 kHz), by a Goertzel filter.
fn amplitude_at(x: &[f32], freq: f64) -> f64 {
    let w = 2.0 * PI * freq / RATE;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / x.len() as f64
}

fn sine(freq: f64, rate: u32, seconds: f64, amplitude: f64) -> Vec<f32> {
    let n = (seconds * f64::from(rate)).round() as usize;
    (0..n)
        .map(|i| (amplitude * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin()) as f32)
        .collect()
}

fn interleave(channels: &[Vec<f32>]) -> Vec<f32> {
    let frames = channels[0].len();
    (0..frames)
        .flat_map(|i| channels.iter().map(move |c| c[i]))
        .collect()
}

/// The middle of a clip, away from edge effects of the test signal's abrupt start.
fn middle(x: &[f32]) -> &[f32] {
    let edge = x.len() / 10;
    &x[edge..x.len() - edge]
}

#[test]
fn every_clip_decodes_to_16k_mono_as_long_as_its_source() {
    let assets = manifest();
    assert!(
        assets.len() >= 15,
        "manifest lists only {} clips",
        assets.len()
    );
    for a in &assets {
        let clip = load(&a.file);
        let source = clip.source();
        let ctx = format!("{}: {source:?}", a.file);
        assert_eq!(source.sample_rate, a.sample_rate, "{ctx}");
        assert_eq!(source.channels, a.channels, "{ctx}");

        // sox prints durations to the microsecond; a lossless decoder must match
        // to within that rounding and one source frame.
        let tolerance = 1.0 / f64::from(a.sample_rate) + 1e-6;
        let decoded = source.duration().as_secs_f64();
        assert!(
            (decoded - a.duration_s).abs() <= tolerance,
            "{ctx}: decoded {decoded:.6} s, sox says {:.6} s",
            a.duration_s
        );
        // The clip is exactly the source's length at 16 kHz, to the nearest sample.
        let expected_len = source.frames as f64 * RATE / f64::from(source.sample_rate);
        assert!(
            (clip.len() as f64 - expected_len).abs() <= 0.5,
            "{ctx}: {} samples at 16 kHz, expected {expected_len:.1}",
            clip.len()
        );
        assert!(
            (clip.duration().as_secs_f64() - decoded).abs() <= 1.0 / RATE,
            "{ctx}"
        );

        let (container, codec_prefix) = match a.file.rsplit_once('.').map(|(_, ext)| ext) {
            Some("wav") => (Container::Wav, "pcm_"),
            Some("flac") => (Container::Flac, "flac"),
            Some("mp3") => (Container::Mp3, "mp3"),
            Some("ogg") => (Container::Ogg, "vorbis"),
            other => panic!("unexpected test file extension {other:?}"),
        };
        assert_eq!(source.container, container, "{ctx}");
        assert!(source.codec.starts_with(codec_prefix), "{ctx}");
        assert!(
            clip.samples()
                .iter()
                .all(|s| s.is_finite() && s.abs() <= 1.05),
            "{ctx}: samples out of range"
        );
    }
}

/// Compares `clip` with `reference` (both 16 kHz): the lag at which they line up
/// best, and the error at lag 0 relative to the reference's level.
fn compare(clip: &[f32], reference: &[f32]) -> (isize, f64) {
    let n = clip.len().min(reference.len());
    let (a, b) = (&clip[..n], &reference[..n]);
    let correlation = |lag: isize| -> f64 {
        (0..n)
            .filter_map(|i| {
                let j = i as isize + lag;
                (j >= 0 && (j as usize) < n).then(|| f64::from(a[j as usize]) * f64::from(b[i]))
            })
            .sum()
    };
    let best_lag = (-40..=40)
        .max_by(|&x, &y| correlation(x).total_cmp(&correlation(y)))
        .expect("lags to try");
    let error: Vec<f32> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    (best_lag, rms(&error) / rms(b))
}

#[test]
fn every_format_carries_the_same_audio_in_the_same_place() {
    // The 16 kHz reference is sox's resampling of the same sentence, decoded
    // without any resampling of ours.
    let reference = load("schedule_16k.wav");
    assert_eq!(reference.len(), reference.source().frames as usize);
    // Allowed error relative to the speech level. Lossless copies differ only
    // where sox's and our anti-aliasing filters differ, just under 8 kHz (about
    // -35 dB); a resampled clip shifted by a third of a sample is off by -15 dB,
    // so a wrong delay fails here even when the best whole-sample lag is 0.
    // 8-bit adds quantisation noise (-27 dB here), the lossy codecs coding
    // noise (-23 to -25 dB), and 8 kHz has lost everything above 4 kHz (-20 dB).
    let cases = [
        ("schedule.wav", 0.03),
        ("schedule_16k_3ch.wav", 0.001),
        ("schedule_22k05_s32.wav", 0.03),
        ("schedule_22k05_f32.wav", 0.03),
        ("schedule_22k05_u8.wav", 0.07),
        ("schedule_48k_s24.wav", 0.03),
        ("schedule_44k1_stereo.flac", 0.03),
        ("schedule_22k05.ogg", 0.12),
        ("schedule_48k_stereo.mp3", 0.12),
        ("schedule_8k.wav", 0.15),
    ];
    for (name, max_error) in cases {
        let clip = load(name);
        let (lag, error) = compare(clip.samples(), reference.samples());
        eprintln!("{name}: best lag {lag}, relative error {error:.4}");
        assert_eq!(lag, 0, "{name} is shifted by {lag} samples at 16 kHz");
        assert!(
            error <= max_error,
            "{name}: relative error {error:.4} > {max_error}"
        );
    }
}

#[test]
fn resampling_keeps_a_tones_frequency_and_level() {
    for rate in [8_000, 11_025, 22_050, 44_100, 48_000, 96_000] {
        let tone = sine(1000.0, rate, 2.0, 0.5);
        let clip = clip_from_samples(&interleave(&[tone.clone(), tone]), rate, 2)
            .unwrap_or_else(|e| panic!("{rate} Hz: {e}"));
        assert_eq!(clip.len(), 32_000, "{rate} Hz");
        assert_eq!(clip.source().channels, 2);
        let x = middle(clip.samples());

        let at_1k = amplitude_at(x, 1000.0);
        assert!(
            (at_1k - 0.5).abs() < 0.01,
            "{rate} Hz: 1 kHz amplitude {at_1k:.4}"
        );
        for other in [500.0, 2000.0, 3000.0, 7000.0] {
            let leak = amplitude_at(x, other);
            assert!(leak < 0.001, "{rate} Hz: {other} Hz amplitude {leak:.5}");
        }
        let level = rms(x);
        let expected = 0.5 / 2f64.sqrt();
        assert!(
            (level / expected - 1.0).abs() < 0.02,
            "{rate} Hz: RMS {level:.4}, expected {expected:.4}"
        );
        let crossings = x
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        let expected_crossings = 2.0 * 1000.0 * x.len() as f64 / RATE;
        assert!(
            (crossings as f64 - expected_crossings).abs() <= 2.0,
            "{rate} Hz: {crossings} zero crossings, expected {expected_crossings}"
        );
    }
}

#[test]
fn resampling_removes_what_16k_cannot_hold_and_keeps_what_it_can() {
    // 12 kHz at 48 kHz would fold to 4 kHz without a proper low-pass filter.
    let high = clip_from_samples(&sine(12_000.0, 48_000, 1.0, 0.5), 48_000, 1).expect("resample");
    let alias = amplitude_at(middle(high.samples()), 4000.0);
    assert!(
        alias < 0.5e-3,
        "12 kHz folded into 4 kHz at amplitude {alias:.6}"
    );
    assert!(rms(middle(high.samples())) < 0.5e-3);
    // 7 kHz is inside the 16 kHz band and must pass.
    let inside = clip_from_samples(&sine(7000.0, 44_100, 1.0, 0.5), 44_100, 1).expect("resample");
    let kept = amplitude_at(middle(inside.samples()), 7000.0);
    assert!(
        (kept - 0.5).abs() < 0.025,
        "7 kHz came out at amplitude {kept:.4}"
    );
}

#[test]
fn channels_are_averaged() {
    // At 16 kHz nothing is resampled, so the mix is exact.
    let left = sine(440.0, 16_000, 0.5, 0.6);
    let right = sine(1300.0, 16_000, 0.5, 0.2);
    let clip = clip_from_samples(&interleave(&[left.clone(), right.clone()]), 16_000, 2)
        .expect("stereo clip");
    for (i, (&m, (&l, &r))) in clip
        .samples()
        .iter()
        .zip(left.iter().zip(&right))
        .enumerate()
    {
        assert!(
            (m - (l + r) / 2.0).abs() < 1e-6,
            "sample {i}: {m} vs ({l} + {r}) / 2"
        );
    }
    // Opposite channels cancel; a channel alone comes out at half level.
    let silent = clip_from_samples(
        &interleave(&[left.clone(), left.iter().map(|s| -s).collect()]),
        44_100,
        2,
    )
    .expect("cancelling clip");
    assert!(rms(silent.samples()) < 1e-6);
    let half = clip_from_samples(
        &interleave(&[sine(440.0, 44_100, 0.5, 0.6), vec![0.0; 22_050]]),
        44_100,
        2,
    )
    .expect("one-sided clip");
    let amplitude = amplitude_at(middle(half.samples()), 440.0);
    assert!(
        (amplitude - 0.3).abs() < 0.005,
        "one channel of 0.6 mixed to {amplitude:.4}"
    );
    // Six channels with a different level each average to their mean.
    let levels = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
    let six: Vec<Vec<f32>> = levels
        .iter()
        .map(|&a| sine(440.0, 16_000, 0.5, a))
        .collect();
    let clip = clip_from_samples(&interleave(&six), 16_000, 6).expect("6-channel clip");
    let amplitude = amplitude_at(middle(clip.samples()), 440.0);
    assert!(
        (amplitude - 0.35).abs() < 0.005,
        "6 channels mixed to {amplitude:.4}"
    );
}

fn seconds(samples: usize) -> f64 {
    samples as f64 / RATE
}

#[test]
fn speech_is_found_between_padding() {
    let a = asset("schedule_padded.wav");
    let Some(Some((speech_start, speech_end))) = a.speech else {
        panic!("manifest has no speech bounds for {}", a.file);
    };
    let clip = load(&a.file);
    let bounds = clip.speech_bounds().expect("speech in the padded sentence");
    let (start, end) = (seconds(bounds.start), seconds(bounds.end));
    eprintln!("speech {speech_start:.3}..{speech_end:.3} s, bounds {start:.3}..{end:.3} s");
    let lead = LEAD_MARGIN_MS as f64 / 1000.0;
    let trail = TRAIL_MARGIN_MS as f64 / 1000.0;
    let frame = seconds(FRAME_SAMPLES);
    // All of the speech is kept, and none of the padding beyond the margins.
    assert!(
        start <= speech_start,
        "cut the onset: starts at {start:.3} s"
    );
    assert!(end >= speech_end, "cut the ending: ends at {end:.3} s");
    assert!(
        start >= speech_start - lead - frame,
        "kept too much before: {start:.3} s"
    );
    assert!(
        end <= speech_end + trail + frame,
        "kept too much after: {end:.3} s"
    );
    // The detector found the speech itself, not just something near it: the
    // first and last speech frames lie within 150 ms of the real edges.
    assert!(
        start + lead <= speech_start + 0.15,
        "found the onset late: {start:.3} s"
    );
    assert!(
        end - trail >= speech_end - 0.15,
        "found the ending early: {end:.3} s"
    );

    let trimmed = clip.trimmed().expect("trimmed speech");
    assert_eq!(trimmed, &clip.samples()[bounds.clone()]);
    assert!(!clip.is_silent());
}

#[test]
fn a_clip_that_is_all_speech_keeps_all_of_it() {
    let clip = load("schedule_speech_only.wav");
    assert_eq!(clip.speech_bounds(), Some(0..clip.len()));
    assert_eq!(clip.trimmed().map(<[f32]>::len), Some(clip.len()));
}

#[test]
fn every_spoken_sentence_is_speech_and_keeps_its_words() {
    for a in manifest().iter().filter(|a| a.speech.is_none()) {
        let clip = load(&a.file);
        let bounds = clip
            .speech_bounds()
            .unwrap_or_else(|| panic!("{}: no speech found", a.file));
        // espeak-ng starts speaking within a few ms and leaves about 0.3-0.4 s of
        // silence at the end: the speech is most of the clip.
        assert_eq!(bounds.start, 0, "{}", a.file);
        assert!(
            seconds(bounds.len()) >= a.duration_s - 0.4 - seconds(FRAME_SAMPLES),
            "{}: bounds {bounds:?} of {:.3} s",
            a.file,
            a.duration_s
        );
        assert!(!clip.is_silent(), "{}", a.file);
    }
}

#[test]
fn silence_and_room_tone_hold_no_speech() {
    let silent: Vec<Asset> = manifest()
        .into_iter()
        .filter(|a| matches!(a.speech, Some(None)))
        .collect();
    assert_eq!(
        silent.len(),
        2,
        "expected digital silence and room tone: {silent:?}"
    );
    for a in silent {
        let clip = load(&a.file);
        assert!(rms(clip.samples()) < 0.01, "{} is not quiet", a.file);
        assert_eq!(clip.speech_bounds(), None, "{}", a.file);
        assert_eq!(clip.trimmed(), None, "{}", a.file);
        assert!(clip.is_silent(), "{}", a.file);
    }
    // Room tone stays silence at any recording level: it is judged against its
    // own floor, not a fixed threshold.
    let room = load("room_tone_3s.wav");
    for gain in [1.0f32, 10.0, 40.0] {
        let louder: Vec<f32> = room.samples().iter().map(|s| s * gain).collect();
        assert!(rms(&louder) > 0.0, "room tone is empty");
        assert_eq!(speech_bounds(&louder), None, "room tone at gain {gain}");
        assert!(is_silent(&louder));
    }
}

#[test]
fn speech_is_found_at_any_recording_level() {
    let a = asset("schedule_padded.wav");
    let clip = load(&a.file);
    let reference = clip.speech_bounds().expect("speech");
    // Quieter (a far microphone) and louder (a close one, noise and all).
    for gain in [0.05f32, 0.2, 1.4] {
        let scaled: Vec<f32> = clip.samples().iter().map(|s| s * gain).collect();
        let bounds = speech_bounds(&scaled).unwrap_or_else(|| panic!("no speech at gain {gain}"));
        let slack = 8 * FRAME_SAMPLES;
        assert!(
            bounds.start.abs_diff(reference.start) <= slack
                && bounds.end.abs_diff(reference.end) <= slack,
            "gain {gain}: {bounds:?} vs {reference:?}"
        );
    }
}

fn expect_error(path: &Path, check: impl FnOnce(&AudioError) -> bool, what: &str) -> String {
    let error = match load_clip(path) {
        Ok(clip) => panic!(
            "{} loaded as {:?}, expected {what}",
            path.display(),
            clip.source()
        ),
        Err(e) => e,
    };
    assert!(
        check(&error),
        "{}: expected {what}, got {error:?}",
        path.display()
    );
    let message = error.to_string();
    eprintln!("{message}");
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name");
    assert!(
        message.contains(name),
        "message does not name the file: {message}"
    );
    assert_eq!(error.path(), Some(path));
    message
}

/// A canonical 44-byte WAV header: 16-bit PCM at `rate`, `data_bytes` of data.
fn wav_header(rate: u32, channels: u16, data_bytes: u32) -> Vec<u8> {
    let block_align = channels * 2;
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data_bytes).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
    h.extend_from_slice(&block_align.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_bytes.to_le_bytes());
    h
}

#[test]
fn our_wav_header_writer_makes_files_the_decoder_reads() {
    // Guards the error tests below: the header they break is a valid one.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ramp.wav");
    let mut bytes = wav_header(16_000, 1, 3200);
    for i in 0..1600i16 {
        bytes.extend_from_slice(&(i * 16).to_le_bytes());
    }
    fs::write(&path, &bytes).expect("write wav");
    let clip = load_clip(&path).expect("valid hand-made WAV");
    assert_eq!(clip.len(), 1600);
    assert!((clip.samples()[100] - 1600.0 / 32768.0).abs() < 1e-6);
}

#[test]
fn each_kind_of_bad_file_gets_its_own_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();

    let missing = d.join("no-such-recording.wav");
    expect_error(
        &missing,
        |e| matches!(e, AudioError::Unreadable { source, .. } if source.kind() == io::ErrorKind::NotFound),
        "Unreadable (not found)",
    );

    let folder = d.join("a-folder.wav");
    fs::create_dir(&folder).expect("mkdir");
    let message = expect_error(
        &folder,
        |e| matches!(e, AudioError::NotAFile { .. }),
        "NotAFile (directory)",
    );
    assert!(
        message.contains("is a directory, not an audio file"),
        "{message}"
    );

    // A named pipe with no writer: opening it would block for ever, so it
    // must be refused before it is opened.
    let fifo = d.join("a-pipe.wav");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo failed");
    let message = expect_error(
        &fifo,
        |e| matches!(e, AudioError::NotAFile { .. }),
        "NotAFile (FIFO)",
    );
    assert!(message.contains("named pipe"), "{message}");

    let empty = d.join("empty.wav");
    fs::write(&empty, b"").expect("write");
    expect_error(&empty, |e| matches!(e, AudioError::Empty { .. }), "Empty");

    // Random bytes from a fixed-seed generator (xorshift), so every run is the same.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let random = d.join("random-bytes.wav");
    fs::write(&random, &noise).expect("write");
    let message = expect_error(
        &random,
        |e| matches!(e, AudioError::Unsupported { .. }),
        "Unsupported",
    );
    assert!(
        message.contains("WAV, FLAC, MP3 and OGG/Vorbis"),
        "{message}"
    );

    let text = d.join("notes.mp3");
    fs::write(&text, "Shopping list: milk, eggs, bread.\n".repeat(200)).expect("write");
    let message = expect_error(
        &text,
        |e| matches!(e, AudioError::Unsupported { .. }),
        "Unsupported",
    );
    assert!(message.contains("MP3"), "{message}");

    let real = fs::read(audio_dir().join("schedule.wav")).expect("read schedule.wav");
    let cut_header = d.join("cut-header.wav");
    fs::write(&cut_header, &real[..20]).expect("write");
    expect_error(
        &cut_header,
        |e| matches!(e, AudioError::Corrupt { .. }),
        "Corrupt",
    );

    let no_frames = d.join("no-frames.wav");
    fs::write(&no_frames, wav_header(16_000, 1, 0)).expect("write");
    let message = expect_error(
        &no_frames,
        |e| matches!(e, AudioError::NoAudio { .. }),
        "NoAudio",
    );
    assert!(message.contains("contains no audio"), "{message}");

    let video = d.join("clip.m4a");
    let mut mp4 = vec![0, 0, 0, 0x20];
    mp4.extend_from_slice(b"ftypM4A \0\0\0\0M4A mp42isom\0\0\0\0");
    fs::write(&video, &mp4).expect("write");
    let message = expect_error(
        &video,
        |e| matches!(e, AudioError::Unsupported { .. }),
        "Unsupported",
    );
    assert!(message.contains("MP4"), "{message}");
}

/// An ID3v2.3 tag holding a title, as taggers put in front of MP3 (and
/// sometimes FLAC) files.
fn id3v2_tag(title: &str) -> Vec<u8> {
    let mut frame = b"TIT2".to_vec();
    frame.extend_from_slice(&(title.len() as u32 + 1).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0]); // flags, then text encoding ISO-8859-1
    frame.extend_from_slice(title.as_bytes());
    let size = frame.len() as u32;
    let syncsafe = [
        (size >> 21) & 0x7F,
        (size >> 14) & 0x7F,
        (size >> 7) & 0x7F,
        size & 0x7F,
    ];
    let mut tag = b"ID3\x03\x00\x00".to_vec();
    tag.extend(syncsafe.iter().map(|&b| b as u8));
    tag.extend_from_slice(&frame);
    tag
}

#[test]
fn a_tag_in_front_of_the_audio_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, container) in [
        ("schedule_48k_stereo.mp3", Container::Mp3),
        ("schedule_44k1_stereo.flac", Container::Flac),
    ] {
        let plain = load(name);
        let mut bytes = id3v2_tag("Meeting notes");
        bytes.extend(fs::read(audio_dir().join(name)).expect("read clip"));
        let tagged_path = dir.path().join(format!("tagged-{name}"));
        fs::write(&tagged_path, &bytes).expect("write");
        let tagged = load_clip(&tagged_path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tagged.source().container, container, "{name}");
        assert_eq!(tagged.samples(), plain.samples(), "{name}");
    }
}

/// One Ogg page holding one packet (under 255 bytes), with its CRC.
fn ogg_page(header_type: u8, granule: u64, sequence: u32, packet: &[u8]) -> Vec<u8> {
    assert!(packet.len() < 255);
    let mut page = b"OggS\0".to_vec();
    page.push(header_type);
    page.extend_from_slice(&granule.to_le_bytes());
    page.extend_from_slice(&0x5EED_u32.to_le_bytes()); // stream serial number
    page.extend_from_slice(&sequence.to_le_bytes());
    page.extend_from_slice(&[0; 4]); // CRC, filled in below
    page.extend_from_slice(&[1, packet.len() as u8]);
    page.extend_from_slice(packet);
    // Ogg's CRC-32: polynomial 0x04C11DB7, not reflected, no final XOR.
    let crc = page.iter().fold(0u32, |mut crc, &byte| {
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
        crc
    });
    page[22..26].copy_from_slice(&crc.to_le_bytes());
    page
}

#[test]
fn a_codec_we_cannot_decode_is_named() {
    // A minimal Ogg Opus stream (two header pages and one 20 ms packet of
    // silence): the container announces an Opus track, which this build has no
    // decoder for.
    let mut head = b"OpusHead\x01\x01".to_vec(); // version 1, mono
    head.extend_from_slice(&312u16.to_le_bytes()); // pre-skip
    head.extend_from_slice(&48_000u32.to_le_bytes()); // input sample rate
    head.extend_from_slice(&[0, 0, 0]); // output gain, channel mapping family 0
    let mut tags = b"OpusTags".to_vec();
    tags.extend_from_slice(&4u32.to_le_bytes());
    tags.extend_from_slice(b"test");
    tags.extend_from_slice(&0u32.to_le_bytes());
    let mut bytes = ogg_page(0x02, 0, 0, &head);
    bytes.extend(ogg_page(0x00, 0, 1, &tags));
    bytes.extend(ogg_page(0x04, 312 + 960, 2, &[0xF8, 0xFF, 0xFE]));

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("voice-note.opus");
    fs::write(&path, &bytes).expect("write");
    let message = expect_error(
        &path,
        |e| matches!(e, AudioError::Unsupported { .. }),
        "Unsupported",
    );
    assert!(message.contains("Opus"), "{message}");
}

#[test]
fn damage_inside_a_file_loses_only_what_is_damaged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();

    // A WAV cut short: its header promises more than is there.
    let wav = fs::read(audio_dir().join("schedule.wav")).expect("read schedule.wav");
    let cut = d.join("cut.wav");
    let keep = 44 + 2 * 22_050; // header and one second of 16-bit mono
    fs::write(&cut, &wav[..keep]).expect("write");
    let clip = load_clip(&cut).expect("a truncated WAV still decodes");
    assert!(
        (clip.duration().as_secs_f64() - 1.0).abs() < 0.01,
        "cut WAV lasts {:?}",
        clip.duration()
    );

    // An MP3 with garbage in the middle: the bad frames are skipped.
    let original = load("schedule_48k_stereo.mp3");
    let mut mp3 = fs::read(audio_dir().join("schedule_48k_stereo.mp3")).expect("read mp3");
    let middle = mp3.len() / 2;
    for (i, b) in mp3[middle..middle + 600].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37) ^ 0x5A;
    }
    let damaged = d.join("damaged.mp3");
    fs::write(&damaged, &mp3).expect("write");
    let clip = load_clip(&damaged).expect("a damaged MP3 still decodes");
    let lost = original.duration().as_secs_f64() - clip.duration().as_secs_f64();
    eprintln!("the damaged MP3 lost {lost:.3} s");
    // Some frames were dropped (the decoder noticed), and not many.
    assert!(
        lost > 0.0 && lost < 0.2,
        "lost {lost:.3} s to 600 damaged bytes"
    );
}

#[test]
fn samples_from_memory_are_checked() {
    let invalid = |r: Result<Clip, AudioError>| matches!(r, Err(AudioError::InvalidSamples { .. }));
    assert!(invalid(clip_from_samples(&[0.0; 10], 0, 1)));
    assert!(invalid(clip_from_samples(&[0.0; 10], 16_000, 0)));
    assert!(invalid(clip_from_samples(&[0.0; 9], 44_100, 2)));
    let nothing = clip_from_samples(&[], 48_000, 2).expect("an empty recording is a clip");
    assert!(nothing.is_empty() && nothing.is_silent() && nothing.trimmed().is_none());
    // A bad float from a driver becomes silence instead of poisoning the clip.
    let mut tone = sine(440.0, 48_000, 0.5, 0.5);
    tone[1000] = f32::NAN;
    tone[2000] = f32::INFINITY;
    let clip = clip_from_samples(&tone, 48_000, 1).expect("clip");
    assert!(clip.samples().iter().all(|s| s.is_finite()));
    assert_eq!(clip.source().container, Container::Samples);
    assert_eq!(clip.source().sample_rate, 48_000);
    assert!((clip.source().duration().as_secs_f64() - 0.5).abs() < 1e-9);
}
