//! Data of one adapter call's wasmtime store: WASI with nothing granted, the
//! memory limits, and what the container imports need to know about the call.

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::output::GuestOutput;
use crate::container::ContainerHost;
use crate::ids::{AdapterName, EnvironmentId};

/// Guest log lines accepted per call; the rest are counted and dropped.
pub(crate) const LOG_LINES_PER_CALL: u32 = 200;

/// Store data of one call.
pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    /// Adapter making the call: the owner of every container it touches.
    pub(crate) adapter: AdapterName,
    /// Environment the call is about; container creation is limited to it.
    pub(crate) environment: Option<EnvironmentId>,
    /// Docker access; `None` in offline validation, where container calls
    /// fail as unavailable.
    pub(crate) containers: Option<ContainerHost>,
    pub(crate) output: GuestOutput,
    pub(crate) log_lines_left: u32,
    pub(crate) log_lines_dropped: u32,
}

impl CallState {
    /// Creates the state of one call. WASI gets no preopened directories, no
    /// network, no environment variables and no arguments: only clocks,
    /// random and the captured stdio.
    pub(crate) fn new(
        adapter: AdapterName,
        environment: Option<EnvironmentId>,
        containers: Option<ContainerHost>,
        memory_bytes: u64,
    ) -> Self {
        let output = GuestOutput::default();
        let wasi = WasiCtxBuilder::new()
            .stdout(output.clone())
            .stderr(output.clone())
            .build();
        let limits = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(memory_bytes).unwrap_or(usize::MAX))
            .instances(64)
            .tables(64)
            .memories(16)
            .trap_on_grow_failure(true)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limits,
            adapter,
            environment,
            containers,
            output,
            log_lines_left: LOG_LINES_PER_CALL,
            log_lines_dropped: 0,
        }
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
