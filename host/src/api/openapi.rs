//! The OpenAPI 3.1 document of the HTTP API, served at
//! `GET /v1/openapi.json` and generated from the handlers' `utoipa::path`
//! attributes and the contract types.

use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

use super::routes;

/// The document, assembled at compile time from the annotated handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "envhost",
        description = "Environment-provider contract over WebAssembly adapters"
    ),
    paths(
        routes::create,
        routes::list,
        routes::get,
        routes::destroy,
        routes::reserve,
        routes::start,
        routes::renew,
        routes::logs,
        routes::probe,
        routes::create_snapshot,
        routes::list_snapshots,
        routes::delete_snapshot,
        routes::adapters,
        routes::adapter,
        routes::capabilities,
        routes::healthz,
        routes::metrics,
        openapi_json,
    )
)]
pub(crate) struct ApiDoc;

/// Returns the document as JSON.
pub fn document() -> Value {
    // Serializing a generated document only fails on a bug in utoipa.
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|err| {
        tracing::error!(error = %err, "failed to serialize the OpenAPI document");
        Value::Null
    })
}

#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    responses((status = 200, description = "This document", body = Object))
)]
pub(crate) async fn openapi_json() -> Json<Value> {
    Json(document())
}

// The types below mirror the bodies of routes whose Rust types live outside
// `model` and carry no schema themselves. Each has the same JSON shape as the
// type it names, which the tests of the served document check.

/// Body of `GET /v1/environments/{id}/logs`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EnvironmentLogs)]
#[allow(dead_code)]
pub(crate) struct EnvironmentLogsSchema {
    environment_id: String,
    /// Last lines of output, oldest first, without newlines.
    lines: Vec<String>,
}

/// Body of `POST /v1/environments/{id}/probe`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = ProbeRequest)]
#[allow(dead_code)]
pub(crate) struct ProbeRequestSchema {
    /// Program and arguments, run without a shell.
    command: Vec<String>,
    /// Deadline of the command in milliseconds; 10 s when absent, at most
    /// 5 minutes.
    timeout_ms: Option<u32>,
}

/// Response of `POST /v1/environments/{id}/probe`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ProbeResult)]
#[allow(dead_code)]
pub(crate) struct ProbeResultSchema {
    environment_id: String,
    exit_code: i64,
    /// Standard output and standard error, interleaved.
    output: String,
    /// Whether the output was cut at the host's cap.
    truncated: bool,
}

/// Body of `POST /v1/environments/{id}/snapshots`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = CreateSnapshotRequest)]
#[allow(dead_code)]
pub(crate) struct CreateSnapshotRequestSchema {
    /// 1 to 64 characters of `[a-z0-9_.-]`, starting with a letter or digit.
    #[schema(pattern = "^[a-z0-9][a-z0-9_.-]{0,63}$")]
    name: String,
}

/// A saved copy of an environment's file system.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Snapshot)]
#[allow(dead_code)]
pub(crate) struct SnapshotSchema {
    environment_id: String,
    /// Id to delete the snapshot by, unique within its environment.
    id: String,
    name: String,
    /// Image reference to pass as `image` when creating an environment from
    /// the snapshot.
    image: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_bytes: Option<u64>,
}

/// Body of `GET /v1/environments/{id}/snapshots`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SnapshotList)]
#[allow(dead_code)]
pub(crate) struct SnapshotListSchema {
    environment_id: String,
    /// Oldest first.
    snapshots: Vec<SnapshotSchema>,
}

/// Body of `GET /healthz`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Health)]
#[allow(dead_code)]
pub(crate) struct HealthSchema {
    /// Always `ok`.
    status: String,
}
