//! Turning a request, its template and the adapter's options into the
//! container to create.

use std::collections::{BTreeMap, BTreeSet};

pub(crate) use envhost_guest::container::{Limits, limits};

use crate::options::{Options, Template, invalid};
use envhost_guest::container::{ContainerSpec, Mount, Port};
use envhost_guest::types::{ProviderError, Resources};

/// Label that records the template a container was created from, so that a
/// later status read names its endpoints the same way.
pub(crate) const TEMPLATE_LABEL: &str = "docker-adapter.template";

/// What to run once the template and the options' defaults are applied to a
/// request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Workload {
    pub(crate) image: String,
    /// None keeps the image's command.
    pub(crate) command: Option<Vec<String>>,
    /// Sorted by name. Request values override template values.
    pub(crate) env: Vec<(String, String)>,
    pub(crate) resources: Resources,
    pub(crate) workspace_path: Option<String>,
    pub(crate) template_id: Option<String>,
}

/// The request fields that can override a template.
#[derive(Debug, Clone)]
pub(crate) struct Overrides {
    pub(crate) image: Option<String>,
    pub(crate) command: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) resources: Resources,
    pub(crate) workspace_path: Option<String>,
}

impl Workload {
    /// Applies a request's fields over its template (`template_id` selects it
    /// from `options`) and the options' `defaultImage`.
    ///
    /// # Errors
    ///
    /// `invalid-request` when the template id is unknown or no image is named
    /// by the request, the template or `defaultImage`.
    pub(crate) fn resolve(
        options: &Options,
        template_id: Option<&str>,
        overrides: Overrides,
    ) -> Result<Workload, ProviderError> {
        let template = options.template(template_id)?;
        let template = template.cloned().unwrap_or_default();

        let image = overrides
            .image
            .filter(|image| !image.is_empty())
            .or(template.image)
            .or_else(|| options.default_image.clone())
            .ok_or_else(|| {
                invalid(
                    "no image: set `image` in the request, in its template or as the adapter's \
                     `defaultImage` option"
                        .to_owned(),
                )
            })?;

        let command = if !overrides.command.is_empty() {
            Some(overrides.command)
        } else if !template.command.is_empty() {
            Some(template.command)
        } else {
            None
        };

        let mut env: BTreeMap<String, String> = template.env;
        env.extend(overrides.env);

        let requested = overrides.resources;
        let defaults = template.resources;
        let resources = Resources {
            cpu: requested.cpu.or(defaults.cpu),
            memory: requested.memory.or(defaults.memory),
            disk: requested.disk.or(defaults.disk),
            gpu: requested.gpu.or(defaults.gpu),
        };

        Ok(Workload {
            image,
            command,
            env: env.into_iter().collect(),
            resources,
            workspace_path: overrides.workspace_path,
            template_id: template_id.map(str::to_owned),
        })
    }
}

/// Lists the ports to publish: every port the image exposes plus the
/// template's, once each, on a host port and address the host chooses.
pub(crate) fn ports_to_publish(
    exposed: &[(u16, String)],
    template: Option<&Template>,
) -> Vec<Port> {
    let mut ports: BTreeSet<(u16, String)> = exposed.iter().cloned().collect();
    for port in template
        .map(|template| template.ports.as_slice())
        .unwrap_or_default()
    {
        ports.insert((port.port, port.protocol.as_str().to_owned()));
    }

    ports
        .into_iter()
        .map(|(container_port, protocol)| Port {
            container_port,
            protocol,
            host_port: None,
            host_ip: None,
        })
        .collect()
}

/// Builds the container to create for a workload.
///
/// `network` is passed separately because a two-phase start uses the network
/// its reservation ensured, not the current option.
pub(crate) fn container_spec(
    options: &Options,
    workload: &Workload,
    limits: &Limits,
    ports: Vec<Port>,
    network: Option<&str>,
) -> ContainerSpec {
    let mounts = match &workload.workspace_path {
        Some(source) if options.mount_workspace => vec![Mount {
            source: source.clone(),
            target: options.workspace_mount_path.clone(),
            read_only: false,
        }],
        _ => Vec::new(),
    };
    let labels = workload
        .template_id
        .iter()
        .map(|id| (TEMPLATE_LABEL.to_owned(), id.clone()))
        .collect();

    ContainerSpec {
        image: workload.image.clone(),
        command: workload.command.clone(),
        entrypoint: None,
        env: workload.env.clone(),
        labels,
        mounts,
        ports,
        working_dir: None,
        nano_cpus: limits.nano_cpus,
        memory_bytes: limits.memory_bytes,
        network: network.map(str::to_owned),
        extra_hosts: options.extra_hosts.clone(),
        auto_remove: options.auto_remove,
        init: options.init,
        privileged: false,
        network_mode: None,
        cap_add: Vec::new(),
        devices: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_resources() -> Resources {
        Resources {
            cpu: None,
            memory: None,
            disk: None,
            gpu: None,
        }
    }

    fn overrides() -> Overrides {
        Overrides {
            image: None,
            command: Vec::new(),
            env: Vec::new(),
            resources: no_resources(),
            workspace_path: None,
        }
    }

    fn options_with_web_template() -> Options {
        Options::parse(
            r#"{
                "defaultImage": "default:1",
                "templates": {"web": {
                    "image": "web:1",
                    "command": ["httpd", "-f"],
                    "env": {"MODE": "dev", "PORT": "8080"},
                    "ports": [{"port": 8080}, {"port": 53, "protocol": "udp"}],
                    "resources": {"cpu": "500m", "memory": "64Mi", "disk": "1Gi"}
                }}
            }"#,
        )
        .unwrap()
    }

    #[test]
    fn template_fills_what_request_leaves_out() {
        let options = options_with_web_template();
        let workload = Workload::resolve(&options, Some("web"), overrides()).unwrap();

        assert_eq!(workload.image, "web:1");
        assert_eq!(
            workload.command,
            Some(vec!["httpd".to_owned(), "-f".to_owned()])
        );
        assert_eq!(
            workload.env,
            [
                ("MODE".to_owned(), "dev".to_owned()),
                ("PORT".to_owned(), "8080".to_owned()),
            ]
        );
        assert_eq!(workload.resources.cpu.as_deref(), Some("500m"));
        assert_eq!(workload.resources.memory.as_deref(), Some("64Mi"));
        assert_eq!(workload.resources.disk.as_deref(), Some("1Gi"));
        assert_eq!(workload.template_id.as_deref(), Some("web"));
    }

    #[test]
    fn request_fields_override_template() {
        let options = options_with_web_template();
        let request = Overrides {
            image: Some("mine:2".to_owned()),
            command: vec!["sleep".to_owned(), "5".to_owned()],
            env: vec![
                ("MODE".to_owned(), "prod".to_owned()),
                ("EXTRA".to_owned(), "1".to_owned()),
            ],
            resources: Resources {
                memory: Some("128Mi".to_owned()),
                ..no_resources()
            },
            workspace_path: Some("/srv/ws/1".to_owned()),
        };
        let workload = Workload::resolve(&options, Some("web"), request).unwrap();

        assert_eq!(workload.image, "mine:2");
        assert_eq!(
            workload.command,
            Some(vec!["sleep".to_owned(), "5".to_owned()])
        );
        assert_eq!(
            workload.env,
            [
                ("EXTRA".to_owned(), "1".to_owned()),
                ("MODE".to_owned(), "prod".to_owned()),
                ("PORT".to_owned(), "8080".to_owned()),
            ]
        );
        assert_eq!(workload.resources.cpu.as_deref(), Some("500m"));
        assert_eq!(workload.resources.memory.as_deref(), Some("128Mi"));
        assert_eq!(workload.workspace_path.as_deref(), Some("/srv/ws/1"));
    }

    #[test]
    fn default_image_applies_without_template() {
        let options = options_with_web_template();
        let workload = Workload::resolve(&options, None, overrides()).unwrap();

        assert_eq!(workload.image, "default:1");
        assert_eq!(workload.command, None);
        assert!(workload.env.is_empty());
    }

    #[test]
    fn missing_image_is_invalid_request() {
        let err = Workload::resolve(&Options::default(), None, overrides()).unwrap_err();
        assert!(
            matches!(&err, ProviderError::InvalidRequest(message) if message.contains("defaultImage")),
            "{err:?}"
        );
    }

    #[test]
    fn unknown_template_is_invalid_request() {
        let options = options_with_web_template();
        let err = Workload::resolve(&options, Some("db"), overrides()).unwrap_err();
        assert!(
            matches!(&err, ProviderError::InvalidRequest(message) if message.contains("`db`")),
            "{err:?}"
        );
    }

    #[test]
    fn limits_convert_cpu_and_memory() {
        let resources = Resources {
            cpu: Some("1500m".to_owned()),
            memory: Some("64Mi".to_owned()),
            ..no_resources()
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
            ..no_resources()
        };
        let limits = limits(&resources).unwrap();

        assert_eq!(limits.nano_cpus, None);
        assert_eq!(limits.memory_bytes, None);
        assert_eq!(limits.not_enforced, ["disk", "gpu"]);
    }

    #[test]
    fn limits_reject_bad_quantity_naming_it() {
        let resources = Resources {
            cpu: Some("lots".to_owned()),
            ..no_resources()
        };
        let err = limits(&resources).unwrap_err();
        assert!(
            matches!(&err, ProviderError::InvalidRequest(message) if message.contains("`lots`")),
            "{err:?}"
        );
    }

    #[test]
    fn published_ports_merge_image_and_template_once_each() {
        let options = options_with_web_template();
        let exposed = [(8080, "tcp".to_owned()), (9000, "tcp".to_owned())];
        let ports = ports_to_publish(&exposed, options.templates.get("web"));

        let listed: Vec<(u16, &str)> = ports
            .iter()
            .map(|port| (port.container_port, port.protocol.as_str()))
            .collect();
        assert_eq!(listed, [(53, "udp"), (8080, "tcp"), (9000, "tcp")]);
        assert!(
            ports
                .iter()
                .all(|port| port.host_port.is_none() && port.host_ip.is_none())
        );
    }

    #[test]
    fn container_spec_mounts_workspace_and_sets_limits() {
        let options =
            Options::parse(r#"{"network": "net", "extraHosts": ["db:10.0.0.5"]}"#).unwrap();
        let workload = Workload {
            image: "img:1".to_owned(),
            command: None,
            env: vec![("A".to_owned(), "1".to_owned())],
            resources: no_resources(),
            workspace_path: Some("/srv/ws/1".to_owned()),
            template_id: Some("web".to_owned()),
        };
        let limits = Limits {
            nano_cpus: Some(500_000_000),
            memory_bytes: Some(1024),
            not_enforced: Vec::new(),
        };
        let spec = container_spec(&options, &workload, &limits, Vec::new(), Some("net"));

        assert_eq!(spec.image, "img:1");
        assert_eq!(spec.mounts.len(), 1);
        assert_eq!(spec.mounts[0].source, "/srv/ws/1");
        assert_eq!(spec.mounts[0].target, "/workspace");
        assert!(!spec.mounts[0].read_only);
        assert_eq!(spec.nano_cpus, Some(500_000_000));
        assert_eq!(spec.memory_bytes, Some(1024));
        assert_eq!(spec.network.as_deref(), Some("net"));
        assert_eq!(spec.extra_hosts, ["db:10.0.0.5"]);
        assert_eq!(spec.labels, [(TEMPLATE_LABEL.to_owned(), "web".to_owned())]);
        assert!(spec.init);
        assert!(!spec.auto_remove);
        assert!(!spec.privileged);
    }

    #[test]
    fn container_spec_skips_workspace_when_mounting_is_off() {
        let options = Options::parse(r#"{"mountWorkspace": false}"#).unwrap();
        let workload = Workload {
            image: "img:1".to_owned(),
            command: None,
            env: Vec::new(),
            resources: no_resources(),
            workspace_path: Some("/srv/ws/1".to_owned()),
            template_id: None,
        };
        let spec = container_spec(&options, &workload, &Limits::default(), Vec::new(), None);

        assert!(spec.mounts.is_empty());
        assert!(spec.labels.is_empty());
        assert_eq!(spec.network, None);
    }
}
