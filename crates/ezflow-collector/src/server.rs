//! [`RunningCollector`]: a collector started from blocking code. Owns the
//! order of starting (check the config, open the store, purge, listen, then
//! serve), the threads it runs on (one tokio runtime for HTTP, one thread
//! for the store), the hourly purge timer, and the order of stopping (stop
//! accepting, let requests in flight finish, then close the store).

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::error::CollectorError;
use crate::rate_limit::RateLimiter;
use crate::retention::Cutoffs;
use crate::store::sqlite::SqliteStore;
use crate::store::worker::{self, StoreHandle};
use crate::store::{EventStore, Purged, StoreError};

/// How often old events are purged while running.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(3600);

pub(crate) use ezflow_telemetry_schema::unix_now;

/// A collector serving on its own threads. Dropping it shuts it down too,
/// but only [`shutdown`](Self::shutdown) reports whether that went cleanly.
pub struct RunningCollector {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), CollectorError>>>,
    store: Option<JoinHandle<Result<(), StoreError>>>,
}

impl RunningCollector {
    /// Opens (or creates) the SQLite database at `config.database`, purges
    /// events older than the retention, binds `config.listen`, and returns
    /// once connections are being accepted. A database that cannot be used
    /// fails here with an error naming the file.
    pub fn start(config: Config) -> Result<RunningCollector, CollectorError> {
        config.validate()?;
        let store = SqliteStore::open(&config.database, config.database_busy_timeout)?;
        tracing::info!(database = %config.database.display(), "opened the event database");
        RunningCollector::start_with_store(config, Box::new(store))
    }

    /// [`start`](Self::start) with any [`EventStore`] instead of the SQLite
    /// file (`config.database` and `database_busy_timeout` are then unused).
    pub fn start_with_store(
        config: Config,
        mut store: Box<dyn EventStore>,
    ) -> Result<RunningCollector, CollectorError> {
        config.validate()?;
        let purged = store.purge(Cutoffs::at(unix_now(), config.retention_days))?;
        log_purge(purged, config.retention_days);

        let listener = std::net::TcpListener::bind(config.listen).map_err(|source| {
            CollectorError::Listen {
                addr: config.listen,
                source,
            }
        })?;
        let listen_error = |source| CollectorError::Listen {
            addr: config.listen,
            source,
        };
        listener.set_nonblocking(true).map_err(listen_error)?;
        let addr = listener.local_addr().map_err(listen_error)?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("ezflow-collector-http")
            .build()
            .map_err(|source| CollectorError::Spawn {
                what: "async runtime",
                source,
            })?;
        let (handle, store_thread) =
            worker::spawn(store).map_err(|source| CollectorError::Spawn {
                what: "store thread",
                source,
            })?;
        let state = Arc::new(AppState {
            store: handle.clone(),
            limiter: RateLimiter::new(config.rate_limit_per_minute, config.effective_burst()),
            body_timeout: config.body_timeout,
        });
        let (stop, stopped) = oneshot::channel();
        let (retention_days, grace) = (config.retention_days, config.shutdown_grace);
        let server = std::thread::Builder::new()
            .name("ezflow-collector-server".to_owned())
            .spawn(move || {
                runtime.block_on(serve(
                    listener,
                    state,
                    handle,
                    retention_days,
                    grace,
                    stopped,
                ))
            });
        let server = match server {
            Ok(server) => server,
            Err(source) => {
                // The closure, and with it every store handle, is gone: the
                // store thread finishes and closes the store.
                let _ = store_thread.join();
                return Err(CollectorError::Spawn {
                    what: "server thread",
                    source,
                });
            }
        };
        if config.rate_limit_per_minute == 0 {
            tracing::info!("rate limiting is off");
        }
        tracing::info!(%addr, "listening");
        Ok(RunningCollector {
            addr,
            stop: Some(stop),
            server: Some(server),
            store: Some(store_thread),
        })
    }

    /// The address the collector listens on (with the real port when
    /// `config.listen` had port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, lets requests in flight finish (up to
    /// `config.shutdown_grace`), then closes the store. Every batch answered
    /// 200 is in the database when this returns.
    pub fn shutdown(mut self) -> Result<(), CollectorError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), CollectorError> {
        if self.server.is_none() && self.store.is_none() {
            return Ok(()); // already stopped
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let server = match self.server.take().map(JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(error))) => Err(error),
            Some(Err(_)) => Err(CollectorError::Panicked("server")),
        };
        // Joined even when the server failed, so the store is always closed.
        let store = match self.store.take().map(JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(error))) => Err(CollectorError::Store(error)),
            Some(Err(_)) => Err(CollectorError::Panicked("store")),
        };
        server.and(store)?;
        tracing::info!("stopped; the event database is closed");
        Ok(())
    }
}

impl Drop for RunningCollector {
    fn drop(&mut self) {
        if let Err(error) = self.stop_and_join() {
            tracing::error!(%error, "the collector did not stop cleanly");
        }
    }
}

fn log_purge(purged: Purged, retention_days: u32) {
    if purged != Purged::default() {
        tracing::info!(
            events = purged.events,
            batch_ids = purged.batch_ids,
            retention_days,
            "purged old events and batch ids"
        );
    }
}

/// Serves until `stopped` fires (or its sender is dropped), then shuts down
/// gracefully.
async fn serve(
    listener: std::net::TcpListener,
    state: Arc<AppState>,
    store: StoreHandle,
    retention_days: u32,
    grace: Duration,
    stopped: oneshot::Receiver<()>,
) -> Result<(), CollectorError> {
    let listener = tokio::net::TcpListener::from_std(listener).map_err(CollectorError::Serve)?;
    let purger = tokio::spawn(purge_hourly(store, retention_days));
    let (drain, draining) = oneshot::channel::<()>();
    let app = api::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let mut server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = draining.await;
            })
            .await
    });
    let ended_early = tokio::select! {
        result = &mut server => Some(result),
        _ = stopped => None,
    };
    purger.abort();
    let result = match ended_early {
        Some(result) => result,
        None => {
            tracing::info!("shutting down: no new connections; finishing requests in flight");
            let _ = drain.send(());
            match tokio::time::timeout(grace, &mut server).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!(
                        "requests still running after {} s; cutting them off",
                        grace.as_secs()
                    );
                    server.abort();
                    return Ok(());
                }
            }
        }
    };
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(CollectorError::Serve(error)),
        Err(_) => Err(CollectorError::Panicked("server")),
    }
}

/// Purges once per [`PURGE_INTERVAL`]; the purge at start already ran.
async fn purge_hourly(store: StoreHandle, retention_days: u32) {
    let mut ticks = tokio::time::interval(PURGE_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate
    loop {
        ticks.tick().await;
        match store.purge(Cutoffs::at(unix_now(), retention_days)).await {
            Ok(purged) => log_purge(purged, retention_days),
            Err(error) => tracing::error!(%error, "the hourly purge failed; retrying in an hour"),
        }
    }
}
