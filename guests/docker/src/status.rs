//! Mapping from a container's engine state to the contract's status, and the
//! environment state an adapter call returns.

use crate::endpoints::endpoints;
use crate::options::Options;
use crate::spec::TEMPLATE_LABEL;
use envhost_guest::container::{ContainerInfo, ContainerState};
use envhost_guest::types::{EnvironmentState, Status};

/// Builds the environment state of an inspected container: status, reason,
/// endpoints and metadata (`containerId`, `containerName`, `image` and, when
/// not empty, `resourcesNotEnforced`).
///
/// Endpoint names come from the template that the container's label records,
/// looked up in the current options. If that template has been removed since,
/// the endpoints keep their default names.
pub(crate) fn environment_state(
    options: &Options,
    info: &ContainerInfo,
    not_enforced: &[&str],
) -> EnvironmentState {
    let (status, reason) = status_of(&info.state);
    let template = info
        .labels
        .iter()
        .find(|(key, _)| key == TEMPLATE_LABEL)
        .and_then(|(_, id)| options.templates.get(id));

    let mut metadata = serde_json::json!({
        "containerId": info.id,
        "containerName": info.name.trim_start_matches('/'),
        "image": info.image,
    });
    if !not_enforced.is_empty() {
        metadata["resourcesNotEnforced"] = serde_json::json!(not_enforced);
    }

    EnvironmentState {
        status,
        reason,
        endpoints: endpoints(&info.ports, template),
        metadata: metadata.to_string(),
    }
}

/// Maps an engine state to a status and the reason behind it.
///
/// An error the engine recorded (a failed start, for example) wins over the
/// status string, because the engine leaves such a container `created`. A
/// running container with a process killed for lack of memory is degraded,
/// not failed, because it is still usable.
pub(crate) fn status_of(state: &ContainerState) -> (Status, Option<String>) {
    if let Some(error) = state.error.as_deref().filter(|error| !error.is_empty()) {
        return (Status::Failed, Some(error.to_owned()));
    }

    let code = state.exit_code;
    match state.status.as_str() {
        "created" => (Status::Provisioning, None),
        "running" => running_status(state),
        "restarting" => (
            Status::Degraded,
            Some(format!("restarting, last exit code {code}")),
        ),
        "paused" => (Status::Degraded, Some("paused".to_owned())),
        "removing" => (Status::Terminating, None),
        "exited" if state.oom_killed => (Status::Failed, Some(out_of_memory(code))),
        "exited" if code == 0 => (Status::Terminated, Some("exited with code 0".to_owned())),
        "exited" => (Status::Failed, Some(format!("exited with code {code}"))),
        "dead" if state.oom_killed => (Status::Failed, Some(out_of_memory(code))),
        "dead" => (
            Status::Failed,
            Some(format!("container is dead, exit code {code}")),
        ),
        other => (
            Status::Degraded,
            Some(format!("unrecognized engine status `{other}`")),
        ),
    }
}

fn running_status(state: &ContainerState) -> (Status, Option<String>) {
    match state.health.as_deref() {
        Some("starting") => (
            Status::Provisioning,
            Some("health check starting".to_owned()),
        ),
        Some("unhealthy") => (Status::Degraded, Some("health check unhealthy".to_owned())),
        _ if state.oom_killed => (
            Status::Degraded,
            Some("a process in the container was killed: out of memory".to_owned()),
        ),
        _ => (Status::Ready, None),
    }
}

fn out_of_memory(code: i64) -> String {
    format!("killed: out of memory, exit code {code}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: &str) -> ContainerState {
        ContainerState {
            status: status.to_owned(),
            exit_code: 0,
            oom_killed: false,
            error: None,
            health: None,
            started_at: None,
            finished_at: None,
        }
    }

    fn with_health(status: &str, health: &str) -> ContainerState {
        ContainerState {
            health: Some(health.to_owned()),
            ..state(status)
        }
    }

    fn exited(code: i64) -> ContainerState {
        ContainerState {
            exit_code: code,
            ..state("exited")
        }
    }

    fn oom_killed(status: &str, code: i64) -> ContainerState {
        ContainerState {
            exit_code: code,
            oom_killed: true,
            ..state(status)
        }
    }

    #[test]
    fn status_mapping_table() {
        let cases: Vec<(ContainerState, Status, Option<&str>)> = vec![
            (state("created"), Status::Provisioning, None),
            (
                with_health("running", "starting"),
                Status::Provisioning,
                Some("health check starting"),
            ),
            (state("running"), Status::Ready, None),
            (with_health("running", "healthy"), Status::Ready, None),
            (
                with_health("running", "unhealthy"),
                Status::Degraded,
                Some("health check unhealthy"),
            ),
            (
                ContainerState {
                    exit_code: 1,
                    ..state("restarting")
                },
                Status::Degraded,
                Some("restarting, last exit code 1"),
            ),
            (state("paused"), Status::Degraded, Some("paused")),
            (state("removing"), Status::Terminating, None),
            (exited(0), Status::Terminated, Some("exited with code 0")),
            (exited(3), Status::Failed, Some("exited with code 3")),
            (exited(-1), Status::Failed, Some("exited with code -1")),
            (
                oom_killed("exited", 137),
                Status::Failed,
                Some("killed: out of memory, exit code 137"),
            ),
            (
                oom_killed("dead", 137),
                Status::Failed,
                Some("killed: out of memory, exit code 137"),
            ),
            (
                state("dead"),
                Status::Failed,
                Some("container is dead, exit code 0"),
            ),
            (
                oom_killed("running", 0),
                Status::Degraded,
                Some("a process in the container was killed: out of memory"),
            ),
            (
                ContainerState {
                    error: Some("exec: \"nope\": executable file not found".to_owned()),
                    exit_code: 127,
                    ..state("created")
                },
                Status::Failed,
                Some("exec: \"nope\": executable file not found"),
            ),
            (
                state("migrating"),
                Status::Degraded,
                Some("unrecognized engine status `migrating`"),
            ),
        ];

        for (state, status, reason) in cases {
            let (actual_status, actual_reason) = status_of(&state);
            assert_eq!(actual_status, status, "status for {state:?}");
            assert_eq!(actual_reason.as_deref(), reason, "reason for {state:?}");
        }
    }

    #[test]
    fn environment_state_reports_endpoints_and_metadata() {
        use envhost_guest::container::PublishedPort;
        use envhost_guest::types::Protocol;

        let options = Options::parse(
            r#"{"templates": {"web": {"ports": [{"port": 8080, "name": "http", "endpointProtocol": "http"}]}}}"#,
        )
        .unwrap();
        let info = ContainerInfo {
            id: "abc123".to_owned(),
            name: "/envhost-01j".to_owned(),
            image: "envhost/busybox:test".to_owned(),
            state: state("running"),
            labels: vec![(TEMPLATE_LABEL.to_owned(), "web".to_owned())],
            ports: vec![PublishedPort {
                container_port: 8080,
                protocol: "tcp".to_owned(),
                host_ip: "127.0.0.1".to_owned(),
                host_port: 40000,
            }],
        };
        let environment = environment_state(&options, &info, &["disk"]);

        assert_eq!(environment.status, Status::Ready);
        assert_eq!(environment.reason, None);
        assert_eq!(environment.endpoints.len(), 1);
        assert_eq!(environment.endpoints[0].name, "http");
        assert_eq!(environment.endpoints[0].protocol, Protocol::Http);
        assert_eq!(environment.endpoints[0].port, 40000);

        let metadata: serde_json::Value = serde_json::from_str(&environment.metadata).unwrap();
        assert_eq!(metadata["containerId"], "abc123");
        assert_eq!(metadata["containerName"], "envhost-01j");
        assert_eq!(metadata["image"], "envhost/busybox:test");
        assert_eq!(
            metadata["resourcesNotEnforced"],
            serde_json::json!(["disk"])
        );
    }

    #[test]
    fn environment_state_omits_empty_not_enforced_list() {
        let info = ContainerInfo {
            id: "abc123".to_owned(),
            name: "envhost-01j".to_owned(),
            image: "img".to_owned(),
            state: exited(2),
            labels: Vec::new(),
            ports: Vec::new(),
        };
        let environment = environment_state(&Options::default(), &info, &[]);

        assert_eq!(environment.status, Status::Failed);
        assert_eq!(environment.reason.as_deref(), Some("exited with code 2"));
        let metadata: serde_json::Value = serde_json::from_str(&environment.metadata).unwrap();
        assert!(metadata.get("resourcesNotEnforced").is_none());
    }

    #[test]
    fn empty_engine_error_is_ignored() {
        let running = ContainerState {
            error: Some(String::new()),
            ..state("running")
        };
        assert_eq!(status_of(&running), (Status::Ready, None));
    }
}
