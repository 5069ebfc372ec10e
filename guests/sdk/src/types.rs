//! The values adapters receive and return, generated from
//! `envhost:provider@0.2.0` and re-exported here so that authors never name
//! the generated modules.

pub use crate::bindings::base::envhost::provider::types::{
    AdapterInfo, CreateRequest, Endpoint, EnvironmentState, Protocol, ProviderError, Reservation,
    ReserveRequest, Resources, StartRequest, Status,
};
pub use crate::bindings::exec_probe::exports::envhost::provider::exec_probe::ProbeResult;
pub use crate::bindings::snapshots::exports::envhost::provider::snapshots::Snapshot;

impl EnvironmentState {
    /// Builds a state with `status`, no reason, no endpoints and empty
    /// metadata (`{}`).
    pub fn new(status: Status) -> Self {
        EnvironmentState {
            status,
            reason: None,
            endpoints: Vec::new(),
            metadata: "{}".to_owned(),
        }
    }

    /// Sets the reason, expected for `degraded` and `failed`.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Sets the metadata, which the host merges over the request's.
    pub fn with_metadata(mut self, metadata: &serde_json::Value) -> Self {
        self.metadata = metadata.to_string();
        self
    }
}

impl Status {
    /// Returns the contract's spelling, such as `ready` or `terminated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Provisioning => "provisioning",
            Status::Ready => "ready",
            Status::Degraded => "degraded",
            Status::Terminating => "terminating",
            Status::Terminated => "terminated",
            Status::Failed => "failed",
        }
    }
}

impl Resources {
    /// Returns resources with nothing requested.
    pub fn none() -> Self {
        Resources {
            cpu: None,
            memory: None,
            disk: None,
            gpu: None,
        }
    }
}
