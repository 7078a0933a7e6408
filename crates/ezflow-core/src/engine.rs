//! The transcription engine: one loaded Whisper model (the whisper.cpp context
//! plus one reusable decoding state) and how a 16 kHz clip becomes a
//! transcript.
//!
//! It owns the dictation-specific speed and accuracy levers: trimming silence,
//! sizing the encoder window (`audio_ctx`) to the clip, the guards that stop a
//! shortened window from looping or hallucinating, and filtering non-speech
//! annotations. It also times each stage of a transcription (trim, log-mel,
//! encoder, decoder), reporting the figures in [`DecodeReport`] and as
//! `tracing` spans. It does not decide *when* a model is loaded or unloaded:
//! that is [`crate::lifecycle`]'s job.

use std::ffi::c_void;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once, PoisonError};
use std::time::{Duration, Instant};

use tracing::field::Empty;
use tracing::span::EnteredSpan;
use tracing::Span;
use whisper_rs::{
    whisper_rs_sys, FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters,
    WhisperState,
};

use crate::audio::speech::{with_margins, LEAD_MARGIN_MS, TRAIL_MARGIN_MS};
use crate::audio::{self, WHISPER_SAMPLE_RATE};
use crate::model_file;
use crate::timing::{millis, timed};

/// The widest beam the engine decodes with (whisper.cpp's own limit is 8).
pub const MAX_BEAM_SIZE: usize = 8;
/// Whisper's encoder sees at most 30 s: 1500 frames of 20 ms.
const FULL_AUDIO_CTX: i32 = 1500;
/// Encoder frames per second of audio.
const AUDIO_CTX_PER_SECOND: f32 = 50.0;
/// Frames added beyond the clip so the last word is never at the window edge.
const AUDIO_CTX_MARGIN: i32 = 128;
/// The smallest window we ever decode with. Measured on short real-speech
/// clips (see docs/architecture.md, "Decoding short clips"): below this, tiny
/// and base models start looping on 1-2 s clips.
const MIN_AUDIO_CTX: i32 = 512;
/// The gzip compression ratio above which a transcript is a repetition loop
/// (the same threshold OpenAI's reference decoder uses).
const MAX_COMPRESSION_RATIO: f32 = 2.4;
/// An upper bound on how fast anyone speaks, in text tokens per second
/// (fast speech is about 4 words/s, ~5.5 tokens/s with punctuation). A
/// transcript denser than this for its audio is a hallucination.
const MAX_TOKENS_PER_SECOND: f32 = 9.0;
/// Tokens always allowed on top of the per-second budget, for very short
/// clips with a long word or a number.
const TOKEN_BUDGET_SLACK: f32 = 12.0;

/// Something went wrong loading a model or transcribing with it.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("model file {path} does not exist; run `ezflow models list` to see installed models")]
    ModelMissing { path: PathBuf },
    /// The file is damaged or not a model; the message names the file.
    #[error(transparent)]
    InvalidModel(#[from] model_file::ModelFileError),
    #[error("whisper.cpp could not load model {path} (the file may be damaged; remove it and download or import it again)")]
    LoadFailed { path: PathBuf },
    #[error("not enough memory to prepare model {path} for transcription")]
    StateFailed { path: PathBuf },
    #[error("model {path} only understands English, but language '{language}' was requested; use a multilingual model (for example 'base') or language 'en'")]
    EnglishOnlyModel { path: PathBuf, language: String },
    #[error("transcription failed inside whisper.cpp: {0}")]
    Whisper(#[from] whisper_rs::WhisperError),
}

/// How much of Whisper's 30 s encoder window to use for a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncoderWindow {
    /// Sized to the clip, with the full window as the fallback when the
    /// result looks wrong. The fast default for dictation.
    #[default]
    Fitted,
    /// Always the full 30 s window: whisper.cpp's own behaviour, the
    /// accuracy reference.
    Full,
    /// A fixed number of encoder frames (50 per second), no fallback. For
    /// measurements only.
    Fixed(i32),
}

/// How to transcribe one clip.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// The Whisper code of the spoken language (`"de"`), or `None` to let
    /// the model detect it. An English-only model decodes English either
    /// way, and refuses any other code.
    pub language: Option<&'static str>,
    /// Threads whisper.cpp may use; at least 1.
    pub threads: usize,
    pub window: EncoderWindow,
    /// Beam width: 1 decodes greedily (the most likely token at each step);
    /// more keeps that many candidate transcripts and picks the most likely
    /// whole one, at a cost in decoding time.
    pub beam_size: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            language: None,
            threads: 1,
            window: EncoderWindow::Fitted,
            beam_size: 1,
        }
    }
}

/// One timed piece of a transcript, relative to the start of the clip.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Segment {
    #[serde(serialize_with = "ser_secs")]
    pub start: Duration,
    #[serde(serialize_with = "ser_secs")]
    pub end: Duration,
    pub text: String,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// What the decoder did, for `--json`, logs and benchmarks.
///
/// The `*_ms` stage timings are wall-clock milliseconds (to the microsecond).
/// `mel_ms + encode_ms + decode_ms` is exactly the time spent inside
/// whisper.cpp's `whisper_full`, all passes together; `whisper_ms` also
/// counts the engine's own work between and around the passes (setting
/// parameters, reading the segments back, judging a pass), so it is never
/// smaller, up to its rounding down to whole milliseconds. A clip without
/// speech runs no pass: all but `trim_ms` are 0.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DecodeReport {
    /// The part of the clip that held speech, in seconds; `None` for silence.
    pub speech_seconds: Option<f32>,
    /// The encoder window of the pass whose result was kept.
    pub audio_ctx: i32,
    /// Whether the short-window pass was rejected and the clip decoded again
    /// with the full window.
    pub fell_back_to_full_window: bool,
    /// The beam width decoded with (1: greedy); 0 when no pass ran.
    pub beam_size: usize,
    /// Silence added before and after the speech, in seconds, where the clip
    /// itself had less than the decoder's margin (speech from the first or
    /// to the last sample).
    pub padded_seconds: f32,
    /// Time spent in whisper.cpp, all passes together.
    pub whisper_ms: u64,
    /// Mean log-probability of the kept pass's tokens (0 when it has none):
    /// the decoder's confidence.
    pub avg_logprob: f32,
    /// Finding where the speech is, to trim the silence around it (the
    /// energy detector over the whole clip).
    pub trim_ms: f64,
    /// Inside `whisper_full` before the encoder starts, all passes together:
    /// the log-mel spectrogram of the trimmed clip and, only when a
    /// multilingual model detects the language itself, that detection (one
    /// encoder run and one decoder step, which whisper.cpp does not let us
    /// time apart). With an English-only model or a given language it is the
    /// log-mel spectrogram alone.
    pub mel_ms: f64,
    /// The encoder, all passes together: from whisper.cpp's encoder-begin
    /// callback to the end of the encoder run (convolution, transformer
    /// layers and the cross-attention projections), the same interval
    /// whisper.cpp accumulates as its own encode time.
    pub encode_ms: f64,
    /// Inside `whisper_full` from the end of the encoder until it returns,
    /// all passes together: the decoder's forward passes plus token sampling,
    /// whisper.cpp's own temperature-fallback re-decodes, timestamps and
    /// segment building (whisper.cpp gives no hook to split these).
    pub decode_ms: f64,
}

/// The text of a clip.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Transcript {
    /// The whole text, segments joined, trimmed. Empty for a clip without
    /// speech.
    pub text: String,
    pub segments: Vec<Segment>,
    /// The language the text is in, when known.
    pub language: Option<String>,
    pub report: DecodeReport,
}

/// A Whisper model in memory with its one reusable decoding state.
///
/// Creating a state allocates tens to hundreds of MB, so it is made once at
/// load and reused for every clip; transcriptions on one model therefore take
/// `&mut self` and run one at a time.
pub struct LoadedModel {
    // Field order matters: the state must be freed before the context.
    state: WhisperState,
    _context: WhisperContext,
    /// What `model_file::inspect` read from the file before loading it.
    info: model_file::ModelFileInfo,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

fn route_whisper_logs_to_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(whisper_rs::install_logging_hooks);
}

impl LoadedModel {
    /// Checks the model file and loads it.
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        let _span = tracing::info_span!("model_load", path = %path.display()).entered();
        if !path.is_file() {
            return Err(EngineError::ModelMissing {
                path: path.to_path_buf(),
            });
        }
        // whisper.cpp reports a damaged file only as "failed to load"; check
        // it ourselves first so the user hears what is wrong with it.
        let info = model_file::inspect(path)?;
        route_whisper_logs_to_tracing();
        let path_str = path.to_str().ok_or_else(|| EngineError::LoadFailed {
            path: path.to_path_buf(),
        })?;
        let mut params = WhisperContextParameters::default();
        params.use_gpu(false);
        let context = WhisperContext::new_with_params(path_str, params).map_err(|_| {
            EngineError::LoadFailed {
                path: path.to_path_buf(),
            }
        })?;
        let state = context
            .create_state()
            .map_err(|_| EngineError::StateFailed {
                path: path.to_path_buf(),
            })?;
        Ok(Self {
            state,
            _context: context,
            info,
        })
    }

    /// The model file as inspected before loading: path, size, kind.
    pub fn info(&self) -> &model_file::ModelFileInfo {
        &self.info
    }

    /// Transcribes a 16 kHz mono clip.
    ///
    /// Silence at either end is trimmed first; a clip without speech gives
    /// an empty transcript without running the model at all.
    ///
    /// Runs in an info-level `transcribe` span; its stages run in debug-level
    /// `trim`, `decode_pass`, `mel`, `encode` and `decode` spans. Each span
    /// records its duration as the `duration_ms` field when it ends (a stage
    /// that runs more than once in a pass, such as the encoder on audio over
    /// 30 s, records the total).
    pub fn transcribe(
        &mut self,
        samples: &[f32],
        options: &DecodeOptions,
    ) -> Result<Transcript, EngineError> {
        let span = tracing::info_span!("transcribe", samples = samples.len(), duration_ms = Empty);
        let (result, _) = timed(span, || self.transcribe_clip(samples, options));
        result
    }

    fn transcribe_clip(
        &mut self,
        samples: &[f32],
        options: &DecodeOptions,
    ) -> Result<Transcript, EngineError> {
        let language = self.resolve_language(options.language)?;
        let trim_span = tracing::debug_span!("trim", duration_ms = Empty);
        let (speech, trim) = timed(trim_span, || audio::speech::speech_frames(samples));
        let Some(speech) = speech else {
            tracing::debug!("no speech in clip");
            return Ok(Transcript {
                language: language.map(str::to_owned),
                report: DecodeReport {
                    trim_ms: millis(trim),
                    ..DecodeReport::default()
                },
                ..Transcript::default()
            });
        };
        let framed = SpeechFrame::around(speech, samples.len());
        let padded = framed.samples(samples);
        let speech_samples: &[f32] = &padded;
        let speech_secs = speech_samples.len() as f32 / WHISPER_SAMPLE_RATE as f32;
        let threads = options.threads.max(1);
        let beam_size = options.beam_size.clamp(1, MAX_BEAM_SIZE);
        let started = Instant::now();

        let (first_ctx, may_fall_back) = match options.window {
            EncoderWindow::Fitted => (fitted_audio_ctx(speech_secs), true),
            EncoderWindow::Full => (FULL_AUDIO_CTX, false),
            EncoderWindow::Fixed(frames) => (frames.clamp(1, FULL_AUDIO_CTX), false),
        };
        let mut pass = self.decode_pass(speech_samples, language, threads, beam_size, first_ctx)?;
        let mut stages = pass.stages;
        let mut fell_back = false;
        if may_fall_back && first_ctx < FULL_AUDIO_CTX {
            if let Some(reason) = degenerate(&pass, speech_secs) {
                tracing::debug!(audio_ctx = first_ctx, reason, text = %pass.text(), "short window rejected; decoding with the full window");
                pass =
                    self.decode_pass(speech_samples, language, threads, beam_size, FULL_AUDIO_CTX)?;
                stages.add(pass.stages);
                fell_back = true;
            }
        }
        let whisper_ms = started.elapsed().as_millis() as u64;
        let avg_logprob = pass.avg_logprob;
        Ok(pass.into_transcript(
            &framed,
            DecodeReport {
                speech_seconds: Some(speech_secs),
                audio_ctx: if fell_back { FULL_AUDIO_CTX } else { first_ctx },
                fell_back_to_full_window: fell_back,
                beam_size,
                padded_seconds: (framed.lead_pad + framed.trail_pad) as f32
                    / WHISPER_SAMPLE_RATE as f32,
                whisper_ms,
                avg_logprob,
                trim_ms: millis(trim),
                mel_ms: millis(stages.mel),
                encode_ms: millis(stages.encode),
                decode_ms: millis(stages.decode),
            },
        ))
    }

    /// The language to decode in: `None` lets the model detect it.
    fn resolve_language(
        &self,
        language: Option<&'static str>,
    ) -> Result<Option<&'static str>, EngineError> {
        match language {
            None if self.info.english_only => Ok(Some("en")),
            Some(code) if self.info.english_only && code != "en" => {
                Err(EngineError::EnglishOnlyModel {
                    path: self.info.path.clone(),
                    language: code.to_owned(),
                })
            }
            code => Ok(code),
        }
    }

    fn decode_pass(
        &mut self,
        speech: &[f32],
        language: Option<&'static str>,
        threads: usize,
        beam_size: usize,
        audio_ctx: i32,
    ) -> Result<Pass, EngineError> {
        let span = tracing::debug_span!("decode_pass", audio_ctx, beam_size, duration_ms = Empty);
        let (pass, _) = timed(span, || {
            self.run_pass(speech, language, threads, beam_size, audio_ctx)
        });
        pass
    }

    fn run_pass(
        &mut self,
        speech: &[f32],
        language: Option<&'static str>,
        threads: usize,
        beam_size: usize,
        audio_ctx: i32,
    ) -> Result<Pass, EngineError> {
        let speech_secs = speech.len() as f32 / WHISPER_SAMPLE_RATE as f32;
        let mut params = base_params(language, beam_size);
        params.set_n_threads(threads as i32);
        params.set_audio_ctx(if audio_ctx >= FULL_AUDIO_CTX {
            0
        } else {
            audio_ctx
        });
        // Bound the decoder to what the clip could possibly hold, so a
        // looping decode stops early instead of filling 224 tokens.
        if audio_ctx < FULL_AUDIO_CTX {
            params.set_max_tokens(token_budget(speech_secs) as i32);
            // No temperature fallback inside whisper.cpp for the short
            // window: measured, its resampling at higher temperatures is
            // what turned correct short-window decodes into invented words
            // (and cost a second or more); a looping result goes to the
            // full window instead (see `degenerate`).
            params.set_temperature_inc(0.0);
        }
        let mut clock = StageClock::start();
        clock.attach(&mut params);
        let result = self.state.full(params, speech);
        let stages = clock.finish();
        result?;

        let mut segments = Vec::new();
        let mut tokens = 0usize;
        let mut logprob_sum = 0.0f32;
        for segment in self.state.as_iter() {
            let n = segment.n_tokens();
            tokens += usize::try_from(n).unwrap_or(0);
            for i in 0..n {
                if let Some(token) = segment.get_token(i) {
                    logprob_sum += token.token_data().plog;
                }
            }
            let text = segment.to_str_lossy()?.into_owned();
            segments.push(RawSegment {
                start_cs: segment.start_timestamp(),
                end_cs: segment.end_timestamp(),
                text,
            });
        }
        let detected = whisper_rs::get_lang_str(self.state.full_lang_id_from_state());
        Ok(Pass {
            segments,
            tokens,
            avg_logprob: if tokens > 0 {
                logprob_sum / tokens as f32
            } else {
                0.0
            },
            language: language.or(detected).map(str::to_owned),
            stages,
        })
    }
}

/// Decoding parameters for `language` (`None`: whisper.cpp detects it), with
/// everything that is the same for every pass already set.
///
/// whisper-rs 0.16's `FullParams::set_language` copies the code into a
/// `CString` and hands whisper.cpp the pointer from `CString::into_raw`;
/// nothing ever frees it (`FullParams` has no `Drop`). Calling it on fresh
/// parameters for every pass leaked one small allocation per pass. So the
/// parameters are made once per language and beam width (1 to
/// [`MAX_BEAM_SIZE`], as the caller clamped it) for the whole process and cloned
/// for each pass: a clone copies the pointer, not the string. The process
/// holds at most one such string per language it has decoded in (whisper
/// knows about 100), still reachable from this cache.
fn base_params(language: Option<&'static str>, beam_size: usize) -> FullParams<'static, 'static> {
    type Key = (Option<&'static str>, usize);
    type Cache = Vec<(Key, FullParams<'static, 'static>)>;
    static CACHE: Mutex<Cache> = Mutex::new(Vec::new());
    let key = (language, beam_size);
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, params)) = cache.iter().find(|(k, _)| *k == key) {
        return params.clone();
    }
    let strategy = if beam_size == 1 {
        SamplingStrategy::Greedy { best_of: 1 }
    } else {
        SamplingStrategy::BeamSearch {
            beam_size: beam_size as i32,
            patience: -1.0,
        }
    };
    let mut params = FullParams::new(strategy);
    // A null language is whisper.cpp's "auto": detect it (no allocation).
    params.set_language(language);
    params.set_no_context(true);
    params.set_suppress_nst(true);
    params.set_suppress_blank(true);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_special(false);
    params.set_print_timestamps(false);
    cache.push((key, params.clone()));
    params
}

/// Where the time inside one `whisper_full` call went.
#[derive(Debug, Clone, Copy, Default)]
struct StageTimes {
    mel: Duration,
    encode: Duration,
    decode: Duration,
}

impl StageTimes {
    fn add(&mut self, other: StageTimes) {
        self.mel += other.mel;
        self.encode += other.encode;
        self.decode += other.decode;
    }
}

/// The stages of one `whisper_full` call, in the order they begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Mel = 0,
    Encode = 1,
    Decode = 2,
}

impl Stage {
    fn span(self) -> Span {
        match self {
            Stage::Mel => tracing::debug_span!("mel", duration_ms = Empty),
            Stage::Encode => tracing::debug_span!("encode", duration_ms = Empty),
            Stage::Decode => tracing::debug_span!("decode", duration_ms = Empty),
        }
    }
}

/// Splits the time of one `whisper_full` call into its stages, told by
/// whisper.cpp's callbacks (the per-state timings it keeps itself are in a
/// struct opaque to Rust, and `whisper_get_timings` reads only the
/// context's default state, which this engine does not use).
///
/// whisper.cpp computes the log-mel spectrogram (and, for automatic language
/// on a multilingual model, detects the language) first; then for each 30 s
/// window it calls the encoder-begin callback, runs the encoder, asks the
/// abort callback whether to stop, and decodes, asking the abort callback
/// again after every decoder step. So the first abort check after an
/// encoder begin is the encoder's end, and everything from there to the next
/// encoder begin, or to the return, is decoding.
struct StageClock {
    stage: Stage,
    since: Instant,
    totals: [Duration; 3],
    /// One span per stage, made when the stage first begins, so a stage
    /// that never ran leaves no span.
    spans: [Option<Span>; 3],
    /// The span of the running stage, entered.
    entered: Option<EnteredSpan>,
}

impl StageClock {
    /// Starts timing, in the log-mel stage: call just before `whisper_full`.
    fn start() -> Self {
        let mut clock = StageClock {
            stage: Stage::Mel,
            since: Instant::now(),
            totals: [Duration::ZERO; 3],
            spans: [None, None, None],
            entered: None,
        };
        clock.enter_span(Stage::Mel);
        clock
    }

    /// Points the callbacks in `params` at this clock.
    ///
    /// The clock must stay where it is, and be used by nothing else, until
    /// the `whisper_full` call that gets `params` returns: whisper.cpp calls
    /// both callbacks on the calling thread, only during that call.
    fn attach(&mut self, params: &mut FullParams<'_, '_>) {
        let clock: *mut StageClock = self;
        // SAFETY: the callbacks only turn `clock` back into `&mut StageClock`
        // while whisper.cpp runs `whisper_full` on this thread, and the
        // caller keeps the clock alive and untouched for that long (it calls
        // `finish` only after `whisper_full` returned). Neither callback
        // touches the context or state pointers.
        unsafe {
            params.set_start_encoder_callback(Some(on_encoder_begin));
            params.set_start_encoder_callback_user_data(clock.cast());
            params.set_abort_callback(Some(on_abort_check));
            params.set_abort_callback_user_data(clock.cast());
        }
    }

    /// Ends the running stage and begins `next`.
    fn switch(&mut self, next: Stage) {
        self.close_running();
        self.stage = next;
        self.enter_span(next);
    }

    fn close_running(&mut self) {
        let now = Instant::now();
        self.totals[self.stage as usize] += now.saturating_duration_since(self.since);
        self.since = now;
        drop(self.entered.take());
    }

    fn enter_span(&mut self, stage: Stage) {
        let span = self.spans[stage as usize].get_or_insert_with(|| stage.span());
        self.entered = Some(span.clone().entered());
    }

    /// Stops timing: call as soon as `whisper_full` returned.
    fn finish(mut self) -> StageTimes {
        self.close_running();
        for (span, took) in self.spans.iter().zip(self.totals) {
            if let Some(span) = span {
                span.record("duration_ms", millis(took));
            }
        }
        StageTimes {
            mel: self.totals[Stage::Mel as usize],
            encode: self.totals[Stage::Encode as usize],
            decode: self.totals[Stage::Decode as usize],
        }
    }
}

/// whisper.cpp calls this just before each run of the encoder.
unsafe extern "C" fn on_encoder_begin(
    _context: *mut whisper_rs_sys::whisper_context,
    _state: *mut whisper_rs_sys::whisper_state,
    clock: *mut c_void,
) -> bool {
    // SAFETY: `clock` is the `StageClock` that `StageClock::attach` set, alive
    // and otherwise unused while `whisper_full` runs (see there).
    let clock = unsafe { &mut *clock.cast::<StageClock>() };
    clock.switch(Stage::Encode);
    // Go on encoding.
    true
}

/// whisper.cpp asks this whether to abort after each encoder run and each
/// decoder step; the first ask after an encoder begin is the encoder's end.
unsafe extern "C" fn on_abort_check(clock: *mut c_void) -> bool {
    // SAFETY: as in `on_encoder_begin`.
    let clock = unsafe { &mut *clock.cast::<StageClock>() };
    if clock.stage == Stage::Encode {
        clock.switch(Stage::Decode);
    }
    // Never abort.
    false
}

struct RawSegment {
    /// whisper.cpp timestamps are in centiseconds.
    start_cs: i64,
    end_cs: i64,
    text: String,
}

struct Pass {
    segments: Vec<RawSegment>,
    tokens: usize,
    /// Mean log-probability of the decoded tokens: the decoder's confidence.
    avg_logprob: f32,
    language: Option<String>,
    stages: StageTimes,
}

impl Pass {
    fn text(&self) -> String {
        self.segments
            .iter()
            .map(|s| s.text.as_str())
            .collect::<String>()
            .trim()
            .to_owned()
    }

    fn into_transcript(self, framed: &SpeechFrame, report: DecodeReport) -> Transcript {
        let segments: Vec<Segment> = self
            .segments
            .into_iter()
            .filter_map(|s| {
                let text = strip_annotations(&s.text);
                if text.is_empty() {
                    return None;
                }
                Some(Segment {
                    start: framed.clip_time(s.start_cs),
                    end: framed.clip_time(s.end_cs),
                    text,
                })
            })
            .collect();
        let text = segments
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        Transcript {
            text,
            segments,
            language: self.language,
            report,
        }
    }
}

/// What the decoder is given of a clip: the speech with the speech finder's
/// margins ([`LEAD_MARGIN_MS`] before it, [`TRAIL_MARGIN_MS`] after it), taken
/// from the clip where the clip has them and made of digital silence where it
/// does not (speech that starts at the first sample, or is cut off by the key
/// going up). Without the silence, speech from the first sample came out lower
/// case, unpunctuated and with words lost (docs/accuracy.md).
#[derive(Debug, Clone, PartialEq, Eq)]
struct SpeechFrame {
    /// The part of the clip that is used, speech and margins.
    kept: Range<usize>,
    /// Samples of silence added before and after `kept`.
    lead_pad: usize,
    trail_pad: usize,
    /// The clip's length, for clamping timestamps.
    clip_len: usize,
}

impl SpeechFrame {
    fn around(speech: Range<usize>, clip_len: usize) -> Self {
        let kept = with_margins(speech.clone(), clip_len, LEAD_MARGIN_MS, TRAIL_MARGIN_MS);
        let per_ms = WHISPER_SAMPLE_RATE as usize / 1000;
        Self {
            lead_pad: (LEAD_MARGIN_MS * per_ms).saturating_sub(speech.start - kept.start),
            trail_pad: (TRAIL_MARGIN_MS * per_ms).saturating_sub(kept.end - speech.end),
            kept,
            clip_len,
        }
    }

    /// The samples to decode: borrowed when the clip has the margins.
    fn samples<'a>(&self, clip: &'a [f32]) -> std::borrow::Cow<'a, [f32]> {
        let kept = &clip[self.kept.clone()];
        if self.lead_pad == 0 && self.trail_pad == 0 {
            return std::borrow::Cow::Borrowed(kept);
        }
        let mut padded = Vec::with_capacity(self.lead_pad + kept.len() + self.trail_pad);
        padded.resize(self.lead_pad, 0.0);
        padded.extend_from_slice(kept);
        padded.resize(padded.len() + self.trail_pad, 0.0);
        std::borrow::Cow::Owned(padded)
    }

    /// A decoder timestamp (centiseconds into the decoded samples) as a time
    /// in the clip, clamped to the clip: a word whisper places in the added
    /// silence is at the clip's edge.
    fn clip_time(&self, cs: i64) -> Duration {
        let rate = WHISPER_SAMPLE_RATE as i64;
        let decoded = cs.max(0).saturating_mul(rate / 100);
        let in_clip = (self.kept.start as i64 - self.lead_pad as i64 + decoded)
            .clamp(0, self.clip_len as i64) as u64;
        Duration::from_nanos(in_clip * 1_000_000_000 / rate as u64)
    }
}

/// The encoder window for a clip of `seconds`: just enough frames for the
/// audio plus a margin, never below [`MIN_AUDIO_CTX`] nor above the full
/// 30 s window.
pub fn fitted_audio_ctx(seconds: f32) -> i32 {
    let frames = (seconds * AUDIO_CTX_PER_SECOND).ceil() as i32 + AUDIO_CTX_MARGIN;
    frames.clamp(MIN_AUDIO_CTX, FULL_AUDIO_CTX)
}

/// The most text tokens a clip of `seconds` can plausibly hold.
pub fn token_budget(seconds: f32) -> usize {
    (TOKEN_BUDGET_SLACK + MAX_TOKENS_PER_SECOND * seconds).ceil() as usize
}

/// Why a short-window pass looks wrong, if it does.
fn degenerate(pass: &Pass, speech_secs: f32) -> Option<&'static str> {
    let text = pass.text();
    if pass.tokens >= token_budget(speech_secs) {
        return Some("hit the token budget for the clip length");
    }
    if compression_ratio(&text) > MAX_COMPRESSION_RATIO {
        return Some("repetitive text (compression ratio)");
    }
    if has_repeated_phrase(&text) {
        return Some("repeated phrase");
    }
    None
}

/// gzip's compression ratio of the text: high for repetition loops.
pub fn compression_ratio(text: &str) -> f32 {
    if text.is_empty() {
        return 0.0;
    }
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    if encoder.write_all(text.as_bytes()).is_err() {
        return 0.0;
    }
    match encoder.finish() {
        Ok(compressed) if !compressed.is_empty() => text.len() as f32 / compressed.len() as f32,
        _ => 0.0,
    }
}

/// True when the same phrase of 1-8 words occurs three or more times in a
/// row: the typical loop of a decoder that lost its place. Natural speech
/// ("no, no, no") rarely repeats a phrase three times; when it does, the
/// full-window pass decides.
pub fn has_repeated_phrase(text: &str) -> bool {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    for n in 1..=8 {
        if words.len() < n * 3 {
            break;
        }
        for start in 0..=(words.len() - n * 3) {
            let a = &words[start..start + n];
            let b = &words[start + n..start + 2 * n];
            let c = &words[start + 2 * n..start + 3 * n];
            if a == b && b == c {
                return true;
            }
        }
    }
    false
}

/// Removes non-speech annotations such as `[BLANK_AUDIO]`, `(music)` or
/// `*coughs*` that Whisper emits for noise: a dictation must not type them.
pub fn strip_annotations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut closer: Option<char> = None;
    for c in text.chars() {
        match closer {
            Some(close) if c == close => closer = None,
            Some(_) => {}
            None => match c {
                '[' => closer = Some(']'),
                '(' => closer = Some(')'),
                '*' => closer = Some('*'),
                '♪' => {}
                _ => out.push(c),
            },
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_settings_language_table_matches_whisper_cpp() {
        // The settings validate languages without linking whisper.cpp, from their
        // own table; it must be whisper.cpp's own: same codes, names and ids.
        use ezflow_config::settings::WHISPER_LANGUAGES;
        let max = whisper_rs::get_lang_max_id();
        assert_eq!(usize::try_from(max + 1).ok(), Some(WHISPER_LANGUAGES.len()));
        for (id, (code, name)) in WHISPER_LANGUAGES.iter().enumerate() {
            let id = i32::try_from(id).expect("id fits");
            assert_eq!(whisper_rs::get_lang_str(id), Some(*code), "id {id}");
            assert_eq!(whisper_rs::get_lang_str_full(id), Some(*name), "id {id}");
        }
    }

    use super::*;

    #[test]
    fn the_settings_beam_limit_is_the_engines() {
        // The settings accept beam widths without linking whisper.cpp; their
        // limit must be the one the engine decodes with.
        assert_eq!(
            ezflow_config::settings::MAX_BEAM_SIZE as usize,
            MAX_BEAM_SIZE
        );
    }

    const PER_MS: usize = 16;

    #[test]
    fn speech_frame_adds_only_the_silence_the_clip_lacks() {
        // Speech from the first sample to the last of a 1 s clip: both
        // margins are added.
        let f = SpeechFrame::around(0..16_000, 16_000);
        assert_eq!(
            (f.kept.clone(), f.lead_pad, f.trail_pad),
            (0..16_000, 300 * PER_MS, 300 * PER_MS)
        );
        // Room on both sides: the margins come from the clip, nothing added.
        let f = SpeechFrame::around(16_000..32_000, 64_000);
        assert_eq!(
            (f.kept.clone(), f.lead_pad, f.trail_pad),
            (16_000 - 300 * PER_MS..32_000 + 300 * PER_MS, 0, 0)
        );
        // 100 ms before the speech: 200 ms added; 50 ms after: 250 ms added.
        let f = SpeechFrame::around(100 * PER_MS..16_000 - 50 * PER_MS, 16_000);
        assert_eq!(
            (f.kept.clone(), f.lead_pad, f.trail_pad),
            (0..16_000, 200 * PER_MS, 250 * PER_MS)
        );

        let clip = vec![0.5f32; 16_000];
        let framed = SpeechFrame::around(0..16_000, 16_000);
        let samples = framed.samples(&clip);
        assert_eq!(samples.len(), 16_000 + 600 * PER_MS);
        let (lead, rest) = samples.split_at(300 * PER_MS);
        let (speech, trail) = rest.split_at(16_000);
        assert!(lead.iter().chain(trail).all(|&s| s == 0.0));
        assert!(speech.iter().all(|&s| s == 0.5));
        // Nothing added: the clip's own samples, not a copy.
        let roomy = vec![0.5f32; 64_000];
        let framed = SpeechFrame::around(16_000..32_000, 64_000);
        assert!(matches!(
            framed.samples(&roomy),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn decoder_times_map_back_into_the_clip() {
        // 300 ms of silence added before a clip that starts with speech.
        let f = SpeechFrame::around(0..16_000, 16_000);
        // A word whisper places in the added silence starts at the clip's start.
        assert_eq!(f.clip_time(10), Duration::ZERO);
        assert_eq!(f.clip_time(50), Duration::from_millis(200));
        // Past the clip's end (in the silence added after): its end.
        assert_eq!(f.clip_time(140), Duration::from_secs(1));
        // Margins from the clip: decoder time 0 is the start of the kept part.
        let f = SpeechFrame::around(16_000..32_000, 64_000);
        assert_eq!(f.clip_time(0), Duration::from_millis(700));
        assert_eq!(f.clip_time(-5), Duration::from_millis(700));
    }

    #[test]
    fn audio_ctx_is_fitted_floored_and_capped() {
        assert_eq!(fitted_audio_ctx(0.5), MIN_AUDIO_CTX);
        assert_eq!(fitted_audio_ctx(10.0), 500 + AUDIO_CTX_MARGIN);
        assert_eq!(fitted_audio_ctx(29.0), FULL_AUDIO_CTX);
        assert_eq!(fitted_audio_ctx(120.0), FULL_AUDIO_CTX);
    }

    #[test]
    fn repetition_loops_are_detected() {
        assert!(has_repeated_phrase("I think I think I think so"));
        assert!(has_repeated_phrase(
            "the end of the day the end of the day the end of the day"
        ));
        assert!(!has_repeated_phrase(
            "ask not what your country can do for you, ask what you can do for your country"
        ));
        let looped = "Thank you. ".repeat(20);
        assert!(compression_ratio(&looped) > MAX_COMPRESSION_RATIO);
        assert!(compression_ratio("Please schedule the meeting for Tuesday afternoon.") < 2.0);
    }

    #[test]
    fn annotations_are_removed() {
        assert_eq!(strip_annotations(" [BLANK_AUDIO]"), "");
        assert_eq!(
            strip_annotations("(upbeat music) Hello there."),
            "Hello there."
        );
        assert_eq!(strip_annotations("Hi *coughs* there ♪"), "Hi there");
        assert_eq!(strip_annotations(" Ask not."), "Ask not.");
    }
}
