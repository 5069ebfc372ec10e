//! The traits an adapter implements: [`Provider`] always, and one trait per
//! optional export. [`export_adapter!`](crate::export_adapter) turns them
//! into the component's exports.

use serde::de::DeserializeOwned;

use crate::error::Result;
use crate::types::{
    CreateRequest, EnvironmentState, ProbeResult, Reservation, ReserveRequest, Snapshot,
    StartRequest,
};

/// The required provider functions.
///
/// The host makes a fresh instance of the component for every call and
/// calls `init` on it first: [`Provider::new`] runs then, with the parsed
/// options, and the value it returns serves that one call. Nothing kept in
/// `self` survives to the next call, so what an adapter must remember lives
/// in its backend, keyed by the environment id.
pub trait Provider: Sized + Send + Sync + 'static {
    /// The adapter's options, deserialized from the operator's
    /// `[adapters.<name>.options]` table with
    /// [`options::parse`](crate::options::parse).
    type Options: DeserializeOwned;

    /// The adapter's name, reported by `metadata`. The host names adapters
    /// by their file stem; this one is informational.
    const NAME: &'static str;

    /// Builds the adapter from its options.
    ///
    /// # Errors
    ///
    /// An error fails the adapter's load, so reject bad options here
    /// (`invalid-request`, naming the key).
    fn new(options: Self::Options) -> Result<Self>;

    /// Returns capability data of the adapter's own, added to its
    /// capabilities as `custom`. Must be a JSON object. Default: `{}`.
    fn custom_capabilities(&self) -> serde_json::Value {
        serde_json::Value::Object(serde_json::Map::new())
    }

    /// Creates and starts the environment with the host-minted id.
    ///
    /// Must be idempotent: a retry with the same id adopts what the first
    /// attempt made instead of making a second one.
    ///
    /// # Errors
    ///
    /// `invalid-request` for a request the adapter can not serve,
    /// `unavailable` when the backend can not serve now.
    fn create(&self, environment_id: &str, request: CreateRequest) -> Result<EnvironmentState>;

    /// Reads the current status from the backend.
    ///
    /// # Errors
    ///
    /// `not-found` when the backend has nothing for this id.
    fn get_status(&self, environment_id: &str) -> Result<EnvironmentState>;

    /// Tears the environment down. Destroying something already gone, or
    /// never created, succeeds.
    ///
    /// # Errors
    ///
    /// Only when the backend failed to tear down what exists.
    fn destroy(&self, environment_id: &str, reason: Option<&str>) -> Result<()>;
}

/// Optional export `two-phase`: reserve, then start.
pub trait TwoPhase: Provider {
    /// Sets aside what the environment needs without starting it. The
    /// returned reservation's `data` (a JSON object) comes back to
    /// [`TwoPhase::start`], because the instance that reserved is gone by
    /// then.
    ///
    /// # Errors
    ///
    /// As [`Provider::create`].
    fn reserve(&self, environment_id: &str, request: ReserveRequest) -> Result<Reservation>;

    /// Starts an environment reserved earlier.
    ///
    /// # Errors
    ///
    /// As [`Provider::create`].
    fn start(
        &self,
        environment_id: &str,
        reservation: Reservation,
        request: StartRequest,
    ) -> Result<EnvironmentState>;
}

/// Optional export `lease-hooks`: hears about lease renewals. Implement it
/// only when the backend has a time limit of its own to extend; the host
/// keeps every lease itself.
pub trait LeaseHooks: Provider {
    /// Called after the host renewed the lease of `environment_id`.
    /// `expires_at_ms` is the new expiry in milliseconds since the Unix
    /// epoch.
    ///
    /// # Errors
    ///
    /// An error fails the renewal, and the host keeps the previous expiry.
    fn renew(&self, environment_id: &str, ttl_ms: u64, expires_at_ms: u64) -> Result<()>;
}

/// Optional export `logs`: recent output of an environment's workload.
pub trait Logs: Provider {
    /// Returns the last `tail` lines of the environment's output, oldest
    /// first.
    ///
    /// # Errors
    ///
    /// `not-found` when the backend has nothing for this id.
    fn logs(&self, environment_id: &str, tail: u32) -> Result<Vec<String>>;
}

/// Optional export `exec-probe`: run a check command in an environment.
pub trait ExecProbe: Provider {
    /// Runs `command` (program and arguments, no shell) and returns its exit
    /// code and output. A non-zero exit is a result, not an error.
    ///
    /// # Errors
    ///
    /// `not-found` for an unknown id, `unavailable` when the command did not
    /// finish within `timeout_ms` milliseconds.
    fn probe(
        &self,
        environment_id: &str,
        command: Vec<String>,
        timeout_ms: u32,
    ) -> Result<ProbeResult>;
}

/// Optional export `snapshots`: save an environment's file system as an
/// image that later environments can start from.
pub trait Snapshots: Provider {
    /// Saves the environment's current file system under `name`, which the
    /// host has checked against `[a-z0-9][a-z0-9_.-]{0,63}`.
    ///
    /// # Errors
    ///
    /// `not-found` for an unknown id, `conflict` when `name` is taken.
    fn create_snapshot(&self, environment_id: &str, name: &str) -> Result<Snapshot>;

    /// Lists the environment's snapshots, oldest first.
    ///
    /// # Errors
    ///
    /// Whatever the backend returns.
    fn list_snapshots(&self, environment_id: &str) -> Result<Vec<Snapshot>>;

    /// Deletes a snapshot by id. Deleting one that is already gone succeeds.
    ///
    /// # Errors
    ///
    /// Whatever the backend returns, except `not-found`.
    fn delete_snapshot(&self, environment_id: &str, snapshot_id: &str) -> Result<()>;
}
