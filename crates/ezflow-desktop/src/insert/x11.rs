//! Text insertion on X11 through the XTEST extension: synthetic key presses
//! go to whatever window has the keyboard focus, as if typed.
//!
//! Paste: save the clipboard's text, take the clipboard with the transcript,
//! press Ctrl+V, wait until the focused application has fetched the text
//! (our owner thread sees its request; bounded by a timeout), then put the
//! previous text back (or release the clipboard if it was empty).
//!
//! Type: one key press per character, with Shift where the layout needs it.
//! A character the layout lacks is typed through a spare keycode (one with no
//! keysym) that is remapped to it for the moment. Applications translate a
//! keycode with the mapping they fetched after the MappingNotify, and nothing
//! tells us when they have done so; so the borrowed keycodes are given back
//! by a one-shot timer a little later ([`REMAP_HOLD`], also when the inserter
//! is dropped meanwhile), not right after the key press. The next insertion
//! takes over keycodes still borrowed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use x11rb::connection::RequestConnection as _;
use x11rb::protocol::xkb::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{ConnectionExt as _, KEY_PRESS_EVENT, KEY_RELEASE_EVENT};
use x11rb::protocol::xtest::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;
use x11rb::{CURRENT_TIME, NONE};

use super::x11_selection::{paste_via_clipboard, x11, Client};
use super::{InsertError, InsertMethod, Insertion, TextInserter};
use crate::hotkey::x11_keymap::{keysym, mask, text_keysyms, Keymap};

/// How long the focused application has to fetch the pasted text before the
/// previous clipboard is put back anyway.
/// How long borrowed keycodes keep their characters after typing.
const REMAP_HOLD: Duration = Duration::from_secs(2);
/// When a text needs more missing characters than there are spare keycodes,
/// the time given to the application to read a batch before the keycodes
/// are reused.
const REMAP_SETTLE: Duration = Duration::from_millis(150);

const KEYSYM_V: u32 = 0x76;

/// Borrowed keycodes: their original keysyms, to be put back.
type Borrowed = BTreeMap<u8, Vec<u32>>;

pub(crate) struct X11Inserter {
    client: Arc<Client>,
    xkb: bool,
    borrowed: Arc<Mutex<Borrowed>>,
    restore_timer: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
}

impl X11Inserter {
    pub(crate) fn connect(display: &str) -> Result<Self, InsertError> {
        let client = Client::connect(display)?;
        let xtest_present = x11!(
            "looking for XTEST",
            client.conn.extension_information(xtest::X11_EXTENSION_NAME)
        )?
        .is_some();
        if !xtest_present {
            return Err(InsertError::NoXTest {
                display: display.to_owned(),
            });
        }
        let version = x11!("looking for XTEST", client.conn.xtest_get_version(2, 2))?;
        x11!("looking for XTEST", version.reply())?;
        let xkb = match client.conn.xkb_use_extension(1, 0).map(|c| c.reply()) {
            Ok(Ok(reply)) => reply.supported,
            _ => false,
        };
        Ok(X11Inserter {
            client: Arc::new(client),
            xkb,
            borrowed: Arc::new(Mutex::new(Borrowed::new())),
            restore_timer: Mutex::new(None),
        })
    }

    fn conn(&self) -> &RustConnection {
        &self.client.conn
    }

    fn key(&self, keycode: u8, down: bool) -> Result<(), InsertError> {
        let kind = if down {
            KEY_PRESS_EVENT
        } else {
            KEY_RELEASE_EVENT
        };
        x11!(
            "pressing a key",
            self.conn()
                .xtest_fake_input(kind, keycode, CURRENT_TIME, NONE, 0, 0, 0)
        )?;
        Ok(())
    }

    /// Waits until the server has handled everything sent so far.
    fn sync(&self) -> Result<(), InsertError> {
        let cookie = x11!("talking to the X server", self.conn().get_input_focus())?;
        x11!("talking to the X server", cookie.reply())?;
        Ok(())
    }

    fn type_text(&self, text: &str) -> Result<(), InsertError> {
        let keysyms = text_keysyms(text);
        if keysyms.is_empty() {
            return Ok(());
        }
        let mut keys = self.keys(&keysyms)?;
        keys.check_typeable(&keysyms)?;
        let caps = keys.caps_lock_on;
        let caps_key = if caps {
            keys.keymap
                .find(keysym::CAPS_LOCK, &all_columns(&keys.keymap))
        } else {
            None
        };
        // Caps Lock would turn letters upside down: switch it off meanwhile.
        if let Some((caps_key, _)) = caps_key {
            self.key(caps_key, true)?;
            self.key(caps_key, false)?;
        }
        let typed = keysyms.iter().try_for_each(|&sym| {
            let (keycode, shift) = keys.stroke(sym)?;
            if shift {
                self.key(keys.shift()?, true)?;
            }
            self.key(keycode, true)?;
            self.key(keycode, false)?;
            if shift {
                self.key(keys.shift()?, false)?;
            }
            Ok(())
        });
        if let Some((caps_key, _)) = caps_key {
            self.key(caps_key, true)?;
            self.key(caps_key, false)?;
        }
        // Returns once the server has handled the keys: a connection closed
        // right after a flush can lose requests the server had not read yet.
        self.sync()?;
        typed
    }

    fn paste(&self, text: &str) -> Result<bool, InsertError> {
        // Everything that can fail for want of keys fails before the
        // clipboard is touched.
        let mut keys = self.keys(&[KEYSYM_V])?;
        keys.check_typeable(&[KEYSYM_V])?;
        let all = all_columns(&keys.keymap);
        let (control, _) = keys
            .keymap
            .find(keysym::CONTROL_L, &all)
            .or_else(|| keys.keymap.find(keysym::CONTROL_R, &all))
            .ok_or(InsertError::KeyNotOnKeyboard {
                key: "Control",
                purpose: "paste with Ctrl+V",
            })?;
        paste_via_clipboard(&self.client, text, || {
            let pressed = keys.stroke(KEYSYM_V).and_then(|(v, _)| {
                self.key(control, true)?;
                self.key(v, true)?;
                self.key(v, false)?;
                self.key(control, false)?;
                self.sync()
            });
            drop(keys);
            pressed
        })
    }

    /// The keyboard as it is now, with the borrowed keycodes taken over from
    /// a pending restore.
    fn keys(&self, needed: &[u32]) -> Result<Keys<'_>, InsertError> {
        self.cancel_restore_timer();
        let keymap = x11!("reading the keyboard mapping", Keymap::fetch(self.conn()))?;
        let (group, caps_lock_on) = if self.xkb {
            let state = self
                .conn()
                .xkb_get_state(xkb::ID::USE_CORE_KBD.into())
                .map(|c| c.reply());
            match state {
                Ok(Ok(s)) => (
                    u8::from(s.group),
                    u16::from(s.locked_mods) & mask::LOCK != 0,
                ),
                _ => (0, false),
            }
        } else {
            (0, false)
        };
        // The core map lists group 1 in columns 0-1 and group 2 in 2-3.
        let columns = match group {
            0 => Some([0, 1]),
            1 => Some([2, 3]),
            _ => None,
        };
        let borrowed = self.borrowed.lock().unwrap_or_else(PoisonError::into_inner);
        // Spare keycodes, and those still borrowed from an earlier insertion
        // unless they hold a character this text needs.
        let mut free = keymap.spare_keycodes();
        free.extend(borrowed.keys().copied().filter(|&keycode| {
            !keymap
                .keysyms_of(keycode)
                .iter()
                .any(|sym| needed.contains(sym))
        }));
        free.sort_unstable();
        free.dedup();
        free.reverse();
        Ok(Keys {
            inserter: self,
            columns,
            caps_lock_on,
            free,
            in_use: HashMap::new(),
            overridden: HashSet::new(),
            keymap,
            borrowed,
        })
    }

    fn cancel_restore_timer(&self) {
        let timer = self
            .restore_timer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((cancel, thread)) = timer {
            // The thread may have timed out already and be restoring: the
            // join waits for that, and the send is then simply not read.
            let _ = cancel.send(());
            let _ = thread.join();
        }
    }

    /// Starts the one-shot timer that gives the borrowed keycodes back;
    /// `held` is the caller's lock on them, used only if no timer can start.
    fn arm_restore_timer(&self, held: &mut Borrowed) {
        let (cancel, cancelled) = mpsc::channel::<()>();
        let client = Arc::clone(&self.client);
        let borrowed = Arc::clone(&self.borrowed);
        let spawned = std::thread::Builder::new()
            .name("ezflow-keymap-restore".to_owned())
            .spawn(move || {
                let deadline = Instant::now() + REMAP_HOLD;
                match cancelled.recv_timeout(REMAP_HOLD) {
                    // A new insertion took the borrowed keycodes over.
                    Ok(()) => return,
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    // The inserter is gone; the text it typed last may not
                    // have been read yet, so the deadline still holds.
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                    }
                }
                let mut borrowed = borrowed.lock().unwrap_or_else(PoisonError::into_inner);
                restore_keycodes(&client.conn, &mut borrowed);
            });
        match spawned {
            Ok(thread) => {
                *self
                    .restore_timer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some((cancel, thread));
            }
            Err(e) => {
                tracing::warn!(
                    "no thread to restore the keyboard mapping later ({e}); restoring now"
                );
                restore_keycodes(&self.client.conn, held);
            }
        }
    }
}

/// Gives borrowed keycodes their original keysyms back.
fn restore_keycodes(conn: &RustConnection, borrowed: &mut Borrowed) {
    if borrowed.is_empty() {
        return;
    }
    for (&keycode, original) in borrowed.iter() {
        let per = u8::try_from(original.len()).unwrap_or(u8::MAX);
        if let Err(e) = conn.change_keyboard_mapping(1, keycode, per, original) {
            tracing::warn!("could not restore keycode {keycode}: {e}");
        }
    }
    // A round trip, not just a flush: the connection may close right after
    // (a dropped inserter), and requests the server had not read yet would
    // be lost.
    match conn.get_input_focus().map(|cookie| cookie.reply()) {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!("could not restore the keyboard mapping: {e}"),
        Err(e) => tracing::warn!("could not restore the keyboard mapping: {e}"),
    }
    tracing::debug!(keycodes = ?borrowed.keys().collect::<Vec<_>>(), "keyboard mapping restored");
    borrowed.clear();
}

fn all_columns(keymap: &Keymap) -> Vec<usize> {
    (0..keymap.per_keycode()).collect()
}

/// Finding keycodes for keysyms during one insertion, borrowing spare
/// keycodes for the missing ones.
struct Keys<'a> {
    inserter: &'a X11Inserter,
    keymap: Keymap,
    /// The core-map columns of the active group (unshifted, shifted); None
    /// when the group is beyond what the core map shows: every character then
    /// goes through a borrowed keycode.
    columns: Option<[usize; 2]>,
    caps_lock_on: bool,
    borrowed: std::sync::MutexGuard<'a, Borrowed>,
    /// Keycodes that can be (re)mapped now.
    free: Vec<u8>,
    /// Keysyms mapped during this insertion, and their keycodes.
    in_use: HashMap<u32, u8>,
    /// Keycodes remapped during this insertion (the snapshot is stale for them).
    overridden: HashSet<u8>,
}

impl Keys<'_> {
    fn shift(&self) -> Result<u8, InsertError> {
        let all = all_columns(&self.keymap);
        self.keymap
            .find(keysym::SHIFT_L, &all)
            .or_else(|| self.keymap.find(keysym::SHIFT_R, &all))
            .map(|(keycode, _)| keycode)
            .ok_or(InsertError::KeyNotOnKeyboard {
                key: "Shift",
                purpose: "type capital letters and symbols",
            })
    }

    /// The keycode already carrying `sym` in the active group, and whether
    /// Shift must be held.
    fn lookup(&self, sym: u32) -> Option<(u8, bool)> {
        if let Some(&keycode) = self.in_use.get(&sym) {
            return Some((keycode, false));
        }
        let columns = self.columns?;
        self.keymap.keycodes().find_map(|keycode| {
            if self.overridden.contains(&keycode) {
                return None;
            }
            let syms = self.keymap.keysyms_of(keycode);
            columns
                .iter()
                .position(|&c| syms.get(c) == Some(&sym))
                .map(|level| (keycode, level == 1))
        })
    }

    /// The keycode for `sym` and whether Shift must be held, borrowing a
    /// spare keycode when the layout lacks it.
    fn stroke(&mut self, sym: u32) -> Result<(u8, bool), InsertError> {
        match self.lookup(sym) {
            Some(found) => Ok(found),
            None => self.borrow_keycode(sym).map(|keycode| (keycode, false)),
        }
    }

    /// Fails before anything is pressed when some of `syms` cannot be typed.
    fn check_typeable(&self, syms: &[u32]) -> Result<(), InsertError> {
        if self.free.is_empty() && syms.iter().any(|&s| self.lookup(s).is_none()) {
            return Err(InsertError::NoSpareKeycode);
        }
        Ok(())
    }

    fn borrow_keycode(&mut self, sym: u32) -> Result<u8, InsertError> {
        if self.free.is_empty() {
            if self.in_use.is_empty() {
                return Err(InsertError::NoSpareKeycode);
            }
            // Every borrowed keycode holds a character typed moments ago:
            // let the application read them before they change again.
            self.inserter.sync()?;
            std::thread::sleep(REMAP_SETTLE);
            self.free
                .extend(self.in_use.drain().map(|(_, keycode)| keycode));
        }
        let Some(keycode) = self.free.pop() else {
            return Err(InsertError::NoSpareKeycode);
        };
        let original = self.keymap.keysyms_of(keycode).to_vec();
        let per = self.keymap.per_keycode();
        self.borrowed.entry(keycode).or_insert(original);
        // The same keysym in every column: any group and level gives it.
        let syms = vec![sym; per];
        let per = u8::try_from(per).unwrap_or(u8::MAX);
        x11!(
            "remapping a spare keycode",
            self.inserter
                .conn()
                .change_keyboard_mapping(1, keycode, per, &syms)
        )?;
        self.overridden.insert(keycode);
        self.in_use.insert(sym, keycode);
        tracing::debug!(
            keycode,
            keysym = format_args!("0x{sym:x}"),
            "borrowed a spare keycode"
        );
        Ok(keycode)
    }
}

impl Drop for Keys<'_> {
    /// Hands the borrowed keycodes to the restore timer (which waits for
    /// this guard's lock to be released).
    fn drop(&mut self) {
        if !self.borrowed.is_empty() {
            self.inserter.arm_restore_timer(&mut self.borrowed);
        }
    }
}

impl TextInserter for X11Inserter {
    fn insert(&self, text: &str, method: InsertMethod) -> Result<Insertion, InsertError> {
        if text.is_empty() {
            return Ok(Insertion {
                method,
                clipboard_restored: true,
            });
        }
        let clipboard_restored = match method {
            InsertMethod::Type => {
                self.type_text(text)?;
                true
            }
            InsertMethod::Paste => self.paste(text)?,
        };
        tracing::debug!(
            ?method,
            chars = text.chars().count(),
            clipboard_restored,
            "text inserted"
        );
        Ok(Insertion {
            method,
            clipboard_restored,
        })
    }
}

impl Drop for X11Inserter {
    /// A pending restore timer is left to run: it owns what it needs and
    /// gives the borrowed keycodes back at its deadline.
    fn drop(&mut self) {
        let timer = self
            .restore_timer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if timer.is_none() {
            let mut borrowed = self.borrowed.lock().unwrap_or_else(PoisonError::into_inner);
            restore_keycodes(&self.client.conn, &mut borrowed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keysyms_for_text() {
        assert_eq!(
            text_keysyms("aZ é—\r\n\t\u{7}😀"),
            vec![
                0x61,
                0x5a,
                0x20,
                0xe9,
                0x0100_2014,
                keysym::RETURN,
                keysym::TAB,
                0x0101_f600
            ]
        );
        assert_eq!(text_keysyms("a\rb"), vec![0x61, keysym::RETURN, 0x62]);
    }
}
