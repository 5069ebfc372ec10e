//! Bodies of the snapshot routes, `/v1/environments/{id}/snapshots`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::EnvironmentId;

/// Body of `POST /v1/environments/{id}/snapshots`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSnapshotRequest {
    /// 1 to 64 characters of `[a-z0-9_.-]`, starting with a letter or digit.
    pub name: String,
}

/// A saved copy of an environment's file system.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub environment_id: EnvironmentId,
    /// Id to delete the snapshot by, unique within its environment.
    pub id: String,
    pub name: String,
    /// Image reference to pass as `image` when creating an environment from
    /// the snapshot.
    pub image: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

/// Body of `GET /v1/environments/{id}/snapshots`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotList {
    pub environment_id: EnvironmentId,
    /// Oldest first.
    pub snapshots: Vec<Snapshot>,
}
