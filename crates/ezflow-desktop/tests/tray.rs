//! The Linux tray against a real, private `dbus-daemon` per test.
//!
//! The desktop's side, the `org.kde.StatusNotifierWatcher` that a panel
//! provides, is a stand-in written here with zbus (no panel can run here);
//! it implements what ksni uses and records each registration. Everything
//! else is real: the tray's D-Bus objects are read and driven the way a
//! panel does it (properties, signals, dbusmenu `GetLayout` and `Event`,
//! `Activate`).
//!
//! ksni finds the bus through `DBUS_SESSION_BUS_ADDRESS`, which is one
//! setting for the whole process, so every tray test is in this binary and
//! holds `ENV_LOCK` from setting it until its end.

use std::collections::HashMap;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ezflow_desktop::tray::{
    icons, start_tray, ModelOffer, Tray, TrayAction, TrayDownload, TrayError, TrayState, TrayView,
};
use ezflow_testbed::dbus::DbusSession;
use ezflow_testbed::panel::*;
use ezflow_testbed::process;
use zbus::blocking::{Connection, MessageIterator};
use zbus::zvariant::Value;

static ENV_LOCK: Mutex<()> = Mutex::new(());

/// A private bus that this process's `DBUS_SESSION_BUS_ADDRESS` points at,
/// for as long as the test holds it.
struct Session {
    bus: DbusSession,
    _env: MutexGuard<'static, ()>,
}

fn session() -> Session {
    let env = ENV_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let bus = DbusSession::start();
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &bus.address);
    Session { bus, _env: env }
}

/// Collects the names of the signals `service` emits on `interface`, from
/// now on, on a thread of its own (a blocking iterator has no timeout; the
/// channel gives the bounded wait).
fn signals(
    conn: &Connection,
    service: &str,
    interface: &str,
) -> mpsc::Receiver<(String, Vec<String>)> {
    let rule = format!("type='signal',sender='{service}',interface='{interface}'");
    let iter = MessageIterator::for_match_rule(rule.as_str(), conn, Some(256)).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for msg in iter {
            let Ok(msg) = msg else { break };
            let header = msg.header();
            let member = header.member().map(|m| m.to_string()).unwrap_or_default();
            // String arguments, where the signal has them (NewStatus, NameOwnerChanged).
            let args = msg
                .body()
                .deserialize::<(String,)>()
                .map(|(a,)| vec![a])
                .or_else(|_| {
                    msg.body()
                        .deserialize::<(String, String, String)>()
                        .map(|(a, b, c)| vec![a, b, c])
                })
                .unwrap_or_default();
            if tx.send((member, args)).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (bounded) until every signal in `names` has arrived.
fn expect_signals(
    rx: &mpsc::Receiver<(String, Vec<String>)>,
    names: &[&str],
) -> Vec<(String, Vec<String>)> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while !names
        .iter()
        .all(|n| seen.iter().any(|(m, _): &(String, Vec<String>)| m == n))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(sig) => seen.push(sig),
            Err(_) => panic!("signals {names:?} not all seen within {WAIT:?}; got {seen:?}"),
        }
    }
    seen
}

fn name_owner(conn: &Connection, name: &str) -> Option<String> {
    conn.call_method(
        Some("org.freedesktop.DBus"),
        "/org/freedesktop/DBus",
        Some("org.freedesktop.DBus"),
        "GetNameOwner",
        &(name,),
    )
    .ok()
    .map(|reply| reply.body().deserialize::<String>().unwrap())
}

/// The icon a panel should get for `state`, as the item's pixmaps.
fn expected_pixmaps(state: TrayState) -> Vec<IconTuple> {
    icons::pixmaps(state)
        .iter()
        .map(|p| (p.width as i32, p.height as i32, p.argb.clone()))
        .collect()
}

// ---------------------------------------------------------------------------

fn idle_view() -> TrayView {
    TrayView {
        state: TrayState::Idle,
        model: "base.en".into(),
        model_loaded: false,
        detail: None,
        telemetry_enabled: false,
        has_last_transcript: false,
        recording: false,
        offer: None,
        download: None,
    }
}

fn channel_handler() -> (
    Box<dyn Fn(TrayAction) + Send + Sync>,
    mpsc::Receiver<TrayAction>,
) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    (
        Box::new(move |action| {
            let _ = tx.lock().unwrap().send(action);
        }),
        rx,
    )
}

/// Starts the tray and waits for its registration with the watcher.
fn start_registered(
    view: TrayView,
    registrations: &mpsc::Receiver<Registration>,
) -> (Box<dyn Tray>, String, mpsc::Receiver<TrayAction>) {
    let (handler, actions) = channel_handler();
    let tray = start_tray(view, handler).expect("tray starts with a watcher present");
    let registration = registrations
        .recv_timeout(WAIT)
        .expect("the tray registers with the watcher");
    (tray, registration.service, actions)
}

#[test]
fn registers_with_the_watcher_and_publishes_the_view() {
    let s = session();
    let (_watcher, registrations) = start_watcher(&s.bus, true);
    let panel = connect(&s.bus);

    let (handler, _actions) = channel_handler();
    let started = Instant::now();
    let tray = start_tray(idle_view(), handler).expect("tray starts with a watcher present");
    eprintln!("start_tray took {:?} (watcher present)", started.elapsed());

    // Registered with the watcher under a name the calling connection owns.
    let reg = registrations.recv_timeout(WAIT).expect("registration");
    assert!(
        reg.service.starts_with("org.kde.StatusNotifierItem-"),
        "{reg:?}"
    );
    assert_eq!(
        name_owner(&panel, &reg.service).as_deref(),
        Some(reg.sender.as_str())
    );
    let item = reg.service.as_str();

    // The item's properties are the view's.
    assert_eq!(item_str(&panel, item, "Id"), "ezflow");
    assert_eq!(item_str(&panel, item, "Title"), "EZ Flow");
    assert_eq!(item_str(&panel, item, "Category"), "ApplicationStatus");
    assert_eq!(item_str(&panel, item, "Status"), "Active");
    assert_eq!(item_str(&panel, item, "IconName"), "audio-input-microphone");
    assert_eq!(item_str(&panel, item, "AttentionIconName"), "");
    let pixmaps = item_pixmaps(&panel, item, "IconPixmap");
    assert_eq!(pixmaps, expected_pixmaps(TrayState::Idle));
    assert_eq!(
        pixmaps
            .iter()
            .map(|(w, h, d)| (*w, *h, d.len()))
            .collect::<Vec<_>>(),
        vec![(22, 22, 22 * 22 * 4), (32, 32, 32 * 32 * 4)]
    );
    let (_, _, title, description) = item_tooltip(&panel, item);
    assert_eq!(title, "EZ Flow");
    assert_eq!(description, "Ready\nModel: base.en (not loaded)");
    assert!(!bool::try_from(item_prop(&panel, item, "ItemIsMenu")).unwrap());

    // The menu.
    let menu = menu_layout(&panel, item);
    assert_eq!(
        menu.labels(),
        [
            "Start dictation",
            "Model: base.en (not loaded)",
            "Unload model now",
            "Copy last transcript",
            "Settings…",
            "Send anonymous usage statistics",
            "",
            "Quit"
        ]
    );
    assert!(menu.child("Start dictation").enabled());
    assert!(!menu.child("Model: base.en (not loaded)").enabled());
    assert!(!menu.child("Unload model now").enabled());
    assert!(!menu.child("Copy last transcript").enabled());
    assert!(menu.child("Settings…").enabled());
    assert!(menu.child("Quit").enabled());
    let telemetry = menu.child("Send anonymous usage statistics");
    assert_eq!(
        telemetry.str_prop("toggle-type").as_deref(),
        Some("checkmark")
    );
    assert_eq!(telemetry.toggle_state(), Some(0));
    assert_eq!(
        menu.children[6].str_prop("type").as_deref(),
        Some("separator")
    );

    // Shutdown takes the item off the bus.
    let owner_changes = signals(&panel, "org.freedesktop.DBus", "org.freedesktop.DBus");
    tray.shutdown();
    let deadline = Instant::now() + WAIT;
    loop {
        let (member, args) = owner_changes
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the item's bus name goes away at shutdown");
        if member == "NameOwnerChanged" && args.first().map(String::as_str) == Some(item) {
            assert_eq!(args[2], "", "released, not handed over");
            break;
        }
    }
    assert_eq!(name_owner(&panel, item), None);
}

#[test]
fn show_changes_icon_tooltip_status_and_menu() {
    let s = session();
    let (_watcher, registrations) = start_watcher(&s.bus, true);
    let panel = connect(&s.bus);
    let (tray, item, _actions) = start_registered(idle_view(), &registrations);
    let item = item.as_str();
    let sigs = signals(&panel, item, ITEM_IFACE);
    let menu_sigs = signals(&panel, item, MENU_IFACE);

    let recording = TrayView {
        state: TrayState::Recording,
        model_loaded: true,
        recording: true,
        offer: None,
        download: None,
        telemetry_enabled: true,
        has_last_transcript: true,
        ..idle_view()
    };
    tray.show(&recording);
    expect_signals(&sigs, &["NewIcon", "NewToolTip"]);
    expect_signals(&menu_sigs, &["ItemsPropertiesUpdated"]);
    assert_eq!(item_str(&panel, item, "IconName"), "media-record");
    assert_eq!(
        item_pixmaps(&panel, item, "IconPixmap"),
        expected_pixmaps(TrayState::Recording)
    );
    assert_eq!(
        item_tooltip(&panel, item).3,
        "Recording\nModel: base.en (loaded)"
    );
    assert_eq!(item_str(&panel, item, "Status"), "Active");
    let menu = menu_layout(&panel, item);
    assert_eq!(menu.children[0].label(), "Stop dictation");
    assert_eq!(menu.children[1].label(), "Model: base.en (loaded)");
    assert!(menu.child("Unload model now").enabled());
    assert!(menu.child("Copy last transcript").enabled());
    assert_eq!(
        menu.child("Send anonymous usage statistics").toggle_state(),
        Some(1)
    );

    // The error state asks for attention and says what went wrong.
    let detail = "hotkey Ctrl+Alt+Space could not be registered: already grabbed";
    let error = TrayView {
        state: TrayState::Error,
        recording: false,
        offer: None,
        download: None,
        detail: Some(detail.into()),
        ..recording.clone()
    };
    tray.show(&error);
    let seen = expect_signals(&sigs, &["NewIcon", "NewToolTip", "NewStatus"]);
    let status = seen.iter().find(|(m, _)| m == "NewStatus").unwrap();
    assert_eq!(status.1, ["NeedsAttention"]);
    assert_eq!(item_str(&panel, item, "Status"), "NeedsAttention");
    assert_eq!(item_str(&panel, item, "IconName"), "dialog-error");
    assert_eq!(item_str(&panel, item, "AttentionIconName"), "dialog-error");
    assert_eq!(
        item_pixmaps(&panel, item, "AttentionIconPixmap"),
        expected_pixmaps(TrayState::Error)
    );
    assert_eq!(
        item_tooltip(&panel, item).3,
        format!("Error\nModel: base.en (loaded)\n{detail}")
    );
    assert_eq!(
        menu_layout(&panel, item).children[0].label(),
        "Start dictation"
    );

    // Every state has its own icon name and pixmaps.
    for state in TrayState::ALL {
        tray.show(&TrayView {
            state,
            ..idle_view()
        });
        assert_eq!(item_str(&panel, item, "IconName"), state.icon_name());
        assert_eq!(
            item_pixmaps(&panel, item, "IconPixmap"),
            expected_pixmaps(state)
        );
        assert!(item_tooltip(&panel, item).3.starts_with(state.label()));
    }

    tray.shutdown();
}

#[test]
fn menu_clicks_and_activation_report_actions() {
    let s = session();
    let (_watcher, registrations) = start_watcher(&s.bus, true);
    let panel = connect(&s.bus);
    let view = TrayView {
        model_loaded: true,
        has_last_transcript: true,
        ..idle_view()
    };
    let (tray, item, actions) = start_registered(view.clone(), &registrations);
    let item = item.as_str();

    let menu = menu_layout(&panel, item);
    for (label, expected) in [
        ("Start dictation", TrayAction::ToggleDictation),
        ("Unload model now", TrayAction::UnloadModel),
        ("Copy last transcript", TrayAction::CopyLastTranscript),
        ("Settings…", TrayAction::OpenSettings),
        (
            "Send anonymous usage statistics",
            TrayAction::SetTelemetry(true),
        ),
        ("Quit", TrayAction::Quit),
    ] {
        click(&panel, item, menu.child(label).id);
        assert_eq!(
            actions.recv_timeout(WAIT),
            Ok(expected),
            "clicking {label:?}"
        );
    }

    // Left click on the icon toggles dictation.
    call(
        &panel,
        item,
        ITEM_PATH,
        ITEM_IFACE,
        "Activate",
        &(0i32, 0i32),
    );
    assert_eq!(actions.recv_timeout(WAIT), Ok(TrayAction::ToggleDictation));

    // With telemetry on, the check item asks to turn it off.
    tray.show(&TrayView {
        telemetry_enabled: true,
        ..view.clone()
    });
    let menu = menu_layout(&panel, item);
    click(
        &panel,
        item,
        menu.child("Send anonymous usage statistics").id,
    );
    assert_eq!(
        actions.recv_timeout(WAIT),
        Ok(TrayAction::SetTelemetry(false))
    );

    // Clicks on disabled entries report nothing. Actions arrive in click
    // order, so the next one reported must be the enabled click after them.
    tray.show(&idle_view());
    let menu = menu_layout(&panel, item);
    assert!(!menu.child("Unload model now").enabled());
    click(&panel, item, menu.child("Unload model now").id);
    click(&panel, item, menu.child("Copy last transcript").id);
    click(&panel, item, menu.child("Model: base.en (not loaded)").id);
    click(&panel, item, menu.child("Settings…").id);
    assert_eq!(actions.recv_timeout(WAIT), Ok(TrayAction::OpenSettings));

    // With no model, the menu offers one; while it downloads, a cancel.
    let offered = TrayView {
        state: TrayState::NoModel,
        offer: Some(ModelOffer {
            model: "base.en".into(),
            size_bytes: 147_964_211,
        }),
        ..idle_view()
    };
    tray.show(&offered);
    let menu = menu_layout(&panel, item);
    click(&panel, item, menu.child("Download base.en (148 MB)").id);
    assert_eq!(actions.recv_timeout(WAIT), Ok(TrayAction::DownloadModel));
    click(&panel, item, menu.child("Set up EZ Flow…").id);
    assert_eq!(actions.recv_timeout(WAIT), Ok(TrayAction::OpenSettings));
    tray.show(&TrayView {
        download: Some(TrayDownload {
            model: "base.en".into(),
            percent: Some(7),
            total_bytes: 147_964_211,
        }),
        ..offered
    });
    let menu = menu_layout(&panel, item);
    assert!(menu
        .labels()
        .contains(&"Downloading base.en: 7% of 148 MB".to_owned()));
    let (_, _, _, description) = item_tooltip(&panel, item);
    assert!(
        description.starts_with(
            "No model — set up…\nModel: base.en (not installed)\nDownloading base.en: 7%"
        ),
        "{description:?}"
    );
    click(&panel, item, menu.child("Cancel the download").id);
    assert_eq!(actions.recv_timeout(WAIT), Ok(TrayAction::CancelDownload));

    tray.shutdown();
    // Nothing is reported after shutdown.
    assert!(actions.try_recv().is_err());
}

#[test]
fn the_action_handler_may_call_show_and_shutdown() {
    let s = session();
    let (_watcher, registrations) = start_watcher(&s.bus, true);
    let panel = connect(&s.bus);

    let slot: Arc<Mutex<Option<Box<dyn Tray>>>> = Arc::new(Mutex::new(None));
    let (done_tx, done_rx) = mpsc::channel();
    let handler_slot = slot.clone();
    let done_tx = Mutex::new(done_tx);
    let handler = Box::new(move |action: TrayAction| {
        match action {
            TrayAction::ToggleDictation => {
                if let Some(tray) = handler_slot.lock().unwrap().as_ref() {
                    tray.show(&TrayView {
                        state: TrayState::Recording,
                        recording: true,
                        offer: None,
                        download: None,
                        ..idle_view()
                    });
                }
            }
            // As the app does on Quit: take the tray down from the handler.
            TrayAction::Quit => {
                if let Some(tray) = handler_slot.lock().unwrap().take() {
                    tray.shutdown();
                }
            }
            _ => {}
        }
        let _ = done_tx.lock().unwrap().send(action);
    });
    let tray = start_tray(idle_view(), handler).expect("tray starts");
    let item = registrations
        .recv_timeout(WAIT)
        .expect("registration")
        .service;
    *slot.lock().unwrap() = Some(tray);

    // The panel's call returns, and the handler's show() completes.
    call(
        &panel,
        &item,
        ITEM_PATH,
        ITEM_IFACE,
        "Activate",
        &(0i32, 0i32),
    );
    assert_eq!(
        done_rx.recv_timeout(WAIT),
        Ok(TrayAction::ToggleDictation),
        "the handler's show() returned (no deadlock)"
    );
    assert_eq!(item_str(&panel, &item, "IconName"), "media-record");
    assert_eq!(
        menu_layout(&panel, &item).children[0].label(),
        "Stop dictation"
    );

    // Quit from the menu; the handler's shutdown() completes and the item
    // leaves the bus.
    let quit = menu_layout(&panel, &item).child("Quit").id;
    let owner_changes = signals(&panel, "org.freedesktop.DBus", "org.freedesktop.DBus");
    // The tray may leave the bus before it answers this click (the handler
    // runs on its own thread), so the reply is not checked.
    let _ = panel.call_method(
        Some(item.as_str()),
        "/MenuBar",
        Some(MENU_IFACE),
        "Event",
        &(quit, "clicked", Value::I32(0), 0u32),
    );
    assert_eq!(
        done_rx.recv_timeout(WAIT),
        Ok(TrayAction::Quit),
        "the handler's shutdown() returned (no deadlock)"
    );
    assert!(slot.lock().unwrap().is_none());
    let deadline = Instant::now() + WAIT;
    loop {
        let (member, args) = owner_changes
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the item's bus name goes away at shutdown");
        if member == "NameOwnerChanged" && args.first() == Some(&item) {
            break;
        }
    }
}

#[test]
fn a_restarted_watcher_gets_the_icon_again() {
    let s = session();
    let (watcher, registrations) = start_watcher(&s.bus, true);
    let (tray, item, _actions) = start_registered(idle_view(), &registrations);

    // The panel restarts: its watcher leaves the bus and a new one comes.
    watcher.release_name(WATCHER_NAME).unwrap();
    drop(watcher);
    let (_watcher2, registrations2) = start_watcher(&s.bus, true);
    let again = registrations2
        .recv_timeout(WAIT)
        .expect("ksni registers with the new watcher by itself");
    assert_eq!(again.service, item);

    tray.shutdown();
}

#[test]
fn a_watcher_that_starts_later_gets_the_icon() {
    let s = session();
    let (handler, _actions) = channel_handler();
    // No tray on the bus: the app still gets a tray, not yet registered.
    let tray = start_tray(idle_view(), handler).expect("a tray waits for a watcher");
    assert!(!tray.is_registered());

    // The desktop's tray starts (login finishing, or the user enabling it).
    let (_watcher, registrations) = start_watcher(&s.bus, true);
    let registration = registrations
        .recv_timeout(WAIT)
        .expect("the icon registers when a watcher appears");
    assert!(registration
        .service
        .starts_with("org.kde.StatusNotifierItem-"));
    let panel = connect(&s.bus);
    assert_eq!(item_str(&panel, &registration.service, "Id"), "ezflow");
    assert!(tray.is_registered());
    tray.shutdown();
}

#[test]
fn a_watcher_without_host_still_gets_the_icon() {
    // ksni's host check is skipped (the common watchers always answer true,
    // see tray/ksni.rs): the item registers, and shows once a host does.
    let s = session();
    let (_watcher, registrations) = start_watcher(&s.bus, false);
    let (handler, _actions) = channel_handler();
    let tray = start_tray(idle_view(), handler).expect("tray starts");
    registrations.recv_timeout(WAIT).expect("registration");
    assert!(tray.is_registered());
    tray.shutdown();
}

#[test]
fn no_session_bus_is_reported_as_such() {
    let _env = ENV_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}", dir.path().join("no-bus-here").display()),
    );
    let (handler, _actions) = channel_handler();
    match start_tray(idle_view(), handler) {
        Err(TrayError::NoSessionBus(_)) => {}
        Err(other) => panic!("expected NoSessionBus, got {other:?}"),
        Ok(_) => panic!("expected NoSessionBus, got a tray"),
    }
}

/// Not a speed assertion (see the brief: benchmarks are not unit tests), a
/// measurement printed with `--nocapture`; it still checks every start
/// registers.
#[test]
fn start_latency_with_a_watcher() {
    let s = session();
    let (_watcher, registrations) = start_watcher(&s.bus, true);
    let mut times = Vec::new();
    for _ in 0..20 {
        let (handler, _actions) = channel_handler();
        let started = Instant::now();
        let tray = start_tray(idle_view(), handler).expect("tray starts");
        times.push(started.elapsed());
        registrations.recv_timeout(WAIT).expect("registration");
        tray.shutdown();
    }
    times.sort();
    eprintln!(
        "start_tray with a watcher, 20 runs: min {:?}, median {:?}, max {:?}",
        times[0], times[10], times[19]
    );
}

/// Context switches (voluntary and not) of each thread of this process so
/// far, by thread id, with the thread's name.
fn context_switches() -> HashMap<u32, (String, u64)> {
    process::threads(std::process::id())
        .expect("this process's threads")
        .into_iter()
        .map(|thread| (thread.tid, (thread.name, thread.switches)))
        .collect()
}

/// "Idle must be idle": once the icon shows, none of the threads the tray
/// runs on wakes up until something happens — the `blocking-N` pool thread
/// zbus connects its socket on included (blocking 1.7 would wake it every
/// 500 ms forever; Cargo.toml pins 1.6.1, whose idle threads end).
#[test]
fn an_idle_tray_does_not_wake_up() {
    let s = session();
    let (_watcher, registrations) = start_watcher(&s.bus, true);
    let existing = context_switches();
    let (tray, _item, _actions) = start_registered(idle_view(), &registrations);
    tray.show(&TrayView {
        model_loaded: true,
        ..idle_view()
    });
    let me: u32 = std::fs::read_link("/proc/thread-self")
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .parse()
        .unwrap();

    // Settle first: after any activity, async-io's reactor thread backs off
    // for about 20 ms (ten short parks) before it blocks for good.
    std::thread::sleep(Duration::from_millis(300));
    let before = context_switches();
    std::thread::sleep(Duration::from_secs(2));
    let after = context_switches();

    // The tray's threads: those it started, and the shared ones of the
    // D-Bus stack (which earlier tests may have started already).
    let shared = |name: &str| {
        name == "async-io" || name.starts_with("zbus::") || name.starts_with("blocking-")
    };
    let mut woke = Vec::new();
    for (tid, (name, count)) in &after {
        let Some((_, earlier)) = before.get(tid) else {
            continue;
        };
        if *tid == me || (existing.contains_key(tid) && !shared(name)) || count == earlier {
            continue;
        }
        woke.push(format!("{name} (tid {tid}): {} wake-ups", count - earlier));
    }
    assert!(woke.is_empty(), "tray threads woke while idle: {woke:?}");
    tray.shutdown();
}
