//! The mel filter bank a Whisper model file carries.
//!
//! OpenAI's `mel_filters.npz` (which whisper.cpp's converters copy into every
//! model file) is `librosa.filters.mel(sr=16000, n_fft=400, n_mels=80 or 128)`:
//! Slaney's mel scale (linear below 1 kHz, logarithmic above), triangular
//! filters, Slaney area normalisation, float32. This module computes the same
//! bank with librosa's arithmetic, step for step; it must not know about files.

/// Slaney's mel scale: linear with 200/3 Hz per mel up to 1 kHz, then
/// logarithmic with 27 mels per factor 6.4.
const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step()
    } else {
        hz / F_SP
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL {
        MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp()
    } else {
        F_SP * mel
    }
}

/// numpy's `linspace(start, stop, num)`: `i * step + start`, last point exact.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 1 {
        return vec![start];
    }
    let step = (stop - start) / (num - 1) as f64;
    let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    if let Some(last) = v.last_mut() {
        *last = stop;
    }
    v
}

/// The mel filter bank for `n_mels` bands over an `n_fft`-point FFT at
/// `sample_rate`, from 0 Hz to Nyquist, as `n_mels` rows of `n_fft / 2 + 1`
/// weights (row-major), bit-for-bit what librosa 0.10 returns as float32 up to
/// the last-place rounding of `ln`/`exp`.
pub fn slaney_filter_bank(sample_rate: u32, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let n_bins = n_fft / 2 + 1;
    // numpy's rfftfreq: k * (1 / (n * d)) with d = 1 / sr.
    let bin_hz = 1.0 / (n_fft as f64 * (1.0 / f64::from(sample_rate)));
    let fft_freqs: Vec<f64> = (0..n_bins).map(|k| k as f64 * bin_hz).collect();

    let fmax = f64::from(sample_rate) / 2.0;
    let mel_points = linspace(hz_to_mel(0.0), hz_to_mel(fmax), n_mels + 2);
    let mel_f: Vec<f64> = mel_points.into_iter().map(mel_to_hz).collect();
    let fdiff: Vec<f64> = mel_f.windows(2).map(|w| w[1] - w[0]).collect();

    let mut weights = vec![0f32; n_mels * n_bins];
    for (i, row) in weights.chunks_exact_mut(n_bins).enumerate() {
        // Slaney normalisation: each triangle gets unit area over Hz.
        let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        for (w, &f) in row.iter_mut().zip(&fft_freqs) {
            let lower = -(mel_f[i] - f) / fdiff[i];
            let upper = (mel_f[i + 2] - f) / fdiff[i + 1];
            // librosa stores the triangle in a float32 array, then scales that
            // array in place (computed in f64, stored back as f32).
            let triangle = lower.min(upper).max(0.0) as f32;
            *w = (f64::from(triangle) * enorm) as f32;
        }
    }
    weights
}
