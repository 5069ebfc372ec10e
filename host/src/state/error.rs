//! Errors of the state store.

use std::io;
use std::path::PathBuf;

use crate::ids::EnvironmentId;

/// Error returned by every [`Store`](super::Store) operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// `insert` of an id that already has a record.
    #[error("environment `{id}` already exists in the state store")]
    AlreadyExists {
        /// The id that is taken.
        id: EnvironmentId,
    },
    /// `update` of an id that has no record.
    #[error("environment `{id}` not found in the state store")]
    NotFound {
        /// The id that has no record.
        id: EnvironmentId,
    },
    /// A SQLite call failed during `operation`.
    #[error("failed to {operation} in state database `{}`: {error}", path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// The operation that failed, such as ``insert environment `abc` ``.
        operation: String,
        /// The SQLite error.
        error: rusqlite::Error,
    },
    /// The thread that commits writes stopped before it sent an outcome, so the
    /// write may or may not be on disk.
    #[error(
        "failed to {operation} in state database `{}`: the writer thread stopped; \
         restart envhost",
        path.display()
    )]
    WriterStopped {
        /// The database file.
        path: PathBuf,
        /// The write that got no outcome.
        operation: String,
    },
    /// The thread that commits writes could not be started.
    #[error("failed to start the writer thread of state database `{}`: {error}", path.display())]
    WriterThread {
        /// The database file.
        path: PathBuf,
        /// The error of the thread spawn.
        error: io::Error,
    },
    /// The directory of the database file could not be created.
    #[error("failed to create state directory `{}`: {error}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        error: io::Error,
    },
    /// SQLite did not switch the database to write-ahead logging, which the
    /// store needs for durable commits that do not block readers.
    #[error(
        "state database `{}` runs in journal mode `{mode}` instead of `wal`: \
         put it on a local file system",
        path.display()
    )]
    JournalMode {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// The database was written by a newer envhost, or its schema version is
    /// not one envhost ever wrote.
    #[error(
        "state database `{}` has schema version {found}, but this envhost supports \
         versions 0 to {supported}: run a newer envhost or restore a backup",
        path.display()
    )]
    UnsupportedSchema {
        /// The database file.
        path: PathBuf,
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The newest schema version this build supports.
        supported: i64,
    },
    /// A stored row that does not decode into a record.
    #[error("corrupt record `{id}` in the state store: column `{column}`: {reason}")]
    Corrupt {
        /// The id column of the row, as stored.
        id: String,
        /// The column that does not decode.
        column: &'static str,
        /// The decoding error.
        reason: String,
    },
}
