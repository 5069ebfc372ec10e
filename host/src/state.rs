//! Durable records of environments, behind the [`Store`] trait so that a
//! store shared by several hosts (PostgreSQL) can be added next to the
//! embedded SQLite one.
//!
//! Every method returns only after the change is durable: an acknowledged
//! write survives a crash of the process or of the machine.

mod error;
mod sqlite;
mod write;

pub use error::StateError;
pub use sqlite::SqliteStore;
pub use write::{Write, WriteTicket};

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AdapterName, EnvironmentId, HostId};
use crate::model::{Endpoint, JsonObject, Lease, ListFilter, Status};

/// Storage of the host id and of environment records.
///
/// Writes are queued with [`Store::submit`], whose ticket async code awaits;
/// the other methods are synchronous. `get` is short (an indexed lookup on a
/// write-ahead-log database, which does not wait for a writer), so async code
/// may call it directly. `list` and the maintenance methods may take longer
/// and belong on the blocking pool.
pub trait Store: Send + Sync + 'static {
    /// Returns the host id: created and stored on first call, the same ever
    /// after.
    ///
    /// # Errors
    ///
    /// Fails when the database can not be read or written.
    fn host_id(&self) -> Result<HostId, StateError>;

    /// Queues a write and returns at once; the ticket resolves when the write
    /// is durable or rejected. Writes submitted together may share one commit.
    fn submit(&self, write: Write) -> WriteTicket;

    /// Returns a ticket that resolves once every write submitted before it is
    /// durable, whatever their outcome: the point before which no resource
    /// may be created for a record still on its way to disk.
    fn barrier(&self) -> WriteTicket;

    /// Inserts a new record and waits until it is durable.
    ///
    /// # Errors
    ///
    /// `StateError::AlreadyExists` when a record with that id exists, even a
    /// terminal one.
    fn insert(&self, record: &EnvironmentRecord) -> Result<(), StateError> {
        self.submit(Write::Insert(record.clone())).wait()
    }

    /// Replaces every field of an existing record and waits until the change
    /// is durable.
    ///
    /// # Errors
    ///
    /// `StateError::NotFound` when no record has that id.
    fn update(&self, record: &EnvironmentRecord) -> Result<(), StateError> {
        self.submit(Write::Update(record.clone())).wait()
    }

    /// Returns the record with that id, if any.
    ///
    /// # Errors
    ///
    /// `StateError::Corrupt` when the stored row does not decode.
    fn get(&self, id: &EnvironmentId) -> Result<Option<EnvironmentRecord>, StateError>;

    /// Returns the records matching every present field of `filter`, oldest
    /// `created_at` first.
    ///
    /// # Errors
    ///
    /// `StateError::Corrupt` when a stored row does not decode.
    fn list(&self, filter: &ListFilter) -> Result<Vec<EnvironmentRecord>, StateError>;

    /// Returns the records whose status is not terminal, oldest first: the
    /// environments to recover and to schedule lease expiry for at start.
    ///
    /// # Errors
    ///
    /// `StateError::Corrupt` when a stored row does not decode.
    fn list_live(&self) -> Result<Vec<EnvironmentRecord>, StateError>;

    /// Deletes the record with that id and waits until that is durable.
    /// Deleting an absent id is not an error.
    ///
    /// # Errors
    ///
    /// Fails when the database can not be written.
    fn delete(&self, id: &EnvironmentId) -> Result<(), StateError> {
        self.submit(Write::Delete(id.clone())).wait()
    }

    /// Deletes the terminal records (tombstones) whose `updated_at` is before
    /// `cutoff`, and returns how many were deleted.
    ///
    /// # Errors
    ///
    /// Fails when the database can not be written.
    fn purge_terminal_before(&self, cutoff: DateTime<Utc>) -> Result<usize, StateError>;
}

/// How far a commit goes before the store acknowledges it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Each commit is flushed to the disk (`fsync`) first: an acknowledged
    /// write survives a crash of the process and a power loss. The default.
    #[default]
    Full,
    /// Each commit is handed to the operating system first, and flushed at
    /// checkpoints: an acknowledged write survives a crash of the process
    /// (`kill -9`), but the last commits may be lost on a power loss or a
    /// kernel crash. Commits do not wait for the disk.
    Normal,
}

impl Durability {
    /// Returns the name used in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Full => "full",
            Durability::Normal => "normal",
        }
    }
}

impl FromStr for Durability {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "full" => Ok(Durability::Full),
            "normal" => Ok(Durability::Normal),
            _ => Err("expected `full` or `normal`".to_owned()),
        }
    }
}

/// Counts of a store's writes since it was opened: how many were
/// acknowledged, and how many durable commits they took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Inserts, updates and deletes applied.
    pub writes: u64,
    /// Transactions committed for them; fewer than `writes` when concurrent
    /// writes shared a commit.
    pub commits: u64,
}

/// What the host remembers about one environment or reservation.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvironmentRecord {
    /// The environment id.
    pub id: EnvironmentId,
    /// Adapter that provides the environment.
    pub adapter: AdapterName,
    /// Whether it was created in one step or reserved.
    pub kind: RecordKind,
    /// Last known status.
    pub status: Status,
    /// Reason for the status, such as the destroy reason.
    pub reason: Option<String>,
    /// `tenantId` of the request, copied out for filtering.
    pub tenant_id: Option<String>,
    /// `namespace` of the request, copied out for filtering.
    pub namespace: Option<String>,
    /// `runId` of the request, copied out for filtering.
    pub run_id: Option<String>,
    /// The create or reserve request as received.
    pub request: serde_json::Value,
    /// Digest of the request, compared when the same id is requested again.
    pub request_digest: String,
    /// The start request of a reservation, once started.
    pub start_request: Option<serde_json::Value>,
    /// Result of the adapter's reserve call, handed back to it on start.
    pub reservation: Option<serde_json::Value>,
    /// Last known endpoints.
    pub endpoints: Vec<Endpoint>,
    /// Last known metadata.
    pub metadata: JsonObject,
    /// The host's lease on the environment.
    pub lease: Lease,
    /// When the record was inserted.
    pub created_at: DateTime<Utc>,
    /// When the record last changed; tombstones are purged by this time.
    pub updated_at: DateTime<Utc>,
}

/// Origin of an environment: one create call, or reserve then start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    /// Created and started by one create request.
    Environment,
    /// Reserved first, started by a later start request.
    Reservation,
}

impl RecordKind {
    /// Returns the name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Environment => "environment",
            RecordKind::Reservation => "reservation",
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a record kind name that is neither `environment` nor
/// `reservation`.
#[derive(Debug, thiserror::Error)]
#[error("invalid record kind `{0}`: expected environment or reservation")]
pub struct InvalidRecordKind(pub String);

impl FromStr for RecordKind {
    type Err = InvalidRecordKind;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "environment" => Ok(RecordKind::Environment),
            "reservation" => Ok(RecordKind::Reservation),
            _ => Err(InvalidRecordKind(value.to_owned())),
        }
    }
}
