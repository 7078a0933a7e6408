//! Streaming conversion of mono audio at any rate to Whisper's 16 kHz.
//!
//! Owns the resampler choice, its parameters, and the bookkeeping that makes the
//! output line up with the input sample for sample: the filter's delay is cut
//! from the front and the tail is flushed, so the output is
//! `round(input_len * 16000 / in_rate)` samples long, neither shifted nor padded.
//! It knows nothing about files or channels: callers push mono blocks.

use rubato::{FftFixedInOut, Resampler};

use super::WHISPER_SAMPLE_RATE;

/// Roughly how many input frames go into one FFT block. The block length is
/// also the anti-aliasing filter's length (a Blackman-Harris windowed sinc), so
/// ~1024 taps at the input rate gives a transition band of a few hundred Hz just
/// under 8 kHz and a deep stopband, while the FFTs stay small and cache-friendly.
const BLOCK_FRAMES_HINT: usize = 1024;

/// The input block length: a whole number of the smallest blocks that map to a
/// whole number of output frames (441 → 320 for 22.05 kHz), and an even number
/// of them. Rubato centres its filter on input frame `block_in / 2` (rounded
/// down) and reports the delay as `block_out / 2`; the two agree only when the
/// block count is even. With an odd count (1323 frames at 22.05 kHz) the output
/// would sit a third of a sample early, which smears everything above 4 kHz.
fn block_frames(in_rate: u32) -> usize {
    let (a, b) = (in_rate as usize, WHISPER_SAMPLE_RATE as usize);
    let gcd = gcd(a, b);
    let min_block = a / gcd;
    let count = BLOCK_FRAMES_HINT.div_ceil(min_block);
    (count + count % 2) * min_block
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Pushes mono blocks in, takes a whole 16 kHz clip out.
pub(crate) struct ToWhisperRate {
    in_rate: u32,
    frames_in: u64,
    out: Vec<f32>,
    fft: Option<FftStage>,
}

struct FftStage {
    resampler: FftFixedInOut<f32>,
    block_in: usize,
    block_out: usize,
    /// Input that did not fill a whole block yet.
    pending: Vec<f32>,
}

impl ToWhisperRate {
    /// `expected_frames` is a capacity hint for the output (0 when unknown).
    pub(crate) fn new(in_rate: u32, expected_frames: usize) -> Result<Self, String> {
        if in_rate == 0 {
            return Err("the sample rate is 0 Hz".to_owned());
        }
        let fft = if in_rate == WHISPER_SAMPLE_RATE {
            None
        } else {
            let block_in = block_frames(in_rate);
            let resampler = FftFixedInOut::<f32>::new(
                in_rate as usize,
                WHISPER_SAMPLE_RATE as usize,
                block_in,
                1,
            )
            .map_err(|e| e.to_string())?;
            let block_out = resampler.output_frames_next();
            if resampler.input_frames_next() != block_in || !block_out.is_multiple_of(2) {
                return Err(format!(
                    "the resampler chose blocks of {} → {block_out} frames, not {block_in} → an even number",
                    resampler.input_frames_next()
                ));
            }
            Some(FftStage {
                resampler,
                block_in,
                block_out,
                pending: Vec::with_capacity(block_in),
            })
        };
        let mut this = ToWhisperRate {
            in_rate,
            frames_in: 0,
            out: Vec::new(),
            fft,
        };
        let capacity = this.output_len(expected_frames as u64) + this.flush_allowance();
        this.out.reserve_exact(capacity);
        Ok(this)
    }

    /// Adds the next mono block.
    pub(crate) fn push(&mut self, mono: &[f32]) -> Result<(), String> {
        self.frames_in += mono.len() as u64;
        let Some(fft) = self.fft.as_mut() else {
            self.out.extend_from_slice(mono);
            return Ok(());
        };
        let mut rest = mono;
        if !fft.pending.is_empty() {
            let take = (fft.block_in - fft.pending.len()).min(rest.len());
            fft.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if fft.pending.len() < fft.block_in {
                return Ok(());
            }
            resample_block(
                &mut fft.resampler,
                fft.block_out,
                &fft.pending,
                &mut self.out,
            )?;
            fft.pending.clear();
        }
        let mut blocks = rest.chunks_exact(fft.block_in);
        for block in &mut blocks {
            resample_block(&mut fft.resampler, fft.block_out, block, &mut self.out)?;
        }
        fft.pending.extend_from_slice(blocks.remainder());
        Ok(())
    }

    /// Flushes the filter and returns the clip, exactly as long as the input
    /// lasted, and aligned with it.
    pub(crate) fn finish(mut self) -> Result<Vec<f32>, String> {
        let wanted = self.output_len(self.frames_in);
        let Some(mut fft) = self.fft.take() else {
            return Ok(self.out);
        };
        // The first `delay` outputs are the filter filling up; what belongs to
        // the last input frames comes out only when zeros push it through.
        let delay = fft.resampler.output_delay();
        while self.out.len() < delay + wanted {
            fft.pending.resize(fft.block_in, 0.0);
            resample_block(
                &mut fft.resampler,
                fft.block_out,
                &fft.pending,
                &mut self.out,
            )?;
            fft.pending.clear();
        }
        self.out.drain(..delay);
        self.out.truncate(wanted);
        Ok(self.out)
    }

    fn output_len(&self, frames_in: u64) -> usize {
        let rate = u64::from(self.in_rate);
        ((frames_in * u64::from(WHISPER_SAMPLE_RATE) + rate / 2) / rate) as usize
    }

    /// Output the flush produces beyond the clip itself: the delay plus up to two
    /// blocks of rounding.
    fn flush_allowance(&self) -> usize {
        self.fft
            .as_ref()
            .map_or(0, |fft| fft.resampler.output_delay() + 2 * fft.block_out)
    }
}

/// Resamples one whole block, appending its output to `out` in place.
fn resample_block(
    resampler: &mut FftFixedInOut<f32>,
    block_out: usize,
    block: &[f32],
    out: &mut Vec<f32>,
) -> Result<(), String> {
    let start = out.len();
    out.resize(start + block_out, 0.0);
    let (_, written) = resampler
        .process_into_buffer(&[block], &mut [&mut out[start..]], None)
        .map_err(|e| e.to_string())?;
    out.truncate(start + written);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resample(input: &[f32], rate: u32, push_sizes: &[usize]) -> Vec<f32> {
        let mut r = ToWhisperRate::new(rate, input.len()).unwrap();
        let mut rest = input;
        let mut sizes = push_sizes.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap()).min(rest.len());
            r.push(&rest[..n]).unwrap();
            rest = &rest[n..];
        }
        r.finish().unwrap()
    }

    /// A single click must come out where it went in, scaled to the new rate, to
    /// a small fraction of a sample: this is what proves the delay compensation.
    /// Its position is the centroid of the filter response around the peak,
    /// which is symmetric when aligned, so an offset of a fraction of a sample
    /// shows.
    #[test]
    fn click_keeps_its_position() {
        for rate in [
            8_000, 11_025, 22_050, 24_000, 44_100, 48_000, 96_000, 44_101,
        ] {
            let len = 2 * rate as usize;
            // A frame that maps onto a whole output sample, so the response is
            // symmetric around it (about 600 ms in, or 1 s for odd rates).
            let min_block = (rate / gcd(rate as usize, 16_000) as u32) as usize;
            let at = (rate as usize * 6 / 10 / min_block).max(1) * min_block;
            let mut input = vec![0.0f32; len];
            input[at] = 1.0;
            let out = resample(&input, rate, &[1000, 7, 4096]);
            assert_eq!(out.len(), 32_000, "rate {rate}");
            let expected = at as f64 * 16_000.0 / rate as f64;
            let peak = expected.round() as usize;
            let window = &out[peak - 40..=peak + 40];
            let weight: f64 = window.iter().map(|&y| f64::from(y)).sum();
            let centroid = window
                .iter()
                .enumerate()
                .map(|(i, &y)| (peak - 40 + i) as f64 * f64::from(y))
                .sum::<f64>()
                / weight;
            assert!(
                (centroid - expected).abs() < 0.02,
                "rate {rate}: click centred at output {centroid:.3}, expected {expected:.3}"
            );
        }
    }

    #[test]
    fn output_length_follows_input_length() {
        for (rate, len) in [
            (44_100, 1),
            (44_100, 441),
            (48_000, 3),
            (22_050, 100_003),
            (8_000, 5),
        ] {
            let out = resample(&vec![0.25; len], rate, &[333]);
            let expected = ((len as u64 * 16_000 + rate as u64 / 2) / rate as u64) as usize;
            assert_eq!(out.len(), expected, "rate {rate}, {len} frames");
        }
    }

    #[test]
    fn whisper_rate_passes_through_untouched() {
        let input: Vec<f32> = (0..5000).map(|i| (i as f32 * 0.01).sin()).collect();
        assert_eq!(resample(&input, 16_000, &[1234]), input);
    }
}
