//! Insertion on Wayland through `wtype`/`ydotool`. No Wayland compositor
//! can run here, so the tools are stand-ins: small scripts under the real
//! names that record the arguments they were run with (or fail like the
//! real tool does without a compositor). What is tested is ours: which
//! tool is picked, and exactly what it is asked to type.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ezflow_desktop::insert::{InsertError, InsertMethod, TextInserter, WaylandTool};

/// Writes an executable stand-in `name` into `dir` that appends each
/// argument (one per line, NUL-separated records) to `dir/calls`, or fails
/// with `fail` on stderr.
fn stand_in(dir: &Path, name: &str, fail: Option<&str>) {
    let body = match fail {
        Some(message) => format!("#!/bin/sh\necho '{message}' >&2\nexit 1\n"),
        None => format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\" >> '{}'; done\nprintf '\\n' >> '{}'\n",
            dir.join("calls").display(),
            dir.join("calls").display()
        ),
    };
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn calls(dir: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(dir.join("calls"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            l.split('\0')
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

fn path_of(dirs: &[&Path]) -> OsString {
    std::env::join_paths(dirs).unwrap()
}

#[test]
fn wtype_is_preferred_and_gets_the_text_as_one_argument() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    stand_in(b.path(), "wtype", None);
    stand_in(a.path(), "ydotool", None);
    let tool = WaylandTool::find_in(&path_of(&[a.path(), b.path()])).expect("a tool");
    assert_eq!(tool.name(), "wtype");

    let text = "Grüße — ok, 42 -x";
    let done = tool.insert(text, InsertMethod::Paste).unwrap();
    assert_eq!(
        done.method,
        InsertMethod::Type,
        "tools type; they cannot paste"
    );
    assert!(!done.clipboard_restored);
    assert_eq!(
        calls(b.path()),
        vec![vec!["--".to_owned(), text.to_owned()]]
    );
}

#[test]
fn ydotool_is_used_when_there_is_no_wtype() {
    let a = tempfile::tempdir().unwrap();
    stand_in(a.path(), "ydotool", None);
    let tool = WaylandTool::find_in(&path_of(&[a.path()])).expect("a tool");
    assert_eq!(tool.name(), "ydotool");
    tool.insert("Hello there.", InsertMethod::Type).unwrap();
    assert_eq!(
        calls(a.path()),
        vec![vec![
            "type".to_owned(),
            "--".to_owned(),
            "Hello there.".to_owned()
        ]]
    );
}

#[test]
fn no_tool_and_non_executable_files_are_not_found() {
    let a = tempfile::tempdir().unwrap();
    std::fs::write(a.path().join("wtype"), "not executable").unwrap();
    assert_eq!(WaylandTool::find_in(&path_of(&[a.path()])), None);
}

#[test]
fn a_failing_tool_is_reported_with_its_reason_and_empty_text_runs_nothing() {
    let a = tempfile::tempdir().unwrap();
    stand_in(
        a.path(),
        "wtype",
        Some("Compositor does not support the virtual keyboard protocol"),
    );
    let tool = WaylandTool::find_in(&path_of(&[a.path()])).unwrap();
    let err = tool.insert("text", InsertMethod::Type).unwrap_err();
    assert!(
        matches!(err, InsertError::Tool { tool: "wtype", .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("virtual keyboard protocol"),
        "{err}"
    );

    let b = tempfile::tempdir().unwrap();
    stand_in(b.path(), "wtype", None);
    let tool = WaylandTool::find_in(&path_of(&[b.path()])).unwrap();
    tool.insert("", InsertMethod::Paste).unwrap();
    assert!(
        calls(b.path()).is_empty(),
        "nothing typed for an empty transcript"
    );
}
