//! Finding the speech in a 16 kHz mono clip, so silence around it can be cut.
//!
//! An energy detector, chosen because dictation is one speaker close to a
//! microphone: speech is far louder than the room, and what matters is only
//! where it starts and ends, not a frame-accurate speech map. It is made robust
//! to the recording level by judging each frame against the clip's own noise
//! floor and loudest sustained level rather than a fixed threshold alone.
//! It must not decide what a silent clip means; callers do.
//!
//! The thresholds, and why:
//! - 20 ms frames ([`FRAME_SAMPLES`]): shorter than a phoneme, long enough for a
//!   stable level, and a whole number of samples at 16 kHz.
//! - A frame below [`DIGITAL_SILENCE_DB`] is digital silence or dither, and
//!   counts as that level: how far below it goes (-96 dB dither, -inf zeros)
//!   says nothing about the room.
//! - The noise floor is the [`FLOOR_PERCENTILE`]th percentile of the frame
//!   levels: the quietest frames, but not the single quietest, so the zeros a
//!   microphone delivers while it starts, or a momentary dropout, do not set it.
//! - The loudest level is the loudest *sustained* level: the best minimum over
//!   [`LOUD_SPAN_FRAMES`] consecutive frames, so a click cannot set it.
//! - A frame is speech when its level is above all of: [`ABSOLUTE_MIN_DB`]
//!   (quieter than that is no one speaking into a microphone, whatever the
//!   floor: it catches dither and faint hiss in otherwise digital silence),
//!   floor + [`FLOOR_MARGIN_DB`] (room tone fluctuates by a few dB from frame to
//!   frame; a voice stands far above it, and even a clip that is speech from end
//!   to end has pauses and consonants that low; a sound as steady as a fan or
//!   a hum is its own floor and is never speech), and
//!   loudest - [`DYNAMIC_RANGE_DB`]
//!   (breaths and echo tails under a loud voice).
//! - Speech frames separated by less than [`BRIDGE_MS`] belong to one stretch of
//!   speech (pauses between words); a stretch shorter than [`MIN_SPEECH_MS`] is a
//!   click, a knock or a cough fragment, not a word.
//! - [`LEAD_MARGIN_MS`] before the first and [`TRAIL_MARGIN_MS`] after the last
//!   speech frame are kept: soft onsets (an "h", an "s") and word endings sit
//!   below the threshold, and Whisper finishes a sentence more reliably with a
//!   little silence after it.

use std::ops::Range;

use super::WHISPER_SAMPLE_RATE;

const SAMPLES_PER_MS: usize = WHISPER_SAMPLE_RATE as usize / 1000;

/// 20 ms at 16 kHz.
pub const FRAME_SAMPLES: usize = 20 * SAMPLES_PER_MS;
/// Frame level (dBFS RMS) below which a frame is digital silence or dither.
pub const DIGITAL_SILENCE_DB: f32 = -80.0;
/// No frame quieter than this (dBFS RMS) is speech, whatever the noise floor.
pub const ABSOLUTE_MIN_DB: f32 = -60.0;
/// Speech stands at least this far above the noise floor.
pub const FLOOR_MARGIN_DB: f32 = 10.0;
/// Speech is at most this far below the loudest sustained level.
pub const DYNAMIC_RANGE_DB: f32 = 40.0;
/// Which percentile of the frame levels is taken as the noise floor.
pub const FLOOR_PERCENTILE: usize = 10;
/// Frames the loudest level must be sustained over (60 ms).
pub const LOUD_SPAN_FRAMES: usize = 3;
/// Gaps shorter than this between speech frames are pauses inside speech.
pub const BRIDGE_MS: usize = 300;
/// A stretch of speech frames shorter than this is a blip, not speech.
pub const MIN_SPEECH_MS: usize = 100;
/// Audio kept before the first speech frame; the engine makes it up with
/// silence where the clip has less. Measured with the labelled clips cut
/// tight to their speech (docs/accuracy.md, tiny.en f16): 300 ms on both
/// sides gave 9.9 % WER on the tight set (13.9 % with nothing made up), and
/// 250 ms before, 0.5 s or 1 s did no better.
pub const LEAD_MARGIN_MS: usize = 300;
/// Audio kept after the last speech frame, the same way.
pub const TRAIL_MARGIN_MS: usize = 300;

/// Where the speech is in `samples` (16 kHz mono), as sample indices including
/// the margins, clamped to the clip; `None` when there is no speech at all.
pub fn speech_bounds(samples: &[f32]) -> Option<Range<usize>> {
    let speech = speech_frames(samples)?;
    Some(with_margins(
        speech,
        samples.len(),
        LEAD_MARGIN_MS,
        TRAIL_MARGIN_MS,
    ))
}

/// The speech in `samples` without margins: from the start of its first
/// speech frame to the end of its last (clamped to the clip); `None` when
/// there is no speech at all. Callers that need a margin the clip does not
/// have (speech from the first sample on) pad with silence.
pub fn speech_frames(samples: &[f32]) -> Option<Range<usize>> {
    if samples.is_empty() {
        return None;
    }
    let levels: Vec<f32> = samples.chunks(FRAME_SAMPLES).map(level_db).collect();
    let threshold = threshold_db(&levels)?;

    let bridge = frames_in(BRIDGE_MS);
    let min_speech = frames_in(MIN_SPEECH_MS);
    let mut first: Option<usize> = None;
    let mut last_end = 0;
    // The current stretch: [start, end) of speech frames joined across short gaps.
    let mut stretch: Option<(usize, usize)> = None;
    let mut close = |start: usize, end: usize| {
        if end - start >= min_speech {
            first.get_or_insert(start);
            last_end = end;
        }
    };
    for (i, &level) in levels.iter().enumerate() {
        if level <= threshold {
            continue;
        }
        stretch = match stretch {
            Some((start, end)) if i - end < bridge => Some((start, i + 1)),
            Some((start, end)) => {
                close(start, end);
                Some((i, i + 1))
            }
            None => Some((i, i + 1)),
        };
    }
    if let Some((start, end)) = stretch {
        close(start, end);
    }

    let first = first?;
    Some(first * FRAME_SAMPLES..(last_end * FRAME_SAMPLES).min(samples.len()))
}

/// `speech` widened by `lead_ms` before and `trail_ms` after, clamped to a
/// clip of `len` samples.
pub fn with_margins(
    speech: Range<usize>,
    len: usize,
    lead_ms: usize,
    trail_ms: usize,
) -> Range<usize> {
    let start = speech.start.saturating_sub(lead_ms * SAMPLES_PER_MS);
    let end = (speech.end + trail_ms * SAMPLES_PER_MS).min(len);
    start..end
}

/// Whether `samples` (16 kHz mono) hold no speech at all. Quiet clips are
/// settled by their peak alone without framing them.
pub fn is_silent(samples: &[f32]) -> bool {
    let floor = db_to_amplitude(ABSOLUTE_MIN_DB);
    // RMS never exceeds the peak, so a clip whose peak is under the absolute
    // minimum has no frame that could be speech.
    if samples.iter().all(|s| s.abs() < floor) {
        return true;
    }
    speech_bounds(samples).is_none()
}

/// The level above which a frame is speech, or `None` when no frame can be.
fn threshold_db(levels: &[f32]) -> Option<f32> {
    let loudest = levels
        .windows(LOUD_SPAN_FRAMES.min(levels.len()))
        .map(|span| span.iter().copied().fold(f32::INFINITY, f32::min))
        .fold(f32::NEG_INFINITY, f32::max);
    if loudest <= ABSOLUTE_MIN_DB {
        return None;
    }
    let mut clamped: Vec<f32> = levels.iter().map(|&l| l.max(DIGITAL_SILENCE_DB)).collect();
    let k = (clamped.len() - 1) * FLOOR_PERCENTILE / 100;
    let floor = *clamped.select_nth_unstable_by(k, f32::total_cmp).1;
    Some(
        ABSOLUTE_MIN_DB
            .max(floor + FLOOR_MARGIN_DB)
            .max(loudest - DYNAMIC_RANGE_DB),
    )
}

/// A frame's RMS level in dBFS (a full-scale sine is -3 dB).
fn level_db(frame: &[f32]) -> f32 {
    let energy: f32 = frame.iter().map(|s| s * s).sum::<f32>() / frame.len() as f32;
    // The offset keeps digital silence finite: -200 dB, far below any threshold.
    10.0 * (energy + 1e-20).log10()
}

fn db_to_amplitude(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

fn frames_in(ms: usize) -> usize {
    (ms * SAMPLES_PER_MS).div_ceil(FRAME_SAMPLES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(len: usize, amplitude: f32) -> Vec<f32> {
        (0..len)
            .map(|i| amplitude * (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 16_000.0).sin())
            .collect()
    }

    #[test]
    fn a_click_in_silence_is_not_speech() {
        let mut samples = vec![0.0; 32_000];
        // 40 ms of loud noise: shorter than a word.
        samples[16_000..16_640].copy_from_slice(&tone(640, 0.8));
        assert_eq!(speech_bounds(&samples), None);
        assert!(is_silent(&samples));
    }

    #[test]
    fn a_tone_burst_is_found_with_its_margins() {
        let mut samples = vec![0.0; 48_000];
        samples[16_000..24_000].copy_from_slice(&tone(8_000, 0.3));
        let bounds = speech_bounds(&samples).unwrap();
        assert_eq!(bounds.start, 16_000 - LEAD_MARGIN_MS * SAMPLES_PER_MS);
        assert_eq!(bounds.end, 24_000 + TRAIL_MARGIN_MS * SAMPLES_PER_MS);
    }

    #[test]
    fn the_level_does_not_matter_but_the_absolute_minimum_does() {
        for amplitude in [0.9, 0.1, 0.01] {
            let mut samples = vec![0.0; 48_000];
            samples[16_000..24_000].copy_from_slice(&tone(8_000, amplitude));
            assert!(speech_bounds(&samples).is_some(), "amplitude {amplitude}");
        }
        let mut samples = vec![0.0; 48_000];
        samples[16_000..24_000].copy_from_slice(&tone(8_000, 0.0005)); // about -69 dBFS RMS
        assert_eq!(speech_bounds(&samples), None);
    }

    #[test]
    fn words_split_by_short_pauses_are_one_stretch_and_a_distant_click_is_dropped() {
        let mut samples = vec![0.0; 80_000];
        samples[16_000..20_000].copy_from_slice(&tone(4_000, 0.3));
        // Frame-aligned ends, so the expected bounds are exact.
        samples[22_400..28_160].copy_from_slice(&tone(5_760, 0.3)); // after a 150 ms pause
        samples[64_000..64_320].copy_from_slice(&tone(320, 0.9)); // 20 ms click
        let bounds = speech_bounds(&samples).unwrap();
        assert_eq!(bounds.start, 16_000 - LEAD_MARGIN_MS * SAMPLES_PER_MS);
        assert_eq!(bounds.end, 28_160 + TRAIL_MARGIN_MS * SAMPLES_PER_MS);
    }

    #[test]
    fn empty_and_short_clips() {
        assert_eq!(speech_bounds(&[]), None);
        assert!(is_silent(&[]));
        // A clip shorter than the minimum speech length cannot hold a word.
        assert_eq!(speech_bounds(&tone(800, 0.5)), None);
        // A steady sound with nothing quieter around it is judged like room tone
        // (a fan, a hum): it is its own noise floor. Speech is never steady.
        assert_eq!(speech_bounds(&tone(16_000, 0.5)), None);
    }
}
