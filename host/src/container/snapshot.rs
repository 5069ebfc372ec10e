//! Snapshot images: a container of this host committed to an image whose
//! repository and labels the host sets, so that an adapter can neither
//! overwrite another image nor remove one it did not commit.

use std::collections::HashMap;

use bollard::models::{ContainerConfig, ImageSummary};
use bollard::query_parameters::{
    CommitContainerOptions, ListImagesOptions, RemoveImageOptionsBuilder,
};
use chrono::{DateTime, SecondsFormat, Utc};
use tracing::{info, instrument};

use super::{
    ContainerError, ContainerHost, LABEL_ADAPTER, LABEL_ENVIRONMENT, LABEL_HOST, LABEL_MANAGED,
    container_labels, log_outcome,
};
use crate::ids::{AdapterName, EnvironmentId};

/// Repository of every snapshot image: `envhost-snapshot/<environment
/// id>:<snapshot name>`. An operator who restricts `allowed_images` adds
/// `envhost-snapshot/*` to create environments from snapshots.
pub const SNAPSHOT_REPOSITORY: &str = "envhost-snapshot";

/// Label holding the snapshot name on every snapshot image.
pub const LABEL_SNAPSHOT: &str = "envhost.snapshot";

/// Maximum length of a snapshot name, in bytes.
pub const MAX_SNAPSHOT_NAME_LEN: usize = 64;

/// An image committed from a container of this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotImage {
    /// Engine image id, `sha256:…`.
    pub id: String,
    /// `envhost-snapshot/<environment id>:<name>`.
    pub reference: String,
    /// Snapshot name, the tag of `reference`.
    pub name: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Size of the image in bytes, when the engine reports it.
    pub size_bytes: Option<u64>,
}

/// Checks a snapshot name: 1 to 64 characters of `[a-z0-9_.-]`, starting
/// with a letter or digit, which is also a valid image tag.
///
/// # Errors
///
/// `InvalidRequest` naming the value.
pub fn validate_snapshot_name(name: &str) -> Result<(), ContainerError> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    let valid_start = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !valid_chars || !valid_start || name.len() > MAX_SNAPSHOT_NAME_LEN {
        return Err(ContainerError::InvalidRequest(format!(
            "invalid snapshot name `{name}`: expected 1 to {MAX_SNAPSHOT_NAME_LEN} lowercase \
             letters, digits, `_`, `.` or `-`, starting with a letter or digit"
        )));
    }
    Ok(())
}

/// Returns the repository of the snapshots of `environment`.
///
/// # Errors
///
/// `InvalidRequest` when the id is not a valid repository path component
/// (uppercase letters, a trailing or doubled separator), because caller-chosen
/// ids allow what Docker repository names do not.
pub fn snapshot_repository(environment: &EnvironmentId) -> Result<String, ContainerError> {
    let id = environment.as_str();
    if !is_repository_component(id) {
        return Err(ContainerError::InvalidRequest(format!(
            "environment id `{id}` can not name a snapshot image: Docker repository names \
             allow only lowercase letters and digits joined by single `.` or `_`, `__` or `-`"
        )));
    }
    Ok(format!("{SNAPSHOT_REPOSITORY}/{id}"))
}

/// Whether `value` matches Docker's path component grammar,
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_repository_component(value: &str) -> bool {
    let is_alphanumeric = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = value.as_bytes();
    if bytes.is_empty() || !is_alphanumeric(bytes[0]) || !is_alphanumeric(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut separator = String::new();
    for &b in bytes {
        if is_alphanumeric(b) {
            let valid = matches!(separator.as_str(), "" | "." | "_" | "__")
                || separator.bytes().all(|s| s == b'-');
            if !valid {
                return false;
            }
            separator.clear();
        } else if b"._-".contains(&b) {
            separator.push(char::from(b));
        } else {
            return false;
        }
    }
    true
}

impl ContainerHost {
    /// Commits `container` to `envhost-snapshot/<environment id>:<name>`.
    /// The container must be owned by `adapter` on this host and belong to
    /// `environment`, the environment of the current call. The image gets
    /// the ownership labels and `envhost.snapshot`.
    ///
    /// # Errors
    ///
    /// `InvalidRequest` for a malformed name, `Denied` (rule `ownership` or
    /// `environment`) for a container of another host, adapter or
    /// environment, `Conflict` when the name is taken, and engine failures.
    #[instrument(
        name = "container.commit",
        skip_all,
        fields(adapter = %adapter, environment = %environment, container = %container, snapshot = %name)
    )]
    pub async fn commit(
        &self,
        adapter: &AdapterName,
        environment: &EnvironmentId,
        container: &str,
        name: &str,
    ) -> Result<SnapshotImage, ContainerError> {
        let result = self.commit_container(adapter, environment, container, name);
        log_outcome("commit", result.await)
    }

    async fn commit_container(
        &self,
        adapter: &AdapterName,
        environment: &EnvironmentId,
        container: &str,
        name: &str,
    ) -> Result<SnapshotImage, ContainerError> {
        validate_snapshot_name(name)?;
        let repository = snapshot_repository(environment)?;
        let response = self.owned(adapter, container).await?;
        let labels = container_labels(&response);
        if labels.get(LABEL_ENVIRONMENT).map(String::as_str) != Some(environment.as_str()) {
            return Err(ContainerError::denied(
                "environment",
                format!(
                    "container `{container}` does not belong to environment `{environment}`, \
                     the environment of the current call"
                ),
            ));
        }

        let reference = format!("{repository}:{name}");
        // The engine would move the tag to the new image and leave the old
        // one untagged, so a taken name is refused instead.
        if !self.snapshot_images(&reference).await?.is_empty() {
            return Err(ContainerError::Conflict(format!(
                "snapshot `{name}` of environment `{environment}` exists: delete it first or \
                 choose another name"
            )));
        }

        let mut image_labels = self.ownership_labels(adapter, environment);
        image_labels.insert(LABEL_SNAPSHOT.to_owned(), name.to_owned());
        let options = CommitContainerOptions {
            container: Some(response.id.unwrap_or_default()),
            repo: Some(repository),
            tag: Some(name.to_owned()),
            comment: Some(format!(
                "envhost snapshot `{name}` of environment `{environment}`"
            )),
            // Pausing keeps the file system consistent while it is copied.
            pause: true,
            ..CommitContainerOptions::default()
        };
        let config = ContainerConfig {
            labels: Some(image_labels),
            ..ContainerConfig::default()
        };
        let committed = self
            .inner
            .docker
            .commit_container(options, config)
            .await
            .map_err(|err| {
                ContainerError::from_engine(
                    format!("failed to commit container `{container}` to `{reference}`"),
                    err,
                )
            })?;
        info!(image_id = %committed.id, image = %reference, "committed snapshot image");

        let image = self
            .snapshot_images(&reference)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ContainerError::NotFound {
                message: format!("snapshot image `{reference}` vanished right after the commit"),
            })?;
        Ok(image)
    }

    /// Lists the snapshot images `adapter` committed for `environment` on
    /// this host, oldest first.
    ///
    /// # Errors
    ///
    /// `InvalidRequest` for an environment id that can not name an image,
    /// and engine failures.
    #[instrument(
        name = "container.list_images",
        skip_all,
        fields(adapter = %adapter, environment = %environment)
    )]
    pub async fn list_snapshot_images(
        &self,
        adapter: &AdapterName,
        environment: &EnvironmentId,
    ) -> Result<Vec<SnapshotImage>, ContainerError> {
        let result = async {
            let repository = snapshot_repository(environment)?;
            let filters = vec![
                format!("{LABEL_HOST}={}", self.inner.host_id),
                format!("{LABEL_ADAPTER}={adapter}"),
                format!("{LABEL_ENVIRONMENT}={environment}"),
            ];
            let summaries = self.list_images_by(Some(&repository), filters).await?;
            let mut images: Vec<(i64, SnapshotImage)> = summaries
                .into_iter()
                .filter(|summary| self.owns_image(adapter, environment, &summary.labels))
                .flat_map(|summary| {
                    let created = summary.created;
                    snapshot_images_of(&repository, summary)
                        .into_iter()
                        .map(move |image| (created, image))
                })
                .collect();
            images.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
            Ok(images.into_iter().map(|(_, image)| image).collect())
        };
        log_outcome("list_images", result.await)
    }

    /// Removes a snapshot image by reference or id. Only images carrying this
    /// host's id, `adapter` and `environment` in their labels are removed.
    ///
    /// # Errors
    ///
    /// `NotFound` for an absent image, `Denied` (rule `ownership`) for an
    /// image of anything else, `InvalidRequest` for a malformed reference,
    /// `Conflict` when a container still uses it, and engine failures.
    #[instrument(
        name = "container.remove_image",
        skip_all,
        fields(adapter = %adapter, environment = %environment, image = %image)
    )]
    pub async fn remove_snapshot_image(
        &self,
        adapter: &AdapterName,
        environment: &EnvironmentId,
        image: &str,
    ) -> Result<(), ContainerError> {
        let result = async {
            super::policy::validate_image_reference(image)?;
            let inspected = self
                .inner
                .docker
                .inspect_image(image)
                .await
                .map_err(|err| {
                    ContainerError::from_engine(format!("failed to inspect image `{image}`"), err)
                })?;
            let labels = inspected
                .config
                .and_then(|config| config.labels)
                .unwrap_or_default();
            if !self.owns_image(adapter, environment, &labels) {
                return Err(ContainerError::denied(
                    "ownership",
                    format!(
                        "image `{image}` is not a snapshot of environment `{environment}` \
                         committed by adapter `{adapter}` on this host"
                    ),
                ));
            }
            // Not forced: an image that a container still uses, or that
            // carries more tags, stays, and the engine reports a conflict.
            let options = RemoveImageOptionsBuilder::new().force(false).build();
            self.inner
                .docker
                .remove_image(image, Some(options), None)
                .await
                .map_err(|err| {
                    ContainerError::from_engine(format!("failed to remove image `{image}`"), err)
                })?;
            info!("removed snapshot image");
            Ok(())
        };
        log_outcome("remove_image", result.await)
    }

    /// Force-removes every image labelled with this host's id and
    /// `environment`, whichever adapter committed it, and returns how many
    /// were removed. Conformance runs use it to clean up after adapters
    /// whose `delete-snapshot` is broken.
    ///
    /// # Errors
    ///
    /// Engine failures; images that vanish meanwhile are not errors.
    #[instrument(name = "container.remove_environment_images", skip_all, fields(environment = %environment))]
    pub async fn remove_environment_images(
        &self,
        environment: &EnvironmentId,
    ) -> Result<usize, ContainerError> {
        let result = async {
            let filters = vec![
                format!("{LABEL_HOST}={}", self.inner.host_id),
                format!("{LABEL_ENVIRONMENT}={environment}"),
            ];
            let summaries = self.list_images_by(None, filters).await?;
            let mut removed = 0;
            for summary in summaries {
                let options = RemoveImageOptionsBuilder::new().force(true).build();
                match self
                    .inner
                    .docker
                    .remove_image(&summary.id, Some(options), None)
                    .await
                {
                    Ok(_) => removed += 1,
                    Err(err) => {
                        let err = ContainerError::from_engine(
                            format!("failed to remove image `{}`", summary.id),
                            err,
                        );
                        if !err.is_not_found() {
                            return Err(err);
                        }
                    }
                }
            }
            if removed > 0 {
                info!(removed, "removed environment snapshot images");
            }
            Ok(removed)
        };
        log_outcome("remove_environment_images", result.await)
    }

    fn owns_image(
        &self,
        adapter: &AdapterName,
        environment: &EnvironmentId,
        labels: &HashMap<String, String>,
    ) -> bool {
        let has = |key: &str, value: &str| labels.get(key).map(String::as_str) == Some(value);
        has(LABEL_MANAGED, "true")
            && has(LABEL_HOST, self.inner.host_id.as_str())
            && has(LABEL_ADAPTER, adapter.as_str())
            && has(LABEL_ENVIRONMENT, environment.as_str())
            && labels.contains_key(LABEL_SNAPSHOT)
    }

    /// Lists the snapshot images tagged `reference` (a repository and tag),
    /// whoever committed them.
    async fn snapshot_images(&self, reference: &str) -> Result<Vec<SnapshotImage>, ContainerError> {
        let (repository, _) = reference.rsplit_once(':').unwrap_or((reference, ""));
        let summaries = self.list_images_by(Some(reference), Vec::new()).await?;
        Ok(summaries
            .into_iter()
            .flat_map(|summary| snapshot_images_of(repository, summary))
            .filter(|image| image.reference == reference)
            .collect())
    }

    async fn list_images_by(
        &self,
        reference: Option<&str>,
        label_filters: Vec<String>,
    ) -> Result<Vec<ImageSummary>, ContainerError> {
        let mut filters = HashMap::new();
        if let Some(reference) = reference {
            filters.insert("reference".to_owned(), vec![reference.to_owned()]);
        }
        if !label_filters.is_empty() {
            filters.insert("label".to_owned(), label_filters);
        }
        let options = ListImagesOptions {
            filters: Some(filters),
            ..ListImagesOptions::default()
        };
        self.inner
            .docker
            .list_images(Some(options))
            .await
            .map_err(|err| ContainerError::from_engine("failed to list images", err))
    }
}

/// Returns one [`SnapshotImage`] per tag of `summary` in `repository`.
fn snapshot_images_of(repository: &str, summary: ImageSummary) -> Vec<SnapshotImage> {
    let created_at = DateTime::<Utc>::from_timestamp(summary.created, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let size_bytes = u64::try_from(summary.size).ok();
    summary
        .repo_tags
        .iter()
        .filter_map(|tag| {
            let (tag_repository, name) = tag.rsplit_once(':')?;
            (tag_repository == repository).then(|| SnapshotImage {
                id: summary.id.clone(),
                reference: tag.clone(),
                name: name.to_owned(),
                created_at: created_at.clone(),
                size_bytes,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejects(name: &str) -> bool {
        matches!(
            validate_snapshot_name(name),
            Err(ContainerError::InvalidRequest(message)) if message.contains(&format!("`{name}`"))
        )
    }

    #[test]
    fn snapshot_name_accepts_tag_like_names() {
        for name in ["a", "0", "before-upgrade", "v1.2_3", &"a".repeat(64)] {
            assert!(validate_snapshot_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn snapshot_name_rejects_invalid_names() {
        let too_long = "a".repeat(65);
        for name in [
            "", "Upper", "-dash", ".dot", "_under", "a/b", "a:b", "a b", &too_long,
        ] {
            assert!(rejects(name), "{name:?} was accepted");
        }
    }

    #[test]
    fn repository_component_follows_docker_grammar() {
        for valid in ["abc", "a.b", "a_b", "a__b", "a-b", "a---b", "0190a1b2c3d4"] {
            assert!(is_repository_component(valid), "{valid}");
        }
        for invalid in ["", "Abc", "a-", "-a", "a_", "a-_b", "a___b", "a..b", "a._b"] {
            assert!(!is_repository_component(invalid), "{invalid}");
        }
    }

    #[test]
    fn snapshot_repository_rejects_uppercase_ids() {
        let id = EnvironmentId::parse("Env1").unwrap();
        let err = snapshot_repository(&id).unwrap_err();
        assert!(err.to_string().contains("`Env1`"), "{err}");

        let id = EnvironmentId::parse("env-1").unwrap();
        assert_eq!(snapshot_repository(&id).unwrap(), "envhost-snapshot/env-1");
    }

    #[test]
    fn snapshot_images_keep_only_tags_of_repository() {
        let summary = ImageSummary {
            id: "sha256:abc".to_owned(),
            repo_tags: vec![
                "envhost-snapshot/e1:v1".to_owned(),
                "other/e1:v1".to_owned(),
                "envhost-snapshot/e1:v2".to_owned(),
            ],
            created: 0,
            size: 1024,
            ..ImageSummary::default()
        };
        let images = snapshot_images_of("envhost-snapshot/e1", summary);
        let names: Vec<&str> = images.iter().map(|image| image.name.as_str()).collect();
        assert_eq!(names, ["v1", "v2"]);
        assert_eq!(images[0].created_at, "1970-01-01T00:00:00Z");
        assert_eq!(images[0].size_bytes, Some(1024));
    }
}
