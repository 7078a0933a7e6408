//! Measures how the encoder window affects accuracy and speed: transcribes
//! each labelled clip (a WAV with a `.txt` of its words beside it) with every
//! window policy given and prints word error rate and time per clip. The
//! word error rate is the tests' and the benchmark's (`ezflow_testbed::wer`).
//!
//! cargo run --release -p ezflow-core --example window_sweep -- MODEL THREADS POLICY[,POLICY…] CLIP…
//! where POLICY is `fitted`, `full` or a frame count such as `512`.

use std::path::Path;
use std::time::Instant;

use ezflow_core::audio;
use ezflow_core::engine::{DecodeOptions, EncoderWindow, LoadedModel};
use ezflow_testbed::assets::reference_text;
use ezflow_testbed::wer::word_error_rate;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        return Err("usage: window_sweep MODEL THREADS POLICY[,POLICY…] CLIP…".into());
    }
    let mut model = LoadedModel::load(Path::new(&args[0]))?;
    let threads: usize = args[1].parse()?;
    let policies: Vec<EncoderWindow> = args[2]
        .split(',')
        .map(|p| match p {
            "fitted" => Ok(EncoderWindow::Fitted),
            "full" => Ok(EncoderWindow::Full),
            n => n.parse().map(EncoderWindow::Fixed),
        })
        .collect::<Result<_, _>>()?;
    let mut totals = vec![(0.0f64, 0.0f64); policies.len()];
    for clip_path in &args[3..] {
        let clip_path = Path::new(clip_path);
        let reference = reference_text(clip_path)?;
        let clip = audio::load_clip(clip_path)?;
        // Warm-up so the first policy is not charged for first-use costs.
        let mut options = DecodeOptions {
            language: None,
            threads,
            window: EncoderWindow::Full,
            ..DecodeOptions::default()
        };
        model.transcribe(clip.samples(), &options)?;
        for (i, policy) in policies.iter().enumerate() {
            options.window = *policy;
            let started = Instant::now();
            let t = model.transcribe(clip.samples(), &options)?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let e = word_error_rate(&reference, &t.text);
            totals[i].0 += e;
            totals[i].1 += ms;
            println!(
                "{:<28} {:>8?} ctx {:>4} fb {:<5} {:>7.0} ms  WER {:>5.2} lp {:>6.2}  {}",
                clip_path
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                policy,
                t.report.audio_ctx,
                t.report.fell_back_to_full_window,
                ms,
                e,
                t.report.avg_logprob,
                t.text
            );
        }
    }
    let n = (args.len() - 3) as f64;
    for (policy, (e, ms)) in policies.iter().zip(totals) {
        println!("mean {:?}: WER {:.3}, {:.0} ms/clip", policy, e / n, ms / n);
    }
    Ok(())
}
