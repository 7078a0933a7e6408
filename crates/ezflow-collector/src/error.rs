//! [`CollectorError`]: why a collector could not start, or did not stop
//! cleanly. Request-level failures never surface here; they are HTTP answers
//! (see `api`).

use std::net::SocketAddr;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Opening, checking, purging or closing the database failed; the
    /// message names the file.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the collector's {what}: {source}")]
    Spawn {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("the HTTP server stopped with an error: {0}")]
    Serve(std::io::Error),
    #[error("the collector's {0} thread panicked")]
    Panicked(&'static str),
}
