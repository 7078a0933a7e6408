//! The real `ezflow` binary, driven as a user would: transcription of real
//! speech with the real model, JSON output, every kind of bad file, model
//! management against a real HTTP server on loopback, and broken settings.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ezflow_core::catalog::BASE_URL_ENV;
use ezflow_core::telemetry::PRINT_ENV;
use ezflow_testbed::assets::asset;
use ezflow_testbed::home::IsolatedHome;
use ezflow_testbed::http::LoopbackServer;
use ezflow_testbed::process::WatchedProcess;

/// A user with their own (empty) config and models directories.
struct User {
    home: IsolatedHome,
}

impl User {
    fn new() -> Self {
        Self {
            home: IsolatedHome::new(),
        }
    }

    fn config_dir(&self) -> PathBuf {
        self.home.config_dir()
    }

    fn models_dir(&self) -> PathBuf {
        self.home.models_dir()
    }

    /// The binary in this home: the desktop's autostart directory in it
    /// too (`XDG_CONFIG_HOME`), so no test writes the machine's own
    /// `~/.config/autostart`, and the binary is its own public path.
    fn ezflow(&self) -> Command {
        let mut command = self.home.command(env!("CARGO_BIN_EXE_ezflow"));
        command
            .env_remove(BASE_URL_ENV)
            .env_remove(PRINT_ENV)
            .env("XDG_CONFIG_HOME", self.xdg_config())
            .env_remove(PUBLIC_EXE_ENV);
        command
    }

    /// The user's `XDG_CONFIG_HOME`.
    fn xdg_config(&self) -> PathBuf {
        self.home.join("xdg-config")
    }

    /// `$XDG_CONFIG_HOME/autostart/ezflow.desktop`.
    fn autostart_entry(&self) -> PathBuf {
        self.xdg_config().join("autostart").join("ezflow.desktop")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.ezflow().args(args).output().expect("ezflow runs")
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn model_arg() -> String {
    asset("ggml-tiny.en.bin").display().to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn transcribes_real_speech_to_stdout() {
    let user = User::new();
    let jfk = asset("jfk.wav");
    let out = user.run(&["transcribe", "--model", &model_arg(), s(&jfk)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out).to_lowercase();
    assert!(
        text.contains("ask not what your country can do for you"),
        "{text}"
    );
    assert!(
        text.contains("ask what you can do for your country"),
        "{text}"
    );
}

#[test]
fn json_output_has_text_segments_and_timings() {
    let user = User::new();
    let out = user.run(&[
        "transcribe",
        "--json",
        "--threads",
        "2",
        "--model",
        &model_arg(),
        s(&asset("jfk.wav")),
        s(&asset("audio/schedule_44k1_stereo.flac")),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 2);
    let jfk = &lines[0];
    assert!(jfk["file"].as_str().expect("file").ends_with("jfk.wav"));
    assert!(jfk["text"]
        .as_str()
        .expect("text")
        .contains("fellow Americans"));
    assert_eq!(jfk["language"], "en");
    let segments = jfk["segments"].as_array().expect("segments");
    assert!(!segments.is_empty());
    for seg in segments {
        assert!(seg["start"].as_f64().expect("start") <= seg["end"].as_f64().expect("end"));
    }
    let timings = &jfk["timings"];
    assert!((timings["audio_seconds"].as_f64().expect("audio") - 11.0).abs() < 0.01);
    assert!(
        timings["model_load_ms"].as_f64().expect("load") > 0.0,
        "first file loads the model"
    );
    let transcribe_ms = timings["transcribe_ms"].as_f64().expect("transcribe");
    let rtf = timings["real_time_factor"].as_f64().expect("rtf");
    assert!((rtf - transcribe_ms / 11_000.0).abs() < 0.001, "{timings}");
    assert!(timings["decode_ms"].as_f64().expect("decode") >= 0.0);
    // Greedy by default; the JFK clip's speech comes closer than 300 ms to
    // its edges, so the engine added silence.
    assert_eq!(timings["beam_size"], 1, "{timings}");
    assert!(
        timings["padded_seconds"].as_f64().expect("padded") > 0.0,
        "{timings}"
    );
    // The second file reuses the loaded model.
    assert_eq!(lines[1]["timings"]["model_load_ms"].as_f64(), Some(0.0));
    assert!(lines[1]["text"].as_str().expect("text").contains("Tuesday"));
}

#[test]
fn bad_files_are_reported_one_line_each_and_the_rest_still_transcribed() {
    let user = User::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.wav");
    std::fs::File::create(&empty).expect("create");
    let text_file = dir.path().join("notes.mp3");
    std::fs::write(&text_file, "these are my notes, not audio\n".repeat(50)).expect("write");
    let missing = dir.path().join("missing.ogg");
    let good = asset("audio/schedule.wav");

    let out = user.run(&[
        "transcribe",
        "--model",
        &model_arg(),
        s(&empty),
        s(&good),
        s(&text_file),
        s(&missing),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Tuesday"),
        "the good file is transcribed"
    );
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "one line per bad file: {err}");
    assert!(
        lines[0].contains("empty.wav") && lines[0].contains("empty"),
        "{err}"
    );
    assert!(lines[1].contains("notes.mp3"), "{err}");
    assert!(lines[2].contains("missing.ogg"), "{err}");
}

#[test]
fn silence_prints_nothing_and_says_so_on_stderr() {
    let user = User::new();
    let clip = asset("audio/silence_3s.wav");
    let out = user.run(&["transcribe", "--model", &model_arg(), s(&clip)]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Not even an empty line: a script reading stdout sees no text.
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(
        err.contains("no speech heard in") && err.contains("silence_3s.wav"),
        "{err}"
    );
}

/// Every flag and argument of every command, fed a wrong type, an
/// out-of-range, empty, huge or non-UTF-8 value: each gets a clear one-line
/// reason and exit status 2 (usage, refused before anything runs) or 1 (a
/// runtime refusal), within seconds: never a hang, never a panic.
#[test]
fn every_bad_argument_is_refused_clearly_and_quickly() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    use std::time::Duration;

    let user = User::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("a-pipe.wav");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo failed");
    let clip = asset("audio/schedule.wav");
    let model = model_arg();
    let huge = "9".repeat(5000);
    let not_utf8 = OsString::from_vec(vec![b'e', 0xff, b'n']);
    let arg = |a: &str| OsString::from(a);
    let path = |p: &Path| p.as_os_str().to_owned();
    // (arguments, expected exit status, words the reason must contain)
    let cases: Vec<(Vec<OsString>, i32, &str)> = vec![
        // transcribe --threads: the settings' rule (0/auto or 1–64).
        (
            vec![arg("transcribe"), arg("--threads"), arg("999"), path(&clip)],
            2,
            "more than 64 threads",
        ),
        (
            vec![arg("transcribe"), arg("--threads"), arg("two"), path(&clip)],
            2,
            "not a whole number",
        ),
        (
            vec![arg("transcribe"), arg("--threads"), arg(""), path(&clip)],
            2,
            "--threads",
        ),
        (
            vec![arg("transcribe"), arg("--threads"), arg(&huge), path(&clip)],
            2,
            "--threads",
        ),
        (
            vec![
                arg("transcribe"),
                arg("--threads"),
                not_utf8.clone(),
                path(&clip),
            ],
            2,
            "invalid UTF-8",
        ),
        // transcribe --beam: the settings' rule for beam_size (1–8).
        (
            vec![arg("transcribe"), arg("--beam"), arg("0"), path(&clip)],
            2,
            "at least 1",
        ),
        (
            vec![arg("transcribe"), arg("--beam"), arg("12"), path(&clip)],
            2,
            "wider than 8",
        ),
        // transcribe --language: the settings' rule.
        (
            vec![
                arg("transcribe"),
                arg("--language"),
                arg("klingon"),
                path(&clip),
            ],
            2,
            "Whisper does not know this language",
        ),
        (
            vec![arg("transcribe"), arg("--language"), arg(""), path(&clip)],
            2,
            "it is empty",
        ),
        (
            vec![
                arg("transcribe"),
                arg("--language"),
                arg(&huge),
                path(&clip),
            ],
            2,
            "--language",
        ),
        (
            vec![
                arg("transcribe"),
                arg("--language"),
                not_utf8.clone(),
                path(&clip),
            ],
            2,
            "invalid UTF-8",
        ),
        // transcribe --model.
        (
            vec![arg("transcribe"), arg("--model"), arg(""), path(&clip)],
            1,
            "it is empty",
        ),
        (
            vec![
                arg("transcribe"),
                arg("--model"),
                path(dir.path()),
                path(&clip),
            ],
            1,
            "is a directory, not a model file",
        ),
        (
            vec![arg("transcribe"), arg("--model"), path(&fifo), path(&clip)],
            1,
            "is a named pipe (FIFO), not a model file",
        ),
        (
            vec![arg("transcribe"), arg("--model"), arg(&huge), path(&clip)],
            1,
            "unknown model",
        ),
        (
            vec![
                arg("transcribe"),
                arg("--model"),
                not_utf8.clone(),
                path(&clip),
            ],
            2,
            "invalid UTF-8",
        ),
        // transcribe FILE: a folder, a named pipe (opening it would block),
        // a missing file, a non-UTF-8 name, none at all.
        (
            vec![
                arg("transcribe"),
                arg("--model"),
                arg(&model),
                path(dir.path()),
            ],
            1,
            "is a directory, not an audio file",
        ),
        (
            vec![arg("transcribe"), arg("--model"), arg(&model), path(&fifo)],
            1,
            "is a named pipe (FIFO), not an audio file",
        ),
        (
            vec![
                arg("transcribe"),
                arg("--model"),
                arg(&model),
                path(&dir.path().join("gone.wav")),
            ],
            1,
            "No such file",
        ),
        (
            vec![
                arg("transcribe"),
                arg("--model"),
                arg(&model),
                not_utf8.clone(),
            ],
            1,
            "No such file",
        ),
        (
            vec![arg("transcribe"), arg("--model"), arg(&model)],
            2,
            "<FILE>",
        ),
        // models download|remove|path ID.
        (
            vec![arg("models"), arg("download"), arg("")],
            1,
            "unknown model",
        ),
        (
            vec![arg("models"), arg("download"), arg("../etc")],
            1,
            "unknown model",
        ),
        (
            vec![arg("models"), arg("download"), arg(&huge)],
            1,
            "unknown model",
        ),
        (
            vec![arg("models"), arg("download"), not_utf8.clone()],
            2,
            "invalid UTF-8",
        ),
        (
            vec![arg("models"), arg("remove"), arg("")],
            1,
            "it is empty",
        ),
        (
            vec![arg("models"), arg("remove"), not_utf8.clone()],
            2,
            "invalid UTF-8",
        ),
        (
            vec![arg("models"), arg("path"), arg("../etc/ggml-x.bin")],
            1,
            "does not exist",
        ),
        (
            vec![arg("models"), arg("path"), not_utf8.clone()],
            2,
            "invalid UTF-8",
        ),
        // models import DIR --quantize --id --output.
        (
            vec![arg("models"), arg("import"), path(&clip)],
            1,
            "is not a directory",
        ),
        (
            vec![arg("models"), arg("import"), path(&dir.path().join("gone"))],
            1,
            "is not a directory",
        ),
        (
            vec![
                arg("models"),
                arg("import"),
                path(dir.path()),
                arg("--quantize"),
                arg("q4"),
            ],
            2,
            "possible values",
        ),
        (
            vec![
                arg("models"),
                arg("import"),
                path(dir.path()),
                arg("--quantize"),
                arg(""),
            ],
            2,
            "--quantize",
        ),
        (
            vec![
                arg("models"),
                arg("import"),
                path(dir.path()),
                arg("--id"),
                not_utf8.clone(),
            ],
            2,
            "invalid UTF-8",
        ),
        (
            vec![
                arg("models"),
                arg("import"),
                path(dir.path()),
                arg("--id"),
                arg("x"),
                arg("--output"),
                arg("y"),
            ],
            2,
            "cannot be used with",
        ),
        // Flags that take no value, unknown commands and flags.
        (
            vec![arg("status"), arg("--stats=yes")],
            2,
            "unexpected value",
        ),
        (vec![arg("status"), arg("--json=1")], 2, "unexpected value"),
        (
            vec![arg("telemetry"), arg("bogus")],
            2,
            "unrecognized subcommand",
        ),
        (vec![arg("bogus")], 2, "unrecognized subcommand"),
        (
            vec![arg("autostart"), arg("on")],
            2,
            "unrecognized subcommand",
        ),
        (vec![arg("toggle"), arg("--now")], 2, "unexpected argument"),
        (vec![not_utf8.clone()], 2, "unrecognized subcommand"),
        // A control command with no app running.
        (vec![arg("stop")], 1, "not running"),
    ];
    for (args, expected, reason) in &cases {
        let mut command = user.ezflow();
        command.args(args).env(
            BASE_URL_ENV,
            format!("http://{}", ezflow_testbed::http::unused_loopback_addr()),
        );
        let out = ezflow_testbed::process::output_within(&mut command, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("ezflow {args:?}: {e}"));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(*expected), "ezflow {args:?}: {err}");
        assert!(
            err.contains(reason),
            "ezflow {args:?} should say {reason:?}: {err}"
        );
        assert!(!err.contains("panicked"), "ezflow {args:?} panicked: {err}");
        assert_eq!(stdout(&out), "", "ezflow {args:?} printed to stdout");
    }
}

#[test]
fn a_missing_or_broken_model_is_a_clear_error() {
    let user = User::new();
    let clip = asset("audio/schedule.wav");
    let out = user.run(&["transcribe", "--model", "base.en", s(&clip)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("ezflow models download base.en"),
        "{}",
        stderr(&out)
    );

    let out = user.run(&["transcribe", "--model", "no-such-model", s(&clip)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("ezflow models list"),
        "{}",
        stderr(&out)
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let truncated = dir.path().join("ggml-cut.bin");
    let bytes = std::fs::read(asset("ggml-tiny.en.bin")).expect("model");
    std::fs::write(&truncated, &bytes[..bytes.len() - 1000]).expect("write");
    let out = user.run(&["transcribe", "--model", s(&truncated), s(&clip)]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("ggml-cut.bin"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn a_corrupt_settings_file_is_moved_aside_and_defaults_used() {
    let user = User::new();
    std::fs::create_dir_all(user.config_dir()).expect("mkdir");
    let settings = user.config_dir().join("settings.toml");
    std::fs::write(&settings, "model = \"tiny.en\nthreads = [").expect("write");
    let out = user.run(&[
        "transcribe",
        "--model",
        &model_arg(),
        s(&asset("audio/schedule.wav")),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("settings.toml"), "{}", stderr(&out));
    assert!(!settings.exists());
    let moved: Vec<_> = std::fs::read_dir(user.config_dir())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert!(moved[0].starts_with("settings.toml.corrupt-"), "{moved:?}");
}

#[test]
fn an_invalid_setting_is_named_and_the_rest_still_applies() {
    let user = User::new();
    std::fs::create_dir_all(user.config_dir()).expect("mkdir");
    let settings = user.config_dir().join("settings.toml");
    let model = model_arg();
    std::fs::write(
        &settings,
        format!("model = {model:?}\nthreads = \"many\"\nidle_unlaod = \"5m\"\n"),
    )
    .expect("write");
    // No --model: the file's model is used despite the other bad keys.
    let out = user.run(&["transcribe", s(&asset("audio/schedule.wav"))]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("threads"), "{err}");
    assert!(
        err.contains("idle_unlaod") && err.contains("idle_unload"),
        "{err}"
    );
    assert!(stdout(&out).contains("Tuesday"));
    assert!(settings.exists(), "a file with bad values is left alone");
}

#[test]
fn models_import_installs_and_list_path_remove_work() {
    let user = User::new();
    let ct2 = asset("ct2-tiny.en");
    let out = user.run(&["models", "import", s(&ct2)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let installed = user.models_dir().join("ggml-tiny.en.bin");
    assert!(installed.is_file());

    let out = user.run(&["models", "path", "tiny.en"]);
    assert_eq!(stdout(&out).trim(), installed.display().to_string());

    let out = user.run(&["models", "list"]);
    assert!(out.status.success());
    let list = stdout(&out);
    let line = list
        .lines()
        .find(|l| l.trim_start().starts_with("tiny.en "))
        .expect("tiny.en listed");
    assert!(line.contains("imported"), "{line}");
    assert!(list.contains("large-v3-turbo"), "the catalog is listed");

    // Importing again refuses to overwrite without --force.
    let out = user.run(&["models", "import", s(&ct2)]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));

    // The installed model transcribes by id.
    let out = user.run(&[
        "transcribe",
        "--model",
        "tiny.en",
        s(&asset("audio/schedule.wav")),
    ]);
    assert!(stdout(&out).contains("Tuesday"), "{}", stderr(&out));

    let out = user.run(&["models", "remove", "tiny.en"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!installed.exists());
    let out = user.run(&["models", "remove", "tiny.en"]);
    assert!(!out.status.success());
}

#[test]
fn models_import_quantize_q8_0_installs_a_quantized_model_that_transcribes() {
    let user = User::new();
    let ct2 = asset("ct2-tiny.en");
    let out = user.run(&["models", "import", s(&ct2), "--quantize", "q8_0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("tiny.en-q8_0"), "{}", stdout(&out));
    let installed = user.models_dir().join("ggml-tiny.en-q8_0.bin");
    assert!(installed.is_file());
    assert!(
        !user.models_dir().join("ggml-tiny.en.bin").exists(),
        "only the quantized model is installed"
    );
    let info = ezflow_core::model_file::inspect(&installed).expect("a valid model file");
    assert_eq!(info.weight_type, ezflow_core::model_file::TensorType::Q8_0);

    let out = user.run(&["models", "list"]);
    let list = stdout(&out);
    let line = list
        .lines()
        .find(|l| l.trim_start().starts_with("tiny.en-q8_0 "))
        .expect("tiny.en-q8_0 listed");
    assert!(line.contains("imported"), "{line}");

    let out = user.run(&[
        "transcribe",
        "--model",
        "tiny.en-q8_0",
        s(&asset("audio/schedule.wav")),
    ]);
    assert!(stdout(&out).contains("Tuesday"), "{}", stderr(&out));

    let out = user.run(&["models", "import", s(&ct2), "--quantize", "q4_0"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("q8_0"), "{}", stderr(&out));
}

#[test]
fn importing_something_that_is_not_a_model_writes_nothing() {
    let user = User::new();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("config.json"), "{}").expect("write");
    let out = user.run(&["models", "import", s(dir.path()), "--id", "junk"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("model.bin"), "{}", stderr(&out));
    let leftovers = std::fs::read_dir(user.models_dir())
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0, "nothing written to the models directory");
}

#[test]
fn a_download_that_fails_verification_installs_nothing() {
    let user = User::new();
    // Not the real tiny.en-q5_1: wrong size and hash.
    let server = LoopbackServer::answering(200, vec![7u8; 200_000]);
    let out = user
        .ezflow()
        .env(BASE_URL_ENV, server.base_url())
        .args(["models", "download", "tiny.en-q5_1"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("size") || err.contains("SHA-256"), "{err}");
    assert!(!user.models_dir().join("ggml-tiny.en-q5_1.bin").exists());

    let server = LoopbackServer::answering(404, b"not here".to_vec());
    let out = user
        .ezflow()
        .env(BASE_URL_ENV, server.base_url())
        .args(["models", "download", "base.en"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));
    assert!(!user.models_dir().join("ggml-base.en.bin").exists());

    let out = user.run(&["models", "download", "no-such-model"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("ezflow models list"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn settings_shows_the_file_and_values() {
    let user = User::new();
    let out = user.run(&["settings"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("settings.toml"));
    for key in ["model", "language", "threads", "idle_unload"] {
        assert!(text.contains(key), "{key} missing from: {text}");
    }
    let _ = std::io::stdout().flush();
}

#[test]
fn settings_names_a_hotkey_the_app_cannot_register() {
    let user = User::new();
    std::fs::create_dir_all(user.config_dir()).expect("config dir");
    let settings = user.config_dir().join("settings.toml");
    std::fs::write(&settings, "hotkey = \"Ctrl+Alt+Spcae\"\n").expect("write");
    let out = user.run(&["settings"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("hotkey \"Ctrl+Alt+Spcae\""), "{err}");
    assert!(err.contains("did you mean Space?"), "{err}");
    assert!(err.contains("settings.toml"), "{err}");
    // The value is shown as written, and the file is left as it was.
    assert!(stdout(&out).contains("Ctrl+Alt+Spcae"), "{}", stdout(&out));
    assert_eq!(
        std::fs::read_to_string(&settings).expect("read"),
        "hotkey = \"Ctrl+Alt+Spcae\"\n"
    );

    std::fs::write(&settings, "hotkey = \"Ctrl+Alt+Space\"\n").expect("write");
    let out = user.run(&["settings"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("hotkey"), "{}", stderr(&out));
}

#[test]
fn output_to_a_reader_that_has_gone_away_ends_quietly() {
    // As in `ezflow models list | head -0`: the pipe's read end is closed
    // before ezflow starts, so its first write to stdout fails with EPIPE.
    let (read_end, write_end) = std::io::pipe().expect("pipe");
    drop(read_end);
    let user = User::new();
    for args in [&["settings"][..], &["models", "list"]] {
        let out = user
            .ezflow()
            .args(args)
            .stdout(write_end.try_clone().expect("dup"))
            .output()
            .expect("ezflow runs");
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).is_empty(), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn output_to_a_full_disk_is_named() {
    let user = User::new();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = user
        .ezflow()
        .arg("settings")
        .stdout(full)
        .output()
        .expect("ezflow runs");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("cannot write to standard output"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

// --- Start at login: `ezflow autostart` and the entry that follows the setting.

/// The launcher's variable naming the public binary
/// (`crates/ezflow/src/launcher.rs`).
const PUBLIC_EXE_ENV: &str = "EZFLOW_EXE";
/// The mark of an entry EZ Flow wrote.
const MARK: &str = "X-EZFlow-Autostart=true";

fn exec_line(entry: &Path) -> String {
    let text = std::fs::read_to_string(entry).expect("read the entry");
    text.lines()
        .find(|l| l.starts_with("Exec="))
        .unwrap_or_else(|| panic!("no Exec in {text}"))
        .to_owned()
}

/// `desktop-file-validate` (Debian's desktop-file-utils) has nothing to say
/// about `path`: no error, warning or hint. Skipped, saying so, only where
/// the tool is not installed.
fn assert_valid_entry(path: &Path) {
    let out = match Command::new("desktop-file-validate").arg(path).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "SKIPPED: desktop-file-validate is not installed (desktop-file-utils; \
                 scripts/setup-system.sh installs it): {} not validated",
                path.display()
            );
            return;
        }
        Err(e) => panic!("desktop-file-validate: {e}"),
    };
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        out.status.success() && said.trim().is_empty(),
        "desktop-file-validate {}: {}: {said}",
        path.display(),
        out.status
    );
}

/// The `autostart` line of the settings file, if it has one.
fn autostart_setting(user: &User) -> Option<String> {
    let text = std::fs::read_to_string(user.home.settings_file()).ok()?;
    text.lines()
        .find(|l| l.starts_with("autostart ="))
        .map(str::to_owned)
}

#[test]
fn autostart_enable_disable_and_status_without_the_app() {
    let user = User::new();
    let entry = user.autostart_entry();
    let binary = env!("CARGO_BIN_EXE_ezflow");

    let out = user.run(&["autostart", "status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(said.contains("setting:  off"), "{said}");
    assert!(
        said.contains(&format!("entry:    {}", entry.display())),
        "{said}"
    );
    assert!(said.contains("state:    none"), "{said}");

    let out = user.run(&["autostart", "enable"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("EZ Flow starts at login"),
        "{}",
        stdout(&out)
    );
    assert_eq!(exec_line(&entry), format!("Exec={binary}"));
    assert!(std::fs::read_to_string(&entry)
        .expect("entry")
        .contains(MARK));
    assert_valid_entry(&entry);
    assert_eq!(
        autostart_setting(&user).as_deref(),
        Some("autostart = true")
    );
    let out = user.run(&["autostart", "status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let said = stdout(&out);
    assert!(said.contains("setting:  on"), "{said}");
    assert!(
        said.contains(&format!("state:    EZ Flow's, current: starts {binary}")),
        "{said}"
    );

    // An entry of ours naming another binary is stale until enabled again.
    let old = std::fs::read_to_string(&entry)
        .expect("entry")
        .replace(binary, "/opt/old/ezflow");
    std::fs::write(&entry, old).expect("write a stale entry");
    let out = user.run(&["autostart", "status"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let said = stdout(&out);
    assert!(
        said.contains("out of date: starts /opt/old/ezflow"),
        "{said}"
    );
    assert!(
        said.contains("`ezflow autostart enable` puts it right"),
        "{said}"
    );
    let out = user.run(&["autostart", "enable"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(exec_line(&entry), format!("Exec={binary}"));

    // Removed by hand while the setting is on: status says so.
    std::fs::remove_file(&entry).expect("remove the entry");
    let out = user.run(&["autostart", "status"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("state:    none"), "{}", stdout(&out));
    assert!(user.run(&["autostart", "enable"]).status.success());
    assert!(entry.exists());

    let out = user.run(&["autostart", "disable"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("EZ Flow no longer starts at login"),
        "{}",
        stdout(&out)
    );
    assert!(!entry.exists(), "the entry is removed");
    assert_eq!(
        autostart_setting(&user).as_deref(),
        Some("autostart = false")
    );
    let out = user.run(&["autostart", "status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // Disabling twice is fine.
    assert!(user.run(&["autostart", "disable"]).status.success());
}

#[test]
fn the_autostart_entry_names_the_public_binary() {
    // A packaged install runs a faster build from /usr/lib/ezflow, which
    // the baseline /usr/bin/ezflow handed over to with EZFLOW_EXE set: the
    // entry must start /usr/bin/ezflow.
    let user = User::new();
    let out = user
        .ezflow()
        .args(["autostart", "enable"])
        .env(PUBLIC_EXE_ENV, "/usr/bin/ezflow")
        .output()
        .expect("ezflow runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let entry = user.autostart_entry();
    assert_eq!(exec_line(&entry), "Exec=/usr/bin/ezflow");
    assert_valid_entry(&entry);
}

#[test]
fn a_users_own_autostart_entry_is_never_overwritten_or_removed() {
    let user = User::new();
    let entry = user.autostart_entry();
    std::fs::create_dir_all(entry.parent().expect("directory")).expect("mkdir");
    let mine = "[Desktop Entry]\nType=Application\nName=My dictation\nExec=ezflow --my-flags\n";
    std::fs::write(&entry, mine).expect("write the user's entry");

    let out = user.run(&["autostart", "enable"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("not written by EZ Flow"), "{err}");
    assert!(err.contains("settings are unchanged"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert_eq!(std::fs::read_to_string(&entry).expect("entry"), mine);
    assert_ne!(
        autostart_setting(&user).as_deref(),
        Some("autostart = true")
    );

    let out = user.run(&["autostart", "status"]);
    assert_eq!(out.status.code(), Some(0), "off, and not ours: in step");
    assert!(stdout(&out).contains("not EZ Flow's"), "{}", stdout(&out));

    let out = user.run(&["autostart", "disable"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("left as it is"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&entry).expect("entry"), mine);
}

/// Waits (bounded) until `check` holds.
fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !check() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn autostart_with_the_app_running_goes_through_the_app() {
    use std::time::Duration;
    let user = User::new();
    let entry = user.autostart_entry();
    let binary = env!("CARGO_BIN_EXE_ezflow");
    // The setting is on and the entry names a binary that moved.
    user.home
        .write_settings(&format!("model = \"{}\"\nautostart = true\n", model_arg()));
    std::fs::create_dir_all(entry.parent().expect("directory")).expect("mkdir");
    std::fs::write(
        &entry,
        format!("[Desktop Entry]\nType=Application\nName=EZ Flow\nExec=/opt/old/ezflow\n{MARK}\n"),
    )
    .expect("write a stale entry");

    // The app with no desktop at all: no display, no session bus (no tray,
    // no hotkey), which is all this needs of it.
    let mut command = user.ezflow();
    command
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    let mut app = WatchedProcess::spawn(&mut command, Some("[ezflow]")).expect("start the app");
    let patience = Duration::from_secs(60);
    app.wait_for_line("startup complete in", patience)
        .expect("the app starts");
    // At start the stale entry was written again.
    assert_eq!(exec_line(&entry), format!("Exec={binary}"));
    assert_valid_entry(&entry);

    // Through the app: its log says it did it.
    app.forget_log();
    let out = user.run(&["autostart", "disable"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("the running EZ Flow"),
        "{}",
        stdout(&out)
    );
    app.wait_for_line("EZ Flow no longer starts at login", patience)
        .expect("the app removed the entry");
    assert!(!entry.exists());
    assert_eq!(
        autostart_setting(&user).as_deref(),
        Some("autostart = false")
    );

    let out = user.run(&["autostart", "enable"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    app.wait_for_line("EZ Flow starts at login", patience)
        .expect("the app wrote the entry");
    assert_eq!(exec_line(&entry), format!("Exec={binary}"));
    assert_eq!(
        autostart_setting(&user).as_deref(),
        Some("autostart = true")
    );
    let out = user.run(&["autostart", "status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // The file edited by hand: the app follows.
    user.home
        .write_settings(&format!("model = \"{}\"\nautostart = false\n", model_arg()));
    eventually("the entry goes with the hand-edited setting", || {
        !entry.exists()
    });
    // And on again by hand: it comes back.
    user.home
        .write_settings(&format!("model = \"{}\"\nautostart = true\n", model_arg()));
    eventually("the entry comes back with the setting", || entry.exists());

    // A file of that name EZ Flow did not write: refused, nothing saved.
    std::fs::remove_file(&entry).expect("remove");
    assert!(user.run(&["autostart", "disable"]).status.success());
    let mine = "[Desktop Entry]\nType=Application\nName=Mine\nExec=ezflow --mine\n";
    std::fs::write(&entry, mine).expect("write the user's entry");
    let out = user.run(&["autostart", "enable"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("not written by EZ Flow"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&entry).expect("entry"), mine);
    assert_eq!(
        autostart_setting(&user).as_deref(),
        Some("autostart = false")
    );

    let status = app.terminate(patience).expect("the app ends");
    assert!(status.success(), "{status}");
    assert_eq!(std::fs::read_to_string(&entry).expect("entry"), mine);
}
