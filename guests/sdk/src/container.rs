//! The host's container API, backed by the local Docker engine.
//!
//! Every call passes the host's policy first: allowed images, workspace
//! roots, no privileged mode or host namespaces, ports published on the
//! host's publish address, capped cpu and memory. The host names the
//! container of an environment [`container_name`] and labels it with the
//! adapter and the environment, so an adapter finds it again from the id
//! alone and keeps no state of its own.

pub use crate::bindings::base::envhost::provider::container::{
    ContainerInfo, ContainerSpec, ContainerState, ContainerSummary, ExecOutput, ImageInfo, Mount,
    Port, PublishedPort, SnapshotImage, commit, create, exec, image_exists, image_inspect, inspect,
    list, list_images, logs, network_ensure, remove, remove_image, start, stop,
};

use crate::error::Result;
use crate::quantity::{parse_cpu_nanos, parse_memory_bytes};
use crate::types::Resources;

/// Returns the name the host gives the container of `environment_id`:
/// `envhost-<environment id>`.
pub fn container_name(environment_id: &str) -> String {
    format!("envhost-{environment_id}")
}

impl ContainerSpec {
    /// Builds a spec that runs `image` with its own command and entrypoint,
    /// the engine's init process, no mounts, ports, limits or labels, on the
    /// engine's default bridge. Fields are public: set what you need.
    pub fn new(image: impl Into<String>) -> Self {
        ContainerSpec {
            image: image.into(),
            command: None,
            entrypoint: None,
            env: Vec::new(),
            labels: Vec::new(),
            mounts: Vec::new(),
            ports: Vec::new(),
            working_dir: None,
            nano_cpus: None,
            memory_bytes: None,
            network: None,
            extra_hosts: Vec::new(),
            auto_remove: false,
            init: true,
            privileged: false,
            network_mode: None,
            cap_add: Vec::new(),
            devices: Vec::new(),
        }
    }
}

/// Engine limits derived from resource requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// CPU limit in billionths of a CPU, for [`ContainerSpec::nano_cpus`].
    pub nano_cpus: Option<u64>,
    /// Memory limit in bytes, for [`ContainerSpec::memory_bytes`].
    pub memory_bytes: Option<u64>,
    /// Requested resources the engine does not enforce (`disk`, `gpu`), to
    /// be reported as advisory.
    pub not_enforced: Vec<&'static str>,
}

/// Converts resource requests into engine limits: cpu to billionths of a
/// CPU, memory to bytes. `disk` and `gpu` are listed as not enforced.
///
/// # Errors
///
/// `invalid-request` naming a cpu or memory value that is not a quantity.
pub fn limits(resources: &Resources) -> Result<Limits> {
    let nano_cpus = resources.cpu.as_deref().map(parse_cpu_nanos).transpose();
    let memory_bytes = resources
        .memory
        .as_deref()
        .map(parse_memory_bytes)
        .transpose();

    let mut not_enforced = Vec::new();
    if resources.disk.is_some() {
        not_enforced.push("disk");
    }
    if resources.gpu.is_some() {
        not_enforced.push("gpu");
    }

    Ok(Limits {
        nano_cpus: nano_cpus?,
        memory_bytes: memory_bytes?,
        not_enforced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_name_has_host_prefix() {
        assert_eq!(container_name("01jabc"), "envhost-01jabc");
    }

    #[test]
    fn new_spec_grants_nothing_extra() {
        let spec = ContainerSpec::new("img:1");
        assert_eq!(spec.image, "img:1");
        assert!(spec.init);
        assert!(!spec.privileged);
        assert!(spec.cap_add.is_empty());
        assert!(spec.devices.is_empty());
        assert_eq!(spec.network_mode, None);
    }

    #[test]
    fn limits_convert_cpu_and_memory() {
        let resources = Resources {
            cpu: Some("1500m".to_owned()),
            memory: Some("64Mi".to_owned()),
            ..Resources::none()
        };
        let limits = limits(&resources).unwrap();

        assert_eq!(limits.nano_cpus, Some(1_500_000_000));
        assert_eq!(limits.memory_bytes, Some(67_108_864));
        assert!(limits.not_enforced.is_empty());
    }

    #[test]
    fn limits_report_disk_and_gpu_as_not_enforced() {
        let resources = Resources {
            disk: Some("10Gi".to_owned()),
            gpu: Some("1".to_owned()),
            ..Resources::none()
        };
        assert_eq!(limits(&resources).unwrap().not_enforced, ["disk", "gpu"]);
    }

    #[test]
    fn limits_reject_bad_quantity_naming_it() {
        let resources = Resources {
            memory: Some("5Mb".to_owned()),
            ..Resources::none()
        };
        let err = limits(&resources).unwrap_err();
        assert!(
            matches!(&err, crate::Error::InvalidRequest(message) if message.contains("`5Mb`")),
            "{err:?}"
        );
    }
}
