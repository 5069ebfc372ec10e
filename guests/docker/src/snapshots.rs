//! The `snapshots` export: a snapshot is the environment's container
//! committed to an image by the host, which names it
//! `envhost-snapshot/<environment id>:<snapshot name>`. The snapshot id is
//! the name, because a name is unique within its environment.

use envhost_guest::container::{self, SnapshotImage, container_name};
use envhost_guest::types::{ProviderError, Snapshot};

/// Repository of every snapshot image, fixed by the host.
const SNAPSHOT_REPOSITORY: &str = "envhost-snapshot";

/// Commits the container of `environment_id` under `name`.
pub(crate) fn create(environment_id: &str, name: &str) -> Result<Snapshot, ProviderError> {
    let image = container::commit(&container_name(environment_id), name)?;
    Ok(snapshot_from_image(image))
}

/// Lists the snapshot images of `environment_id`.
pub(crate) fn list(environment_id: &str) -> Result<Vec<Snapshot>, ProviderError> {
    let images = container::list_images(environment_id)?;
    Ok(images.into_iter().map(snapshot_from_image).collect())
}

/// Removes the snapshot image `snapshot_id` of `environment_id`; one that is
/// already gone counts as removed.
pub(crate) fn delete(environment_id: &str, snapshot_id: &str) -> Result<(), ProviderError> {
    match container::remove_image(&image_reference(environment_id, snapshot_id)) {
        Ok(()) | Err(ProviderError::NotFound(_)) => Ok(()),
        Err(err) => Err(err),
    }
}

fn image_reference(environment_id: &str, snapshot_id: &str) -> String {
    format!("{SNAPSHOT_REPOSITORY}/{environment_id}:{snapshot_id}")
}

fn snapshot_from_image(image: SnapshotImage) -> Snapshot {
    Snapshot {
        id: image.name.clone(),
        name: image.name,
        image: image.reference,
        created_at: image.created_at,
        size_bytes: image.size_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_reference_uses_host_repository() {
        assert_eq!(
            image_reference("01jabc", "before-upgrade"),
            "envhost-snapshot/01jabc:before-upgrade"
        );
    }

    #[test]
    fn snapshot_id_is_image_tag() {
        let snapshot = snapshot_from_image(SnapshotImage {
            id: "sha256:abc".to_owned(),
            reference: "envhost-snapshot/01jabc:v1".to_owned(),
            name: "v1".to_owned(),
            created_at: "2026-01-02T03:04:05Z".to_owned(),
            size_bytes: Some(42),
        });
        assert_eq!(snapshot.id, "v1");
        assert_eq!(snapshot.name, "v1");
        assert_eq!(snapshot.image, "envhost-snapshot/01jabc:v1");
        assert_eq!(snapshot.size_bytes, Some(42));
    }
}
