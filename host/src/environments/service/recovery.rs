//! Start-up recovery: bring the records, the lease schedule and the engine
//! back in line after the host stopped, however it stopped.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::EnvironmentService;
use crate::model::{self, CreateRequest, Status};
use crate::state::{EnvironmentRecord, RecordKind};

/// Summary of what recovery found and did, for the start-up log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Live records whose leases were put back on the schedule.
    pub rescheduled: usize,
    /// Records whose status changed when the adapter was asked.
    pub refreshed: usize,
    /// Destroys that were in progress when the host stopped, finished now.
    pub finished_destroys: usize,
    /// Containers of this host that no live record owned, removed.
    pub orphans_removed: usize,
}

impl EnvironmentService {
    /// Recovers after a restart, before the API serves requests:
    /// reschedules every live lease (expired ones are collected at once),
    /// finishes destroys that were in progress, asks the adapters for the
    /// status of live environments and records changes (one whose backend
    /// lost it ends `failed`), and removes containers labelled with this
    /// host's id that no live record owns and that are older than `grace`.
    /// Containers of other hosts are never touched.
    ///
    /// Failures are logged and leave the record as it was; recovery goes on.
    pub async fn recover(&self, grace: Duration) -> RecoveryReport {
        let mut report = RecoveryReport::default();
        self.purge_tombstones().await;

        let live = match self.with_store(|store| store.list_live()).await {
            Ok(live) => live,
            Err(err) => {
                tracing::error!(error = %err, "recovery could not list live environments");
                return report;
            }
        };

        let mut owned: HashMap<String, Status> = HashMap::new();
        for record in live {
            let id = record.id.clone();
            if record.status == Status::Terminating {
                let reason = "destroy finished after a host restart".to_owned();
                match self.finish_destroy(record, reason).await {
                    Ok(()) => report.finished_destroys += 1,
                    Err(err) => {
                        tracing::error!(environment = %id, error = %err, "failed to finish an interrupted destroy");
                    }
                }
                continue;
            }

            let before = record.status;
            let record = self.recover_status(record).await;
            if record.status != before {
                report.refreshed += 1;
            }
            if !record.status.is_terminal() {
                self.leases.set(&record.id, record.lease.expires_at);
                report.rescheduled += 1;
                owned.insert(record.id.to_string(), record.status);
            }
        }

        report.orphans_removed = self.remove_orphans(&owned, grace).await;
        tracing::info!(
            rescheduled = report.rescheduled,
            refreshed = report.refreshed,
            finished_destroys = report.finished_destroys,
            orphans_removed = report.orphans_removed,
            "recovery finished"
        );
        report
    }

    /// Refreshes a live record from its adapter. A create that the host never
    /// finished is run again, because adapter creates adopt what they made.
    async fn recover_status(&self, record: EnvironmentRecord) -> EnvironmentRecord {
        let is_unstarted_reservation =
            record.kind == RecordKind::Reservation && record.start_request.is_none();
        if is_unstarted_reservation {
            return record;
        }
        let is_interrupted_create =
            record.kind == RecordKind::Environment && record.status == Status::Provisioning;
        if is_interrupted_create {
            return self.finish_create(record).await;
        }
        let fallback = record.clone();
        match self.refresh(record).await {
            Ok(record) => {
                if record.status == Status::Failed && fallback.status == Status::Provisioning {
                    // The create never finished; remove whatever it started.
                    if let Err(err) = self
                        .containers
                        .remove_environment_containers(&record.id)
                        .await
                    {
                        tracing::warn!(environment = %record.id, error = %err, "failed to clean up an interrupted create");
                    }
                }
                record
            }
            Err(err) => {
                tracing::warn!(environment = %fallback.id, error = %err, "recovery could not refresh an environment");
                fallback
            }
        }
    }

    /// Runs the create of a record left `provisioning` again. Adapter creates
    /// are idempotent (the container name derives from the id), so this
    /// adopts and starts whatever the interrupted create made. When it fails,
    /// the record ends `failed` and the containers are removed by label.
    async fn finish_create(&self, mut record: EnvironmentRecord) -> EnvironmentRecord {
        let id = record.id.clone();
        let outcome = match self.registry.get(&record.adapter) {
            None => Err(format!("adapter `{}` is not loaded", record.adapter)),
            Some(adapter) => {
                let request: Result<CreateRequest, _> =
                    serde_json::from_value(record.request.clone());
                match request {
                    Err(err) => Err(format!("the stored request does not decode: {err}")),
                    Ok(request) => {
                        let ttl_ms = request.ttl_ms.unwrap_or_default();
                        let workspace = request
                            .workspace_path
                            .as_deref()
                            .map(|path| self.containers.policy().check_workspace(Path::new(path)))
                            .transpose()
                            .map_err(|err| err.to_string());
                        match workspace {
                            Err(err) => Err(err),
                            Ok(workspace) => adapter
                                .create(&id, &request, ttl_ms, workspace.as_deref())
                                .await
                                .map(|state| (state, request.metadata))
                                .map_err(|err| err.to_string()),
                        }
                    }
                }
            }
        };
        match outcome {
            Ok((state, request_metadata)) => {
                Self::apply_state(&mut record, &request_metadata, state);
                tracing::info!(environment = %id, status = %record.status, "finished a create interrupted by a host restart");
            }
            Err(err) => {
                tracing::warn!(environment = %id, error = %err, "could not finish a create interrupted by a host restart");
                if let Err(err) = self.containers.remove_environment_containers(&id).await {
                    tracing::warn!(environment = %id, error = %err, "failed to clean up an interrupted create");
                }
                record.status = Status::Failed;
                record.reason = Some(format!("create interrupted by a host restart: {err}"));
                record.updated_at = model::now();
            }
        }
        if let Err(err) = self.update_record(&record).await {
            tracing::error!(environment = %id, error = %err, "failed to record the outcome of an interrupted create");
        }
        record
    }

    /// Completes a destroy that a previous run began.
    async fn finish_destroy(
        &self,
        mut record: EnvironmentRecord,
        reason: String,
    ) -> Result<(), super::ServiceError> {
        let id = record.id.clone();
        if let Some(adapter) = self.registry.get(&record.adapter)
            && let Err(err) = adapter.destroy(&id, Some(&reason)).await
        {
            tracing::warn!(environment = %id, error = %err, "adapter destroy failed during recovery; removing by label");
        }
        self.containers
            .remove_environment_containers(&id)
            .await
            .map_err(|err| super::ServiceError::Unavailable(err.to_string()))?;
        record.status = Status::Terminated;
        record.reason = Some(reason);
        record.endpoints.clear();
        record.updated_at = model::now();
        self.update_record(&record).await
    }

    /// Removes this host's containers that no live record owns and that are
    /// older than `grace`. The grace period spares containers that a second
    /// process, started by mistake on the same state file, is creating.
    async fn remove_orphans(&self, owned: &HashMap<String, Status>, grace: Duration) -> usize {
        let containers = match self.containers.list_host_containers().await {
            Ok(containers) => containers,
            Err(err) => {
                tracing::error!(error = %err, "recovery could not list this host's containers");
                return 0;
            }
        };
        let cutoff = model::now().timestamp() - i64::try_from(grace.as_secs()).unwrap_or(i64::MAX);
        let mut removed = 0;
        for container in containers {
            let is_owned = container
                .environment
                .as_ref()
                .is_some_and(|environment| owned.contains_key(environment));
            if is_owned || container.created_unix > cutoff {
                continue;
            }
            match self.containers.remove_host_container(&container.id).await {
                Ok(()) => {
                    removed += 1;
                    tracing::warn!(container = %container.id, environment = ?container.environment, "removed a container that no record owns");
                }
                Err(err) => {
                    tracing::error!(container = %container.id, error = %err, "failed to remove a container that no record owns");
                }
            }
        }
        removed
    }
}
