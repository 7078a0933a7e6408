//! The settings file on real files in temporary directories: defaults,
//! round trips, broken files moved aside byte-for-byte, and per-key problems.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ezflow_config::settings::{
    known_keys, physical_cores, BeamSize, HotkeyMode, IdleUnload, InsertMethod, Language,
    LoadReport, Settings, SettingsError, SettingsProblem, Threads,
};

fn settings_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("settings.toml")
}

fn write(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).expect("write test settings file");
}

/// Everything in `dir` other than `settings.toml`, sorted.
fn other_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list temp dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n != "settings.toml"))
        .collect();
    v.sort();
    v
}

fn custom() -> Settings {
    Settings {
        model: "/home/me/models/my \"fav\" model\\ggml-small.bin".to_owned(),
        language: "de".parse().expect("de is a language"),
        threads: Threads::new(3).expect("3 threads is valid"),
        beam_size: BeamSize::new(5).expect("5 is a beam"),
        idle_unload: IdleUnload::After(Duration::from_secs(5400)),
        telemetry: true,
        telemetry_endpoint: "https://telemetry.example.org/ezflow".to_owned(),
        hotkey: "Super+H".to_owned(),
        hotkey_mode: HotkeyMode::Toggle,
        insert_method: InsertMethod::Type,
        microphone: "USB Audio \"Blue\" Mic".to_owned(),
        max_recording: Duration::from_secs(90),
        slow_operation: Some(Duration::from_millis(750)),
        autostart: true,
    }
}

/// Asserts a broken file was moved aside intact and the defaults are in use.
fn assert_moved_aside(report: &LoadReport, path: &Path, original: &[u8]) -> PathBuf {
    assert_eq!(report.settings, Settings::default());
    assert!(!path.exists(), "the broken file must not stay in place");
    let moved = report
        .moved_aside
        .clone()
        .expect("a broken file is moved aside");
    assert_eq!(moved.parent(), path.parent(), "moved beside the original");
    let name = moved
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    let stamp = name
        .strip_prefix("settings.toml.corrupt-")
        .unwrap_or_else(|| panic!("unexpected moved-aside name {name}"));
    let b = stamp.as_bytes();
    assert!(
        b.len() >= 15
            && b[..8].iter().all(u8::is_ascii_digit)
            && b[8] == b'-'
            && b[9..15].iter().all(u8::is_ascii_digit),
        "moved-aside name should carry YYYYMMDD-HHMMSS: {name}"
    );
    assert_eq!(
        fs::read(&moved).expect("read moved-aside file"),
        original,
        "moved-aside file must hold the original bytes"
    );
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    match &report.problems[0] {
        SettingsProblem::MovedAside {
            path: p, moved_to, ..
        } => {
            assert_eq!(p, path);
            assert_eq!(moved_to, &moved);
        }
        other => panic!("expected MovedAside, got {other:?}"),
    }
    let message = report.problems[0].to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains(&moved.display().to_string()), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
    moved
}

#[test]
fn missing_file_gives_defaults_silently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = settings_path(&dir);
    let report = Settings::load_from(&path);
    assert_eq!(report.settings, Settings::default());
    assert_eq!(report.settings.model, "base.en");
    assert_eq!(report.settings.language, Language::AUTO);
    assert_eq!(report.settings.threads, Threads::AUTO);
    assert_eq!(
        report.settings.idle_unload,
        IdleUnload::After(Duration::from_secs(300))
    );
    assert!(report.problems.is_empty());
    assert_eq!(report.moved_aside, None);
    assert!(!path.exists(), "loading must not create the file");
}

#[test]
fn empty_and_comment_only_files_give_defaults_silently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = settings_path(&dir);
    for content in [&b""[..], b"\n\n", b"# nothing set yet\n   \n"] {
        write(&path, content);
        let report = Settings::load_from(&path);
        assert_eq!(report.settings, Settings::default());
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(fs::read(&path).expect("read"), content, "file untouched");
    }
}

#[test]
fn save_then_load_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("not").join("yet").join("settings.toml");
    let settings = custom();
    settings.save_to(&path).expect("save creates the directory");

    let text = fs::read_to_string(&path).expect("read saved file");
    assert!(text.starts_with('#'), "comment header first:\n{text}");
    for key in known_keys() {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{key} = "))),
            "{key} missing from:\n{text}"
        );
    }
    assert!(text.contains("idle_unload = \"1h30m\""), "{text}");

    let report = Settings::load_from(&path);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.settings, settings);

    // Saving again over a good file replaces it, and leaves no temporary file.
    Settings::default().save_to(&path).expect("second save");
    assert_eq!(Settings::load_from(&path).settings, Settings::default());
    let parent = path.parent().expect("parent");
    assert!(other_files(parent).is_empty(), "{:?}", other_files(parent));
}

#[test]
fn saved_file_lists_exactly_the_known_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = settings_path(&dir);
    Settings::default().save_to(&path).expect("save");
    let table: toml::Table =
        toml::from_str(&fs::read_to_string(&path).expect("read")).expect("saved file is TOML");
    let mut written: Vec<&str> = table.keys().map(String::as_str).collect();
    let mut known = known_keys();
    written.sort_unstable();
    known.sort_unstable();
    assert_eq!(written, known);
}

#[cfg(unix)]
#[test]
fn save_follows_a_symlink_and_keeps_permissions() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().expect("tempdir");
    let dotfiles = dir.path().join("dotfiles");
    fs::create_dir(&dotfiles).expect("mkdir");
    let real = dotfiles.join("ezflow.toml");
    write(&real, b"threads = 2\n");
    fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).expect("chmod");
    let link = settings_path(&dir);
    std::os::unix::fs::symlink(&real, &link).expect("symlink");

    custom().save_to(&link).expect("save through symlink");

    assert!(
        fs::symlink_metadata(&link)
            .expect("lstat")
            .file_type()
            .is_symlink(),
        "the symlink must survive a save"
    );
    assert_eq!(Settings::load_from(&real).settings, custom());
    assert_eq!(
        fs::metadata(&real).expect("stat").permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn syntax_error_moves_the_file_aside_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = settings_path(&dir);
    let original = b"model = \"small.en\"\nthreads = = 4\n";
    write(&path, original);

    let report = Settings::load_from(&path);
    assert_moved_aside(&report, &path, original);
    match &report.problems[0] {
        SettingsProblem::MovedAside { line, column, .. } => {
            assert_eq!(*line, Some(2), "the error is on line 2");
            assert!(column.is_some());
        }
        other => panic!("expected MovedAside, got {other:?}"),
    }
    assert!(report.problems[0].to_string().contains("line 2"));

    // The next start is a first run again: no file, no problem.
    let again = Settings::load_from(&path);
    assert!(again.problems.is_empty());
    assert_eq!(again.moved_aside, None);
}

#[test]
fn second_corrupt_file_does_not_clobber_the_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = settings_path(&dir);
    let first = b"[[[ first broken file";
    let second = b"second = broken = file";

    write(&path, first);
    let moved_first = assert_moved_aside(&Settings::load_from(&path), &path, first);
    write(&path, second);
    let moved_second = assert_moved_aside(&Settings::load_from(&path), &path, second);

    assert_ne!(moved_first, moved_second);
    assert_eq!(fs::read(&moved_first).expect("read first"), first);
    assert_eq!(fs::read(&moved_second).expect("read second"), second);
    assert_eq!(other_files(dir.path()).len(), 2);
}

#[test]
fn non_utf8_file_is_moved_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = settings_path(&dir);
    let original = b"model = \"base.en\"\nlanguage = \"\xff\xfe\"\n";
    write(&path, original);

    let report = Settings::load_from(&path);
    assert_moved_aside(&report, &path, original);
    match &report.problems[0] {
        SettingsProblem::MovedAside { reason, line, .. } => {
            assert!(reason.contains("UTF-8"), "{reason}");
            assert_eq!(*line, Some(2));
        }
        other => panic!("expected MovedAside, got {other:?}"),
    }
}

#[test]
fn binary_blob_is_moved_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = settings_path(&dir);
    // A deterministic pseudo-random blob, NULs included.
    let mut x: u32 = 0x1234_5678;
    let blob: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    write(&path, &blob);
    assert_moved_aside(&Settings::load_from(&path), &path, &blob);
}

#[test]
fn huge_file_is_moved_aside_unparsed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = settings_path(&dir);
    // Valid TOML, but no settings file is 2 MiB of comments.
    let big = "# padding\n".repeat(200_000).into_bytes();
    write(&path, &big);
    assert_moved_aside(&Settings::load_from(&path), &path, &big);
}

#[test]
fn byte_order_mark_is_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = settings_path(&dir);
    write(&path, b"\xEF\xBB\xBFthreads = 2\r\nlanguage = \"fr\"\r\n");
    let report = Settings::load_from(&path);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.settings.threads.get(), 2);
    assert_eq!(report.settings.language.code(), Some("fr"));
}

#[test]
fn unreadable_path_is_reported_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = settings_path(&dir);
    fs::create_dir(&path).expect("a directory where the file should be");
    let report = Settings::load_from(&path);
    assert_eq!(report.settings, Settings::default());
    assert_eq!(report.moved_aside, None);
    assert!(matches!(
        report.problems.as_slice(),
        [SettingsProblem::Unreadable { .. }]
    ));
    assert!(report.problems[0]
        .to_string()
        .contains(&path.display().to_string()));
    assert!(path.is_dir());
    // Saving must not replace what it could not read.
    assert!(matches!(
        Settings::default().save_to(&path),
        Err(SettingsError::Save { .. })
    ));
    assert!(path.is_dir());
}

#[test]
fn saving_over_a_broken_file_moves_it_aside_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = settings_path(&dir);
    let half_edited = b"model = \"small.en\nthreads = 4\n";
    write(&path, half_edited);
    custom().save_to(&path).expect("save");
    assert_eq!(Settings::load_from(&path).settings, custom());
    let others = other_files(dir.path());
    assert_eq!(others.len(), 1, "{others:?}");
    assert_eq!(fs::read(&others[0]).expect("read"), half_edited);
}

#[test]
fn unknown_key_is_reported_with_a_suggestion_and_the_rest_is_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = settings_path(&dir);
    let original = b"threads = 2\nidle_unlaod = \"10m\"\ncolour_scheme = \"dark\"\n";
    write(&path, original);

    let report = Settings::load_from(&path);
    assert_eq!(report.settings.threads.get(), 2);
    assert_eq!(report.settings.idle_unload, IdleUnload::default());
    assert_eq!(report.moved_aside, None);
    assert_eq!(fs::read(&path).expect("read"), original, "file untouched");
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);

    let typo = report
        .problems
        .iter()
        .find(|p| p.key() == Some("idle_unlaod"))
        .expect("the misspelt key is reported");
    assert!(matches!(
        typo,
        SettingsProblem::UnknownKey {
            suggestion: Some("idle_unload"),
            ..
        }
    ));
    let message = typo.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("idle_unlaod"), "{message}");
    assert!(
        message.contains("did you mean \"idle_unload\""),
        "{message}"
    );

    let unrelated = report
        .problems
        .iter()
        .find(|p| p.key() == Some("colour_scheme"))
        .expect("the unknown key is reported");
    assert!(matches!(
        unrelated,
        SettingsProblem::UnknownKey {
            suggestion: None,
            ..
        }
    ));
    let message = unrelated.to_string();
    for key in known_keys() {
        assert!(message.contains(key), "lists known keys: {message}");
    }
}

/// A valid, non-default value for every key, as TOML lines.
fn good_lines() -> Vec<(&'static str, &'static str)> {
    vec![
        ("model", "model = \"tiny.en\""),
        ("language", "language = \"de\""),
        ("threads", "threads = 3"),
        ("beam_size", "beam_size = 4"),
        ("idle_unload", "idle_unload = \"90s\""),
        ("telemetry", "telemetry = true"),
        (
            "telemetry_endpoint",
            "telemetry_endpoint = \"http://127.0.0.1:8787\"",
        ),
        ("hotkey", "hotkey = \"Ctrl+Shift+D\""),
        ("hotkey_mode", "hotkey_mode = \"toggle\""),
        ("insert_method", "insert_method = \"type\""),
        ("microphone", "microphone = \"jfk\""),
        ("max_recording", "max_recording = \"2m\""),
        ("slow_operation", "slow_operation = \"off\""),
        ("autostart", "autostart = true"),
    ]
}

fn good_settings() -> Settings {
    Settings {
        model: "tiny.en".to_owned(),
        language: "de".parse().expect("de"),
        threads: Threads::new(3).expect("3"),
        beam_size: BeamSize::new(4).expect("4"),
        idle_unload: IdleUnload::After(Duration::from_secs(90)),
        telemetry: true,
        telemetry_endpoint: "http://127.0.0.1:8787".to_owned(),
        hotkey: "Ctrl+Shift+D".to_owned(),
        hotkey_mode: HotkeyMode::Toggle,
        insert_method: InsertMethod::Type,
        microphone: "jfk".to_owned(),
        max_recording: Duration::from_secs(120),
        slow_operation: None,
        autostart: true,
    }
}

#[test]
fn invalid_value_falls_back_for_that_key_only() {
    // (bad line, key, a phrase the reason must contain)
    let cases: &[(&str, &str, &str)] = &[
        ("threads = \"many\"", "threads", "expected a whole number"),
        ("threads = 500", "threads", "more than 64"),
        ("threads = -1", "threads", "negative"),
        ("threads = 2.5", "threads", "decimal"),
        ("threads = \"4\"", "threads", "without"),
        ("beam_size = 0", "beam_size", "at least 1"),
        ("beam_size = 16", "beam_size", "wider than 8"),
        ("beam_size = \"5\"", "beam_size", "without"),
        ("beam_size = true", "beam_size", "true/false"),
        ("idle_unload = \"5 parsecs\"", "idle_unload", "parsecs"),
        ("idle_unload = \"0s\"", "idle_unload", "immediately"),
        ("idle_unload = \"-5m\"", "idle_unload", "negative"),
        ("idle_unload = \"25h\"", "idle_unload", "never"),
        ("idle_unload = 300", "idle_unload", "\"300s\""),
        ("idle_unload = true", "idle_unload", "true/false"),
        ("language = \"klingon\"", "language", "does not know"),
        ("language = \"germna\"", "language", "did you mean \"de\""),
        ("language = 5", "language", "found a whole number"),
        ("model = \"\"", "model", "empty"),
        ("model = 3", "model", "found a whole number"),
        ("model = [\"a\", \"b\"]", "model", "found a list"),
        ("telemetry = \"yes\"", "telemetry", "true or false"),
        ("telemetry = 1", "telemetry", "found a whole number"),
        ("autostart = \"yes\"", "autostart", "true or false"),
        ("autostart = 1", "autostart", "found a whole number"),
        ("slow_operation = \"5ms\"", "slow_operation", "10ms to 10m"),
        (
            "slow_operation = \"fast\"",
            "slow_operation",
            "expected a number",
        ),
        (
            "slow_operation = \"1.5ms\"",
            "slow_operation",
            "whole number",
        ),
        (
            "telemetry_endpoint = \"ftp://collector\"",
            "telemetry_endpoint",
            "https://",
        ),
        (
            "telemetry_endpoint = \"http://\"",
            "telemetry_endpoint",
            "no host",
        ),
        (
            "telemetry_endpoint = \"https://a b\"",
            "telemetry_endpoint",
            "space",
        ),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let path = settings_path(&dir);
    for (bad, key, phrase) in cases {
        let mut lines: Vec<&str> = good_lines()
            .into_iter()
            .filter(|(k, _)| k != key)
            .map(|(_, l)| l)
            .collect();
        lines.insert(1, bad);
        let text = lines.join("\n") + "\n";
        write(&path, text.as_bytes());

        let report = Settings::load_from(&path);
        assert_eq!(
            fs::read_to_string(&path).expect("read"),
            text,
            "{bad}: file untouched"
        );
        assert_eq!(report.moved_aside, None, "{bad}");

        // The bad key has its default; every other key has the file's value.
        let mut expected = good_settings();
        let defaults = Settings::default();
        match *key {
            "model" => expected.model = defaults.model,
            "language" => expected.language = defaults.language,
            "threads" => expected.threads = defaults.threads,
            "idle_unload" => expected.idle_unload = defaults.idle_unload,
            "telemetry" => expected.telemetry = defaults.telemetry,
            "telemetry_endpoint" => expected.telemetry_endpoint = defaults.telemetry_endpoint,
            "hotkey" => expected.hotkey = defaults.hotkey,
            "hotkey_mode" => expected.hotkey_mode = defaults.hotkey_mode,
            "insert_method" => expected.insert_method = defaults.insert_method,
            "microphone" => expected.microphone = defaults.microphone,
            "max_recording" => expected.max_recording = defaults.max_recording,
            "slow_operation" => expected.slow_operation = defaults.slow_operation,
            "autostart" => expected.autostart = defaults.autostart,
            "beam_size" => expected.beam_size = defaults.beam_size,
            other => panic!("no such key {other}"),
        }
        assert_eq!(report.settings, expected, "{bad}");

        assert_eq!(report.problems.len(), 1, "{bad}: {:?}", report.problems);
        let problem = &report.problems[0];
        assert_eq!(problem.key(), Some(*key), "{bad}");
        let SettingsProblem::InvalidValue {
            value,
            reason,
            accepted,
            ..
        } = problem
        else {
            panic!("{bad}: expected InvalidValue, got {problem:?}");
        };
        let written_value = bad.split_once(" = ").expect("key = value").1;
        assert_eq!(value, written_value, "{bad}");
        assert!(reason.contains(phrase), "{bad}: reason {reason:?}");
        assert!(!accepted.is_empty());
        let message = problem.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(bad), "names key and value: {message}");
        assert!(message.contains(accepted), "{message}");
        assert!(!message.contains('\n'), "one line: {message}");
    }
}

#[test]
fn table_where_a_value_belongs_is_an_invalid_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = settings_path(&dir);
    write(&path, b"threads = 2\n[idle_unload]\nafter = \"5m\"\n");
    let report = Settings::load_from(&path);
    assert_eq!(report.settings.threads.get(), 2);
    assert_eq!(report.settings.idle_unload, IdleUnload::default());
    assert!(matches!(
        report.problems.as_slice(),
        [SettingsProblem::InvalidValue {
            key: "idle_unload",
            ..
        }]
    ));
}

#[test]
fn idle_unload_parses_and_displays_canonically() {
    let secs = |s| IdleUnload::After(Duration::from_secs(s));
    let valid: &[(&str, IdleUnload, &str)] = &[
        ("never", IdleUnload::Never, "never"),
        ("NEVER", IdleUnload::Never, "never"),
        ("immediately", IdleUnload::Immediately, "immediately"),
        ("30s", secs(30), "30s"),
        ("5m", secs(300), "5m"),
        ("1h", secs(3600), "1h"),
        ("90s", secs(90), "1m30s"),
        ("1h30m", secs(5400), "1h30m"),
        (" 1h 30m ", secs(5400), "1h30m"),
        ("60m", secs(3600), "1h"),
        ("5 minutes", secs(300), "5m"),
        ("1h0m1s", secs(3601), "1h1s"),
        ("1s", secs(1), "1s"),
        ("24h", secs(86_400), "24h"),
        ("86400s", secs(86_400), "24h"),
    ];
    for (text, expected, canonical) in valid {
        let parsed: IdleUnload = text
            .parse()
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"));
        assert_eq!(parsed, *expected, "{text:?}");
        assert_eq!(parsed.to_string(), *canonical, "{text:?}");
        let again: IdleUnload = canonical.parse().expect("canonical form parses");
        assert_eq!(again, parsed, "round trip of {canonical:?}");
    }

    let invalid = [
        "",
        "0s",
        "0h0m",
        "5 parsecs",
        "-5m",
        "25h",
        "24h1s",
        "1.5h",
        "5",
        "abc",
        "5m5m",
        "30m1h",
        "1d",
        "99999999999999999999h",
    ];
    for text in invalid {
        match text.parse::<IdleUnload>() {
            Err(SettingsError::InvalidValue { key, value, .. }) => {
                assert_eq!(key, "idle_unload");
                assert_eq!(value, text);
            }
            other => panic!("{text:?} should be rejected, got {other:?}"),
        }
    }
    let zero = "0s".parse::<IdleUnload>().expect_err("zero").to_string();
    assert!(zero.contains("immediately"), "{zero}");

    assert_eq!(IdleUnload::Never.delay(), None);
    assert_eq!(IdleUnload::Immediately.delay(), Some(Duration::ZERO));
    assert_eq!(secs(300).delay(), Some(Duration::from_secs(300)));
}

#[test]
fn language_accepts_codes_and_names_and_stores_the_code() {
    for (input, code) in [
        ("en", "en"),
        ("EN", "en"),
        ("German", "de"),
        ("yue", "yue"),
        ("haitian creole", "ht"),
    ] {
        let lang: Language = input.parse().expect(input);
        assert_eq!(lang.code(), Some(code), "{input}");
        assert_eq!(lang.to_string(), code);
    }
    let auto: Language = "Auto".parse().expect("auto");
    assert!(auto.is_auto());
    assert_eq!(auto.to_string(), "auto");
    assert_eq!("de".parse::<Language>().expect("de").name(), Some("german"));
    assert!(matches!(
        "klingon".parse::<Language>(),
        Err(SettingsError::InvalidValue {
            key: "language",
            ..
        })
    ));
}

#[test]
fn threads_accepts_auto_and_one_to_sixty_four() {
    assert_eq!("auto".parse::<Threads>().expect("auto"), Threads::AUTO);
    assert_eq!("0".parse::<Threads>().expect("0"), Threads::AUTO);
    assert_eq!("64".parse::<Threads>().expect("64").get(), 64);
    assert_eq!(Threads::new(1).expect("1").resolve(), 1);
    for bad in ["65", "-1", "many", ""] {
        assert!(
            matches!(
                bad.parse::<Threads>(),
                Err(SettingsError::InvalidValue { key: "threads", .. })
            ),
            "{bad:?}"
        );
    }
    assert!(Threads::new(65).is_err());
    assert_eq!(Threads::AUTO.resolve(), physical_cores());
}

#[test]
fn physical_cores_is_between_one_and_available_parallelism() {
    let cores = physical_cores();
    let logical = std::thread::available_parallelism()
        .expect("available_parallelism")
        .get();
    assert!(cores >= 1);
    assert!(cores <= logical, "{cores} physical > {logical} logical");
}

#[test]
fn settings_serialize_as_plain_values() {
    let json = serde_json::to_value(custom()).expect("serialize");
    assert_eq!(json["idle_unload"], "1h30m");
    assert_eq!(json["language"], "de");
    assert_eq!(json["threads"], 3);
    let back: Settings = serde_json::from_value(json).expect("deserialize");
    assert_eq!(back, custom());
    // Missing fields take their defaults, as in the file.
    let partial: Settings = serde_json::from_str(r#"{"threads": 2}"#).expect("partial settings");
    assert_eq!(partial.threads.get(), 2);
    assert_eq!(partial.model, "base.en");
    assert!(serde_json::from_str::<Settings>(r#"{"idle_unload": "0s"}"#).is_err());
}

#[test]
fn load_uses_the_config_dir_override() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Only this test in this binary touches the variable.
    std::env::set_var(ezflow_config::paths::CONFIG_DIR_ENV, dir.path());
    custom().save().expect("save to the overridden dir");
    let report = Settings::load().expect("load from the overridden dir");
    std::env::remove_var(ezflow_config::paths::CONFIG_DIR_ENV);
    assert!(settings_path(&dir).is_file());
    assert_eq!(report.settings, custom());
}
