//! The wasmtime engine shared by every adapter, and the epoch ticker that
//! enforces call deadlines.

use std::time::Duration;

use wasmtime::{
    Config, Enabled, Engine, EngineWeak, InstanceAllocationStrategy, PoolingAllocationConfig,
    Strategy,
};

/// How often the engine's epoch advances. Call deadlines are counted in these
/// ticks, so a call overruns its deadline by at most one tick.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Most adapter calls that can run at once. Each needs a slot of the pooling
/// allocator; a call beyond this fails with `unavailable`.
pub(crate) const MAX_CONCURRENT_CALLS: u32 = 256;

/// The compiler that turns adapter components into machine code.
///
/// Adapters spend their time in host calls (the container engine, the state
/// store), not in their own code, so by default the host favours compile
/// time: a new or changed adapter file is serving sooner, and a large
/// component (an interpreter built into a component, say) loads in seconds
/// instead of a minute. Cranelift makes faster code for adapters that do
/// compute a lot themselves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compiler {
    /// Winch, wasmtime's baseline compiler: one pass, quick to compile.
    #[default]
    Winch,
    /// Cranelift, wasmtime's optimizing compiler: slower to compile, faster
    /// code.
    Cranelift,
}

impl Compiler {
    /// Returns the name used in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Compiler::Winch => "winch",
            Compiler::Cranelift => "cranelift",
        }
    }
}

impl std::str::FromStr for Compiler {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "winch" => Ok(Compiler::Winch),
            "cranelift" => Ok(Compiler::Cranelift),
            _ => Err("expected `winch` or `cranelift`".to_owned()),
        }
    }
}

/// Linear memory a pooled slot keeps resident between instances; a small Rust
/// adapter touches less than this per call.
const KEEP_RESIDENT_BYTES: usize = 1 << 20;

/// Unused slots that keep their memory, for reuse by the next instance of the
/// same adapter.
const MAX_WARM_SLOTS: u32 = 32;

/// Builds the engine: async calls, component model, epoch interruption, and the
/// pooling allocator with copy-on-write memory initialization, so that a fresh
/// instance per call is cheap.
///
/// # Errors
///
/// Fails when the pooling allocator can not reserve its address space.
pub(crate) fn build_engine(
    guest_memory_bytes: u64,
    compiler: Compiler,
) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(MAX_CONCURRENT_CALLS);
    // A Rust guest instantiates a handful of core modules (its own code and the
    // WASI adapter); larger toolchains instantiate more.
    pool.total_core_instances(MAX_CONCURRENT_CALLS * 8);
    pool.total_memories(MAX_CONCURRENT_CALLS * 4);
    pool.total_tables(MAX_CONCURRENT_CALLS * 4);
    pool.max_memories_per_component(8);
    pool.max_tables_per_component(8);
    pool.max_core_instances_per_component(64);
    pool.max_memory_size(usize::try_from(guest_memory_bytes).unwrap_or(usize::MAX));
    pool.max_component_instance_size(1 << 20);
    pool.max_core_instance_size(1 << 20);
    pool.table_elements(100_000);
    // A slot keeps the pages its last instance touched, up to these sizes,
    // and resets only those, found with the `PAGEMAP_SCAN` ioctl where the
    // kernel has it. Unmapping them instead would cost an `madvise`, a TLB
    // shootdown across threads and page faults on the next instance. The
    // cost is resident memory per warm slot, bounded by the warm-slot cap.
    pool.linear_memory_keep_resident(KEEP_RESIDENT_BYTES);
    pool.table_keep_resident(KEEP_RESIDENT_BYTES / 16);
    pool.pagemap_scan(Enabled::Auto);
    pool.max_unused_warm_slots(MAX_WARM_SLOTS);

    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.memory_init_cow(true);
    config.strategy(match compiler {
        Compiler::Winch => Strategy::Winch,
        Compiler::Cranelift => Strategy::Cranelift,
    });
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on a plain thread, until
/// the engine is dropped. A thread, not a task, so that a busy async runtime
/// can not delay deadlines.
pub(crate) fn start_epoch_ticker(engine: EngineWeak) {
    std::thread::Builder::new()
        .name("envhost-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread only fails when the OS is out of threads");
}

/// Returns the number of epoch ticks that make up `timeout`, at least one.
pub(crate) fn deadline_ticks(timeout: Duration) -> u64 {
    let ticks = timeout.as_millis() / EPOCH_TICK.as_millis();
    u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
}
