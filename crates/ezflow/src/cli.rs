//! The command line: every subcommand and option of `ezflow`, and nothing
//! else. What each command does lives in its own module.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ezflow_config::settings::{BeamSize, Language, Threads};

/// EZ Flow: private, local voice dictation.
#[derive(Debug, Parser)]
#[command(
    name = "ezflow",
    version = crate::launcher::version(),
    about,
    propagate_version = true
)]
pub struct Cli {
    /// Log more (-v: info, -vv: debug). EZFLOW_LOG=<filter> overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// How the applications menu starts EZ Flow: when it is already
    /// running, open its settings window instead of failing.
    #[arg(long)]
    pub launcher: bool,

    /// Without a command, EZ Flow runs as the always-on dictation app.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Transcribe audio files (WAV, FLAC, MP3, OGG/Vorbis) and print the text.
    Transcribe(TranscribeArgs),
    /// List, download, import and remove Whisper models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Show the settings file (`ezflow settings` or `ezflow settings show`),
    /// or open the settings window (`ezflow settings open`).
    Settings {
        #[command(subcommand)]
        command: Option<SettingsCommand>,
    },
    /// Anonymous usage statistics: off unless you turn them on.
    #[command(subcommand)]
    Telemetry(TelemetryCommand),
    /// Start EZ Flow when you log in: the `autostart` setting and the
    /// desktop's autostart entry that follows it.
    #[command(subcommand)]
    Autostart(AutostartCommand),
    /// Start dictation if idle, stop it (and insert the text) if recording.
    Toggle,
    /// Start recording a dictation.
    Start,
    /// Stop recording; the text goes into the focused window.
    Stop,
    /// Stop recording and throw the audio away.
    Cancel,
    /// Show what the running app is doing.
    Status(StatusArgs),
    /// Load the model now, so the next dictation does not wait for it.
    Load,
    /// Unload the model now to free its memory.
    Unload,
    /// Make the running app read the settings file again.
    ReloadSettings,
    /// List the microphones EZ Flow can record from.
    Microphones,
}

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Show where the settings file is and what it holds (the default).
    Show,
    /// Open the settings window: the running app brings it up (or to the
    /// front); without a running app it is started on its own.
    Open,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Also show the app's own performance counters: memory now, the model
    /// and its load time, dictations today, median latency and real-time
    /// factor of the recent dictations.
    #[arg(long)]
    pub stats: bool,
    /// Print JSON (the control socket's `status` and `stats` objects).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum TelemetryCommand {
    /// Show whether statistics are on, where they go, and what waits.
    Status,
    /// Start recording and sending anonymous usage statistics.
    Enable,
    /// Stop, and delete everything not yet sent.
    Disable,
    /// Print the exact JSON the next batch will carry.
    Preview,
    /// Print the local copy of every batch already sent.
    Sent,
    /// Send what waits now instead of later.
    Send,
}

#[derive(Debug, Subcommand)]
pub enum AutostartCommand {
    /// Start EZ Flow at login: sets `autostart = true` and writes the entry
    /// (through the running app, if there is one).
    Enable,
    /// Stop starting EZ Flow at login: sets `autostart = false` and removes
    /// EZ Flow's entry (a file EZ Flow did not write is left as it is).
    Disable,
    /// Show the setting, the entry's path, and whether the entry is EZ
    /// Flow's and current. Exit status 0 when they agree, 1 when not.
    Status,
}

#[derive(Debug, Args)]
pub struct TranscribeArgs {
    /// Audio files to transcribe.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Model to use: a catalog id (see `ezflow models list`) or a model file.
    /// Default: the settings file's `model`.
    #[arg(long, short)]
    pub model: Option<String>,

    /// "auto", or a Whisper language code ("en", "de", ...) or its English
    /// name, checked by the same rule as the settings file's `language`
    /// (its default).
    #[arg(long, short, value_name = "CODE|auto")]
    pub language: Option<Language>,

    /// Threads for whisper.cpp: "auto" or 0 (one per physical core), or 1 to
    /// 64, checked by the same rule as the settings file's `threads` (its
    /// default).
    #[arg(long, short, value_name = "N|auto")]
    pub threads: Option<Threads>,

    /// Print one JSON object per file: text, timed segments and timings.
    #[arg(long)]
    pub json: bool,

    /// Always encode the full 30 s window (whisper.cpp's default) instead of
    /// a window sized to the clip. Slower; for comparisons.
    #[arg(long)]
    pub full_window: bool,

    /// Beam width for decoding: 1 is greedy (fastest), up to 8, checked by
    /// the same rule as the settings file's `beam_size` (its default).
    #[arg(long, value_name = "N")]
    pub beam: Option<BeamSize>,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the catalog and installed models, with sizes, marking the active one.
    List,
    /// Download a model from the catalog (resumes a partial download).
    Download {
        /// Catalog id, e.g. base.en.
        id: String,
    },
    /// Delete an installed model.
    Remove {
        /// Installed model id.
        id: String,
    },
    /// Print the path of an installed model file.
    Path {
        /// Installed model id.
        id: String,
    },
    /// Convert a CTranslate2 (faster-whisper) Whisper model directory into a
    /// GGML model file and install it.
    Import {
        /// Directory holding model.bin, config.json and vocabulary.txt.
        dir: PathBuf,
        /// Install under this id (default: derived from the model, e.g. tiny.en).
        #[arg(long, conflicts_with = "output")]
        id: Option<String>,
        /// Write the model file here instead of installing it.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Replace an existing model file.
        #[arg(long)]
        force: bool,
        /// Store the weight matrices as f16, or quantized to 8 bits (q8_0:
        /// about half the size, faster on most CPUs; installed as e.g.
        /// tiny.en-q8_0).
        #[arg(long, value_enum, default_value_t = Quantize::F16)]
        quantize: Quantize,
    },
}

/// Weight formats `models import` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Quantize {
    #[value(name = "f16")]
    F16,
    #[value(name = "q8_0")]
    Q8_0,
}
