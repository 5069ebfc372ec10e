//! A loaded adapter and its calls. Every call runs in a fresh instance: the
//! host instantiates the pre-linked component, calls `init` with the
//! adapter's options, then the function itself, all under one deadline.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::Instrument;
use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre};

use super::bindings::v0_2_0::envhost::provider::types as wit;
use super::bindings::{v0_1_0, v0_2_0};
use super::cache::CompileSource;
use super::convert::{
    AdapterState, ReservationState, create_request_to_wit, error_from_wit, reserve_request_to_wit,
    start_request_to_wit, state_from_wit, status_from_wit, status_to_wit,
};
use super::error::{CallError, ProviderErrorKind};
use super::health::HealthTracker;
use super::runtime::Runtime;
use super::store::CallState;
use crate::ids::{AdapterName, EnvironmentId};
use crate::metrics;
use crate::model::{self, Capabilities};

use v0_1_0::exports::envhost::provider as exports_v0_1_0;
use v0_2_0::exports::envhost::provider as exports_v0_2_0;

/// Runs `$body` with `$guest` bound to the guest of whichever WIT version the
/// adapter targets. The versions share their request and result types, so
/// one body serves both.
macro_rules! per_version {
    ($value:expr, $enum:ident, |$guest:ident| $body:expr) => {
        match $value {
            $enum::V0_1($guest) => $body,
            $enum::V0_2($guest) => $body,
        }
    };
}

/// Indices of the `provider` export, per WIT version.
enum ProviderIndices {
    V0_1(exports_v0_1_0::provider::GuestIndices),
    V0_2(exports_v0_2_0::provider::GuestIndices),
}

/// The `provider` export of one instance.
#[derive(Clone)]
enum ProviderGuest {
    V0_1(exports_v0_1_0::provider::Guest),
    V0_2(exports_v0_2_0::provider::Guest),
}

/// Indices of the `two-phase` export, per WIT version.
enum TwoPhaseIndices {
    V0_1(exports_v0_1_0::two_phase::GuestIndices),
    V0_2(exports_v0_2_0::two_phase::GuestIndices),
}

/// The `two-phase` export of one instance.
enum TwoPhaseGuest {
    V0_1(exports_v0_1_0::two_phase::Guest),
    V0_2(exports_v0_2_0::two_phase::Guest),
}

/// Indices of the `lease-hooks` export, per WIT version.
enum LeaseHooksIndices {
    V0_1(exports_v0_1_0::lease_hooks::GuestIndices),
    V0_2(exports_v0_2_0::lease_hooks::GuestIndices),
}

/// The `lease-hooks` export of one instance.
enum LeaseHooksGuest {
    V0_1(exports_v0_1_0::lease_hooks::Guest),
    V0_2(exports_v0_2_0::lease_hooks::Guest),
}

/// Export indices looked up once at load time; their presence decides the
/// adapter's capabilities.
pub(crate) struct ExportIndices {
    provider: ProviderIndices,
    two_phase: Option<TwoPhaseIndices>,
    lease_hooks: Option<LeaseHooksIndices>,
    /// `logs`, new in 0.2.0.
    logs: Option<exports_v0_2_0::logs::GuestIndices>,
    /// `exec-probe`, new in 0.2.0.
    exec_probe: Option<exports_v0_2_0::exec_probe::GuestIndices>,
    /// `snapshots`, added to 0.2.0 after its first release.
    snapshots: Option<exports_v0_2_0::snapshots::GuestIndices>,
}

/// Looks up an optional export: `None` when the component does not export
/// the interface, an error when it does but with the wrong shape, which is
/// a broken adapter and not a silent downgrade.
fn optional_export<I>(
    pre: &InstancePre<CallState>,
    interface: &str,
    wit_version: &str,
    indices: impl FnOnce(&InstancePre<CallState>) -> wasmtime::Result<I>,
) -> Result<Option<I>, String> {
    let name = format!("envhost:provider/{interface}@{wit_version}");
    if pre.component().get_export_index(None, &name).is_none() {
        return Ok(None);
    }
    indices(pre)
        .map(Some)
        .map_err(|err| format!("invalid `{interface}` export: {err:#}"))
}

impl ExportIndices {
    /// Looks up the required `provider` export and the optional ones of the
    /// component's WIT version.
    pub(crate) fn discover(
        pre: &InstancePre<CallState>,
        wit_version: &'static str,
    ) -> Result<Self, String> {
        let invalid_provider = |err: wasmtime::Error| format!("invalid `provider` export: {err:#}");
        match wit_version {
            "0.1.0" => Ok(Self {
                provider: ProviderIndices::V0_1(
                    exports_v0_1_0::provider::GuestIndices::new(pre).map_err(invalid_provider)?,
                ),
                two_phase: optional_export(pre, "two-phase", wit_version, |pre| {
                    exports_v0_1_0::two_phase::GuestIndices::new(pre)
                })?
                .map(TwoPhaseIndices::V0_1),
                lease_hooks: optional_export(pre, "lease-hooks", wit_version, |pre| {
                    exports_v0_1_0::lease_hooks::GuestIndices::new(pre)
                })?
                .map(LeaseHooksIndices::V0_1),
                logs: None,
                exec_probe: None,
                snapshots: None,
            }),
            "0.2.0" => Ok(Self {
                provider: ProviderIndices::V0_2(
                    exports_v0_2_0::provider::GuestIndices::new(pre).map_err(invalid_provider)?,
                ),
                two_phase: optional_export(pre, "two-phase", wit_version, |pre| {
                    exports_v0_2_0::two_phase::GuestIndices::new(pre)
                })?
                .map(TwoPhaseIndices::V0_2),
                lease_hooks: optional_export(pre, "lease-hooks", wit_version, |pre| {
                    exports_v0_2_0::lease_hooks::GuestIndices::new(pre)
                })?
                .map(LeaseHooksIndices::V0_2),
                logs: optional_export(pre, "logs", wit_version, |pre| {
                    exports_v0_2_0::logs::GuestIndices::new(pre)
                })?,
                exec_probe: optional_export(pre, "exec-probe", wit_version, |pre| {
                    exports_v0_2_0::exec_probe::GuestIndices::new(pre)
                })?,
                snapshots: optional_export(pre, "snapshots", wit_version, |pre| {
                    exports_v0_2_0::snapshots::GuestIndices::new(pre)
                })?,
            }),
            other => Err(format!("no bindings for WIT version `{other}`")),
        }
    }

    /// Returns the capabilities the exports give the adapter. Lease renewal is
    /// always supported because the host keeps leases itself.
    pub(crate) fn capabilities(&self) -> Capabilities {
        Capabilities {
            supports_lease_renewal: true,
            supports_lease_hooks: self.lease_hooks.is_some(),
            supports_two_phase: self.two_phase.is_some(),
            supports_logs: self.logs.is_some(),
            supports_exec_probe: self.exec_probe.is_some(),
            supports_snapshots: self.snapshots.is_some(),
            ..Capabilities::default()
        }
    }
}

/// Output of an adapter's `exec-probe`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeOutput {
    /// Exit code of the command.
    pub exit_code: i64,
    /// What the command printed, stdout and stderr interleaved.
    pub output: String,
    /// Whether the host cut the output.
    pub truncated: bool,
}

/// A snapshot as an adapter's `snapshots` export returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotOutput {
    /// Id to delete the snapshot by, unique within its environment.
    pub id: String,
    /// Name the caller gave it.
    pub name: String,
    /// Image reference to create environments from.
    pub image: String,
    /// Creation time as the adapter reports it, RFC 3339.
    pub created_at: String,
    /// Size in bytes, when the backend reports it.
    pub size_bytes: Option<u64>,
}

impl From<exports_v0_2_0::snapshots::Snapshot> for SnapshotOutput {
    fn from(snapshot: exports_v0_2_0::snapshots::Snapshot) -> Self {
        SnapshotOutput {
            id: snapshot.id,
            name: snapshot.name,
            image: snapshot.image,
            created_at: snapshot.created_at,
            size_bytes: snapshot.size_bytes,
        }
    }
}

/// Time spent in each phase of loading an adapter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadPhases {
    /// SHA-256 of the file's bytes, which names its cached artifact.
    pub digest: Duration,
    /// Compilation, or reading, checking and deserializing the cached
    /// artifact.
    pub compile: Duration,
    /// Import checks, `InstancePre` and the export lookup.
    pub link: Duration,
    /// The probe: a first instance, `init` and `metadata`.
    pub probe: Duration,
}

/// An adapter component, compiled, linked and initialized once.
pub struct Adapter {
    pub(crate) name: AdapterName,
    pub(crate) file: PathBuf,
    pub(crate) digest: String,
    pub(crate) loaded_at: DateTime<Utc>,
    pub(crate) wit_version: &'static str,
    pub(crate) version: String,
    pub(crate) capabilities: Capabilities,
    pub(crate) options_json: String,
    pub(crate) pre: InstancePre<CallState>,
    pub(crate) exports: ExportIndices,
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) compile_source: CompileSource,
    pub(crate) load_time: Duration,
    pub(crate) load_phases: LoadPhases,
    /// Consecutive traps and overruns of this version; a reload starts over.
    pub(crate) health: HealthTracker,
}

/// One instance, ready for a call: `init` has run.
struct Call {
    store: Store<CallState>,
    instance: Instance,
    provider: ProviderGuest,
}

impl Adapter {
    /// Adapter name (the file stem).
    pub fn name(&self) -> &AdapterName {
        &self.name
    }

    /// Path of the file it was loaded from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// `sha256:` and the hex digest of the file.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// When this version was loaded.
    pub fn loaded_at(&self) -> DateTime<Utc> {
        self.loaded_at
    }

    /// WIT package version the component targets.
    pub fn wit_version(&self) -> &'static str {
        self.wit_version
    }

    /// Version the adapter reports about itself.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// What the adapter can do, from its exports.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Whether the compiled code came from the artifact cache.
    pub fn compile_source(&self) -> CompileSource {
        self.compile_source
    }

    /// Time from the file's bytes to a probed adapter: compile or cache
    /// load, linking, and the `init` probe.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// Time of each phase of [`Adapter::load_time`].
    pub fn load_phases(&self) -> LoadPhases {
        self.load_phases
    }

    /// Summary for `GET /v1/adapters`.
    pub fn summary(&self) -> model::AdapterSummary {
        model::AdapterSummary {
            name: self.name.to_string(),
            file: self.file.display().to_string(),
            version: Some(self.version.clone()),
            wit_version: Some(self.wit_version.to_owned()),
            digest: Some(self.digest.clone()),
            loaded_at: Some(self.loaded_at),
            capabilities: Some(self.capabilities.clone()),
            health: self.health.health(),
            last_error: None,
        }
    }

    /// Creates and starts an environment.
    ///
    /// # Errors
    ///
    /// The adapter's typed error, a trap, or the deadline.
    pub async fn create(
        &self,
        id: &EnvironmentId,
        request: &model::CreateRequest,
        ttl_ms: u64,
        workspace: Option<&Path>,
    ) -> Result<AdapterState, CallError> {
        const FUNCTION: &str = "create";
        let request = create_request_to_wit(request, ttl_ms, workspace);
        let mut call = self.prepare(FUNCTION, Some(id)).await?;
        let guest = call.provider.clone();
        let outcome = per_version!(guest, ProviderGuest, |guest| {
            self.timed(
                FUNCTION,
                guest.call_create(&mut call.store, id.as_str(), &request),
            )
            .await
        });
        let result = self.finish(&mut call, FUNCTION, outcome)?;
        self.environment_state(FUNCTION, result)
    }

    /// Reads an environment's status from the backend.
    ///
    /// # Errors
    ///
    /// `not-found` from the adapter when the backend has nothing for the id,
    /// otherwise as [`Adapter::create`].
    pub async fn get_status(&self, id: &EnvironmentId) -> Result<AdapterState, CallError> {
        const FUNCTION: &str = "get-status";
        let mut call = self.prepare(FUNCTION, Some(id)).await?;
        let guest = call.provider.clone();
        let outcome = per_version!(guest, ProviderGuest, |guest| {
            self.timed(
                FUNCTION,
                guest.call_get_status(&mut call.store, id.as_str()),
            )
            .await
        });
        let result = self.finish(&mut call, FUNCTION, outcome)?;
        self.environment_state(FUNCTION, result)
    }

    /// Tears an environment down.
    ///
    /// # Errors
    ///
    /// As [`Adapter::create`].
    pub async fn destroy(&self, id: &EnvironmentId, reason: Option<&str>) -> Result<(), CallError> {
        const FUNCTION: &str = "destroy";
        let mut call = self.prepare(FUNCTION, Some(id)).await?;
        let guest = call.provider.clone();
        let outcome = per_version!(guest, ProviderGuest, |guest| {
            self.timed(
                FUNCTION,
                guest.call_destroy(&mut call.store, id.as_str(), reason),
            )
            .await
        });
        let result = self.finish(&mut call, FUNCTION, outcome)?;
        result.map_err(|err| self.provider_error(FUNCTION, err))
    }

    /// Reserves an environment without starting it.
    ///
    /// # Errors
    ///
    /// `Unsupported` when the adapter does not export `two-phase`, otherwise
    /// as [`Adapter::create`].
    pub async fn reserve(
        &self,
        id: &EnvironmentId,
        request: &model::ReserveRequest,
        ttl_ms: u64,
    ) -> Result<ReservationState, CallError> {
        const FUNCTION: &str = "reserve";
        let indices = self.two_phase_indices()?;
        let request = reserve_request_to_wit(request, ttl_ms);
        let mut call = self.prepare(FUNCTION, Some(id)).await?;
        let guest = self.load_two_phase(indices, &mut call, FUNCTION)?;
        let outcome = per_version!(guest, TwoPhaseGuest, |guest| {
            self.timed(
                FUNCTION,
                guest.call_reserve(&mut call.store, id.as_str(), &request),
            )
            .await
        });
        let result = self.finish(&mut call, FUNCTION, outcome)?;
        let reservation = result.map_err(|err| self.provider_error(FUNCTION, err))?;
        Ok(ReservationState {
            status: status_from_wit(reservation.status),
            data: reservation.data,
        })
    }

    /// Starts a reserved environment.
    ///
    /// # Errors
    ///
    /// As [`Adapter::reserve`].
    pub async fn start(
        &self,
        id: &EnvironmentId,
        reservation: &ReservationState,
        request: &model::StartRequest,
        workspace: Option<&Path>,
    ) -> Result<AdapterState, CallError> {
        const FUNCTION: &str = "start";
        let indices = self.two_phase_indices()?;
        let request = start_request_to_wit(request, workspace);
        let reservation = wit::Reservation {
            status: status_to_wit(reservation.status),
            data: reservation.data.clone(),
        };
        let mut call = self.prepare(FUNCTION, Some(id)).await?;
        let guest = self.load_two_phase(indices, &mut call, FUNCTION)?;
        let outcome = per_version!(guest, TwoPhaseGuest, |guest| {
            self.timed(
                FUNCTION,
                guest.call_start(&mut call.store, id.as_str(), &reservation, &request),
            )
            .await
        });
        let result = self.finish(&mut call, FUNCTION, outcome)?;
        self.environment_state(FUNCTION, result)
    }

    /// Returns the last `tail` lines of an environment's output.
    ///
    /// # Errors
    ///
    /// `Unsupported` when the adapter does not export `logs`, otherwise as
    /// [`Adapter::create`].
    pub async fn logs(&self, id: &EnvironmentId, tail: u32) -> Result<Vec<String>, CallError> {
        const FUNCTION: &str = "logs";
        let indices = self
            .exports
            .logs
            .as_ref()
            .ok_or_else(|| CallError::Unsupported {
                adapter: self.name.clone(),
                capability: "logs (it does not export `logs`)",
            })?;
        let mut call = self.prepare(FUNCTION, Some(id)).await?;
        let guest = indices
            .load(&mut call.store, &call.instance)
            .map_err(|err| self.trap(FUNCTION, err, String::new()))?;
        let outcome = self
            .timed(
                FUNCTION,
                guest.call_logs(&mut call.store, id.as_str(), tail),
            )
            .await;
        let result = self.finish(&mut call, FUNCTION, outcome)?;
        result.map_err(|err| self.provider_error(FUNCTION, err))
    }

    /// Runs a check command inside an environment.
    ///
    /// # Errors
    ///
    /// `Unsupported` when the adapter does not export `exec-probe`,
    /// otherwise as [`Adapter::create`].
    pub async fn exec_probe(
        &self,
        id: &EnvironmentId,
        command: &[String],
        timeout_ms: u32,
    ) -> Result<ProbeOutput, CallError> {
        const FUNCTION: &str = "probe";
        let indices = self
            .exports
            .exec_probe
            .as_ref()
            .ok_or_else(|| CallError::Unsupported {
                adapter: self.name.clone(),
                capability: "exec probes (it does not export `exec-probe`)",
            })?;
        let mut call = self.prepare(FUNCTION, Some(id)).await?;
        let guest = indices
            .load(&mut call.store, &call.instance)
            .map_err(|err| self.trap(FUNCTION, err, String::new()))?;
        let outcome = self
            .timed(
                FUNCTION,
                guest.call_probe(&mut call.store, id.as_str(), command, timeout_ms),
            )
            .await;
        let result = self.finish(&mut call, FUNCTION, outcome)?;
        let output = result.map_err(|err| self.provider_error(FUNCTION, err))?;
        Ok(ProbeOutput {
            exit_code: output.exit_code,
            output: output.output,
            truncated: output.truncated,
        })
    }

    /// Saves an environment's file system as the snapshot `name`.
    ///
    /// # Errors
    ///
    /// `Unsupported` when the adapter does not export `snapshots`, otherwise
    /// as [`Adapter::create`].
    pub async fn create_snapshot(
        &self,
        id: &EnvironmentId,
        name: &str,
    ) -> Result<SnapshotOutput, CallError> {
        const FUNCTION: &str = "create-snapshot";
        let indices = self.snapshots_indices()?;
        let mut call = self.prepare(FUNCTION, Some(id)).await?;
        let guest = indices
            .load(&mut call.store, &call.instance)
            .map_err(|err| self.trap(FUNCTION, err, String::new()))?;
        let outcome = self
            .timed(
                FUNCTION,
                guest.call_create_snapshot(&mut call.store, id.as_str(), name),
            )
            .await;
        let result = self.finish(&mut call, FUNCTION, outcome)?;
        let snapshot = result.map_err(|err| self.provider_error(FUNCTION, err))?;
        Ok(snapshot.into())
    }

    /// Lists an environment's snapshots.
    ///
    /// # Errors
    ///
    /// As [`Adapter::create_snapshot`].
    pub async fn list_snapshots(
        &self,
        id: &EnvironmentId,
    ) -> Result<Vec<SnapshotOutput>, CallError> {
        const FUNCTION: &str = "list-snapshots";
        let indices = self.snapshots_indices()?;
        let mut call = self.prepare(FUNCTION, Some(id)).await?;
        let guest = indices
            .load(&mut call.store, &call.instance)
            .map_err(|err| self.trap(FUNCTION, err, String::new()))?;
        let outcome = self
            .timed(
                FUNCTION,
                guest.call_list_snapshots(&mut call.store, id.as_str()),
            )
            .await;
        let result = self.finish(&mut call, FUNCTION, outcome)?;
        let snapshots = result.map_err(|err| self.provider_error(FUNCTION, err))?;
        Ok(snapshots.into_iter().map(SnapshotOutput::from).collect())
    }

    /// Deletes an environment's snapshot.
    ///
    /// # Errors
    ///
    /// As [`Adapter::create_snapshot`].
    pub async fn delete_snapshot(
        &self,
        id: &EnvironmentId,
        snapshot_id: &str,
    ) -> Result<(), CallError> {
        const FUNCTION: &str = "delete-snapshot";
        let indices = self.snapshots_indices()?;
        let mut call = self.prepare(FUNCTION, Some(id)).await?;
        let guest = indices
            .load(&mut call.store, &call.instance)
            .map_err(|err| self.trap(FUNCTION, err, String::new()))?;
        let outcome = self
            .timed(
                FUNCTION,
                guest.call_delete_snapshot(&mut call.store, id.as_str(), snapshot_id),
            )
            .await;
        let result = self.finish(&mut call, FUNCTION, outcome)?;
        result.map_err(|err| self.provider_error(FUNCTION, err))
    }

    fn snapshots_indices(&self) -> Result<&exports_v0_2_0::snapshots::GuestIndices, CallError> {
        self.exports
            .snapshots
            .as_ref()
            .ok_or_else(|| CallError::Unsupported {
                adapter: self.name.clone(),
                capability: "snapshots (it does not export `snapshots`)",
            })
    }

    /// Runs `init` and `metadata` in a fresh instance, as a load-time check.
    pub(crate) async fn describe(&self) -> Result<wit::AdapterInfo, CallError> {
        const FUNCTION: &str = "metadata";
        let mut call = self.prepare(FUNCTION, None).await?;
        let guest = call.provider.clone();
        let outcome = per_version!(guest, ProviderGuest, |guest| {
            self.timed(FUNCTION, guest.call_metadata(&mut call.store))
                .await
        });
        self.finish(&mut call, FUNCTION, outcome)
    }

    /// Tells the adapter about a lease renewal, when it exports `lease-hooks`;
    /// does nothing otherwise.
    ///
    /// # Errors
    ///
    /// As [`Adapter::create`]; an error means the renewal must not happen.
    pub async fn renew_lease(
        &self,
        id: &EnvironmentId,
        ttl_ms: u64,
        expires_at: DateTime<Utc>,
    ) -> Result<(), CallError> {
        const FUNCTION: &str = "renew";
        let Some(indices) = &self.exports.lease_hooks else {
            return Ok(());
        };
        let expires_at_ms = u64::try_from(expires_at.timestamp_millis()).unwrap_or_default();
        let mut call = self.prepare(FUNCTION, Some(id)).await?;
        let guest = match indices {
            LeaseHooksIndices::V0_1(indices) => indices
                .load(&mut call.store, &call.instance)
                .map(LeaseHooksGuest::V0_1),
            LeaseHooksIndices::V0_2(indices) => indices
                .load(&mut call.store, &call.instance)
                .map(LeaseHooksGuest::V0_2),
        }
        .map_err(|err| self.trap(FUNCTION, err, String::new()))?;
        let outcome = per_version!(guest, LeaseHooksGuest, |guest| {
            self.timed(
                FUNCTION,
                guest.call_renew(&mut call.store, id.as_str(), ttl_ms, expires_at_ms),
            )
            .await
        });
        let result = self.finish(&mut call, FUNCTION, outcome)?;
        result.map_err(|err| self.provider_error(FUNCTION, err))
    }

    fn load_two_phase(
        &self,
        indices: &TwoPhaseIndices,
        call: &mut Call,
        function: &'static str,
    ) -> Result<TwoPhaseGuest, CallError> {
        let guest = match indices {
            TwoPhaseIndices::V0_1(indices) => indices
                .load(&mut call.store, &call.instance)
                .map(TwoPhaseGuest::V0_1),
            TwoPhaseIndices::V0_2(indices) => indices
                .load(&mut call.store, &call.instance)
                .map(TwoPhaseGuest::V0_2),
        };
        guest.map_err(|err| self.trap(function, err, String::new()))
    }

    fn two_phase_indices(&self) -> Result<&TwoPhaseIndices, CallError> {
        self.exports
            .two_phase
            .as_ref()
            .ok_or_else(|| CallError::Unsupported {
                adapter: self.name.clone(),
                capability: "two-phase provisioning (it does not export `two-phase`)",
            })
    }

    /// Instantiates a fresh instance and runs `init` with the options.
    async fn prepare(
        &self,
        function: &'static str,
        environment: Option<&EnvironmentId>,
    ) -> Result<Call, CallError> {
        if let Err(unhealthy) = self.health.admit() {
            return Err(CallError::Unhealthy {
                adapter: self.name.clone(),
                failures: unhealthy.failures,
                last_failure: unhealthy.last_failure,
                remaining: unhealthy.remaining,
            });
        }

        let runtime = &self.runtime;
        let state = CallState::new(
            self.name.clone(),
            environment.cloned(),
            runtime.containers.clone(),
            runtime.limits.memory_bytes,
        );
        let mut store = runtime.new_store(state);
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|err| CallError::Instantiate {
                adapter: self.name.clone(),
                reason: format!("{err:#}"),
            })?;
        let provider = match &self.exports.provider {
            ProviderIndices::V0_1(indices) => {
                indices.load(&mut store, &instance).map(ProviderGuest::V0_1)
            }
            ProviderIndices::V0_2(indices) => {
                indices.load(&mut store, &instance).map(ProviderGuest::V0_2)
            }
        }
        .map_err(|err| CallError::Instantiate {
            adapter: self.name.clone(),
            reason: format!("{err:#}"),
        })?;
        let mut call = Call {
            store,
            instance,
            provider,
        };

        let guest = call.provider.clone();
        let options = self.options_json.clone();
        let outcome = per_version!(guest, ProviderGuest, |guest| {
            self.timed("init", guest.call_init(&mut call.store, &options))
                .await
        });
        // Not `finish`: a successful `init` says nothing about the call, so
        // it must not clear the failure count.
        let init = self.finish_step(&mut call, function, outcome)?;
        init.map_err(|err| {
            let (kind, message) = error_from_wit(err);
            CallError::Provider {
                adapter: self.name.clone(),
                function: "init",
                kind,
                message,
            }
        })?;
        Ok(call)
    }

    /// Runs one guest function under the call deadline. The epoch deadline
    /// stops guest code that loops; this timer also covers host calls that
    /// hang.
    async fn timed<R>(
        &self,
        function: &'static str,
        call: impl Future<Output = wasmtime::Result<R>>,
    ) -> Result<wasmtime::Result<R>, tokio::time::error::Elapsed> {
        let span = tracing::debug_span!("adapter.call", adapter = %self.name, function);
        let started = std::time::Instant::now();
        let outcome = tokio::time::timeout(self.runtime.limits.call_timeout, call)
            .instrument(span)
            .await;
        metrics::record_adapter_call(self.name.as_str(), function, started.elapsed());
        outcome
    }

    /// Finishes the last guest step of a call: as [`Adapter::finish_step`],
    /// and a call that did not trap clears the failure count.
    fn finish<R>(
        &self,
        call: &mut Call,
        function: &'static str,
        outcome: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
    ) -> Result<R, CallError> {
        let value = self.finish_step(call, function, outcome)?;
        self.health.record_success(function);
        Ok(value)
    }

    /// Logs what the guest printed, turns traps and overruns into
    /// [`CallError`]s and counts them towards the adapter's health.
    fn finish_step<R>(
        &self,
        call: &mut Call,
        function: &'static str,
        outcome: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
    ) -> Result<R, CallError> {
        let result = self.settle(call, function, outcome);
        if let Err(err @ (CallError::Trap { .. } | CallError::Timeout { .. })) = &result {
            self.record_failure(function, err);
        }
        result
    }

    fn record_failure(&self, function: &'static str, err: &CallError) {
        if self.health.record_failure(function, &err.to_string()) {
            tracing::error!(
                adapter = %self.name,
                function,
                error = %err,
                cool_down_secs = super::health::UNHEALTHY_COOL_DOWN.as_secs(),
                "adapter marked unhealthy after consecutive failed calls"
            );
        }
    }

    fn settle<R>(
        &self,
        call: &mut Call,
        function: &'static str,
        outcome: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
    ) -> Result<R, CallError> {
        let guest_output = self.flush_guest_output(call, function);
        let timeout = CallError::Timeout {
            adapter: self.name.clone(),
            function,
            timeout: self.runtime.limits.call_timeout,
        };
        match outcome {
            Err(_elapsed) => {
                metrics::record_deadline_hit(self.name.as_str(), function);
                Err(timeout)
            }
            Ok(Err(err)) => {
                let is_deadline = err
                    .downcast_ref::<wasmtime::Trap>()
                    .is_some_and(|trap| *trap == wasmtime::Trap::Interrupt);
                if is_deadline {
                    metrics::record_deadline_hit(self.name.as_str(), function);
                    return Err(timeout);
                }
                Err(self.trap(function, err, guest_output))
            }
            Ok(Ok(value)) => Ok(value),
        }
    }

    fn trap(
        &self,
        function: &'static str,
        err: wasmtime::Error,
        guest_output: String,
    ) -> CallError {
        let reason = format!("{err:#}");
        tracing::warn!(adapter = %self.name, function, error = %reason, "adapter trapped");
        metrics::record_trap(self.name.as_str(), function);
        CallError::Trap {
            adapter: self.name.clone(),
            function,
            reason,
            guest_output,
        }
    }

    /// Logs what the guest printed during the call, line by line, and returns
    /// it so that a trap can carry it (a panic message, say).
    fn flush_guest_output(&self, call: &mut Call, function: &'static str) -> String {
        let state = call.store.data_mut();
        let (text, dropped) = state.output.take();
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            tracing::info!(adapter = %self.name, function, line, "adapter output");
        }
        if dropped > 0 {
            tracing::warn!(
                adapter = %self.name,
                function,
                dropped_bytes = dropped,
                "adapter output truncated"
            );
        }
        if state.log_lines_dropped > 0 {
            tracing::warn!(
                adapter = %self.name,
                function,
                dropped_lines = state.log_lines_dropped,
                "adapter log lines dropped by the rate limit"
            );
            state.log_lines_dropped = 0;
        }
        text
    }

    fn provider_error(&self, function: &'static str, err: wit::ProviderError) -> CallError {
        let (kind, message) = error_from_wit(err);
        CallError::Provider {
            adapter: self.name.clone(),
            function,
            kind,
            message,
        }
    }

    fn environment_state(
        &self,
        function: &'static str,
        result: Result<wit::EnvironmentState, wit::ProviderError>,
    ) -> Result<AdapterState, CallError> {
        let state = result.map_err(|err| self.provider_error(function, err))?;
        state_from_wit(state).map_err(|message| CallError::Provider {
            adapter: self.name.clone(),
            function,
            kind: ProviderErrorKind::Internal,
            message,
        })
    }
}
