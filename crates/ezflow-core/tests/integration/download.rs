//! The downloader against real HTTP servers on loopback: a tiny_http server
//! that honours, ignores or botches byte ranges, answers errors or stalls,
//! and a raw socket server that cuts the connection mid-body (tiny_http
//! keeps a connection open after a short body, so it cannot cut one).
//! Every file is generated pseudo-random data whose SHA-256 the test
//! computes itself.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ezflow_core::download::{
    self, download, DownloadError, DownloadRequest, Progress, ProgressPhase,
};
use ezflow_testbed::http::{header, Incoming, LoopbackServer, SeenRequest};
use ezflow_testbed::payload::{payload, sha256_hex};

const MIB: usize = 1024 * 1024;

fn range_start(range: Option<&str>) -> Option<u64> {
    range?
        .strip_prefix("bytes=")?
        .strip_suffix('-')?
        .parse()
        .ok()
}

/// How the tiny_http server answers one request.
#[derive(Debug, Clone, Copy)]
enum Reply {
    /// 200 for the whole file, 206 for `Range: bytes=N-`, 416 past the end.
    Honour,
    /// 200 with the whole file whatever the Range says.
    IgnoreRange,
    /// 206 that starts at byte 0 whatever was asked.
    WrongRange,
    /// The whole file with chunked transfer encoding (no Content-Length).
    Chunked,
    /// Headers for the whole file, this many bytes, then silence.
    StallAfter(usize),
    /// An empty response with this status.
    Status(u16),
}

/// The tiny_http server: serves `data` at every path; the n-th request gets
/// `plan[n]`, later ones `Reply::Honour`.
fn start_server(data: Arc<Vec<u8>>, plan: Vec<Reply>) -> LoopbackServer {
    LoopbackServer::start(move |incoming| {
        let reply = plan.get(incoming.index).copied().unwrap_or(Reply::Honour);
        respond(incoming, reply, &data)
    })
}

fn respond(incoming: Incoming, reply: Reply, data: &[u8]) {
    let Incoming {
        request,
        seen,
        stop,
        ..
    } = incoming;
    let range = seen.range.as_deref();
    let len = data.len();
    let full = || {
        tiny_http::Response::from_data(data.to_vec())
            .with_header(header("Content-Type", "application/octet-stream"))
            .with_chunked_threshold(usize::MAX)
    };
    let result = match reply {
        Reply::Honour => match range_start(range).map(|s| s as usize) {
            None => request.respond(full()),
            Some(start) if start >= len => request.respond(
                tiny_http::Response::empty(416)
                    .with_header(header("Content-Range", &format!("bytes */{len}"))),
            ),
            Some(start) => request.respond(
                tiny_http::Response::from_data(data[start..].to_vec())
                    .with_status_code(206)
                    .with_header(header(
                        "Content-Range",
                        &format!("bytes {start}-{}/{len}", len - 1),
                    ))
                    .with_chunked_threshold(usize::MAX),
            ),
        },
        Reply::IgnoreRange => request.respond(full()),
        Reply::WrongRange => request.respond(
            tiny_http::Response::from_data(data.to_vec())
                .with_status_code(206)
                .with_header(header(
                    "Content-Range",
                    &format!("bytes 0-{}/{len}", len - 1),
                ))
                .with_chunked_threshold(usize::MAX),
        ),
        Reply::Chunked => request.respond(tiny_http::Response::from_data(data.to_vec())),
        Reply::Status(code) => request.respond(tiny_http::Response::empty(code)),
        Reply::StallAfter(sent) => {
            let mut writer = request.into_writer();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nContent-Type: application/octet-stream\r\n\r\n"
            );
            let _ = writer.write_all(head.as_bytes());
            let _ = writer.write_all(&data[..sent]);
            let _ = writer.flush();
            // Far longer than the client's stall timeout, but bounded.
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until && !stop.is_set() {
                thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        }
    };
    let _ = result;
}

/// A raw HTTP/1.1 server whose first response announces the whole file,
/// sends `cut_at` bytes and closes the connection; later requests are
/// answered properly (206 for a Range). One connection per request.
struct CutServer {
    base_url: String,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CutServer {
    fn start(data: Arc<Vec<u8>>, cut_at: usize) -> CutServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(30);
                let mut served = 0;
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    let stream = match listener.accept() {
                        Ok((s, _)) => s,
                        Err(_) => {
                            thread::sleep(Duration::from_millis(10));
                            continue;
                        }
                    };
                    let first = served == 0;
                    served += 1;
                    let _ = serve_raw(stream, &data, first.then_some(cut_at), &seen);
                }
            })
        };
        CutServer {
            base_url: format!("http://127.0.0.1:{port}"),
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, file: &str) -> String {
        format!("{}/{file}", self.base_url)
    }

    fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().expect("seen lock").clone()
    }
}

impl Drop for CutServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_raw(
    stream: TcpStream,
    data: &[u8],
    cut_at: Option<usize>,
    seen: &Mutex<Vec<SeenRequest>>,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut request_words = request_line.split_whitespace();
    let method = request_words.next().unwrap_or_default().to_string();
    let path = request_words.next().unwrap_or_default().to_string();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_string());
            }
        }
    }
    seen.lock().expect("seen lock").push(SeenRequest {
        method,
        path,
        range: range.clone(),
        body: String::new(),
    });
    let mut out = stream;
    let len = data.len();
    match (cut_at, range_start(range.as_deref()).map(|s| s as usize)) {
        (Some(cut), _) => {
            write!(out, "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n")?;
            out.write_all(&data[..cut])?;
            out.flush()?;
        }
        (None, Some(start)) if start < len => {
            write!(
                out,
                "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{len}\r\nConnection: close\r\n\r\n",
                len - start,
                len - 1
            )?;
            out.write_all(&data[start..])?;
        }
        (None, _) => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
            )?;
            out.write_all(data)?;
        }
    }
    out.flush()?;
    out.shutdown(Shutdown::Both)
}

struct Collected(Vec<Progress>);

impl Collected {
    fn downloading(&self) -> Vec<&Progress> {
        self.0
            .iter()
            .filter(|p| p.phase == ProgressPhase::Downloading)
            .collect()
    }
}

fn run(
    request: &DownloadRequest<'_>,
) -> (Result<download::DownloadOutcome, DownloadError>, Collected) {
    let mut reports = Vec::new();
    let result = download(request, &mut |p: &Progress| reports.push(p.clone()));
    (result, Collected(reports))
}

fn partial_of(dest: &Path) -> PathBuf {
    download::partial_path(dest)
}

fn file_len(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

#[test]
fn happy_path_installs_the_verified_file_and_reports_progress_to_the_total() {
    let data = Arc::new(payload(3 * MIB + 123, 1));
    let hash = sha256_hex(&data);
    let server = start_server(data.clone(), vec![]);
    let dir = tempfile::tempdir().expect("temp dir");
    let dest = dir.path().join("models").join("ggml-test.bin");

    let request = DownloadRequest::new(server.url("ggml-test.bin"), &dest)
        .expected_size(data.len() as u64)
        .expected_sha256(hash.clone());
    let (result, progress) = run(&request);
    let outcome = result.expect("download succeeds");

    assert_eq!(std::fs::read(&dest).expect("installed file"), *data);
    assert_eq!(outcome.path, dest);
    assert_eq!(outcome.sha256, hash);
    assert_eq!(outcome.size_bytes, data.len() as u64);
    assert!(outcome.checksum_verified);
    assert_eq!(outcome.resumed_from, 0);
    assert!(!partial_of(&dest).exists(), "no partial left behind");

    let reports = progress.downloading();
    assert!(!reports.is_empty());
    for pair in reports.windows(2) {
        assert!(
            pair[0].bytes_done <= pair[1].bytes_done,
            "progress went backwards: {pair:?}"
        );
    }
    let last = reports.last().expect("a final report");
    assert_eq!(last.bytes_done, data.len() as u64);
    assert!(reports.iter().all(|p| p.total == Some(data.len() as u64)));

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/ggml-test.bin");
    assert_eq!(seen[0].range, None);
}

#[test]
fn a_cut_connection_keeps_the_partial_and_the_next_call_resumes_with_range() {
    let data = Arc::new(payload(4 * MIB, 2));
    let hash = sha256_hex(&data);
    let cut_at = 2 * MIB + 4321;
    let server = CutServer::start(data.clone(), cut_at);
    let dir = tempfile::tempdir().expect("temp dir");
    let dest = dir.path().join("ggml-cut.bin");
    let request = DownloadRequest::new(server.url("ggml-cut.bin"), &dest)
        .expected_size(data.len() as u64)
        .expected_sha256(hash.clone());

    let (first, _) = run(&request);
    match first {
        Err(ref e @ DownloadError::Interrupted { bytes_done, .. }) => {
            assert_eq!(bytes_done, cut_at as u64);
            let message = e.to_string();
            assert!(message.contains("127.0.0.1"), "{message}");
            assert!(message.contains("resume"), "{message}");
        }
        other => panic!("expected an interrupted download, got {other:?}"),
    }
    assert!(!dest.exists(), "nothing installed after a cut");
    assert_eq!(file_len(&partial_of(&dest)), Some(cut_at as u64));

    let (second, progress) = run(&request);
    let outcome = second.expect("the resumed download succeeds");
    assert_eq!(outcome.resumed_from, cut_at as u64);
    assert_eq!(outcome.sha256, hash);
    assert_eq!(std::fs::read(&dest).expect("installed file"), *data);
    assert!(!partial_of(&dest).exists());

    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].range, None);
    assert_eq!(
        seen[1].range.as_deref(),
        Some(format!("bytes={cut_at}-").as_str())
    );
    let reports = progress.downloading();
    assert_eq!(reports.first().map(|p| p.bytes_done), Some(cut_at as u64));
    assert_eq!(
        reports.last().map(|p| p.bytes_done),
        Some(data.len() as u64)
    );
}

#[test]
fn a_server_that_ignores_range_gets_a_fresh_download() {
    let data = Arc::new(payload(2 * MIB, 3));
    let hash = sha256_hex(&data);
    let server = start_server(data.clone(), vec![Reply::IgnoreRange]);
    let dir = tempfile::tempdir().expect("temp dir");
    let dest = dir.path().join("ggml-ignore.bin");
    // Garbage in the partial proves it is discarded rather than reused.
    std::fs::write(partial_of(&dest), vec![0xAA; MIB]).expect("write partial");

    let request = DownloadRequest::new(server.url("ggml-ignore.bin"), &dest)
        .expected_size(data.len() as u64)
        .expected_sha256(hash.clone());
    let (result, progress) = run(&request);
    let outcome = result.expect("download succeeds");

    assert_eq!(outcome.resumed_from, 0);
    assert_eq!(std::fs::read(&dest).expect("installed file"), *data);
    assert_eq!(
        server.seen()[0].range.as_deref(),
        Some(format!("bytes={MIB}-").as_str())
    );
    let reports = progress.downloading();
    assert_eq!(reports.first().map(|p| p.bytes_done), Some(0));
    for pair in reports.windows(2) {
        assert!(pair[0].bytes_done <= pair[1].bytes_done);
    }
}

#[test]
fn a_content_range_that_starts_elsewhere_restarts_from_zero() {
    let data = Arc::new(payload(MIB + 17, 4));
    let hash = sha256_hex(&data);
    let server = start_server(data.clone(), vec![Reply::WrongRange]);
    let dir = tempfile::tempdir().expect("temp dir");
    let dest = dir.path().join("ggml-range.bin");
    std::fs::write(partial_of(&dest), &data[..1000]).expect("write partial");

    let request = DownloadRequest::new(server.url("ggml-range.bin"), &dest)
        .expected_size(data.len() as u64)
        .expected_sha256(hash);
    let (result, _) = run(&request);
    result.expect("download succeeds after restarting");

    assert_eq!(std::fs::read(&dest).expect("installed file"), *data);
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].range.as_deref(), Some("bytes=1000-"));
    assert_eq!(seen[1].range, None, "the restart asks for the whole file");
}

#[test]
fn a_complete_partial_of_unknown_size_is_confirmed_by_http_416() {
    let data = Arc::new(payload(MIB, 5));
    let hash = sha256_hex(&data);
    let server = start_server(data.clone(), vec![]);
    let dir = tempfile::tempdir().expect("temp dir");
    let dest = dir.path().join("ggml-done.bin");
    std::fs::write(partial_of(&dest), &*data).expect("write partial");

    // No expected size: only the server can say the partial is complete.
    let request = DownloadRequest::new(server.url("ggml-done.bin"), &dest).expected_sha256(hash);
    let (result, _) = run(&request);
    let outcome = result.expect("the partial is verified and installed");

    assert_eq!(outcome.resumed_from, data.len() as u64);
    assert_eq!(std::fs::read(&dest).expect("installed file"), *data);
    assert_eq!(
        server.seen()[0].range.as_deref(),
        Some(format!("bytes={}-", data.len()).as_str())
    );
}

#[test]
fn a_complete_partial_of_known_size_is_installed_without_a_request() {
    let data = Arc::new(payload(MIB / 2, 6));
    let server = start_server(data.clone(), vec![Reply::Status(500)]);
    let dir = tempfile::tempdir().expect("temp dir");
    let dest = dir.path().join("ggml-known.bin");
    std::fs::write(partial_of(&dest), &*data).expect("write partial");

    let request = DownloadRequest::new(server.url("ggml-known.bin"), &dest)
        .expected_size(data.len() as u64)
        .expected_sha256(sha256_hex(&data));
    let (result, _) = run(&request);
    result.expect("installed from the partial");

    assert_eq!(std::fs::read(&dest).expect("installed file"), *data);
    assert!(server.seen().is_empty());
}

#[test]
fn http_404_is_reported_and_leaves_nothing_behind() {
    let data = Arc::new(payload(1000, 7));
    let server = start_server(data, vec![Reply::Status(404)]);
    let dir = tempfile::tempdir().expect("temp dir");
    let dest = dir.path().join("ggml-missing.bin");
    let url = server.url("ggml-missing.bin");

    let (result, _) = run(&DownloadRequest::new(url.clone(), &dest).expected_size(1000));
    let error = result.expect_err("404 fails");
    assert!(matches!(error, DownloadError::NotFound { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("model file not found at {url} (HTTP 404)")
    );
    assert!(!dest.exists());
    assert!(!partial_of(&dest).exists());
}

#[test]
fn other_http_errors_name_the_status() {
    let data = Arc::new(payload(1000, 8));
    let server = start_server(data, vec![Reply::Status(503)]);
    let dir = tempfile::tempdir().expect("temp dir");
    let dest = dir.path().join("ggml-busy.bin");

    let (result, _) = run(&DownloadRequest::new(server.url("ggml-busy.bin"), &dest));
    let error = result.expect_err("503 fails");
    assert!(
        matches!(error, DownloadError::HttpStatus { status: 503, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("HTTP 503"), "{error}");
    assert!(!dest.exists());
    assert!(!partial_of(&dest).exists());
}

#[test]
fn a_wrong_checksum_installs_nothing_and_deletes_the_partial() {
    let data = Arc::new(payload(MIB + 1, 9));
    let actual = sha256_hex(&data);
    let expected = sha256_hex(b"some other file");
    let server = start_server(data.clone(), vec![]);
    let dir = tempfile::tempdir().expect("temp dir");
    let dest = dir.path().join("ggml-corrupt.bin");

    let request = DownloadRequest::new(server.url("ggml-corrupt.bin"), &dest)
        .expected_size(data.len() as u64)
        .expected_sha256(expected.clone());
    let (result, _) = run(&request);
    let error = result.expect_err("checksum mismatch fails");
    match &error {
        DownloadError::ChecksumMismatch {
            expected: e,
            actual: a,
            ..
        } => {
            assert_eq!(e, &expected);
            assert_eq!(a, &actual);
        }
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains(&expected) && message.contains(&actual),
        "{message}"
    );
    assert!(!dest.exists());
    assert!(!partial_of(&dest).exists());
}

#[test]
fn a_size_the_server_contradicts_fails_before_the_body() {
    let data = Arc::new(payload(MIB, 10));
    let server = start_server(data.clone(), vec![]);
    let dir = tempfile::tempdir().expect("temp dir");
    let dest = dir.path().join("ggml-size.bin");

    let request = DownloadRequest::new(server.url("ggml-size.bin"), &dest)
        .expected_size(data.len() as u64 + 1)
        .expected_sha256(sha256_hex(&data));
    let (result, progress) = run(&request);
    let error = result.expect_err("size mismatch fails");
    assert!(
        matches!(error, DownloadError::SizeMismatch { expected, actual, .. }
            if expected == data.len() as u64 + 1 && actual == data.len() as u64),
        "{error:?}"
    );
    assert!(progress.downloading().is_empty(), "no body was received");
    assert!(!dest.exists());
    assert!(!partial_of(&dest).exists());
}

#[test]
fn a_stalled_server_errors_keeps_the_partial_and_a_retry_resumes() {
    let data = Arc::new(payload(2 * MIB, 11));
    let hash = sha256_hex(&data);
    let sent = 256 * 1024;
    let server = start_server(data.clone(), vec![Reply::StallAfter(sent)]);
    let dir = tempfile::tempdir().expect("temp dir");
    let dest = dir.path().join("ggml-stall.bin");
    let request = DownloadRequest::new(server.url("ggml-stall.bin"), &dest)
        .expected_size(data.len() as u64)
        .expected_sha256(hash.clone())
        .stall_timeout(Duration::from_millis(300));

    let (first, _) = run(&request);
    let error = first.expect_err("the stall is detected");
    match &error {
        DownloadError::Stalled { bytes_done, .. } => assert_eq!(*bytes_done, sent as u64),
        other => panic!("expected a stall, got {other:?}"),
    }
    assert!(error.to_string().contains("stalled"), "{error}");
    assert!(!dest.exists());
    assert_eq!(file_len(&partial_of(&dest)), Some(sent as u64));

    let (second, _) = run(&request);
    let outcome = second.expect("the retry resumes and completes");
    assert_eq!(outcome.resumed_from, sent as u64);
    assert_eq!(outcome.sha256, hash);
    assert_eq!(
        server.seen()[1].range.as_deref(),
        Some(format!("bytes={sent}-").as_str())
    );
}

#[test]
fn the_free_space_check_fails_before_any_request() {
    let data = Arc::new(payload(1000, 12));
    let server = start_server(data, vec![]);
    let dir = tempfile::tempdir().expect("temp dir");
    let dest = dir.path().join("ggml-huge.bin");
    let petabyte = 1_000_000_000_000_000;

    let (result, _) =
        run(&DownloadRequest::new(server.url("ggml-huge.bin"), &dest).expected_size(petabyte));
    let error = result.expect_err("a petabyte does not fit");
    match &error {
        DownloadError::InsufficientSpace {
            needed, available, ..
        } => {
            assert!(*needed >= petabyte);
            assert!(available < needed);
        }
        other => panic!("expected insufficient space, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("TiB"),
        "both sizes in human units: {message}"
    );
    assert!(server.seen().is_empty(), "no request was made");
    assert!(!dest.exists());
    assert!(!partial_of(&dest).exists());
}

#[test]
fn a_refused_connection_names_the_host() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let dest = dir.path().join("ggml-refused.bin");

    let (result, _) = run(&DownloadRequest::new(
        format!("http://127.0.0.1:{port}/ggml-refused.bin"),
        &dest,
    ));
    let error = result.expect_err("nothing listens there");
    assert!(matches!(error, DownloadError::Connect { .. }), "{error:?}");
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{port}")),
        "{error}"
    );
    assert!(!dest.exists());
    assert!(!partial_of(&dest).exists());
}

#[test]
fn an_unknown_length_download_is_verified_by_hash() {
    let data = Arc::new(payload(MIB + 999, 13));
    let hash = sha256_hex(&data);
    let server = start_server(data.clone(), vec![Reply::Chunked]);
    let dir = tempfile::tempdir().expect("temp dir");
    let dest = dir.path().join("ggml-chunked.bin");

    let (result, progress) =
        run(&DownloadRequest::new(server.url("ggml-chunked.bin"), &dest).expected_sha256(hash));
    result.expect("chunked download succeeds");
    assert_eq!(std::fs::read(&dest).expect("installed file"), *data);
    assert!(progress.downloading().iter().all(|p| p.total.is_none()));
}

#[test]
fn cancelling_keeps_the_partial_and_a_later_call_finishes() {
    let data = Arc::new(payload(MIB, 14));
    let hash = sha256_hex(&data);
    let server = start_server(data.clone(), vec![]);
    let dir = tempfile::tempdir().expect("temp dir");
    let dest = dir.path().join("ggml-cancel.bin");
    let cancel = AtomicBool::new(true);

    let request = DownloadRequest::new(server.url("ggml-cancel.bin"), &dest)
        .expected_size(data.len() as u64)
        .expected_sha256(hash)
        .cancel(&cancel);
    let (first, _) = run(&request);
    assert!(
        matches!(first, Err(DownloadError::Cancelled { .. })),
        "{first:?}"
    );
    assert!(!dest.exists());
    assert!(
        partial_of(&dest).exists(),
        "the partial is kept for a resume"
    );

    cancel.store(false, Ordering::SeqCst);
    let (second, _) = run(&request);
    second.expect("the download finishes once no longer cancelled");
    assert_eq!(std::fs::read(&dest).expect("installed file"), *data);
}
