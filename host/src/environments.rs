//! The environment-provider contract: the one place that decides ids,
//! idempotency, status transitions and leases. The HTTP API, the CLI (through
//! the API) and later the lease collector all go through [`Environments`].

mod error;
mod service;
mod snapshots;
mod validate;

pub use error::ServiceError;
pub use service::{EnvironmentService, LEASE_EXPIRED, RecoveryReport, ServiceSettings};
pub use snapshots::{CreateSnapshotRequest, Snapshot, SnapshotList};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ids::EnvironmentId;
use crate::model::{
    AdapterSummary, CreateRequest, Descriptor, Lease, ListFilter, ReserveRequest, StartRequest,
};

/// Operations of the provider contract, as the HTTP layer calls them.
///
/// Every method validates its input and changes nothing when it fails.
#[async_trait]
pub trait Environments: Send + Sync + 'static {
    /// Creates and starts an environment, or returns the existing descriptor
    /// when the same `environmentId` was created with the same request.
    ///
    /// # Errors
    ///
    /// `InvalidRequest` for a bad field (the message names it), `Conflict`
    /// when the id exists with a different request, `NotFound` for an unknown
    /// provider, `Denied` when policy rejects it, and whatever the adapter
    /// returns.
    async fn create(&self, request: CreateRequest) -> Result<Descriptor, ServiceError>;

    /// Returns the current descriptor of an environment, refreshed from its
    /// adapter while it is live. Destroyed environments read `terminated`
    /// until their tombstone expires.
    ///
    /// # Errors
    ///
    /// `NotFound` for an id never seen or whose tombstone expired.
    async fn get(&self, id: &EnvironmentId) -> Result<Descriptor, ServiceError>;

    /// Lists environments matching every present filter field, oldest first,
    /// from the host's records (no adapter calls).
    ///
    /// # Errors
    ///
    /// `Internal` when the state store fails.
    async fn list(&self, filter: &ListFilter) -> Result<Vec<Descriptor>, ServiceError>;

    /// Destroys an environment. Destroying an unknown or already destroyed id
    /// succeeds; the returned descriptor is `None` for an unknown id.
    ///
    /// # Errors
    ///
    /// Whatever the adapter returns when it fails to tear down.
    async fn destroy(
        &self,
        id: &EnvironmentId,
        reason: Option<String>,
    ) -> Result<Option<Descriptor>, ServiceError>;

    /// Reserves an environment without starting it (status `pending`).
    ///
    /// # Errors
    ///
    /// `NotImplemented` when the adapter does not export two-phase, plus the
    /// errors of `create`.
    async fn reserve(&self, request: ReserveRequest) -> Result<Descriptor, ServiceError>;

    /// Starts a reserved environment. Starting one that already started with
    /// the same request returns its descriptor.
    ///
    /// # Errors
    ///
    /// `NotFound` for an unknown id, `Conflict` when it is not a reservation,
    /// plus the errors of `create`.
    async fn start(
        &self,
        id: &EnvironmentId,
        request: StartRequest,
    ) -> Result<Descriptor, ServiceError>;

    /// Renews the lease of a live environment or reservation: the new expiry
    /// is now plus `ttl_ms`. An adapter that exports `lease-hooks` is told
    /// first and can refuse.
    ///
    /// # Errors
    ///
    /// `InvalidRequest` for a ttl of 0 or above the maximum, `NotFound` for
    /// an unknown id, `Conflict` when the environment is terminating or
    /// terminated or its lease already ran out.
    async fn renew(&self, id: &EnvironmentId, ttl_ms: u64) -> Result<Lease, ServiceError>;

    /// Lists the adapters in the adapters directory, loaded or failed.
    fn adapters(&self) -> Vec<AdapterSummary>;

    /// Returns the last `tail` lines of a live environment's output.
    ///
    /// # Errors
    ///
    /// `NotFound` for an unknown id or a removed adapter, `Conflict` for an
    /// environment that has ended, `NotImplemented` when the adapter does
    /// not export `logs`, and whatever the adapter returns.
    async fn logs(&self, id: &EnvironmentId, tail: u32) -> Result<EnvironmentLogs, ServiceError>;

    /// Runs a check command inside a live environment.
    ///
    /// # Errors
    ///
    /// As [`Environments::logs`], with `exec-probe` as the capability, and
    /// `InvalidRequest` for an empty command or a timeout out of range.
    async fn probe(
        &self,
        id: &EnvironmentId,
        request: ProbeRequest,
    ) -> Result<ProbeResult, ServiceError>;

    /// Saves a live environment's file system as a snapshot.
    ///
    /// # Errors
    ///
    /// `InvalidRequest` for a malformed name, otherwise as
    /// [`Environments::logs`], with `snapshots` as the capability. The
    /// default implementation returns `NotImplemented`.
    async fn create_snapshot(
        &self,
        id: &EnvironmentId,
        request: CreateSnapshotRequest,
    ) -> Result<Snapshot, ServiceError> {
        let _ = request;
        Err(snapshots_not_implemented(id))
    }

    /// Lists an environment's snapshots; an ended environment keeps them.
    ///
    /// # Errors
    ///
    /// As [`Environments::create_snapshot`], but an ended environment is no
    /// conflict.
    async fn list_snapshots(&self, id: &EnvironmentId) -> Result<SnapshotList, ServiceError> {
        Err(snapshots_not_implemented(id))
    }

    /// Deletes a snapshot; deleting one that is gone succeeds.
    ///
    /// # Errors
    ///
    /// As [`Environments::list_snapshots`], and `InvalidRequest` for a
    /// malformed snapshot id.
    async fn delete_snapshot(
        &self,
        id: &EnvironmentId,
        snapshot_id: &str,
    ) -> Result<(), ServiceError> {
        let _ = snapshot_id;
        Err(snapshots_not_implemented(id))
    }
}

fn snapshots_not_implemented(id: &EnvironmentId) -> ServiceError {
    ServiceError::NotImplemented(format!(
        "snapshots of environment `{id}` are not supported by this service"
    ))
}

/// Body of `GET /v1/environments/{id}/logs`.
// NOTE: these three types belong with the contract types in `model`; they
// live here until that module takes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentLogs {
    pub environment_id: EnvironmentId,
    /// Last lines of output, oldest first, without newlines.
    pub lines: Vec<String>,
}

/// Body of `POST /v1/environments/{id}/probe`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProbeRequest {
    /// Program and arguments, run without a shell.
    pub command: Vec<String>,
    /// Deadline of the command in milliseconds; 10 s when absent, at most
    /// 5 minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
}

/// Response of `POST /v1/environments/{id}/probe`. A non-zero exit code is a
/// result, not an error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeResult {
    pub environment_id: EnvironmentId,
    pub exit_code: i64,
    /// Standard output and standard error, interleaved.
    pub output: String,
    /// Whether the output was cut at the host's cap.
    pub truncated: bool,
}
