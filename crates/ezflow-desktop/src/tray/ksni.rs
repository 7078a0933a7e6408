//! The Linux tray: a StatusNotifierItem with its menu (com.canonical.dbusmenu)
//! on the D-Bus session bus, served by the `ksni` crate in its blocking mode:
//! no GTK, no toolkit, one service thread of ksni's own.
//!
//! Clicks are handed to one thread of ours, in order, so that the app's
//! handler may call [`Tray::show`] (ksni runs its callbacks with the tray's
//! state locked; calling back into it from there would deadlock). Both
//! threads sleep until something arrives: nothing here polls.
//!
//! The watcher (the desktop's tray) may be missing at start: the service is
//! spawned with ksni's `assume_sni_available`, so it keeps running and
//! follows the watcher's bus name (a NameOwnerChanged match, no polling),
//! registering the icon when a watcher appears and again whenever it
//! restarts. That option also skips ksni's `IsStatusNotifierHostRegistered`
//! check, which the common watchers (KDE, the GNOME AppIndicator extension)
//! answer with true whatever the truth.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use ::ksni::blocking::{Handle, TrayMethods};
use ::ksni::menu::{CheckmarkItem, StandardItem};
use ::ksni::{Icon, MenuItem, OfflineReason, Status, ToolTip};

use super::{icons, ActionHandler, MenuEntry, Tray, TrayAction, TrayError, TrayState, TrayView};

/// The item's `Id`: stable across sessions, as the specification asks.
const ITEM_ID: &str = "ezflow";

/// What ksni serves: the current view, and where clicks go.
struct SniTray {
    view: TrayView,
    actions: mpsc::Sender<TrayAction>,
    /// Whether the icon is registered with a watcher now.
    registered: Arc<AtomicBool>,
    /// Whether the icon was ever registered (for what the log says).
    seen_watcher: Arc<AtomicBool>,
}

impl SniTray {
    /// Reports a menu click on the entry for `action`, unless the current
    /// view has that entry disabled (hosts do not send clicks on disabled
    /// entries, but nothing stops a D-Bus peer from doing so).
    fn clicked(&self, action: TrayAction) {
        let allowed = self.view.menu().iter().any(|entry| match entry {
            MenuEntry::Item {
                action: a, enabled, ..
            } => *a == action && *enabled,
            MenuEntry::Check { action: a, .. } => *a == action,
            MenuEntry::Label(_) | MenuEntry::Separator => false,
        });
        if allowed {
            self.report(action);
        } else {
            tracing::debug!(?action, "tray: click on a disabled menu entry ignored");
        }
    }

    fn report(&self, action: TrayAction) {
        if self.actions.send(action).is_err() {
            tracing::debug!(?action, "tray: action after shutdown dropped");
        }
    }
}

fn ksni_icons(state: TrayState) -> Vec<Icon> {
    icons::pixmaps(state)
        .iter()
        .map(|p| Icon {
            width: p.width as i32,
            height: p.height as i32,
            data: p.argb.clone(),
        })
        .collect()
}

impl ::ksni::Tray for SniTray {
    fn id(&self) -> String {
        ITEM_ID.to_owned()
    }

    fn title(&self) -> String {
        TrayView::TITLE.to_owned()
    }

    fn status(&self) -> Status {
        match self.view.state {
            TrayState::Error => Status::NeedsAttention,
            _ => Status::Active,
        }
    }

    fn icon_name(&self) -> String {
        self.view.state.icon_name().to_owned()
    }

    fn icon_pixmap(&self) -> Vec<Icon> {
        ksni_icons(self.view.state)
    }

    // Hosts show the attention icon instead of the icon while the status is
    // NeedsAttention, i.e. in the error state; it is the error icon then,
    // and nothing otherwise (so the error pixmaps are drawn only if needed).
    fn attention_icon_name(&self) -> String {
        match self.view.state {
            TrayState::Error => TrayState::Error.icon_name().to_owned(),
            _ => String::new(),
        }
    }

    fn attention_icon_pixmap(&self) -> Vec<Icon> {
        match self.view.state {
            TrayState::Error => ksni_icons(TrayState::Error),
            _ => Vec::new(),
        }
    }

    fn tool_tip(&self) -> ToolTip {
        ToolTip {
            icon_name: String::new(),
            icon_pixmap: Vec::new(),
            title: TrayView::TITLE.to_owned(),
            description: self.view.tooltip_description(),
        }
    }

    fn activate(&mut self, _x: i32, _y: i32) {
        self.report(TrayAction::ToggleDictation);
    }

    fn menu(&self) -> Vec<MenuItem<Self>> {
        self.view
            .menu()
            .into_iter()
            .map(|entry| match entry {
                MenuEntry::Item {
                    label,
                    enabled,
                    action,
                } => StandardItem {
                    label,
                    enabled,
                    activate: Box::new(move |tray: &mut SniTray| tray.clicked(action)),
                    ..Default::default()
                }
                .into(),
                MenuEntry::Check {
                    label,
                    checked,
                    action,
                } => CheckmarkItem {
                    label,
                    checked,
                    activate: Box::new(move |tray: &mut SniTray| tray.clicked(action)),
                    ..Default::default()
                }
                .into(),
                MenuEntry::Label(label) => StandardItem {
                    label,
                    enabled: false,
                    ..Default::default()
                }
                .into(),
                MenuEntry::Separator => MenuItem::Separator,
            })
            .collect()
    }

    fn watcher_online(&self) {
        // ksni registers the icon right after this; a failure there comes
        // back as `watcher_offline`.
        self.registered.store(true, Ordering::Release);
        if self.seen_watcher.swap(true, Ordering::AcqRel) {
            tracing::info!("tray: the desktop's tray is back; icon registered again");
        } else {
            tracing::info!("tray: the desktop's tray appeared; icon registered");
        }
    }

    fn watcher_offline(&self, reason: OfflineReason) -> bool {
        self.registered.store(false, Ordering::Release);
        if self.seen_watcher.load(Ordering::Acquire) {
            tracing::info!(
                ?reason,
                "tray: the desktop's tray went away; the icon comes back when it returns"
            );
        } else {
            tracing::warn!(
                "no system tray on the session bus ({}); EZ Flow keeps running (the hotkey and \
                 `ezflow toggle` work) and shows its icon when a tray appears",
                offline_reason(&reason)
            );
        }
        // Keep serving: ksni registers the icon when a watcher (re)appears.
        true
    }
}

/// The running Linux tray.
struct KsniTray {
    handle: Handle<SniTray>,
    registered: Arc<AtomicBool>,
    /// Set at shutdown: the action thread drops whatever is still queued.
    stopped: Arc<AtomicBool>,
}

impl Tray for KsniTray {
    fn is_registered(&self) -> bool {
        self.registered.load(Ordering::Acquire)
    }

    fn show(&self, view: &TrayView) {
        let view = view.clone();
        if self.handle.update(move |tray| tray.view = view).is_none() {
            tracing::debug!("tray: service has stopped; view not shown");
        }
    }

    fn shutdown(self: Box<Self>) {
        self.stopped.store(true, Ordering::Release);
        self.handle.shutdown().wait();
    }
}

impl Drop for KsniTray {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Release);
        // Without waiting; a no-op after `shutdown`.
        let _ = self.handle.shutdown();
    }
}

pub(super) fn start(view: TrayView, on_action: ActionHandler) -> Result<Box<dyn Tray>, TrayError> {
    let started = Instant::now();
    let stopped = Arc::new(AtomicBool::new(false));
    let actions = spawn_action_thread(on_action, stopped.clone())?;
    let registered = Arc::new(AtomicBool::new(true));
    let seen_watcher = Arc::new(AtomicBool::new(false));
    let tray = SniTray {
        view,
        actions,
        registered: registered.clone(),
        seen_watcher: seen_watcher.clone(),
    };
    // `watcher_offline` during the spawn means there was no watcher at
    // start: the flags say so until one appears.
    let handle = tray
        .assume_sni_available(true)
        .spawn()
        .map_err(tray_error)?;
    if registered.load(Ordering::Acquire) {
        seen_watcher.store(true, Ordering::Release);
        tracing::debug!(
            elapsed_us = started.elapsed().as_micros() as u64,
            "tray: icon registered with the StatusNotifierWatcher"
        );
    }
    Ok(Box::new(KsniTray {
        handle,
        registered,
        stopped,
    }))
}

/// The thread that calls `on_action`, one action at a time, in click order.
/// It ends when the tray (the only sender) is gone.
fn spawn_action_thread(
    on_action: ActionHandler,
    stopped: Arc<AtomicBool>,
) -> Result<mpsc::Sender<TrayAction>, TrayError> {
    let (tx, rx) = mpsc::channel::<TrayAction>();
    std::thread::Builder::new()
        .name("ezflow-tray-actions".into())
        .spawn(move || {
            for action in rx {
                if stopped.load(Ordering::Acquire) {
                    break;
                }
                on_action(action);
            }
        })
        .map_err(TrayError::Thread)?;
    Ok(tx)
}

fn offline_reason(reason: &OfflineReason) -> String {
    match reason {
        OfflineReason::Error(::ksni::Error::Watcher(
            zbus::fdo::Error::ServiceUnknown(_) | zbus::fdo::Error::NameHasNoOwner(_),
        )) => "no StatusNotifierWatcher".to_owned(),
        OfflineReason::Error(e) => e.to_string(),
        other => format!("{other:?}"),
    }
}

fn tray_error(err: ::ksni::Error) -> TrayError {
    match err {
        ::ksni::Error::Dbus(e) => match e {
            zbus::Error::Address(_)
            | zbus::Error::InputOutput(_)
            | zbus::Error::Handshake(_)
            | zbus::Error::Connection(..) => TrayError::NoSessionBus(e.to_string()),
            other => TrayError::Dbus(other.to_string()),
        },
        ::ksni::Error::Watcher(
            e @ (zbus::fdo::Error::ServiceUnknown(_) | zbus::fdo::Error::NameHasNoOwner(_)),
        ) => TrayError::NoHost(format!("no StatusNotifierWatcher on the session bus ({e})")),
        ::ksni::Error::Watcher(e) => TrayError::NoHost(format!(
            "the StatusNotifierWatcher did not accept the icon: {e}"
        )),
        other => TrayError::Dbus(other.to_string()),
    }
}
