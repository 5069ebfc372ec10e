//! Collection of environments whose lease ran out.

use std::time::Duration;

use super::EnvironmentService;
use crate::ids::EnvironmentId;
use crate::metrics;
use crate::model::{self, Status};

/// Reason recorded for an environment collected at the end of its lease.
pub const LEASE_EXPIRED: &str = "lease-expired";

/// Adapter destroy attempts before the host removes the containers itself.
const DESTROY_ATTEMPTS: u32 = 4;

/// Delay before the second destroy attempt; it doubles for each further one.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(250);

/// Maximum delay between two destroy attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(4);

/// When the engine itself fails, the collection is tried again this much
/// later.
const ENGINE_RETRY_DELAY: Duration = Duration::from_secs(30);

impl EnvironmentService {
    /// Collects an environment whose lease deadline passed: `terminating`,
    /// then the adapter's destroy with reason `lease-expired`, retried with
    /// exponential backoff. When the adapter keeps failing or is gone, the
    /// host removes the environment's containers by their labels itself. A
    /// lease renewed meanwhile is rescheduled instead.
    ///
    /// Errors are logged and not returned, because the collector has no caller
    /// to return them to. A failed collection is rescheduled.
    pub async fn expire(&self, id: &EnvironmentId) {
        let _guard = self.lock(id).await;
        let mut record = match self.get_record(id).await {
            Ok(Some(record)) => record,
            Ok(None) => return,
            Err(err) => {
                tracing::error!(environment = %id, error = %err, "failed to read an expired environment; retrying later");
                self.leases.set(id, model::now() + retry_delay());
                return;
            }
        };
        if record.status.is_terminal() {
            return;
        }
        if record.lease.expires_at > model::now() {
            self.leases.set(id, record.lease.expires_at);
            return;
        }

        tracing::info!(environment = %id, adapter = %record.adapter, expired_at = %record.lease.expires_at, "lease expired; collecting");
        let lag = (model::now() - record.lease.expires_at)
            .to_std()
            .unwrap_or_default();
        let (adapter_failure, marked) = self
            .destroy_marked_terminating(&record, self.destroy_with_retries(id, &record.adapter))
            .await;
        if let Err(err) = marked.await {
            tracing::error!(environment = %id, error = %err, "failed to mark an expired environment terminating; retrying later");
            self.leases.set(id, model::now() + retry_delay());
            return;
        }
        if adapter_failure.is_some()
            && let Err(err) = self.containers.remove_environment_containers(id).await
        {
            tracing::error!(environment = %id, error = %err, "failed to remove the containers of an expired environment; retrying later");
            self.leases.set(id, model::now() + retry_delay());
            return;
        }

        record.status = Status::Terminated;
        record.reason = Some(match &adapter_failure {
            None => LEASE_EXPIRED.to_owned(),
            Some(failure) => format!(
                "{LEASE_EXPIRED}: the adapter did not destroy it ({failure}), so the host \
                 removed its containers by label"
            ),
        });
        record.endpoints.clear();
        record.updated_at = model::now();
        if let Err(err) = self.update_record(&record).await {
            tracing::error!(environment = %id, error = %err, "failed to record a collected environment; retrying later");
            self.leases.set(id, model::now() + retry_delay());
            return;
        }
        tracing::info!(environment = %id, adapter = %record.adapter, by_label = adapter_failure.is_some(), "expired environment collected");
        metrics::record_lease_expiry(adapter_failure.is_some(), lag);
    }

    /// Calls the adapter's destroy until it succeeds or the attempts run
    /// out; returns why it failed, or `None` on success.
    async fn destroy_with_retries(
        &self,
        id: &EnvironmentId,
        adapter_name: &crate::ids::AdapterName,
    ) -> Option<String> {
        let Some(adapter) = self.registry.get(adapter_name) else {
            return Some(format!("adapter `{adapter_name}` is not loaded"));
        };
        let mut delay = FIRST_RETRY_DELAY;
        let mut last_error = String::new();
        for attempt in 1..=DESTROY_ATTEMPTS {
            match adapter.destroy(id, Some(LEASE_EXPIRED)).await {
                Ok(()) => return None,
                Err(err) => {
                    last_error = err.to_string();
                    tracing::warn!(environment = %id, adapter = %adapter_name, attempt, error = %last_error, "adapter destroy of an expired environment failed");
                }
            }
            if attempt < DESTROY_ATTEMPTS {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
        }
        Some(last_error)
    }

    /// Forgets destroyed environments whose retention ended.
    pub async fn purge_tombstones(&self) {
        let retention = chrono::Duration::from_std(self.settings.tombstone_retention)
            .unwrap_or(chrono::Duration::MAX);
        let cutoff = model::now() - retention;
        match self
            .with_store(move |store| store.purge_terminal_before(cutoff))
            .await
        {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged destroyed environments past retention"),
            Err(err) => tracing::error!(error = %err, "failed to purge destroyed environments"),
        }
    }
}

fn retry_delay() -> chrono::Duration {
    chrono::Duration::from_std(ENGINE_RETRY_DELAY).unwrap_or(chrono::Duration::seconds(30))
}
