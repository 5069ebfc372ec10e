//! Group commit on a thread of its own: writes that arrive while a commit
//! is on its way to disk go to disk together in the next one.
//!
//! With `synchronous=FULL` every commit costs an fsync of the write-ahead
//! log, so one transaction per write would cap the store at the disk's fsync
//! rate. The writer thread owns the writing connection. It sleeps until a
//! write arrives and takes every write queued by then. It applies them in one
//! immediate transaction, commits once, and sends each caller the outcome of
//! its own write. No caller gets an outcome before the commit that contains
//! its write is durable.
//!
//! When the batched transaction fails as a whole (an I/O error, a database
//! that another process keeps locked), it is rolled back. Each write is then
//! applied in a transaction of its own, so every caller gets the error of its
//! own write.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::live::LiveRecords;
use crate::metrics;
use crate::state::{StateError, Write, WriteStats, WriteTicket};

/// Maximum number of writes in one transaction, so that one commit's latency
/// stays short under a flood of writes.
const MAX_BATCH: usize = 512;

/// Reason one write did not apply: the store rejected it (the id exists, or
/// does not), or SQLite failed.
pub(super) enum ApplyError {
    /// A rejection that concerns this write alone and leaves the transaction
    /// usable.
    Rejected(StateError),
    /// A SQLite failure, which may have ended the transaction.
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for ApplyError {
    fn from(error: rusqlite::Error) -> Self {
        ApplyError::Sqlite(error)
    }
}

/// Applies one write on a connection, inside whatever transaction is open.
pub(super) type ApplyFn = fn(&Connection, &Write) -> Result<(), ApplyError>;

/// A write, or with `None` a barrier that resolves once every write queued
/// before it is durable.
struct Request {
    write: Option<Write>,
    outcome: oneshot::Sender<Result<(), StateError>>,
}

#[derive(Default)]
struct Counters {
    writes: AtomicU64,
    commits: AtomicU64,
}

/// The handle of the writer thread; dropping it lets the thread finish the
/// writes already queued, then joins it.
pub(super) struct Writer {
    queue: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    path: PathBuf,
}

impl Writer {
    /// Starts the thread that owns `connection` and applies writes with
    /// `apply`, then to `live`. `path` names the database in errors.
    pub(super) fn start(
        connection: Connection,
        path: PathBuf,
        apply: ApplyFn,
        live: Arc<LiveRecords>,
    ) -> std::io::Result<Self> {
        let (queue, requests) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let thread = {
            let counters = Arc::clone(&counters);
            let path = path.clone();
            std::thread::Builder::new()
                .name("envhost-state".into())
                .spawn(move || run(connection, &requests, &path, apply, &live, &counters))?
        };
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
            counters,
            path,
        })
    }

    /// Queues `write` for the next commit.
    pub(super) fn submit(&self, write: Write) -> WriteTicket {
        let operation = write.describe();
        self.queue(Some(write), operation)
    }

    /// Queues a barrier: its ticket resolves once every write queued before
    /// it is durable (whatever their outcome).
    pub(super) fn barrier(&self) -> WriteTicket {
        self.queue(None, "wait for earlier writes".to_owned())
    }

    fn queue(&self, write: Option<Write>, operation: String) -> WriteTicket {
        let (sender, outcome) = oneshot::channel();
        let sent = self.queue.as_ref().is_some_and(|queue| {
            queue
                .send(Request {
                    write,
                    outcome: sender,
                })
                .is_ok()
        });
        if !sent {
            return WriteTicket::ready(Err(StateError::WriterStopped {
                path: self.path.clone(),
                operation,
            }));
        }
        WriteTicket::waiting(outcome, self.path.clone(), operation)
    }

    /// Returns how many writes were applied, in how many commits.
    pub(super) fn stats(&self) -> WriteStats {
        WriteStats {
            writes: self.counters.writes.load(Ordering::Relaxed),
            commits: self.counters.commits.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop once it is drained.
        drop(self.queue.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(path = %self.path.display(), "the state writer thread panicked");
        }
    }
}

fn run(
    mut connection: Connection,
    requests: &mpsc::Receiver<Request>,
    path: &Path,
    apply: ApplyFn,
    live: &LiveRecords,
    counters: &Counters,
) {
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        // Barriers ride along: the writes queued before one are in this
        // batch or an earlier one, so it is done when this batch is.
        let writes: Vec<&Write> = batch
            .iter()
            .filter_map(|request| request.write.as_ref())
            .collect();
        let (write_outcomes, commits) = commit(&mut connection, &writes, path, apply);
        let mut write_outcomes = write_outcomes.into_iter();
        let outcomes: Vec<Result<(), StateError>> = batch
            .iter()
            .map(|request| match request.write {
                Some(_) => write_outcomes
                    .next()
                    .expect("one outcome for each write of the batch"),
                None => Ok(()),
            })
            .collect();
        counters
            .writes
            .fetch_add(writes.len() as u64, Ordering::Relaxed);
        counters
            .commits
            .fetch_add(commits as u64, Ordering::Relaxed);
        if !writes.is_empty() {
            metrics::record_state_commit(writes.len());
        }
        live.committed(
            batch
                .iter()
                .zip(&outcomes)
                .filter(|(_, outcome)| outcome.is_ok())
                .filter_map(|(request, _)| request.write.as_ref()),
        );
        for (request, outcome) in batch.into_iter().zip(outcomes) {
            // A caller that stopped waiting does not need the outcome.
            let _ = request.outcome.send(outcome);
        }
    }
}

/// Applies `batch` and returns the outcome of each write and the number of
/// transactions that took.
fn commit(
    connection: &mut Connection,
    batch: &[&Write],
    path: &Path,
    apply: ApplyFn,
) -> (Vec<Result<(), StateError>>, usize) {
    match batch {
        [] => return (Vec::new(), 0),
        [only] => return (vec![apply_alone(connection, only, path, apply)], 1),
        _ => {}
    }
    match apply_together(connection, batch, apply) {
        Ok(outcomes) => (outcomes, 1),
        Err(error) => {
            tracing::warn!(writes = batch.len(), %error, "batched commit failed; committing each write alone");
            let outcomes = batch
                .iter()
                .map(|write| apply_alone(connection, write, path, apply))
                .collect();
            (outcomes, batch.len())
        }
    }
}

/// Applies every write of `batch` in one transaction. A rejected write does
/// not stop the others; a SQLite failure rolls the whole batch back.
fn apply_together(
    connection: &mut Connection,
    batch: &[&Write],
    apply: ApplyFn,
) -> Result<Vec<Result<(), StateError>>, rusqlite::Error> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for write in batch {
        match apply(&transaction, write) {
            Ok(()) => outcomes.push(Ok(())),
            Err(ApplyError::Rejected(rejection)) => outcomes.push(Err(rejection)),
            Err(ApplyError::Sqlite(error)) => return Err(error),
        }
    }
    transaction.commit()?;
    Ok(outcomes)
}

/// Applies one write in a transaction of its own.
fn apply_alone(
    connection: &Connection,
    write: &Write,
    path: &Path,
    apply: ApplyFn,
) -> Result<(), StateError> {
    match apply(connection, write) {
        Ok(()) => Ok(()),
        Err(ApplyError::Rejected(rejection)) => Err(rejection),
        Err(ApplyError::Sqlite(error)) => Err(StateError::Database {
            path: path.to_owned(),
            operation: write.describe(),
            error,
        }),
    }
}
