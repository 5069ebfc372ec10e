//! envhost adapter that provisions environments as Docker containers.
//!
//! It uses only the host's `container` and `log` imports, so every engine call
//! passes the host's policy. The container of an environment is named
//! `envhost-<environment id>` by the host, which is how `get-status` and
//! `destroy` find it again: the adapter keeps no state between calls.
//!
//! The container logic lives in modules that the native test build covers
//! (`cargo test -p envhost-docker-adapter`). wit-bindgen's generated imports
//! compile natively as stubs that panic, so the tests never call them.

mod bindings {
    #![allow(unreachable_pub, missing_docs)]

    wit_bindgen::generate!({
        path: "../../wit/v0.2.0",
        inline: "
            package envhost:docker-adapter;

            world docker {
                include envhost:provider/adapter-two-phase@0.2.0;
                export envhost:provider/logs@0.2.0;
                export envhost:provider/exec-probe@0.2.0;
            }
        ",
        world: "envhost:docker-adapter/docker",
        additional_derives: [PartialEq],
        generate_all,
    });
}

mod endpoints;
mod options;
mod spec;
mod status;

use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use bindings::envhost::provider::container;
use bindings::envhost::provider::log::{Level, log};
use bindings::envhost::provider::types::{
    AdapterInfo, CreateRequest, EnvironmentState, ProviderError, Reservation, ReserveRequest,
    Resources, StartRequest, Status,
};
use bindings::exports::envhost::provider::{exec_probe, logs, provider, two_phase};
use options::{Options, invalid};
use spec::{Overrides, Workload};

/// Options of this instance, set by `init`. The host makes a fresh instance
/// for every call and calls `init` on it first.
static OPTIONS: Mutex<Option<Options>> = Mutex::new(None);

fn current_options() -> Result<Options, ProviderError> {
    OPTIONS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .ok_or_else(|| {
            ProviderError::Internal("adapter options are not set: `init` was not called".to_owned())
        })
}

fn container_name(environment_id: &str) -> String {
    format!("envhost-{environment_id}")
}

/// Data that `reserve` hands to `start` through the host.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReservationData {
    /// The network that `reserve` ensured. `start` joins this one even if the
    /// options have changed since.
    network: Option<String>,
    template_id: Option<String>,
}

struct DockerAdapter;

impl provider::Guest for DockerAdapter {
    fn init(options: String) -> Result<(), ProviderError> {
        let parsed = Options::parse(&options)?;
        *OPTIONS.lock().unwrap_or_else(PoisonError::into_inner) = Some(parsed);
        Ok(())
    }

    fn metadata() -> AdapterInfo {
        let templates: Vec<String> = current_options()
            .map(|options| options.templates.into_keys().collect())
            .unwrap_or_default();
        AdapterInfo {
            name: "docker".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            custom_capabilities: serde_json::json!({ "templates": templates }).to_string(),
        }
    }

    fn create(
        environment_id: String,
        request: CreateRequest,
    ) -> Result<EnvironmentState, ProviderError> {
        let options = current_options()?;
        let overrides = Overrides {
            image: request.image,
            command: request.command,
            env: request.env,
            resources: request.resources,
            workspace_path: request.workspace_path,
        };
        let workload = Workload::resolve(&options, request.template_id.as_deref(), overrides)?;

        provision(
            &options,
            &environment_id,
            &workload,
            options.network.as_deref(),
        )
    }

    fn get_status(environment_id: String) -> Result<EnvironmentState, ProviderError> {
        let options = current_options()?;
        let info = container::inspect(&container_name(&environment_id))?;
        Ok(status::environment_state(&options, &info, &[]))
    }

    fn destroy(environment_id: String, reason: Option<String>) -> Result<(), ProviderError> {
        let options = current_options()?;
        let name = container_name(&environment_id);
        let reason = reason.as_deref().unwrap_or("none given");

        // A failed stop is not fatal: the forced remove below kills the
        // container anyway, and its error is the one that matters.
        match container::stop(&name, options.stop_grace_seconds) {
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

impl two_phase::Guest for DockerAdapter {
    fn reserve(
        environment_id: String,
        request: ReserveRequest,
    ) -> Result<Reservation, ProviderError> {
        let options = current_options()?;
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
        environment_id: String,
        reservation: Reservation,
        request: StartRequest,
    ) -> Result<EnvironmentState, ProviderError> {
        let options = current_options()?;
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
            resources: Resources {
                cpu: None,
                memory: None,
                disk: None,
                gpu: None,
            },
            workspace_path: request.workspace_path,
        };
        let workload = Workload::resolve(&options, data.template_id.as_deref(), overrides)?;

        provision(
            &options,
            &environment_id,
            &workload,
            data.network.as_deref(),
        )
    }
}

impl logs::Guest for DockerAdapter {
    fn logs(environment_id: String, tail: u32) -> Result<Vec<String>, ProviderError> {
        container::logs(&container_name(&environment_id), tail)
    }
}

impl exec_probe::Guest for DockerAdapter {
    fn probe(
        environment_id: String,
        command: Vec<String>,
        timeout_ms: u32,
    ) -> Result<exec_probe::ProbeResult, ProviderError> {
        let output = container::exec(&container_name(&environment_id), &command, timeout_ms)?;
        Ok(exec_probe::ProbeResult {
            exit_code: output.exit_code,
            output: output.output,
            truncated: output.truncated,
        })
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

bindings::export!(DockerAdapter with_types_in bindings);

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
