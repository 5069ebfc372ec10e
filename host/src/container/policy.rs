//! Limits on what adapters may request from the engine: allowed images,
//! workspace roots for bind mounts, the publish address and resource maxima.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::ContainerError;

/// Socket paths where Docker engines listen by default. A bind mount of one of
/// them, or of a directory above one, would hand the container the engine.
const WELL_KNOWN_ENGINE_SOCKETS: [&str; 2] = ["/var/run/docker.sock", "/run/docker.sock"];

/// Security policy applied to every container call of every adapter.
///
/// The defaults (from [`Policy::default`]) allow every local image, no
/// pulls, no bind mounts (no workspace roots), publish on `127.0.0.1`, and set
/// no cpu, memory or pids limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Glob patterns (globset syntax, where `*` also matches `/`) an image
    /// reference must match, such as `envhost/*`. A reference without a tag
    /// or digest is also tried with `:latest` appended. Empty allows every
    /// image.
    pub allowed_images: Vec<String>,
    /// Whether an allowed image that is not present locally may be pulled.
    pub allow_pulls: bool,
    /// Directories under which bind mount sources must lie. Empty denies
    /// every bind mount.
    pub workspace_roots: Vec<PathBuf>,
    /// Host address every port is published on.
    pub publish_address: IpAddr,
    /// Maximum CPU limit in billionths of a CPU, and the limit of a container
    /// that requests none. `None` sets no maximum.
    pub max_nano_cpus: Option<u64>,
    /// Maximum memory limit in bytes, and the limit of a container that
    /// requests none. `None` sets no maximum.
    pub max_memory_bytes: Option<u64>,
    /// Maximum number of processes in each container. `None` leaves the
    /// engine's default, which is unlimited.
    pub pids_limit: Option<i64>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allowed_images: Vec::new(),
            allow_pulls: false,
            workspace_roots: Vec::new(),
            publish_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            max_nano_cpus: None,
            max_memory_bytes: None,
            pids_limit: None,
        }
    }
}

impl Policy {
    /// Resolves a bind mount source and checks it against the workspace
    /// roots, returning the canonical path to hand to the engine.
    ///
    /// Symlinks and `..` are resolved in both the path and the roots before
    /// the comparison, so neither can lead outside a root.
    ///
    /// # Errors
    ///
    /// `InvalidRequest` when the path is relative or does not exist, and
    /// `Denied` (rule `workspace`) when it lies outside every root, is a Unix
    /// socket, or contains a well-known Docker socket.
    pub fn check_workspace(&self, path: &Path) -> Result<PathBuf, ContainerError> {
        self.check_workspace_excluding(path, &[])
    }

    /// Like [`Policy::check_workspace`], and also denies a path that is or
    /// contains one of `engine_sockets`.
    pub(crate) fn check_workspace_excluding(
        &self,
        path: &Path,
        engine_sockets: &[PathBuf],
    ) -> Result<PathBuf, ContainerError> {
        let path_display = path.display();
        if !path.is_absolute() {
            return Err(ContainerError::InvalidRequest(format!(
                "bind mount source `{path_display}` is not an absolute path"
            )));
        }

        let canonical = path.canonicalize().map_err(|err| match err.kind() {
            io::ErrorKind::NotFound => ContainerError::InvalidRequest(format!(
                "bind mount source `{path_display}` does not exist"
            )),
            _ => ContainerError::InvalidRequest(format!(
                "failed to resolve bind mount source `{path_display}`: {err}"
            )),
        })?;

        let inside_a_root = self
            .workspace_roots
            .iter()
            .filter_map(|root| root.canonicalize().ok())
            .any(|root| canonical.starts_with(root));
        if !inside_a_root {
            return Err(ContainerError::denied(
                "workspace",
                format!("bind mount source `{path_display}` is outside the workspace roots"),
            ));
        }

        if is_unix_socket(&canonical) {
            return Err(ContainerError::denied(
                "workspace",
                format!("bind mount source `{path_display}` is a Unix socket"),
            ));
        }

        let well_known = WELL_KNOWN_ENGINE_SOCKETS.iter().map(PathBuf::from);
        for socket in well_known.chain(engine_sockets.iter().cloned()) {
            let Ok(socket) = socket.canonicalize() else {
                continue;
            };
            if socket.starts_with(&canonical) {
                return Err(ContainerError::denied(
                    "workspace",
                    format!(
                        "bind mount source `{path_display}` contains the Docker socket `{}`",
                        socket.display()
                    ),
                ));
            }
        }

        Ok(canonical)
    }
}

#[cfg(unix)]
fn is_unix_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    path.metadata()
        .is_ok_and(|meta| meta.file_type().is_socket())
}

#[cfg(not(unix))]
fn is_unix_socket(_path: &Path) -> bool {
    false
}

/// Compiled form of [`Policy::allowed_images`].
#[derive(Clone, Debug)]
pub(crate) struct ImageRules {
    /// `None` allows every image.
    globs: Option<GlobSet>,
}

impl ImageRules {
    /// Compiles the patterns.
    pub(crate) fn new(patterns: &[String]) -> Result<Self, ContainerError> {
        if patterns.is_empty() {
            return Ok(Self { globs: None });
        }

        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            let glob = Glob::new(pattern).map_err(|err| {
                ContainerError::InvalidPolicy(format!(
                    "invalid allowed image pattern `{pattern}`: {err}"
                ))
            })?;
            builder.add(glob);
        }
        let globs = builder.build().map_err(|err| {
            ContainerError::InvalidPolicy(format!("invalid allowed image patterns: {err}"))
        })?;
        Ok(Self { globs: Some(globs) })
    }

    /// Checks that `image` is a well-formed reference that the policy allows.
    pub(crate) fn check(&self, image: &str) -> Result<(), ContainerError> {
        validate_image_reference(image)?;

        let Some(globs) = &self.globs else {
            return Ok(());
        };
        if globs.is_match(image) || globs.is_match(with_default_tag(image)) {
            return Ok(());
        }
        Err(ContainerError::denied(
            "allowed-images",
            format!("image `{image}` does not match the allowed images"),
        ))
    }
}

/// Rejects image references that are empty or could change the meaning of the
/// engine URL they are placed in (`/images/{image}/json`).
pub(crate) fn validate_image_reference(image: &str) -> Result<(), ContainerError> {
    let valid_chars = image
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-/:@+".contains(&b));
    let valid_segments = image
        .split('/')
        .all(|segment| !matches!(segment, "" | "." | ".."));
    if image.is_empty() || image.len() > 512 || !valid_chars || !valid_segments {
        return Err(ContainerError::InvalidRequest(format!(
            "invalid image reference `{image}`"
        )));
    }
    Ok(())
}

/// Appends `:latest` to a reference that has neither a tag nor a digest, which
/// is what the engine does when it resolves the reference.
pub(crate) fn with_default_tag(image: &str) -> String {
    let last_segment = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last_segment.contains(':') {
        image.to_owned()
    } else {
        format!("{image}:latest")
    }
}

/// Checks a network mode or network name an adapter requests for a container.
///
/// `none`, `bridge`, `default` and user network names are allowed. `host` and
/// every `kind:value` mode (`container:<id>` shares another container's
/// network namespace) are denied.
pub(crate) fn check_network_mode(mode: &str) -> Result<(), ContainerError> {
    if mode == "host" {
        return Err(ContainerError::denied(
            "network-mode",
            "network mode `host` is not allowed",
        ));
    }
    if mode.contains(':') {
        return Err(ContainerError::denied(
            "network-mode",
            format!(
                "network mode `{mode}` is not allowed: only `none`, `bridge` or a network name"
            ),
        ));
    }
    validate_network_name(mode)
}

/// Accepts only the characters Docker allows in container names,
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, so that a network name is safe in filters.
pub(crate) fn validate_network_name(name: &str) -> Result<(), ContainerError> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    let valid_start = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if !valid_chars || !valid_start || name.len() > 128 {
        return Err(ContainerError::InvalidRequest(format!(
            "invalid network name `{name}`: expected ASCII letters, digits, `_`, `.` or `-`, \
             starting with a letter or digit"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_of(err: ContainerError) -> &'static str {
        match err {
            ContainerError::Denied { rule, .. } => rule,
            other => panic!("expected a denial, got {other:?}"),
        }
    }

    #[test]
    fn default_tag_keeps_explicit_tags() {
        assert_eq!(with_default_tag("busybox"), "busybox:latest");
        assert_eq!(with_default_tag("busybox:1.36"), "busybox:1.36");
        assert_eq!(
            with_default_tag("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(with_default_tag("app@sha256:abcd"), "app@sha256:abcd");
    }

    #[test]
    fn image_rules_match_globs_and_implicit_latest() {
        let rules = ImageRules::new(&["envhost/*".into(), "busybox:latest".into()]).unwrap();
        assert!(rules.check("envhost/busybox:test").is_ok());
        assert!(rules.check("busybox").is_ok());
        assert_eq!(
            rule_of(rules.check("alpine:3").unwrap_err()),
            "allowed-images"
        );
    }

    #[test]
    fn image_rules_reject_references_that_alter_the_url() {
        let rules = ImageRules::new(&[]).unwrap();
        for bad in ["", "../containers/x", "a?b", "a b", "a//b", "a%2f"] {
            let err = rules.check(bad).unwrap_err();
            assert!(
                matches!(err, ContainerError::InvalidRequest(_)),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn invalid_image_pattern_is_a_policy_error() {
        let err = ImageRules::new(&["[".into()]).unwrap_err();
        assert!(matches!(err, ContainerError::InvalidPolicy(_)), "{err:?}");
    }

    #[test]
    fn network_mode_denies_host_and_namespace_sharing() {
        assert_eq!(
            rule_of(check_network_mode("host").unwrap_err()),
            "network-mode"
        );
        assert_eq!(
            rule_of(check_network_mode("container:abc").unwrap_err()),
            "network-mode"
        );
        for allowed in ["none", "bridge", "default", "envhost-net_1"] {
            assert!(check_network_mode(allowed).is_ok(), "{allowed}");
        }
    }

    #[test]
    fn workspace_check_resolves_dot_dot_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("project")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
        let policy = Policy {
            workspace_roots: vec![root.clone()],
            ..Policy::default()
        };

        let inside = policy.check_workspace(&root.join("project")).unwrap();
        assert_eq!(inside, root.join("project").canonicalize().unwrap());

        let dotdot = policy.check_workspace(&root.join("../outside"));
        assert_eq!(rule_of(dotdot.unwrap_err()), "workspace");
        let symlink = policy.check_workspace(&root.join("escape"));
        assert_eq!(rule_of(symlink.unwrap_err()), "workspace");
    }

    #[test]
    fn workspace_check_rejects_missing_and_relative_sources() {
        let dir = tempfile::tempdir().unwrap();
        let policy = Policy {
            workspace_roots: vec![dir.path().to_owned()],
            ..Policy::default()
        };
        let missing = policy
            .check_workspace(&dir.path().join("missing"))
            .unwrap_err();
        assert!(
            matches!(missing, ContainerError::InvalidRequest(_)),
            "{missing:?}"
        );
        let relative = policy.check_workspace(Path::new("ws")).unwrap_err();
        assert!(
            matches!(relative, ContainerError::InvalidRequest(_)),
            "{relative:?}"
        );
    }

    #[test]
    fn workspace_check_denies_engine_socket_and_its_parents() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("engine.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let policy = Policy {
            workspace_roots: vec![dir.path().to_owned()],
            ..Policy::default()
        };

        let direct = policy.check_workspace(&socket).unwrap_err();
        assert_eq!(rule_of(direct), "workspace");
        let parent = policy
            .check_workspace_excluding(dir.path(), std::slice::from_ref(&socket))
            .unwrap_err();
        assert_eq!(rule_of(parent), "workspace");
    }
}
