//! Conversions between the contract's JSON types and the WIT types of
//! `envhost:provider`, whose `types` interface every supported version shares.

use std::path::Path;

use super::bindings::v0_2_0::envhost::provider::types as wit;
use super::error::ProviderErrorKind;
use crate::model::{self, Endpoint, JsonObject, Protocol, Status};

/// What an adapter reports about an environment, in the host's types.
#[derive(Clone, Debug, PartialEq)]
pub struct AdapterState {
    /// Status the backend is in.
    pub status: Status,
    /// Why, for `degraded` and `failed`.
    pub reason: Option<String>,
    /// Ways to reach the environment.
    pub endpoints: Vec<Endpoint>,
    /// Metadata the adapter adds over the request's.
    pub metadata: JsonObject,
}

/// What an adapter's `reserve` returned; stored by the host and handed back
/// to `start`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReservationState {
    /// Status of the reservation, normally `pending`.
    pub status: Status,
    /// Adapter-owned JSON, opaque to the host.
    pub data: String,
}

pub(crate) fn status_from_wit(status: wit::Status) -> Status {
    match status {
        wit::Status::Pending => Status::Pending,
        wit::Status::Provisioning => Status::Provisioning,
        wit::Status::Ready => Status::Ready,
        wit::Status::Degraded => Status::Degraded,
        wit::Status::Terminating => Status::Terminating,
        wit::Status::Terminated => Status::Terminated,
        wit::Status::Failed => Status::Failed,
    }
}

pub(crate) fn status_to_wit(status: Status) -> wit::Status {
    match status {
        Status::Pending => wit::Status::Pending,
        Status::Provisioning => wit::Status::Provisioning,
        Status::Ready => wit::Status::Ready,
        Status::Degraded => wit::Status::Degraded,
        Status::Terminating => wit::Status::Terminating,
        Status::Terminated => wit::Status::Terminated,
        Status::Failed => wit::Status::Failed,
    }
}

pub(crate) fn error_from_wit(error: wit::ProviderError) -> (ProviderErrorKind, String) {
    match error {
        wit::ProviderError::NotFound(m) => (ProviderErrorKind::NotFound, m),
        wit::ProviderError::InvalidRequest(m) => (ProviderErrorKind::InvalidRequest, m),
        wit::ProviderError::Denied(m) => (ProviderErrorKind::Denied, m),
        wit::ProviderError::Unavailable(m) => (ProviderErrorKind::Unavailable, m),
        wit::ProviderError::Conflict(m) => (ProviderErrorKind::Conflict, m),
        wit::ProviderError::Internal(m) => (ProviderErrorKind::Internal, m),
    }
}

fn protocol_from_wit(protocol: wit::Protocol) -> Protocol {
    match protocol {
        wit::Protocol::Http => Protocol::Http,
        wit::Protocol::Https => Protocol::Https,
        wit::Protocol::Tcp => Protocol::Tcp,
        wit::Protocol::Udp => Protocol::Udp,
        wit::Protocol::Unix => Protocol::Unix,
    }
}

/// Parses a JSON object string from a guest; `Err` carries what was wrong.
pub(crate) fn json_object_from_wit(text: &str) -> Result<JsonObject, String> {
    if text.trim().is_empty() {
        return Ok(JsonObject::new());
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!("expected a JSON object, got `{other}`")),
        Err(err) => Err(format!("invalid JSON: {err}")),
    }
}

pub(crate) fn state_from_wit(state: wit::EnvironmentState) -> Result<AdapterState, String> {
    let metadata = json_object_from_wit(&state.metadata)
        .map_err(|reason| format!("returned invalid metadata: {reason}"))?;
    let endpoints = state
        .endpoints
        .into_iter()
        .map(|endpoint| Endpoint {
            name: endpoint.name,
            protocol: protocol_from_wit(endpoint.protocol),
            host: endpoint.host,
            port: endpoint.port,
            path: endpoint.path,
        })
        .collect();
    Ok(AdapterState {
        status: status_from_wit(state.status),
        reason: state.reason,
        endpoints,
        metadata,
    })
}

fn env_to_wit(env: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    env.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn path_to_wit(path: Option<&Path>) -> Option<String> {
    path.map(|p| p.to_string_lossy().into_owned())
}

pub(crate) fn create_request_to_wit(
    request: &model::CreateRequest,
    ttl_ms: u64,
    workspace: Option<&Path>,
) -> wit::CreateRequest {
    wit::CreateRequest {
        tenant_id: request.tenant_id.clone(),
        namespace: request.namespace.clone(),
        run_id: request.run_id.clone(),
        template_id: request.template_id.clone(),
        image: request.image.clone(),
        workspace_path: path_to_wit(workspace),
        command: request.command.clone(),
        env: env_to_wit(&request.env),
        resources: wit::Resources {
            cpu: request.resources.cpu.clone(),
            memory: request.resources.memory.clone(),
            disk: request.resources.disk.clone(),
            gpu: request.resources.gpu.clone(),
        },
        ttl_ms,
        metadata: serde_json::Value::Object(request.metadata.clone()).to_string(),
    }
}

pub(crate) fn reserve_request_to_wit(
    request: &model::ReserveRequest,
    ttl_ms: u64,
) -> wit::ReserveRequest {
    wit::ReserveRequest {
        namespace: request.namespace.clone(),
        run_id: request.run_id.clone(),
        ttl_ms,
        metadata: serde_json::Value::Object(request.metadata.clone()).to_string(),
    }
}

pub(crate) fn start_request_to_wit(
    request: &model::StartRequest,
    workspace: Option<&Path>,
) -> wit::StartRequest {
    wit::StartRequest {
        image: request.image.clone(),
        workspace_path: path_to_wit(workspace),
        env: env_to_wit(&request.env),
        metadata: serde_json::Value::Object(request.metadata.clone()).to_string(),
    }
}
