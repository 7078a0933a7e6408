//! What the app shows of itself: the tray (icon, tooltip, menu) and the
//! control socket's `status` report come from one function, [`view`], so
//! the dictation phase, the model's load and the problems are named the
//! same way in both; `stats` comes from [`stats_report`].
//!
//! Pure functions of what they are given: they must not ask the manager,
//! the desktop or the clock themselves.

use std::time::{Duration, SystemTime};

use ezflow_config::settings::{HotkeyMode, IdleUnload};
use ezflow_control::{StatsReport, StatusReport};
use ezflow_core::memory::ProcessMemory;
use ezflow_core::stats::DictationStats;
use ezflow_desktop::hotkey::Shortcut;
use ezflow_desktop::tray::{ModelOffer, TrayDownload, TrayState, TrayView};

use super::dictation::PhaseKind;
use super::model::ModelLoad;

/// Everything the tray and `status` show.
pub struct Facts<'a> {
    pub phase: PhaseKind,
    /// The model the settings name.
    pub model: &'a str,
    pub model_load: ModelLoad,
    pub last_error: Option<&'a str>,
    /// The registered hotkey, if any.
    pub hotkey: Option<&'a Shortcut>,
    /// Why there is no working hotkey, if there is none.
    pub hotkey_problem: Option<&'a str>,
    pub hotkey_mode: HotkeyMode,
    pub idle_unload: IdleUnload,
    pub telemetry_enabled: bool,
    pub has_last_transcript: bool,
    pub tray_registered: bool,
    /// The model offered while the `model` setting names nothing installed.
    pub offer: Option<&'a ModelOffer>,
    /// A model download in progress.
    pub download: Option<&'a TrayDownload>,
}

/// `status`'s state while idle with no model installed.
pub const NO_MODEL: &str = "no-model";

pub struct View {
    pub tray: TrayView,
    pub status: StatusReport,
}

/// The tray and the `status` report for `facts`.
pub fn view(facts: &Facts) -> View {
    let loading = facts.model_load.is_loading();
    let problem = facts.last_error.is_some() || facts.hotkey_problem.is_some();
    // The socket names the phase; the tray shows what the user waits for,
    // which during a transcription may still be the model.
    let (tray_state, state) = match (facts.phase, loading) {
        (PhaseKind::Recording, _) => (TrayState::Recording, PhaseKind::Recording.name()),
        (PhaseKind::Transcribing, true) => (TrayState::Loading, PhaseKind::Transcribing.name()),
        (PhaseKind::Transcribing, false) => {
            (TrayState::Transcribing, PhaseKind::Transcribing.name())
        }
        (PhaseKind::Idle, true) => (TrayState::Loading, "loading"),
        // No model wins over a problem: the detail says what went wrong
        // (a failed download), the state what to do.
        (PhaseKind::Idle, false) if facts.offer.is_some() => (TrayState::NoModel, NO_MODEL),
        (PhaseKind::Idle, false) if problem => (TrayState::Error, "error"),
        (PhaseKind::Idle, false) => (TrayState::Idle, PhaseKind::Idle.name()),
    };
    let model_loaded = facts.model_load.is_loaded();
    View {
        tray: TrayView {
            state: tray_state,
            model: facts.model.to_owned(),
            model_loaded,
            detail: facts.last_error.or(facts.hotkey_problem).map(str::to_owned),
            telemetry_enabled: facts.telemetry_enabled,
            has_last_transcript: facts.has_last_transcript,
            recording: facts.phase == PhaseKind::Recording,
            offer: facts.offer.cloned(),
            download: facts.download.cloned(),
        },
        status: StatusReport {
            state: state.to_owned(),
            model: facts.model.to_owned(),
            model_loaded,
            pid: std::process::id(),
            tray: facts.tray_registered,
            hotkey: facts
                .hotkey
                .map(|shortcut| format!("{shortcut} ({})", facts.hotkey_mode.as_str())),
            last_error: facts.last_error.map(str::to_owned),
            idle_unload: facts.idle_unload.to_string(),
        },
    }
}

/// The `stats` report. `last_load` is the loop's memory of the last load,
/// for when the model is no longer loaded.
pub fn stats_report(
    memory: Option<ProcessMemory>,
    model_load: ModelLoad,
    last_load: Option<Duration>,
    dictations: &DictationStats,
    uptime: Duration,
    now: SystemTime,
) -> StatsReport {
    let (loaded_since, load_time) = match model_load {
        ModelLoad::Loaded { since, load_time } => {
            let wall = now.checked_sub(since.elapsed()).unwrap_or(now);
            let secs = wall
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .ok();
            (secs, Some(load_time))
        }
        _ => (None, None),
    };
    let summary = dictations.summary(now);
    StatsReport {
        pss_bytes: memory.as_ref().map(|m| m.pss),
        rss_bytes: memory.as_ref().map(|m| m.rss),
        uptime_secs: uptime.as_secs(),
        model_loaded: loaded_since.is_some(),
        model_loaded_since: loaded_since,
        last_load_ms: load_time.or(last_load).map(|d| d.as_millis() as u64),
        dictations_today: summary.dictations_today,
        recent_dictations: summary.recent as u32,
        median_latency_ms: summary.median_latency.map(|d| d.as_millis() as u64),
        median_real_time_factor: summary.median_real_time_factor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn facts(phase: PhaseKind, model_load: ModelLoad) -> Facts<'static> {
        Facts {
            phase,
            model: "tiny.en",
            model_load,
            last_error: None,
            hotkey: None,
            hotkey_problem: None,
            hotkey_mode: HotkeyMode::PushToTalk,
            idle_unload: IdleUnload::default(),
            telemetry_enabled: false,
            has_last_transcript: false,
            tray_registered: true,
            offer: None,
            download: None,
        }
    }

    fn states(facts: &Facts) -> (TrayState, String) {
        let view = view(facts);
        (view.tray.state, view.status.state)
    }

    #[test]
    fn each_phase_and_load_has_one_tray_state_and_one_status_name() {
        use ModelLoad::{Loading, Unloaded};
        let loaded = ModelLoad::Loaded {
            since: Instant::now(),
            load_time: Duration::from_millis(5),
        };
        let table = [
            (PhaseKind::Idle, Unloaded, TrayState::Idle, "idle"),
            (PhaseKind::Idle, Loading, TrayState::Loading, "loading"),
            (PhaseKind::Idle, loaded, TrayState::Idle, "idle"),
            (
                PhaseKind::Recording,
                Loading,
                TrayState::Recording,
                "recording",
            ),
            (
                PhaseKind::Recording,
                loaded,
                TrayState::Recording,
                "recording",
            ),
            (
                PhaseKind::Transcribing,
                Loading,
                TrayState::Loading,
                "transcribing",
            ),
            (
                PhaseKind::Transcribing,
                loaded,
                TrayState::Transcribing,
                "transcribing",
            ),
        ];
        for (phase, load, tray, status) in table {
            assert_eq!(
                states(&facts(phase, load)),
                (tray, status.to_owned()),
                "{phase:?} with the model {load:?}"
            );
        }
    }

    #[test]
    fn a_problem_shows_as_error_only_while_idle() {
        let mut idle = facts(PhaseKind::Idle, ModelLoad::Unloaded);
        idle.hotkey_problem = Some("hotkey Ctrl+Alt+Space not available");
        assert_eq!(states(&idle), (TrayState::Error, "error".to_owned()));
        let view = view(&idle);
        assert_eq!(
            view.tray.detail.as_deref(),
            Some("hotkey Ctrl+Alt+Space not available")
        );
        assert_eq!(
            view.status.last_error, None,
            "status reports dictation errors only"
        );

        let mut recording = facts(PhaseKind::Recording, ModelLoad::Unloaded);
        recording.last_error = Some("the microphone stopped");
        assert_eq!(
            states(&recording),
            (TrayState::Recording, "recording".to_owned())
        );
        assert_eq!(
            view_detail(&recording),
            Some("the microphone stopped".to_owned()),
            "the last error wins over the hotkey's problem in the tooltip"
        );
    }

    #[test]
    fn no_model_is_its_own_state_and_keeps_the_failure_as_detail() {
        let offer = ModelOffer {
            model: "base.en".into(),
            size_bytes: 147_964_211,
        };
        let mut idle = facts(PhaseKind::Idle, ModelLoad::Unloaded);
        idle.offer = Some(&offer);
        idle.last_error = Some("downloading model 'base.en' failed: HTTP 404");
        assert_eq!(states(&idle), (TrayState::NoModel, NO_MODEL.to_owned()));
        let shown = view(&idle);
        assert_eq!(shown.tray.offer.as_ref(), Some(&offer));
        assert_eq!(
            shown.tray.detail.as_deref(),
            Some("downloading model 'base.en' failed: HTTP 404")
        );
        assert_eq!(
            shown.status.last_error.as_deref(),
            Some("downloading model 'base.en' failed: HTTP 404")
        );
        // A load (a model given by path that went away) still shows as one.
        assert_eq!(
            states(&Facts {
                model_load: ModelLoad::Loading,
                ..idle
            }),
            (TrayState::Loading, "loading".to_owned())
        );
    }

    fn view_detail(facts: &Facts) -> Option<String> {
        view(facts).tray.detail
    }

    #[test]
    fn status_names_the_hotkey_with_its_mode() {
        let shortcut: Shortcut = "Ctrl+Alt+Space".parse().expect("a shortcut");
        let mut toggle = facts(PhaseKind::Idle, ModelLoad::Unloaded);
        toggle.hotkey = Some(&shortcut);
        toggle.hotkey_mode = HotkeyMode::Toggle;
        assert_eq!(
            view(&toggle).status.hotkey.as_deref(),
            Some("Ctrl+Alt+Space (toggle)")
        );
    }

    #[test]
    fn stats_keep_the_last_load_time_after_an_unload() {
        let stats = DictationStats::new(StatsReport::RECENT);
        let now = SystemTime::now();
        let unloaded = stats_report(
            None,
            ModelLoad::Unloaded,
            Some(Duration::from_millis(40)),
            &stats,
            Duration::from_secs(3),
            now,
        );
        assert!(!unloaded.model_loaded);
        assert_eq!(unloaded.model_loaded_since, None);
        assert_eq!(unloaded.last_load_ms, Some(40));
        assert_eq!(unloaded.uptime_secs, 3);

        let loaded = stats_report(
            None,
            ModelLoad::Loaded {
                since: Instant::now(),
                load_time: Duration::from_millis(25),
            },
            Some(Duration::from_millis(40)),
            &stats,
            Duration::ZERO,
            now,
        );
        assert!(loaded.model_loaded);
        assert!(loaded.model_loaded_since.is_some());
        assert_eq!(
            loaded.last_load_ms,
            Some(25),
            "the manager's figure while loaded"
        );
    }
}
