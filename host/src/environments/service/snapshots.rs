//! Snapshots of an environment's file system, through the adapter's
//! optional `snapshots` export.

use chrono::{DateTime, Utc};

use super::{EnvironmentService, call_error};
use crate::adapters::SnapshotOutput;
use crate::container::validate_snapshot_name;
use crate::environments::{CreateSnapshotRequest, ServiceError, Snapshot, SnapshotList};
use crate::ids::EnvironmentId;

/// Maximum length of a snapshot id in a delete request, in bytes.
const MAX_SNAPSHOT_ID_LEN: usize = 128;

impl EnvironmentService {
    pub(super) async fn create_environment_snapshot(
        &self,
        id: &EnvironmentId,
        request: CreateSnapshotRequest,
    ) -> Result<Snapshot, ServiceError> {
        validate_snapshot_name(&request.name)
            .map_err(|err| ServiceError::InvalidRequest(err.to_string()))?;
        // Only a live environment has a file system to copy.
        let adapter = self.live_adapter(id).await?;
        let output = adapter
            .create_snapshot(id, &request.name)
            .await
            .map_err(call_error)?;
        let snapshot = snapshot_from_output(id, adapter.name().as_str(), output)?;
        tracing::info!(
            environment = %id,
            snapshot = %snapshot.id,
            image = %snapshot.image,
            "snapshot created"
        );
        Ok(snapshot)
    }

    pub(super) async fn list_environment_snapshots(
        &self,
        id: &EnvironmentId,
    ) -> Result<SnapshotList, ServiceError> {
        let adapter = self.known_adapter(id).await?;
        let outputs = adapter.list_snapshots(id).await.map_err(call_error)?;
        let snapshots = outputs
            .into_iter()
            .map(|output| snapshot_from_output(id, adapter.name().as_str(), output))
            .collect::<Result<_, _>>()?;
        Ok(SnapshotList {
            environment_id: id.clone(),
            snapshots,
        })
    }

    pub(super) async fn delete_environment_snapshot(
        &self,
        id: &EnvironmentId,
        snapshot_id: &str,
    ) -> Result<(), ServiceError> {
        validate_snapshot_id(snapshot_id)?;
        let adapter = self.known_adapter(id).await?;
        adapter
            .delete_snapshot(id, snapshot_id)
            .await
            .map_err(call_error)?;
        tracing::info!(environment = %id, snapshot = snapshot_id, "snapshot deleted");
        Ok(())
    }

    /// Returns the adapter of an environment that has a record, ended or
    /// not, because snapshots outlive the environment they were taken of.
    async fn known_adapter(
        &self,
        id: &EnvironmentId,
    ) -> Result<std::sync::Arc<crate::adapters::Adapter>, ServiceError> {
        let not_found = || ServiceError::NotFound(format!("environment `{id}` not found"));
        let record = self.get_record(id).await?.ok_or_else(not_found)?;
        if self.is_forgotten(&record) {
            return Err(not_found());
        }
        self.adapter(&record.adapter)
    }
}

/// Accepts ids an adapter can reasonably mint (image tags, digests) and
/// nothing that could change the meaning of a path.
fn validate_snapshot_id(snapshot_id: &str) -> Result<(), ServiceError> {
    let valid_chars = snapshot_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
    let valid_start = snapshot_id
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if !valid_chars || !valid_start || snapshot_id.len() > MAX_SNAPSHOT_ID_LEN {
        return Err(ServiceError::InvalidRequest(format!(
            "invalid snapshot id `{snapshot_id}`: expected 1 to {MAX_SNAPSHOT_ID_LEN} ASCII \
             letters, digits, `_`, `.`, `:` or `-`, starting with a letter or digit"
        )));
    }
    Ok(())
}

fn snapshot_from_output(
    id: &EnvironmentId,
    adapter: &str,
    output: SnapshotOutput,
) -> Result<Snapshot, ServiceError> {
    let created_at = DateTime::parse_from_rfc3339(&output.created_at)
        .map_err(|err| {
            ServiceError::Internal(format!(
                "adapter `{adapter}` returned snapshot `{}` with an invalid `created-at` `{}`: \
                 {err}",
                output.id, output.created_at
            ))
        })?
        .with_timezone(&Utc);
    Ok(Snapshot {
        environment_id: id.clone(),
        id: output.id,
        name: output.name,
        image: output.image,
        created_at,
        size_bytes: output.size_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_id_rejects_path_characters() {
        for invalid in ["", "a/b", "..", "-a", "a b", "a%2f"] {
            let err = validate_snapshot_id(invalid).unwrap_err();
            assert!(err.to_string().contains(&format!("`{invalid}`")), "{err}");
        }
        for valid in ["v1", "before-upgrade", "sha256:0a1b"] {
            assert!(validate_snapshot_id(valid).is_ok(), "{valid}");
        }
    }

    #[test]
    fn snapshot_output_with_bad_time_is_internal() {
        let id = EnvironmentId::parse("e1").unwrap();
        let output = SnapshotOutput {
            id: "v1".to_owned(),
            name: "v1".to_owned(),
            image: "envhost-snapshot/e1:v1".to_owned(),
            created_at: "yesterday".to_owned(),
            size_bytes: None,
        };
        let err = snapshot_from_output(&id, "docker", output).unwrap_err();
        assert!(matches!(err, ServiceError::Internal(_)), "{err:?}");
        assert!(err.to_string().contains("`yesterday`"), "{err}");
    }
}
