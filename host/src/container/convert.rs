//! Translation of engine responses into the WIT mirror types.

use std::collections::HashMap;

use bollard::models::{
    ContainerInspectResponse, ContainerSummary as EngineSummary, HealthStatusEnum, ImageInspect,
};

use super::{ContainerInfo, ContainerState, ContainerSummary, ImageInfo, PublishedPort};

/// Time the engine reports for a container that never started or finished.
const ZERO_TIME_PREFIX: &str = "0001-01-01";

pub(crate) fn container_info(response: ContainerInspectResponse) -> ContainerInfo {
    let config = response.config.unwrap_or_default();
    let state = response.state.unwrap_or_default();
    let ports = response
        .network_settings
        .and_then(|settings| settings.ports)
        .map(published_ports)
        .unwrap_or_default();

    let health = state
        .health
        .and_then(|health| health.status)
        .filter(|status| !matches!(status, HealthStatusEnum::NONE | HealthStatusEnum::EMPTY))
        .map(|status| status.to_string());

    ContainerInfo {
        id: response.id.unwrap_or_default(),
        name: trim_name(response.name.unwrap_or_default()),
        image: config.image.or(response.image).unwrap_or_default(),
        state: ContainerState {
            status: state.status.map(|s| s.to_string()).unwrap_or_default(),
            exit_code: state.exit_code.unwrap_or_default(),
            oom_killed: state.oom_killed.unwrap_or_default(),
            error: state.error.filter(|error| !error.is_empty()),
            health,
            started_at: state.started_at.filter(|time| !is_zero_time(time)),
            finished_at: state.finished_at.filter(|time| !is_zero_time(time)),
        },
        labels: sorted_labels(config.labels),
        ports,
    }
}

pub(crate) fn container_summary(summary: EngineSummary) -> ContainerSummary {
    let name = summary
        .names
        .and_then(|names| names.into_iter().next())
        .map(trim_name)
        .unwrap_or_default();
    ContainerSummary {
        id: summary.id.unwrap_or_default(),
        name,
        image: summary.image.unwrap_or_default(),
        status: summary.state.map(|s| s.to_string()).unwrap_or_default(),
        labels: sorted_labels(summary.labels),
    }
}

pub(crate) fn image_info(image: ImageInspect) -> ImageInfo {
    let mut exposed_ports: Vec<(u16, String)> = image
        .config
        .and_then(|config| config.exposed_ports)
        .unwrap_or_default()
        .keys()
        .filter_map(|key| split_port_key(key))
        .collect();
    exposed_ports.sort();
    ImageInfo {
        id: image.id.unwrap_or_default(),
        exposed_ports,
    }
}

fn published_ports(
    ports: HashMap<String, Option<Vec<bollard::models::PortBinding>>>,
) -> Vec<PublishedPort> {
    let mut published = Vec::new();
    for (key, bindings) in ports {
        let Some((container_port, protocol)) = split_port_key(&key) else {
            continue;
        };
        for binding in bindings.unwrap_or_default() {
            let host_port = binding
                .host_port
                .as_deref()
                .and_then(|port| port.parse().ok());
            let Some(host_port) = host_port else {
                continue;
            };
            published.push(PublishedPort {
                container_port,
                protocol: protocol.clone(),
                host_ip: binding.host_ip.unwrap_or_default(),
                host_port,
            });
        }
    }
    published.sort();
    published
}

/// Splits the engine's `8080/tcp` form; a key without a protocol is tcp.
fn split_port_key(key: &str) -> Option<(u16, String)> {
    let (port, protocol) = key.split_once('/').unwrap_or((key, "tcp"));
    Some((port.parse().ok()?, protocol.to_owned()))
}

fn trim_name(name: String) -> String {
    name.strip_prefix('/').map(str::to_owned).unwrap_or(name)
}

fn is_zero_time(time: &str) -> bool {
    time.is_empty() || time.starts_with(ZERO_TIME_PREFIX)
}

pub(crate) fn sorted_labels(labels: Option<HashMap<String, String>>) -> Vec<(String, String)> {
    let mut labels: Vec<_> = labels.unwrap_or_default().into_iter().collect();
    labels.sort();
    labels
}
