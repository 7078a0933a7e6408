//! The one thread that talks to the [`EventStore`]. Store calls block
//! (SQLite does file I/O and fsync), so the async side never makes them:
//! it sends a [`Command`] over a channel and awaits the reply. Commands run
//! in arrival order, one at a time. When every [`StoreHandle`] is gone the
//! thread finishes the commands already queued, then closes the store;
//! joining the thread returns how that went.

use std::thread::JoinHandle;

use ezflow_telemetry_schema::{Batch, Hour};
use tokio::sync::{mpsc, oneshot};

use super::{EventStore, Inserted, Purged, StoreError};
use crate::retention::Cutoffs;
use crate::stats::Aggregates;

/// Commands waiting for the store beyond this make senders wait their turn.
const QUEUE: usize = 256;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Command {
    Insert {
        batch: Batch,
        received: Hour,
        reply: Reply<Inserted>,
    },
    Aggregates {
        since: Hour,
        reply: Reply<Aggregates>,
    },
    Purge {
        cutoffs: Cutoffs,
        reply: Reply<Purged>,
    },
    Check {
        reply: Reply<()>,
    },
}

/// The async side's way to reach the store; cheap to clone.
#[derive(Clone)]
pub(crate) struct StoreHandle {
    commands: mpsc::Sender<Command>,
}

/// Starts the store thread. Its result is the store's `close`.
pub(crate) fn spawn(
    store: Box<dyn EventStore>,
) -> std::io::Result<(StoreHandle, JoinHandle<Result<(), StoreError>>)> {
    let (commands, receiver) = mpsc::channel(QUEUE);
    let thread = std::thread::Builder::new()
        .name("ezflow-collector-store".to_owned())
        .spawn(move || run(store, receiver))?;
    Ok((StoreHandle { commands }, thread))
}

fn run(
    mut store: Box<dyn EventStore>,
    mut commands: mpsc::Receiver<Command>,
) -> Result<(), StoreError> {
    while let Some(command) = commands.blocking_recv() {
        // A reply nobody waits for any more (the client hung up) is fine to
        // drop: the work is done either way.
        match command {
            Command::Insert {
                batch,
                received,
                reply,
            } => {
                let _ = reply.send(store.insert_batch(&batch, received));
            }
            Command::Aggregates { since, reply } => {
                let _ = reply.send(store.aggregates(since));
            }
            Command::Purge { cutoffs, reply } => {
                let _ = reply.send(store.purge(cutoffs));
            }
            Command::Check { reply } => {
                let _ = reply.send(store.check());
            }
        }
    }
    store.close()
}

impl StoreHandle {
    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| StoreError::Stopped)?;
        answer.await.map_err(|_| StoreError::Stopped)?
    }

    pub(crate) async fn insert(
        &self,
        batch: Batch,
        received: Hour,
    ) -> Result<Inserted, StoreError> {
        self.call(|reply| Command::Insert {
            batch,
            received,
            reply,
        })
        .await
    }

    pub(crate) async fn aggregates(&self, since: Hour) -> Result<Aggregates, StoreError> {
        self.call(|reply| Command::Aggregates { since, reply })
            .await
    }

    pub(crate) async fn purge(&self, cutoffs: Cutoffs) -> Result<Purged, StoreError> {
        self.call(|reply| Command::Purge { cutoffs, reply }).await
    }

    pub(crate) async fn check(&self) -> Result<(), StoreError> {
        self.call(|reply| Command::Check { reply }).await
    }
}
