//! [`EnvironmentService`]: the provider contract implemented over the adapter
//! registry, the state store and the container host.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, MutexGuard};

use super::{
    CreateSnapshotRequest, EnvironmentLogs, Environments, ProbeRequest, ProbeResult, ServiceError,
    Snapshot, SnapshotList, validate,
};
use crate::adapters::{
    Adapter, AdapterState, CallError, ProviderErrorKind, Registry, ReservationState,
};
use crate::container::{ContainerError, ContainerHost};
use crate::ids::{AdapterName, EnvironmentId};
use crate::leases::LeaseSchedule;
use crate::metrics::{self, Operation};
use crate::model::{
    self, AdapterSummary, CreateRequest, Descriptor, JsonObject, Lease, ListFilter, ReserveRequest,
    StartRequest, Status,
};
use crate::state::{EnvironmentRecord, RecordKind, StateError, Store, Write, WriteTicket};

mod expiry;
mod recovery;
mod request_check;
mod snapshots;

pub use expiry::LEASE_EXPIRED;
pub use recovery::RecoveryReport;

/// Number of lock stripes serializing operations on the same environment id.
const LOCK_STRIPES: usize = 64;

/// Settings of the service, from the `[leases]` and `[adapters]` config.
#[derive(Clone, Debug)]
pub struct ServiceSettings {
    /// Adapter used when a request names no `provider`.
    pub default_adapter: Option<AdapterName>,
    /// Lease length when a request gives no `ttlMs`.
    pub default_ttl: Duration,
    /// Maximum lease a request may ask for.
    pub max_ttl: Duration,
    /// How long a destroyed environment still reads `terminated` before it
    /// is forgotten (404).
    pub tombstone_retention: Duration,
}

/// The provider contract over adapters, durable records and containers.
pub struct EnvironmentService {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    containers: ContainerHost,
    settings: ServiceSettings,
    leases: Arc<LeaseSchedule>,
    locks: Vec<Mutex<()>>,
}

impl EnvironmentService {
    /// Creates the service. Leases of environments it creates go into
    /// `leases`, which the collector task watches.
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        containers: ContainerHost,
        settings: ServiceSettings,
        leases: Arc<LeaseSchedule>,
    ) -> Self {
        let barrier_store = Arc::clone(&store);
        containers.set_record_barrier(Arc::new(move || barrier_store.barrier()));
        Self {
            store,
            registry,
            containers,
            settings,
            leases,
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    /// Serializes operations on one id, so that a create racing a destroy of
    /// the same environment reads a consistent record.
    async fn lock(&self, id: &EnvironmentId) -> MutexGuard<'_, ()> {
        let mut hasher = DefaultHasher::new();
        id.hash(&mut hasher);
        let stripe = (hasher.finish() % LOCK_STRIPES as u64) as usize;
        self.locks[stripe].lock().await
    }

    /// Runs a store operation on the blocking pool.
    async fn with_store<R, F>(&self, operation: F) -> Result<R, ServiceError>
    where
        R: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<R, StateError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || operation(store.as_ref()))
            .await
            .map_err(|err| ServiceError::Internal(format!("state store task failed: {err}")))?
            .map_err(|err| ServiceError::Internal(err.to_string()))
    }

    /// Reads a record on the calling task. Live records come from memory, and
    /// other lookups read a write-ahead-log database, which does not wait for
    /// a commit, so a hop to the blocking pool would cost more than the read.
    async fn get_record(
        &self,
        id: &EnvironmentId,
    ) -> Result<Option<EnvironmentRecord>, ServiceError> {
        self.store
            .get(id)
            .map_err(|err| ServiceError::Internal(err.to_string()))
    }

    async fn insert_record(&self, record: &EnvironmentRecord) -> Result<(), ServiceError> {
        self.write(Write::Insert(record.clone())).await
    }

    async fn update_record(&self, record: &EnvironmentRecord) -> Result<(), ServiceError> {
        self.write(Write::Update(record.clone())).await
    }

    async fn delete_record(&self, id: &EnvironmentId) -> Result<(), ServiceError> {
        self.write(Write::Delete(id.clone())).await
    }

    /// Submits `record` as `terminating`, then runs `destroying`, the
    /// adapter's part of a destroy, without waiting for that write.
    ///
    /// The container layer waits for the write before it stops or removes a
    /// container (see `ContainerHost::set_record_barrier`), so a host that
    /// dies half way finds `terminating` at start and finishes the destroy.
    /// The returned ticket resolves when the mark is durable. Under load the
    /// mark shares a commit with the `terminated` that follows.
    pub(super) async fn destroy_marked_terminating<T>(
        &self,
        record: &EnvironmentRecord,
        destroying: impl Future<Output = T>,
    ) -> (T, WriteTicket) {
        let mut marking = record.clone();
        marking.status = Status::Terminating;
        marking.updated_at = model::now();
        let marked = self.store.submit(Write::Update(marking));
        (destroying.await, marked)
    }

    /// Waits until `write` is durable; concurrent writes share commits.
    async fn write(&self, write: Write) -> Result<(), ServiceError> {
        self.store
            .submit(write)
            .await
            .map_err(|err| ServiceError::Internal(err.to_string()))
    }

    fn adapter_name(&self, provider: Option<&str>) -> Result<AdapterName, ServiceError> {
        match provider {
            Some(name) => Ok(AdapterName::parse(name)?),
            None => self.settings.default_adapter.clone().ok_or_else(|| {
                ServiceError::InvalidRequest(
                    "missing `provider`: the request names no adapter and no default adapter \
                     is configured (`adapters.default`)"
                        .to_owned(),
                )
            }),
        }
    }

    /// Resolves what create and reserve share: the environment id (minted
    /// when absent), the adapter and the lease length.
    fn resolve_target(
        &self,
        environment_id: Option<&str>,
        provider: Option<&str>,
        ttl_ms: Option<u64>,
    ) -> Result<(EnvironmentId, AdapterName, u64), ServiceError> {
        let id = match environment_id {
            Some(id) => EnvironmentId::parse(id)?,
            None => EnvironmentId::mint(),
        };
        let adapter_name = self.adapter_name(provider)?;
        let ttl_ms = validate::ttl_ms(ttl_ms, self.settings.default_ttl, self.settings.max_ttl)?;
        Ok((id, adapter_name, ttl_ms))
    }

    /// Returns the descriptor of an earlier identical request for `id`, a
    /// conflict when the earlier request differed, and `None` for a new id.
    /// The caller holds the id's lock.
    async fn replay(
        &self,
        id: &EnvironmentId,
        kind: RecordKind,
        request_digest: &str,
    ) -> Result<Option<Descriptor>, ServiceError> {
        let Some(existing) = self.get_record(id).await? else {
            return Ok(None);
        };
        if existing.request_digest != request_digest || existing.kind != kind {
            return Err(ServiceError::Conflict(format!(
                "environment `{id}` already exists with a different request"
            )));
        }
        Ok(Some(descriptor(&existing)))
    }

    fn adapter(&self, name: &AdapterName) -> Result<Arc<Adapter>, ServiceError> {
        if let Some(adapter) = self.registry.get(name) {
            return Ok(adapter);
        }
        let detail = match self.registry.load_error(name.as_str()) {
            Some(error) => format!("adapter `{name}` failed to load: {error}"),
            None => format!("adapter `{name}` is not loaded"),
        };
        Err(ServiceError::NotFound(detail))
    }

    /// Checks a workspace path against the policy and returns its resolved
    /// form, which is what the adapter receives.
    fn workspace(&self, path: Option<&str>) -> Result<Option<PathBuf>, ServiceError> {
        let Some(path) = path else {
            return Ok(None);
        };
        let path = std::path::Path::new(path);
        if !path.is_absolute() {
            return Err(ServiceError::InvalidRequest(format!(
                "invalid `workspacePath` `{}`: expected an absolute path",
                path.display()
            )));
        }
        self.containers
            .policy()
            .check_workspace(path)
            .map(Some)
            .map_err(|err| match err {
                ContainerError::Denied { .. } => ServiceError::Denied(err.to_string()),
                other => ServiceError::InvalidRequest(format!("invalid `workspacePath`: {other}")),
            })
    }

    fn new_lease(&self, ttl_ms: u64) -> Lease {
        let acquired_at = model::now();
        let ttl = chrono::Duration::milliseconds(i64::try_from(ttl_ms).unwrap_or(i64::MAX));
        Lease {
            lease_id: uuid::Uuid::now_v7().simple().to_string(),
            acquired_at,
            expires_at: acquired_at + ttl,
            owner: None,
        }
    }

    fn is_forgotten(&self, record: &EnvironmentRecord) -> bool {
        let retention = chrono::Duration::from_std(self.settings.tombstone_retention)
            .unwrap_or(chrono::Duration::MAX);
        record.status.is_terminal() && record.updated_at + retention < model::now()
    }

    /// Applies what the adapter reported to the record.
    fn apply_state(
        record: &mut EnvironmentRecord,
        request_metadata: &JsonObject,
        state: AdapterState,
    ) {
        let mut metadata = request_metadata.clone();
        metadata.extend(state.metadata);
        record.status = state.status;
        record.reason = state.reason;
        record.endpoints = state.endpoints;
        record.metadata = metadata;
        record.updated_at = model::now();
    }

    /// Cleans up after a failed create or start. The adapter destroys what it
    /// may have made, then the host removes any container left, by label.
    async fn clean_up_failed(&self, adapter: &Adapter, id: &EnvironmentId) {
        if let Err(err) = adapter.destroy(id, Some("create-failed")).await {
            tracing::warn!(environment = %id, adapter = %adapter.name(), error = %err, "cleanup after a failed create failed in the adapter");
        }
        match self.containers.remove_environment_containers(id).await {
            Ok(0) => {}
            Ok(removed) => {
                tracing::warn!(environment = %id, removed, "removed containers left by a failed create")
            }
            Err(err) => {
                tracing::error!(environment = %id, error = %err, "failed to remove containers left by a failed create")
            }
        }
    }

    /// Refreshes a live record from its adapter and stores any change. The
    /// caller must not hold the environment's lock: this takes it.
    async fn refresh(&self, record: EnvironmentRecord) -> Result<EnvironmentRecord, ServiceError> {
        let is_started_environment =
            record.kind == RecordKind::Environment || record.start_request.is_some();
        let is_settled = record.status.is_terminal() || record.status == Status::Terminating;
        if is_settled || !is_started_environment {
            return Ok(record);
        }
        let Some(adapter) = self.registry.get(&record.adapter) else {
            return Ok(record);
        };
        let outcome = adapter.get_status(&record.id).await;

        // A destroy or a lease collection may have run during the adapter call.
        // It stops the container, which would read as a failure here, so the
        // result is applied under the environment's lock and only to a record
        // that did not change meanwhile.
        let _guard = self.lock(&record.id).await;
        let Some(mut current) = self.get_record(&record.id).await? else {
            return Ok(record);
        };
        if current.updated_at != record.updated_at || current.status != record.status {
            return Ok(current);
        }
        let request_metadata = request_metadata(&current);
        match outcome {
            Ok(state) => {
                let changed = state.status != current.status
                    || state.reason != current.reason
                    || state.endpoints != current.endpoints;
                if changed {
                    Self::apply_state(&mut current, &request_metadata, state);
                    self.update_record(&current).await?;
                }
            }
            Err(CallError::Provider {
                kind: ProviderErrorKind::NotFound,
                message,
                ..
            }) => {
                current.status = Status::Failed;
                current.reason = Some(format!("environment vanished from its backend: {message}"));
                current.updated_at = model::now();
                self.update_record(&current).await?;
            }
            Err(err) => {
                // The stored record is still the best status to return, and the
                // failure goes to the log.
                tracing::warn!(environment = %current.id, adapter = %current.adapter, error = %err, "status refresh failed");
            }
        }
        Ok(current)
    }
}

/// Returns the metadata the caller sent with the create or reserve request.
fn request_metadata(record: &EnvironmentRecord) -> JsonObject {
    let mut metadata = record
        .request
        .get("metadata")
        .and_then(|value| value.as_object())
        .cloned()
        .unwrap_or_default();
    let start_metadata = record
        .start_request
        .as_ref()
        .and_then(|start| start.get("metadata"))
        .and_then(|value| value.as_object());
    if let Some(start_metadata) = start_metadata {
        metadata.extend(start_metadata.clone());
    }
    metadata
}

/// Digest of a request in canonical JSON (object keys sorted), for
/// idempotency checks.
fn digest(value: &serde_json::Value) -> String {
    format!("sha256:{:x}", Sha256::digest(value.to_string().as_bytes()))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, ServiceError> {
    serde_json::to_value(value)
        .map_err(|err| ServiceError::Internal(format!("failed to encode a request: {err}")))
}

fn descriptor(record: &EnvironmentRecord) -> Descriptor {
    Descriptor {
        environment_id: record.id.clone(),
        provider: record.adapter.to_string(),
        status: record.status,
        reason: record.reason.clone(),
        created_at: record.created_at,
        updated_at: record.updated_at,
        lease: Some(record.lease.clone()),
        endpoints: record.endpoints.clone(),
        metadata: record.metadata.clone(),
    }
}

/// Maps an adapter call error to the service error returned to the caller.
fn call_error(err: CallError) -> ServiceError {
    match err {
        CallError::Provider {
            kind, ref message, ..
        } => {
            let message = message.clone();
            match kind {
                ProviderErrorKind::NotFound => ServiceError::NotFound(message),
                ProviderErrorKind::InvalidRequest => ServiceError::InvalidRequest(message),
                ProviderErrorKind::Denied => ServiceError::Denied(message),
                ProviderErrorKind::Unavailable => ServiceError::Unavailable(message),
                ProviderErrorKind::Conflict => ServiceError::Conflict(message),
                ProviderErrorKind::Internal => ServiceError::Internal(err.to_string()),
            }
        }
        CallError::Unsupported { .. } => ServiceError::NotImplemented(err.to_string()),
        CallError::Timeout { .. } | CallError::Instantiate { .. } | CallError::Unhealthy { .. } => {
            ServiceError::Unavailable(err.to_string())
        }
        CallError::Trap { .. } => ServiceError::AdapterFailed(err.to_string()),
    }
}

#[async_trait]
impl Environments for EnvironmentService {
    async fn create(&self, request: CreateRequest) -> Result<Descriptor, ServiceError> {
        let (id, adapter_name, ttl_ms) = self.resolve_target(
            request.environment_id.as_deref(),
            request.provider.as_deref(),
            request.ttl_ms,
        )?;
        validate::resources(&request.resources)?;
        validate::env(&request.env)?;
        validate::metadata(&request.metadata)?;
        let workspace = self.workspace(request.workspace_path.as_deref())?;

        // The idempotency key is everything but the id, with the defaults
        // filled in, so that naming the default adapter explicitly is the
        // same request.
        let mut normalized = request.clone();
        normalized.environment_id = None;
        normalized.provider = Some(adapter_name.to_string());
        normalized.ttl_ms = Some(ttl_ms);
        let request_json = to_json(&normalized)?;
        let request_digest = digest(&request_json);

        let _guard = self.lock(&id).await;
        if let Some(existing) = self
            .replay(&id, RecordKind::Environment, &request_digest)
            .await?
        {
            return Ok(existing);
        }
        let adapter = self.adapter(&adapter_name)?;

        // The record is written before the adapter runs, so that a crash in
        // between leaves a record to recover from, never an unowned container.
        let now = model::now();
        let mut record = EnvironmentRecord {
            id: id.clone(),
            adapter: adapter_name.clone(),
            kind: RecordKind::Environment,
            status: Status::Provisioning,
            reason: None,
            tenant_id: request.tenant_id.clone(),
            namespace: request.namespace.clone(),
            run_id: request.run_id.clone(),
            request: request_json,
            request_digest,
            start_request: None,
            reservation: None,
            endpoints: Vec::new(),
            metadata: request.metadata.clone(),
            lease: self.new_lease(ttl_ms),
            created_at: now,
            updated_at: now,
        };
        // The record goes to disk while the adapter runs. The container layer
        // waits for it before it creates anything (see
        // `ContainerHost::set_record_barrier`). Under load the insert and the
        // update below share one commit.
        let recorded = self.store.submit(Write::Insert(record.clone()));
        let outcome = adapter
            .create(&id, &request, ttl_ms, workspace.as_deref())
            .await;
        // The update is submitted before the insert is awaited, so that both
        // can share a commit.
        let outcome = outcome.map(|state| {
            Self::apply_state(&mut record, &request.metadata, state);
            self.store.submit(Write::Update(record.clone()))
        });
        if let Err(err) = recorded.await {
            tracing::error!(environment = %id, adapter = %adapter_name, error = %err, "failed to record a new environment");
            if outcome.is_ok() {
                self.clean_up_failed(&adapter, &id).await;
            }
            return Err(ServiceError::Internal(err.to_string()));
        }

        match outcome {
            Ok(updated) => {
                updated
                    .await
                    .map_err(|err| ServiceError::Internal(err.to_string()))?;
                self.leases.set(&id, record.lease.expires_at);
                tracing::info!(environment = %id, adapter = %adapter_name, status = %record.status, "environment created");
                metrics::record_operation(Operation::Create, adapter_name.as_str(), metrics::OK);
                Ok(descriptor(&record))
            }
            Err(err) => {
                tracing::warn!(environment = %id, adapter = %adapter_name, error = %err, "create failed");
                self.clean_up_failed(&adapter, &id).await;
                self.delete_record(&id).await?;
                let error = call_error(err);
                metrics::record_operation(Operation::Create, adapter_name.as_str(), error.code());
                Err(error)
            }
        }
    }

    async fn get(&self, id: &EnvironmentId) -> Result<Descriptor, ServiceError> {
        let not_found = || ServiceError::NotFound(format!("environment `{id}` not found"));
        let record = self.get_record(id).await?.ok_or_else(not_found)?;
        if self.is_forgotten(&record) {
            return Err(not_found());
        }
        let record = self.refresh(record).await?;
        Ok(descriptor(&record))
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<Descriptor>, ServiceError> {
        let filter = filter.clone();
        let records = self.with_store(move |store| store.list(&filter)).await?;
        Ok(records
            .iter()
            .filter(|record| !self.is_forgotten(record))
            .map(descriptor)
            .collect())
    }

    async fn destroy(
        &self,
        id: &EnvironmentId,
        reason: Option<String>,
    ) -> Result<Option<Descriptor>, ServiceError> {
        let _guard = self.lock(id).await;
        let Some(mut record) = self.get_record(id).await? else {
            return Ok(None);
        };
        if record.status.is_terminal() {
            return Ok(Some(descriptor(&record)));
        }
        let reason = reason.unwrap_or_else(|| "destroyed on request".to_owned());

        let registry = Arc::clone(&self.registry);
        let destroying = async {
            match registry.get(&record.adapter) {
                Some(adapter) => adapter.destroy(id, Some(&reason)).await.map_err(Some),
                None => Err(None),
            }
        };
        let (adapter_outcome, marked) = self.destroy_marked_terminating(&record, destroying).await;
        marked
            .await
            .map_err(|err| ServiceError::Internal(err.to_string()))?;
        // When the adapter failed or is gone, the host removes what carries
        // the environment's label itself; an adapter that succeeded is
        // trusted, so that destroy costs no extra engine call.
        if let Err(adapter_error) = adapter_outcome {
            let detail = adapter_error.as_ref().map(ToString::to_string);
            match self.containers.remove_environment_containers(id).await {
                Ok(count) => tracing::warn!(
                    environment = %id,
                    adapter = %record.adapter,
                    error = ?detail,
                    removed = count,
                    "adapter destroy failed or adapter missing; removed containers by label"
                ),
                Err(err) => {
                    tracing::error!(environment = %id, error = %err, "failed to remove containers by label");
                    let error = match adapter_error {
                        Some(call) => call_error(call),
                        None => ServiceError::Unavailable(format!(
                            "failed to destroy environment `{id}`: {err}"
                        )),
                    };
                    metrics::record_operation(
                        Operation::Destroy,
                        record.adapter.as_str(),
                        error.code(),
                    );
                    return Err(error);
                }
            }
        }

        record.status = Status::Terminated;
        record.reason = Some(reason);
        record.endpoints.clear();
        record.updated_at = model::now();
        self.update_record(&record).await?;
        self.leases.remove(id);
        tracing::info!(environment = %id, adapter = %record.adapter, "environment destroyed");
        metrics::record_operation(Operation::Destroy, record.adapter.as_str(), metrics::OK);
        Ok(Some(descriptor(&record)))
    }

    async fn reserve(&self, request: ReserveRequest) -> Result<Descriptor, ServiceError> {
        let (id, adapter_name, ttl_ms) = self.resolve_target(
            request.environment_id.as_deref(),
            request.provider.as_deref(),
            request.ttl_ms,
        )?;
        validate::metadata(&request.metadata)?;

        let mut normalized = request.clone();
        normalized.environment_id = None;
        normalized.provider = Some(adapter_name.to_string());
        normalized.ttl_ms = Some(ttl_ms);
        let request_json = to_json(&normalized)?;
        let request_digest = digest(&request_json);

        let _guard = self.lock(&id).await;
        if let Some(existing) = self
            .replay(&id, RecordKind::Reservation, &request_digest)
            .await?
        {
            return Ok(existing);
        }
        let adapter = self.adapter(&adapter_name)?;
        if !adapter.capabilities().supports_two_phase {
            return Err(ServiceError::NotImplemented(format!(
                "adapter `{adapter_name}` does not support two-phase provisioning \
                 (it does not export `two-phase`)"
            )));
        }

        let now = model::now();
        let mut record = EnvironmentRecord {
            id: id.clone(),
            adapter: adapter_name.clone(),
            kind: RecordKind::Reservation,
            status: Status::Pending,
            reason: None,
            tenant_id: None,
            namespace: request.namespace.clone(),
            run_id: request.run_id.clone(),
            request: request_json,
            request_digest,
            start_request: None,
            reservation: None,
            endpoints: Vec::new(),
            metadata: request.metadata.clone(),
            lease: self.new_lease(ttl_ms),
            created_at: now,
            updated_at: now,
        };
        self.insert_record(&record).await?;

        match adapter.reserve(&id, &request, ttl_ms).await {
            Ok(reservation) => {
                record.status = reservation.status;
                record.reservation = Some(to_json(&reservation)?);
                record.updated_at = model::now();
                self.update_record(&record).await?;
                self.leases.set(&id, record.lease.expires_at);
                tracing::info!(environment = %id, adapter = %adapter_name, "environment reserved");
                Ok(descriptor(&record))
            }
            Err(err) => {
                tracing::warn!(environment = %id, adapter = %adapter_name, error = %err, "reserve failed");
                self.clean_up_failed(&adapter, &id).await;
                self.delete_record(&id).await?;
                Err(call_error(err))
            }
        }
    }

    async fn start(
        &self,
        id: &EnvironmentId,
        request: StartRequest,
    ) -> Result<Descriptor, ServiceError> {
        validate::env(&request.env)?;
        validate::metadata(&request.metadata)?;
        let workspace = self.workspace(request.workspace_path.as_deref())?;
        let start_json = to_json(&request)?;

        let _guard = self.lock(id).await;
        let mut record = self
            .get_record(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("reservation `{id}` not found")))?;
        if record.kind != RecordKind::Reservation {
            return Err(ServiceError::Conflict(format!(
                "environment `{id}` was created directly, not reserved: there is nothing to start"
            )));
        }
        if let Some(previous) = &record.start_request {
            if *previous != start_json {
                return Err(ServiceError::Conflict(format!(
                    "environment `{id}` was already started with a different request"
                )));
            }
            return Ok(descriptor(&record));
        }
        if record.status.is_terminal() {
            return Err(ServiceError::Conflict(format!(
                "reservation `{id}` is {}: it can not be started",
                record.status
            )));
        }
        let adapter = self.adapter(&record.adapter)?;
        let reservation: ReservationState = record
            .reservation
            .clone()
            .and_then(|value| serde_json::from_value(value).ok())
            .ok_or_else(|| {
                ServiceError::Internal(format!("reservation `{id}` has no stored adapter data"))
            })?;

        // Mark it before the adapter runs, for the same reason as create.
        record.status = Status::Provisioning;
        record.start_request = Some(start_json);
        record.updated_at = model::now();
        self.update_record(&record).await?;

        match adapter
            .start(id, &reservation, &request, workspace.as_deref())
            .await
        {
            Ok(state) => {
                let metadata = request_metadata(&record);
                Self::apply_state(&mut record, &metadata, state);
                self.update_record(&record).await?;
                tracing::info!(environment = %id, adapter = %record.adapter, status = %record.status, "reserved environment started");
                Ok(descriptor(&record))
            }
            Err(err) => {
                tracing::warn!(environment = %id, adapter = %record.adapter, error = %err, "start failed");
                self.clean_up_failed(&adapter, id).await;
                // The reservation stays, so the caller can fix the request
                // and start again.
                record.status = reservation.status;
                record.start_request = None;
                record.updated_at = model::now();
                self.update_record(&record).await?;
                Err(call_error(err))
            }
        }
    }

    async fn renew(&self, id: &EnvironmentId, ttl_ms: u64) -> Result<Lease, ServiceError> {
        let ttl_ms = validate::ttl_ms(
            Some(ttl_ms),
            self.settings.default_ttl,
            self.settings.max_ttl,
        )?;

        let _guard = self.lock(id).await;
        let mut record = self
            .get_record(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("environment `{id}` not found")))?;
        if record.status.is_terminal() || record.status == Status::Terminating {
            return Err(ServiceError::Conflict(format!(
                "environment `{id}` is {}: its lease can not be renewed",
                record.status
            )));
        }
        let now = model::now();
        if record.lease.expires_at <= now {
            return Err(ServiceError::Conflict(format!(
                "the lease of environment `{id}` expired at {}: the environment is being \
                 collected and can not be renewed",
                record
                    .lease
                    .expires_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            )));
        }

        let ttl = chrono::Duration::milliseconds(i64::try_from(ttl_ms).unwrap_or(i64::MAX));
        let expires_at = now + ttl;
        if let Some(adapter) = self.registry.get(&record.adapter)
            && let Err(err) = adapter.renew_lease(id, ttl_ms, expires_at).await
        {
            let error = call_error(err);
            metrics::record_operation(Operation::Renew, record.adapter.as_str(), error.code());
            return Err(error);
        }
        record.lease.expires_at = expires_at;
        record.updated_at = now;
        self.update_record(&record).await?;
        self.leases.set(id, expires_at);
        tracing::info!(environment = %id, ttl_ms, expires_at = %expires_at, "lease renewed");
        metrics::record_operation(Operation::Renew, record.adapter.as_str(), metrics::OK);
        Ok(record.lease)
    }

    fn adapters(&self) -> Vec<AdapterSummary> {
        self.registry.summaries()
    }

    async fn logs(&self, id: &EnvironmentId, tail: u32) -> Result<EnvironmentLogs, ServiceError> {
        let adapter = self.live_adapter(id).await?;
        let tail = tail.min(MAX_LOG_TAIL);
        let lines = adapter.logs(id, tail).await.map_err(call_error)?;
        Ok(EnvironmentLogs {
            environment_id: id.clone(),
            lines,
        })
    }

    async fn probe(
        &self,
        id: &EnvironmentId,
        request: ProbeRequest,
    ) -> Result<ProbeResult, ServiceError> {
        if request.command.first().is_none_or(String::is_empty) {
            return Err(ServiceError::InvalidRequest(
                "invalid `command`: expected a program and its arguments".to_owned(),
            ));
        }
        let timeout_ms = request.timeout_ms.unwrap_or(DEFAULT_PROBE_TIMEOUT_MS);
        if timeout_ms == 0 || timeout_ms > MAX_PROBE_TIMEOUT_MS {
            return Err(ServiceError::InvalidRequest(format!(
                "invalid `timeoutMs` {timeout_ms}: expected 1 to {MAX_PROBE_TIMEOUT_MS}"
            )));
        }
        let adapter = self.live_adapter(id).await?;
        let output = adapter
            .exec_probe(id, &request.command, timeout_ms)
            .await
            .map_err(call_error)?;
        Ok(ProbeResult {
            environment_id: id.clone(),
            exit_code: output.exit_code,
            output: output.output,
            truncated: output.truncated,
        })
    }

    async fn create_snapshot(
        &self,
        id: &EnvironmentId,
        request: CreateSnapshotRequest,
    ) -> Result<Snapshot, ServiceError> {
        self.create_environment_snapshot(id, request).await
    }

    async fn list_snapshots(&self, id: &EnvironmentId) -> Result<SnapshotList, ServiceError> {
        self.list_environment_snapshots(id).await
    }

    async fn delete_snapshot(
        &self,
        id: &EnvironmentId,
        snapshot_id: &str,
    ) -> Result<(), ServiceError> {
        self.delete_environment_snapshot(id, snapshot_id).await
    }
}

/// Most lines `logs` returns.
const MAX_LOG_TAIL: u32 = 10_000;

/// Deadline of a probe command when the request sets none.
const DEFAULT_PROBE_TIMEOUT_MS: u32 = 10_000;

/// Longest deadline a probe request may set.
const MAX_PROBE_TIMEOUT_MS: u32 = 300_000;

impl EnvironmentService {
    /// Returns the adapter of a live environment, for calls that need a
    /// running backend (logs, probes).
    async fn live_adapter(&self, id: &EnvironmentId) -> Result<Arc<Adapter>, ServiceError> {
        let not_found = || ServiceError::NotFound(format!("environment `{id}` not found"));
        let record = self.get_record(id).await?.ok_or_else(not_found)?;
        if self.is_forgotten(&record) {
            return Err(not_found());
        }
        if record.status.is_terminal() {
            return Err(ServiceError::Conflict(format!(
                "environment `{id}` is {}: it has no running workload",
                record.status
            )));
        }
        self.adapter(&record.adapter)
    }
}
