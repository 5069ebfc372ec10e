//! Writes to the store, and the handle a caller waits on until its write is
//! durable.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use super::{EnvironmentRecord, StateError};
use crate::ids::EnvironmentId;

/// One change to the environment records.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// Inserts a new record; rejected with `StateError::AlreadyExists` when the
    /// id has one, even a terminal one.
    Insert(EnvironmentRecord),
    /// Replaces every field of a record; rejected with `StateError::NotFound`
    /// when the id has none.
    Update(EnvironmentRecord),
    /// Deletes a record; deleting an absent id is not an error.
    Delete(EnvironmentId),
}

impl Write {
    /// Describes the write for error messages, such as
    /// ``update environment `abc` ``.
    pub fn describe(&self) -> String {
        match self {
            Write::Insert(record) => format!("insert environment `{}`", record.id),
            Write::Update(record) => format!("update environment `{}`", record.id),
            Write::Delete(id) => format!("delete environment `{id}`"),
        }
    }
}

/// The outcome of a submitted write, ready once the commit that contains it is
/// on disk. Await it in async code, or [`wait`](Self::wait) for it on a
/// thread that may block.
#[must_use = "a write is only known to be durable once its ticket resolves"]
pub struct WriteTicket {
    state: TicketState,
}

enum TicketState {
    Waiting {
        outcome: oneshot::Receiver<Result<(), StateError>>,
        path: PathBuf,
        operation: String,
    },
    Done(Option<Result<(), StateError>>),
}

impl WriteTicket {
    /// Returns a ticket that resolves when the store's writer sends on the other end
    /// of `outcome`. `path` and `operation` name the write if the writer
    /// stops without sending an outcome.
    pub fn waiting(
        outcome: oneshot::Receiver<Result<(), StateError>>,
        path: PathBuf,
        operation: String,
    ) -> Self {
        Self {
            state: TicketState::Waiting {
                outcome,
                path,
                operation,
            },
        }
    }

    /// Returns a ticket whose outcome is already known.
    pub fn ready(outcome: Result<(), StateError>) -> Self {
        Self {
            state: TicketState::Done(Some(outcome)),
        }
    }

    /// Blocks the thread until the write is durable or rejected.
    ///
    /// # Panics
    ///
    /// Panics when called from inside an async runtime; await the ticket
    /// there instead.
    pub fn wait(self) -> Result<(), StateError> {
        match self.state {
            TicketState::Done(outcome) => outcome.expect("a ticket resolves once"),
            TicketState::Waiting {
                outcome,
                path,
                operation,
            } => outcome
                .blocking_recv()
                .unwrap_or(Err(StateError::WriterStopped { path, operation })),
        }
    }
}

impl Future for WriteTicket {
    type Output = Result<(), StateError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            TicketState::Done(outcome) => Poll::Ready(
                outcome
                    .take()
                    .expect("a ticket is not polled after it resolved"),
            ),
            TicketState::Waiting {
                outcome,
                path,
                operation,
            } => Pin::new(outcome).poll(cx).map(|received| {
                received.unwrap_or_else(|_| {
                    Err(StateError::WriterStopped {
                        path: path.clone(),
                        operation: std::mem::take(operation),
                    })
                })
            }),
        }
    }
}
