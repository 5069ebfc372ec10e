//! The host side of the WIT imports: `container` passes every call to
//! [`ContainerHost`](crate::container::ContainerHost) on behalf of the calling
//! adapter, `log` routes guest log lines into tracing.
//!
//! `container` differs between WIT versions only by the functions 0.2.0
//! added, so one macro generates the implementation of every version from
//! the same source, and 0.2.0 adds `logs`, `exec`, `commit`, `list-images`
//! and `remove-image`.

use std::time::Duration;

use super::bindings::v0_2_0::envhost::provider::container as wit_container;
use super::bindings::v0_2_0::envhost::provider::log as wit_log;
use super::bindings::v0_2_0::envhost::provider::types::{self as wit_types, ProviderError};
use super::store::CallState;
use crate::container::{ContainerError, ContainerHost};
use crate::ids::EnvironmentId;

type ImportResult<T> = wasmtime::Result<Result<T, ProviderError>>;

/// Largest `tail` a guest may request from `container.logs`.
pub(crate) const MAX_LOG_LINES: u32 = 10_000;

impl wit_types::Host for CallState {}

impl CallState {
    pub(crate) fn containers(&self) -> Result<&ContainerHost, ProviderError> {
        self.containers.as_ref().ok_or_else(|| {
            ProviderError::Unavailable(
                "the container API is not available in offline validation".to_owned(),
            )
        })
    }

    /// Returns the environment of the current call, which image calls act
    /// on. `requested`, when given, must name that environment, so that one
    /// environment's call can not reach another's images.
    pub(crate) fn call_environment(
        &self,
        operation: &'static str,
        requested: Option<&str>,
    ) -> Result<EnvironmentId, ProviderError> {
        let current = self.environment.as_ref();
        let denied = |message: String| {
            self.container_error(
                operation,
                ContainerError::Denied {
                    rule: "environment",
                    message,
                },
            )
        };
        let Some(current) = current else {
            return Err(denied(format!(
                "`{operation}` is only allowed during a call for an environment"
            )));
        };
        if let Some(requested) = requested
            && requested != current.as_str()
        {
            return Err(denied(format!(
                "images of environment `{requested}` requested during a call for environment \
                 `{current}`"
            )));
        }
        Ok(current.clone())
    }

    /// Returns the environment of the current call and the container host,
    /// for the image calls; see [`call_environment`](Self::call_environment).
    pub(crate) fn image_call(
        &self,
        operation: &'static str,
        requested: Option<&str>,
    ) -> Result<(EnvironmentId, ContainerHost), ProviderError> {
        let environment = self.call_environment(operation, requested)?;
        Ok((environment, self.containers()?.clone()))
    }

    /// Logs a refused or failed container call with the adapter and
    /// environment, and converts the error for the guest.
    pub(crate) fn container_error(
        &self,
        operation: &'static str,
        err: ContainerError,
    ) -> ProviderError {
        let environment = self.environment.as_ref().map(EnvironmentId::as_str);
        match &err {
            ContainerError::Denied { rule, message } => tracing::warn!(
                adapter = %self.adapter,
                environment,
                operation,
                rule,
                message = %message,
                "container call denied"
            ),
            ContainerError::NotFound { .. } => {}
            other => tracing::debug!(
                adapter = %self.adapter,
                environment,
                operation,
                error = %other,
                "container call failed"
            ),
        }
        match err {
            ContainerError::NotFound { message } => ProviderError::NotFound(message),
            err @ ContainerError::Denied { .. } => ProviderError::Denied(err.to_string()),
            ContainerError::InvalidRequest(message) => ProviderError::InvalidRequest(message),
            ContainerError::Conflict(message) => ProviderError::Conflict(message),
            ContainerError::Unavailable(message) => ProviderError::Unavailable(message),
            other => ProviderError::Internal(other.to_string()),
        }
    }
}

/// Implements one version's `container` interface: the conversions of its
/// records and its `Host` trait, plus the functions given as `extra`.
macro_rules! container_host {
    ($module:ident, $wit:path, { $($extra:tt)* }) => {
        mod $module {
            use $wit as wit;

            use super::{CallState, ContainerError, EnvironmentId, ImportResult};

            fn spec_from_wit(spec: wit::ContainerSpec) -> crate::container::ContainerSpec {
                crate::container::ContainerSpec {
                    image: spec.image,
                    command: spec.command,
                    entrypoint: spec.entrypoint,
                    env: spec.env,
                    labels: spec.labels,
                    mounts: spec
                        .mounts
                        .into_iter()
                        .map(|mount| crate::container::Mount {
                            source: mount.source,
                            target: mount.target,
                            read_only: mount.read_only,
                        })
                        .collect(),
                    ports: spec
                        .ports
                        .into_iter()
                        .map(|port| crate::container::PortRequest {
                            container_port: port.container_port,
                            protocol: port.protocol,
                            host_port: port.host_port,
                            host_ip: port.host_ip,
                        })
                        .collect(),
                    working_dir: spec.working_dir,
                    nano_cpus: spec.nano_cpus,
                    memory_bytes: spec.memory_bytes,
                    network: spec.network,
                    extra_hosts: spec.extra_hosts,
                    auto_remove: spec.auto_remove,
                    init: spec.init,
                    privileged: spec.privileged,
                    network_mode: spec.network_mode,
                    cap_add: spec.cap_add,
                    devices: spec.devices,
                }
            }

            fn info_to_wit(info: crate::container::ContainerInfo) -> wit::ContainerInfo {
                wit::ContainerInfo {
                    id: info.id,
                    name: info.name,
                    image: info.image,
                    state: wit::ContainerState {
                        status: info.state.status,
                        exit_code: info.state.exit_code,
                        oom_killed: info.state.oom_killed,
                        error: info.state.error,
                        health: info.state.health,
                        started_at: info.state.started_at,
                        finished_at: info.state.finished_at,
                    },
                    labels: info.labels,
                    ports: info
                        .ports
                        .into_iter()
                        .map(|port| wit::PublishedPort {
                            container_port: port.container_port,
                            protocol: port.protocol,
                            host_ip: port.host_ip,
                            host_port: port.host_port,
                        })
                        .collect(),
                }
            }

            impl wit::Host for CallState {
                    $($extra)*

                async fn create(
                    &mut self,
                    environment_id: String,
                    spec: wit::ContainerSpec,
                ) -> ImportResult<String> {
                    // A call may create only the container of the environment it is
                    // about; anything else would let one environment's call reach into
                    // another's.
                    let allowed = self
                        .environment
                        .as_ref()
                        .is_some_and(|current| current.as_str() == environment_id);
                    if !allowed {
                        let current = self
                            .environment
                            .as_ref()
                            .map_or("none", EnvironmentId::as_str);
                        let err = ContainerError::Denied {
                            rule: "environment",
                            message: format!(
                                "container for environment `{environment_id}` requested during a call for \
                                 environment `{current}`"
                            ),
                        };
                        return Ok(Err(self.container_error("create", err)));
                    }
                    let Some(environment) = self.environment.clone() else {
                        unreachable!("checked above");
                    };
                    let containers = match self.containers() {
                        Ok(containers) => containers.clone(),
                        Err(err) => return Ok(Err(err)),
                    };
                    let result = containers
                        .create(&self.adapter, &environment, spec_from_wit(spec))
                        .await;
                    Ok(result.map_err(|err| self.container_error("create", err)))
                }

                async fn start(&mut self, container: String) -> ImportResult<()> {
                    let containers = match self.containers() {
                        Ok(containers) => containers.clone(),
                        Err(err) => return Ok(Err(err)),
                    };
                    let result = containers.start(&self.adapter, &container).await;
                    Ok(result.map_err(|err| self.container_error("start", err)))
                }

                async fn stop(&mut self, container: String, grace_seconds: u32) -> ImportResult<()> {
                    let containers = match self.containers() {
                        Ok(containers) => containers.clone(),
                        Err(err) => return Ok(Err(err)),
                    };
                    let result = containers
                        .stop(&self.adapter, &container, grace_seconds)
                        .await;
                    Ok(result.map_err(|err| self.container_error("stop", err)))
                }

                async fn remove(&mut self, container: String, force: bool) -> ImportResult<()> {
                    let containers = match self.containers() {
                        Ok(containers) => containers.clone(),
                        Err(err) => return Ok(Err(err)),
                    };
                    let result = containers.remove(&self.adapter, &container, force).await;
                    Ok(result.map_err(|err| self.container_error("remove", err)))
                }

                async fn inspect(&mut self, container: String) -> ImportResult<wit::ContainerInfo> {
                    let containers = match self.containers() {
                        Ok(containers) => containers.clone(),
                        Err(err) => return Ok(Err(err)),
                    };
                    let result = containers.inspect(&self.adapter, &container).await;
                    Ok(result
                        .map(info_to_wit)
                        .map_err(|err| self.container_error("inspect", err)))
                }

                async fn list(
                    &mut self,
                    labels: Vec<(String, String)>,
                ) -> ImportResult<Vec<wit::ContainerSummary>> {
                    let containers = match self.containers() {
                        Ok(containers) => containers.clone(),
                        Err(err) => return Ok(Err(err)),
                    };
                    let result = containers.list(&self.adapter, &labels).await;
                    Ok(result
                        .map(|summaries| {
                            summaries
                                .into_iter()
                                .map(|summary| wit::ContainerSummary {
                                    id: summary.id,
                                    name: summary.name,
                                    image: summary.image,
                                    status: summary.status,
                                    labels: summary.labels,
                                })
                                .collect()
                        })
                        .map_err(|err| self.container_error("list", err)))
                }

                async fn image_exists(&mut self, image: String) -> ImportResult<bool> {
                    let containers = match self.containers() {
                        Ok(containers) => containers.clone(),
                        Err(err) => return Ok(Err(err)),
                    };
                    let result = containers.image_exists(&self.adapter, &image).await;
                    Ok(result.map_err(|err| self.container_error("image-exists", err)))
                }

                async fn image_inspect(&mut self, image: String) -> ImportResult<Option<wit::ImageInfo>> {
                    let containers = match self.containers() {
                        Ok(containers) => containers.clone(),
                        Err(err) => return Ok(Err(err)),
                    };
                    let result = containers.image_inspect(&self.adapter, &image).await;
                    Ok(result
                        .map(|info| {
                            info.map(|info| wit::ImageInfo {
                                id: info.id,
                                exposed_ports: info.exposed_ports,
                            })
                        })
                        .map_err(|err| self.container_error("image-inspect", err)))
                }

                async fn network_ensure(&mut self, name: String) -> ImportResult<()> {
                    let containers = match self.containers() {
                        Ok(containers) => containers.clone(),
                        Err(err) => return Ok(Err(err)),
                    };
                    let result = containers.network_ensure(&self.adapter, &name).await;
                    Ok(result.map_err(|err| self.container_error("network-ensure", err)))
                }
            }
        }
    };
}

container_host!(
    v0_1_0,
    crate::adapters::bindings::v0_1_0::envhost::provider::container,
    {}
);

container_host!(
    v0_2_0,
    crate::adapters::bindings::v0_2_0::envhost::provider::container,
    {
        async fn logs(&mut self, container: String, tail: u32) -> ImportResult<Vec<String>> {
            let containers = match self.containers() {
                Ok(containers) => containers.clone(),
                Err(err) => return Ok(Err(err)),
            };
            let tail = tail.min(super::MAX_LOG_LINES);
            let result = containers.logs(&self.adapter, &container, tail).await;
            Ok(result.map_err(|err| self.container_error("logs", err)))
        }

        async fn exec(
            &mut self,
            container: String,
            command: Vec<String>,
            timeout_ms: u32,
        ) -> ImportResult<wit::ExecOutput> {
            let containers = match self.containers() {
                Ok(containers) => containers.clone(),
                Err(err) => return Ok(Err(err)),
            };
            let timeout = super::Duration::from_millis(u64::from(timeout_ms));
            let result = containers
                .exec(&self.adapter, &container, command, timeout)
                .await;
            Ok(result
                .map(|output| wit::ExecOutput {
                    exit_code: output.exit_code,
                    output: output.output,
                    truncated: output.truncated,
                })
                .map_err(|err| self.container_error("exec", err)))
        }

        async fn commit(
            &mut self,
            container: String,
            name: String,
        ) -> ImportResult<wit::SnapshotImage> {
            let (environment, containers) = match self.image_call("commit", None) {
                Ok(call) => call,
                Err(err) => return Ok(Err(err)),
            };
            let result = containers
                .commit(&self.adapter, &environment, &container, &name)
                .await;
            Ok(result
                .map(super::snapshot_image_to_wit)
                .map_err(|err| self.container_error("commit", err)))
        }

        async fn list_images(
            &mut self,
            environment_id: String,
        ) -> ImportResult<Vec<wit::SnapshotImage>> {
            let (environment, containers) =
                match self.image_call("list-images", Some(&environment_id)) {
                    Ok(call) => call,
                    Err(err) => return Ok(Err(err)),
                };
            let result = containers
                .list_snapshot_images(&self.adapter, &environment)
                .await;
            Ok(result
                .map(|images| {
                    images
                        .into_iter()
                        .map(super::snapshot_image_to_wit)
                        .collect()
                })
                .map_err(|err| self.container_error("list-images", err)))
        }

        async fn remove_image(&mut self, image: String) -> ImportResult<()> {
            let (environment, containers) = match self.image_call("remove-image", None) {
                Ok(call) => call,
                Err(err) => return Ok(Err(err)),
            };
            let result = containers
                .remove_snapshot_image(&self.adapter, &environment, &image)
                .await;
            Ok(result.map_err(|err| self.container_error("remove-image", err)))
        }
    }
);

fn snapshot_image_to_wit(image: crate::container::SnapshotImage) -> wit_container::SnapshotImage {
    wit_container::SnapshotImage {
        id: image.id,
        reference: image.reference,
        name: image.name,
        created_at: image.created_at,
        size_bytes: image.size_bytes,
    }
}

impl wit_log::Host for CallState {
    async fn log(&mut self, level: wit_log::Level, message: String) -> wasmtime::Result<()> {
        if self.log_lines_left == 0 {
            self.log_lines_dropped += 1;
            return Ok(());
        }
        self.log_lines_left -= 1;
        let adapter = self.adapter.as_str();
        let environment = self.environment.as_ref().map(EnvironmentId::as_str);
        match level {
            wit_log::Level::Trace => tracing::trace!(adapter, environment, message, "adapter log"),
            wit_log::Level::Debug => tracing::debug!(adapter, environment, message, "adapter log"),
            wit_log::Level::Info => tracing::info!(adapter, environment, message, "adapter log"),
            wit_log::Level::Warn => tracing::warn!(adapter, environment, message, "adapter log"),
            wit_log::Level::Error => tracing::error!(adapter, environment, message, "adapter log"),
        }
        Ok(())
    }
}
