//! The control server: claiming the socket (single instance, stale sockets,
//! permissions), accepting connections on one dedicated thread, checking
//! each peer's uid, and answering request lines on one thread per
//! connection through the app's handler.
//!
//! A `watch` request turns its connection into an event stream: the
//! connection's thread then only reads (to notice the close), and a writer
//! thread of its own blocks on the watcher's bounded queue (256 lines),
//! which [`EventPublisher::publish`] fills without ever waiting. A watcher
//! whose queue is full has fallen behind and is disconnected.
//!
//! Nothing here runs while no one talks to the socket: the accept thread
//! blocks in `accept(2)`, each connection thread in `read(2)` and each
//! watch writer on its queue. Shutdown wakes the accept thread by shutting
//! the listening socket down.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tracing::{debug, debug_span, error, info, info_span, warn};

use super::events::Event;
use super::protocol::{parse_request, read_line, LineRead, Request, Response, MAX_LINE_BYTES};
use super::sys::{self, AddrError};
use super::{lock_path, ControlError};

/// At most this many connections are served at once. One more waits up to
/// 2 s (`SLOT_WAIT`) for one of them to end (a client that has its answer and
/// closed frees its slot a moment later, when its thread sees the end of
/// the stream), then is answered with an error line and closed. The CLI
/// opens one connection per command and the settings window one; the cap
/// only stops a runaway client from starting threads without end.
pub const MAX_CONNECTIONS: usize = 16;
/// How long a connection beyond [`MAX_CONNECTIONS`] waits for a free slot.
const SLOT_WAIT: Duration = Duration::from_secs(2);

/// How many event lines may wait for one watcher before it counts as fallen
/// behind and is disconnected.
pub const WATCH_QUEUE: usize = 256;

/// Mode of the socket file: only its owner may connect.
const SOCKET_MODE: u32 = 0o600;
/// Mode of a socket directory this module creates.
const DIR_MODE: u32 = 0o700;
/// How long writing a refusal to a rejected peer may take.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long probing an existing socket file for a live server may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

type Handler = Arc<dyn Fn(Request) -> Response + Send + Sync>;

/// Whether a peer with uid `peer_uid` may talk to a server running as
/// `our_uid`: only the same user. Root gets no exception: a root process
/// that wants to drive a user's EZ Flow can switch to that user.
pub fn peer_allowed(peer_uid: u32, our_uid: u32) -> bool {
    peer_uid == our_uid
}

/// A bound, listening control socket that does not answer yet (see
/// [`ControlServer::serve`]). Holding it holds the single-instance lock;
/// dropping it removes the socket file and releases the lock.
pub struct ControlServer {
    listener: UnixListener,
    claim: Claim,
    publisher: EventPublisher,
}

/// Sends [`Event`]s to every `watch` connection of one server. Cheap to
/// clone, usable from any thread, and it never blocks: each watcher has a
/// bounded queue, and one that is full is disconnected (the client fell
/// behind; it can watch again and ask for the current state). Publishing
/// with no watchers costs a lock and nothing else.
#[derive(Clone, Default)]
pub struct EventPublisher {
    watchers: Arc<Mutex<Watchers>>,
}

#[derive(Default)]
struct Watchers {
    next_id: u64,
    open: HashMap<u64, Watcher>,
}

struct Watcher {
    queue: SyncSender<Arc<str>>,
    /// A handle on the connection, to disconnect it from outside.
    stream: UnixStream,
}

impl EventPublisher {
    /// Queues `event` for every watcher. Never waits.
    pub fn publish(&self, event: &Event) {
        let mut watchers = lock(&self.watchers);
        if watchers.open.is_empty() {
            return;
        }
        let line: Arc<str> = Arc::from(event.to_line());
        watchers.open.retain(
            |id, watcher| match watcher.queue.try_send(Arc::clone(&line)) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    warn!(
                        watcher = id,
                        "a watcher fell {WATCH_QUEUE} events behind; disconnecting it"
                    );
                    let _ = watcher.stream.shutdown(Shutdown::Both);
                    false
                }
                Err(TrySendError::Disconnected(_)) => false,
            },
        );
    }

    /// How many watchers are connected now.
    pub fn watchers(&self) -> usize {
        lock(&self.watchers).open.len()
    }

    fn register(&self, queue: SyncSender<Arc<str>>, stream: UnixStream) -> u64 {
        let mut watchers = lock(&self.watchers);
        let id = watchers.next_id;
        watchers.next_id += 1;
        watchers.open.insert(id, Watcher { queue, stream });
        id
    }

    /// Removes a watcher; its queue's sender goes with it, which ends its
    /// writer once the queue is drained.
    fn unregister(&self, id: u64) {
        lock(&self.watchers).open.remove(&id);
    }
}

/// A control server answering requests on its own threads. Stop it with
/// [`ServerHandle::shutdown`]; dropping it does the same.
pub struct ServerHandle {
    path: PathBuf,
    running: Option<Running>,
}

struct Running {
    listener: Arc<UnixListener>,
    accept: JoinHandle<()>,
    shared: Arc<Shared>,
    claim: Claim,
}

/// What the accept thread and the connection threads share.
struct Shared {
    path: PathBuf,
    publisher: EventPublisher,
    our_uid: u32,
    handler: Handler,
    stopping: AtomicBool,
    conns: Mutex<Conns>,
    /// Signalled when a connection ends (a slot is free) and at shutdown.
    conn_ended: Condvar,
}

#[derive(Default)]
struct Conns {
    next_id: u64,
    open: HashMap<u64, Conn>,
}

struct Conn {
    /// A second handle on the connection, to shut it down from outside.
    stream: UnixStream,
    thread: JoinHandle<()>,
}

/// Ownership of the socket path: the single-instance lock, and the identity
/// of the socket file we created so that we only ever remove our own.
struct Claim {
    socket: PathBuf,
    file_id: Option<(u64, u64)>,
    /// Closing this (after `drop` has removed the socket) releases the lock.
    /// The lock file itself is never deleted: deleting it would let one
    /// starting instance lock the old, unlinked file while another creates
    /// and locks a new one, and both would run.
    _lock: File,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let now = file_id(&self.socket);
        if now.is_some() && now == self.file_id {
            match fs::remove_file(&self.socket) {
                Ok(()) => debug!(path = %self.socket.display(), "removed the control socket"),
                Err(e) => warn!(path = %self.socket.display(), error = %e,
                    "cannot remove the control socket"),
            }
        } else if now.is_some() {
            warn!(path = %self.socket.display(),
                "the control socket file was replaced by someone else; leaving it");
        }
    }
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    fs::symlink_metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ControlServer {
    /// Claims `path` for this process and listens on it.
    ///
    /// - Creates the socket's directory with mode 0700 if it is missing (an
    ///   existing one is left as it is, with a warning if others can enter).
    /// - Takes an exclusive `flock` on the lock file beside the socket
    ///   ([`super::lock_path`]) for the server's lifetime: the lock decides
    ///   which of two starting instances runs; the loser gets
    ///   [`ControlError::AlreadyRunning`].
    /// - A socket file left by a crashed instance (nothing listens) is
    ///   removed and replaced, with a log line; if something does answer on
    ///   it (a server that does not take the lock), that is
    ///   [`ControlError::AlreadyRunning`] too. A path that is not a socket
    ///   is never removed ([`ControlError::NotASocket`]).
    /// - The socket file has mode 0600 before the socket accepts anything.
    pub fn bind(path: &Path) -> Result<ControlServer, ControlError> {
        let _span = info_span!("control_bind", path = %path.display()).entered();
        ensure_private_dir(path)?;

        let lock_file = lock_path(path);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(SOCKET_MODE)
            .open(&lock_file)
            .map_err(|source| ControlError::Lock {
                path: lock_file.clone(),
                source,
            })?;
        let locked = sys::try_lock_exclusive(&lock).map_err(|source| ControlError::Lock {
            path: lock_file.clone(),
            source,
        })?;
        if !locked {
            info!(lock = %lock_file.display(), "another instance holds the lock");
            return Err(ControlError::AlreadyRunning {
                path: path.to_owned(),
            });
        }

        clear_stale_socket(path)?;

        let listener = sys::bind_and_listen(path, SOCKET_MODE).map_err(|e| match e {
            AddrError::TooLong => ControlError::PathTooLong {
                path: path.to_owned(),
            },
            AddrError::Io(source) => ControlError::Bind {
                path: path.to_owned(),
                source,
            },
        })?;
        info!("control socket listening");
        Ok(ControlServer {
            listener,
            publisher: EventPublisher::default(),
            claim: Claim {
                socket: path.to_owned(),
                file_id: file_id(path),
                _lock: lock,
            },
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.claim.socket
    }

    /// The handle that sends events to this server's `watch` connections.
    pub fn publisher(&self) -> EventPublisher {
        self.publisher.clone()
    }

    /// Starts answering: one thread blocks in `accept`, and each accepted
    /// connection of the same user gets a thread that reads request lines
    /// and answers each with `handler`'s response, until the client closes.
    ///
    /// `handler` runs on the connection's thread, so a slow request (`stop`
    /// waiting for a transcription) delays only that connection. A panic in
    /// it is caught and answered with an error line. It must not call
    /// [`ServerHandle::shutdown`] on its own server (that would wait for
    /// itself).
    pub fn serve<F>(self, handler: F) -> Result<ServerHandle, ControlError>
    where
        F: Fn(Request) -> Response + Send + Sync + 'static,
    {
        let ControlServer {
            listener,
            claim,
            publisher,
        } = self;
        let listener = Arc::new(listener);
        let shared = Arc::new(Shared {
            path: claim.socket.clone(),
            publisher,
            our_uid: sys::effective_uid(),
            handler: Arc::new(handler),
            stopping: AtomicBool::new(false),
            conns: Mutex::new(Conns::default()),
            conn_ended: Condvar::new(),
        });
        let accept = thread::Builder::new()
            .name("ezflow-control".to_owned())
            .spawn({
                let listener = Arc::clone(&listener);
                let shared = Arc::clone(&shared);
                move || accept_loop(&listener, &shared)
            })
            .map_err(|source| ControlError::Spawn { source })?;
        Ok(ServerHandle {
            path: claim.socket.clone(),
            running: Some(Running {
                listener,
                accept,
                shared,
                claim,
            }),
        })
    }
}

impl ServerHandle {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The handle that sends events to this server's `watch` connections
    /// (one that does nothing once the server has stopped).
    pub fn publisher(&self) -> EventPublisher {
        self.running
            .as_ref()
            .map(|r| r.shared.publisher.clone())
            .unwrap_or_default()
    }

    /// Stops the server: no more connections are accepted, open ones are
    /// shut down (a request whose handler is running finishes first), every
    /// thread is joined, the socket file is removed and the lock released.
    /// When this returns, the handler is not running and will not be called
    /// again, and a new [`ControlServer::bind`] on the path succeeds.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        let Running {
            listener,
            accept,
            shared,
            claim,
        } = running;
        let _span = info_span!("control_shutdown", path = %self.path.display()).entered();
        shared.stopping.store(true, Ordering::SeqCst);
        // The accept thread may be waiting for a free slot rather than in
        // accept; taking the lock first makes sure it sees `stopping`.
        drop(lock(&shared.conns));
        shared.conn_ended.notify_all();
        if let Err(e) = sys::shutdown_listener(&listener) {
            // Where shutting a listening socket down does not wake accept,
            // one connection to ourselves does; the loop sees `stopping`.
            debug!(error = %e, "cannot shut the listener down; waking accept by connecting");
            let _ = sys::connect(&claim.socket, PROBE_TIMEOUT);
        }
        if accept.join().is_err() {
            error!("the control accept thread panicked");
        }
        // The accept thread is gone, so no connection is added after this.
        let open: Vec<Conn> = lock(&shared.conns).open.drain().map(|(_, c)| c).collect();
        if !open.is_empty() {
            debug!(count = open.len(), "closing open connections");
        }
        for conn in &open {
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
        for conn in open {
            if conn.thread.join().is_err() {
                error!("a control connection thread panicked");
            }
        }
        drop(listener);
        drop(claim);
        info!("control server stopped");
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Creates the socket's directory with mode 0700 if it is missing.
fn ensure_private_dir(socket: &Path) -> Result<(), ControlError> {
    let dir = match socket.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let dir_error = |source| ControlError::CreateDir {
        path: dir.to_owned(),
        source,
    };
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            if meta.mode() & 0o077 != 0 {
                warn!(dir = %dir.display(), mode = format!("{:o}", meta.mode() & 0o777),
                    "the control socket's directory is open to others; \
                     the socket itself is 0600 and peers are checked");
            }
            Ok(())
        }
        Ok(_) => Err(dir_error(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "it exists and is not a directory",
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dir)
                .map_err(dir_error)?;
            // The mode given above is filtered by the umask; set it outright.
            fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE)).map_err(dir_error)?;
            debug!(dir = %dir.display(), "created the control socket's directory");
            Ok(())
        }
        Err(e) => Err(dir_error(e)),
    }
}

/// Removes a socket file that no one listens on. Called with the lock held,
/// so no instance that takes the lock can be starting on it.
fn clear_stale_socket(path: &Path) -> Result<(), ControlError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ControlError::Bind {
                path: path.to_owned(),
                source,
            })
        }
    };
    if !meta.file_type().is_socket() {
        return Err(ControlError::NotASocket {
            path: path.to_owned(),
        });
    }
    match sys::connect(path, PROBE_TIMEOUT) {
        Ok(_probe) => {
            // We hold the lock, yet someone answers: a server that does not
            // use the lock (an older build, or its lock file was deleted).
            warn!("a server that does not hold the lock answers on the socket");
            Err(ControlError::AlreadyRunning {
                path: path.to_owned(),
            })
        }
        Err(AddrError::Io(e)) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
            fs::remove_file(path).map_err(|source| ControlError::Bind {
                path: path.to_owned(),
                source,
            })?;
            warn!("replaced a stale control socket (left by an instance that did not shut down)");
            Ok(())
        }
        Err(AddrError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(AddrError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
            // A full backlog: something is listening.
            Err(ControlError::AlreadyRunning {
                path: path.to_owned(),
            })
        }
        Err(AddrError::Io(source)) => Err(ControlError::Bind {
            path: path.to_owned(),
            source,
        }),
        Err(AddrError::TooLong) => Err(ControlError::PathTooLong {
            path: path.to_owned(),
        }),
    }
}

fn accept_loop(listener: &UnixListener, shared: &Arc<Shared>) {
    let _span =
        info_span!("control_server", path = %shared.path.display(), paced_by_user = true).entered();
    debug!("accepting connections");
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        match accepted {
            Ok((stream, _)) => admit(stream, shared),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::Interrupted | std::io::ErrorKind::ConnectionAborted
                ) => {}
            Err(e) => {
                // Out of descriptors or memory. Retrying at once would spin;
                // this pause happens only while accept keeps failing.
                error!(error = %e, "accept failed; retrying in 100 ms");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
    debug!("stopped accepting");
}

/// Checks a new connection's peer and the connection cap, then gives it a
/// thread. A refused peer gets one error line, then the connection closes.
fn admit(stream: UnixStream, shared: &Arc<Shared>) {
    let cred = match sys::peer_cred(&stream) {
        Ok(cred) => cred,
        Err(e) => {
            warn!(error = %e, "cannot read the peer's credentials; refusing it");
            refuse(&stream, "refused: cannot identify the connecting process");
            return;
        }
    };
    if !peer_allowed(cred.uid, shared.our_uid) {
        warn!(peer_uid = cred.uid, peer_pid = ?cred.pid, "refused a connection from another user");
        refuse(
            &stream,
            &format!(
                "refused: this EZ Flow belongs to uid {}, and uid {} may not control it",
                shared.our_uid, cred.uid
            ),
        );
        return;
    }
    let mut conns = lock(&shared.conns);
    let give_up = Instant::now() + SLOT_WAIT;
    while conns.open.len() >= MAX_CONNECTIONS {
        let left = give_up.saturating_duration_since(Instant::now());
        if left.is_zero() || shared.stopping.load(Ordering::SeqCst) {
            drop(conns);
            warn!(peer_pid = ?cred.pid, "refused a connection: {MAX_CONNECTIONS} already open");
            refuse(
                &stream,
                &format!("refused: too many connections ({MAX_CONNECTIONS} open); try again later"),
            );
            return;
        }
        conns = shared
            .conn_ended
            .wait_timeout(conns, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    let watch = match stream.try_clone() {
        Ok(watch) => watch,
        Err(e) => {
            drop(conns);
            warn!(error = %e, "cannot duplicate the connection; refusing it");
            refuse(&stream, "refused: the server is out of resources");
            return;
        }
    };
    let id = conns.next_id;
    conns.next_id += 1;
    let spawned = thread::Builder::new()
        .name(format!("ezflow-control-{id}"))
        .spawn({
            let shared = Arc::clone(shared);
            let pid = cred.pid;
            move || serve_connection(&stream, id, pid, &shared)
        });
    match spawned {
        // The thread's exit removes this entry; it waits for our lock, so
        // the entry is always in place first.
        Ok(thread) => {
            conns.open.insert(
                id,
                Conn {
                    stream: watch,
                    thread,
                },
            );
        }
        Err(e) => {
            drop(conns);
            error!(error = %e, "cannot start a connection thread; refusing the connection");
            refuse(&watch, "refused: the server cannot start a thread now");
        }
    }
}

fn refuse(mut stream: &UnixStream, message: &str) {
    let _ = stream.set_write_timeout(Some(REFUSAL_WRITE_TIMEOUT));
    let _ = stream.write_all(Response::error(message).to_line().as_bytes());
}

/// Removes its connection from the open set when the connection's thread
/// ends, however it ends.
struct Deregister<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Deregister<'_> {
    fn drop(&mut self) {
        lock(&self.shared.conns).open.remove(&self.id);
        self.shared.conn_ended.notify_all();
    }
}

/// Answers request lines until the client closes, sends an over-long line,
/// or the server shuts the connection down.
fn serve_connection(stream: &UnixStream, id: u64, pid: Option<i32>, shared: &Shared) {
    // How long a connection stays open is up to its client (a `watch` lasts
    // as long as the settings window): `paced_by_user` keeps the app's
    // slow-operation log from timing it.
    let _span = debug_span!("control_conn", id, pid, paced_by_user = true).entered();
    let _deregister = Deregister { shared, id };
    debug!("connected");
    let mut reader = BufReader::new(stream);
    let mut writer = stream;
    let mut line = Vec::new();
    loop {
        let read = match read_line(&mut reader, MAX_LINE_BYTES, &mut line) {
            Ok(read) => read,
            Err(e) => {
                debug!(error = %e, "read failed");
                break;
            }
        };
        let response = match read {
            LineRead::Eof => break,
            LineRead::TooLong => {
                // The rest of the line was not read, so the stream has no
                // reliable line boundary any more: answer, then close.
                warn!("request line over {MAX_LINE_BYTES} bytes; closing the connection");
                Response::error(format!(
                    "request line longer than {MAX_LINE_BYTES} bytes; closing the connection"
                ))
            }
            LineRead::Line | LineRead::LastLine => match parse_request(&line) {
                Ok(Request::Watch) => {
                    serve_watch(stream, reader, shared);
                    break;
                }
                Ok(request) => answer(request, shared),
                Err(message) => {
                    debug!(%message, "malformed request");
                    Response::error(message)
                }
            },
        };
        if let Err(e) = writer.write_all(response.to_line().as_bytes()) {
            debug!(error = %e, "write failed");
            break;
        }
        if matches!(read, LineRead::TooLong | LineRead::LastLine) {
            break;
        }
    }
    debug!("closed");
}

/// A `watch` connection: registers the watcher first (so no event between
/// the answer and the stream is lost), answers, then hands the writing to
/// a thread that drains the watcher's queue, and reads here until the
/// client closes (what it sends is ignored). Either end closing, the
/// server stopping or the publisher disconnecting a watcher that fell
/// behind ends both threads.
fn serve_watch(stream: &UnixStream, mut reader: BufReader<&UnixStream>, shared: &Shared) {
    let Ok(handle) = stream.try_clone() else {
        let _ = (&*stream).write_all(
            Response::error("refused: the server is out of resources")
                .to_line()
                .as_bytes(),
        );
        return;
    };
    let (queue, lines) = mpsc::sync_channel::<Arc<str>>(WATCH_QUEUE);
    let id = shared.publisher.register(queue, handle);
    let response = answer(Request::Watch, shared);
    let mut writer = stream;
    let answered = writer.write_all(response.to_line().as_bytes());
    if !response.is_ok() || answered.is_err() {
        shared.publisher.unregister(id);
        return;
    }
    debug!(watcher = id, "watching");
    let out = match stream.try_clone() {
        Ok(out) => out,
        Err(e) => {
            debug!(error = %e, "cannot duplicate the watch connection");
            shared.publisher.unregister(id);
            return;
        }
    };
    let writer_thread = thread::Builder::new()
        .name(format!("ezflow-watch-{id}"))
        .spawn(move || {
            let mut out = out;
            for line in lines {
                if let Err(e) = out.write_all(line.as_bytes()) {
                    debug!(error = %e, "watch write failed");
                    break;
                }
            }
            // Unregistered (the client closed, or fell behind) or the write
            // failed: make sure the reading side ends too.
            let _ = out.shutdown(Shutdown::Both);
        });
    let writer_thread = match writer_thread {
        Ok(thread) => thread,
        Err(e) => {
            error!(error = %e, "cannot start a watch writer thread");
            shared.publisher.unregister(id);
            return;
        }
    };
    // Whatever the client sends now is read only to notice the close.
    let mut sink = [0u8; 1024];
    loop {
        match reader.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    shared.publisher.unregister(id);
    if writer_thread.join().is_err() {
        error!("a watch writer thread panicked");
    }
    debug!(watcher = id, "stopped watching");
}

fn answer(request: Request, shared: &Shared) -> Response {
    let _span = info_span!("control_request", cmd = request.name()).entered();
    let name = request.name();
    match catch_unwind(AssertUnwindSafe(|| (shared.handler)(request))) {
        Ok(response) => {
            debug!(ok = response.is_ok(), "answered");
            response
        }
        Err(_) => {
            error!("the control handler panicked");
            Response::error(format!(
                "internal error: EZ Flow failed while handling \"{name}\""
            ))
        }
    }
}
