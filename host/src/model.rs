//! The environment-provider contract as JSON: requests, descriptors, leases
//! and capabilities, with the field names callers use (camelCase).
//!
//! Request types reject unknown fields, so that a misspelt field is a 400 that
//! names it instead of being ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::EnvironmentId;

/// JSON object carried through untouched (`metadata`, `custom`).
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// Returns the current time at millisecond precision, the precision of every
/// timestamp envhost stores and returns.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// Lifecycle status of an environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Accepted or reserved, nothing running yet.
    Pending,
    /// Being allocated or starting.
    Provisioning,
    /// Running and usable.
    Ready,
    /// Usable but at risk.
    Degraded,
    /// Being torn down.
    Terminating,
    /// Ended normally or on request.
    Terminated,
    /// Ended abnormally.
    Failed,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 7] = [
        Status::Pending,
        Status::Provisioning,
        Status::Ready,
        Status::Degraded,
        Status::Terminating,
        Status::Terminated,
        Status::Failed,
    ];

    /// Returns the contract's spelling of the status.
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

    /// Whether the environment has ended for good: destroyed, with nothing of
    /// it left in the backend. `failed` is not terminal, because a failed
    /// environment still holds its resources (an exited container, say) until
    /// it is destroyed or its lease ends; only then is it `terminated`.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Terminated)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a status name that is not one of the seven.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid status `{0}`: expected one of pending, provisioning, ready, degraded, \
     terminating, terminated, failed"
)]
pub struct InvalidStatus(pub String);

impl FromStr for Status {
    type Err = InvalidStatus;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
            .ok_or_else(|| InvalidStatus(value.to_owned()))
    }
}

/// Resource requests in Kubernetes quantity notation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    /// CPU, such as `"500m"` or `"2"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Memory, such as `"512Mi"` or `"1G"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Disk, such as `"10Gi"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<String>,
    /// Number of GPUs, such as `"1"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
}

/// Body of `POST /v1/environments`: the contract's create request plus the
/// host's optional `provider` (adapter name) and `environmentId`
/// (idempotency key).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRequest {
    /// Caller-chosen id; minted by the host when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_id: Option<String>,
    /// Adapter to use; the configured default adapter when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Named template of the adapter's options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Host directory to mount into the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_path: Option<String>,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub resources: Resources,
    /// Lease length in milliseconds; the configured default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: JsonObject,
}

/// Body of `POST /v1/reservations`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReserveRequest {
    /// Caller-chosen id; minted by the host when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_id: Option<String>,
    /// Adapter to use; the configured default adapter when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: JsonObject,
}

/// Body of `POST /v1/environments/{id}/start`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_path: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: JsonObject,
}

/// Body of `PUT /v1/environments/{id}/lease`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenewRequest {
    /// New lease length in milliseconds, counted from now.
    pub ttl_ms: u64,
}

/// Transport of an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Http,
    Https,
    Tcp,
    Udp,
    Unix,
}

/// A way to reach an environment from the host machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub name: String,
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// The host's lease on an environment: when it ends, the host destroys the
/// environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    pub lease_id: String,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Descriptor of an environment as the host returns it. It also carries every
/// field of the contract's status result, `reason` included.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[schema(value_type = String)]
    pub environment_id: EnvironmentId,
    /// Name of the adapter that provides the environment.
    pub provider: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: JsonObject,
}

/// Filters of `GET /v1/environments`; each present field must match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

/// Capabilities of an adapter, discovered from the interfaces its component
/// exports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// Always true: the host keeps leases itself.
    pub supports_lease_renewal: bool,
    /// The adapter exports `lease-hooks` and hears about each renewal.
    pub supports_lease_hooks: bool,
    pub supports_snapshots: bool,
    pub supports_exec_probe: bool,
    pub supports_logs: bool,
    /// Reserve, then start.
    pub supports_two_phase: bool,
    /// Data the adapter adds about itself.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: JsonObject,
}

/// Health of a loaded adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AdapterHealth {
    /// Loaded and serving.
    Healthy,
    /// The file is present but failed to load; nothing serves under this
    /// name.
    Failed,
    /// Loaded, but its last calls trapped or overran their deadline in a row;
    /// it rejects calls as `unavailable` until a cool-down ends or it is
    /// reloaded.
    Unhealthy,
}

/// One entry of `GET /v1/adapters`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdapterSummary {
    /// Adapter name: the stem of its file.
    pub name: String,
    /// Path of the `.wasm` file.
    pub file: String,
    /// Version the adapter reports about itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// WIT package version the component targets, such as `0.1.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wit_version: Option<String>,
    /// `sha256:` and the hex digest of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loaded_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    pub health: AdapterHealth,
    /// Error of the last failed load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}
