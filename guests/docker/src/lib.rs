//! envhost adapter that provisions environments as Docker containers.
//!
//! It uses only the host's `container` and `log` imports, so every engine call
//! passes the host's policy. The container of an environment is named
//! `envhost-<environment id>` by the host, which is how `get-status` and
//! `destroy` find it again: the adapter keeps no state between calls.
//!
//! The container logic lives in modules that the native test build covers
//! (`cargo test -p envhost-docker-adapter`). The host imports compile
//! natively as stubs that panic, so the tests never call them.

mod endpoints;
mod options;
mod snapshots;
mod spec;
mod status;

use serde::{Deserialize, Serialize};

use envhost_guest::container::{self, container_name};
use envhost_guest::log::{Level, log};
use envhost_guest::types::{
    CreateRequest, EnvironmentState, ProbeResult, ProviderError, Reservation, ReserveRequest,
    Resources, Snapshot, StartRequest, Status,
};
use envhost_guest::{ExecProbe, Logs, Provider, Snapshots, TwoPhase};
use options::{Options, invalid};
use spec::{Overrides, Workload};

/// Data that `reserve` hands to `start` through the host.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReservationData {
    /// The network that `reserve` ensured. `start` joins this one even if the
    /// options have changed since.
    network: Option<String>,
    template_id: Option<String>,
}

/// The adapter of one call, built by `init` from the options.
struct DockerAdapter {
    options: Options,
}

impl Provider for DockerAdapter {
    type Options = Options;
    const NAME: &'static str = "docker";

    fn new(options: Options) -> Result<Self, ProviderError> {
        options.check()?;
        Ok(DockerAdapter { options })
    }

    fn custom_capabilities(&self) -> serde_json::Value {
        let templates: Vec<&String> = self.options.templates.keys().collect();
        serde_json::json!({ "templates": templates })
    }

    fn create(
        &self,
        environment_id: &str,
        request: CreateRequest,
    ) -> Result<EnvironmentState, ProviderError> {
        let options = &self.options;
        let overrides = Overrides {
            image: request.image,
            command: request.command,
            env: request.env,
            resources: request.resources,
            workspace_path: request.workspace_path,
        };
        let workload = Workload::resolve(options, request.template_id.as_deref(), overrides)?;

        provision(
            options,
            environment_id,
            &workload,
            options.network.as_deref(),
        )
    }

    fn get_status(&self, environment_id: &str) -> Result<EnvironmentState, ProviderError> {
        let info = container::inspect(&container_name(environment_id))?;
        Ok(status::environment_state(&self.options, &info, &[]))
    }

    fn destroy(&self, environment_id: &str, reason: Option<&str>) -> Result<(), ProviderError> {
        let name = container_name(environment_id);
        let reason = reason.unwrap_or("none given");

        // A failed stop is not fatal: the forced remove below kills the
        // container anyway, and its error is the one that matters.
        match container::stop(&name, self.options.stop_grace_seconds) {
            Ok(()) | Err(ProviderError::NotFound(_)) => {}
            Err(err) => log(
                Level::Warn,
                &format!("failed to stop container `{name}`, removing it by force: {err:?}"),
            ),
        }

        match container::remove(&name, true) {
            Ok(()) => {
                log(
                    Level::Info,
                    &format!("removed container `{name}` (reason: {reason})"),
                );
                Ok(())
            }
            Err(ProviderError::NotFound(_)) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

impl TwoPhase for DockerAdapter {
    fn reserve(
        &self,
        environment_id: &str,
        request: ReserveRequest,
    ) -> Result<Reservation, ProviderError> {
        let options = &self.options;
        let template_id = template_id_from_metadata(&request.metadata)?;
        options.template(template_id.as_deref())?;

        if let Some(network) = &options.network {
            container::network_ensure(network)?;
        }

        let data = ReservationData {
            network: options.network.clone(),
            template_id,
        };
        log(
            Level::Debug,
            &format!("reserved environment `{environment_id}`: {data:?}"),
        );
        Ok(Reservation {
            status: Status::Pending,
            data: serde_json::to_string(&data).expect("reservation data serializes"),
        })
    }

    fn start(
        &self,
        environment_id: &str,
        reservation: Reservation,
        request: StartRequest,
    ) -> Result<EnvironmentState, ProviderError> {
        let options = &self.options;
        let data: ReservationData = if reservation.data.trim().is_empty() {
            ReservationData::default()
        } else {
            serde_json::from_str(&reservation.data).map_err(|err| {
                invalid(format!(
                    "invalid reservation data `{}`: {err}",
                    reservation.data
                ))
            })?
        };

        let overrides = Overrides {
            image: request.image,
            command: Vec::new(),
            env: request.env,
            resources: Resources::none(),
            workspace_path: request.workspace_path,
        };
        let workload = Workload::resolve(options, data.template_id.as_deref(), overrides)?;

        provision(options, environment_id, &workload, data.network.as_deref())
    }
}

impl Logs for DockerAdapter {
    fn logs(&self, environment_id: &str, tail: u32) -> Result<Vec<String>, ProviderError> {
        container::logs(&container_name(environment_id), tail)
    }
}

impl ExecProbe for DockerAdapter {
    fn probe(
        &self,
        environment_id: &str,
        command: Vec<String>,
        timeout_ms: u32,
    ) -> Result<ProbeResult, ProviderError> {
        let output = container::exec(&container_name(environment_id), &command, timeout_ms)?;
        Ok(ProbeResult {
            exit_code: output.exit_code,
            output: output.output,
            truncated: output.truncated,
        })
    }
}

impl Snapshots for DockerAdapter {
    fn create_snapshot(&self, environment_id: &str, name: &str) -> Result<Snapshot, ProviderError> {
        snapshots::create(environment_id, name)
    }

    fn list_snapshots(&self, environment_id: &str) -> Result<Vec<Snapshot>, ProviderError> {
        snapshots::list(environment_id)
    }

    fn delete_snapshot(
        &self,
        environment_id: &str,
        snapshot_id: &str,
    ) -> Result<(), ProviderError> {
        snapshots::delete(environment_id, snapshot_id)
    }
}

/// Reads the optional `templateId` a reserve request carries in its metadata,
/// because the reserve request has no field of its own for it.
fn template_id_from_metadata(metadata: &str) -> Result<Option<String>, ProviderError> {
    if metadata.trim().is_empty() {
        return Ok(None);
    }
    let metadata: serde_json::Value = serde_json::from_str(metadata)
        .map_err(|err| invalid(format!("invalid metadata JSON: {err}")))?;

    match metadata.get("templateId") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(id)) => Ok(Some(id.clone())),
        Some(other) => Err(invalid(format!(
            "invalid metadata `templateId`: expected a string, got `{other}`"
        ))),
    }
}

/// Creates (or adopts) and starts the container of a workload, and reads back
/// its state.
fn provision(
    options: &Options,
    environment_id: &str,
    workload: &Workload,
    network: Option<&str>,
) -> Result<EnvironmentState, ProviderError> {
    let limits = spec::limits(&workload.resources)?;
    let image = container::image_inspect(&workload.image)?.ok_or_else(|| {
        invalid(format!(
            "image `{}` is not present locally: build or pull it on the engine's host first",
            workload.image
        ))
    })?;
    if let Some(network) = network {
        container::network_ensure(network)?;
    }

    let template = options.template(workload.template_id.as_deref())?;
    let ports = spec::ports_to_publish(&image.exposed_ports, template);
    let spec = spec::container_spec(options, workload, &limits, ports, network);
    let container_id = container::create(environment_id, &spec)?;
    container::start(&container_id)?;
    log(
        Level::Info,
        &format!(
            "started container `{}` (id {container_id}, image `{}`) for environment `{environment_id}`",
            container_name(environment_id),
            workload.image
        ),
    );

    match container::inspect(&container_id) {
        Ok(info) => Ok(status::environment_state(
            options,
            &info,
            &limits.not_enforced,
        )),
        // NOTE: with `autoRemove` a container that exits at once is gone
        // before the inspect, so its exit code is lost and it reads as ended
        // even if it failed.
        Err(ProviderError::NotFound(_)) if options.auto_remove => Ok(EnvironmentState {
            status: Status::Terminated,
            reason: Some("container exited and was removed because `autoRemove` is set".to_owned()),
            endpoints: Vec::new(),
            metadata: serde_json::json!({ "containerId": container_id }).to_string(),
        }),
        Err(err) => Err(err),
    }
}

envhost_guest::export_adapter!(DockerAdapter: TwoPhase, Logs, ExecProbe, Snapshots);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_id_comes_from_reserve_metadata() {
        assert_eq!(template_id_from_metadata("").unwrap(), None);
        assert_eq!(template_id_from_metadata("{}").unwrap(), None);
        assert_eq!(
            template_id_from_metadata(r#"{"templateId": null}"#).unwrap(),
            None
        );
        assert_eq!(
            template_id_from_metadata(r#"{"templateId": "web", "owner": "ci"}"#).unwrap(),
            Some("web".to_owned())
        );
    }

    #[test]
    fn template_id_of_wrong_type_is_invalid() {
        let err = template_id_from_metadata(r#"{"templateId": 3}"#).unwrap_err();
        assert!(
            matches!(&err, ProviderError::InvalidRequest(message) if message.contains("`templateId`")),
            "{err:?}"
        );
    }

    #[test]
    fn reservation_data_round_trips() {
        let data = ReservationData {
            network: Some("net".to_owned()),
            template_id: Some("web".to_owned()),
        };
        let json = serde_json::to_string(&data).unwrap();
        assert_eq!(json, r#"{"network":"net","templateId":"web"}"#);

        let parsed: ReservationData = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed.network.as_deref(), Some("net"));
        assert_eq!(parsed.template_id.as_deref(), Some("web"));
    }

    #[test]
    fn container_name_has_host_prefix() {
        assert_eq!(container_name("01jabc"), "envhost-01jabc");
    }
}
