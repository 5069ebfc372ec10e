//! Translation of an adapter's [`ContainerSpec`] into the engine's create
//! body, applying every policy rule on the way. Nothing here talks to the
//! engine, so a denial leaves no trace in it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use bollard::models::{
    ContainerCreateBody, HostConfig, Mount as EngineMount, MountTypeEnum, PortBinding, PortMap,
};

use super::policy::{ImageRules, Policy, check_network_mode};
use super::{ContainerError, ContainerSpec, Mount, PortRequest};

/// Prefix of the labels only the host may set.
const RESERVED_LABEL_PREFIX: &str = "envhost.";

/// Builds the create body for `spec`, with `labels` (the host's ownership
/// labels) added to the spec's own.
pub(crate) fn create_body(
    policy: &Policy,
    images: &ImageRules,
    engine_sockets: &[PathBuf],
    spec: ContainerSpec,
    labels: HashMap<String, String>,
) -> Result<ContainerCreateBody, ContainerError> {
    images.check(&spec.image)?;
    deny_unsafe_options(&spec)?;

    let network_mode = network_mode(&spec)?;
    let mounts = bind_mounts(policy, engine_sockets, &spec.mounts)?;
    let (exposed_ports, port_bindings) = published_ports(policy.publish_address, &spec.ports)?;
    let nano_cpus = limit("nano-cpus", "max-cpu", spec.nano_cpus, policy.max_nano_cpus)?;
    let memory = limit(
        "memory-bytes",
        "max-memory",
        spec.memory_bytes,
        policy.max_memory_bytes,
    )?;
    let env = environment_variables(&spec.env)?;
    check_extra_hosts(&spec.extra_hosts)?;

    let mut all_labels = HashMap::new();
    for (key, value) in spec.labels {
        if key.starts_with(RESERVED_LABEL_PREFIX) {
            return Err(ContainerError::denied(
                "labels",
                format!("label `{key}` is reserved for the host: `envhost.` labels can not be set"),
            ));
        }
        all_labels.insert(key, value);
    }
    all_labels.extend(labels);

    let host_config = HostConfig {
        mounts: Some(mounts),
        port_bindings: Some(port_bindings),
        publish_all_ports: Some(false),
        network_mode,
        extra_hosts: Some(spec.extra_hosts),
        nano_cpus,
        memory,
        // Equal to the memory limit, so that the container gets no swap on top.
        memory_swap: memory,
        pids_limit: policy.pids_limit,
        privileged: Some(false),
        security_opt: Some(vec!["no-new-privileges:true".to_owned()]),
        auto_remove: Some(spec.auto_remove),
        init: spec.init.then_some(true),
        ..HostConfig::default()
    };

    Ok(ContainerCreateBody {
        image: Some(spec.image),
        cmd: spec.command,
        entrypoint: spec.entrypoint,
        env: Some(env),
        labels: Some(all_labels),
        working_dir: spec.working_dir,
        exposed_ports: Some(exposed_ports),
        host_config: Some(host_config),
        ..ContainerCreateBody::default()
    })
}

/// Denies the options that would give the container host privileges.
fn deny_unsafe_options(spec: &ContainerSpec) -> Result<(), ContainerError> {
    if spec.privileged {
        return Err(ContainerError::denied(
            "privileged",
            "privileged containers are not allowed",
        ));
    }
    if !spec.cap_add.is_empty() {
        return Err(ContainerError::denied(
            "cap-add",
            format!("adding capabilities {:?} is not allowed", spec.cap_add),
        ));
    }
    if !spec.devices.is_empty() {
        return Err(ContainerError::denied(
            "devices",
            format!("mapping host devices {:?} is not allowed", spec.devices),
        ));
    }
    Ok(())
}

/// Resolves `network` and `network-mode` to the engine's one network mode.
fn network_mode(spec: &ContainerSpec) -> Result<Option<String>, ContainerError> {
    let mode = match (&spec.network_mode, &spec.network) {
        (Some(mode), Some(network)) if mode != network => {
            return Err(ContainerError::InvalidRequest(format!(
                "network mode `{mode}` conflicts with network `{network}`: set one of them"
            )));
        }
        (Some(mode), _) => Some(mode.clone()),
        (None, network) => network.clone(),
    };
    if let Some(mode) = &mode {
        check_network_mode(mode)?;
    }
    Ok(mode)
}

fn bind_mounts(
    policy: &Policy,
    engine_sockets: &[PathBuf],
    mounts: &[Mount],
) -> Result<Vec<EngineMount>, ContainerError> {
    let mut engine_mounts = Vec::with_capacity(mounts.len());
    for mount in mounts {
        // NOTE: the canonical path is checked here and resolved again by the
        // engine at create time. A process that can write inside a workspace
        // root could swap a directory for a symlink in between and escape.
        // Closing that gap needs a mount through an open directory file
        // descriptor, which the Docker API does not offer.
        let source = policy.check_workspace_excluding(Path::new(&mount.source), engine_sockets)?;
        if !mount.target.starts_with('/') {
            return Err(ContainerError::InvalidRequest(format!(
                "bind mount target `{}` is not an absolute path",
                mount.target
            )));
        }
        engine_mounts.push(EngineMount {
            typ: Some(MountTypeEnum::BIND),
            source: Some(source.to_string_lossy().into_owned()),
            target: Some(mount.target.clone()),
            read_only: Some(mount.read_only),
            ..EngineMount::default()
        });
    }
    Ok(engine_mounts)
}

type ExposedPorts = HashMap<String, HashMap<(), ()>>;

fn published_ports(
    publish_address: IpAddr,
    ports: &[PortRequest],
) -> Result<(ExposedPorts, PortMap), ContainerError> {
    let mut exposed = ExposedPorts::new();
    let mut bindings = PortMap::new();
    for port in ports {
        let protocol = port.protocol.to_ascii_lowercase();
        if protocol != "tcp" && protocol != "udp" {
            return Err(ContainerError::InvalidRequest(format!(
                "invalid protocol `{}` for container port {}: expected `tcp` or `udp`",
                port.protocol, port.container_port
            )));
        }
        if port.container_port == 0 {
            return Err(ContainerError::InvalidRequest(
                "invalid container port 0".to_owned(),
            ));
        }
        if let Some(host_ip) = &port.host_ip {
            let address: IpAddr = host_ip.parse().map_err(|_| {
                ContainerError::InvalidRequest(format!("invalid host address `{host_ip}`"))
            })?;
            if address != publish_address {
                return Err(ContainerError::denied(
                    "publish-address",
                    format!(
                        "host address `{host_ip}` for container port {} is not the publish \
                         address `{publish_address}`",
                        port.container_port
                    ),
                ));
            }
        }

        let key = format!("{}/{protocol}", port.container_port);
        exposed.insert(key.clone(), HashMap::new());
        let binding = PortBinding {
            host_ip: Some(publish_address.to_string()),
            host_port: Some(port.host_port.map(|p| p.to_string()).unwrap_or_default()),
        };
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_default()
            .push(binding);
    }
    Ok((exposed, bindings))
}

/// Checks a requested limit against the policy maximum. A request without a
/// limit gets the maximum, so that the maximum bounds every container.
fn limit(
    field: &str,
    rule: &'static str,
    requested: Option<u64>,
    maximum: Option<u64>,
) -> Result<Option<i64>, ContainerError> {
    let value = match (requested, maximum) {
        (Some(0), _) => {
            return Err(ContainerError::InvalidRequest(format!(
                "invalid {field} 0: omit it for the default limit"
            )));
        }
        (Some(requested), Some(maximum)) if requested > maximum => {
            return Err(ContainerError::denied(
                rule,
                format!("{field} {requested} is above the maximum {maximum}"),
            ));
        }
        (Some(requested), _) => Some(requested),
        (None, maximum) => maximum,
    };
    value
        .map(|value| {
            i64::try_from(value).map_err(|_| {
                ContainerError::InvalidRequest(format!("invalid {field} {value}: too large"))
            })
        })
        .transpose()
}

fn environment_variables(env: &[(String, String)]) -> Result<Vec<String>, ContainerError> {
    env.iter()
        .map(|(name, value)| {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(ContainerError::InvalidRequest(format!(
                    "invalid environment variable name `{name}`"
                )));
            }
            Ok(format!("{name}={value}"))
        })
        .collect()
}

fn check_extra_hosts(extra_hosts: &[String]) -> Result<(), ContainerError> {
    for entry in extra_hosts {
        let valid = entry
            .split_once(':')
            .is_some_and(|(name, address)| !name.is_empty() && !address.is_empty());
        if !valid {
            return Err(ContainerError::InvalidRequest(format!(
                "invalid extra host `{entry}`: expected `name:address`"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn build(policy: &Policy, spec: ContainerSpec) -> Result<ContainerCreateBody, ContainerError> {
        let images = ImageRules::new(&policy.allowed_images).unwrap();
        create_body(policy, &images, &[], spec, HashMap::new())
    }

    fn spec() -> ContainerSpec {
        ContainerSpec {
            image: "envhost/busybox:test".into(),
            ..ContainerSpec::default()
        }
    }

    fn rule_of(result: Result<ContainerCreateBody, ContainerError>) -> &'static str {
        match result {
            Err(ContainerError::Denied { rule, .. }) => rule,
            other => panic!("expected a denial, got {other:?}"),
        }
    }

    #[test]
    fn missing_limits_default_to_policy_maxima() {
        let policy = Policy {
            max_nano_cpus: Some(500_000_000),
            max_memory_bytes: Some(64 << 20),
            pids_limit: Some(128),
            ..Policy::default()
        };
        let host = build(&policy, spec()).unwrap().host_config.unwrap();
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.memory, Some(64 << 20));
        assert_eq!(host.memory_swap, Some(64 << 20));
        assert_eq!(host.pids_limit, Some(128));
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges:true".to_owned()])
        );
    }

    #[test]
    fn limits_above_maxima_are_denied() {
        let policy = Policy {
            max_nano_cpus: Some(1_000_000_000),
            max_memory_bytes: Some(64 << 20),
            ..Policy::default()
        };
        let cpu = ContainerSpec {
            nano_cpus: Some(2_000_000_000),
            ..spec()
        };
        assert_eq!(rule_of(build(&policy, cpu)), "max-cpu");
        let memory = ContainerSpec {
            memory_bytes: Some(128 << 20),
            ..spec()
        };
        assert_eq!(rule_of(build(&policy, memory)), "max-memory");
    }

    #[test]
    fn ports_bind_to_publish_address_only() {
        let policy = Policy::default();
        let port = PortRequest {
            container_port: 8080,
            protocol: "tcp".into(),
            host_port: None,
            host_ip: None,
        };
        let body = build(
            &policy,
            ContainerSpec {
                ports: vec![port.clone()],
                ..spec()
            },
        )
        .unwrap();
        let bindings = body.host_config.unwrap().port_bindings.unwrap();
        let binding = &bindings["8080/tcp"].as_ref().unwrap()[0];
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));

        let wildcard = PortRequest {
            host_ip: Some(Ipv4Addr::UNSPECIFIED.to_string()),
            ..port
        };
        let denied = build(
            &policy,
            ContainerSpec {
                ports: vec![wildcard],
                ..spec()
            },
        );
        assert_eq!(rule_of(denied), "publish-address");
    }

    #[test]
    fn host_privileges_are_denied() {
        let policy = Policy::default();
        let cases = [
            (
                ContainerSpec {
                    privileged: true,
                    ..spec()
                },
                "privileged",
            ),
            (
                ContainerSpec {
                    cap_add: vec!["NET_ADMIN".into()],
                    ..spec()
                },
                "cap-add",
            ),
            (
                ContainerSpec {
                    devices: vec!["/dev/kmsg".into()],
                    ..spec()
                },
                "devices",
            ),
            (
                ContainerSpec {
                    network_mode: Some("host".into()),
                    ..spec()
                },
                "network-mode",
            ),
            (
                ContainerSpec {
                    network: Some("host".into()),
                    ..spec()
                },
                "network-mode",
            ),
            (
                ContainerSpec {
                    labels: vec![("envhost.host".into(), "x".into())],
                    ..spec()
                },
                "labels",
            ),
        ];
        for (spec, rule) in cases {
            assert_eq!(rule_of(build(&policy, spec)), rule);
        }
    }
}
