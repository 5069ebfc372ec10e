//! The host side of the WIT `container` interface: every call from an adapter
//! passes the [`Policy`] and an ownership check, then goes to the local Docker
//! engine through bollard.
//!
//! Ownership rests on labels the host stamps on every container it creates
//! (`envhost.managed`, `envhost.host`, `envhost.adapter`,
//! `envhost.environment`). An adapter can list, inspect and change only
//! containers that carry this host's id and its own name, so two hosts sharing
//! one engine, or two adapters of one host, keep out of each other's
//! containers.

mod convert;
mod error;
mod exec;
mod policy;
mod request;
mod snapshot;
mod spec;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, NetworkCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, InspectContainerOptions,
    ListContainersOptions, ListNetworksOptions, RemoveContainerOptionsBuilder,
    StartContainerOptions, StopContainerOptionsBuilder,
};
use futures_util::StreamExt;
use tracing::{Span, debug, info, instrument, warn};

pub use error::ContainerError;
pub use exec::{ExecOutput, MAX_EXEC_OUTPUT_BYTES, MAX_LOG_LINE_BYTES};
pub use policy::Policy;
pub use snapshot::{
    LABEL_SNAPSHOT, MAX_SNAPSHOT_NAME_LEN, SNAPSHOT_REPOSITORY, SnapshotImage, snapshot_repository,
    validate_snapshot_name,
};
/// Container labelled with this host's id, as listed for start-up recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostContainer {
    /// Full container id.
    pub id: String,
    /// Value of the `envhost.environment` label, if present.
    pub environment: Option<String>,
    /// Creation time in seconds since the Unix epoch.
    pub created_unix: i64,
}

pub use spec::{
    ContainerInfo, ContainerSpec, ContainerState, ContainerSummary, ImageInfo, Mount, PortRequest,
    PublishedPort,
};

use crate::ids::{AdapterName, EnvironmentId, HostId};
use crate::metrics;
use crate::state::WriteTicket;
use policy::{ImageRules, validate_network_name, with_default_tag};

/// Label set to `true` on every container and network the host creates.
pub const LABEL_MANAGED: &str = "envhost.managed";
/// Label holding the id of the host that created the container or network.
pub const LABEL_HOST: &str = "envhost.host";
/// Label holding the name of the adapter that created the container.
pub const LABEL_ADAPTER: &str = "envhost.adapter";
/// Label holding the id of the environment the container belongs to.
pub const LABEL_ENVIRONMENT: &str = "envhost.environment";

/// Socket used when neither the caller nor `DOCKER_HOST` names one.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Timeout of every engine request, in seconds.
// NOTE: a pull that takes longer than this fails; pulls are off by default.
const ENGINE_TIMEOUT_SECONDS: u64 = 120;

/// Guarded access to the local Docker engine on behalf of adapters.
///
/// Cloning is cheap: clones share one connection pool and policy.
#[derive(Clone, Debug)]
pub struct ContainerHost {
    inner: Arc<Inner>,
}

struct Inner {
    docker: Docker,
    policy: Policy,
    images: ImageRules,
    host_id: HostId,
    /// Socket the engine listens on, kept so that no bind mount can expose it.
    socket: PathBuf,
    /// Serializes `network_ensure`, because engines before Docker 25 (API
    /// 1.44) create a second network with the same name instead of failing.
    network_lock: tokio::sync::Mutex<()>,
    /// Waited on before a container is created; see
    /// [`ContainerHost::set_record_barrier`].
    record_barrier: OnceLock<RecordBarrier>,
}

/// Resolves once every state write submitted before the call is durable.
pub type RecordBarrier = Arc<dyn Fn() -> WriteTicket + Send + Sync>;

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner")
            .field("policy", &self.policy)
            .field("host_id", &self.host_id)
            .field("socket", &self.socket)
            .field("record_barrier", &self.record_barrier.get().is_some())
            .finish_non_exhaustive()
    }
}

impl ContainerHost {
    /// Connects to the engine and negotiates the API version.
    ///
    /// `docker_host` is a Unix socket path or a `unix://` URL; `None` uses
    /// `DOCKER_HOST`, then `/var/run/docker.sock`.
    ///
    /// # Errors
    ///
    /// `InvalidPolicy` for a malformed image pattern, `InvalidRequest` for a
    /// Docker host that is not a Unix socket, and `Unavailable` (saying how to
    /// start an engine) when the engine does not respond.
    pub async fn connect(
        docker_host: Option<&str>,
        policy: Policy,
        host_id: HostId,
    ) -> Result<Self, ContainerError> {
        let images = ImageRules::new(&policy.allowed_images)?;
        let socket = socket_path(docker_host)?;
        let socket_display = socket.display().to_string();
        let unreachable = |err: bollard::errors::Error| {
            ContainerError::Unavailable(format!(
                "docker engine at `{socket_display}` is not reachable: {err}; start one (for example \
                 `sudo systemctl start docker` or `sudo dockerd &`) or set DOCKER_HOST to its \
                 socket"
            ))
        };

        let docker = Docker::connect_with_unix(
            &socket_display,
            ENGINE_TIMEOUT_SECONDS,
            bollard::API_DEFAULT_VERSION,
        )
        .map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        let version = docker.client_version();
        info!(socket = %socket_display, api_version = %version, host_id = %host_id, "connected to docker engine");

        Ok(Self {
            inner: Arc::new(Inner {
                docker,
                policy,
                images,
                host_id,
                socket,
                network_lock: tokio::sync::Mutex::new(()),
                record_barrier: OnceLock::new(),
            }),
        })
    }

    /// Makes every container creation, stop and removal wait for `barrier`
    /// first.
    ///
    /// The host writes an environment's record (`provisioning` before a
    /// create, `terminating` before a destroy) before it calls the adapter,
    /// but does not wait for that write to reach the disk: the wait happens
    /// here, right before the engine changes something that outlives a
    /// crash. So no container exists whose record a crash could lose, no
    /// container is stopped while its record still reads as running, and an
    /// adapter that touches no container costs no extra commit. A second
    /// call is ignored.
    pub fn set_record_barrier(&self, barrier: RecordBarrier) {
        let _ = self.inner.record_barrier.set(barrier);
    }

    /// Waits for the record barrier, if one is set. `outcome` describes what did
    /// not happen when the state store failed.
    async fn wait_for_records(&self, outcome: &str) -> Result<(), ContainerError> {
        let Some(barrier) = self.inner.record_barrier.get() else {
            return Ok(());
        };
        barrier().await.map_err(|err| {
            ContainerError::Unavailable(format!("the state store failed, so {outcome}: {err}"))
        })
    }

    /// Returns the policy every call is checked against.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Returns the id stamped on every container this host creates.
    pub fn host_id(&self) -> &HostId {
        &self.inner.host_id
    }

    /// Creates the container of `environment`, named `envhost-<environment
    /// id>`, and returns its id. If that container exists and carries this
    /// host's id, this adapter and this environment, it is adopted and its id
    /// returned, so a retried create makes no second container. An absent
    /// image is pulled only when the policy allows pulls.
    ///
    /// # Errors
    ///
    /// - `Denied` when the spec breaks a policy rule, or the name belongs to
    ///   another host or adapter.
    /// - `Conflict` when the name belongs to another environment of this
    ///   adapter.
    /// - `InvalidRequest` for a malformed spec, or an absent image that may
    ///   not be pulled.
    /// - Any engine failure.
    #[instrument(
        name = "container.create",
        skip_all,
        fields(adapter = %adapter, environment = %environment, container = tracing::field::Empty)
    )]
    pub async fn create(
        &self,
        adapter: &AdapterName,
        environment: &EnvironmentId,
        spec: ContainerSpec,
    ) -> Result<String, ContainerError> {
        log_outcome(
            "create",
            self.create_container(adapter, environment, spec).await,
        )
    }

    async fn create_container(
        &self,
        adapter: &AdapterName,
        environment: &EnvironmentId,
        spec: ContainerSpec,
    ) -> Result<String, ContainerError> {
        let name = environment.container_name();
        Span::current().record("container", name.as_str());

        let image = spec.image.clone();
        let labels = self.ownership_labels(adapter, environment);
        let engine_sockets = std::slice::from_ref(&self.inner.socket);
        let body = request::create_body(
            &self.inner.policy,
            &self.inner.images,
            engine_sockets,
            spec,
            labels,
        )?;

        if let Some(id) = self.adopt(adapter, environment, &name).await? {
            return Ok(id);
        }

        self.ensure_image(&image).await?;

        self.wait_for_records(&format!("container `{name}` was not created"))
            .await?;
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        match self
            .inner
            .docker
            .create_container(Some(options), body)
            .await
        {
            Ok(response) => {
                info!(container_id = %response.id, image = %image, "created container");
                Ok(response.id)
            }
            Err(err) => {
                let err = ContainerError::from_engine(
                    format!("failed to create container `{name}`"),
                    err,
                );
                // A concurrent create of the same environment won the name.
                if matches!(err, ContainerError::Conflict(_))
                    && let Some(id) = self.adopt(adapter, environment, &name).await?
                {
                    return Ok(id);
                }
                Err(err)
            }
        }
    }

    /// Returns the id of the existing container `name` when it may be adopted
    /// by `adapter` for `environment`, `None` when there is no such container.
    async fn adopt(
        &self,
        adapter: &AdapterName,
        environment: &EnvironmentId,
        name: &str,
    ) -> Result<Option<String>, ContainerError> {
        let existing = match self.inspect_engine(name).await {
            Ok(existing) => existing,
            Err(err) if err.is_not_found() => return Ok(None),
            Err(err) => return Err(err),
        };

        let labels = container_labels(&existing);
        self.check_owner(adapter, name, &labels)?;
        if labels.get(LABEL_ENVIRONMENT).map(String::as_str) != Some(environment.as_str()) {
            return Err(ContainerError::Conflict(format!(
                "container `{name}` exists but belongs to another environment"
            )));
        }

        let id = existing.id.unwrap_or_default();
        info!(container_id = %id, "adopted existing container");
        Ok(Some(id))
    }

    async fn ensure_image(&self, image: &str) -> Result<(), ContainerError> {
        match self.inner.docker.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(err) => {
                let err =
                    ContainerError::from_engine(format!("failed to inspect image `{image}`"), err);
                if !err.is_not_found() {
                    return Err(err);
                }
            }
        }

        if !self.inner.policy.allow_pulls {
            return Err(ContainerError::InvalidRequest(format!(
                "image `{image}` is not present locally and pulls are not allowed"
            )));
        }

        // Without a tag the engine would pull every tag of the repository.
        let reference = with_default_tag(image);
        info!(image = %reference, "pulling image");
        let options = CreateImageOptionsBuilder::new()
            .from_image(&reference)
            .build();
        let mut progress = self.inner.docker.create_image(Some(options), None, None);
        while let Some(update) = progress.next().await {
            update.map_err(|err| {
                ContainerError::from_engine(format!("failed to pull image `{reference}`"), err)
            })?;
        }
        Ok(())
    }

    /// Starts a container by id or name. Starting a running one succeeds.
    ///
    /// # Errors
    ///
    /// `NotFound` for an unknown container, `Denied` (rule `ownership`) for a
    /// container of another host or adapter, and engine failures.
    #[instrument(
        name = "container.start",
        skip_all,
        fields(adapter = %adapter, container = %container, environment = tracing::field::Empty)
    )]
    pub async fn start(
        &self,
        adapter: &AdapterName,
        container: &str,
    ) -> Result<(), ContainerError> {
        let result = async {
            let id = self.owned_id(adapter, container).await?;
            self.inner
                .docker
                .start_container(&id, None::<StartContainerOptions>)
                .await
                .map_err(|err| {
                    ContainerError::from_engine(
                        format!("failed to start container `{container}`"),
                        err,
                    )
                })?;
            info!("started container");
            Ok(())
        };
        log_outcome("start", result.await)
    }

    /// Stops a container by id or name, killing it after `grace_seconds`.
    /// Stopping a stopped one succeeds.
    ///
    /// # Errors
    ///
    /// As [`ContainerHost::start`].
    #[instrument(
        name = "container.stop",
        skip_all,
        fields(adapter = %adapter, container = %container, environment = tracing::field::Empty)
    )]
    pub async fn stop(
        &self,
        adapter: &AdapterName,
        container: &str,
        grace_seconds: u32,
    ) -> Result<(), ContainerError> {
        let result = async {
            let id = self.owned_id(adapter, container).await?;
            self.wait_for_records(&format!("container `{container}` was not stopped"))
                .await?;
            let grace = i32::try_from(grace_seconds).unwrap_or(i32::MAX);
            let options = StopContainerOptionsBuilder::new().t(grace).build();
            self.inner
                .docker
                .stop_container(&id, Some(options))
                .await
                .map_err(|err| {
                    ContainerError::from_engine(
                        format!("failed to stop container `{container}`"),
                        err,
                    )
                })?;
            info!(grace_seconds, "stopped container");
            Ok(())
        };
        log_outcome("stop", result.await)
    }

    /// Removes a container by id or name together with its anonymous volumes.
    /// `force` kills it first if it runs.
    ///
    /// # Errors
    ///
    /// As [`ContainerHost::start`]; a missing container is `NotFound`, which
    /// callers tearing down treat as done.
    #[instrument(
        name = "container.remove",
        skip_all,
        fields(adapter = %adapter, container = %container, environment = tracing::field::Empty)
    )]
    pub async fn remove(
        &self,
        adapter: &AdapterName,
        container: &str,
        force: bool,
    ) -> Result<(), ContainerError> {
        let result = async {
            let id = self.owned_id(adapter, container).await?;
            self.wait_for_records(&format!("container `{container}` was not removed"))
                .await?;
            self.remove_by_id(&id, force).await.map_err(|err| {
                ContainerError::from_engine(
                    format!("failed to remove container `{container}`"),
                    err,
                )
            })?;
            info!(force, "removed container");
            Ok(())
        };
        log_outcome("remove", result.await)
    }

    /// Reads a container's state, labels and published ports.
    ///
    /// # Errors
    ///
    /// As [`ContainerHost::start`].
    #[instrument(
        name = "container.inspect",
        skip_all,
        fields(adapter = %adapter, container = %container, environment = tracing::field::Empty)
    )]
    pub async fn inspect(
        &self,
        adapter: &AdapterName,
        container: &str,
    ) -> Result<ContainerInfo, ContainerError> {
        let result = async {
            let response = self.owned(adapter, container).await?;
            Ok(convert::container_info(response))
        };
        log_outcome("inspect", result.await)
    }

    /// Lists the containers of `adapter` on this host, running or not, that
    /// carry every label in `labels`.
    ///
    /// # Errors
    ///
    /// `InvalidRequest` for an empty label key or one containing `=`, and
    /// engine failures.
    #[instrument(name = "container.list", skip_all, fields(adapter = %adapter))]
    pub async fn list(
        &self,
        adapter: &AdapterName,
        labels: &[(String, String)],
    ) -> Result<Vec<ContainerSummary>, ContainerError> {
        let result = async {
            for (key, _) in labels {
                if key.is_empty() || key.contains('=') {
                    return Err(ContainerError::InvalidRequest(format!(
                        "invalid label key `{key}` in list filter"
                    )));
                }
            }

            let mut filters = vec![
                format!("{LABEL_HOST}={}", self.inner.host_id),
                format!("{LABEL_ADAPTER}={adapter}"),
            ];
            filters.extend(labels.iter().map(|(key, value)| format!("{key}={value}")));
            let summaries = self.list_by_labels(filters).await?;

            // The engine filtered already; checking again keeps a foreign
            // container out even if a filter were ever dropped on the way.
            let owned = summaries
                .into_iter()
                .map(convert::container_summary)
                .filter(|summary| self.owns(adapter, &summary.labels))
                .collect();
            Ok(owned)
        };
        log_outcome("list", result.await)
    }

    /// Checks whether `image` is present locally.
    ///
    /// # Errors
    ///
    /// `Denied` (rule `allowed-images`) for an image the policy does not
    /// allow, `InvalidRequest` for a malformed reference, and engine failures.
    #[instrument(name = "container.image_exists", skip_all, fields(adapter = %adapter, image = %image))]
    pub async fn image_exists(
        &self,
        adapter: &AdapterName,
        image: &str,
    ) -> Result<bool, ContainerError> {
        let info = self.image_inspect(adapter, image).await?;
        Ok(info.is_some())
    }

    /// Reads a local image; `None` when it is not present.
    ///
    /// # Errors
    ///
    /// As [`ContainerHost::image_exists`].
    #[instrument(name = "container.image_inspect", skip_all, fields(adapter = %adapter, image = %image))]
    pub async fn image_inspect(
        &self,
        adapter: &AdapterName,
        image: &str,
    ) -> Result<Option<ImageInfo>, ContainerError> {
        let result = async {
            self.inner.images.check(image)?;
            match self.inner.docker.inspect_image(image).await {
                Ok(response) => Ok(Some(convert::image_info(response))),
                Err(err) => {
                    let err = ContainerError::from_engine(
                        format!("failed to inspect image `{image}`"),
                        err,
                    );
                    if err.is_not_found() {
                        Ok(None)
                    } else {
                        Err(err)
                    }
                }
            }
        };
        log_outcome("image_inspect", result.await)
    }

    /// Creates a user-defined bridge network named `name` unless a network
    /// with that name exists. `bridge`, `default` and `none` exist on every
    /// engine, so ensuring them does nothing.
    ///
    /// An existing network is accepted regardless of who created it, so that
    /// operators can name networks they manage themselves.
    ///
    /// # Errors
    ///
    /// `Denied` (rule `network`) for `host`, `InvalidRequest` for a name the
    /// engine would reject, and engine failures.
    #[instrument(name = "container.network_ensure", skip_all, fields(adapter = %adapter, network = %name))]
    pub async fn network_ensure(
        &self,
        adapter: &AdapterName,
        name: &str,
    ) -> Result<(), ContainerError> {
        let result = async {
            match name {
                "host" => {
                    return Err(ContainerError::denied(
                        "network",
                        "network `host` can not be used: it is the host's network namespace",
                    ));
                }
                "bridge" | "default" | "none" => return Ok(()),
                _ => validate_network_name(name)?,
            }

            let _serialized = self.inner.network_lock.lock().await;
            // NOTE: the lock covers this host only. Two hosts on one engine
            // older than Docker 25 can still race and create two networks
            // with the same name.
            if self.network_exists(name).await? {
                debug!("network exists");
                return Ok(());
            }

            let labels = HashMap::from([
                (LABEL_MANAGED.to_owned(), "true".to_owned()),
                (LABEL_HOST.to_owned(), self.inner.host_id.to_string()),
            ]);
            let request = NetworkCreateRequest {
                name: name.to_owned(),
                driver: Some("bridge".to_owned()),
                labels: Some(labels),
                ..NetworkCreateRequest::default()
            };
            match self.inner.docker.create_network(request).await {
                Ok(_) => {
                    info!("created network");
                    Ok(())
                }
                Err(err) => {
                    let err = ContainerError::from_engine(
                        format!("failed to create network `{name}`"),
                        err,
                    );
                    // Docker 25 (API 1.44) and later reject a duplicate name
                    // with a conflict, so another caller took the name meanwhile.
                    if matches!(err, ContainerError::Conflict(_)) {
                        Ok(())
                    } else {
                        Err(err)
                    }
                }
            }
        };
        log_outcome("network_ensure", result.await)
    }

    /// Force-removes every container labelled with this host's id and
    /// `environment`, whichever adapter created it, and returns how many were
    /// removed. The host uses this when an adapter is gone or failed to tear
    /// down.
    ///
    /// # Errors
    ///
    /// Engine failures; containers that vanish meanwhile are not errors.
    #[instrument(
        name = "container.remove_environment",
        skip_all,
        fields(environment = %environment)
    )]
    pub async fn remove_environment_containers(
        &self,
        environment: &EnvironmentId,
    ) -> Result<usize, ContainerError> {
        let result = async {
            let filters = vec![
                format!("{LABEL_HOST}={}", self.inner.host_id),
                format!("{LABEL_ENVIRONMENT}={environment}"),
            ];
            let summaries = self.list_by_labels(filters).await?;

            let mut removed = 0;
            for summary in summaries {
                let id = summary.id.unwrap_or_default();
                match self.remove_by_id(&id, true).await {
                    Ok(()) => removed += 1,
                    Err(err) => {
                        let err = ContainerError::from_engine(
                            format!("failed to remove container `{id}`"),
                            err,
                        );
                        if !err.is_not_found() {
                            return Err(err);
                        }
                    }
                }
            }
            info!(removed, "removed environment containers");
            Ok(removed)
        };
        log_outcome("remove_environment", result.await)
    }

    /// Lists every container labelled with this host's id, whichever adapter
    /// created it. Start-up recovery uses it to find containers that no
    /// record owns.
    ///
    /// # Errors
    ///
    /// Engine failures.
    #[instrument(name = "container.list_host", skip_all)]
    pub async fn list_host_containers(&self) -> Result<Vec<HostContainer>, ContainerError> {
        let filters = vec![format!("{LABEL_HOST}={}", self.inner.host_id)];
        let summaries = log_outcome("list_host", self.list_by_labels(filters).await)?;
        Ok(summaries
            .into_iter()
            .map(|summary| {
                let labels = summary.labels.unwrap_or_default();
                HostContainer {
                    id: summary.id.unwrap_or_default(),
                    environment: labels.get(LABEL_ENVIRONMENT).cloned(),
                    created_unix: summary.created.unwrap_or_default(),
                }
            })
            .collect())
    }

    /// Force-removes one container of this host by id, after checking its
    /// host label. Used for containers that no record owns.
    ///
    /// # Errors
    ///
    /// `Denied` when the container belongs to another host; engine failures.
    /// A container that is already gone is not an error.
    #[instrument(name = "container.remove_orphan", skip_all, fields(container = %id))]
    pub async fn remove_host_container(&self, id: &str) -> Result<(), ContainerError> {
        let result = async {
            let info = match self
                .inner
                .docker
                .inspect_container(id, None::<InspectContainerOptions>)
                .await
            {
                Ok(info) => info,
                Err(err) => {
                    let err = ContainerError::from_engine(
                        format!("failed to inspect container `{id}`"),
                        err,
                    );
                    return if err.is_not_found() { Ok(()) } else { Err(err) };
                }
            };
            let host = info
                .config
                .as_ref()
                .and_then(|config| config.labels.as_ref())
                .and_then(|labels| labels.get(LABEL_HOST));
            if host.map(String::as_str) != Some(self.inner.host_id.as_str()) {
                return Err(ContainerError::denied(
                    "ownership",
                    format!(
                        "container `{id}` does not belong to host `{}`",
                        self.inner.host_id
                    ),
                ));
            }
            match self.remove_by_id(id, true).await {
                Ok(()) => Ok(()),
                Err(err) => {
                    let err = ContainerError::from_engine(
                        format!("failed to remove container `{id}`"),
                        err,
                    );
                    if err.is_not_found() { Ok(()) } else { Err(err) }
                }
            }
        };
        log_outcome("remove_orphan", result.await)
    }

    fn ownership_labels(
        &self,
        adapter: &AdapterName,
        environment: &EnvironmentId,
    ) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_MANAGED.to_owned(), "true".to_owned()),
            (LABEL_HOST.to_owned(), self.inner.host_id.to_string()),
            (LABEL_ADAPTER.to_owned(), adapter.to_string()),
            (LABEL_ENVIRONMENT.to_owned(), environment.to_string()),
        ])
    }

    fn owns(&self, adapter: &AdapterName, labels: &[(String, String)]) -> bool {
        let has = |key: &str, value: &str| labels.iter().any(|(k, v)| k == key && v == value);
        has(LABEL_HOST, self.inner.host_id.as_str()) && has(LABEL_ADAPTER, adapter.as_str())
    }

    fn check_owner(
        &self,
        adapter: &AdapterName,
        container: &str,
        labels: &HashMap<String, String>,
    ) -> Result<(), ContainerError> {
        let host_matches =
            labels.get(LABEL_HOST).map(String::as_str) == Some(self.inner.host_id.as_str());
        let adapter_matches =
            labels.get(LABEL_ADAPTER).map(String::as_str) == Some(adapter.as_str());
        if host_matches && adapter_matches {
            return Ok(());
        }
        Err(ContainerError::denied(
            "ownership",
            format!("container `{container}` is not owned by adapter `{adapter}` on this host"),
        ))
    }

    /// Inspects a container and checks that `adapter` on this host owns it.
    async fn owned(
        &self,
        adapter: &AdapterName,
        container: &str,
    ) -> Result<ContainerInspectResponse, ContainerError> {
        let response = self.inspect_engine(container).await?;
        let labels = container_labels(&response);
        self.check_owner(adapter, container, &labels)?;
        if let Some(environment) = labels.get(LABEL_ENVIRONMENT) {
            Span::current().record("environment", environment.as_str());
        }
        Ok(response)
    }

    /// Returns the full id of an owned container, so that the operation that
    /// follows targets the container that was checked even if the name moves.
    async fn owned_id(
        &self,
        adapter: &AdapterName,
        container: &str,
    ) -> Result<String, ContainerError> {
        let response = self.owned(adapter, container).await?;
        Ok(response.id.unwrap_or_default())
    }

    async fn inspect_engine(
        &self,
        container: &str,
    ) -> Result<ContainerInspectResponse, ContainerError> {
        validate_container_reference(container)?;
        self.inner
            .docker
            .inspect_container(container, None::<InspectContainerOptions>)
            .await
            .map_err(|err| {
                ContainerError::from_engine(
                    format!("failed to inspect container `{container}`"),
                    err,
                )
            })
    }

    async fn remove_by_id(&self, id: &str, force: bool) -> Result<(), bollard::errors::Error> {
        let options = RemoveContainerOptionsBuilder::new()
            .force(force)
            .v(true)
            .build();
        self.inner.docker.remove_container(id, Some(options)).await
    }

    async fn list_by_labels(
        &self,
        label_filters: Vec<String>,
    ) -> Result<Vec<bollard::models::ContainerSummary>, ContainerError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_owned(), label_filters)])),
            ..ListContainersOptions::default()
        };
        self.inner
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|err| ContainerError::from_engine("failed to list containers", err))
    }

    async fn network_exists(&self, name: &str) -> Result<bool, ContainerError> {
        // The engine's name filter matches substrings, so compare exactly.
        let options = ListNetworksOptions {
            filters: Some(HashMap::from([("name".to_owned(), vec![name.to_owned()])])),
        };
        let networks = self
            .inner
            .docker
            .list_networks(Some(options))
            .await
            .map_err(|err| {
                ContainerError::from_engine(format!("failed to list networks named `{name}`"), err)
            })?;
        Ok(networks
            .iter()
            .any(|network| network.name.as_deref() == Some(name)))
    }
}

/// Resolves the socket from the argument, then `DOCKER_HOST`, then the
/// default path.
fn socket_path(docker_host: Option<&str>) -> Result<PathBuf, ContainerError> {
    let from_env = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|value| !value.is_empty());
    let host = docker_host
        .map(str::to_owned)
        .or(from_env)
        .unwrap_or_else(|| DEFAULT_SOCKET.to_owned());

    let path = host.strip_prefix("unix://").unwrap_or(&host);
    if path.contains("://") || path.is_empty() {
        return Err(ContainerError::InvalidRequest(format!(
            "unsupported docker host `{host}`: expected a Unix socket path or `unix://` URL"
        )));
    }
    Ok(PathBuf::from(path))
}

/// Rejects references that are neither container ids nor names, so that
/// nothing but a name reaches the engine URL (`/containers/{name}/json`).
fn validate_container_reference(container: &str) -> Result<(), ContainerError> {
    let name = container.strip_prefix('/').unwrap_or(container);
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    let valid_start = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if !valid_chars || !valid_start || name.len() > 256 {
        return Err(ContainerError::InvalidRequest(format!(
            "invalid container id or name `{container}`"
        )));
    }
    Ok(())
}

fn container_labels(response: &ContainerInspectResponse) -> HashMap<String, String> {
    response
        .config
        .as_ref()
        .and_then(|config| config.labels.clone())
        .unwrap_or_default()
}

/// Logs a failed call inside the operation's span, so that every denial is
/// recorded with the adapter and environment, and counts the call by
/// operation and outcome.
fn log_outcome<T>(
    operation: &'static str,
    result: Result<T, ContainerError>,
) -> Result<T, ContainerError> {
    match &result {
        Err(ContainerError::Denied { rule, message }) => {
            warn!(rule, %message, "container call denied by policy");
            metrics::record_container_call(operation, "denied", Some(rule));
        }
        Err(err @ (ContainerError::Unavailable(_) | ContainerError::Engine(_))) => {
            warn!(error = %err, "container call failed");
            metrics::record_container_call(operation, "error", None);
        }
        Err(err) => {
            debug!(error = %err, "container call failed");
            metrics::record_container_call(operation, "error", None);
        }
        Ok(_) => metrics::record_container_call(operation, metrics::OK, None),
    }
    result
}
