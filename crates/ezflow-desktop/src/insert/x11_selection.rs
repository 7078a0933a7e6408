//! The X11 CLIPBOARD selection: reading it (ConvertSelection to UTF8_STRING,
//! STRING as a fallback, INCR transfers, each wait bounded), and owning it.
//!
//! X11 has no clipboard storage: the owner serves each paste itself. Each
//! time we take the clipboard, a small owner thread with its own connection
//! and window answers SelectionRequest events and ends at SelectionClear,
//! when another owner (ours or another application's) takes over or the
//! ownership is released. It blocks on its connection; nothing polls.
//!
//! Bounded waits on a connection: a one-shot timer thread sends a
//! ClientMessage to our own window at the deadline, so the wait is woken by
//! an event either way.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use x11rb::connection::{Connection, RequestConnection as _};
use x11rb::errors::{ConnectionError, ReplyError};
use x11rb::protocol::xproto::{
    AtomEnum, ClientMessageEvent, ConnectionExt as _, CreateWindowAux, EventMask, PropMode,
    Property, SelectionNotifyEvent, SelectionRequestEvent, Window, WindowClass,
    SELECTION_NOTIFY_EVENT,
};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;
use x11rb::{COPY_DEPTH_FROM_PARENT, COPY_FROM_PARENT, NONE};

use super::{Clipboard, InsertError};

/// How long the clipboard's owner has to answer (per INCR chunk too).
pub(crate) const OWNER_ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

x11rb::atom_manager! {
    pub(crate) Atoms: AtomsCookie {
        CLIPBOARD,
        UTF8_STRING,
        TARGETS,
        TIMESTAMP,
        TEXT,
        INCR,
        TEXT_PLAIN_UTF8: b"text/plain;charset=utf-8",
        TEXT_PLAIN: b"text/plain",
        EZFLOW_SELECTION: b"_EZFLOW_SELECTION",
        EZFLOW_TIME: b"_EZFLOW_TIME",
        EZFLOW_WAKE: b"_EZFLOW_WAKE",
    }
}

pub(crate) fn x11_error(doing: &'static str) -> impl FnOnce(&dyn std::fmt::Display) -> InsertError {
    move |e| InsertError::X11 {
        doing,
        detail: e.to_string(),
    }
}

macro_rules! x11 {
    ($doing:literal, $e:expr) => {
        $e.map_err(|e| $crate::insert::x11_selection::x11_error($doing)(&e))
    };
}
pub(crate) use x11;

/// A connection with a hidden window of its own: the requestor of selection
/// conversions, the target of wake-up messages, the source of timestamps.
pub(crate) struct Client {
    pub(crate) display: String,
    pub(crate) conn: RustConnection,
    pub(crate) window: Window,
    pub(crate) atoms: Atoms,
}

impl Client {
    pub(crate) fn connect(display: &str) -> Result<Self, InsertError> {
        let (conn, root) = crate::hotkey::display::connect_x11(display)
            .map_err(|reason| InsertError::NoDisplay { reason })?;
        let atoms = x11!("interning atoms", Atoms::new(&conn))?;
        let atoms = x11!("interning atoms", atoms.reply())?;
        let window = x11!("creating a hidden window", conn.generate_id())?;
        x11!(
            "creating a hidden window",
            conn.create_window(
                COPY_DEPTH_FROM_PARENT,
                window,
                root,
                -1,
                -1,
                1,
                1,
                0,
                WindowClass::INPUT_ONLY,
                COPY_FROM_PARENT,
                &CreateWindowAux::new().event_mask(EventMask::PROPERTY_CHANGE),
            )
        )?;
        Ok(Client {
            display: display.to_owned(),
            conn,
            window,
            atoms,
        })
    }

    /// Waits for the first event `accept` takes, for at most `timeout`.
    /// `Ok(None)` when the time ran out. Events `accept` declines are dropped.
    pub(crate) fn wait_event<T>(
        &self,
        timeout: Duration,
        mut accept: impl FnMut(&Event) -> Option<T>,
    ) -> Result<Option<T>, InsertError> {
        static TOKENS: AtomicU32 = AtomicU32::new(1);
        let token = TOKENS.fetch_add(1, Ordering::Relaxed);
        let (cancel, cancelled) = mpsc::channel::<()>();
        std::thread::scope(|scope| {
            let conn = &self.conn;
            let (window, wake) = (self.window, self.atoms.EZFLOW_WAKE);
            std::thread::Builder::new()
                .name("ezflow-x11-deadline".to_owned())
                .spawn_scoped(scope, move || {
                    if let Err(mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(timeout) {
                        let message =
                            ClientMessageEvent::new(32, window, wake, [token, 0, 0, 0, 0]);
                        let sent = conn
                            .send_event(false, window, EventMask::NO_EVENT, message)
                            .and_then(|_| conn.flush());
                        if let Err(e) = sent {
                            tracing::debug!("could not send the deadline message: {e}");
                        }
                    }
                })
                .map_err(InsertError::Thread)?;
            let result = loop {
                let event = match self.conn.wait_for_event() {
                    Ok(event) => event,
                    Err(e) => break Err(x11_error("waiting for the X server")(&e)),
                };
                if let Event::ClientMessage(m) = &event {
                    if m.window == self.window && m.type_ == self.atoms.EZFLOW_WAKE {
                        if m.data.as_data32()[0] == token {
                            break Ok(None);
                        }
                        continue; // the deadline of an earlier wait
                    }
                }
                if let Some(value) = accept(&event) {
                    break Ok(Some(value));
                }
            };
            drop(cancel);
            result
        })
    }

    /// A server timestamp, from a zero-length change to our own property
    /// (selection requests must carry a real time, not CurrentTime).
    pub(crate) fn server_time(&self) -> Result<u32, InsertError> {
        let (window, atom) = (self.window, self.atoms.EZFLOW_TIME);
        x11!(
            "getting a timestamp",
            self.conn
                .change_property8(PropMode::APPEND, window, atom, AtomEnum::STRING, &[])
        )?;
        x11!("getting a timestamp", self.conn.flush())?;
        let time = self.wait_event(OWNER_ANSWER_TIMEOUT, |event| match event {
            Event::PropertyNotify(p) if p.window == window && p.atom == atom => Some(p.time),
            _ => None,
        })?;
        time.ok_or(InsertError::X11 {
            doing: "getting a timestamp",
            detail: "the X server did not answer".to_owned(),
        })
    }

    /// Reads the CLIPBOARD as text.
    pub(crate) fn read_clipboard(&self) -> Result<Content, InsertError> {
        let atoms = &self.atoms;
        let owner = x11!(
            "asking who owns the clipboard",
            self.conn.get_selection_owner(atoms.CLIPBOARD)
        )?;
        if x11!("asking who owns the clipboard", owner.reply())?.owner == NONE {
            return Ok(Content::Empty);
        }
        let time = self.server_time()?;
        for target in [atoms.UTF8_STRING, AtomEnum::STRING.into()] {
            x11!(
                "asking for the clipboard",
                self.conn
                    .delete_property(self.window, atoms.EZFLOW_SELECTION)
            )?;
            x11!(
                "asking for the clipboard",
                self.conn.convert_selection(
                    self.window,
                    atoms.CLIPBOARD,
                    target,
                    atoms.EZFLOW_SELECTION,
                    time,
                )
            )?;
            x11!("asking for the clipboard", self.conn.flush())?;
            let window = self.window;
            let notify = self.wait_event(OWNER_ANSWER_TIMEOUT, |event| match event {
                Event::SelectionNotify(n)
                    if n.requestor == window
                        && n.selection == atoms.CLIPBOARD
                        && n.time == time =>
                {
                    Some(n.property)
                }
                _ => None,
            })?;
            match notify {
                None => return Ok(Content::NoAnswer),
                Some(NONE) => continue, // refused this target
                Some(_) => {}
            }
            let Some(bytes) = self.read_property()? else {
                return Ok(Content::NoAnswer);
            };
            let text = if target == atoms.UTF8_STRING {
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                bytes.iter().map(|&b| char::from(b)).collect()
            };
            return Ok(Content::Text(text));
        }
        Ok(Content::NotText)
    }

    /// Reads and deletes our selection property, following an INCR
    /// transfer. `None` when the owner stopped sending in the middle.
    fn read_property(&self) -> Result<Option<Vec<u8>>, InsertError> {
        let (window, property) = (self.window, self.atoms.EZFLOW_SELECTION);
        let get = || -> Result<_, InsertError> {
            let cookie = x11!(
                "reading the clipboard",
                self.conn
                    .get_property(true, window, property, AtomEnum::ANY, 0, u32::MAX / 4)
            )?;
            x11!("reading the clipboard", cookie.reply())
        };
        let reply = get()?;
        if reply.type_ != self.atoms.INCR {
            return Ok(Some(reply.value));
        }
        // INCR: deleting the property (done by the read above) asks for the
        // next chunk; an empty chunk ends the transfer.
        x11!("reading the clipboard", self.conn.flush())?;
        let mut data = Vec::new();
        loop {
            let chunk_ready = self.wait_event(OWNER_ANSWER_TIMEOUT, |event| match event {
                Event::PropertyNotify(p)
                    if p.window == window
                        && p.atom == property
                        && p.state == Property::NEW_VALUE =>
                {
                    Some(())
                }
                _ => None,
            })?;
            if chunk_ready.is_none() {
                return Ok(None);
            }
            let chunk = get()?;
            x11!("reading the clipboard", self.conn.flush())?;
            if chunk.value.is_empty() {
                return Ok(Some(data));
            }
            data.extend_from_slice(&chunk.value);
        }
    }

    /// Gives up the clipboard taken by `owner`, unless someone took it since.
    pub(crate) fn release(&self, owner: &Owner) -> Result<(), InsertError> {
        // With the owner's own timestamp the request does nothing if the
        // clipboard changed hands after we took it.
        x11!(
            "releasing the clipboard",
            self.conn
                .set_selection_owner(NONE, self.atoms.CLIPBOARD, owner.timestamp)
        )?;
        // Done when the server has handled it, so that whoever looks next
        // sees the clipboard empty.
        let cookie = x11!("releasing the clipboard", self.conn.get_input_focus())?;
        x11!("releasing the clipboard", cookie.reply())?;
        Ok(())
    }
}

/// What the clipboard held.
pub(crate) enum Content {
    /// Nobody owns it.
    Empty,
    Text(String),
    /// The owner has something, but not as text (an image, files, …).
    NotText,
    /// The owner did not answer in time.
    NoAnswer,
}

/// Our ownership of the CLIPBOARD, served by its own thread.
pub(crate) struct Owner {
    /// When we took the clipboard (server time).
    pub(crate) timestamp: u32,
    /// A message each time an application has fetched the text. Disconnected
    /// once the owner thread has ended (the clipboard changed hands).
    pub(crate) fetched: mpsc::Receiver<()>,
}

/// Takes the CLIPBOARD with `text` and starts the thread serving it.
pub(crate) fn own_clipboard(display: &str, text: String) -> Result<Owner, InsertError> {
    let client = Client::connect(display)?;
    let timestamp = client.server_time()?;
    let (window, clipboard) = (client.window, client.atoms.CLIPBOARD);
    x11!(
        "taking the clipboard",
        client
            .conn
            .set_selection_owner(window, clipboard, timestamp)
    )?;
    let owner = x11!(
        "taking the clipboard",
        client.conn.get_selection_owner(clipboard)
    )?;
    if x11!("taking the clipboard", owner.reply())?.owner != window {
        return Err(InsertError::X11 {
            doing: "taking the clipboard",
            detail: "another application took it at the same moment".to_owned(),
        });
    }
    let (fetched_tx, fetched) = mpsc::channel();
    let bytes = text.len();
    std::thread::Builder::new()
        .name("ezflow-clipboard".to_owned())
        .spawn(move || serve(&client, &text, timestamp, &fetched_tx))
        .map_err(InsertError::Thread)?;
    tracing::debug!(bytes, "took the clipboard");
    Ok(Owner { timestamp, fetched })
}

/// Answers requests for the clipboard until another owner takes it.
fn serve(client: &Client, text: &str, timestamp: u32, fetched: &mpsc::Sender<()>) {
    loop {
        match client.conn.wait_for_event() {
            Ok(Event::SelectionRequest(request))
                if request.owner == client.window
                    && request.selection == client.atoms.CLIPBOARD =>
            {
                match answer(client, &request, text, timestamp) {
                    Ok(true) => {
                        let _ = fetched.send(());
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!("answering a clipboard request failed: {e}");
                        return;
                    }
                }
            }
            Ok(Event::SelectionClear(clear))
                if clear.owner == client.window && clear.selection == client.atoms.CLIPBOARD =>
            {
                tracing::debug!("the clipboard changed hands; its owner thread ends");
                return;
            }
            // A requestor window that vanished before we wrote to it.
            Ok(Event::Error(e)) => tracing::debug!("X error while serving the clipboard: {e:?}"),
            Ok(_) => {}
            Err(e) => {
                tracing::debug!("the clipboard owner lost its X connection: {e}");
                return;
            }
        }
    }
}

/// Writes the requested form of `text` to the requestor's property and
/// notifies it. `Ok(true)` when the text itself was delivered.
fn answer(
    client: &Client,
    request: &SelectionRequestEvent,
    text: &str,
    timestamp: u32,
) -> Result<bool, ConnectionError> {
    let (conn, atoms) = (&client.conn, &client.atoms);
    // Obsolete clients leave the property None and mean the target's name.
    let property = if request.property == NONE {
        request.target
    } else {
        request.property
    };
    let target = request.target;
    let string: u32 = AtomEnum::STRING.into();
    let limit = conn.maximum_request_bytes().saturating_sub(64);
    let delivered = if target == atoms.TARGETS {
        let targets = [
            atoms.TARGETS,
            atoms.TIMESTAMP,
            atoms.UTF8_STRING,
            atoms.TEXT_PLAIN_UTF8,
            atoms.TEXT,
            string,
            atoms.TEXT_PLAIN,
        ];
        conn.change_property32(
            PropMode::REPLACE,
            request.requestor,
            property,
            AtomEnum::ATOM,
            &targets,
        )?;
        Some(false)
    } else if target == atoms.TIMESTAMP {
        conn.change_property32(
            PropMode::REPLACE,
            request.requestor,
            property,
            AtomEnum::INTEGER,
            &[timestamp],
        )?;
        Some(false)
    } else if [atoms.UTF8_STRING, atoms.TEXT_PLAIN_UTF8, atoms.TEXT].contains(&target) {
        let kind = if target == atoms.TEXT {
            atoms.UTF8_STRING
        } else {
            target
        };
        if text.len() > limit {
            tracing::warn!(
                bytes = text.len(),
                limit,
                "clipboard text too large to serve"
            );
            None
        } else {
            conn.change_property8(
                PropMode::REPLACE,
                request.requestor,
                property,
                kind,
                text.as_bytes(),
            )?;
            Some(true)
        }
    } else if target == string || target == atoms.TEXT_PLAIN {
        // STRING is Latin-1; other characters become '?'.
        let latin1: Vec<u8> = text
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect();
        if latin1.len() > limit {
            tracing::warn!(
                bytes = latin1.len(),
                limit,
                "clipboard text too large to serve"
            );
            None
        } else {
            conn.change_property8(
                PropMode::REPLACE,
                request.requestor,
                property,
                string,
                &latin1,
            )?;
            Some(true)
        }
    } else {
        None
    };
    let notify = SelectionNotifyEvent {
        response_type: SELECTION_NOTIFY_EVENT,
        sequence: 0,
        time: request.time,
        requestor: request.requestor,
        selection: request.selection,
        target,
        property: if delivered.is_some() { property } else { NONE },
    };
    conn.send_event(false, request.requestor, EventMask::NO_EVENT, notify)?;
    // A round trip: once the text counts as fetched the clipboard may change
    // hands and this connection close, and a server drops requests it had
    // not read from a closed connection.
    match conn.get_input_focus()?.reply() {
        Ok(_) => {}
        Err(ReplyError::ConnectionError(e)) => return Err(e),
        Err(ReplyError::X11Error(e)) => tracing::debug!("X error after a clipboard answer: {e:?}"),
    }
    Ok(delivered == Some(true))
}

/// The clipboard on X11.
pub(crate) struct X11Clipboard {
    client: Client,
}

impl X11Clipboard {
    pub(crate) fn connect(display: &str) -> Result<Self, InsertError> {
        Ok(X11Clipboard {
            client: Client::connect(display)?,
        })
    }
}

impl Clipboard for X11Clipboard {
    fn set_text(&self, text: &str) -> Result<(), InsertError> {
        own_clipboard(&self.client.display, text.to_owned()).map(|_| ())
    }

    fn text(&self) -> Result<Option<String>, InsertError> {
        let started = Instant::now();
        match self.client.read_clipboard()? {
            Content::Text(text) => Ok(Some(text)),
            Content::Empty | Content::NotText => Ok(None),
            Content::NoAnswer => Err(InsertError::ClipboardTimeout {
                waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }
}

/// How long the focused application has to fetch pasted text before the
/// previous clipboard is put back anyway.
const PASTE_FETCH_TIMEOUT: Duration = Duration::from_secs(2);

/// A paste through the CLIPBOARD: puts `text` on it, calls `press_paste`
/// (which sends Ctrl+V by whatever means), waits for the focused
/// application to fetch the text, then puts the previous clipboard back.
/// True when the previous content is back (see `Insertion`).
pub(crate) fn paste_via_clipboard(
    client: &Client,
    text: &str,
    press_paste: impl FnOnce() -> Result<(), InsertError>,
) -> Result<bool, InsertError> {
    let previous = client.read_clipboard()?;
    let owner = own_clipboard(&client.display, text.to_owned())?;
    if let Err(e) = press_paste() {
        restore_clipboard(client, previous, &owner);
        return Err(e);
    }
    match owner.fetched.recv_timeout(PASTE_FETCH_TIMEOUT) {
        Ok(()) => tracing::debug!("the focused application fetched the pasted text"),
        Err(mpsc::RecvTimeoutError::Timeout) => tracing::warn!(
            "the focused application did not ask for the pasted text within {} ms; \
             it may not paste on Ctrl+V",
            PASTE_FETCH_TIMEOUT.as_millis()
        ),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // Another application took the clipboard before the paste:
            // putting ours back would overwrite what it copied.
            tracing::warn!("the clipboard changed hands during the paste; not restoring it");
            return Ok(false);
        }
    }
    Ok(restore_clipboard(client, previous, &owner))
}

/// Puts the clipboard back as it was after a paste; true when that was
/// possible. `owner` is the paste's own ownership of the clipboard.
fn restore_clipboard(client: &Client, previous: Content, owner: &Owner) -> bool {
    let restored = match previous {
        Content::Text(text) => own_clipboard(&client.display, text).map(|_| ()),
        Content::Empty => client.release(owner),
        Content::NotText => {
            tracing::info!(
                "the clipboard held no text before the paste; the transcript stays on it"
            );
            return false;
        }
        Content::NoAnswer => {
            tracing::warn!(
                "the clipboard's owner did not answer before the paste; \
                 the transcript stays on the clipboard"
            );
            return false;
        }
    };
    match restored {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!("could not restore the clipboard: {e}");
            false
        }
    }
}
