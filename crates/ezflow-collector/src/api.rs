//! The HTTP surface: routes, the checks a request goes through, and the
//! status code of every answer. Refusals are JSON `{"error": "..."}` with one
//! line saying why.
//!
//! A 4xx tells the client to drop the batch (it can never succeed), so only
//! problems with the request itself get one; problems on this side (the
//! database failing, full, locked or stopped) are 503 with `Retry-After`,
//! and the client keeps the batch for later. 429 is the one 4xx that means
//! "later" and also carries `Retry-After`.
//!
//! Nothing about the client (address, headers) is logged or passed on: the
//! peer address goes to the rate limiter, which only keeps a keyed hash.

use std::error::Error as _;
use std::fmt::Display;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ezflow_telemetry_schema::{Batch, Hour, MAX_BODY_BYTES};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::dashboard;
use crate::rate_limit::{Decision, RateLimiter};
use crate::server::unix_now;
use crate::stats::{self, Stats};
use crate::store::worker::StoreHandle;
use crate::store::Inserted;

/// What a client is told to wait after a 503.
const RETRY_AFTER_UNAVAILABLE_SECS: u64 = 60;
/// How long `/health` waits for the database.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
/// Most bytes of a refused body read (and thrown away) so that the client
/// can finish sending and read the refusal.
const DRAIN_LIMIT: usize = 16 * MAX_BODY_BYTES;
/// Longest reason in an error body, in bytes.
const MAX_REASON: usize = 300;

/// What every request handler shares.
pub(crate) struct AppState {
    pub(crate) store: StoreHandle,
    pub(crate) limiter: RateLimiter,
    pub(crate) body_timeout: Duration,
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/events", post(post_events))
        .route("/v1/stats", get(get_stats))
        .route("/health", get(health))
        .route("/", get(get_dashboard))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// A refusal: `status` with `{"error": reason}`, the reason on one line.
fn refuse(status: StatusCode, reason: impl Display) -> Response {
    (
        status,
        Json(json!({ "error": one_line(&reason.to_string()) })),
    )
        .into_response()
}

/// A refusal the client should retry after `secs`.
fn refuse_retry(status: StatusCode, secs: u64, reason: impl Display) -> Response {
    let mut response = refuse(status, reason);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

fn unavailable(reason: impl Display) -> Response {
    refuse_retry(
        StatusCode::SERVICE_UNAVAILABLE,
        RETRY_AFTER_UNAVAILABLE_SECS,
        reason,
    )
}

/// Control characters (a newline in an unknown field's name...) become
/// spaces, and a long reason is cut, so a reason is one short line.
fn one_line(text: &str) -> String {
    let mut line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    line
}

/// The 200 body of `POST /v1/events`: `{"stored": 3}`, or
/// `{"stored": 0, "duplicate": true}` for a batch id already stored.
#[derive(Serialize)]
struct Accepted {
    stored: usize,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
}

/// `POST /v1/events`: one batch, checked in the order of the status codes
/// in `docs/collector.md`.
async fn post_events(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    mut body: Body,
) -> Response {
    let bytes = match read_batch_bytes(&state, peer, &headers, &mut body).await {
        Ok(bytes) => bytes,
        Err(refusal) => return finish_refusal(refusal, &headers, body, state.body_timeout).await,
    };

    let batch = match Json::<Batch>::from_bytes(&bytes) {
        Ok(Json(batch)) => batch,
        Err(rejection) => {
            let detail = rejection
                .source()
                .map_or_else(|| rejection.body_text(), |e| e.to_string());
            let what = match rejection {
                JsonRejection::JsonDataError(_) => "the body does not match the batch format",
                _ => "the body is not valid JSON",
            };
            return refuse(StatusCode::BAD_REQUEST, format!("{what}: {detail}"));
        }
    };

    if let Err(error) = batch.validate(unix_now()) {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, error);
    }

    match state.store.insert(batch, Hour::now()).await {
        Ok(Inserted::Stored(stored)) => {
            tracing::debug!(events = stored, "stored a batch");
            Json(Accepted {
                stored,
                duplicate: false,
            })
            .into_response()
        }
        Ok(Inserted::Duplicate) => {
            tracing::debug!("a batch was sent again; already stored");
            Json(Accepted {
                stored: 0,
                duplicate: true,
            })
            .into_response()
        }
        Err(error) => {
            tracing::error!(%error, "storing a batch failed; the client was told to retry");
            unavailable("the collector cannot store events right now; retry later")
        }
    }
}

/// The checks made before the body is read to its end (rate limit,
/// Content-Type, size, time), then the body.
async fn read_batch_bytes(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: &mut Body,
) -> Result<Vec<u8>, Response> {
    if let Decision::Limited { retry_after_secs } = state.limiter.check(peer.ip()) {
        return Err(refuse_retry(
            StatusCode::TOO_MANY_REQUESTS,
            retry_after_secs,
            format!("too many batches from this client; retry in {retry_after_secs} s"),
        ));
    }

    match headers.get(header::CONTENT_TYPE) {
        None => {
            return Err(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json; the request has none",
            ));
        }
        Some(value) if !is_json(value) => {
            return Err(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Type must be application/json, not {:?}",
                    String::from_utf8_lossy(value.as_bytes())
                ),
            ));
        }
        Some(_) => {}
    }

    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        )
    };
    if declared_length(headers).is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    // A body that is slow or broken is not worth draining.
    let closing = |mut refusal: Response| {
        refusal
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        refusal
    };
    match tokio::time::timeout(state.body_timeout, read_body(body)).await {
        Err(_) => Err(closing(refuse(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the body did not arrive within {} s",
                state.body_timeout.as_secs()
            ),
        ))),
        Ok(Err(BodyError::TooLarge)) => Err(too_large()),
        Ok(Err(BodyError::Read(reason))) => Err(closing(refuse(
            StatusCode::BAD_REQUEST,
            format!("could not read the body: {reason}"),
        ))),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

/// `application/json`, any case, parameters (`; charset=utf-8`) allowed.
fn is_json(value: &HeaderValue) -> bool {
    value.to_str().is_ok_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// Sends a refusal made before the request body was read to its end. What
/// is left of the body is read and thrown away first (up to [`DRAIN_LIMIT`]
/// bytes and the body timeout): a client that is still sending when the
/// server closes the connection gets a broken pipe instead of the refusal,
/// and would retry a batch it should drop. A body too large or too slow to
/// drain ends the connection, and the refusal says so with
/// `Connection: close`, as do refusals already marked that way.
async fn finish_refusal(
    mut refusal: Response,
    headers: &HeaderMap,
    mut body: Body,
    timeout: Duration,
) -> Response {
    if refusal.headers().contains_key(header::CONNECTION) {
        return refusal;
    }
    let drainable = declared_length(headers).is_none_or(|n| n <= DRAIN_LIMIT as u64);
    let drained = drainable
        && tokio::time::timeout(timeout, drain(&mut body))
            .await
            .unwrap_or(false);
    if !drained {
        refusal
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    refusal
}

/// Reads the rest of `body`; true if it ended within [`DRAIN_LIMIT`] bytes.
async fn drain(body: &mut Body) -> bool {
    let mut read = 0;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
        let Ok(frame) = frame else {
            return false;
        };
        if let Ok(data) = frame.into_data() {
            read += data.len();
            if read > DRAIN_LIMIT {
                return false;
            }
        }
    }
    true
}

enum BodyError {
    TooLarge,
    Read(String),
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Reads the body, giving up as soon as it passes [`MAX_BODY_BYTES`].
async fn read_body(body: &mut Body) -> Result<Vec<u8>, BodyError> {
    let mut bytes = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > MAX_BODY_BYTES {
                return Err(BodyError::TooLarge);
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

#[derive(Deserialize)]
struct StatsParams {
    days: Option<String>,
}

/// Parses `?days=` and asks the store, for both `/v1/stats` and `/`.
async fn compute_stats(
    state: &AppState,
    params: Result<Query<StatsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Stats, Response> {
    let days = match params {
        Ok(Query(params)) => stats::parse_days(params.days.as_deref()),
        Err(rejection) => Err(rejection.body_text()),
    }
    .map_err(|reason| refuse(StatusCode::BAD_REQUEST, reason))?;
    let since = stats::since(days, unix_now());
    match state.store.aggregates(since).await {
        Ok(aggregates) => Ok(Stats::new(days, since, aggregates)),
        Err(error) => {
            tracing::error!(%error, "computing statistics failed");
            Err(unavailable(
                "the collector cannot read its database right now",
            ))
        }
    }
}

/// `GET /v1/stats?days=N`.
async fn get_stats(
    State(state): State<Arc<AppState>>,
    params: Result<Query<StatsParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match compute_stats(&state, params).await {
        Ok(stats) => ([(header::CACHE_CONTROL, "no-store")], Json(stats)).into_response(),
        Err(response) => response,
    }
}

/// `GET /?days=N`: the dashboard.
async fn get_dashboard(
    State(state): State<Arc<AppState>>,
    params: Result<Query<StatsParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match compute_stats(&state, params).await {
        Ok(stats) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
                ),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            Html(dashboard::render(&stats)),
        )
            .into_response(),
        Err(response) => response,
    }
}

/// `GET /health`: `ok` when the database answers.
async fn health(State(state): State<Arc<AppState>>) -> Response {
    match tokio::time::timeout(HEALTH_TIMEOUT, state.store.check()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok").into_response(),
        Ok(Err(error)) => {
            tracing::error!(%error, "health check: the database does not answer");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer",
            )
        }
        Err(_) => {
            tracing::error!(
                "health check: the database did not answer within {} s",
                HEALTH_TIMEOUT.as_secs()
            );
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database did not answer in time",
            )
        }
    }
}

async fn not_found(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let refusal = refuse(StatusCode::NOT_FOUND, "no such endpoint");
    finish_refusal(refusal, &headers, body, state.body_timeout).await
}

async fn method_not_allowed(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let refusal = refuse(
        StatusCode::METHOD_NOT_ALLOWED,
        "this endpoint does not take that method",
    );
    finish_refusal(refusal, &headers, body, state.body_timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_one_short_line() {
        assert_eq!(one_line("a\nb\tc"), "a b c");
        let long = "é".repeat(400);
        let cut = one_line(&long);
        assert!(cut.len() <= MAX_REASON + '…'.len_utf8());
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn content_type_must_be_json() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
        ] {
            assert!(is_json(&HeaderValue::from_static(ok)), "{ok}");
        }
        for bad in ["text/plain", "application/jsonx", "application/x-json", ""] {
            assert!(!is_json(&HeaderValue::from_static(bad)), "{bad}");
        }
    }
}
