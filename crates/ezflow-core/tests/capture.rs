//! Microphone capture through a real ALSA device path, fed from a file.
//!
//! There is no sound card here, so each test writes an ALSA configuration in
//! which the default capture device is a microphone made of a file
//! (`ezflow_testbed::microphone`: ALSA's `file` plugin reading the JFK clip
//! at 44.1 kHz, padded with silence, behind a `plug` that converts to what
//! cpal opens it with). The recording then goes through alsa-lib, cpal's
//! ALSA backend and its audio thread as a microphone would.
//!
//! ALSA reads its configuration from `ALSA_CONFIG_PATH`, which is process-wide,
//! so every scenario runs in its own child process (this test binary again,
//! running the scenario's twin in `mod child`) with its own configuration;
//! this file is therefore a test binary of its own. Separate processes also
//! keep `/proc/self/fd` and the thread list, which the "device is closed"
//! checks read, free of other tests' recordings.
//!
//! The file-fed device does not pace in real time: the whole file arrives in
//! a few milliseconds. So recordings end on `max_duration`, which is checked
//! by the number of samples, never by the clock, and the file is padded with
//! silence beyond every `max_duration` used here.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ezflow_core::audio::{self, WHISPER_SAMPLE_RATE};
use ezflow_testbed::assets;
use ezflow_testbed::microphone::{
    Device, FileMicrophone, ALSA_CONFIG_ENV, AUDIO_FILE, DEVICE_RATE,
};
use ezflow_testbed::wer;

const SCENARIO_ENV: &str = "EZFLOW_CAPTURE_SCENARIO";
const DIR_ENV: &str = "EZFLOW_CAPTURE_DIR";
/// Upper bound for anything the device should do at once (it runs faster
/// than real time); generous for a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(30);
/// Upper bound for a whole child process, model loading included.
const CHILD_PATIENCE: Duration = Duration::from_secs(300);
/// Silence after the clip in the raw file, so no recording reaches its end.
const PADDING: Duration = Duration::from_secs(9);
/// Audio the breaking device lets through before it breaks: "And so my
/// fellow Americans".
const BREAK_AFTER: Duration = Duration::from_secs(4);

/// Runs `mod child`'s `name` in a fresh process with `device` (reading the
/// JFK clip) as the default capture device, and fails with its output if it
/// fails.
fn run_child(name: &str, device: Device) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mic = FileMicrophone::write(dir.path(), device, &jfk_samples(), PADDING);

    let child = Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            "--exact",
            &format!("child::{name}"),
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ALSA_CONFIG_ENV, &mic.config)
        .env(SCENARIO_ENV, name)
        .env(DIR_ENV, dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the scenario's process");
    let guard = KillOnDrop(child.id());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let waited = rx.recv_timeout(CHILD_PATIENCE);
    if waited.is_ok() {
        // Reaped: the pid is no longer ours to kill.
        std::mem::forget(guard);
    }
    let output = waited
        .unwrap_or_else(|_| panic!("scenario {name} did not finish in {CHILD_PATIENCE:?}"))
        .expect("wait for the scenario's process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "scenario {name} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("1 passed"),
        "scenario {name} did not run:\n{stdout}"
    );
    // Let `cargo test -- --nocapture` show the child's measurements.
    print!("{stdout}");
}

/// Kills the child if the parent test fails before the child ends.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of a child this test started.
        unsafe {
            libc::kill(self.0 as libc::pid_t, libc::SIGKILL);
        }
    }
}

// ---- the parent tests: one child process each ----

#[test]
fn jfk_clip_is_recorded_through_alsa_and_transcribed() {
    run_child(
        "jfk_clip_is_recorded_through_alsa_and_transcribed",
        Device::Clip,
    );
}

#[test]
fn max_duration_ends_the_recording_once() {
    run_child("max_duration_ends_the_recording_once", Device::Clip);
}

#[test]
fn the_recording_span_is_paced_by_the_user() {
    run_child("the_recording_span_is_paced_by_the_user", Device::Clip);
}

#[test]
fn unknown_device_error_lists_the_available_devices() {
    run_child(
        "unknown_device_error_lists_the_available_devices",
        Device::Clip,
    );
}

#[test]
fn cancel_and_drop_close_the_device() {
    run_child("cancel_and_drop_close_the_device", Device::Clip);
}

#[test]
fn integer_samples_are_converted() {
    run_child("integer_samples_are_converted", Device::ClipAsIntegers);
}

#[test]
fn device_failing_mid_recording_keeps_the_audio_so_far() {
    run_child(
        "device_failing_mid_recording_keeps_the_audio_so_far",
        Device::BreakingAfter(BREAK_AFTER),
    );
}

#[test]
fn no_input_device_says_so() {
    run_child("no_input_device_says_so", Device::None);
}

// ---- helpers used inside the child processes ----

/// The scenario's directory when this process was started for `name`;
/// `None` when the scenario is run any other way (it then does nothing).
fn child_dir(name: &str) -> Option<PathBuf> {
    if std::env::var(SCENARIO_ENV).ok().as_deref() != Some(name) {
        eprintln!("{name}: not started by its parent test, nothing to do");
        return None;
    }
    Some(PathBuf::from(
        std::env::var_os(DIR_ENV).expect("scenario directory"),
    ))
}

/// Files under `dir` this process has open.
fn open_files_under(dir: &Path) -> Vec<PathBuf> {
    let mut open = Vec::new();
    for entry in fs::read_dir("/proc/self/fd").expect("/proc/self/fd") {
        let Ok(entry) = entry else { continue };
        if let Ok(target) = fs::read_link(entry.path()) {
            if target.starts_with(dir) {
                open.push(target);
            }
        }
    }
    open
}

/// This process's threads named like cpal's ALSA capture thread.
fn capture_threads() -> usize {
    fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(Result::ok)
        .filter(|task| {
            fs::read_to_string(task.path().join("comm"))
                .map(|comm| comm.trim() == "cpal_alsa_in")
                .unwrap_or(false)
        })
        .count()
}

/// Asserts the microphone is open: the device's file is open (the control
/// for [`assert_closed`]). With `audio_arrived`, also that cpal's audio thread
/// is there (it names itself when it starts, so before audio has arrived the
/// name may not be set yet).
fn assert_open(dir: &Path, audio_arrived: bool) {
    assert_eq!(
        open_files_under(dir),
        vec![dir.join(AUDIO_FILE)],
        "the device reads its file while recording"
    );
    if audio_arrived {
        assert_eq!(capture_threads(), 1, "one audio thread while recording");
    }
}

/// Asserts nothing of the microphone is left: no file open, no audio thread.
fn assert_closed(dir: &Path) {
    assert_eq!(
        open_files_under(dir),
        Vec::<PathBuf>::new(),
        "the device's file is closed"
    );
    assert_eq!(capture_threads(), 0, "no audio thread is left");
}

/// Asserts two durations agree to a millisecond.
fn assert_close_to(got: Duration, want: Duration) {
    assert!(
        got.abs_diff(want) < Duration::from_millis(1),
        "{got:?}, expected {want:?}"
    );
}

/// A channel that `on_end` reports into.
fn end_channel() -> (
    impl FnOnce(ezflow_core::capture::EndReason) + Send + 'static,
    mpsc::Receiver<ezflow_core::capture::EndReason>,
) {
    let (tx, rx) = mpsc::channel();
    (
        move |reason| {
            let _ = tx.send(reason);
        },
        rx,
    )
}

/// The JFK clip as the engine sees it.
fn jfk_samples() -> Vec<f32> {
    audio::load_clip(&assets::jfk())
        .expect("decode jfk.wav")
        .into_samples()
}

/// The best normalised correlation of `got` against `want` over small
/// shifts (the two resamplers on the way may delay the signal a little).
fn best_correlation(got: &[f32], want: &[f32]) -> (f64, isize) {
    let mut best = (f64::MIN, 0);
    for lag in -64isize..=64 {
        let (mut dot, mut gg, mut ww) = (0.0f64, 0.0f64, 0.0f64);
        for (i, &w) in want.iter().enumerate() {
            let j = i as isize + lag;
            if j < 0 || j as usize >= got.len() {
                continue;
            }
            let g = got[j as usize];
            dot += f64::from(g) * f64::from(w);
            gg += f64::from(g) * f64::from(g);
            ww += f64::from(w) * f64::from(w);
        }
        let r = dot / (gg.sqrt() * ww.sqrt()).max(f64::MIN_POSITIVE);
        if r > best.0 {
            best = (r, lag);
        }
    }
    best
}

fn transcribe(samples: &[f32]) -> String {
    use ezflow_core::engine::{DecodeOptions, EncoderWindow, LoadedModel};
    let mut model = LoadedModel::load(&assets::tiny_en()).expect("tiny.en loads");
    model
        .transcribe(
            samples,
            &DecodeOptions {
                language: None,
                threads: 2,
                window: EncoderWindow::Fitted,
                ..DecodeOptions::default()
            },
        )
        .expect("transcribes")
        .text
}

mod child {
    //! The scenarios, each run alone in a process its parent test started.

    use super::*;
    use ezflow_core::capture::{input_devices, CaptureError, CaptureOptions, EndReason, Recording};

    #[test]
    #[ignore = "runs in the process started by the parent test of the same name"]
    fn jfk_clip_is_recorded_through_alsa_and_transcribed() {
        let Some(dir) = child_dir("jfk_clip_is_recorded_through_alsa_and_transcribed") else {
            return;
        };
        assert_closed(&dir);
        let max = Duration::from_millis(12_500);
        let options = CaptureOptions {
            device: Some("default".into()),
            max_duration: max,
        };
        let (on_end, ended) = end_channel();
        let started = Instant::now();
        let recording = Recording::start(&options, on_end).expect("recording starts");
        assert_eq!(recording.device(), "default");
        let format = recording.format().clone();
        println!("device format: {format:?}");
        assert_eq!(
            ended
                .recv_timeout(PATIENCE)
                .expect("the recording reaches max_duration"),
            EndReason::MaxDuration
        );
        let wall = started.elapsed();
        assert_close_to(recording.captured(), max);
        assert_open(&dir, true);

        let captured = recording.stop().expect("stop");
        let stopped = started.elapsed();
        assert_closed(&dir);
        println!(
            "captured {:.3} s of audio; max_duration reached after {:.3} s wall, \
             stopped after {:.3} s",
            captured.clip.duration().as_secs_f64(),
            wall.as_secs_f64(),
            stopped.as_secs_f64()
        );
        assert_eq!(captured.ended_by, EndReason::MaxDuration);
        assert_eq!(captured.device, "default");
        assert_eq!(captured.format, format);
        assert_eq!(captured.clip.source().sample_rate, format.sample_rate);
        let samples = captured.clip.samples();
        let expected = (max.as_secs_f64() * f64::from(WHISPER_SAMPLE_RATE)) as usize;
        assert!(
            samples.len().abs_diff(expected) <= 2,
            "{} samples at 16 kHz for {max:?}",
            samples.len()
        );

        // The samples are the clip's, through both conversions.
        let jfk = jfk_samples();
        let (r, lag) = best_correlation(samples, &jfk);
        println!("correlation with jfk.wav: {r:.4} at a lag of {lag} samples");
        assert!(r > 0.99, "captured audio is not the clip: r = {r:.4}");
        let tail = &samples[jfk.len() + 800..];
        let tail_peak = tail.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(tail_peak < 0.01, "the padding stays silent: {tail_peak}");

        // The real check: the words come through.
        let text = transcribe(samples);
        println!("transcript: {text}");
        let wer = wer::word_error_rate(assets::JFK_TEXT, &text);
        assert!(wer <= 0.05, "word error rate {wer:.3}: {text}");

        // The device opens again and starts from the beginning of its file.
        let (on_end, ended) = end_channel();
        let again = Recording::start(
            &CaptureOptions {
                device: None,
                max_duration: Duration::from_secs(1),
            },
            on_end,
        )
        .expect("the device opens again");
        assert_eq!(again.device(), "default");
        ended.recv_timeout(PATIENCE).expect("second recording ends");
        let second = again.stop().expect("stop");
        assert_closed(&dir);
        let (r, _) = best_correlation(second.clip.samples(), &jfk[..8_000]);
        assert!(
            r > 0.97,
            "the second recording starts at the clip's start: {r}"
        );
    }

    #[test]
    #[ignore = "runs in the process started by the parent test of the same name"]
    fn max_duration_ends_the_recording_once() {
        let Some(dir) = child_dir("max_duration_ends_the_recording_once") else {
            return;
        };
        let max = Duration::from_secs(2);
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (tx, ended) = mpsc::channel();
        let counter = calls.clone();
        let recording = Recording::start(
            &CaptureOptions {
                device: None,
                max_duration: max,
            },
            move |reason| {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = tx.send(reason);
            },
        )
        .expect("recording starts");
        assert_eq!(
            ended
                .recv_timeout(PATIENCE)
                .expect("max_duration is reached"),
            EndReason::MaxDuration
        );
        // The device goes on delivering (it is still open) but nothing more
        // is kept, and on_end is not called again.
        assert_open(&dir, true);
        assert_close_to(recording.captured(), max);
        let captured = recording.stop().expect("stop");
        assert_closed(&dir);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(captured.ended_by, EndReason::MaxDuration);
        let seconds = captured.clip.duration().as_secs_f64();
        assert!(
            (1.999..=2.0).contains(&seconds),
            "at most max_duration of audio: {seconds} s"
        );
        let (r, _) = best_correlation(captured.clip.samples(), &jfk_samples()[..32_000]);
        assert!(r > 0.97, "the first 2 s of the clip: r = {r}");
    }

    #[test]
    #[ignore = "runs in the process started by the parent test of the same name"]
    fn unknown_device_error_lists_the_available_devices() {
        let Some(dir) = child_dir("unknown_device_error_lists_the_available_devices") else {
            return;
        };
        let devices = input_devices().expect("list input devices");
        assert_eq!(devices, vec!["default".to_owned()]);
        assert_closed(&dir);
        let (on_end, _ended) = end_channel();
        let err = Recording::start(
            &CaptureOptions {
                device: Some("USB Headset".into()),
                ..CaptureOptions::default()
            },
            on_end,
        )
        .expect_err("no such device");
        match &err {
            CaptureError::UnknownDevice { name, available } => {
                assert_eq!(name, "USB Headset");
                assert_eq!(available, &devices);
            }
            other => panic!("wrong error: {other:?}"),
        }
        let message = err.to_string();
        assert_eq!(
            message,
            "microphone \"USB Headset\" not found; pick one of the available devices in \
             settings: \"default\""
        );
        assert_closed(&dir);
    }

    #[test]
    #[ignore = "runs in the process started by the parent test of the same name"]
    fn cancel_and_drop_close_the_device() {
        let Some(dir) = child_dir("cancel_and_drop_close_the_device") else {
            return;
        };
        let options = CaptureOptions {
            device: None,
            max_duration: Duration::from_secs(3),
        };
        // Cancel right after the start.
        let (on_end, ended) = end_channel();
        let recording = Recording::start(&options, on_end).expect("recording starts");
        assert_open(&dir, false);
        recording.cancel();
        assert_closed(&dir);
        // Whatever on_end saw happened before the cancel; nothing comes after.
        let _ = ended.try_recv();
        assert!(
            matches!(ended.try_recv(), Err(mpsc::TryRecvError::Disconnected)),
            "on_end is gone with the recording"
        );

        // Cancel after max_duration: the held audio is dropped with it.
        let (on_end, ended) = end_channel();
        let recording = Recording::start(&options, on_end).expect("recording starts");
        ended
            .recv_timeout(PATIENCE)
            .expect("max_duration is reached");
        assert_close_to(recording.captured(), options.max_duration);
        assert_open(&dir, true);
        recording.cancel();
        assert_closed(&dir);

        // Dropping a recording closes the device too.
        let (on_end, _ended) = end_channel();
        let recording = Recording::start(&options, on_end).expect("recording starts");
        assert_open(&dir, false);
        drop(recording);
        assert_closed(&dir);
    }

    #[test]
    #[ignore = "runs in the process started by the parent test of the same name"]
    fn integer_samples_are_converted() {
        let Some(dir) = child_dir("integer_samples_are_converted") else {
            return;
        };
        let (on_end, ended) = end_channel();
        let recording = Recording::start(
            &CaptureOptions {
                device: None,
                max_duration: Duration::from_secs(4),
            },
            on_end,
        )
        .expect("recording starts");
        println!("device format: {:?}", recording.format());
        assert_eq!(recording.format().sample_format, "i16");
        ended
            .recv_timeout(PATIENCE)
            .expect("max_duration is reached");
        let captured = recording.stop().expect("stop");
        assert_closed(&dir);
        let (r, lag) = best_correlation(captured.clip.samples(), &jfk_samples()[..64_000]);
        println!("correlation with jfk.wav: {r:.4} at a lag of {lag} samples");
        assert!(r > 0.97, "the clip's first 4 s: r = {r}");
    }

    #[test]
    #[ignore = "runs in the process started by the parent test of the same name"]
    fn device_failing_mid_recording_keeps_the_audio_so_far() {
        let Some(dir) = child_dir("device_failing_mid_recording_keeps_the_audio_so_far") else {
            return;
        };
        let (on_end, ended) = end_channel();
        let recording = Recording::start(
            &CaptureOptions {
                device: None,
                max_duration: Duration::from_secs(15),
            },
            on_end,
        )
        .expect("recording starts");
        // cpal opens it in exactly the file's format: nothing converts.
        assert_eq!(
            recording.format(),
            &ezflow_core::capture::InputFormat {
                sample_rate: DEVICE_RATE,
                channels: 2,
                sample_format: "f32".into()
            }
        );
        let reason = ended.recv_timeout(PATIENCE).expect("the device fails");
        println!("ended by: {reason:?}");
        let EndReason::DeviceLost(why) = &reason else {
            panic!("expected a lost device, got {reason:?}");
        };
        assert!(!why.is_empty());
        let captured = recording.stop().expect("stop returns the audio so far");
        assert!(ended.try_recv().is_err(), "on_end fired once");
        assert_closed(&dir);
        assert_eq!(captured.ended_by, reason);
        let seconds = captured.clip.duration().as_secs_f64();
        println!("captured {seconds:.3} s before the failure");
        // 4 s went to `head`, 64 KiB (0.19 s) more sat in the pipe, and
        // alsa-lib holds up to a buffer (0.1 s) before writing.
        assert!(
            (4.0..5.0).contains(&seconds),
            "the audio from before the failure: {seconds} s"
        );
        let jfk = jfk_samples();
        let n = captured.clip.len().min(jfk.len());
        let (r, _) = best_correlation(&captured.clip.samples()[..n], &jfk[..n]);
        assert!(r > 0.97, "the clip's beginning: r = {r}");
        let text = transcribe(captured.clip.samples());
        println!("transcript: {text}");
        let words = wer::words(&text);
        assert!(
            words.starts_with(&[
                "and".into(),
                "so".into(),
                "my".into(),
                "fellow".into(),
                "americans".into()
            ]),
            "the first words of the clip: {text}"
        );
    }

    #[test]
    #[ignore = "runs in the process started by the parent test of the same name"]
    fn no_input_device_says_so() {
        if child_dir("no_input_device_says_so").is_none() {
            return;
        }
        assert_eq!(
            input_devices().expect("listing works"),
            Vec::<String>::new()
        );
        let (on_end, _ended) = end_channel();
        let err = Recording::start(&CaptureOptions::default(), on_end)
            .expect_err("nothing to record from");
        println!("error: {err}");
        assert!(matches!(err, CaptureError::NoDevice { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("no microphone found; connect one or pick a device in settings: "),
            "{err}"
        );
        assert_eq!(capture_threads(), 0);
    }

    /// The spans opened in this process: name, and whether they carry the
    /// field `paced_by_user`.
    #[derive(Clone, Default)]
    struct SpansSeen(std::sync::Arc<std::sync::Mutex<Vec<(&'static str, bool)>>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SpansSeen {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            _id: &tracing::span::Id,
            _ctx: tracing_subscriber::layer::Context<'_, S>,
        ) {
            let paced = attrs.fields().field("paced_by_user").is_some();
            self.0
                .lock()
                .expect("spans lock")
                .push((attrs.metadata().name(), paced));
        }
    }

    #[test]
    #[ignore = "runs in the process started by the parent test of the same name"]
    fn the_recording_span_is_paced_by_the_user() {
        // The app's `slow_operation` log times root spans and leaves out
        // those marked `paced_by_user`: a recording lasts as long as the
        // user speaks, so without the mark every dictation longer than the
        // setting logged a false "slow capture".
        use tracing_subscriber::layer::SubscriberExt as _;
        if child_dir("the_recording_span_is_paced_by_the_user").is_none() {
            return;
        }
        let seen = SpansSeen::default();
        // Its own process: the global subscriber is this scenario's alone.
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(seen.clone()))
            .expect("the first subscriber of the process");
        let (on_end, ended) = end_channel();
        let recording = Recording::start(
            &CaptureOptions {
                device: None,
                max_duration: Duration::from_secs(1),
            },
            on_end,
        )
        .expect("recording starts");
        ended.recv_timeout(PATIENCE).expect("the recording ends");
        recording.stop().expect("stop");
        let spans = seen.0.lock().expect("spans lock").clone();
        let capture: Vec<bool> = spans
            .iter()
            .filter(|(name, _)| *name == "capture")
            .map(|&(_, paced)| paced)
            .collect();
        assert_eq!(capture, vec![true], "spans opened: {spans:?}");
    }
}
