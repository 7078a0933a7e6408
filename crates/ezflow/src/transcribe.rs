//! `ezflow transcribe FILE…`: decode each file, transcribe it with the
//! model lifecycle of the core library, print text or JSON. A file that
//! cannot be read is reported on its own line and the others still run.

use crate::output::outln;
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use anyhow::Context;
use ezflow_config::settings::Settings;
use ezflow_core::audio;
use ezflow_core::engine::{DecodeOptions, EncoderWindow, Segment, Transcript};
use ezflow_core::lifecycle::{LifecycleError, LifecycleEvent, ModelManager, UnloadPolicy};
use ezflow_core::models::ModelStore;
use ezflow_core::telemetry::schema::Surface;
use serde::Serialize;

use crate::cli::TranscribeArgs;

/// One file's result in `--json` output.
#[derive(Serialize)]
struct JsonTranscript<'a> {
    file: &'a Path,
    text: &'a str,
    language: Option<&'a str>,
    segments: &'a [Segment],
    timings: Timings,
}

#[derive(Serialize)]
struct Timings {
    decode_ms: f64,
    /// Time this file waited for the model to load (0 once it is loaded).
    model_load_ms: f64,
    transcribe_ms: f64,
    audio_seconds: f64,
    /// transcribe time / audio time: below 1 is faster than real time.
    real_time_factor: f64,
    /// The encoder window used (1500 = the full 30 s window).
    audio_ctx: i32,
    /// The beam width decoded with (1: greedy).
    beam_size: usize,
    /// Silence added around speech that ran to the clip's edge, in seconds.
    padded_seconds: f32,
}

pub fn run(args: TranscribeArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let model_arg = args.model.as_deref().unwrap_or(&settings.model);
    let store = ModelStore::open_default()?;
    let model_path = store.resolve(model_arg)?;
    // Flags went through the settings' own parsers (cli.rs), so a value
    // meets the same rule wherever it comes from.
    let language = args.language.unwrap_or(settings.language).code();
    let threads = args.threads.unwrap_or(settings.threads).resolve();
    let options = DecodeOptions {
        language,
        threads,
        window: if args.full_window {
            EncoderWindow::Full
        } else {
            EncoderWindow::Fitted
        },
        beam_size: args.beam.unwrap_or(settings.beam_size).get(),
    };

    let telemetry = crate::telemetry::open(settings);
    if let Some(t) = &telemetry {
        crate::telemetry::log_failure(t.record_launch(Surface::Cli));
    }
    // The process ends after the last file: no idle unload needed.
    let manager = ModelManager::new(model_path, UnloadPolicy::Never);
    let events = manager.subscribe();
    let mut failures = 0usize;
    for file in &args.files {
        match transcribe_file(&manager, &events, file, &options) {
            Ok((transcript, timings)) => {
                if let Some(t) = &telemetry {
                    crate::telemetry::log_failure(t.record_transcription(
                        Duration::from_secs_f64(timings.audio_seconds),
                        model_arg,
                        // The engine runs whisper.cpp on the CPU only.
                        false,
                        Duration::from_secs_f64(timings.transcribe_ms / 1000.0),
                    ));
                }
                print_result(file, &transcript, timings, &args)?
            }
            Err(FileError::Audio(error)) => {
                failures += 1;
                eprintln!("ezflow: {error}");
            }
            Err(FileError::Transcribe(error)) => {
                failures += 1;
                eprintln!("ezflow: {}: {error}", file.display());
            }
            // Without a model no other file can succeed either.
            Err(FileError::Model(error)) => {
                return Err(anyhow::Error::new(error)).context("cannot load the model");
            }
        }
    }
    // Everything the user asked for is printed; only now may telemetry
    // spend a moment on the network.
    if let Some(t) = &telemetry {
        crate::output::flush();
        crate::telemetry::deliver_at_exit(t);
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

enum FileError {
    Audio(audio::AudioError),
    Model(LifecycleError),
    Transcribe(LifecycleError),
}

fn transcribe_file(
    manager: &ModelManager,
    events: &Receiver<LifecycleEvent>,
    file: &Path,
    options: &DecodeOptions,
) -> Result<(Transcript, Timings), FileError> {
    let _span = tracing::info_span!("file", file = %file.display()).entered();
    let started = Instant::now();
    let clip = audio::load_clip(file).map_err(FileError::Audio)?;
    let decode = started.elapsed();

    let started = Instant::now();
    let transcript = manager
        .transcribe(clip.samples(), options)
        .map_err(|e| match e {
            LifecycleError::Load(_) => FileError::Model(e),
            LifecycleError::Transcribe(_) => FileError::Transcribe(e),
        })?;
    let total = started.elapsed();
    let model_load = events
        .try_iter()
        .filter_map(|event| match event {
            LifecycleEvent::Loaded { took, .. } => Some(took),
            _ => None,
        })
        .sum::<Duration>();
    let transcribe = total.saturating_sub(model_load);
    let audio_seconds = clip.duration().as_secs_f64();
    let timings = Timings {
        decode_ms: ms(decode),
        model_load_ms: ms(model_load),
        transcribe_ms: ms(transcribe),
        audio_seconds: (audio_seconds * 1000.0).round() / 1000.0,
        real_time_factor: if audio_seconds > 0.0 {
            (transcribe.as_secs_f64() / audio_seconds * 10_000.0).round() / 10_000.0
        } else {
            0.0
        },
        audio_ctx: transcript.report.audio_ctx,
        beam_size: transcript.report.beam_size,
        padded_seconds: transcript.report.padded_seconds,
    };
    Ok((transcript, timings))
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

fn print_result(
    file: &Path,
    transcript: &Transcript,
    timings: Timings,
    args: &TranscribeArgs,
) -> anyhow::Result<()> {
    let heard_nothing = transcript.text.trim().is_empty();
    if heard_nothing {
        // Said on stderr, so a script reading stdout gets no line for it.
        eprintln!(
            "ezflow: no speech heard in {}: it is silent, or holds no words the model recognises",
            file.display()
        );
    }
    if args.json {
        let json = JsonTranscript {
            file,
            text: &transcript.text,
            language: transcript.language.as_deref(),
            segments: &transcript.segments,
            timings,
        };
        outln!("{}", serde_json::to_string(&json)?);
    } else if heard_nothing {
        // Nothing on stdout: a script sees no text rather than an empty line.
    } else if args.files.len() > 1 {
        outln!("{}: {}", file.display(), transcript.text);
    } else {
        outln!("{}", transcript.text);
    }
    Ok(())
}
